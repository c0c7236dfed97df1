//! The seam between the builder and whatever runs a RUN step's command.
//!
//! The builder decides what a RUN step is (its argv, environment, user, working directory,
//! network and mounts, over which layers); a [`StepRunner`] runs it and hands back what the
//! command wrote. The engine's runner makes a container of it (overlay snapshot, network
//! sandbox, berth's runtime); the builder's tests use a fake that writes files, so plans,
//! caching and error texts are tested without containers or root.

use crate::Result;
use std::path::{Path, PathBuf};

/// The network of a RUN step (`RUN --network`, `build --network`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// A namespace of its own on the default bridge (BuildKit's default).
    Default,
    /// The host's network (needs the `network.host` entitlement).
    Host,
    /// A namespace of its own with loopback alone.
    None,
}

impl Network {
    /// The mode as written in a Dockerfile (`default`, `host`, `none`).
    pub fn parse(s: &str) -> Option<Network> {
        match s {
            "default" => Some(Network::Default),
            "host" => Some(Network::Host),
            "none" => Some(Network::None),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Network::Default => "default",
            Network::Host => "host",
            Network::None => "none",
        }
    }
}

/// What a `RUN --mount` mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// A host directory or file: the context, a stage's root, a cache or a secret.
    Bind,
    /// An empty tmpfs (`type=tmpfs`, or a secret that was not given).
    Tmpfs,
}

/// A `RUN --mount`, resolved to what to mount where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunMount {
    pub kind: MountKind,
    /// The host path (for [`MountKind::Tmpfs`]: `tmpfs`).
    pub source: String,
    /// The path in the step's root filesystem.
    pub destination: String,
    pub rw: bool,
}

/// One RUN step to run.
#[derive(Clone, Debug)]
pub struct RunStep<'a> {
    /// The stage's unpacked layer directories, lowest first: the step's root filesystem.
    pub lower: &'a [PathBuf],
    pub argv: &'a [String],
    /// `K=V`, PATH first when the stage sets none.
    pub env: &'a [String],
    /// The stage's USER (empty: root).
    pub user: &'a str,
    /// The stage's WORKDIR (made if missing).
    pub workdir: &'a str,
    pub hostname: &'a str,
    pub network: Network,
    pub mounts: &'a [RunMount],
    /// The step as progress names it (`[2/3] RUN make`): for messages and unique names.
    pub name: &'a str,
    /// Where what the command changed goes when it succeeds: the files of the step's upper
    /// layer (whiteouts for removals, opaque directories), minus the mount points the runner
    /// made. The directory exists and is empty.
    pub upper: &'a Path,
}

/// How a RUN step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// The command's exit code (128 when it has none, killed by a signal); 0 is success.
    pub exit_code: i32,
}

/// Runs RUN steps. Shared by the threads that build independent stages in parallel.
pub trait StepRunner: Sync {
    /// Runs `step`, passing each line the command prints (stdout and stderr together) to
    /// `output` as it comes; on success fills `step.upper`. An `Err` is a failure to run
    /// it at all; a command that fails is an `Ok` with its exit code.
    fn run(&self, step: &RunStep<'_>, output: &mut dyn FnMut(&str)) -> Result<RunOutcome>;
}
