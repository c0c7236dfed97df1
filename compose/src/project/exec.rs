//! `exec` (a command in a service's running container) and `run` (a one-off container of a
//! service, its dependencies started first, named `<project>-<service>-run-<id>` and labelled
//! `com.docker.compose.oneoff=True` as Compose v2 does).

use super::create::Instance;
use super::Compose;
use crate::{Error, Result};
use berth_engine::container::attach::{Ended, Forward};

/// `exec`'s flags.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub service: String,
    pub index: u32,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub detach: bool,
}

/// `run`'s flags.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub service: String,
    /// Replaces the service's command when not empty.
    pub command: Vec<String>,
    pub rm: bool,
    pub detach: bool,
    pub env: Vec<String>,
    pub entrypoint: Option<String>,
    pub no_deps: bool,
    /// `-p`: ports to publish (the service's own only with `service_ports`).
    pub publish: Vec<String>,
    pub service_ports: bool,
    pub name: Option<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub labels: Vec<String>,
}

impl Compose {
    /// `exec`: the command's exit code (`None` detached).
    pub fn exec(&self, o: &ExecOptions) -> Result<Option<i32>> {
        let mut c = self.service_container(&o.service, o.index.max(1))?;
        let eo = berth_engine::container::exec::ExecOptions {
            cmd: o.command.clone(),
            env: o.env.clone(),
            workdir: o.workdir.clone(),
            user: o.user.clone(),
            tty: o.tty,
            detach: o.detach,
            detach_keys: berth_engine::container::attach::parse_detach_keys(
                berth_engine::container::attach::DEFAULT_DETACH_KEYS,
            )
            .unwrap_or_default(),
        };
        Ok(self.engine.exec_in(&mut c, &eo)?)
    }

    /// `run`: the one-off container's exit code (0 detached, its id printed).
    pub fn run(&self, o: &RunOptions) -> Result<i32> {
        let mut svc = self
            .project
            .services
            .get(&o.service)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("no such service: {}", o.service)))?;
        if !o.no_deps && !svc.depends_on.is_empty() {
            let deps: Vec<String> =
                svc.depends_on.keys().filter(|d| self.project.services.contains_key(*d)).cloned().collect();
            let up = super::UpOptions { services: deps, detach: true, start: true, ..Default::default() };
            self.up(&up)?;
        }
        let images = self.ensure_images(std::slice::from_ref(&o.service), false, false, None)?;
        self.ensure_networks(std::slice::from_ref(&o.service))?;
        self.ensure_volumes()?;
        if !o.command.is_empty() {
            svc.command = Some(o.command.clone());
        }
        if let Some(ep) = &o.entrypoint {
            svc.entrypoint = Some(if ep.is_empty() { Vec::new() } else { vec![ep.clone()] });
        }
        for e in &o.env {
            let (k, v) = e
                .split_once('=')
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .unwrap_or((e.clone(), std::env::var(e).ok()));
            svc.environment.insert(k, v);
        }
        if !o.service_ports {
            svc.ports.clear();
        }
        for p in &o.publish {
            svc.ports.push(short_port(p));
        }
        if o.user.is_some() {
            svc.user = o.user.clone();
        }
        if o.workdir.is_some() {
            svc.working_dir = o.workdir.clone();
        }
        for l in &o.labels {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            svc.labels.insert(k.into(), Some(v.into()));
        }
        svc.tty = o.tty;
        svc.stdin_open = o.interactive;
        // One-off containers do not restart, and do not take the service's fixed name.
        svc.restart = None;
        svc.container_name = None;
        let suffix: String = hex_id()[..12].to_string();
        let name = o.name.clone().unwrap_or_else(|| format!("{}-{}-run-{suffix}", self.project.name, svc.name));
        let inst = Instance { name, number: 1, oneoff: true, image_id: &images[&o.service] };
        let mut opts = self.create_options(&svc, &inst)?;
        opts.auto_remove = o.rm;
        opts.attach = !o.detach;
        // A one-off container is still reachable by its service's name on its first network.
        if let Some((_, net)) = svc.network_order().first() {
            opts.net.aliases = self.aliases(&svc, net);
        }
        let mut c = self.engine.create_container(&opts)?;
        let session = match self.engine.start_container(&mut c, !o.detach) {
            Ok(s) => s,
            Err(berth_engine::Error::StartFailed { code, message }) => {
                eprintln!("Error response from daemon: failed to create task for container: {message}");
                return Ok(code as i32);
            }
            Err(e) => return Err(e.into()),
        };
        if o.detach {
            println!("{}", c.name);
            return Ok(0);
        }
        if !o.tty {
            use nix::sys::signal::Signal::*;
            let _ = berth_sys::process::forward_signals(c.state.pid, &[SIGINT, SIGTERM, SIGHUP, SIGQUIT]);
        }
        let f = Forward {
            stdin: o.interactive,
            tty: o.tty,
            close_stdin: true,
            detach_keys: berth_engine::container::attach::parse_detach_keys(
                berth_engine::container::attach::DEFAULT_DETACH_KEYS,
            )
            .unwrap_or_default(),
            redraw: false,
        };
        Ok(match session.forward(&f)? {
            Ended::Exited(code) => code,
            Ended::Detached => 0,
        })
    }
}

/// `-p [[IP:]HOST:]CTR[/PROTO]` as a long-form port.
fn short_port(p: &str) -> crate::model::Port {
    let (rest, proto) = p.rsplit_once('/').map(|(r, pr)| (r, Some(pr.to_string()))).unwrap_or((p, None));
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let v = |s: &str| serde_json::Value::from(s);
    match parts.as_slice() {
        [t] => crate::model::Port { target: v(t), protocol: proto, ..Default::default() },
        [t, h] => crate::model::Port { target: v(t), published: Some(v(h)), protocol: proto, ..Default::default() },
        [t, h, ip] => crate::model::Port {
            target: v(t),
            published: Some(v(h)),
            host_ip: Some(ip.to_string()),
            protocol: proto,
            ..Default::default()
        },
        _ => crate::model::Port::default(),
    }
}

fn hex_id() -> String {
    use sha2::{Digest, Sha256};
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    hex::encode(Sha256::digest(seed.as_bytes()))
}
