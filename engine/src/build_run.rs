//! The engine's side of `berth build`: RUN steps as containers, and the entry point that hands
//! the builder ([`berth_builder`]) the store, the state root, this runner and the pull.
//!
//! A RUN step runs in a container made by the same machinery as `berth run` (the container
//! record under `build-run/<id>/`, the overlay snapshot over the stage's layers, the spec,
//! berth's own runtime re-executed as `runtime run`), in a network sandbox of its own unless
//! the step asks for the host's. Its overlay's upper directory, minus the mount points the
//! runtime had to create, goes to the builder as the step's layer. Whatever happens, the
//! step's container, mount, sandbox and directory go; [`Engine::sweep_build_runs`] removes
//! what a killed build left. The network calls are all here, in [`StepRunner::run`] and
//! [`RunGuard`]'s drop.

use crate::container::{spec, Config, Container, HostConfig, MountPoint, ProcessInfo};
use crate::{Digest, Engine, Error, Result};
use berth_builder::{BuildOptions, BuildOutput, MountKind, Network, RunOutcome, RunStep, StepRunner};
use berth_oci::platform::Platform;
use berth_oci::IoContext;
use berth_store::image::Image;
use berth_store::unpack;
use std::fs;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

impl Engine {
    /// Builds an image from a Dockerfile and a context (see [`berth_builder::build`]); names
    /// it after every `-t` when the whole build succeeded. RUN steps run as containers of
    /// this engine; `pull` fetches base images the store lacks. Progress goes to `w`
    /// (BuildKit's plain format).
    pub fn build(
        &self,
        opts: &BuildOptions,
        pull: &(dyn Fn(&str, &Platform) -> Result<Image> + Sync),
        w: &mut (dyn Write + Send),
    ) -> Result<BuildOutput> {
        self.sweep_build_runs();
        let pull = |name: &str, platform: &Platform| {
            pull(name, platform).map_err(|e| berth_builder::Error::external(e.kind(), e))
        };
        let host = berth_builder::Host { root: self.root(), store: self.store(), runner: &Runner(self), pull: &pull };
        Ok(berth_builder::build(host, opts, w)?)
    }
}

/// Runs RUN steps as containers of an engine.
struct Runner<'a>(&'a Engine);

impl StepRunner for Runner<'_> {
    fn run(&self, step: &RunStep<'_>, output: &mut dyn FnMut(&str)) -> berth_builder::Result<RunOutcome> {
        self.run_container(step, output).map_err(|e| berth_builder::Error::external(e.kind(), e))
    }
}

