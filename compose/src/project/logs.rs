//! `logs` (and a foreground `up`'s output): each container's log with Compose v2's prefix
//! (`web-1  | `, padded to the longest name, one colour per service on a terminal), one
//! reader thread per container, every line written whole so lines never interleave.

use super::{service_of, Compose};
use crate::Result;
use berth_engine::container::logs::{self, ReadOptions};
use berth_engine::container::Container;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// `logs`' flags.
#[derive(Clone, Debug, Default)]
pub struct LogsOptions {
    pub services: Vec<String>,
    pub follow: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
    pub no_color: bool,
    pub no_log_prefix: bool,
}

/// Compose's palette, one per service in turn.
const COLORS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// Writes each complete line with a prefix, under one lock shared by every container.
struct Prefixed {
    prefix: String,
    buf: Vec<u8>,
    sink: Arc<Mutex<()>>,
    stderr: bool,
}

impl Write for Prefixed {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        while let Some(i) = self.buf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let _g = self.sink.lock();
            let mut out: Box<dyn Write> =
                if self.stderr { Box::new(std::io::stderr().lock()) } else { Box::new(std::io::stdout().lock()) };
            out.write_all(self.prefix.as_bytes())?;
            out.write_all(&line)?;
            out.flush()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Compose {
    /// `logs`: the services' containers' logs (following with `-f` until they all stop).
    pub fn logs(&self, o: &LogsOptions) -> Result<()> {
        let containers = self.containers_of(&o.services, false)?;
        let stop = Arc::new(AtomicBool::new(false));
        for h in self.stream_logs(&containers, o, stop) {
            let _ = h.join();
        }
        Ok(())
    }

    /// One reader thread per container; they end at the end of the log, or, following, once
    /// the container stopped (or `stop` is set) and its log is read to the end.
    pub(super) fn stream_logs(
        &self,
        containers: &[Container],
        o: &LogsOptions,
        stop: Arc<AtomicBool>,
    ) -> Vec<JoinHandle<()>> {
        let prefix_of = |c: &Container| -> String {
            let p = format!("{}-", self.project.name);
            c.name.strip_prefix(&p).unwrap_or(&c.name).to_string()
        };
        let width = containers.iter().map(|c| prefix_of(c).len()).max().unwrap_or(0) + 1;
        let color = !o.no_color && std::io::stdout().is_terminal();
        let mut services: Vec<&str> = containers.iter().map(service_of).collect();
        services.dedup();
        let sink = Arc::new(Mutex::new(()));
        let mut handles = Vec::new();
        for c in containers {
            let name = prefix_of(c);
            let prefix = if o.no_log_prefix {
                String::new()
            } else if color {
                let i = services.iter().position(|s| *s == service_of(c)).unwrap_or(0);
                format!("\x1b[{}m{name:<width$} |\x1b[0m ", COLORS[i % COLORS.len()])
            } else {
                format!("{name:<width$} | ")
            };
            let (mut c, o, stop, sink) = (c.clone(), o.clone(), stop.clone(), sink.clone());
            handles.push(std::thread::spawn(move || {
                let mut out = Prefixed { prefix: prefix.clone(), buf: Vec::new(), sink: sink.clone(), stderr: false };
                let mut err = Prefixed { prefix, buf: Vec::new(), sink, stderr: true };
                let ro = ReadOptions { tail: o.tail, timestamps: o.timestamps, since: None, until: None };
                let path = c.log_path();
                let Ok(cursor) = logs::read(&path, &c.host_config.log_config, &ro, &mut out, &mut err) else { return };
                if !o.follow {
                    return;
                }
                let mut done = || {
                    if stop.load(Ordering::Relaxed) || c.reload_state().is_err() {
                        return true;
                    }
                    !(c.state.running || c.state.restarting || berth_engine::container::shim_alive(&c.dir))
                };
                let _ = logs::follow_into(&path, cursor, &ro, &mut out, &mut err, &mut done);
            }));
        }
        handles
    }
}
