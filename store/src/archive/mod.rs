//! Image archives: `docker save`/`docker load` tarballs, OCI layout tarballs, `import`.
//!
//! These move images between berth and everything else that speaks tarballs: Docker (either
//! archive generation), skopeo's `docker-archive:`/`oci-archive:`, podman, and rootfs tarballs
//! from any source. Reading is streaming and verifying; writing is deterministic.

pub mod import;
pub mod load;
pub mod save;

pub use import::ImportOptions;
pub use load::Loaded;
pub use save::SaveFormat;

/// The uncompressed size of the compressed layer `blob`, after checking that it decompresses to
/// `diff_id`. The record an earlier check, import or unpack left saves the decompression pass.
pub(crate) fn checked_diff_size(
    store: &crate::Store,
    blob: &crate::Digest,
    diff_id: &crate::Digest,
) -> crate::Result<u64> {
    use crate::Error;
    if let Some((d, s)) = store.known_diff_id(blob) {
        if &d == diff_id {
            return Ok(s);
        }
    }
    let malformed = |e| Error::malformed(format!("layer {blob}"), e);
    let r = crate::unpack::decompress(std::io::BufReader::with_capacity(1 << 20, store.open_blob(blob)?))
        .map_err(malformed)?;
    let mut h = berth_oci::digest::HashingReader::new(r);
    std::io::copy(&mut h, &mut std::io::sink()).map_err(malformed)?;
    let (d, s) = h.finish();
    if &d != diff_id {
        return Err(berth_oci::Error::DigestMismatch {
            expected: diff_id.to_string(),
            actual: format!("{d} (uncompressed {blob})"),
        }
        .into());
    }
    let _ = store.record_diff_id(blob, &d, s);
    Ok(s)
}
