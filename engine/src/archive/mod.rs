//! Image archives: `docker save`/`docker load` tarballs, OCI layout tarballs, `import`.
//!
//! These move images between berth and everything else that speaks tarballs: Docker (either
//! archive generation), skopeo's `docker-archive:`/`oci-archive:`, podman, and rootfs tarballs
//! from any source. Reading is streaming and verifying; writing is deterministic.

pub mod changes;
pub mod import;
pub mod load;
pub mod save;

pub use import::ImportOptions;
pub use load::Loaded;
pub use save::SaveFormat;
