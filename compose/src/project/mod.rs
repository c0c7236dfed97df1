//! A project's containers, networks and volumes converged on its model.
//!
//! There is no compose daemon and no compose state file: as Docker Compose v2 does, the
//! project's containers are found by their labels (`com.docker.compose.project`, `.service`,
//! `.container-number`, `.oneoff`), its networks and volumes by their names
//! (`<project>_<key>`), and whether a container still matches its service by the config hash
//! it carries. Whatever a killed `up` left is therefore what the next `up` or `down` looks at.
//! Every command goes through the engine's methods (no shelling out): `up`/`create` in
//! `up.rs`, the container for a service in `create.rs`, `down` in `down.rs`, the one-shot
//! lifecycle verbs and listings in `ops.rs`, `logs` in `logs.rs`, `exec`/`run` in `exec.rs`.

mod create;
mod down;
mod exec;
mod logs;
mod ops;
mod progress;
mod up;

pub use down::DownOptions;
pub use exec::{ExecOptions, RunOptions};
pub use logs::LogsOptions;
pub use ops::{list_projects, ProjectSummary, PsOptions, PsRow};
pub use progress::Printer;
pub use up::UpOptions;

use crate::load::{LoadOptions, Loaded};
use crate::model::Project;
use crate::{Error, Result};
use berth_engine::container::Container;
use berth_engine::Engine;

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const VERSION: &str = "com.docker.compose.version";
pub const IMAGE: &str = "com.docker.compose.image";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";

/// The Compose version berth's labels and `version` name.
pub const COMPOSE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One project over one engine: what every `berth compose` command works on.
pub struct Compose {
    pub engine: Engine,
    pub project: Project,
    pub out: Printer,
    /// Registries spoken to over plain HTTP (the CLI's `--insecure-registry`).
    pub insecure_registries: Vec<String>,
}

impl Compose {
    /// Loads the files `opts` name and opens the project on `engine`.
    pub fn load(engine: Engine, opts: &LoadOptions) -> Result<Compose> {
        let loaded = crate::load::load(opts)?;
        Self::from_loaded(engine, &loaded)
    }

    /// Loads the project, or, when no compose file is found and a project name is given
    /// (`-p`), an empty project of that name: `down`, `ps`, `logs`, `stop` and the like work
    /// on a project's containers without its files, as Compose v2's do.
    pub fn load_or_named(engine: Engine, opts: &LoadOptions) -> Result<Compose> {
        match crate::load::load(opts) {
            Err(Error::NotFound(m)) => match &opts.project_name {
                Some(n) => {
                    let project = Project { name: n.clone(), working_dir: opts.cwd.clone(), ..Default::default() };
                    Ok(Compose::new(engine, project))
                }
                None => Err(Error::NotFound(m)),
            },
            r => Self::from_loaded(engine, &r?),
        }
    }

    fn from_loaded(engine: Engine, loaded: &Loaded) -> Result<Compose> {
        let project = Project::from_loaded(loaded)?;
        let c = Compose::new(engine, project);
        for w in &loaded.warnings {
            c.out.warn(w);
        }
        Ok(c)
    }

    pub fn new(engine: Engine, project: Project) -> Compose {
        Compose { engine, project, out: Printer::auto(), insecure_registries: Vec::new() }
    }

    /// The project's containers (one-off `run` containers too with `oneoff`), by service and
    /// number.
    pub fn containers(&self, oneoff: bool) -> Result<Vec<Container>> {
        let mut v: Vec<Container> = self
            .engine
            .list_containers()?
            .into_iter()
            .filter(|c| c.config.labels.get(PROJECT) == Some(&self.project.name))
            .filter(|c| oneoff || c.config.labels.get(ONEOFF).is_none_or(|o| o != "True"))
            .collect();
        v.sort_by_key(|c| (service_of(c).to_string(), number_of(c), c.name.clone()));
        Ok(v)
    }

    /// The containers of `services` (every service when empty; orphans too then).
    pub fn containers_of(&self, services: &[String], oneoff: bool) -> Result<Vec<Container>> {
        for s in services {
            if !self.project.services.contains_key(s) && !self.project.services.is_empty() {
                return Err(Error::NotFound(format!("no such service: {s}")));
            }
        }
        Ok(self
            .containers(oneoff)?
            .into_iter()
            .filter(|c| services.is_empty() || services.iter().any(|s| s == service_of(c)))
            .collect())
    }

    /// The first running container of a service (what `exec` and `port` act on), by index.
    pub fn service_container(&self, service: &str, index: u32) -> Result<Container> {
        if !self.project.services.is_empty() && !self.project.services.contains_key(service) {
            return Err(Error::NotFound(format!("no such service: {service}")));
        }
        self.containers(false)?
            .into_iter()
            .find(|c| service_of(c) == service && number_of(c) == index && c.state.running)
            .ok_or_else(|| Error::NotFound(format!("service \"{service}\" is not running")))
    }
}

/// The service a container belongs to (its label).
pub fn service_of(c: &Container) -> &str {
    c.config.labels.get(SERVICE).map(String::as_str).unwrap_or("")
}

/// A container's replica number (its label; 0 when missing).
pub fn number_of(c: &Container) -> u32 {
    c.config.labels.get(NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Compose v2's default container name: `<project>-<service>-<n>`.
pub fn container_name(project: &str, service: &str, n: u32) -> String {
    format!("{project}-{service}-{n}")
}
