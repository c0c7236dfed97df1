//! Read-only access to an image's files as a container would see them, without mounting.
//!
//! Creating a container reads a few files of its image (`/etc/passwd`, `/etc/group`, the first
//! bytes of the entrypoint). Mounting the overlay just for that, unmounting it, and letting the
//! shim mount it again costs a few ms per mount, a large part of a short container's start. The
//! [`LayerView`] answers those reads from the store's unpacked layer directories directly, the
//! way overlayfs merges them: the topmost layer holding a path wins, a whiteout (0/0 character
//! device) hides the lower layers' entry, an opaque directory (`trusted.overlay.opaque=y`) hides
//! the lower layers' children, and symlinks are resolved in the merged view, never leaving it.
//! [`RootView`] is what both it and a mounted (or copied) rootfs directory offer the readers.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use berth_store::unpack::OVERLAY_OPAQUE_XATTR;

/// Symlinks followed while resolving one path before giving up (the kernel's ELOOP limit).
const MAX_HOPS: usize = 40;

/// A container's root filesystem as the create-time readers see it.
pub trait RootView {
    /// The container's file at `path` (symlinks resolved inside the root) opened for reading,
    /// or `None` when it cannot be resolved or opened.
    fn open(&self, path: &str) -> Option<fs::File>;
}

/// A mounted overlay or a copied rootfs: the directory is the merged view, resolved with it as
/// the root (`berth_sys::inroot`) and opened in the same step.
impl RootView for Path {
    fn open(&self, path: &str) -> Option<fs::File> {
        berth_sys::inroot::Root::open(self).ok()?.open_file(path).ok()
    }
}

impl RootView for PathBuf {
    fn open(&self, path: &str) -> Option<fs::File> {
        self.as_path().open(path)
    }
}

/// The merged view of unpacked layer directories, lowest first (as in `Container::layers`).
pub struct LayerView<'a> {
    layers: &'a [PathBuf],
}

impl<'a> LayerView<'a> {
    pub fn new(layers: &'a [PathBuf]) -> Self {
        LayerView { layers }
    }

    /// The host path of the merged entry at `parts` (no symlinks among them), without following
    /// it if it is a symlink; `None` when no layer shows it.
    fn lookup(&self, parts: &[String]) -> Option<PathBuf> {
        if parts.is_empty() {
            return self.layers.last().cloned();
        }
        for layer in self.layers.iter().rev() {
            let mut host = layer.clone();
            let mut opaque = false;
            for (i, part) in parts.iter().enumerate() {
                host.push(part);
                let Ok(m) = fs::symlink_metadata(&host) else { break };
                if m.file_type().is_char_device() && m.rdev() == 0 {
                    return None;
                }
                if i + 1 == parts.len() {
                    return Some(host);
                }
                // A non-directory here covers this name in every lower layer too.
                if !m.is_dir() {
                    return None;
                }
                opaque |= xattr::get(&host, OVERLAY_OPAQUE_XATTR).ok().flatten().as_deref() == Some(b"y");
            }
            if opaque {
                return None;
            }
        }
        None
    }
}

impl RootView for LayerView<'_> {
    fn open(&self, path: &str) -> Option<fs::File> {
        // The store's layer directories are immutable: the host path found is the file.
        fs::File::open(self.resolve(path)?).ok()
    }
}

impl LayerView<'_> {
    /// The host path of the merged entry at `path`, symlinks resolved in the merged view
    /// (more than [`MAX_HOPS`] is `None`).
    pub fn resolve(&self, path: &str) -> Option<PathBuf> {
        self.lookup(&self.walk(path)?)
    }

    /// `path` as a path from the root with the symlinks of its existing components resolved in
    /// the merged view; a missing tail is kept as it is. `None` past [`MAX_HOPS`].
    pub fn canonical(&self, path: &str) -> Option<String> {
        Some(format!("/{}", self.walk(path)?.join("/")))
    }

    /// The components of `path` once its symlinks are resolved in the merged view (a missing
    /// component and what follows it are kept as written).
    fn walk(&self, path: &str) -> Option<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut pending: Vec<String> = Path::new(path).components().rev().filter_map(component).collect();
        let mut hops = 0;
        while let Some(comp) = pending.pop() {
            if comp == ".." {
                out.pop();
                continue;
            }
            out.push(comp);
            let Some(host) = self.lookup(&out) else { continue };
            if let Ok(target) = fs::read_link(&host) {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                out.pop();
                if target.is_absolute() {
                    out.clear();
                }
                pending.extend(target.components().rev().filter_map(component));
            }
        }
        Some(out)
    }
}

