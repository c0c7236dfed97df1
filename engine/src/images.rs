//! The engine's image commands: what the CLI calls for images, over the store
//! ([`berth_store`]) and the registry client ([`berth_registry`]).
//!
//! The store and the registry crates hold the logic; the engine adds what only it knows:
//! `--change` instructions are Dockerfile instructions (interpreted here, before the store
//! imports), and pulls and pushes run in the engine's state root.

use crate::{Engine, Result};
use berth_oci::{Digest, Reference};
use berth_registry::{Progress, PullOptions, PushOptions, RegistryClient};
use berth_store::archive::{ImportOptions, Loaded, SaveFormat};
use berth_store::image::{PruneReport, RemoveEvent};
use berth_store::Image;
use oci_spec::image::Descriptor;
use std::io::{Read, Write};
use std::path::PathBuf;

impl Engine {
    /// Every image (named and dangling), grouped by manifest.
    pub fn list_images(&self) -> Result<Vec<Image>> {
        Ok(self.store.list_images()?)
    }

    /// Resolves a reference, an image id (or a unique prefix) or a manifest digest.
    pub fn resolve_image(&self, s: &str) -> Result<Image> {
        Ok(self.store.resolve_image(s)?)
    }

    /// Points the full reference `name` at `desc`; returns the id it named before, if another.
    pub fn name_image(&self, name: &str, desc: &Descriptor) -> Result<Option<Digest>> {
        Ok(self.store.name_image(name, desc)?)
    }

    /// Records an image with no name, unless its manifest already has an entry.
    pub fn add_dangling(&self, desc: &Descriptor) -> Result<()> {
        Ok(self.store.add_dangling(desc)?)
    }

    /// `berth tag SOURCE TARGET`: returns the normalised target.
    pub fn tag_image(&self, source: &str, target: &str) -> Result<Reference> {
        Ok(self.store.tag_image(source, target)?)
    }

    /// `berth rmi`, refusing (unless `force`) what Docker refuses.
    pub fn remove_image(&self, s: &str, force: bool) -> Result<Vec<RemoveEvent>> {
        Ok(self.store.remove_image(s, force)?)
    }

    /// Ids of containers created from image `id`.
    pub fn containers_using(&self, id: &Digest) -> Result<Vec<String>> {
        Ok(self.store.containers_using(id)?)
    }

    /// Unpacks (if needed) an image's layers; their directories, bottom to top.
    pub fn image_layers(&self, img: &Image) -> Result<Vec<PathBuf>> {
        Ok(self.store.image_layers(img)?)
    }

    /// `berth image prune`.
    pub fn prune_images(&self, all: bool) -> Result<PruneReport> {
        Ok(self.store.prune_images(all)?)
    }

    /// `berth import`: `changes` are `--change` Dockerfile instructions for the config.
    pub fn import(&self, input: impl Read, changes: &[String], opts: ImportOptions) -> Result<Image> {
        let mut opts = opts;
        berth_builder::apply_changes(&mut opts.container_config, changes)?;
        Ok(self.store.import(input, &opts)?)
    }

    /// `berth load`.
    pub fn load(&self, input: impl Read) -> Result<Vec<Loaded>> {
        Ok(self.store.load(input)?)
    }

    /// `berth save`, and `build --output` (which writes an OCI layout's layers compressed as
    /// `layers` says; `save` keeps them as stored).
    pub fn save(
        &self,
        args: &[String],
        format: SaveFormat,
        layers: berth_oci::media::Compression,
        out: impl Write,
    ) -> Result<()> {
        Ok(self.store.save_compressed(args, format, layers, out)?)
    }

    /// A registry client for this state root (`insecure` plus `<root>/config.json`'s list).
    pub fn registry_client(&self, insecure: &[String]) -> Result<RegistryClient> {
        Ok(berth_registry::registry_client(&self.store, insecure)?)
    }

    /// `berth pull`: pulls `reference` into the store and names it.
    pub async fn pull(&self, reference: &Reference, opts: &PullOptions, progress: &Progress) -> Result<Image> {
        Ok(berth_registry::pull(&self.store, reference, opts, progress).await?)
    }

    /// `berth push`: returns the digest the tag names in the registry afterwards.
    pub async fn push(&self, reference: &Reference, opts: &PushOptions, progress: &Progress) -> Result<Digest> {
        Ok(berth_registry::push(&self.store, reference, opts, progress).await?)
    }
}
