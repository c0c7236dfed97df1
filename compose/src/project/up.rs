//! `up` and `create`: images (built or pulled), networks, volumes, then each service's
//! containers in dependency order, converged as Compose v2 does: a container whose config
//! hash and image still match is left as it is (started if it was stopped), a changed one is
//! recreated (and dependents with `restart: true` restarted), missing replicas are created,
//! extra ones removed, and containers of services no longer in the file are orphans. A
//! foreground `up` then streams every container's log with its prefix until they all exit or
//! the user presses Ctrl-C, which stops them all.

use super::create::Instance;
use super::{container_name, number_of, service_of, Compose, CONFIG_HASH, IMAGE, NETWORK, PROJECT, VOLUME};
use crate::model::Service;
use crate::{Error, Result};
use berth_engine::container::Container;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `up`'s flags (and `create`'s: `detach`, `start` false).
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    pub services: Vec<String>,
    pub detach: bool,
    /// `false` for `create`.
    pub start: bool,
    pub build: bool,
    pub no_build: bool,
    pub pull: Option<String>,
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub no_deps: bool,
    pub remove_orphans: bool,
    pub scale: BTreeMap<String, u32>,
    pub abort_on_container_exit: bool,
    pub exit_code_from: Option<String>,
    pub no_log_prefix: bool,
    pub no_color: bool,
    pub timestamps: bool,
    /// Stop timeout for recreated containers.
    pub timeout: Option<i64>,
}

/// How a dependency is waited for.
#[derive(PartialEq)]
enum Wanted {
    Started,
    /// `--wait`: running (healthy, with a healthcheck) for a second, so a service that exits
    /// at once is not taken for a running one.
    Settled,
    Healthy,
    Completed,
}

impl Compose {
    /// `up`: converges the project, then (foreground) follows its logs. Returns the exit code
    /// the command ends with.
    pub fn up(&self, o: &UpOptions) -> Result<i32> {
        for s in o.scale.keys() {
            if !self.project.services.contains_key(s) {
                return Err(Error::NotFound(format!("no such service: {s}")));
            }
        }
        if let Some(s) = &o.exit_code_from {
            if !self.project.services.contains_key(s) {
                return Err(Error::NotFound(format!("no such service: {s}")));
            }
        }
        let selected = self.project.select(&o.services, o.no_deps)?;
        let order = self.project.start_order(&selected)?;
        self.check_ports(&selected)?;
        let images = self.ensure_images(&order, o.build, o.no_build, o.pull.as_deref())?;
        self.ensure_networks(&order)?;
        self.ensure_volumes()?;
        self.orphans(o.remove_orphans)?;
        let mut recreated: Vec<String> = Vec::new();
        for name in &order {
            let svc = &self.project.services[name];
            if o.start {
                self.wait_dependencies(svc, &selected)?;
            }
            let replicas = o.scale.get(name).copied().unwrap_or_else(|| svc.replicas());
            if self.converge_service(svc, &images[name], replicas, o)? {
                recreated.push(name.clone());
            }
            // Dependents whose dependency was recreated, `restart: true`: restarted.
            if o.start {
                self.restart_dependents(name, &recreated, &order)?;
            }
        }
        if !o.start {
            return Ok(0);
        }
        if o.wait {
            return self.wait_all(&order, o.wait_timeout);
        }
        if o.detach {
            return Ok(0);
        }
        self.follow_up(&order, o)
    }

