//! `berth save`: images out as a tar archive, in Docker's format or as an OCI layout.
//!
//! Docker's format is what Docker 25+ writes, which old and new readers both accept: a
//! `manifest.json` (`Config`, `RepoTags`, `Layers` pointing at `blobs/sha256/<hex>`), the
//! config blobs, every layer as an *uncompressed* tar named by its diff-id (old `docker load`
//! expects plain tars), a `repositories` file, and in the same tar an OCI layout (`oci-layout`,
//! `index.json`, a manifest per image describing those uncompressed layers). `--format oci`
//! writes the store's own blobs as they are (compressed layers, same manifest digests) with
//! `index.json` entries annotated with each image's full name.

use crate::content::{desc_digest, Store, CONTAINERD_NAME, REF_NAME};
use crate::image::Image;
use crate::{Digest, Error, Reference, Result};
use berth_oci::media::{self, Compression};
use oci_spec::image::ImageManifest;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

/// Archive layouts `berth save` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveFormat {
    Docker,
    Oci,
}

impl std::str::FromStr for SaveFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<SaveFormat> {
        match s {
            "docker" | "" => Ok(SaveFormat::Docker),
            "oci" | "oci-archive" => Ok(SaveFormat::Oci),
            o => Err(Error::Other(format!("unknown save format {o:?} (docker or oci)"))),
        }
    }
}

