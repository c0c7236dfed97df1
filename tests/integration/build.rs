//! `berth build` end to end on the busybox fixture: the image config a Docker user expects,
//! the files each step adds, the cache step by step, multi-stage builds, `.dockerignore`,
//! ARG scoping, reproducibility, wasm images, and every kind of bad input (each failing
//! build must tag nothing).

use berth_tests::{busybox_root, Berth};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// A context directory with the given files.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("berth-build-ctx-").tempdir().unwrap();
    for (p, body) in files {
        let path = d.path().join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }
    d
}

/// Builds; returns (stdout, stderr, success).
fn build(b: &Berth, ctx: &Path, extra: &[&str]) -> (String, String, bool) {
    let mut args: Vec<&str> = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    let c = ctx.to_str().unwrap();
    args.push(c);
    let o = b.run(&args);
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.success(),
    )
}

fn build_ok(b: &Berth, ctx: &Path, extra: &[&str]) -> String {
    let (out, err, ok) = build(b, ctx, extra);
    assert!(ok, "build failed:\nstdout: {out}\nstderr: {err}");
    err
}

fn inspect(b: &Berth, name: &str) -> Value {
    let v: Value = serde_json::from_str(&b.ok(&["image", "inspect", name])).unwrap();
    v[0].clone()
}

/// Runs `script` in a RUN step of a build FROM `image` (as root) and returns what it printed:
/// the files an image holds, seen through berth's own build containers.
fn probe(b: &Berth, image: &str, script: &str) -> String {
    let ctx = context(&[("Dockerfile", &format!("FROM {image}\nUSER 0\nRUN {script}\n"))]);
    let err = build_ok(b, ctx.path(), &["--no-cache"]);
    let mut out = String::new();
    for l in err.lines() {
        let mut parts = l.splitn(3, ' ');
        let (Some(n), Some(t)) = (parts.next(), parts.next()) else { continue };
        if n.starts_with('#') && t.contains('.') && t.parse::<f64>().is_ok() {
            out.push_str(parts.next().unwrap_or(""));
            out.push('\n');
        }
    }
    out
}

fn id_of(b: &Berth, name: &str) -> String {
    inspect(b, name)["Id"].as_str().unwrap().to_string()
}

#[test]
#[ignore = "needs root"]
fn config_and_files_as_docker_makes_them() {
    let b = busybox_root();
    let ctx = context(&[
        (
            "Dockerfile",
            r#"FROM busybox
ARG VERSION=1.0
ENV APP=/app GREETING="hello world" VERSION=$VERSION
WORKDIR $APP
COPY src/ ./src/
COPY --chown=1000:1001 --chmod=0600 secret.txt /etc/secret.txt
RUN echo "$GREETING $VERSION" > out.txt && rm /bin/true
EXPOSE 80 53/udp 8000-8001
VOLUME ["/data"]
LABEL org.example.name="demo app" plain=yes
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD wget -q -O- http://localhost/ || exit 1
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo onbuild-$((2+3))
MAINTAINER someone@example.com
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat out.txt"]
"#,
        ),
        ("src/a.txt", "a\n"),
        ("src/sub/b.txt", "b\n"),
        ("secret.txt", "s3cret\n"),
    ]);
    build_ok(&b, ctx.path(), &["-t", "demo:1", "--label", "extra=1", "--build-arg", "VERSION=2.5"]);
    let img = inspect(&b, "demo:1");
    let c = &img["Config"];
    let env: Vec<&str> = c["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(
        env.contains(&"APP=/app") && env.contains(&"GREETING=hello world") && env.contains(&"VERSION=2.5"),
        "{env:?}"
    );
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat out.txt"]));
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo onbuild-$((2+3))"]));
    let ports: Vec<&String> = c["ExposedPorts"].as_object().unwrap().keys().collect();
    assert_eq!(ports, vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
    assert!(c["Volumes"].as_object().unwrap().contains_key("/data"));
    assert_eq!(c["Labels"]["org.example.name"], "demo app");
    assert_eq!(c["Labels"]["plain"], "yes");
    assert_eq!(c["Labels"]["extra"], "1");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"]));
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000i64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(img["Author"], "someone@example.com");
    // The files: run the image (as root, to read everything).
    let out = probe(&b, "demo:1",
        "cat /app/out.txt /app/src/a.txt /app/src/sub/b.txt; stat -c '%u:%g %a' /etc/secret.txt; test -e /bin/true || echo true-deleted; true");
    assert!(out.contains("hello world 2.5\n"), "{out}");
    assert!(out.contains("a\nb\n"), "{out}");
    assert!(out.contains("1000:1001 600"), "{out}");
    assert!(out.contains("true-deleted"), "a deletion in RUN is a whiteout: {out}");
    // History: one entry per instruction, buildkit's comment.
    let hist = b.ok(&["history", "--no-trunc", "demo:1"]);
    assert!(hist.contains("RUN /bin/sh -c echo \"$GREETING $VERSION\" > out.txt && rm /bin/true # buildkit"), "{hist}");
    assert!(hist.contains("buildkit.dockerfile.v0"));

    // ONBUILD triggers run in a build FROM this image, and do not stay in its config.
    let child = context(&[("Dockerfile", "FROM demo:1\nRUN true\n")]);
    let err = build_ok(&b, child.path(), &["--no-cache", "-t", "child"]);
    assert!(err.contains("onbuild-5"), "{err}");
    assert!(inspect(&b, "child")["Config"]["OnBuild"].is_null());
}

#[test]
#[ignore = "needs root"]
fn cache_step_by_step() {
    let b = busybox_root();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nENV A=1\nWORKDIR /app\nCOPY src/ ./\nRUN cat *.txt > all && echo ran-the-$((40+2))\nCMD [\"cat\", \"all\"]\n"),
        ("src/one.txt", "1\n"),
        ("src/two.txt", "2\n"),
    ]);
    let cold = build_ok(&b, ctx.path(), &["-t", "c:1"]);
    assert!(cold.contains("ran-the-42"), "{cold}");
    assert!(!cold.contains("CACHED"), "{cold}");
    let id1 = id_of(&b, "c:1");

    // No change: nothing executes, every step says CACHED, the same image comes out.
    let warm = build_ok(&b, ctx.path(), &["-t", "c:1"]);
    assert!(!warm.contains("ran-the-42"), "{warm}");
    assert_eq!(warm.matches("CACHED").count(), 3, "WORKDIR, COPY and RUN: {warm}");
    assert_eq!(id_of(&b, "c:1"), id1);

    // Touching a file (mtime only) changes nothing.
    let p = ctx.path().join("src/one.txt");
    let f = fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(100)).unwrap();
    let touched = build_ok(&b, ctx.path(), &["-t", "c:1"]);
    assert_eq!(touched.matches("CACHED").count(), 3, "{touched}");

    // Changing one copied file re-runs from that COPY on, not before.
    fs::write(&p, "1 changed\n").unwrap();
    let changed = build_ok(&b, ctx.path(), &["-t", "c:1"]);
    assert_eq!(changed.matches("CACHED").count(), 1, "only WORKDIR is cached: {changed}");
    assert!(changed.contains("ran-the-42"), "{changed}");
    assert_eq!(probe(&b, "c:1", "cat /app/all"), "1 changed\n2\n");
    assert_ne!(id_of(&b, "c:1"), id1);

    // A mode change is a change too.
    fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let chmodded = build_ok(&b, ctx.path(), &["-t", "c:1"]);
    assert!(chmodded.contains("ran-the-42"), "{chmodded}");

    // An ENV change above invalidates everything after it.
    fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nENV A=2\nWORKDIR /app\nCOPY src/ ./\nRUN cat *.txt > all && echo ran-the-$((40+2))\nCMD [\"cat\", \"all\"]\n").unwrap();
    let env_changed = build_ok(&b, ctx.path(), &["-t", "c:1"]);
    assert_eq!(env_changed.matches("CACHED").count(), 0, "{env_changed}");

    // --no-cache executes everything.
    let nocache = build_ok(&b, ctx.path(), &["--no-cache", "-t", "c:1"]);
    assert!(nocache.contains("ran-the-42") && !nocache.contains("CACHED"), "{nocache}");

    // The cache persists in the root and survives another process: a build with a build-arg
    // not used anywhere is still cached (and warned about).
    let warned = build_ok(&b, ctx.path(), &["--build-arg", "UNUSED=1", "-t", "c:1"]);
    assert!(warned.contains("[Warning] One or more build-args [UNUSED] were not consumed"), "{warned}");
    assert_eq!(warned.matches("CACHED").count(), 3, "{warned}");
}

