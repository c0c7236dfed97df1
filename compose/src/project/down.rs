//! `down`: the project's containers stopped in reverse dependency order and removed, then its
//! networks (and with `-v` its named and anonymous volumes, with `--rmi` its images). It works
//! from labels and names, so it also cleans up after an `up` that was killed halfway.

use super::{service_of, Compose, NETWORK, PROJECT, VOLUME};
use crate::Result;
use berth_engine::container::Container;

/// `down`'s flags.
#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    pub volumes: bool,
    /// `local` or `all`.
    pub rmi: Option<String>,
    pub remove_orphans: bool,
    pub timeout: Option<i64>,
}

impl Compose {
    /// Runs `f` on each container at once, each on a thread of its own; the first error.
    pub(super) fn each_parallel(
        &self,
        cs: Vec<&mut Container>,
        f: impl Fn(&mut Container) -> Result<()> + Sync,
    ) -> Result<()> {
        std::thread::scope(|s| {
            let f = &f;
            let hs: Vec<_> = cs.into_iter().map(|c| s.spawn(move || f(c))).collect();
            hs.into_iter()
                .try_for_each(|h| h.join().unwrap_or_else(|_| Err(crate::Error::Other("a thread panicked".into()))))
        })
    }

    /// Stops the running ones of `cs` at once.
    pub(super) fn stop_parallel(&self, cs: Vec<&mut Container>, timeout: Option<i64>) -> Result<()> {
        self.each_parallel(cs, |c| {
            if c.state.running {
                self.out.working("Container", &c.name, "Stopping");
                self.engine.stop_container(c, timeout)?;
                self.out.done("Container", &c.name, "Stopped");
            }
            Ok(())
        })
    }

    /// `down`: everything `up` made, removed.
    pub fn down(&self, o: &DownOptions) -> Result<()> {
        let p = &self.project;
        let all: Vec<String> = p.services.keys().cloned().collect();
        let order = p.start_order(&all)?;
        let containers = self.containers(true)?;
        // Reverse start order; orphans (services not in the file) first, only with
        // --remove-orphans (or when there is no file to tell them apart).
        let rank = |c: &Container| order.iter().any(|s| s == service_of(c)).then(|| p.depth(service_of(c)));
        let mut todo: Vec<Container> =
            containers.into_iter().filter(|c| rank(c).is_some() || o.remove_orphans || p.services.is_empty()).collect();
        todo.sort_by_key(|c| std::cmp::Reverse(rank(c).map(|r| r + 1).unwrap_or(usize::MAX)));
        // Each dependency level is stopped and removed in parallel, as Compose v2 does: its
        // dependents first.
        let mut levels: Vec<Vec<&mut Container>> = Vec::new();
        let mut current = None;
        for c in todo.iter_mut() {
            let r = rank(c);
            if current != Some(r) || levels.is_empty() {
                levels.push(Vec::new());
            }
            current = Some(r);
            levels.last_mut().unwrap().push(c);
        }
        for level in levels {
            self.each_parallel(level, |c| {
                if c.state.running {
                    self.out.working("Container", &c.name, "Stopping");
                    self.engine.stop_container(c, o.timeout)?;
                    self.out.done("Container", &c.name, "Stopped");
                }
                self.out.working("Container", &c.name, "Removing");
                match self.engine.remove_container(c, true, o.volumes) {
                    Err(e) if e.kind() != berth_engine::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
                self.out.done("Container", &c.name, "Removed");
                Ok(())
            })?;
        }
        self.engine.sweep_removals();
        // Networks: the project's (by label, so renamed keys and a killed `up`'s are found),
        // plus those the model names; external ones stay.
        let mut nets: Vec<String> = self
            .engine
            .network_ls()?
            .into_iter()
            .filter(|n| n.labels.get(PROJECT) == Some(&p.name) && n.labels.contains_key(NETWORK))
            .map(|n| n.name)
            .collect();
        for (k, def) in &p.networks {
            let name = p.network_name(k);
            if !def.external && !nets.contains(&name) && self.engine.find_network(&name).is_ok() {
                nets.push(name);
            }
        }
        nets.sort();
        for n in nets {
            self.out.working("Network", &n, "Removing");
            match self.engine.network_rm(&n) {
                Ok(()) => self.out.done("Network", &n, "Removed"),
                Err(e) => {
                    self.out.error("Network", &n, "Error");
                    self.out.warn(&format!("network {n}: {e}"));
                }
            }
        }
        if o.volumes {
            for v in self.engine.list_volumes()? {
                let ours = v.labels.get(PROJECT) == Some(&p.name) && v.labels.contains_key(VOLUME);
                let declared = p.volumes.iter().any(|(k, d)| !d.external && p.volume_name(k) == v.name);
                if ours || declared {
                    self.out.working("Volume", &v.name, "Removing");
                    self.engine.remove_volume(&v.name, false)?;
                    self.out.done("Volume", &v.name, "Removed");
                }
            }
        }
        if let Some(rmi) = &o.rmi {
            for (name, svc) in &p.services {
                if rmi == "local" && svc.image.is_some() {
                    continue;
                }
                let image = svc.image_name(&p.name);
                if self.engine.resolve_image(&image).is_ok() {
                    self.out.working("Image", &image, "Removing");
                    match self.engine.remove_image(&image, false) {
                        Ok(_) => self.out.done("Image", &image, "Removed"),
                        Err(e) => self.out.warn(&format!("service {name}: image {image}: {e}")),
                    }
                }
            }
        }
        // The files secrets and configs from the environment were written to.
        let _ = std::fs::remove_dir_all(self.engine.root().join("compose").join(&p.name));
        Ok(())
    }
}
