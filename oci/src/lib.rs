//! berth's OCI vocabulary: what images are named and addressed by, shared by every crate.
//!
//! Content digests ([`Digest`]), image references as Docker parses them ([`Reference`]),
//! media types and their classification ([`media`]), platforms ([`platform`]), and the error
//! kinds all of berth's errors map to ([`ErrorKind`]). Nothing here does I/O beyond hashing:
//! the store, the registry client and server, the builder and the engine build on it.

#![forbid(unsafe_code)]

pub mod digest;
pub mod error;
pub mod media;
pub mod path;
pub mod platform;
pub mod reference;
pub mod time;

pub use digest::Digest;
pub use error::{Error, ErrorKind, IoContext, IoError, Result};
pub use platform::Platform;
pub use reference::Reference;