#[test]
#[ignore = "needs root"]
fn multi_stage_target_and_unused_stages() {
    let b = busybox_root();
    let ctx = context(&[(
        "Dockerfile",
        r#"ARG BASE=busybox
FROM ${BASE} AS builder
RUN mkdir /out && echo built > /out/artifact && echo builder-$((1+1))

FROM busybox AS broken
RUN echo broken-$((1+1)) && exit 7

FROM builder AS tester
RUN cat /out/artifact

FROM busybox
COPY --from=builder /out/artifact /artifact
COPY --from=0 /out /copied-dir
CMD ["cat", "/artifact"]
"#,
    )]);
    let err = build_ok(&b, ctx.path(), &["-t", "ms"]);
    assert!(err.contains("builder-2"), "{err}");
    assert!(!err.contains("broken-2"), "an unused stage is not built: {err}");
    assert!(!err.contains("[tester"), "{err}");
    assert!(err.contains("[builder 2/2]"), "{err}");
    assert_eq!(probe(&b, "ms", "cat /artifact /copied-dir/artifact"), "built\nbuilt\n");
    // The stage roots COPY --from read (mounted read-only as root) are gone with the build,
    // and so is the scratch space a killed build left (a stage root still mounted in it).
    let mounts = || {
        fs::read_to_string("/proc/mounts").unwrap().lines().filter(|l| l.contains(b.root().to_str().unwrap())).count()
    };
    assert_eq!(mounts(), 0, "{}", fs::read_to_string("/proc/mounts").unwrap());
    if berth_tests::is_root() {
        let stale = b.root().join("build-tmp/999999999-deadbeef");
        let store = berth_engine::store::Store::open(b.root()).unwrap();
        let layers: Vec<PathBuf> = store.unpacked_layers().unwrap().iter().map(|d| store.layer_dir(d)).collect();
        let point = stale.join("rootfs-x");
        berth_engine::store::snapshot::mount_readonly(&layers[..1], &point, &stale.join("e")).unwrap();
        // Unmounted whatever the assertions below say (a failing test must not leave it).
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = berth_engine::store::snapshot::unmount(&self.0);
            }
        }
        let _guard = Unmount(point);
        assert_eq!(mounts(), 1);
        build_ok(&b, ctx.path(), &["-t", "ms"]);
        assert_eq!(mounts(), 0);
        assert!(!stale.exists());
    }
    // --target builds up to that stage only.
    let err = build_ok(&b, ctx.path(), &["--target", "tester", "-t", "ms-test"]);
    assert!(err.contains("built"), "{err}");
    assert!(!err.contains("broken-2"), "{err}");
    assert_eq!(inspect(&b, "ms-test")["Config"]["Cmd"], serde_json::json!(["sh"]), "the builder's base config");
    // A target that does not exist.
    let (_, err, ok) = build(&b, ctx.path(), &["--target", "nope"]);
    assert!(!ok && err.contains("nope"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn independent_stages_build_in_parallel() {
    let b = busybox_root();
    // Each stage records when its RUN started and ended (/proc/uptime: one clock for all
    // containers); a third stage the target does not use would take 5 s.
    let ctx = context(&[(
        "Dockerfile",
        r#"FROM busybox AS a
RUN cut -d' ' -f1 /proc/uptime > /start && sleep 1 && cut -d' ' -f1 /proc/uptime > /end

FROM busybox AS b
RUN cut -d' ' -f1 /proc/uptime > /start && sleep 1 && cut -d' ' -f1 /proc/uptime > /end

FROM busybox AS unused
RUN sleep 5 && echo never-$((1+1))

FROM busybox
COPY --from=a /start /a.start
COPY --from=a /end /a.end
COPY --from=b /start /b.start
COPY --from=b /end /b.end
"#,
    )]);
    let t = std::time::Instant::now();
    let err = build_ok(&b, ctx.path(), &["-t", "par"]);
    let took = t.elapsed();
    assert!(!err.contains("never-2") && !err.contains("[unused"), "the unused stage is not built: {err}");
    assert!(err.contains("[a 2/2]") && err.contains("[b 2/2]"), "{err}");
    let times: Vec<f64> =
        probe(&b, "par", "cat /a.start /a.end /b.start /b.end").lines().map(|l| l.trim().parse().unwrap()).collect();
    let (a0, a1, b0, b1) = (times[0], times[1], times[2], times[3]);
    assert!(a1 - a0 >= 0.9 && b1 - b0 >= 0.9, "{times:?}");
    assert!(a0 < b1 && b0 < a1, "the two RUN steps overlap in time: a {a0}..{a1}, b {b0}..{b1}");
    assert!(took < std::time::Duration::from_secs(5), "two 1 s stages side by side, no 5 s stage: {took:?}");
}

#[test]
#[ignore = "needs root"]
fn dockerignore_and_copy_rules() {
    let b = busybox_root();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY . /ctx/\nCOPY *.md /docs/\nCOPY single.txt /renamed.txt\nCOPY single.txt /into/\nADD archive.tar /unpacked/\nCOPY <<EOF /inline.txt\ninline $HOME\nEOF\n"),
        (".dockerignore", "# comments are ignored\n*.log\n**/secret*\n!keep.log\nbuild/\n"),
        ("a.log", "no"),
        ("keep.log", "yes"),
        ("sub/secret.key", "no"),
        ("sub/ok.txt", "ok"),
        ("build/out", "no"),
        ("README.md", "readme"),
        ("single.txt", "single"),
    ]);
    // A small tar archive for ADD to unpack.
    {
        let f = fs::File::create(ctx.path().join("archive.tar")).unwrap();
        let mut t = tar::Builder::new(f);
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o755);
        t.append_data(&mut h, "bin/tool", &b"abc"[..]).unwrap();
        t.finish().unwrap();
    }
    build_ok(&b, ctx.path(), &["-t", "ign"]);
    let out = probe(&b, "ign", "cd /ctx && find . -type f | sort; cat /renamed.txt /into/single.txt /docs/README.md /unpacked/bin/tool /inline.txt");
    assert!(out.contains("./keep.log") && out.contains("./sub/ok.txt") && out.contains("./single.txt"), "{out}");
    assert!(!out.contains("a.log") && !out.contains("secret") && !out.contains("build/out"), "{out}");
    assert!(out.contains("singlesinglereadmeabc"), "{out}");
    assert!(out.contains("inline $HOME"), "{out}");

    // <Dockerfile>.dockerignore next to a -f Dockerfile wins over .dockerignore.
    fs::write(ctx.path().join("Other.Dockerfile"), "FROM busybox\nCOPY . /ctx/\n").unwrap();
    fs::write(ctx.path().join("Other.Dockerfile.dockerignore"), "*.txt\nsub\n").unwrap();
    let f = ctx.path().join("Other.Dockerfile");
    build_ok(&b, ctx.path(), &["-f", f.to_str().unwrap(), "-t", "ign2"]);
    let out = probe(&b, "ign2", "cd /ctx && find . -type f | sort");
    assert!(out.contains("./a.log") && !out.contains("single.txt") && !out.contains("sub/"), "{out}");
}

