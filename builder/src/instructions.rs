//! Typed instructions: each parsed [`Instruction`] checked for its flags and argument count
//! and turned into what the planner and the executor work with.
//!
//! Arguments stay unexpanded (with their quotes) where Docker expands variables, because the
//! values depend on the ARGs and ENVs in scope when the step runs; the executor expands them
//! with [`super::parser::expand`]. Shell-form commands are kept verbatim: the shell expands them.

use super::parser::{Dockerfile, Heredoc, Instruction, ParseError};
use serde::Serialize;

/// A command in exec (JSON) or shell form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// COPY and ADD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopyArgs {
    pub add: bool,
    /// Sources then destination, unexpanded words (exec form already unquoted).
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    /// `ADD --keep-git-dir`: a git source keeps its `.git` directory.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keep_git_dir: bool,
    pub heredocs: Vec<Heredoc>,
    /// Exec (JSON) form: words are taken literally, without splitting.
    pub json: bool,
}

/// HEALTHCHECK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    /// `HEALTHCHECK NONE`.
    pub none: bool,
    pub test: Option<Command>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

/// One typed instruction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "instruction", rename_all = "UPPERCASE")]
pub enum Instr {
    From { image: String, name: Option<String>, platform: Option<String> },
    Run { command: Command, mounts: Vec<String>, network: Option<String>, heredocs: Vec<Heredoc> },
    Cmd { command: Command },
    Entrypoint { command: Command },
    Shell { shell: Vec<String> },
    Healthcheck(Health),
    Copy(CopyArgs),
    Env { args: String },
    Arg { args: String },
    Label { args: String },
    Expose { args: String },
    Volume { paths: Vec<String>, json: bool },
    Workdir { path: String },
    User { user: String },
    Stopsignal { signal: String },
    Maintainer { name: String },
    Onbuild { trigger: String },
}

/// An instruction with its position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub line: usize,
    #[serde(flatten)]
    pub instr: Instr,
    #[serde(skip)]
    pub original: String,
}

fn allowed_flags(kw: &str) -> &'static [&'static str] {
    match kw {
        "FROM" => &["platform"],
        "RUN" => &["mount", "network", "security"],
        "COPY" => &["from", "chown", "chmod", "link", "exclude", "parents"],
        "ADD" => &["chown", "chmod", "link", "exclude", "checksum", "keep-git-dir"],
        "HEALTHCHECK" => &["interval", "timeout", "start-period", "start-interval", "retries"],
        _ => &[],
    }
}

fn command(ins: &Instruction) -> Command {
    match &ins.json {
        Some(v) => Command::Exec(v.clone()),
        None => Command::Shell(ins.args.clone()),
    }
}

