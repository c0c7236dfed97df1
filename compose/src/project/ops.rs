//! The one-shot verbs over a project's containers (`start`, `stop`, `restart`, `kill`, `rm`,
//! `pause`/`unpause`), the listings (`ps`, `top`, `port`, `images`, `ls`) and the image verbs
//! (`build`, `pull`, `push`). Listings return data; the CLI words and lays it out.

use super::{number_of, service_of, Compose, CONFIG_FILES, PROJECT};
use crate::{Error, Result};
use berth_engine::container::Container;
use std::collections::BTreeMap;

/// `ps`' selection.
#[derive(Clone, Debug, Default)]
pub struct PsOptions {
    pub services: Vec<String>,
    pub all: bool,
    /// Only these states (`running`, `exited`, ...).
    pub status: Vec<String>,
}

/// One `ps` row: the container and what Compose shows beside it.
pub struct PsRow {
    pub container: Container,
    pub service: String,
    pub project: String,
    /// The PORTS column (`0.0.0.0:8080->80/tcp`).
    pub ports: String,
}

/// One project of `ls`.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectSummary {
    pub name: String,
    /// `running(2), exited(1)`.
    pub status: String,
    pub config_files: String,
}

impl Compose {
    /// `ps`: running containers (all with `-a`), by service and number.
    pub fn ps(&self, o: &PsOptions) -> Result<Vec<PsRow>> {
        let mut out = Vec::new();
        for c in self.containers_of(&o.services, false)? {
            if !o.all && !c.state.running && o.status.is_empty() {
                continue;
            }
            if !o.status.is_empty() && !o.status.contains(&c.state.status) {
                continue;
            }
            let ports = berth_engine::container::net::ports_column(&self.engine, &c);
            out.push(PsRow {
                service: service_of(&c).to_string(),
                project: self.project.name.clone(),
                ports,
                container: c,
            });
        }
        Ok(out)
    }

    /// `start`: the services' existing containers, in dependency order.
    pub fn start(&self, services: &[String]) -> Result<()> {
        let order = self.order_of(services)?;
        let all = self.containers(false)?;
        if all.is_empty() {
            return Err(Error::NotFound("service has no container to start".into()));
        }
        for s in &order {
            for mut c in all.iter().filter(|c| service_of(c) == s).cloned() {
                if !c.state.running {
                    self.start_one(&mut c)?;
                }
            }
        }
        Ok(())
    }

    /// `stop`: in reverse dependency order.
    pub fn stop(&self, services: &[String], timeout: Option<i64>) -> Result<()> {
        let mut order = self.order_of(services)?;
        order.reverse();
        let all = self.containers_of(services, false)?;
        for s in &order {
            let mut cs: Vec<Container> = all.iter().filter(|c| service_of(c) == s).cloned().collect();
            self.stop_parallel(cs.iter_mut().collect(), timeout)?;
        }
        Ok(())
    }

    /// `restart`: each container stopped and started again.
    pub fn restart(&self, services: &[String], timeout: Option<i64>) -> Result<()> {
        let order = self.order_of(services)?;
        let all = self.containers_of(services, false)?;
        for s in &order {
            for mut c in all.iter().filter(|c| service_of(c) == s).cloned() {
                self.out.working("Container", &c.name, "Restarting");
                self.engine.stop_container(&mut c, timeout)?;
                self.engine.start_container(&mut c, false)?;
                self.out.done("Container", &c.name, "Started");
            }
        }
        Ok(())
    }

    /// `kill`: a signal to every running container.
    pub fn kill(&self, services: &[String], signal: &str) -> Result<()> {
        let sig = berth_engine::container::parse_signal(signal).map_err(|e| Error::Invalid(e.to_string()))?;
        for mut c in self.containers_of(services, false)?.into_iter().filter(|c| c.state.running) {
            self.out.working("Container", &c.name, "Killing");
            self.engine.kill_container(&mut c, sig)?;
            self.out.done("Container", &c.name, "Killed");
        }
        Ok(())
    }

    /// `rm`: stopped containers (running ones too with `stop`); the names it removed.
    pub fn rm(&self, services: &[String], stop: bool, volumes: bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for mut c in self.containers_of(services, false)? {
            if c.state.running {
                if !stop {
                    continue;
                }
                self.out.working("Container", &c.name, "Stopping");
                self.engine.stop_container(&mut c, None)?;
                self.out.done("Container", &c.name, "Stopped");
            }
            self.out.working("Container", &c.name, "Removing");
            self.engine.remove_container(&mut c, true, volumes)?;
            self.out.done("Container", &c.name, "Removed");
            removed.push(c.name.clone());
        }
        Ok(removed)
    }

