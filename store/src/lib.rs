//! berth's image store: content, layers, images and archives on disk.
//!
//! The content store is an OCI image layout under `<root>/content` ([`Store`], written
//! atomically and shared between processes with `flock`); layers are unpacked once into
//! `<root>/layers` ([`unpack`]) and built from directories or tars ([`layer`]); [`image`] reads
//! images (manifest + config) and names them; [`archive`] imports, loads and saves tarballs in
//! Docker's and OCI's formats. Nothing here runs a container or talks to a registry: the
//! registry client, the builder and the engine build on this crate.

#![forbid(unsafe_code)]

pub mod archive;
pub mod content;
pub mod error;
pub mod image;
pub mod layer;
pub mod layerview;
pub mod pgzip;
pub mod snapshot;
pub mod unpack;

pub use content::*;
pub use error::{Error, Result};
pub use image::Image;

// The OCI vocabulary, by the short names the modules use.
use berth_oci::{media, Digest, Reference};