#[test]
#[ignore = "needs root"]
fn args_scoping_and_predefined() {
    let b = busybox_root();
    let ctx = context(&[(
        "Dockerfile",
        r#"ARG GLOBAL=g1
ARG IMG=busybox
FROM $IMG
RUN echo "global-unseen:[$GLOBAL]"
ARG GLOBAL
ARG LOCAL=l1
ARG TARGETARCH
RUN echo "global-seen:[$GLOBAL] local:[$LOCAL] arch:[$TARGETARCH]"
ENV LOCAL=from-env
RUN echo "env-wins:[$LOCAL]"
"#,
    )]);
    let err = build_ok(&b, ctx.path(), &["--build-arg", "LOCAL=l2", "-t", "args"]);
    assert!(err.contains("global-unseen:[]"), "{err}");
    assert!(err.contains("global-seen:[g1] local:[l2] arch:["), "{err}");
    assert!(!err.contains("arch:[]"), "{err}");
    assert!(err.contains("env-wins:[from-env]"), "{err}");
    // ARG values are not in the image config; ENV values are.
    let env = inspect(&b, "args")["Config"]["Env"].to_string();
    assert!(!env.contains("GLOBAL") && env.contains("LOCAL=from-env"), "{env}");
}

#[test]
#[ignore = "needs root"]
fn quiet_iidfile_stdin_and_reproducible() {
    let b = busybox_root();
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY f /f\nRUN date > /built-at\n"), ("f", "x")]);
    let iid = ctx.path().join("iid");
    let o = b.run(&["build", "-q", "--iidfile", iid.to_str().unwrap(), "-t", "q", ctx.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(stdout.starts_with("sha256:") && stdout.len() == 71, "{stdout}");
    assert!(o.stderr.is_empty(), "quiet: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read_to_string(&iid).unwrap(), stdout);
    assert_eq!(id_of(&b, "q"), stdout);

    // --output writes the image as an archive too (OCI layout or Docker's format).
    let oci = ctx.path().join("out.tar");
    let dest = format!("type=oci,dest={}", oci.display());
    b.ok(&["build", "-q", "--output", &dest, ctx.path().to_str().unwrap()]);
    let mut names = Vec::new();
    for e in tar::Archive::new(fs::File::open(&oci).unwrap()).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.contains(&"oci-layout".to_string()) && names.contains(&"index.json".to_string()), "{names:?}");

    // -f - reads the Dockerfile from stdin.
    let mut c = b.cmd();
    c.args(["build", "-q", "-f", "-", "-t", "fromstdin", ctx.path().to_str().unwrap()]);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"FROM busybox\nLABEL via=stdin\n").unwrap();
    drop(child.stdin.take());
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(inspect(&b, "fromstdin")["Config"]["Labels"]["via"], "stdin");

    // SOURCE_DATE_EPOCH: two uncached builds give the same digest.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let o = b
            .cmd()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", "-q", "--no-cache", "-f", "-", ctx.path().to_str().unwrap()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut ch| {
                std::io::Write::write_all(
                    ch.stdin.as_mut().unwrap(),
                    b"FROM busybox\nCOPY f /f\nRUN echo fixed > /fixed && mkdir -p /d\n",
                )?;
                drop(ch.stdin.take());
                ch.wait_with_output()
            })
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        ids.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    assert_eq!(ids[0], ids[1], "reproducible with SOURCE_DATE_EPOCH");
}

