//! Platforms (`os/arch[/variant]`): parsing `--platform`, the host's default, and choosing an
//! entry from a manifest list.
//!
//! Names follow Go's GOOS/GOARCH as the OCI image spec asks (`linux/amd64`, `linux/arm64/v8`,
//! `wasi/wasm`). Matching normalises the aliases registries really use (`aarch64`, `x86_64`,
//! `arm64` with or without `v8`) so that `--platform linux/arm64` finds `linux/arm64/v8`.

use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A platform as `--platform` names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        normalize(Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
        })
    }

    /// The platform berth runs on, as Docker reports it (`linux/amd64`, `linux/arm64/v8`...).
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "loongarch64" => ("loong64", None),
            "mips64" => ("mips64le", None),
            other => (other, None),
        };
        Platform::new("linux", arch, variant)
    }

    /// Parses `os/arch[/variant]` (Docker also accepts a bare `os`, meaning the host's arch).
    pub fn parse(s: &str) -> Result<Platform> {
        let bad = |why: &str| Error::InvalidPlatform { platform: s.to_string(), reason: why.to_string() };
        let parts: Vec<&str> = s.trim().split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("empty component"));
        }
        let lower = |p: &str| p.to_ascii_lowercase();
        match parts.as_slice() {
            [os] => {
                let host = Platform::host();
                Ok(Platform::new(&lower(os), &host.architecture, host.variant.as_deref()))
            }
            [os, arch] => Ok(Platform::new(&lower(os), &lower(arch), None)),
            [os, arch, variant] => Ok(Platform::new(&lower(os), &lower(arch), Some(&lower(variant)))),
            _ => Err(bad("too many components")),
        }
    }

    /// Whether a manifest-list entry's platform satisfies this one. A request without a
    /// variant accepts any variant (Docker's behaviour); a request with one needs it.
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        match (&self.variant, &other.variant) {
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// How well `other` fits: None when it does not match; higher is better (an exact variant
    /// beats a variant-less entry, which beats some other variant).
    pub fn score(&self, other: &Platform) -> Option<u8> {
        if !self.matches(other) {
            return None;
        }
        Some(match (&self.variant, &other.variant) {
            (Some(_), _) => 3,
            (None, None) => 2,
            (None, Some(_)) => 1,
        })
    }

    /// From an OCI descriptor's platform.
    pub fn from_oci(p: &oci_spec::image::Platform) -> Platform {
        Platform::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref())
    }
}

/// Registries and builders spell some architectures differently; compare canonical names.
fn normalize(mut p: Platform) -> Platform {
    p.architecture = match p.architecture.as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        "i386" | "i686" => "386".into(),
        "armhf" => {
            p.variant.get_or_insert_with(|| "v7".into());
            "arm".into()
        }
        "armel" => {
            p.variant.get_or_insert_with(|| "v6".into());
            "arm".into()
        }
        a => a.to_string(),
    };
    // `arm64` means v8 unless a variant says otherwise: treat `v8` as the default, unwritten.
    if p.architecture == "arm64" && p.variant.as_deref() == Some("v8") {
        p.variant = None;
    }
    p
}

impl FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Platform> {
        Platform::parse(s)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        assert!(p.matches(&Platform::new("linux", "aarch64", None)));
        assert!(Platform::parse("linux/amd64").unwrap().matches(&Platform::new("linux", "x86_64", None)));
        let armv7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(armv7.matches(&Platform::new("linux", "arm", Some("v7"))));
        assert!(!armv7.matches(&Platform::new("linux", "arm", Some("v6"))));
        assert!(Platform::parse("linux/arm").unwrap().matches(&Platform::new("linux", "arm", Some("v6"))));
        assert_eq!(Platform::parse("wasi/wasm").unwrap().to_string(), "wasi/wasm");
        assert!(Platform::parse("linux//x").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert_eq!(Platform::parse("linux").unwrap().os, "linux");
        assert_eq!(Platform::host().os, "linux");
    }
}