/// Types one instruction, checking flags and argument counts.
pub fn typed(df: &Dockerfile, ins: &Instruction) -> Result<Step, ParseError> {
    let err = |msg: String| df.error(ins.line, ins.col, msg);
    let kw = ins.keyword.as_str();
    for f in &ins.flags {
        if !allowed_flags(kw).contains(&f.name.as_str()) {
            return Err(err(format!("unknown flag: {}", f.name)));
        }
    }
    let words: Vec<&str> = ins.args.split_whitespace().collect();
    let need = |n: usize| -> Result<(), ParseError> {
        if words.len() < n && ins.heredocs.is_empty() {
            let what = if n == 1 { "at least one argument".to_string() } else { format!("at least {n} arguments") };
            return Err(err(format!("{kw} requires {what}")));
        }
        Ok(())
    };
    let exactly_one = || -> Result<String, ParseError> {
        if words.len() != 1 {
            return Err(err(format!("{kw} requires exactly one argument")));
        }
        Ok(ins.args.trim().to_string())
    };
    let instr = match kw {
        "FROM" => {
            let (image, name) = match words.as_slice() {
                [img] => (img.to_string(), None),
                [img, as_, name] if as_.eq_ignore_ascii_case("as") => (img.to_string(), Some(name.to_string())),
                [] => return Err(err("FROM requires either one or three arguments".into())),
                _ => return Err(err("FROM requires either one or three arguments".into())),
            };
            if let Some(n) = &name {
                let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                if !ok {
                    return Err(err(format!(
                        "invalid name for build stage: {n:?}, name can't start with a number or contain symbols"
                    )));
                }
            }
            Instr::From {
                image,
                name: name.map(|n| n.to_ascii_lowercase()),
                platform: ins.flag("platform").map(String::from),
            }
        }
        "RUN" => {
            // An empty RUN is accepted, as BuildKit's parser does: `/bin/sh -c ""`, a no-op.
            Instr::Run {
                command: command(ins),
                mounts: ins.flag_all("mount").into_iter().map(String::from).collect(),
                network: ins.flag("network").map(String::from),
                heredocs: ins.heredocs.clone(),
            }
        }
        "CMD" => {
            need(1)?;
            Instr::Cmd { command: command(ins) }
        }
        "ENTRYPOINT" => {
            need(1)?;
            Instr::Entrypoint { command: command(ins) }
        }
        "SHELL" => match &ins.json {
            Some(v) if !v.is_empty() => Instr::Shell { shell: v.clone() },
            _ => return Err(err("SHELL requires the arguments to be in JSON form".into())),
        },
        "HEALTHCHECK" => {
            need(1)?;
            let (first, rest) = match ins.args.split_once(char::is_whitespace) {
                Some((a, b)) => (a, b.trim_start()),
                None => (ins.args.as_str(), ""),
            };
            let mut h = Health {
                none: false,
                test: None,
                interval: ins.flag("interval").map(String::from),
                timeout: ins.flag("timeout").map(String::from),
                start_period: ins.flag("start-period").map(String::from),
                start_interval: ins.flag("start-interval").map(String::from),
                retries: ins.flag("retries").map(String::from),
            };
            match first.to_ascii_uppercase().as_str() {
                "NONE" => {
                    if !rest.is_empty() || !ins.flags.is_empty() {
                        return Err(err("HEALTHCHECK NONE takes no arguments".into()));
                    }
                    h.none = true;
                }
                "CMD" => {
                    if rest.is_empty() {
                        return Err(err("Missing command after HEALTHCHECK CMD".into()));
                    }
                    h.test = Some(match super::parser::parse_json_array(rest).map_err(|m| err(m.into()))? {
                        Some(v) => Command::Exec(v),
                        None => Command::Shell(rest.to_string()),
                    });
                }
                other => return Err(err(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)"))),
            }
            Instr::Healthcheck(h)
        }
        "COPY" | "ADD" => {
            let (mut sources, json) = match &ins.json {
                Some(v) => (v.clone(), true),
                None => (words.iter().map(|s| s.to_string()).collect(), false),
            };
            if sources.len() < 2 {
                return Err(err(format!("{kw} requires at least two arguments, but only one was provided. Destination could not be determined")));
            }
            let dest = sources.pop().unwrap_or_default();
            Instr::Copy(CopyArgs {
                add: kw == "ADD",
                sources,
                dest,
                from: ins.flag("from").map(String::from),
                chown: ins.flag("chown").map(String::from),
                chmod: ins.flag("chmod").map(String::from),
                link: ins.flag("link").is_some_and(|v| v.is_empty() || v == "true"),
                exclude: ins.flag_all("exclude").into_iter().map(String::from).collect(),
                checksum: ins.flag("checksum").map(String::from),
                keep_git_dir: ins.flag("keep-git-dir").is_some_and(|v| v.is_empty() || v == "true"),
                heredocs: ins.heredocs.clone(),
                json,
            })
        }
        "ENV" => {
            need(1)?;
            if !words[0].contains('=') && words.len() < 2 {
                return Err(err("ENV must have two arguments".into()));
            }
            Instr::Env { args: ins.args.clone() }
        }
        "ARG" => {
            need(1)?;
            Instr::Arg { args: ins.args.clone() }
        }
        "LABEL" => {
            need(1)?;
            if !words[0].contains('=') && words.len() < 2 {
                return Err(err("LABEL must have two arguments".into()));
            }
            Instr::Label { args: ins.args.clone() }
        }
        "EXPOSE" => {
            need(1)?;
            Instr::Expose { args: ins.args.clone() }
        }
        "VOLUME" => {
            need(1)?;
            match &ins.json {
                Some(v) => Instr::Volume { paths: v.clone(), json: true },
                None => Instr::Volume { paths: words.iter().map(|s| s.to_string()).collect(), json: false },
            }
        }
        "WORKDIR" => {
            need(1)?;
            Instr::Workdir { path: ins.args.trim().to_string() }
        }
        "USER" => Instr::User { user: exactly_one()? },
        "STOPSIGNAL" => Instr::Stopsignal { signal: exactly_one()? },
        "MAINTAINER" => {
            need(1)?;
            Instr::Maintainer { name: ins.args.clone() }
        }
        "ONBUILD" => {
            need(1)?;
            let trig = words[0].to_ascii_uppercase();
            match trig.as_str() {
                "ONBUILD" => return Err(err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())),
                "FROM" | "MAINTAINER" => return Err(err(format!("{trig} isn't allowed as an ONBUILD trigger"))),
                t if !super::parser::KEYWORDS.contains(&t) => {
                    return Err(err(format!("unknown instruction: {}", words[0])))
                }
                _ => {}
            }
            Instr::Onbuild { trigger: ins.args.clone() }
        }
        other => return Err(err(format!("unknown instruction: {other}"))),
    };
    Ok(Step { line: ins.line, instr, original: ins.original.clone() })
}

/// Parses and types a whole Dockerfile.
pub fn parse_steps(src: &str, file: &str) -> Result<(Dockerfile, Vec<Step>), ParseError> {
    let df = super::parser::parse(src, file)?;
    let steps = df.instructions.iter().map(|i| typed(&df, i)).collect::<Result<Vec<_>, _>>()?;
    Ok((df, steps))
}