#[test]
#[ignore = "needs root"]
fn run_mounts_and_secrets() {
    let b = busybox_root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=cache,target=/cache sh -c 'echo $$ >> /cache/runs; wc -l < /cache/runs'\nRUN --mount=type=secret,id=tok cat /run/secrets/tok && test ! -e /out-of-secret\nRUN --mount=type=tmpfs,target=/scratch touch /scratch/x\nRUN --mount=type=bind,source=data,target=/data cat /data/d.txt\nRUN test ! -e /scratch/x && test ! -e /cache/runs && test ! -e /run/secrets/tok && echo cl''ean\n",
        ),
        ("data/d.txt", "bound"),
        ("tok.txt", "TOKEN-VALUE"),
    ]);
    let tok = ctx.path().join("tok.txt");
    let secret = format!("id=tok,src={}", tok.display());
    let err = build_ok(&b, ctx.path(), &["--secret", &secret, "-t", "mounts"]);
    assert!(err.contains("TOKEN-VALUE") && err.contains("bound") && err.contains("clean"), "{err}");
    // The cache mount persists across builds.
    let err = build_ok(&b, ctx.path(), &["--no-cache", "--secret", &secret, "-t", "mounts"]);
    assert!(err.contains(" 2\n"), "second run sees the first run's line: {err}");
    let hist = b.ok(&["history", "--no-trunc", "mounts"]);
    assert!(!hist.contains("TOKEN-VALUE"));
}

#[test]
#[ignore = "needs root"]
fn wasm_image_from_scratch() {
    let b = busybox_root();
    let ctx = context(&[
        ("Dockerfile", "FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n"),
        ("app.wasm", "\0asm\x01\0\0\0"),
    ]);
    build_ok(&b, ctx.path(), &["--platform", "wasi/wasm", "-t", "wasm-app"]);
    let img = inspect(&b, "wasm-app");
    assert_eq!(img["Architecture"], "wasm");
    assert_eq!(img["Os"], "wasip1");
    // RUN cannot run for a wasm target.
    let ctx2 = context(&[("Dockerfile", "FROM scratch\nRUN true\n")]);
    let (_, err, ok) = build(&b, ctx2.path(), &["--platform", "wasi/wasm"]);
    assert!(!ok && err.contains("not supported"), "{err}");
}

// ---- bad input: each fails with a clear message, exits non-zero and tags nothing ----------

fn fails_tagging_nothing(b: &Berth, files: &[(&str, &str)], extra: &[&str], wants: &[&str]) -> String {
    let ctx = context(files);
    let mut args = vec!["-t", "never:tagged"];
    args.extend_from_slice(extra);
    let (_, err, ok) = build(b, ctx.path(), &args);
    assert!(!ok, "the build should fail: {err}");
    for w in wants {
        assert!(err.contains(w), "missing {w:?} in:\n{err}");
    }
    let o = b.run(&["image", "inspect", "never:tagged"]);
    assert!(!o.status.success(), "a failed build tagged its image");
    err
}

#[test]
#[ignore = "needs root"]
fn bad_input() {
    let b = busybox_root();
    // Syntax: position and the line shown.
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nRUN echo ok\n  FORM x\n")],
        &[],
        &["Dockerfile:3:3", "unknown instruction: FORM", ">>>   FORM x"],
    );
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nCOPY one\n")],
        &[],
        &[":2:1", "COPY requires at least two arguments"],
    );
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nENV A=\"unterminated\n")],
        &[],
        &["Dockerfile:2", "double-quote"],
    );
    // An undefined stage (and no such image) in --from.
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nCOPY --from=nosuchstage /x /x\n")],
        &[],
        &["Dockerfile:2", "nosuchstage"],
    );
    // COPY sources missing or outside the context.
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nCOPY missing.txt /x\n")],
        &[],
        &["Dockerfile:2", "\"/missing.txt\": not found"],
    );
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nCOPY ../outside /x\n")],
        &[],
        &["outside the build context"],
    );
    fails_tagging_nothing(&b, &[("Dockerfile", "FROM busybox\nCOPY *.nomatch /x\n")], &[], &["no source files"]);
    // A failing RUN: its exit code and its whole output.
    let err = fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nRUN echo line-one && echo line-two >&2 && exit 3\n")],
        &["-q"],
        &["Dockerfile:2", "did not complete successfully: exit code: 3", "line-one", "line-two"],
    );
    assert!(err.contains("ERROR"), "{err}");
    let o = b.run(&["build", "-q", context(&[("Dockerfile", "FROM busybox\nRUN exit 3\n")]).path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "docker build exits 1 on a failed step");
    // A cycle between stages.
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n")],
        &["--target", "a"],
        &["circular dependency detected on stage"],
    );
    // No Dockerfile at all.
    fails_tagging_nothing(&b, &[("other", "x")], &[], &["failed to read dockerfile"]);
    // A FROM image that does not exist anywhere (no registry on localhost:1).
    fails_tagging_nothing(&b, &[("Dockerfile", "FROM localhost:1/nope:1\n")], &[], &["FROM localhost:1/nope:1"]);
    // An unreadable file in the context (root reads through chmod 000, so the file is a bind
    // mount of /proc/<pid>/mem of a process that has exited: opening or reading it fails).
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"), ("unreadable", "")]);
    let target = ctx.path().join("unreadable");
    let st = std::process::Command::new("mount").arg("--bind").arg("/proc/self/mem").arg(&target).status().unwrap();
    assert!(st.success());
    let _unmount = Unmount(target.clone());
    let (_, err, ok) = build(&b, ctx.path(), &["-t", "never:tagged"]);
    assert!(!ok && err.contains("unreadable"), "{err}");
    assert!(!b.run(&["image", "inspect", "never:tagged"]).status.success());
}

