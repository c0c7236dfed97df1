//! Where a guest's standard streams go: this process's own descriptors (the shim's guest
//! process), or [`Sink`]s of the caller's (a guest run inline, on a thread of the CLI, whose
//! output goes to the terminal and the container's log).
//!
//! Its own module because both the guest's setup ([`crate::guest`]) and the inline run
//! ([`crate::inline`]) need it, and the inline run is built on the guest's setup: here, neither
//! imports the other both ways.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Where the guest's stdio goes.
pub(crate) enum Stdio {
    /// This process's own descriptors (the shim's guest process).
    Inherit,
    /// Streams of the caller's; stdin is this process's only when `stdin` is set.
    Streams { stdin: bool, stdout: Sink, stderr: Sink },
}

/// Where one of the guest's output streams goes: called with every write, in order.
pub type SinkFn = Arc<dyn Fn(&[u8]) -> std::io::Result<()> + Send + Sync>;

/// A guest output stream that hands every write to a [`SinkFn`], synchronously.
#[derive(Clone)]
pub struct Sink(SinkFn);

impl Sink {
    pub fn new(f: SinkFn) -> Sink {
        Sink(f)
    }
}

impl IsTerminal for Sink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Sink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Sink {
    async fn ready(&mut self) {}
}

impl OutputStream for Sink {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        (self.0)(&bytes).map_err(|e| StreamError::LastOperationFailed(wasmtime::format_err!(e)))
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for Sink {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready((self.0)(buf).map(|()| buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
