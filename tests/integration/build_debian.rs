//! `berth build` end to end on a Debian base made from Debian packages (the
//! debian:bookworm-slim rootfs scripts/setup.sh builds with debootstrap), with `apt-get
//! install` in a RUN step. Tests reach nothing beyond 127.0.0.0/8, so apt reads a local flat
//! repository (jq and its two libraries, fetched by setup) bind-mounted from the context.

use berth_tests::{fixtures_dir, require_root, Berth};
use std::fs;
use std::path::Path;

const PATH_ENV: &str = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A root holding `debian:bookworm-slim` imported as the recipe imports it, or None (skip)
/// without the Debian fixtures.
fn debian_root() -> Option<Berth> {
    require_root();
    let tar = fixtures_dir().join("debian-bookworm-slim-rootfs.tar");
    let repo = fixtures_dir().join("debian-repo/Packages");
    if !tar.exists() || !repo.exists() {
        eprintln!("skipping: needs the Debian fixtures (scripts/setup.sh builds {})", tar.display());
        return None;
    }
    let b = Berth::new();
    b.ok(&[
        "import",
        "--change",
        PATH_ENV,
        "--change",
        "CMD [\"bash\"]",
        tar.to_str().unwrap(),
        "debian:bookworm-slim",
    ]);
    Some(b)
}

fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

#[test]
#[ignore = "needs root"]
fn apt_get_install_in_a_run_step_on_debian_slim() {
    let Some(b) = debian_root() else { return };
    let ctx = tempfile::Builder::new().prefix("berth-build-deb-").tempdir().unwrap();
    copy_dir(&fixtures_dir().join("debian-repo"), &ctx.path().join("repo"));
    fs::write(
        ctx.path().join("Dockerfile"),
        r#"FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN --mount=type=bind,source=repo,target=/repo \
    rm -f /etc/apt/sources.list.d/debian.sources && \
    echo 'deb [trusted=yes] file:/repo ./' > /etc/apt/sources.list.d/local.list && \
    apt-get update && \
    apt-get install -y --no-install-recommends jq && \
    rm -rf /var/lib/apt/lists/*
WORKDIR /work
COPY <<EOF /work/in.json
{"a": {"b": [1, 2, 3]}}
EOF
CMD ["jq", "-c", ".a.b | add", "/work/in.json"]
"#,
    )
    .unwrap();
    let o = b.run(&["build", "--progress", "plain", "-t", "deb-jq:1", ctx.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "build failed:\n{err}");
    assert!(err.contains("Setting up jq"), "apt-get installed jq in the RUN step:\n{err}");

    // The image: the base's config kept, the step's layer on top of the single base layer.
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["image", "inspect", "deb-jq:1"])).unwrap();
    let c = &v[0]["Config"];
    assert_eq!(c["Cmd"], serde_json::json!(["jq", "-c", ".a.b | add", "/work/in.json"]));
    assert_eq!(c["WorkingDir"], "/work");
    let env: Vec<&str> = c["Env"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(
        env.iter().any(|e| e.starts_with("PATH=/usr/local/sbin")) && env.contains(&"DEBIAN_FRONTEND=noninteractive")
    );
    assert_eq!(v[0]["RootFS"]["Layers"].as_array().unwrap().len(), 4, "base, RUN, WORKDIR, COPY");

    // The package works in the built image: its CMD, and jq reading stdin.
    assert_eq!(b.ok(&["run", "--rm", "deb-jq:1"]).trim(), "6");
    let out = b.ok(&[
        "run",
        "--rm",
        "deb-jq:1",
        "sh",
        "-c",
        "echo '{\"x\":[1,2]}' | jq -c '.x | length'; dpkg-query -W -f='${Status}\\n' jq libjq1 libonig5; test -e /repo || echo no-repo",
    ]);
    assert_eq!(
        out, "2\ninstall ok installed\ninstall ok installed\ninstall ok installed\nno-repo\n",
        "jq runs, dpkg knows the three packages, and the bind mount left nothing"
    );

    // A rebuild executes nothing.
    let o = b.run(&["build", "--progress", "plain", "-t", "deb-jq:1", ctx.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("Setting up jq") && err.matches("CACHED").count() == 3, "{err}");
}