/// Unmounts a test's bind mount when the test ends, passed or not.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A small HTTP server on 127.0.0.1 for `ADD <url>`: serves `body` at `/files/hello.txt`
/// (with a Last-Modified), 404 elsewhere, and counts the requests it answered.
struct Http {
    port: u16,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const LAST_MODIFIED_SECS: &str = "1445412480";

impl Http {
    fn start(body: &'static str) -> Http {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        // The thread ends with the test process; it holds no resource outside it.
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let resp = if first.starts_with("GET /files/hello.txt ") {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n{body}", body.len())
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                };
                let _ = c.write_all(resp.as_bytes());
            }
        });
        Http { port, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
#[ignore = "needs root"]
fn add_url_with_checksum() {
    let b = busybox_root();
    let body = "hello over http\n";
    let http = Http::start(body);
    let good = format!("sha256:{}", sha256_hex(body.as_bytes()));
    let url = http.url("/files/hello.txt");
    let df = format!(
        "FROM busybox\nADD --checksum={good} {url} /downloads/\nADD {url} /named.txt\nADD --chmod=644 {url} /dir/\nRUN stat -c '%n %a %u:%g %Y' /downloads/hello.txt /named.txt /dir/hello.txt && cat /named.txt\n"
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let err = build_ok(&b, ctx.path(), &["-t", "fetched"]);
    // Downloads are 0600 root:root (unless --chmod), dated by Last-Modified, named after the URL.
    assert!(err.contains(&format!("/downloads/hello.txt 600 0:0 {LAST_MODIFIED_SECS}")), "{err}");
    assert!(err.contains(&format!("/named.txt 600 0:0 {LAST_MODIFIED_SECS}")), "{err}");
    assert!(err.contains("/dir/hello.txt 644 0:0"), "{err}");
    assert!(err.contains("hello over http"), "{err}");
    assert_eq!(http.hits(), 3);

    // A rebuild: all cached; the --checksum step needs no request (the checksum keys it),
    // the others fetch to learn the content, as BuildKit's HTTP source does.
    let again = build_ok(&b, ctx.path(), &["-t", "fetched"]);
    assert_eq!(again.matches("CACHED").count(), 4, "{again}");
    assert_eq!(http.hits(), 5, "only the two unchecksummed ADDs fetched again");

    // A wrong checksum fails the build and tags nothing.
    let bad = format!("sha256:{}", sha256_hex(b"something else"));
    let err = fails_tagging_nothing(
        &b,
        &[("Dockerfile", &format!("FROM busybox\nADD --checksum={bad} {url} /x\n"))],
        &[],
        &["Dockerfile:2", "digest mismatch", &good, &bad],
    );
    assert!(err.contains("ERROR"), "{err}");
    // A missing file, a malformed checksum, a checksum on a local source, COPY of a URL.
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", &format!("FROM busybox\nADD {} /x\n", http.url("/missing")))],
        &[],
        &["invalid response status 404"],
    );
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", &format!("FROM busybox\nADD --checksum=sha256:abc {url} /x\n"))],
        &[],
        &["invalid checksum"],
    );
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nADD --checksum=sha256:00 f /x\n"), ("f", "x")],
        &[],
        &["checksum can't be specified for non-HTTP(S) sources"],
    );
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", &format!("FROM busybox\nCOPY {url} /x\n"))],
        &[],
        &["COPY does not support URLs"],
    );
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
#[ignore = "needs root"]
fn copy_link_layer_does_not_depend_on_earlier_steps() {
    let b = busybox_root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nARG V\nRUN echo v-$V > /v && mkdir -p /opt && chmod 700 /opt\nCOPY --link app.txt /opt/app/\nADD --link app.txt /added.txt\nRUN cat /opt/app/app.txt /v && stat -c '%a %u' /opt /opt/app\n",
        ),
        ("app.txt", "app\n"),
    ]);
    let one = build_ok(&b, ctx.path(), &["--build-arg", "V=1", "-t", "link:1"]);
    assert!(one.contains("v-1"), "{one}");
    // --link: the parents are new 0755 root directories, not the stage's (/opt is 0700 below).
    assert!(one.contains("755 0\n") && !one.contains("700 0\n"), "{one}");
    // Another ARG value re-runs both RUN steps, but the --link layers come from the cache:
    // their keys do not include the steps before them.
    let two = build_ok(&b, ctx.path(), &["--build-arg", "V=2", "-t", "link:2"]);
    assert!(two.contains("v-2"), "{two}");
    assert_eq!(two.matches("CACHED").count(), 2, "COPY --link and ADD --link: {two}");
    let layers = |n: &str| inspect(&b, n)["RootFS"]["Layers"].as_array().unwrap().clone();
    let (l1, l2) = (layers("link:1"), layers("link:2"));
    assert_eq!(l1.len(), 5, "base, RUN, COPY --link, ADD --link, the last RUN's empty layer (as BuildKit)");
    assert_ne!(l1[1], l2[1], "the RUN layer changed");
    assert_eq!(l1[2..4], l2[2..4], "the same --link layers over a different parent");
    assert_eq!(probe(&b, "link:2", "cat /added.txt /v"), "app\nv-2\n");
}

#[test]
#[ignore = "needs root"]
fn no_cache_filter_reruns_only_the_named_stages() {
    let b = busybox_root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS dep\nRUN echo ran-dep-$((1+1)) && echo fixed > /a\n\nFROM busybox\nRUN echo ran-final-$((1+1))\nCOPY --from=dep /a /a\n",
    )]);
    let cold = build_ok(&b, ctx.path(), &["-t", "ncf"]);
    assert!(cold.contains("ran-dep-2") && cold.contains("ran-final-2"), "{cold}");
    let filtered = build_ok(&b, ctx.path(), &["--no-cache-filter", "dep", "-t", "ncf"]);
    assert!(filtered.contains("ran-dep-2"), "the filtered stage ran again: {filtered}");
    assert!(!filtered.contains("ran-final-2"), "the other stage stayed cached: {filtered}");
    assert_eq!(filtered.matches("CACHED").count(), 2, "{filtered}");
    assert_eq!(probe(&b, "ncf", "cat /a"), "fixed\n");
}