    /// Two services publishing the same host port are refused before anything is created.
    fn check_ports(&self, selected: &[String]) -> Result<()> {
        let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
        for name in selected {
            for p in &self.project.services[name].ports {
                let Some(published) = p.published.as_ref().map(crate::model::scalar).filter(|s| !s.is_empty()) else {
                    continue;
                };
                let key = (
                    p.host_ip.clone().unwrap_or_default(),
                    published.clone(),
                    p.protocol.clone().unwrap_or_else(|| "tcp".into()),
                );
                if let Some(other) = seen.insert(key, name.clone()) {
                    if &other != name || self.project.services[name].replicas() > 1 {
                        return Err(Error::Invalid(format!(
                            "services {other:?} and {name:?} both publish host port {published}: Bind for 0.0.0.0:{published} failed: port is already allocated"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every service's image id: built (`build:` with no image present, or `--build`), pulled
    /// when missing (or `pull_policy: always`), as Compose v2 decides.
    pub(super) fn ensure_images(
        &self,
        services: &[String],
        build: bool,
        no_build: bool,
        pull: Option<&str>,
    ) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for name in services {
            let svc = &self.project.services[name];
            let image = svc.image_name(&self.project.name);
            let policy = pull.or(svc.pull_policy.as_deref()).unwrap_or("missing");
            let present = self.engine.resolve_image(&image).ok();
            let must_build = svc.build.is_some()
                && !no_build
                && (build || policy == "build" || (present.is_none() && (svc.image.is_none() || policy != "always")));
            let id = if must_build {
                self.build_service(svc, false, false)?
            } else if policy == "always" || present.is_none() {
                if policy == "never" {
                    return Err(Error::NotFound(format!("No such image: {image}")));
                }
                if svc.build.is_some() && present.is_some() {
                    present.map(|i| i.id.to_string()).unwrap_or_default()
                } else {
                    self.pull_image(&image, svc.platform.as_deref())?
                }
            } else {
                present.map(|i| i.id.to_string()).unwrap_or_default()
            };
            out.insert(name.clone(), id);
        }
        Ok(out)
    }

    /// Pulls one image (progress as Compose prints it); returns its id.
    pub(super) fn pull_image(&self, image: &str, platform: Option<&str>) -> Result<String> {
        let r = berth_engine::Reference::parse(image).map_err(|e| Error::Engine(e.into()))?;
        let platform =
            platform.filter(|p| !p.is_empty()).map(berth_engine::container::runopts::parse_platform).transpose()?;
        let opts = berth_engine::pull::PullOptions {
            platform,
            insecure_registries: self.insecure_registries.clone(),
            client: None,
        };
        self.out.working("Image", image, "Pulling");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("tokio: {e}")))?;
        let progress = berth_engine::progress::Progress::quiet();
        match rt.block_on(self.engine.pull(&r, &opts, &progress)) {
            Ok(img) => {
                self.out.done("Image", image, "Pulled");
                Ok(img.id.to_string())
            }
            Err(e) => {
                self.out.error("Image", image, "Error");
                Err(Error::Other(format!("Error response from daemon: pull access denied for {image}: {e}")))
            }
        }
    }

    /// Builds a service's image, named as Compose v2 names it; returns its id.
    pub(super) fn build_service(&self, svc: &Service, no_cache: bool, pull: bool) -> Result<String> {
        let b = svc.build.clone().unwrap_or_default();
        let image = svc.image_name(&self.project.name);
        let context = self.project.working_dir.join(b.context.as_deref().unwrap_or("."));
        let opts = berth_engine::build::BuildOptions {
            dockerfile: b.dockerfile.as_ref().map(|d| context.join(d)),
            context,
            dockerfile_text: b.dockerfile_inline.clone(),
            tags: vec![image.clone()],
            build_args: b.args.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect(),
            target: b.target.clone(),
            no_cache: no_cache || b.no_cache,
            no_cache_filter: Vec::new(),
            pull: pull || b.pull,
            labels: b.labels.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect(),
            platform: svc.platform.clone().filter(|p| !p.is_empty()),
            secrets: Vec::new(),
            quiet: false,
            network: b.network.clone(),
            allow_host_network: false,
        };
        self.out.working("Image", &image, "Building");
        let puller =
            |name: &str, platform: &berth_engine::platform::Platform| -> berth_engine::Result<berth_engine::Image> {
                let mut p = Some(platform.clone());
                if platform.architecture == "wasm" {
                    p = None;
                }
                let r = berth_engine::Reference::parse(name)?;
                let o = berth_engine::pull::PullOptions {
                    platform: p,
                    insecure_registries: self.insecure_registries.clone(),
                    client: None,
                };
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| berth_engine::Error::Other(format!("tokio: {e}")))?;
                rt.block_on(self.engine.pull(&r, &o, &berth_engine::progress::Progress::quiet()))
            };
        let mut sink: Box<dyn std::io::Write + Send> =
            if self.out.is_tty() { Box::new(std::io::sink()) } else { Box::new(std::io::stderr()) };
        match self.engine.build(&opts, &puller, &mut sink) {
            Ok(out) => {
                self.out.done("Image", &image, "Built");
                Ok(out.image.id.to_string())
            }
            Err(e) => {
                self.out.error("Image", &image, "Error");
                Err(Error::Other(format!("failed to solve: {e}")))
            }
        }
    }

    /// The networks the services join: created when missing (`<project>_<key>`), external
    /// ones looked up.
    pub(super) fn ensure_networks(&self, services: &[String]) -> Result<()> {
        let p = &self.project;
        let mut keys: Vec<&String> = Vec::new();
        for s in services {
            for (k, _) in p.services[s].network_order() {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        keys.sort();
        for key in keys {
            let def = &p.networks[key];
            let name = p.network_name(key);
            if def.external {
                self.engine.find_network(&name).map_err(|_| {
                    Error::NotFound(format!("network {name} declared as external, but could not be found"))
                })?;
                continue;
            }
            if self.engine.find_network(&name).is_ok() {
                continue;
            }
            self.out.working("Network", &name, "Creating");
            let mut labels: BTreeMap<String, String> =
                def.labels.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
            labels.insert(PROJECT.into(), p.name.clone());
            labels.insert(NETWORK.into(), key.clone());
            labels.insert(super::VERSION.into(), super::COMPOSE_VERSION.into());
            let ipam = def.ipam.config.first();
            let o = berth_network::NetworkCreate {
                subnet: ipam.and_then(|c| c.subnet.clone()),
                gateway: ipam.and_then(|c| c.gateway.clone()),
                internal: def.internal,
                labels,
                driver: def.driver.clone(),
            };
            match self.engine.network_create(&name, &o) {
                Ok(_) => self.out.done("Network", &name, "Created"),
                // A concurrent `up` made it first.
                Err(_) if self.engine.find_network(&name).is_ok() => {}
                Err(e) => {
                    self.out.error("Network", &name, "Error");
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// The project's named volumes: created when missing, external ones looked up.
    pub(super) fn ensure_volumes(&self) -> Result<()> {
        let p = &self.project;
        for (key, def) in &p.volumes {
            let name = p.volume_name(key);
            if def.external {
                self.engine
                    .inspect_volume(&name)
                    .map_err(|_| Error::NotFound(format!("external volume \"{name}\" not found")))?;
                continue;
            }
            if self.engine.inspect_volume(&name).is_ok() {
                continue;
            }
            self.out.working("Volume", &format!("\"{name}\""), "Creating");
            let mut labels: BTreeMap<String, String> =
                def.labels.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
            labels.insert(PROJECT.into(), p.name.clone());
            labels.insert(VOLUME.into(), key.clone());
            labels.insert(super::VERSION.into(), super::COMPOSE_VERSION.into());
            self.engine.create_volume(Some(&name), labels)?;
            self.out.done("Volume", &format!("\"{name}\""), "Created");
        }
        Ok(())
    }

    /// Containers of services no longer in the project: warned about, or removed.
    pub(super) fn orphans(&self, remove: bool) -> Result<()> {
        let orphans: Vec<Container> = self
            .containers(false)?
            .into_iter()
            .filter(|c| !self.project.services.contains_key(service_of(c)))
            .collect();
        if orphans.is_empty() {
            return Ok(());
        }
        if !remove {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            self.out.warn(&format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
            return Ok(());
        }
        for mut c in orphans {
            self.remove(&mut c, None)?;
        }
        Ok(())
    }

    /// Stops (if running) and removes one container, with progress.
    pub(super) fn remove(&self, c: &mut Container, timeout: Option<i64>) -> Result<()> {
        if c.state.running {
            self.out.working("Container", &c.name, "Stopping");
            self.engine.stop_container(c, timeout)?;
            self.out.done("Container", &c.name, "Stopped");
        }
        self.out.working("Container", &c.name, "Removing");
        match self.engine.remove_container(c, true, false) {
            Ok(()) => {}
            Err(e) if e.kind() == berth_engine::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        self.out.done("Container", &c.name, "Removed");
        Ok(())
    }

    /// One service's containers converged on `replicas`; true when one was recreated.
    fn converge_service(&self, svc: &Service, image_id: &str, replicas: u32, o: &UpOptions) -> Result<bool> {
        let existing: Vec<Container> =
            self.containers(false)?.into_iter().filter(|c| service_of(c) == svc.name).collect();
        let mut recreated = false;
        let mut numbers: Vec<u32> = Vec::new();
        for mut c in existing {
            let n = number_of(&c);
            if n == 0 || n > replicas || numbers.contains(&n) || (svc.container_name.is_some() && n > 1) {
                self.remove(&mut c, o.timeout)?;
                continue;
            }
            numbers.push(n);
            let stale = c.config.labels.get(CONFIG_HASH) != Some(&svc.config_hash)
                || c.config.labels.get(IMAGE).is_some_and(|i| i != image_id);
            if !o.no_recreate && (o.force_recreate || stale) {
                self.out.working("Container", &c.name, "Recreate");
                let name = c.name.clone();
                self.remove_quietly(&mut c, o.timeout)?;
                let mut c = self.create_one(svc, n, image_id)?;
                self.out.done("Container", &name, "Recreated");
                if o.start {
                    self.start_one(&mut c)?;
                }
                recreated = true;
            } else if o.start && !c.state.running {
                self.start_one(&mut c)?;
            } else if o.start {
                self.out.done("Container", &c.name, "Running");
            }
        }
        for n in 1..=replicas {
            if numbers.contains(&n) {
                continue;
            }
            let name = self.instance_name(svc, n);
            self.out.working("Container", &name, "Creating");
            let mut c = self.create_one(svc, n, image_id)?;
            self.out.done("Container", &name, "Created");
            if o.start {
                self.start_one(&mut c)?;
            }
        }
        Ok(recreated)
    }

    /// The name of replica `n`.
    pub(super) fn instance_name(&self, svc: &Service, n: u32) -> String {
        match &svc.container_name {
            Some(c) if !c.is_empty() => c.clone(),
            _ => container_name(&self.project.name, &svc.name, n),
        }
    }

    fn remove_quietly(&self, c: &mut Container, timeout: Option<i64>) -> Result<()> {
        if c.state.running {
            self.engine.stop_container(c, timeout)?;
        }
        match self.engine.remove_container(c, true, false) {
            Err(e) if e.kind() != berth_engine::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Creates replica `n` of a service. A container of that name left by a killed `up`
    /// (created, its labels not ours to trust) is removed first.
    fn create_one(&self, svc: &Service, n: u32, image_id: &str) -> Result<Container> {
        let name = self.instance_name(svc, n);
        let inst = Instance { name: name.clone(), number: n, oneoff: false, image_id };
        let opts = self.create_options(svc, &inst)?;
        match self.engine.create_container(&opts) {
            Ok(c) => Ok(c),
            Err(e) if e.kind() == berth_engine::ErrorKind::Conflict => {
                let mut old = self.engine.find_container(&name)?;
                if old.config.labels.get(PROJECT) != Some(&self.project.name) {
                    return Err(e.into());
                }
                self.remove_quietly(&mut old, Some(0))?;
                Ok(self.engine.create_container(&opts)?)
            }
            Err(e) => {
                self.out.error("Container", &name, "Error");
                Err(e.into())
            }
        }
    }

    /// Starts a container and connects it to the service's other networks (with its aliases).
    pub(super) fn start_one(&self, c: &mut Container) -> Result<()> {
        self.out.working("Container", &c.name, "Starting");
        if let Err(e) = self.engine.start_container(c, false) {
            self.out.error("Container", &c.name, "Error");
            return Err(match e {
                berth_engine::Error::StartFailed { message, .. } => {
                    Error::Other(format!("Error response from daemon: failed to create task for container: {message}"))
                }
                e => e.into(),
            });
        }
        if let Some(svc) = self.project.services.get(service_of(c)) {
            for (key, net) in svc.network_order().into_iter().skip(1) {
                let o = berth_network::NetworkOpts {
                    network: self.project.network_name(key),
                    aliases: self.aliases(svc, net),
                    ip: net.ipv4_address.as_deref().and_then(|a| a.parse().ok()),
                    ..Default::default()
                };
                if c.state.running {
                    berth_engine::container::net::connect(&self.engine, c, &o)?;
                }
            }
        }
        self.out.done("Container", &c.name, "Started");
        Ok(())
    }

    /// Waits for each dependency's condition (Compose's `Waiting`/`Healthy` lines).
    fn wait_dependencies(&self, svc: &Service, selected: &[String]) -> Result<()> {
        for (dep, d) in &svc.depends_on {
            if !selected.contains(dep) {
                continue;
            }
            let wanted = match d.condition.as_str() {
                "service_healthy" => Wanted::Healthy,
                "service_completed_successfully" => Wanted::Completed,
                _ => Wanted::Started,
            };
            if wanted == Wanted::Started {
                continue;
            }
            for c in self.containers(false)?.iter().filter(|c| service_of(c) == dep) {
                self.out.working("Container", &c.name, "Waiting");
                self.wait_condition(c, &wanted, None)?;
                self.out.done("Container", &c.name, if wanted == Wanted::Healthy { "Healthy" } else { "Exited" });
            }
        }
        Ok(())
    }

    fn wait_condition(&self, c: &Container, wanted: &Wanted, deadline: Option<Instant>) -> Result<()> {
        let mut c = self.engine.load_container(&c.id)?;
        loop {
            let mut c2 = c.clone();
            self.engine.reconcile(&mut c2)?;
            c = c2;
            let st = &c.state;
            let health = st.health.as_ref().map(|h| h.status.as_str());
            match wanted {
                Wanted::Healthy => {
                    if c.config.healthcheck.as_ref().is_none_or(|h| h.test.first().is_some_and(|t| t == "NONE"))
                        && health.is_none()
                    {
                        return Err(Error::Other(format!("container {} has no healthcheck configured", c.name)));
                    }
                    match health {
                        Some("healthy") => return Ok(()),
                        Some("unhealthy") => {
                            return Err(Error::Other(format!(
                                "dependency failed to start: container {} is unhealthy",
                                c.name
                            )))
                        }
                        _ if !st.running && !st.restarting => {
                            return Err(Error::Other(format!(
                                "dependency failed to start: container {} exited ({})",
                                c.name, st.exit_code
                            )))
                        }
                        _ => {}
                    }
                }
                Wanted::Completed => {
                    if !st.running && !st.restarting && st.status != "created" {
                        if st.exit_code == 0 {
                            return Ok(());
                        }
                        return Err(Error::Other(format!(
                            "service {:?} didn't complete successfully: exit {}",
                            service_of(&c),
                            st.exit_code
                        )));
                    }
                }
                Wanted::Started | Wanted::Settled => {
                    let settled = *wanted == Wanted::Started
                        || health == Some("healthy")
                        || chrono_age(&st.started_at) >= Duration::from_secs(1);
                    if st.running && health.is_none_or(|h| h == "healthy") && settled {
                        return Ok(());
                    }
                    if health == Some("unhealthy") {
                        return Err(Error::Other(format!("container {} is unhealthy", c.name)));
                    }
                    if !st.running && !st.restarting {
                        return Err(Error::Other(format!("container {} exited ({})", c.name, st.exit_code)));
                    }
                }
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(Error::Other(format!("timeout waiting for container {}", c.name)));
            }
            std::thread::sleep(Duration::from_millis(100));
            c.reload_state()?;
        }
    }

    /// `--wait`: every container running (and healthy, when it has a healthcheck); a one-shot
    /// service others wait on to complete may exit 0.
    fn wait_all(&self, order: &[String], timeout: Option<Duration>) -> Result<i32> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let completes: Vec<&String> = self
            .project
            .services
            .values()
            .flat_map(|s| s.depends_on.iter())
            .filter(|(_, d)| d.condition == "service_completed_successfully")
            .map(|(k, _)| k)
            .collect();
        let mut failed = false;
        for c in self.containers(false)?.iter().filter(|c| order.iter().any(|s| s == service_of(c))) {
            let wanted =
                if completes.contains(&&service_of(c).to_string()) { Wanted::Completed } else { Wanted::Settled };
            self.out.working("Container", &c.name, "Waiting");
            match self.wait_condition(c, &wanted, deadline) {
                Ok(()) => self.out.done("Container", &c.name, "Healthy"),
                Err(e) => {
                    self.out.error("Container", &c.name, "Error");
                    eprintln!("{e}");
                    failed = true;
                }
            }
        }
        Ok(if failed { 1 } else { 0 })
    }

    /// Restarts the services that depend on a recreated one with `restart: true`.
    fn restart_dependents(&self, name: &str, recreated: &[String], order: &[String]) -> Result<()> {
        if !recreated.iter().any(|r| r == name) {
            return Ok(());
        }
        for other in order {
            let Some(svc) = self.project.services.get(other) else { continue };
            if !svc.depends_on.get(name).is_some_and(|d| d.restart) || recreated.contains(other) {
                continue;
            }
            for mut c in self.containers(false)?.into_iter().filter(|c| service_of(c) == other) {
                if c.state.running {
                    self.out.working("Container", &c.name, "Restarting");
                    self.engine.stop_container(&mut c, None)?;
                    self.engine.start_container(&mut c, false)?;
                    self.out.done("Container", &c.name, "Started");
                }
            }
        }
        Ok(())
    }

    /// A foreground `up`: every container's log, prefixed, until all exit (or one does, with
    /// `--abort-on-container-exit`) or Ctrl-C stops them all.
    fn follow_up(&self, order: &[String], o: &UpOptions) -> Result<i32> {
        use nix::sys::signal::Signal;
        let _ = berth_sys::process::catch_signals(&[Signal::SIGINT, Signal::SIGTERM]);
        let containers: Vec<Container> =
            self.containers(false)?.into_iter().filter(|c| order.iter().any(|s| s == service_of(c))).collect();
        let lo = super::LogsOptions {
            services: Vec::new(),
            follow: true,
            tail: None,
            timestamps: o.timestamps,
            no_color: o.no_color,
            no_log_prefix: o.no_log_prefix,
        };
        let abort = o.abort_on_container_exit || o.exit_code_from.is_some();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handle = self.stream_logs(&containers, &lo, stop.clone());
        let mut code = 0;
        let mut interrupted = false;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if berth_sys::process::caught_signal() != 0 {
                interrupted = true;
                break;
            }
            let mut live = 0;
            let mut exited: Option<Container> = None;
            for c in &containers {
                let Ok(mut c) = self.engine.load_container(&c.id) else { continue };
                let _ = self.engine.reconcile(&mut c);
                if c.state.running || c.state.restarting {
                    live += 1;
                } else if exited.is_none() {
                    exited = Some(c);
                }
            }
            if let (true, Some(c)) = (abort, &exited) {
                eprintln!("{} exited with code {}", c.name, c.state.exit_code);
                break;
            }
            if live == 0 {
                break;
            }
        }
        if interrupted || abort {
            if interrupted {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            } else {
                eprintln!("Aborting on container exit...");
            }
            let mut live: Vec<Container> = containers
                .iter()
                .filter_map(|c| self.engine.load_container(&c.id).ok())
                .map(|mut c| {
                    let _ = self.engine.reconcile(&mut c);
                    c
                })
                .collect();
            self.stop_parallel(live.iter_mut().collect(), o.timeout)?;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in handle {
            let _ = h.join();
        }
        if let Some(s) = &o.exit_code_from {
            if let Some(c) = containers.iter().find(|c| service_of(c) == s) {
                let c = self.engine.load_container(&c.id)?;
                code = c.state.exit_code;
            }
        } else if interrupted {
            code = 130;
        }
        Ok(code)
    }
}

/// How long ago an RFC 3339 time was (zero when unparsable or in the future).
fn chrono_age(t: &str) -> Duration {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(t) else { return Duration::ZERO };
    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().unwrap_or_default()
}
