//! Bringing containers back when their supervisor is gone: after a shim was killed, and at boot.
//!
//! There is no daemon to notice that a shim died, so the next berth command that looks at the
//! container does: every lookup reconciles a record that says running while its `shim.lock` is
//! free ([`Engine::reconcile`]). Once it has cleaned up after the dead shim (killed and reaped
//! what was left, unmounted, released the network and cgroups, recorded exit 137), it asks the
//! restart policy, as the shim would have ([`RestartPolicy::should_restart`], Docker's restart
//! manager): if the container should run, a new shim starts it ([`Engine::recover`]). All of
//! that happens under the container directory's lock, which is held until the new shim holds
//! `shim.lock`, so a second command that looks meanwhile finds the container supervised and
//! leaves it alone: a container is brought back once, by one command.
//!
//! A reboot kills every shim at once and no command may run for a while: `berth restore`
//! ([`Engine::restore`]), run at boot by `contrib/systemd/berth-restore.service` as podman's
//! `podman-restart.service` runs `podman start --all`, reconciles every container (which brings
//! back those that were running) and starts the stopped ones Docker's daemon would start when
//! it comes up: `always` ones, and `unless-stopped` ones the user did not stop.

use super::{shim_alive, supervisor, write_json_atomic, Container, DirLock, Reconciled, RestartPolicy, State};
use crate::{Engine, Result};
use std::time::{Duration, Instant};

impl RestartPolicy {
    /// Whether the policy restarts a container that ended with `code` (Docker's restart
    /// manager): never after a manual stop; `on-failure` on a non-zero code, within its count.
    pub fn should_restart(&self, st: &State, code: i32) -> bool {
        if st.has_been_manually_stopped {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.maximum_retry_count == 0 || st.restart_count < self.maximum_retry_count),
            _ => false,
        }
    }

    /// Whether `berth restore` starts a stopped container (one that ran before): what Docker's
    /// daemon starts when it comes up. `always` even after a manual stop (Docker's documented
    /// "restarted only when the daemon restarts"), `unless-stopped` unless stopped by the user.
    /// A running `on-failure` container whose supervisor died is brought back by
    /// [`should_restart`](Self::should_restart); a stopped one stays stopped.
    fn restores(&self, st: &State) -> bool {
        let ran = st.started_at != super::ZERO_TIME;
        match self.name.as_str() {
            "always" => ran,
            "unless-stopped" => ran && !st.has_been_manually_stopped,
            _ => false,
        }
    }
}

/// How long a recovering command waits for the new shim to take `shim.lock`.
const SHIM_LOCK_WAIT: Duration = Duration::from_secs(10);

impl Engine {
    /// Starts a new shim for `c`, whose dead one was just cleaned up after, as its restart
    /// policy says. `guard` is the container directory's lock, held since the clean-up: it is
    /// released once the new shim holds `shim.lock` (or failed to start), so no other command
    /// can bring the container back a second time. Failures are recorded in the state.
    pub(crate) fn recover(&self, c: &mut Container, guard: DirLock) {
        tracing::warn!("container {}: restarting it, as its restart policy says", c.short_id());
        let mut st = c.state.clone();
        st.status = "restarting".into();
        st.restarting = true;
        st.restart_count += 1;
        let spawned = write_json_atomic(&c.state_path(), &st)
            .and_then(|()| {
                c.state = st;
                crate::container::net::before_start(self, c)?;
                supervisor::spawn(self.root(), c)
            })
            .inspect(|_| {
                let t0 = Instant::now();
                while !shim_alive(&c.dir) && t0.elapsed() < SHIM_LOCK_WAIT {
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        drop(guard);
        let failed = match spawned {
            // The shim records a start that fails; this only waits for its verdict.
            Ok(mut s) => {
                let r = s.wait_started();
                s.detach();
                match r {
                    Ok(super::attach::Started::Running { .. }) => None,
                    Ok(super::attach::Started::Failed { message, .. }) => Some(crate::Error::Other(message)),
                    Err(e) => Some(e),
                }
            }
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            tracing::warn!("container {}: restarting it: {e}", c.short_id());
            let alive = shim_alive(&c.dir);
            let _ = c.update_state(|s| {
                if s.restarting && !alive {
                    s.status = "exited".into();
                    s.restarting = false;
                    s.error = e.to_string();
                }
            });
        }
        let _ = c.reload_state();
    }

    /// `berth restore`: reconciles every container (bringing back, by policy, the running ones
    /// whose supervisor died) and starts the stopped ones Docker's daemon starts when it comes
    /// up ([`RestartPolicy::restores`]). Returns each container it started, with the outcome.
    pub fn restore(&self) -> Result<Vec<(String, Result<()>)>> {
        let mut out = Vec::new();
        let mut ids: Vec<String> = match std::fs::read_dir(self.containers_dir()) {
            Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(crate::Error::io(self.containers_dir(), e)),
        };
        ids.retain(|id| id.len() == 64);
        // A container that joins another's network namespace (`--network container:NAME`)
        // comes after the others, so the one it joins runs first (as Docker's daemon orders).
        let mut containers: Vec<Container> = ids.iter().filter_map(|id| self.load_container(id).ok()).collect();
        containers.sort_by_key(|c| (c.host_config.network_mode.starts_with("container:"), c.created.clone()));
        for mut c in containers {
            let id = c.id.clone();
            match self.reconcile_as(&mut c)? {
                Reconciled::Removed | Reconciled::Exited => continue,
                Reconciled::Recovered => {
                    let r = match c.state.is_active() {
                        true => Ok(()),
                        false => Err(crate::Error::Other(c.state.error.clone())),
                    };
                    out.push((id, r));
                    continue;
                }
                Reconciled::Unchanged => {}
            }
            if c.state.is_active() || !c.host_config.restart_policy.restores(&c.state) {
                continue;
            }
            let r = self.start_container(&mut c, false).map(drop);
            out.push((id, r));
        }
        Ok(out)
    }
}