/// Runs git with an identity, failing the test on error.
fn git(dir: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
#[ignore = "needs root"]
fn add_git_repository() {
    let b = busybox_root();
    if !berth_tests::have("git") {
        eprintln!("skipping: needs git");
        return;
    }
    // A repository served by `git daemon` on 127.0.0.1: main with two commits, tag v1 on the first.
    let repos = tempfile::Builder::new().prefix("berth-git-").tempdir().unwrap();
    let work = repos.path().join("work");
    fs::create_dir_all(work.join("sub/dir")).unwrap();
    git(repos.path(), &["init", "-q", "--bare", "app.git"]);
    git(&work, &["init", "-q"]);
    fs::write(work.join("a.txt"), "first\n").unwrap();
    fs::write(work.join("sub/dir/b.txt"), "b\n").unwrap();
    fs::write(work.join("run.sh"), "#!/bin/sh\necho run\n").unwrap();
    fs::set_permissions(work.join("run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["tag", "-a", "v1", "-m", "v1"]);
    fs::write(work.join("a.txt"), "second\n").unwrap();
    git(&work, &["commit", "-q", "-am", "two"]);
    git(&work, &["push", "-q", "../app.git", "main", "v1"]);
    let port = berth_tests::free_port();
    // git-daemon itself, not `git daemon` (a wrapper whose child would outlive a kill).
    let exec_path = git(repos.path(), &["--exec-path"]);
    let daemon = std::process::Command::new(Path::new(exec_path.trim()).join("git-daemon"))
        .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", repos.path().display()))
        .arg(repos.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = berth_tests::ChildGuard(daemon);
    assert!(berth_tests::wait_for_port(port, std::time::Duration::from_secs(10)), "git daemon did not start");

    let url = format!("git://127.0.0.1:{port}/app.git");
    let df = format!(
        "FROM busybox\nADD {url} /src\nADD {url}#v1:sub /v1sub\nADD --keep-git-dir=true {url}#v1 /withgit\nRUN cat /src/a.txt /v1sub/dir/b.txt /withgit/a.txt && test ! -e /src/.git && test -d /withgit/.git && /src/run.sh && stat -c '%a %u' /src/run.sh /src/a.txt\n"
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let err = build_ok(&b, ctx.path(), &["-t", "gitimg"]);
    assert!(err.contains("second\nb\n") || err.contains(" second\n"), "{err}");
    assert!(err.contains(" first\n") && err.contains(" run\n"), "the tag's tree and the script: {err}");
    assert!(err.contains("755 0\n") && err.contains("644 0\n"), "{err}");
    // Nothing changed upstream: everything is cached.
    let again = build_ok(&b, ctx.path(), &["-t", "gitimg"]);
    assert_eq!(again.matches("CACHED").count(), 4, "{again}");
    // A new commit on main re-runs the main checkout (and what follows), not the tag's.
    fs::write(work.join("a.txt"), "third\n").unwrap();
    git(&work, &["commit", "-q", "-am", "three"]);
    git(&work, &["push", "-q", "../app.git", "main"]);
    let moved = build_ok(&b, ctx.path(), &["-t", "gitimg"]);
    assert!(moved.contains(" third\n"), "{moved}");
    assert_eq!(probe(&b, "gitimg", "cat /src/a.txt /withgit/a.txt"), "third\nfirst\n");
    // --checksum pins the commit: the tag's commit passes, another fails.
    let v1 = git(&work, &["rev-parse", "v1^{commit}"]).trim().to_string();
    let pinned = context(&[("Dockerfile", &format!("FROM busybox\nADD --checksum={v1} {url}#v1 /p\n"))]);
    build_ok(&b, pinned.path(), &[]);
    fails_tagging_nothing(
        &b,
        &[(
            "Dockerfile",
            &format!("FROM busybox\nADD --checksum={} {url}#v1 /p\n", &v1[..12].replace(|c: char| c != '0', "0")),
        )],
        &[],
        &["checksum mismatch"],
    );
    // A ref that does not exist.
    fails_tagging_nothing(
        &b,
        &[("Dockerfile", &format!("FROM busybox\nADD {url}#nope /x\n"))],
        &[],
        &["no ref \"nope\""],
    );
}

// ---- issue 14: real-world Dockerfiles --------------------------------------------------------

/// Bugs 2, 7 and 8: `WORKDIR /srv/www/` is recorded as written, an empty `RUN` is a no-op
/// `/bin/sh -c ""` step, and a JSON array holding a non-string is refused as BuildKit does.
#[test]
#[ignore = "needs root"]
fn workdir_as_written_empty_run_and_json_of_strings_only() {
    let b = busybox_root();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN\nWORKDIR /srv/www/\nRUN pwd > here\nWORKDIR sub/\n")]);
    build_ok(&b, ctx.path(), &["-t", "i14:wd"]);
    assert_eq!(inspect(&b, "i14:wd")["Config"]["WorkingDir"], "/srv/www/sub");
    let hist = b.ok(&["history", "--no-trunc", "i14:wd"]);
    assert!(hist.contains("RUN /bin/sh -c  # buildkit"), "{hist}");
    let ctx = context(&[("Dockerfile", "FROM busybox\nWORKDIR /srv/www/\n")]);
    build_ok(&b, ctx.path(), &["-t", "i14:wd2"]);
    assert_eq!(inspect(&b, "i14:wd2")["Config"]["WorkingDir"], "/srv/www/");
    let out = probe(&b, "i14:wd", "cat /srv/www/here; test -d /srv/www/sub && echo sub-made");
    assert!(out.contains("/srv/www\n") && out.contains("sub-made"), "{out}");

    fails_tagging_nothing(
        &b,
        &[("Dockerfile", "FROM busybox\nCMD [ \"echo\", [ \"nested json\" ] ]\n")],
        &[],
        &["Dockerfile:2", "when using JSON array syntax, arrays must be comprised of strings only"],
    );
}

/// Runs `tar` with `args` in `dir` (the system's tar, so the archive is what users make).
fn system_tar(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("tar").args(args).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "tar {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Bug 3: ADD extracts a local tarball whatever its compression (plain, gzip, bzip2, xz,
/// zstd), recognized by its magic bytes as Docker does, not by its name.
#[test]
#[ignore = "needs root"]
fn add_extracts_every_compression() {
    let b = busybox_root();
    let ctx = context(&[("Dockerfile", ""), ("src/d/hello", "hello\n"), ("src/d/sub/x", "x\n")]);
    let formats = [("plain", "-cf"), ("gz", "-czf"), ("bz2", "-cjf"), ("xz", "-cJf"), ("zst", "--zstd -cf")];
    let mut df = String::from("FROM busybox\n");
    let mut check = String::from("RUN set -e");
    for (name, flags) in formats {
        // Named without the usual suffix: the content decides, as in Docker.
        let file = ctx.path().join(format!("a-{name}.bin"));
        let mut args: Vec<&str> = flags.split(' ').collect();
        let f = file.to_str().unwrap().to_string();
        args.extend([f.as_str(), "d"]);
        system_tar(&ctx.path().join("src"), &args);
        df.push_str(&format!("ADD a-{name}.bin /x/{name}/\n"));
        check.push_str(&format!(
            "; test \"$(cat /x/{name}/d/hello /x/{name}/d/sub/x)\" = \"$(printf 'hello\\nx')\"; test ! -e /x/{name}/a-{name}.bin"
        ));
    }
    df.push_str(&check);
    df.push('\n');
    fs::write(ctx.path().join("Dockerfile"), df).unwrap();
    build_ok(&b, ctx.path(), &["-t", "i14:add"]);
    let out = probe(&b, "i14:add", "ls /x");
    assert_eq!(out, "bz2\ngz\nplain\nxz\nzst\n");
}

/// Bug 4: ADD of a tar holding one 2 MB file and 50 hard links to it makes a layer of one
/// file and 50 links (read back from `berth save`), not 51 copies.
#[test]
#[ignore = "needs root"]
fn add_keeps_hard_links() {
    let b = busybox_root();
    let ctx = context(&[("Dockerfile", "FROM busybox\nADD links.tar /l/\nRUN test \"$(stat -c %h /l/big)\" = 51\n")]);
    let body = vec![7u8; 2 << 20];
    let mut t = tar::Builder::new(fs::File::create(ctx.path().join("links.tar")).unwrap());
    let mut h = tar::Header::new_ustar();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    t.append_data(&mut h, "big", &body[..]).unwrap();
    for i in 0..50 {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        h.set_mode(0o644);
        t.append_link(&mut h, format!("link{i}"), "big").unwrap();
    }
    t.into_inner().unwrap();
    build_ok(&b, ctx.path(), &["-t", "i14:links"]);
    let size = inspect(&b, "i14:links")["Size"].as_u64().unwrap();
    assert!(size < 12 << 20, "the image holds copies: {size} bytes");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l.tar");
    b.ok(&["save", "-o", file.to_str().unwrap(), "i14:links"]);
    let files = berth_tests::tar_files(fs::File::open(&file).unwrap());
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    // The ADD's layer, under the RUN's (empty, as every RUN adds one in BuildKit).
    let add_layer = &files[layers[layers.len() - 2].as_str().unwrap()];
    let (mut regular, mut links) = (Vec::new(), Vec::new());
    for e in tar::Archive::new(&add_layer[..]).entries().unwrap() {
        let e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        match e.header().entry_type() {
            tar::EntryType::Regular => regular.push((p, e.size())),
            tar::EntryType::Link => links.push(p),
            _ => {}
        }
    }
    assert_eq!(regular.len(), 1, "{regular:?}");
    assert_eq!(regular[0].1, 2 << 20);
    assert_eq!(links.len(), 50, "{links:?}");
    assert!(add_layer.len() < 3 << 20, "layer of {} bytes", add_layer.len());
}

/// Bug 6: the same layer twice in one image (`COPY f /f` twice, two empty RUN layers) names
/// one unpacked directory twice; the build's later steps and `run` must still mount it.
#[test]
#[ignore = "needs root"]
fn a_repeated_layer_builds_and_runs() {
    let b = busybox_root();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY f /f\nRUN true\nRUN true\nCOPY f /f\nRUN cat /f\n"),
        ("f", "same\n"),
    ]);
    let out = build_ok(&b, ctx.path(), &["-t", "twice"]);
    assert!(out.contains("same"), "{out}");
    let layers = inspect(&b, "twice")["RootFS"]["Layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 6, "base and five steps: {layers:?}");
    assert_eq!(layers[1], layers[4], "the two COPY layers are one: {layers:?}");
    assert_eq!(layers[2], layers[3], "the two empty RUN layers are one: {layers:?}");
    assert_eq!(b.ok(&["run", "--rm", "twice", "cat", "/f"]), "same\n");
}

/// Every file of each layer of an image, from `berth save` (Docker's archive format).
fn saved_layers(b: &Berth, image: &str) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("saved.tar");
    b.ok(&["save", "-o", a.to_str().unwrap(), image]);
    let files = berth_tests::tar_files(fs::File::open(&a).unwrap());
    let m: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layers = m[0]["Layers"].as_array().unwrap();
    layers
        .iter()
        .map(|l| {
            let bytes = &files[l.as_str().unwrap()];
            let mut plain = Vec::new();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut plain).unwrap();
            } else {
                plain = bytes.clone();
            }
            let mut ar = tar::Archive::new(&plain[..]);
            let names = ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string());
            names.filter(|n| n != "." && n != "./").collect()
        })
        .collect()
}

/// Bug 5: the mount points the runtime puts in place never leak into a RUN's layer, also on a
/// base that ships them (the bind mount over /etc/resolv.conf copies it up in the overlay).
#[test]
#[ignore = "needs root"]
fn a_run_that_changes_nothing_leaves_an_empty_layer() {
    let b = busybox_root();
    // A base that ships /etc/resolv.conf, /etc/hosts and /etc/hostname (a RUN cannot write
    // them: they are mounted over) and lacks /dev, /proc and /sys: busybox's tar, edited.
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.tar");
    let mut out = tar::Builder::new(fs::File::create(&base).unwrap());
    for e in tar::Archive::new(fs::File::open(berth_tests::busybox_tar()).unwrap()).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let top = p.trim_start_matches("./").split('/').next().unwrap_or("").to_string();
        if ["dev", "proc", "sys"].contains(&top.as_str()) {
            continue;
        }
        let h = e.header().clone();
        out.append(&h, &mut e).unwrap();
    }
    for (name, body) in
        [("resolv.conf", "nameserver 127.0.0.53\n"), ("hosts", "127.0.0.1 localhost\n"), ("hostname", "h\n")]
    {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        out.append_data(&mut h, format!("./etc/{name}"), body.as_bytes()).unwrap();
    }
    out.finish().unwrap();
    drop(out);
    b.ok(&["import", base.to_str().unwrap(), "with-etc"]);
    let ctx = context(&[(
        "Dockerfile",
        "FROM with-etc\nRUN true\nRUN --network=none true\nRUN ls /proc /sys /dev >/dev/null\n",
    )]);
    build_ok(&b, ctx.path(), &["--no-cache", "-t", "nothing"]);
    let layers = saved_layers(&b, "nothing");
    assert_eq!(layers.len(), 4, "the base and three empty RUN layers: {layers:?}");
    assert!(layers[0].iter().any(|n| n.ends_with("etc/resolv.conf")), "the base ships it");
    assert!(!layers[0].iter().any(|n| n.trim_start_matches("./").starts_with("proc")), "the base lacks /proc");
    for l in &layers[1..] {
        assert!(l.is_empty(), "an empty RUN made files: {l:?}");
    }
}

