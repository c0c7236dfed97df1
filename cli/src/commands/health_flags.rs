//! The `--health-*` flags of `run` and `create`, and `--no-healthcheck`: Docker's, parsed and
//! checked as Docker's CLI does (Go durations, its messages), giving the container's own
//! `Healthcheck`, which the engine merges with the image's `HEALTHCHECK`.

use berth_engine::container::health::Healthcheck;

/// Docker's healthcheck flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct HealthFlags {
    /// Command to run to check health.
    #[arg(long = "health-cmd", value_name = "string")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s).
    #[arg(long = "health-interval", value_name = "duration", allow_hyphen_values = true)]
    pub interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s).
    #[arg(long = "health-timeout", value_name = "duration", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries", value_name = "int", allow_hyphen_values = true)]
    pub retries: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s).
    #[arg(long = "health-start-period", value_name = "duration", allow_hyphen_values = true)]
    pub start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s).
    #[arg(long = "health-start-interval", value_name = "duration", allow_hyphen_values = true)]
    pub start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
}

impl HealthFlags {
    /// The container's healthcheck (`None` when no flag is given: the image's applies).
    pub fn healthcheck(&self) -> anyhow::Result<Option<Healthcheck>> {
        let duration = |flag: &str, v: &Option<String>| -> anyhow::Result<i64> {
            match v {
                None => Ok(0),
                Some(s) => berth_engine::container::health::parse_duration(s)
                    .map_err(|e| anyhow::anyhow!("invalid argument {s:?} for \"--{flag}\" flag: {e}")),
            }
        };
        let interval = duration("health-interval", &self.interval)?;
        let timeout = duration("health-timeout", &self.timeout)?;
        let start_period = duration("health-start-period", &self.start_period)?;
        let start_interval = duration("health-start-interval", &self.start_interval)?;
        let retries = match &self.retries {
            None => 0,
            Some(s) => s.parse::<i64>().map_err(|_| {
                anyhow::anyhow!("invalid argument {s:?} for \"--health-retries\" flag: strconv.ParseInt: parsing {s:?}: invalid syntax")
            })?,
        };
        let cmd = self.cmd.clone().unwrap_or_default();
        let any = !cmd.is_empty()
            || interval != 0
            || timeout != 0
            || start_period != 0
            || start_interval != 0
            || retries != 0;
        if self.no_healthcheck {
            if any {
                anyhow::bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(Some(Healthcheck { test: vec!["NONE".into()], ..Default::default() }));
        }
        if !any {
            return Ok(None);
        }
        for (flag, v) in [
            ("health-interval", interval),
            ("health-timeout", timeout),
            ("health-retries", retries),
            ("health-start-period", start_period),
            ("health-start-interval", start_interval),
        ] {
            if v < 0 {
                anyhow::bail!("--{flag} cannot be negative");
            }
        }
        Ok(Some(Healthcheck {
            test: if cmd.is_empty() { Vec::new() } else { vec!["CMD-SHELL".into(), cmd] },
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: impl FnOnce(&mut HealthFlags)) -> anyhow::Result<Option<Healthcheck>> {
        let mut h = HealthFlags::default();
        f(&mut h);
        h.healthcheck()
    }

    #[test]
    fn flags_make_dockers_healthcheck() {
        assert_eq!(flags(|_| {}).unwrap(), None);
        let h = flags(|h| {
            h.cmd = Some("exit 0".into());
            h.interval = Some("1s".into());
            h.retries = Some("2".into());
        })
        .unwrap()
        .unwrap();
        assert_eq!(h.test, vec!["CMD-SHELL", "exit 0"]);
        assert_eq!((h.interval, h.retries), (1_000_000_000, 2));
        assert_eq!(flags(|h| h.no_healthcheck = true).unwrap().unwrap().test, vec!["NONE"]);
    }

    #[test]
    fn bad_values_say_what_docker_says() {
        let err = |f: fn(&mut HealthFlags)| flags(f).unwrap_err().to_string();
        assert_eq!(err(|h| h.interval = Some("-1s".into())), "--health-interval cannot be negative");
        assert_eq!(err(|h| h.retries = Some("-1".into())), "--health-retries cannot be negative");
        assert_eq!(
            err(|h| h.interval = Some("garbage".into())),
            "invalid argument \"garbage\" for \"--health-interval\" flag: time: invalid duration \"garbage\""
        );
        assert_eq!(
            err(|h| h.retries = Some("x".into())),
            "invalid argument \"x\" for \"--health-retries\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            err(|h| {
                h.no_healthcheck = true;
                h.cmd = Some("true".into());
            }),
            "--no-healthcheck conflicts with --health-* options"
        );
    }
}