fn component(c: Component) -> Option<String> {
    match c {
        Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn layers(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
        let t = tempfile::tempdir().unwrap();
        let ls: Vec<PathBuf> = (0..n).map(|i| t.path().join(format!("l{i}"))).collect();
        for l in &ls {
            fs::create_dir_all(l).unwrap();
        }
        (t, ls)
    }

    fn write(p: &Path, body: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    fn read(v: &LayerView, path: &str) -> Option<String> {
        v.resolve(path).and_then(|p| fs::read_to_string(p).ok())
    }

    fn whiteout(p: &Path) {
        berth_store::unpack::mknod(p, libc::S_IFCHR, 0, 0, 0).unwrap();
    }

    #[test]
    fn topmost_layer_wins_and_lower_files_show_through() {
        let (_t, ls) = layers(2);
        write(&ls[0].join("etc/passwd"), "lower");
        write(&ls[0].join("etc/group"), "group");
        write(&ls[1].join("etc/passwd"), "upper");
        let v = LayerView::new(&ls);
        assert_eq!(read(&v, "/etc/passwd").as_deref(), Some("upper"));
        assert_eq!(read(&v, "etc/group").as_deref(), Some("group"));
        assert_eq!(read(&v, "/etc/shadow"), None);
    }

    #[test]
    fn whiteout_hides_lower_entry() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let (_t, ls) = layers(3);
        write(&ls[0].join("etc/passwd"), "lower");
        write(&ls[0].join("bin/sh"), "sh");
        fs::create_dir_all(ls[1].join("etc")).unwrap();
        whiteout(&ls[1].join("etc/passwd"));
        whiteout(&ls[1].join("bin"));
        let v = LayerView::new(&ls);
        assert_eq!(read(&v, "/etc/passwd"), None);
        assert_eq!(read(&v, "/bin/sh"), None);
        // A file re-added above the whiteout shows again.
        write(&ls[2].join("etc/passwd"), "again");
        assert_eq!(read(&v, "/etc/passwd").as_deref(), Some("again"));
    }

    #[test]
    fn opaque_dir_hides_lower_children() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let (_t, ls) = layers(2);
        write(&ls[0].join("etc/passwd"), "lower");
        write(&ls[0].join("etc/group"), "lower group");
        write(&ls[1].join("etc/group"), "upper group");
        xattr::set(ls[1].join("etc"), OVERLAY_OPAQUE_XATTR, b"y").unwrap();
        let v = LayerView::new(&ls);
        assert_eq!(read(&v, "/etc/passwd"), None);
        assert_eq!(read(&v, "/etc/group").as_deref(), Some("upper group"));
    }

    #[test]
    fn file_over_directory_hides_its_lower_children() {
        let (_t, ls) = layers(2);
        write(&ls[0].join("opt/x"), "x");
        write(&ls[1].join("opt"), "a file");
        let v = LayerView::new(&ls);
        assert_eq!(read(&v, "/opt/x"), None);
    }

    #[test]
    fn symlink_chain_across_layers() {
        let (_t, ls) = layers(3);
        // /bin/app -> /usr/bin/app (layer 0), /usr/bin -> ../local/bin (layer 1),
        // /usr/local/bin/app -> real (layer 2, relative), /usr/local/bin/real is the file.
        fs::create_dir_all(ls[0].join("bin")).unwrap();
        symlink("/usr/bin/app", ls[0].join("bin/app")).unwrap();
        fs::create_dir_all(ls[1].join("usr")).unwrap();
        symlink("../usr/local/bin", ls[1].join("usr/bin")).unwrap();
        fs::create_dir_all(ls[2].join("usr/local/bin")).unwrap();
        symlink("./real", ls[2].join("usr/local/bin/app")).unwrap();
        write(&ls[0].join("usr/local/bin/real"), "\0asm");
        let v = LayerView::new(&ls);
        assert_eq!(read(&v, "/bin/app").as_deref(), Some("\0asm"));
        assert_eq!(v.resolve("/bin/app").unwrap(), ls[0].join("usr/local/bin/real"));
    }

    #[test]
    fn canonical_resolves_existing_links_and_keeps_a_missing_tail() {
        let (_t, ls) = layers(2);
        fs::create_dir_all(ls[0].join("run")).unwrap();
        fs::create_dir_all(ls[0].join("var")).unwrap();
        symlink("/run", ls[1].join("var-run")).unwrap();
        symlink("../run", ls[0].join("var/run")).unwrap();
        let v = LayerView::new(&ls);
        assert_eq!(v.canonical("/var/run/x/y").as_deref(), Some("/run/x/y"));
        assert_eq!(v.canonical("/var-run").as_deref(), Some("/run"));
        assert_eq!(v.canonical("/new/../dir").as_deref(), Some("/dir"));
        assert_eq!(v.canonical("/").as_deref(), Some("/"));
        symlink("b", ls[0].join("a")).unwrap();
        symlink("a", ls[0].join("b")).unwrap();
        assert_eq!(v.canonical("/a/x"), None);
    }

    #[test]
    fn symlink_loop_gives_up() {
        let (_t, ls) = layers(1);
        symlink("b", ls[0].join("a")).unwrap();
        symlink("a", ls[0].join("b")).unwrap();
        assert_eq!(LayerView::new(&ls).resolve("/a"), None);
    }

    #[test]
    fn symlinks_never_escape_the_root() {
        let (t, ls) = layers(2);
        write(&t.path().join("secret"), "host file");
        write(&ls[0].join("secret"), "image file");
        fs::create_dir_all(ls[1].join("etc")).unwrap();
        symlink("../../../../secret", ls[1].join("etc/passwd")).unwrap();
        symlink(t.path().join("secret"), ls[1].join("abs")).unwrap();
        let v = LayerView::new(&ls);
        assert_eq!(read(&v, "/etc/passwd").as_deref(), Some("image file"));
        assert_eq!(read(&v, "/abs"), None);
        assert_eq!(read(&v, "/../../secret").as_deref(), Some("image file"));
    }
}