    /// `pause`/`unpause`: berth's engine has no freezer verb yet.
    pub fn pause(&self, _services: &[String], pause: bool) -> Result<()> {
        let verb = if pause { "pause" } else { "unpause" };
        Err(Error::Other(format!("{verb}: not supported by berth's engine yet")))
    }

    /// `top`: each running container and its processes' pids.
    pub fn top(&self, services: &[String]) -> Result<Vec<(Container, Vec<i32>)>> {
        Ok(self
            .containers_of(services, false)?
            .into_iter()
            .filter(|c| c.state.running)
            .map(|c| {
                let pids = berth_engine::container::stats::pids(&c);
                (c, pids)
            })
            .collect())
    }

    /// `port`: the host address a replica's private port is published on.
    pub fn port(&self, service: &str, private: u16, proto: &str, index: u32) -> Result<Option<String>> {
        let c = self.service_container(service, index.max(1))?;
        for p in berth_engine::container::net::ports(&self.engine, &c)? {
            if p.container_port == private && p.proto.to_string().eq_ignore_ascii_case(proto) {
                return Ok(Some(p.host_addr()));
            }
        }
        Ok(None)
    }

    /// `images`: each container's image (name and id).
    pub fn images(&self, services: &[String]) -> Result<Vec<(Container, Option<berth_engine::Image>)>> {
        Ok(self
            .containers_of(services, false)?
            .into_iter()
            .map(|c| {
                let img = self.engine.resolve_image(&c.config.image).ok();
                (c, img)
            })
            .collect())
    }

    /// `build`: the services with a `build:` section.
    pub fn build(&self, services: &[String], no_cache: bool, pull: bool) -> Result<()> {
        for name in self.project.select(services, true)? {
            let svc = &self.project.services[&name];
            if svc.build.is_some() {
                self.build_service(svc, no_cache, pull)?;
            }
        }
        Ok(())
    }

    /// `pull`: the services' images (not those only built).
    pub fn pull(&self, services: &[String], ignore_failures: bool) -> Result<()> {
        for name in self.project.select(services, true)? {
            let svc = &self.project.services[&name];
            if svc.image.is_none() || svc.pull_policy.as_deref() == Some("build") {
                continue;
            }
            match self.pull_image(&svc.image_name(&self.project.name), svc.platform.as_deref()) {
                Err(e) if !ignore_failures || svc.build.is_none() => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// `push`: the services' images that have a name.
    pub fn push(&self, services: &[String]) -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("tokio: {e}")))?;
        for name in self.project.select(services, true)? {
            let svc = &self.project.services[&name];
            let Some(image) = &svc.image else { continue };
            let r = berth_engine::Reference::parse(image).map_err(|e| Error::Engine(e.into()))?;
            let o =
                berth_engine::push::PushOptions { insecure_registries: self.insecure_registries.clone(), client: None };
            self.out.working("Image", image, "Pushing");
            rt.block_on(self.engine.push(&r, &o, &berth_engine::progress::Progress::quiet()))?;
            self.out.done("Image", image, "Pushed");
        }
        Ok(())
    }

    /// The services (every one when empty) in dependency order.
    fn order_of(&self, services: &[String]) -> Result<Vec<String>> {
        if self.project.services.is_empty() {
            let mut v: Vec<String> = self.containers(false)?.iter().map(|c| service_of(c).to_string()).collect();
            v.dedup();
            return Ok(v);
        }
        let sel = self.project.select(services, true)?;
        self.project.start_order(&sel)
    }
}

/// `ls`: every project the engine's containers name (stopped ones too with `all`).
pub fn list_projects(engine: &berth_engine::Engine, all: bool) -> Result<Vec<ProjectSummary>> {
    let mut by: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for c in engine.list_containers()? {
        let Some(p) = c.config.labels.get(PROJECT) else { continue };
        let e = by.entry(p.clone()).or_default();
        *e.0.entry(c.state.status.clone()).or_default() += 1;
        if e.1.is_empty() {
            e.1 = c.config.labels.get(CONFIG_FILES).cloned().unwrap_or_default();
        }
        let _ = number_of(&c);
    }
    Ok(by
        .into_iter()
        .filter(|(_, (st, _))| all || st.contains_key("running"))
        .map(|(name, (st, files))| ProjectSummary {
            name,
            status: st.iter().map(|(s, n)| format!("{s}({n})")).collect::<Vec<_>>().join(", "),
            config_files: files,
        })
        .collect())
}
