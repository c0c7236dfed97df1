//! Lexical path cleaning for the `/`-separated paths images and Dockerfiles write
//! (`WORKDIR`, `VOLUME`, `COPY` destinations, `-v` targets, names inside image archives).
//!
//! Go's `path.Clean`, as Docker applies it: empty and `.` components dropped, `..` removing
//! the component before it and never climbing above the root. Purely lexical: resolving a
//! path on a filesystem (symlinks) is `berth_sys::inroot`'s job.

/// The cleaned path without its leading `/` (`""` for the root): `a//b/../c/` gives `a/c`.
pub fn clean_relative(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// The cleaned path as an absolute one: `a/../../b/` gives `/b`, `` gives `/`.
pub fn clean_absolute(p: &str) -> String {
    format!("/{}", clean_relative(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_as_go_does() {
        for (raw, rel) in [
            ("", ""),
            ("/", ""),
            ("a//b/./c/", "a/b/c"),
            ("/a/b/../c", "a/c"),
            ("../../etc/passwd", "etc/passwd"),
            ("/..", ""),
            ("a/..", ""),
        ] {
            assert_eq!(clean_relative(raw), rel, "{raw:?}");
            assert_eq!(clean_absolute(raw), format!("/{rel}"), "{raw:?}");
        }
    }
}
