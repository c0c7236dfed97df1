//! A container's root filesystem, through the store's snapshotters (`berth_store::snapshot`):
//! the one its record names (`snapshotter`: `overlay` or `copy`), over its layers, in its
//! directory. `--rm` containers get a volatile overlay.

use super::Container;
use crate::Result;

pub use berth_store::snapshot::{apply_layer_copy, is_mountpoint, overlay_supported, unmount};

/// Makes `c.rootfs()` ready: mounts the overlay (idempotent) or fills the copy.
pub fn prepare(c: &Container) -> Result<()> {
    let s = berth_store::snapshot::by_name(&c.snapshotter);
    Ok(s.prepare(&c.layers, &c.dir, c.host_config.auto_remove)?)
}

/// Lets the root filesystem go (the overlay is unmounted; a copy stays, it *is* the filesystem).
pub fn release(c: &Container) -> Result<()> {
    Ok(berth_store::snapshot::by_name(&c.snapshotter).release(&c.dir)?)
}