impl Runner<'_> {
    /// Runs one RUN step in a container over the stage's layers; fills `step.upper` with the
    /// files it changed.
    fn run_container(&self, step: &RunStep<'_>, say: &mut dyn FnMut(&str)) -> Result<RunOutcome> {
        let engine = self.0;
        let root = engine.root().to_path_buf();
        let id = Digest::of(format!("{}-{:?}-{}", std::process::id(), Instant::now(), step.name).as_bytes())
            .hex()
            .to_string();
        let dir = root.join("build-run").join(&id);
        fs::create_dir_all(&dir).at(&dir)?;
        // Held for the step's whole life: a free lock marks a step whose build died.
        let _running = crate::container::sweep::try_lock(&dir);
        if !crate::container::snapshot::overlay_supported() {
            return Err(Error::Unsupported("RUN needs overlayfs (BERTH_SNAPSHOTTER=copy cannot build)".into()));
        }
        let env = step.env.to_vec();
        let mut c = Container {
            id: id.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            name: format!("build-{}", &id[..12]),
            runtime: "linux".into(),
            layers: step.lower.to_vec(),
            snapshotter: "overlay".into(),
            dir: dir.clone(),
            config: Config {
                hostname: step.hostname.into(),
                user: step.user.into(),
                env: env.clone(),
                working_dir: step.workdir.into(),
                ..Default::default()
            },
            host_config: HostConfig {
                network_mode: if step.network == Network::Host { "host".into() } else { "bridge".into() },
                ..Default::default()
            },
            process: ProcessInfo { args: step.argv.to_vec(), env, cwd: step.workdir.into(), ..Default::default() },
            mounts: step
                .mounts
                .iter()
                .map(|m| MountPoint {
                    kind: match m.kind {
                        MountKind::Bind => "bind".into(),
                        MountKind::Tmpfs => "tmpfs".into(),
                    },
                    source: m.source.clone(),
                    destination: m.destination.clone(),
                    rw: m.rw,
                    mode: String::new(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let mut guard = RunGuard { c: c.clone(), network: None };
        // Volatile: the upper directory becomes a layer of the store (not a container's disk to
        // keep), and a non-volatile overlay's unmount syncs the whole host filesystem — the
        // step's hundreds of MB — before the layer can be committed.
        berth_store::snapshot::by_name(&c.snapshotter).prepare(&c.layers, &c.dir, true)?;
        let rootfs = c.rootfs();
        // Mount points the runtime puts in place: never part of the layer. Made by the runtime,
        // they go; there before, what overlayfs copied up for the mount goes (the step cannot
        // have written it: its writes land in what is mounted over it).
        let mut points: Vec<String> = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev", "/proc", "/sys"]
            .into_iter()
            .map(String::from)
            .collect();
        points.extend(c.mounts.iter().map(|m| m.destination.clone()));
        // Resolved with the rootfs as the root, as the runtime will (the stage's symlinks never
        // lead to the host's tree).
        let root_view = berth_sys::inroot::Root::open(&rootfs).at(&rootfs)?;
        let pre: Vec<(String, bool)> = points.iter().map(|p| (p.clone(), root_view.resolve(p).is_ok())).collect();
        root_view.mkdir_all(&c.process.cwd, 0o755)?;
        drop(root_view);
        spec::resolve_user(&mut c, &rootfs)?;
        c.process.env = c.config.env.clone();
        c.process.args = step.argv.to_vec();
        c.process.cwd = step.workdir.into();
        spec::write_etc_files(&c)?;
        if step.network != Network::Host {
            // The step's own namespace (BuildKit's default): a veth on the default bridge, or
            // loopback alone with `none`; never the host's 127.0.0.1. This process owns the
            // sandbox (a killed build's is reconciled away by the next network operation) and
            // the guard detaches it whatever happens.
            let netns = engine.netns_path(&id);
            let req = berth_network::AttachRequest {
                container_id: id.clone(),
                name: c.name.clone(),
                hostname: c.config.hostname.clone(),
                netns: netns.clone(),
                create_netns: true,
                owner: None,
                opts: berth_network::NetworkOpts {
                    network: if step.network == Network::None {
                        "none".into()
                    } else {
                        berth_network::DEFAULT_NETWORK.into()
                    },
                    ..Default::default()
                },
            };
            guard.network = Some(engine);
            let a = engine.attach(&req)?;
            for (f, body) in [("hosts", &a.hosts), ("resolv.conf", &a.resolv_conf)] {
                let p = dir.join(f);
                fs::write(&p, body).at(&p)?;
            }
            c.netns_path = Some(netns.display().to_string());
        }
        let spec_v = spec::generate(&c)?;
        let spec_path = dir.join("config.json");
        fs::write(&spec_path, serde_json::to_vec(&spec_v).map_err(|e| Error::Other(e.to_string()))?).at(&spec_path)?;
        let (reader, writer) = std::io::pipe().at(&dir)?;
        let writer2 = writer.try_clone().at(&dir)?;
        let rt_root = root.join("runtime").join("berth");
        let berth_sys::exe::Reexec { command: mut cmd, .. } =
            berth_sys::exe::command(berth_sys::exe::Role::RuntimeRun { state: &rt_root, bundle: &dir, id: &id })
                .map_err(|e| Error::Other(format!("finding the berth binary: {e}")))?;
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(writer2)
            .spawn()
            .map_err(|e| Error::Other(format!("starting the build container: {e}")))?;
        // The command holds the pipe's write ends: dropped, the output ends when the step does.
        drop(cmd);
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            say(&line);
        }
        let status = child.wait().map_err(|e| Error::Other(format!("waiting for the build container: {e}")))?;
        tracing::info!(target: "berth::build", code = status.code(), "step process exited");
        crate::container::snapshot::release(&c)?;
        if !status.success() {
            drop(guard);
            return Ok(RunOutcome { exit_code: status.code().unwrap_or(128) });
        }
        let upper = dir.join("upper");
        for (p, existed) in pre {
            remove_mount_point(&upper, &p, existed);
        }
        // The upper directory is the layer: move its entries into the step's directory.
        for e in fs::read_dir(&upper).at(&upper)? {
            let e = e.at(&upper)?;
            fs::rename(e.path(), step.upper.join(e.file_name())).at(e.path())?;
        }
        drop(guard);
        Ok(RunOutcome { exit_code: 0 })
    }
}

/// Removes a build container's runtime record, mount, network sandbox and directory,
/// whatever happened.
struct RunGuard<'a> {
    c: Container,
    /// The engine whose network the step was attached to (none with `--network host`).
    network: Option<&'a Engine>,
}

impl<'a> RunGuard<'a> {
    /// The step container of `build-run/<id>`, as much of it as its cleanup needs (its
    /// network sandbox, if it had one, is found by the id).
    fn of(engine: &'a Engine, dir: &Path) -> RunGuard<'a> {
        let id = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        RunGuard {
            c: Container { id, dir: dir.to_path_buf(), snapshotter: "overlay".into(), ..Default::default() },
            network: Some(engine),
        }
    }
}

impl Engine {
    /// Cleans up after builds that died in a RUN step (SIGKILL leaves their step container
    /// mounted under `build-run/<id>/`, maybe still running, maybe with its network sandbox):
    /// each directory whose lock is free loses its container, its mount, its sandbox and
    /// itself. Returns how many.
    pub fn sweep_build_runs(&self) -> usize {
        let Ok(rd) = fs::read_dir(self.root().join("build-run")) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            let dir = e.path();
            let Some(_held) = crate::container::sweep::try_lock(&dir) else { continue };
            drop(RunGuard::of(self, &dir));
            n += usize::from(!dir.exists());
        }
        n
    }
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let _ = crate::container::snapshot::unmount(&self.c.rootfs());
        let _ = crate::container::runtime::delete(&self.c);
        if let Some(e) = self.network {
            // After the runtime's delete: no process of the step holds the namespace.
            if let Err(err) = e.detach(&self.c.id) {
                tracing::warn!("build step {}: removing its network: {err}", &self.c.id[..12]);
            }
        }
        let _ = unpack::remove_tree(&self.c.dir);
    }
}

