//! Progress as Compose v2 prints it, on stderr: on a terminal one line per finished step
//! (` ✔ Container demo-web-1  Started`), otherwise Compose's plain lines, the step's start and
//! its end (` Container demo-web-1  Starting`, ` Container demo-web-1  Started`).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where progress goes.
pub struct Printer {
    tty: bool,
    quiet: bool,
    header: AtomicBool,
}

impl Printer {
    /// Fancy on a terminal, plain otherwise.
    pub fn auto() -> Printer {
        Printer { tty: std::io::stderr().is_terminal(), quiet: false, header: AtomicBool::new(false) }
    }

    /// Nothing at all (`--quiet`, and the commands whose output is the data).
    pub fn quiet() -> Printer {
        Printer { tty: false, quiet: true, header: AtomicBool::new(false) }
    }

    /// Whether progress goes to a terminal.
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// A step begins (`Creating`): shown only in plain mode.
    pub fn working(&self, kind: &str, name: &str, status: &str) {
        if !self.tty && !self.quiet {
            eprintln!(" {kind} {name}  {status}");
        }
    }

    /// A step ended well (`Created`, `Started`, `Running`).
    pub fn done(&self, kind: &str, name: &str, status: &str) {
        if self.quiet {
            return;
        }
        if self.tty {
            if !self.header.swap(true, Ordering::Relaxed) {
                eprintln!("[+] Running");
            }
            eprintln!(" \x1b[32m✔\x1b[0m {kind} {name}  \x1b[34m{status}\x1b[0m");
        } else {
            eprintln!(" {kind} {name}  {status}");
        }
        let _ = std::io::stderr().flush();
    }

    /// A step failed.
    pub fn error(&self, kind: &str, name: &str, status: &str) {
        if self.quiet {
            return;
        }
        if self.tty {
            eprintln!(" \x1b[31m✘\x1b[0m {kind} {name}  \x1b[31m{status}\x1b[0m");
        } else {
            eprintln!(" {kind} {name}  {status}");
        }
    }

    /// A warning, as Compose words them (`WARN[0000] ...`).
    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("WARN[0000] {msg}");
        }
    }
}