/// A build writes no layer blob: each step's directory becomes the unpacked layer as it is,
/// referred to as an uncompressed tar (digest = diff-id). `save` makes the tar from the
/// directory; `push` sends gzip blobs under a manifest naming them, the same digests from two
/// state roots building the same thing with SOURCE_DATE_EPOCH; the pulled image runs.
#[test]
#[ignore = "needs root"]
fn build_layers_stay_unpacked_and_are_pushed_gzipped() {
    berth_tests::require_root();
    let reg = berth_tests::DistributionRegistry::start();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY f /f\nRUN seq 1 20000 > /n && rm /bin/true && mkdir -p /etc/x\n"),
        ("f", "x\n"),
    ]);
    let name = format!("{}/test/built:1", reg.host());
    let mut digests = Vec::new();
    // The same base image in both roots (an import's config records when it was made).
    let (first, second) = (busybox_root(), Berth::new());
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.tar");
    first.ok(&["save", "-o", base.to_str().unwrap(), "busybox"]);
    second.ok(&["load", "-i", base.to_str().unwrap()]);
    for b in [&first, &second] {
        let before = b.blob_count();
        let o = b
            .cmd()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", "-q", "-t", &name, ctx.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(b.blob_count(), before + 2, "a config and a manifest: no layer blob");
        let img = inspect(b, &name);
        let layers = img["RootFS"]["Layers"].as_array().unwrap().clone();
        assert_eq!(layers.len(), 3);
        let store = berth_engine::store::Store::open(b.root()).unwrap();
        let desc = store.get_ref(&name).unwrap().unwrap();
        let m: Value =
            serde_json::from_slice(&store.read_blob(&berth_engine::store::desc_digest(&desc).unwrap()).unwrap())
                .unwrap();
        for (l, diff) in m["layers"].as_array().unwrap()[1..].iter().zip(&layers[1..]) {
            assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar", "{m}");
            assert_eq!(&l["digest"], diff, "an uncompressed layer's digest is its diff-id");
        }
        // --output type=oci writes gzip layers (BuildKit's default), or what compression= says.
        for (c, want) in [
            ("", "application/vnd.oci.image.layer.v1.tar+gzip"),
            (",compression=zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
            (",compression=uncompressed", "application/vnd.oci.image.layer.v1.tar"),
        ] {
            let out = tmp.path().join("oci.tar");
            let spec = format!("type=oci,dest={}{c}", out.display());
            b.ok(&["build", "-q", "--output", &spec, "-t", &name, ctx.path().to_str().unwrap()]);
            let files = berth_tests::tar_files(fs::File::open(&out).unwrap());
            let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
            let m = index["manifests"][0]["digest"].as_str().unwrap().replace(':', "/");
            let m: Value = serde_json::from_slice(&files[&format!("blobs/{m}")]).unwrap();
            let built = &m["layers"].as_array().unwrap()[1..];
            assert!(built.iter().all(|l| l["mediaType"] == want), "{c}: {m}");
            for l in built {
                let blob = &files[&format!("blobs/{}", l["digest"].as_str().unwrap().replace(':', "/"))];
                assert_eq!(
                    sha256_hex(blob),
                    l["digest"].as_str().unwrap()[7..],
                    "{c}: the blob is what the manifest names"
                );
            }
        }
        // save: the tars are made from the directories and match their digests.
        let saved = saved_layers(b, &name);
        assert!(saved[2].iter().any(|n| n.trim_start_matches("./") == "n"), "{:?}", saved[2]);
        assert!(saved[2].iter().any(|n| n.ends_with("bin/.wh.true")), "the whiteout: {:?}", saved[2]);
        let out = b.ok(&["push", &name]);
        let d = out.lines().find_map(|l| l.split("digest: ").nth(1)).unwrap().split(' ').next().unwrap().to_string();
        // A second push names the same manifest (its gzip blobs are remembered).
        assert!(b.ok(&["push", &name]).contains(&d));
        let raw = std::process::Command::new("curl")
            .args(["-sf", "-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
            .arg(format!("http://{}/v2/test/built/manifests/1", reg.host()))
            .output()
            .unwrap();
        let pushed: Value = serde_json::from_slice(&raw.stdout).unwrap();
        let layers = pushed["layers"].as_array().unwrap();
        for l in layers {
            assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip", "{pushed}");
        }
        // The base's blob is each root's own (imported, or loaded from Docker's format): the
        // built layers are compared.
        digests.push(layers[1..].to_vec());
    }
    assert_eq!(digests[0], digests[1], "the same content pushes the same gzip blobs");
    let c = Berth::new();
    c.ok(&["pull", "-q", &name]);
    assert_eq!(
        c.ok(&["run", "--rm", &name, "sh", "-c", "wc -l < /n; cat /f; ls /bin/true 2>&1 || true"])
            .lines()
            .take(2)
            .collect::<Vec<_>>(),
        ["20000", "x"]
    );
    assert!(c.fails(&["run", "--rm", &name, "ls", "/bin/true"]).contains("No such file"));
}