/// Removes the empty file or directory the runtime made at `point` in a RUN's upper directory
/// (or, for a point the stage had, `existed`, the copy overlayfs made of the file when it was
/// mounted over), and the parents made only to hold it. The upper directory holds what the step wrote: each
/// component is opened by name without following symlinks, so a link the step planted (`/etc`
/// turned into a link to a host directory) stops the walk instead of leading out of it.
fn remove_mount_point(upper: &Path, point: &str, existed: bool) {
    let rel = berth_builder::context::clean(point);
    let names: Vec<&std::ffi::OsStr> = Path::new(&rel).iter().collect();
    let Some((last, parents)) = names.split_last() else { return };
    let Ok(top) = berth_sys::inroot::Dir::open(upper) else { return };
    let mut dirs = vec![top];
    for n in parents {
        match dirs.last().expect("the top is there").open_dir(n) {
            Ok(d) => dirs.push(d),
            Err(_) => return,
        }
    }
    let parent = dirs.last().expect("the top is there");
    match parent.child_metadata(last) {
        Ok(m) if m.is_dir() => {
            let _ = parent.remove_dir(last);
        }
        Ok(m) if m.len() == 0 || (existed && m.is_file()) => {
            let _ = parent.remove_file(last);
        }
        _ => return,
    }
    // Parents made only to hold the mount point go too (removal stops at the first non-empty).
    for (i, n) in parents.iter().enumerate().rev() {
        if dirs[i].remove_dir(n).is_err() {
            break;
        }
    }
}
