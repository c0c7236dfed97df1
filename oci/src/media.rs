//! Media types berth reads and writes, Docker's and OCI's, and the wasm ones.
//!
//! Registries and tools disagree on names for the same things; these helpers classify a media
//! type once so the rest of the engine can ask "is this a manifest list?" and not string-match.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_NONDIST_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

pub const WASM_CONFIG_V0: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
pub const WASM_COMPONENT_LAYER: &str = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";
pub const WASM_CONTENT_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";

/// The `Accept` header berth sends for manifests: every manifest and index form it can read.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or index berth reads, from a registry, an archive or a client pushing to
/// its registry. Manifests are held in memory whole. The distribution spec asks registries to
/// accept at least 4 MB (containerd reads at most 4 MiB); 8 MiB takes every manifest the spec
/// promises and bounds what a hostile one costs.
pub const MAX_MANIFEST_SIZE: usize = 8 << 20;

/// Largest image config berth reads: configs are parsed whole, and every later command reads
/// its image's config again. Real ones are a few KiB (history and all), 8 MiB leaves room.
pub const MAX_CONFIG_SIZE: u64 = 8 << 20;

/// Refuses a config bigger than [`MAX_CONFIG_SIZE`] before anything reads or stores it.
pub fn check_config_size(size: u64, what: &str) -> crate::Result<()> {
    if size > MAX_CONFIG_SIZE {
        return Err(crate::Error::malformed(
            what,
            format!("the image config is {size} bytes, more than the {MAX_CONFIG_SIZE} berth accepts"),
        ));
    }
    Ok(())
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Reads the compression from the first bytes of a blob (magic numbers win over names).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for this compression.
    pub fn oci_layer_type(self) -> &'static str {
        match self {
            Compression::None => OCI_LAYER_TAR,
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" | "uncompressed" => Ok(Compression::None),
            o => Err(format!("unknown compression {o:?} (gzip, zstd, uncompressed)")),
        }
    }
}

pub fn is_index(mt: &str) -> bool {
    mt == OCI_INDEX || mt == DOCKER_LIST
}

pub fn is_manifest(mt: &str) -> bool {
    mt == OCI_MANIFEST || mt == DOCKER_MANIFEST
}

/// Layer media types whose blob is a (possibly compressed) tar.
pub fn is_tar_layer(mt: &str) -> bool {
    mt.starts_with("application/vnd.oci.image.layer.") || mt.starts_with("application/vnd.docker.image.rootfs.")
}

/// Layer media types whose blob is a raw wasm module or component.
pub fn is_wasm_layer(mt: &str) -> bool {
    mt == WASM_LAYER || mt == WASM_COMPONENT_LAYER || mt == WASM_CONTENT_LAYER
}
