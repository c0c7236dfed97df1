//! Safe wrappers around the raw syscalls berth's engine and CLI need.
//!
//! The brief keeps every `unsafe` block of berth inside `shims/` and `sys/`: the engine and the CLI are
//! `#![forbid(unsafe_code)]`. Most of what they need is already safe in `nix`; what is not
//! (forking a helper before exec, entering a namespace on a dedicated thread, raw netlink
//! sockets, terminal ioctls, page-cache hints) lives here, each function small, documented
//! with the invariant that makes it sound, and unit-tested where that needs no root.

pub mod fs;
pub mod inroot;
pub mod net;
pub mod process;
pub mod sealed;
pub mod term;
