//! Progress reporting for long transfers: bars on a terminal, plain lines otherwise.
//!
//! Commands pass a [`Progress`] down; the engine reports per-item events and never decides
//! how they look. With `quiet` nothing is printed.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;

/// How transfer progress is shown.
#[derive(Clone)]
pub struct Progress {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Quiet,
    Plain,
    Bars(Arc<MultiProgress>),
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn auto() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress { mode: Mode::Bars(Arc::new(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))) }
        } else {
            Progress { mode: Mode::Plain }
        }
    }

    pub fn plain() -> Progress {
        Progress { mode: Mode::Plain }
    }

    pub fn quiet() -> Progress {
        Progress { mode: Mode::Quiet }
    }

    /// A line of status (always to stderr, never in quiet mode).
    pub fn line(&self, msg: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Plain => eprintln!("{msg}"),
            Mode::Bars(m) => {
                let _ = m.println(msg);
            }
        }
    }

    /// Starts an item (a layer) of `total` bytes, labelled with a short id.
    pub fn item(&self, id: &str, action: &str, total: u64) -> Item {
        match &self.mode {
            Mode::Bars(m) => {
                let pb = m.add(ProgressBar::new(total));
                pb.set_style(
                    ProgressStyle::with_template("{prefix}: {msg} [{bar:30}] {bytes}/{total_bytes}")
                        .expect("static template")
                        .progress_chars("=> "),
                );
                pb.set_prefix(id.to_string());
                pb.set_message(action.to_string());
                Item { id: id.into(), bar: Some(pb), quiet: false, multi: Some(m.clone()) }
            }
            Mode::Plain => {
                eprintln!("{id}: {action}");
                Item { id: id.into(), bar: None, quiet: false, multi: None }
            }
            Mode::Quiet => Item { id: id.into(), bar: None, quiet: true, multi: None },
        }
    }
}

/// One item's progress.
pub struct Item {
    id: String,
    bar: Option<ProgressBar>,
    quiet: bool,
    /// The bars' container: a finished bar becomes a plain line above the running ones, so
    /// it neither vanishes when dropped nor ends up below later status lines.
    multi: Option<Arc<MultiProgress>>,
}

impl Item {
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Finishes the item with a final word (`Pull complete`, `Already exists`, `Pushed`...).
    pub fn done(&self, word: &str) {
        match &self.bar {
            Some(b) => match &self.multi {
                Some(m) => {
                    b.finish_and_clear();
                    let _ = m.println(format!("{}: {word}", self.id));
                }
                None => b.finish_with_message(word.to_string()),
            },
            None if !self.quiet => eprintln!("{}: {word}", self.id),
            None => {}
        }
    }
}
