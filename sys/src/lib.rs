//! berth's one home for `unsafe`: safe wrappers around the raw system calls the other crates
//! need and that `nix` (or `rustix`) does not offer safely.
//!
//! Every other crate of the workspace is `#![forbid(unsafe_code)]`, so what needs an `unsafe`
//! block lives here: forking and the descriptors a forked child closes, signal handlers,
//! reaping, per-thread credentials, seccomp and eBPF device filters, joining a namespace by
//! descriptor number, terminal ioctls and passing descriptors over sockets, in-root path
//! resolution, the sealed binary, page-cache hints. Each function is small and documented with
//! the invariant that makes it sound (each `unsafe` block has a `// SAFETY:` comment, which
//! the workspace's lints require), and unit-tested where that needs no root.

pub mod confine;
pub mod fs;
pub mod inroot;
pub mod process;
pub mod sealed;
pub mod term;
