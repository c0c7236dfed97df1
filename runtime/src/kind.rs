//! Which runtime runs a container, as enums instead of strings: the workload [`Kind`] (a
//! Linux process or a wasm guest) and the OCI [`Program`] that runs a Linux one (berth's own
//! runtime, runc or crun).
//!
//! The container records keep today's spellings (`runtime: "linux" | "wasm"`,
//! `host_config.runtime: "" | "berth" | "runc" | "crun"`): [`FromStr`] reads them and
//! [`Display`](std::fmt::Display) writes them back, so the on-disk format does not change. (A
//! wasm container's `host_config.runtime` may also hold one of Docker's wasm runtime names, as
//! given to `--runtime`; the engine reads those as the built-in program, the kind being wasm.)

use std::fmt;
use std::str::FromStr;

/// What a container runs: a Linux process in namespaces, or a WebAssembly guest on wasmtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Linux,
    Wasm,
}

impl Kind {
    /// The record's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Linux => "linux",
            Kind::Wasm => "wasm",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Kind, crate::Error> {
        match s {
            "linux" => Ok(Kind::Linux),
            "wasm" => Ok(Kind::Wasm),
            _ => Err(crate::Error::Spec(format!("unknown workload kind {s:?}: use linux or wasm"))),
        }
    }
}

/// The OCI runtime program that runs a Linux container: berth's built-in one, or runc or crun
/// found on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Program {
    #[default]
    Builtin,
    Runc,
    Crun,
}

impl Program {
    /// The spelling `--runtime` takes and the record keeps (`berth` for the built-in one; an
    /// empty string, from records older than the flag, reads as it).
    pub fn as_str(self) -> &'static str {
        match self {
            Program::Builtin => "berth",
            Program::Runc => "runc",
            Program::Crun => "crun",
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Program {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Program, crate::Error> {
        match s {
            "" | "berth" => Ok(Program::Builtin),
            "runc" => Ok(Program::Runc),
            "crun" => Ok(Program::Crun),
            _ => Err(crate::Error::Spec(format!("unknown runtime {s:?}: use berth, runc or crun"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_the_record_spelling() {
        for k in [Kind::Linux, Kind::Wasm] {
            assert_eq!(k.to_string().parse::<Kind>().unwrap(), k);
        }
        assert_eq!("wasm".parse::<Kind>().unwrap(), Kind::Wasm);
        assert!("Linux".parse::<Kind>().is_err());
        assert!("".parse::<Kind>().is_err());
    }

    #[test]
    fn programs_read_every_spelling_records_hold() {
        assert_eq!("".parse::<Program>().unwrap(), Program::Builtin);
        assert_eq!("berth".parse::<Program>().unwrap(), Program::Builtin);
        assert_eq!("runc".parse::<Program>().unwrap(), Program::Runc);
        assert_eq!("crun".parse::<Program>().unwrap(), Program::Crun);
        assert!("youki".parse::<Program>().is_err());
        for p in [Program::Builtin, Program::Runc, Program::Crun] {
            assert_eq!(p.to_string().parse::<Program>().unwrap(), p);
        }
        assert_eq!(Program::default().to_string(), "berth");
    }
}
