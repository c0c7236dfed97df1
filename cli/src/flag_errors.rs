//! Docker's wording for the flag errors its CLI (cobra/pflag) reports, in place of clap's:
//! `unknown flag: --bogus`, `unknown shorthand flag: 'Z' in -Z`, and
//! `invalid argument "V" for "-a, --attach" flag: WHY`, each followed by
//! `See 'berth COMMAND --help'.`; the caller exits 125 as Docker does.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::ffi::OsString;

/// Docker's message for a clap error it words differently, or `None` (clap's own then).
pub fn docker_message(e: &clap::Error, cmd: &clap::Command, args: &[OsString]) -> Option<String> {
    let context = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (path, sub) = command_path(cmd, args);
    let see = format!("See '{path} --help'.");
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = context(ContextKind::InvalidArg)?;
            if let Some(long) = arg.strip_prefix("--") {
                let name = long.split('=').next().unwrap_or_default();
                return Some(format!("unknown flag: --{name}\n{see}"));
            }
            let c = arg.strip_prefix('-')?.chars().next()?;
            let raw = args
                .iter()
                .map(|a| a.to_string_lossy())
                .find(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c))
                .map(|a| a.into_owned())
                .unwrap_or(arg.clone());
            Some(format!("unknown shorthand flag: '{c}' in {raw}\n{see}"))
        }
        ErrorKind::ValueValidation => {
            let arg = context(ContextKind::InvalidArg)?;
            let value = context(ContextKind::InvalidValue)?;
            let why = std::error::Error::source(e).map(|s| go_int_error(&s.to_string(), &value))?;
            let long = arg.strip_prefix("--")?.split([' ', '=', '<']).next().unwrap_or_default().to_string();
            let short = sub.get_arguments().find(|a| a.get_long() == Some(long.as_str())).and_then(|a| a.get_short());
            let flag = match short {
                Some(s) => format!("-{s}, --{long}"),
                None => format!("--{long}"),
            };
            Some(format!("invalid argument \"{value}\" for \"{flag}\" flag: {why}\n{see}"))
        }
        _ => None,
    }
}

/// Rust's integer parse errors in Go's words (pflag's integer flags parse with `strconv`).
fn go_int_error(why: &str, value: &str) -> String {
    match why {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            format!("strconv.ParseInt: parsing \"{value}\": invalid syntax")
        }
        "number too large to fit in target type" | "number too small to fit in target type" => {
            format!("strconv.ParseInt: parsing \"{value}\": value out of range")
        }
        w => w.to_string(),
    }
}

/// `berth run` (the words of the subcommand the arguments name) and that subcommand.
fn command_path<'a>(cmd: &'a clap::Command, args: &[OsString]) -> (String, &'a clap::Command) {
    let mut path = cmd.get_name().to_string();
    let mut cur = cmd;
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if matches!(a.as_ref(), "--root" | "--log-level" | "--insecure-registry") {
            it.next();
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        match cur.find_subcommand(a.as_ref()) {
            Some(s) => {
                path.push(' ');
                path.push_str(s.get_name());
                cur = s;
            }
            None => break,
        }
    }
    (path, cur)
}