/// One entry of Docker's `manifest.json`.
#[derive(Serialize, serde::Deserialize, Debug)]
pub struct DockerManifestItem {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// An image to save and the names to save it under.
struct Selected {
    image: Image,
    refs: Vec<Reference>,
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn header(size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn put<W: Write>(b: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> Result<()> {
    let mut h = header(bytes.len() as u64, false);
    b.append_data(&mut h, name, bytes).map_err(|e| Error::Other(format!("writing {name} to the archive: {e}")))
}

fn put_dir<W: Write>(b: &mut tar::Builder<W>, name: &str) -> Result<()> {
    let mut h = header(0, true);
    b.append_data(&mut h, name, io::empty()).map_err(|e| Error::Other(format!("writing {name} to the archive: {e}")))
}

fn put_reader<W: Write>(b: &mut tar::Builder<W>, name: &str, size: u64, r: impl Read) -> Result<()> {
    let mut h = header(size, false);
    b.append_data(&mut h, name, r.take(size)).map_err(|e| Error::Other(format!("writing {name} to the archive: {e}")))
}

impl Store {
    /// Resolves `save` arguments as Docker does: a bare repository saves all its tags, a
    /// reference saves that tag, an id saves the image without names.
    fn select_for_save(&self, args: &[String]) -> Result<Vec<Selected>> {
        let images = self.list_images()?;
        let mut out: Vec<Selected> = Vec::new();
        let add = |img: &Image, r: Option<Reference>, out: &mut Vec<Selected>| {
            let i = match out.iter().position(|s| s.image.manifest_digest == img.manifest_digest) {
                Some(i) => i,
                None => {
                    out.push(Selected { image: img.clone(), refs: vec![] });
                    out.len() - 1
                }
            };
            if let Some(r) = r {
                if !out[i].refs.contains(&r) {
                    out[i].refs.push(r);
                }
            }
        };
        for a in args {
            if let Ok(r) = Reference::parse_name_only(a) {
                if r.tag().is_none() && r.digest().is_none() {
                    let name = r.name();
                    let mut found = false;
                    for img in &images {
                        for n in &img.names {
                            if let Ok(nr) = Reference::parse(n) {
                                if nr.name() == name && nr.tag().is_some() {
                                    add(img, Some(nr), &mut out);
                                    found = true;
                                }
                            }
                        }
                    }
                    if found {
                        continue;
                    }
                }
            }
            let img = self.resolve_image(a)?;
            let r = Reference::parse(a).ok().filter(|r| img.names.contains(&r.to_string()) && r.tag().is_some());
            add(&img, r, &mut out);
        }
        Ok(out)
    }

    /// Writes the named images to `out` as a tar archive.
    pub fn save(&self, args: &[String], format: SaveFormat, out: impl Write) -> Result<()> {
        self.save_compressed(args, format, Compression::None, out)
    }

    /// [`Store::save`], an OCI layout's uncompressed layers written compressed as `layers`
    /// says (BuildKit's `--output type=oci` writes gzip unless told otherwise); Docker's format
    /// keeps its `layer.tar` files.
    pub fn save_compressed(
        &self,
        args: &[String],
        format: SaveFormat,
        layers: Compression,
        out: impl Write,
    ) -> Result<()> {
        let selected = self.select_for_save(args)?;
        let mut b = tar::Builder::new(out);
        match format {
            SaveFormat::Docker => save_docker(self, &selected, &mut b)?,
            SaveFormat::Oci => save_oci(self, &selected, layers, &mut b)?,
        }
        let mut w = b.into_inner().map_err(|e| Error::Other(format!("finishing the archive: {e}")))?;
        w.flush().map_err(|e| Error::Other(format!("writing the archive: {e}")))?;
        Ok(())
    }
}

/// Writes a layer uncompressed as `blobs/sha256/<diff-id>`; returns its size.
fn write_plain_layer<W: Write>(
    store: &Store,
    b: &mut tar::Builder<W>,
    blob: &Digest,
    diff_id: &Digest,
    done: &mut HashMap<Digest, u64>,
) -> Result<u64> {
    if let Some(s) = done.get(diff_id) {
        return Ok(*s);
    }
    let name = blob_name(diff_id);
    let mut head = [0u8; 6];
    let n = store.open_blob(blob)?.read(&mut head).map_err(|e| Error::io(store.blob_path(blob), e))?;
    let size = if Compression::sniff(&head[..n]) == Compression::None {
        if blob != diff_id {
            return Err(berth_oci::Error::DigestMismatch {
                expected: diff_id.to_string(),
                actual: format!("{blob} (uncompressed layer)"),
            }
            .into());
        }
        let size = store.blob_size(blob).unwrap_or(0);
        put_reader(b, &name, size, store.open_blob(blob)?)?;
        size
    } else {
        // The tar header needs the size first: from the record an earlier unpack or import
        // left, or from a first decompression pass (which also checks the diff-id).
        let size = super::checked_diff_size(store, blob, diff_id)?;
        let r = crate::unpack::decompress(io::BufReader::new(store.open_blob(blob)?))
            .map_err(|e| Error::malformed(format!("layer {blob}"), e))?;
        put_reader(b, &name, size, r)?;
        size
    };
    done.insert(diff_id.clone(), size);
    Ok(size)
}

fn save_docker<W: Write>(store: &Store, selected: &[Selected], b: &mut tar::Builder<W>) -> Result<()> {
    put_dir(b, "blobs/")?;
    put_dir(b, "blobs/sha256/")?;
    let mut done_layers: HashMap<Digest, u64> = HashMap::new();
    let mut done_blobs: Vec<Digest> = Vec::new();
    let mut items: Vec<DockerManifestItem> = Vec::new();
    let mut index: Vec<serde_json::Value> = Vec::new();
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    // Docker keys images by id: two manifests of one config are one image in its archive.
    let mut by_id: Vec<(&Image, Vec<Reference>)> = Vec::new();
    for s in selected {
        match by_id.iter_mut().find(|(i, _)| i.id == s.image.id) {
            Some((_, refs)) => refs.extend(s.refs.iter().cloned()),
            None => by_id.push((&s.image, s.refs.clone())),
        }
    }
    for (img, refs) in by_id {
        let diff_ids = img.diff_ids();
        let layers: Vec<_> =
            img.manifest.layers().iter().filter(|l| media::is_tar_layer(l.media_type().as_ref())).collect();
        if layers.len() != diff_ids.len() {
            return Err(Error::malformed(
                format!("image {}", img.id),
                format!("{} layers but {} diff-ids in its config", layers.len(), diff_ids.len()),
            ));
        }
        let mut layer_descs = Vec::new();
        let mut layer_paths = Vec::new();
        for (l, diff) in layers.iter().zip(&diff_ids) {
            let size = write_plain_layer(store, b, &desc_digest(l)?, diff, &mut done_layers)?;
            layer_descs.push(json!({"mediaType": media::OCI_LAYER_TAR, "digest": diff.to_string(), "size": size}));
            layer_paths.push(blob_name(diff));
        }
        let config = store.read_blob(&img.id)?;
        if !done_blobs.contains(&img.id) {
            put(b, &blob_name(&img.id), &config)?;
            done_blobs.push(img.id.clone());
        }
        let mut cfg_desc = json!({"mediaType": media::OCI_CONFIG, "digest": img.id.to_string(), "size": config.len()});
        if let (Some(os), Some(arch)) = (img.config_json["os"].as_str(), img.config_json["architecture"].as_str()) {
            cfg_desc["platform"] = json!({"architecture": arch, "os": os});
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": cfg_desc,
            "layers": layer_descs,
        });
        let mbytes = serde_json::to_vec(&manifest).expect("json value");
        let mdigest = Digest::of(&mbytes);
        if !done_blobs.contains(&mdigest) {
            put(b, &blob_name(&mdigest), &mbytes)?;
            done_blobs.push(mdigest.clone());
        }
        let mut repo_tags = Vec::new();
        for r in &refs {
            let tag = r.tag().unwrap_or("latest");
            let fam = format!("{}:{tag}", r.familiar_name());
            if repo_tags.contains(&fam) {
                continue;
            }
            repo_tags.push(fam);
            if let Some(top) = diff_ids.last() {
                repos.entry(r.familiar_name()).or_default().insert(tag.to_string(), top.hex().to_string());
            }
            index.push(json!({
                "mediaType": media::OCI_MANIFEST,
                "digest": mdigest.to_string(),
                "size": mbytes.len(),
                "annotations": { CONTAINERD_NAME: r.to_string(), REF_NAME: tag },
            }));
        }
        if refs.is_empty() {
            index.push(json!({"mediaType": media::OCI_MANIFEST, "digest": mdigest.to_string(), "size": mbytes.len()}));
        }
        items.push(DockerManifestItem {
            config: blob_name(&img.id),
            repo_tags: (!repo_tags.is_empty()).then_some(repo_tags),
            layers: layer_paths,
        });
    }
    put(
        b,
        "index.json",
        &serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": index}))
            .expect("json"),
    )?;
    let mut mj = serde_json::to_vec(&items).expect("json");
    mj.push(b'\n');
    put(b, "manifest.json", &mj)?;
    put(b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if !repos.is_empty() {
        let mut rj = serde_json::to_vec(&repos).expect("json");
        rj.push(b'\n');
        put(b, "repositories", &rj)?;
    }
    Ok(())
}

fn save_oci<W: Write>(
    store: &Store,
    selected: &[Selected],
    layers: Compression,
    b: &mut tar::Builder<W>,
) -> Result<()> {
    put(b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    put_dir(b, "blobs/")?;
    put_dir(b, "blobs/sha256/")?;
    let mut done: Vec<Digest> = Vec::new();
    let mut index = Vec::new();
    for s in selected {
        let img = &s.image;
        let (manifest_digest, manifest) =
            match crate::layer::compressed_manifest(store, &store.read_blob(&img.manifest_digest)?, layers)? {
                Some((d, bytes)) => {
                    (d, serde_json::from_slice::<ImageManifest>(&bytes).map_err(|e| Error::Other(e.to_string()))?)
                }
                None => (img.manifest_digest.clone(), img.manifest.clone()),
            };
        let blobs = std::iter::once(desc_digest(manifest.config())?)
            .chain(manifest.layers().iter().map(desc_digest).collect::<Result<Vec<_>>>()?)
            .chain(std::iter::once(manifest_digest.clone()));
        for d in blobs {
            if done.contains(&d) {
                continue;
            }
            let size = store.blob_size(&d).ok_or_else(|| Error::BlobNotFound(d.to_string()))?;
            put_reader(b, &blob_name(&d), size, store.open_blob(&d)?)?;
            done.push(d);
        }
        let size = store.blob_size(&manifest_digest).unwrap_or(0);
        let mt = img.manifest_desc.media_type().to_string();
        for r in &s.refs {
            index.push(json!({
                "mediaType": mt,
                "digest": manifest_digest.to_string(),
                "size": size,
                "annotations": { REF_NAME: r.to_string(), CONTAINERD_NAME: r.to_string() },
            }));
        }
        if s.refs.is_empty() {
            index.push(json!({"mediaType": mt, "digest": manifest_digest.to_string(), "size": size}));
        }
    }
    put(
        b,
        "index.json",
        &serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": index}))
            .expect("json"),
    )?;
    Ok(())
}
