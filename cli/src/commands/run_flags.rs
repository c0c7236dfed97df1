//! Docker's everyday `run`/`create` flags that berth lacked (issue 13): `-a`, `--cidfile`,
//! `--volumes-from`, `--link`, `--label-file`, `--mac-address`, `--annotation`, `-q`, and the
//! cgroup resource flags; flattened into [`super::create::ContainerFlags`]. The engine checks
//! and records them (`berth_engine::container::runopts`); the CLI's own part is what Docker's
//! CLI does itself: the container ID file, the label files, `-q`.

use berth_engine::container::resources::Resources;
use berth_engine::container::runopts::RunOpts;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct RunFlags {
    /// Attach to STDIN, STDOUT or STDERR.
    #[arg(short = 'a', long = "attach", value_name = "STREAM", value_parser = parse_stream)]
    pub attach: Vec<String>,
    /// Write the container ID to the file.
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw]).
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
    /// Add link to another container (NAME[:ALIAS]).
    #[arg(long = "link", value_name = "NAME[:ALIAS]", value_parser = parse_link)]
    pub links: Vec<String>,
    /// Read in a line delimited file of labels.
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33).
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Add an annotation to the container (passed through to the OCI runtime) (K=V).
    #[arg(long = "annotation", value_name = "K=V")]
    pub annotations: Vec<String>,
    /// Suppress the pull output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap.
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true, value_parser = parse_swap)]
    pub memory_swap: Option<i64>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", value_name = "BYTES", value_parser = parse_bytes)]
    pub memory_reservation: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares", allow_hyphen_values = true)]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Disable OOM Killer.
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    #[command(flatten)]
    pub cgroup: super::cgroup_flags::CgroupFlags,
    #[command(flatten)]
    pub host_only: super::hostonly_flags::HostOnlyFlags,
}

fn parse_stream(s: &str) -> Result<String, String> {
    match s.to_ascii_lowercase().as_str() {
        v @ ("stdin" | "stdout" | "stderr") => Ok(v.to_string()),
        _ => Err("valid streams are STDIN, STDOUT and STDERR".into()),
    }
}

fn parse_link(s: &str) -> Result<String, String> {
    berth_engine::container::runopts::parse_link(s).map(|_| s.to_string()).map_err(|e| e.to_string())
}

fn parse_bytes(s: &str) -> Result<i64, String> {
    berth_engine::container::volume::parse_size(s).ok_or_else(|| format!("invalid size: '{s}'"))
}

fn parse_swap(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    parse_bytes(s)
}

/// Reads a Docker key=value file (`--env-file`, `--label-file`): `#` comments and blank lines
/// skipped, a key with whitespace refused with Docker's message.
pub fn read_kv_file(path: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("open {path}: {}", go_error(&e)))?;
    let mut out = Vec::new();
    for l in text.lines() {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let key = t.split('=').next().unwrap_or_default();
        if key.contains(char::is_whitespace) {
            anyhow::bail!("poorly formatted environment: variable '{key}' contains whitespaces");
        }
        out.push(t.to_string());
    }
    Ok(out)
}

/// An I/O error as Go words it (`no such file or directory`), as Docker's CLI prints it.
fn go_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let d = nix::errno::Errno::from_raw(code).desc();
            let mut c = d.chars();
            c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
        }
        None => e.to_string(),
    }
}

impl RunFlags {
    /// The labels of the `--label-file`s (`-l` ones are added over them).
    pub fn file_labels(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut labels = BTreeMap::new();
        for f in &self.label_file {
            for l in read_kv_file(f)? {
                let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                labels.insert(k.to_string(), v.to_string());
            }
        }
        Ok(labels)
    }

    /// The engine's options for these flags (`--platform`, from the flags beside them).
    pub fn options(&self, platform: Option<&str>) -> anyhow::Result<RunOpts> {
        if let Some(p) = platform.filter(|p| !p.is_empty()) {
            berth_engine::container::runopts::parse_platform(p)?;
        }
        Ok(RunOpts {
            attach: self.attach.clone(),
            cidfile: self.cidfile.clone().unwrap_or_default(),
            volumes_from: self.volumes_from.clone(),
            mac_address: self.mac_address.clone(),
            annotations: self
                .annotations
                .iter()
                .map(|a| {
                    let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
            platform: platform.filter(|p| !p.is_empty()).map(String::from),
            resources: Resources {
                memory_swap: self.memory_swap.unwrap_or(0),
                memory_reservation: self.memory_reservation.unwrap_or(0),
                cpu_shares: self.cpu_shares.unwrap_or(0),
                cpuset_cpus: self.cpuset_cpus.clone().unwrap_or_default(),
                cpuset_mems: self.cpuset_mems.clone().unwrap_or_default(),
                oom_kill_disable: self.oom_kill_disable,
                limits: self.cgroup.limits()?,
            },
            host_only: self.host_only.options()?,
        })
    }

    /// Whether `stream` is attached: the ones `-a` names, else stdout and stderr.
    pub fn attaches(&self, stream: &str) -> bool {
        if self.attach.is_empty() {
            return stream != "stdin";
        }
        self.attach.iter().any(|a| a == stream)
    }
}

/// Docker's `--cidfile`: refused if the file exists, made before the container is, written
/// with its id once created, and removed again if no id was written (a failed create).
pub struct CidFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl CidFile {
    pub fn create(path: &str) -> anyhow::Result<CidFile> {
        if std::fs::symlink_metadata(path).is_ok() {
            anyhow::bail!("container ID file found, make sure the other container isn't running or delete {path}");
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("failed to create the container ID file: {e}"))?;
        Ok(CidFile { path: path.into(), file: Some(file) })
    }

    pub fn write(&mut self, id: &str) -> anyhow::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.write_all(id.as_bytes())
                .map_err(|e| anyhow::anyhow!("failed to write the container ID to the file: {e}"))?;
        }
        Ok(())
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
