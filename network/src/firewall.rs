//! NAT and filtering for berth's networks: nftables, or iptables where nftables is absent.
//!
//! Everything a state root needs lives in one nftables table (`ip berth`, or `ip berth_<hash>`
//! for another root) whose whole content is a function of the recorded networks and
//! published ports, so it is (re)written atomically in one `nft -f -` transaction whenever a
//! network changes, and reconciling is just writing it again. Published ports are elements
//! of two verdict maps (`proto . port` and `addr . proto . port` to `container . port`):
//! publishing or unpublishing a container's ports is then a single element update, not a
//! rule rewrite, so it costs one short `nft` run and never disturbs other containers. A
//! container without published ports costs no firewall work at all.
//!
//! The rules: DNAT of published ports for packets addressed to any local address, from
//! outside (prerouting) and from the host itself (output, loopback included, which needs
//! `route_localnet` on the bridges and a masquerade of 127.0.0.0/8 sources); masquerade of
//! DNATed traffic between containers of one bridge (hairpin); egress masquerade of each
//! non-internal subnet; isolation between networks and of internal ones; and a guard that
//! drops packets arriving on a bridge for 127.0.0.0/8 (what `route_localnet` would otherwise
//! let containers reach).
//!
//! The iptables fallback writes the same rules as berth-owned chains with `iptables-restore
//! --noflush` and regenerates them whole on every change.

use super::types::{Network, PublishedPort};
use crate::kernel::Kernel;
use crate::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

/// Which packet filter berth drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
    /// Neither is installed: networks work, but without NAT or published ports.
    None,
}

impl Backend {
    /// `BERTH_FIREWALL=nftables|iptables|none` decides; otherwise nftables when `nft` is
    /// installed, else iptables.
    pub fn detect() -> Backend {
        match std::env::var("BERTH_FIREWALL").as_deref() {
            Ok("nftables") => return Backend::Nftables,
            Ok("iptables") => return Backend::Iptables,
            Ok("none") => return Backend::None,
            _ => {}
        }
        if which("nft") {
            Backend::Nftables
        } else if which("iptables-restore") {
            Backend::Iptables
        } else {
            Backend::None
        }
    }
}

fn which(prog: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]).any(|d| d.join(prog).is_file())
}

/// The firewall of one state root.
pub struct Firewall {
    pub backend: Backend,
    /// nftables table name / iptables chain prefix.
    pub name: String,
}

impl Firewall {
    pub fn new(backend: Backend, root_tag: &str) -> Firewall {
        let name = if root_tag.is_empty() { "berth".to_string() } else { format!("berth_{root_tag}") };
        Firewall { backend, name }
    }

    /// Writes the whole ruleset for these networks and ports (atomically for nftables).
    pub fn apply(&self, k: &impl Kernel, nets: &[Network], ports: &[PublishedPort]) -> Result<()> {
        match self.backend {
            Backend::Nftables => run(k, "nft", &["-f", "-"], &self.nft_ruleset(nets, ports)),
            Backend::Iptables => self.iptables_apply(k, nets, ports),
            Backend::None => Ok(()),
        }
    }

    /// Removes everything berth put in the firewall for this root.
    pub fn remove(&self, k: &impl Kernel) -> Result<()> {
        match self.backend {
            Backend::Nftables => {
                let t = &self.name;
                run(k, "nft", &["-f", "-"], &format!("table ip {t} {{}}\ndelete table ip {t}\n"))
            }
            Backend::Iptables => {
                self.iptables_unhook(k);
                Ok(())
            }
            Backend::None => Ok(()),
        }
    }

    /// Publishes ports (already part of the recorded state) incrementally where possible.
    pub fn add_ports(
        &self,
        k: &impl Kernel,
        nets: &[Network],
        all: &[PublishedPort],
        new: &[PublishedPort],
    ) -> Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        match self.backend {
            Backend::Nftables => {
                let mut s = String::new();
                for p in new {
                    s.push_str(&format!("add element ip {} {}\n", self.name, nft_element(p, true)));
                }
                // A missing table (flushed by hand, rebooted) is repaired by a full rewrite.
                run(k, "nft", &["-f", "-"], &s).or_else(|_| self.apply(k, nets, all))
            }
            _ => self.apply(k, nets, all),
        }
    }

    /// Unpublishes ports (already dropped from the recorded state `all`).
    pub fn remove_ports(
        &self,
        k: &impl Kernel,
        nets: &[Network],
        all: &[PublishedPort],
        gone: &[PublishedPort],
    ) -> Result<()> {
        if gone.is_empty() {
            return Ok(());
        }
        match self.backend {
            Backend::Nftables => {
                let mut s = String::new();
                for p in gone {
                    s.push_str(&format!("delete element ip {} {}\n", self.name, nft_element(p, false)));
                }
                run(k, "nft", &["-f", "-"], &s).or_else(|_| self.apply(k, nets, all))
            }
            _ => self.apply(k, nets, all),
        }
    }

    /// The nftables script replacing the table.
    pub fn nft_ruleset(&self, nets: &[Network], ports: &[PublishedPort]) -> String {
        let t = &self.name;
        let mut s = format!("table ip {t} {{}}\ndelete table ip {t}\ntable ip {t} {{\n");
        let (any, by_ip): (Vec<&PublishedPort>, Vec<&PublishedPort>) =
            ports.iter().partition(|p| p.host_ip.is_unspecified());
        s.push_str("  map pub_any {\n    type inet_proto . inet_service : ipv4_addr . inet_service\n");
        if !any.is_empty() {
            let els: Vec<String> = any.iter().map(|p| nft_pair(p)).collect();
            s.push_str(&format!("    elements = {{ {} }}\n", els.join(", ")));
        }
        s.push_str("  }\n  map pub_ip {\n    type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service\n");
        if !by_ip.is_empty() {
            let els: Vec<String> = by_ip.iter().map(|p| nft_pair(p)).collect();
            s.push_str(&format!("    elements = {{ {} }}\n", els.join(", ")));
        }
        s.push_str("  }\n");
        s.push_str(
            "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump publish\n  }\n",
        );
        s.push_str(
            "  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump publish\n  }\n",
        );
        s.push_str("  chain publish {\n    dnat ip to ip daddr . meta l4proto . th dport map @pub_ip\n    dnat ip to meta l4proto . th dport map @pub_any\n  }\n");
        s.push_str("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        for n in nets.iter().filter(|n| n.driver == "bridge") {
            let Some(sub) = n.subnet_net() else { continue };
            let (br, sub) = (&n.bridge, sub.trunc());
            s.push_str(&format!("    oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade\n"));
            s.push_str(&format!("    oifname \"{br}\" ip saddr {sub} ct status dnat masquerade\n"));
            if !n.internal {
                s.push_str(&format!("    ip saddr {sub} oifname != \"{br}\" masquerade\n"));
            }
        }
        s.push_str("  }\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
        let bridges: Vec<&Network> = nets.iter().filter(|n| n.driver == "bridge" && !n.bridge.is_empty()).collect();
        for n in &bridges {
            let br = &n.bridge;
            if n.internal {
                s.push_str(&format!("    iifname \"{br}\" oifname != \"{br}\" drop\n"));
                s.push_str(&format!("    oifname \"{br}\" iifname != \"{br}\" drop\n"));
            }
            for o in &bridges {
                if o.bridge != n.bridge {
                    s.push_str(&format!("    iifname \"{br}\" oifname \"{}\" drop\n", o.bridge));
                }
            }
        }
        s.push_str("  }\n  chain guard {\n    type filter hook prerouting priority raw; policy accept;\n");
        for n in &bridges {
            s.push_str(&format!("    iifname \"{}\" ip daddr 127.0.0.0/8 drop\n", n.bridge));
        }
        s.push_str("  }\n}\n");
        s
    }

    fn chain(&self, what: &str) -> String {
        format!("{}-{what}", self.name.to_ascii_uppercase())
    }

    /// The iptables equivalent: berth's chains, rewritten whole, hooked from the built-ins.
    fn iptables_apply(&self, k: &impl Kernel, nets: &[Network], ports: &[PublishedPort]) -> Result<()> {
        let (pre, post, fwd, guard) = (self.chain("PRE"), self.chain("POST"), self.chain("FWD"), self.chain("GUARD"));
        let mut s = format!("*nat\n:{pre} - [0:0]\n:{post} - [0:0]\n");
        for p in ports {
            let dst = if p.host_ip.is_unspecified() { String::new() } else { format!("-d {}/32 ", p.host_ip) };
            s.push_str(&format!(
                "-A {pre} {dst}-p {pr} -m {pr} --dport {hp} -j DNAT --to-destination {cip}:{cp}\n",
                pr = p.proto,
                hp = p.host_port,
                cip = p.container_ip,
                cp = p.container_port
            ));
        }
        for n in nets.iter().filter(|n| n.driver == "bridge") {
            let Some(sub) = n.subnet_net() else { continue };
            let (br, sub) = (&n.bridge, sub.trunc());
            s.push_str(&format!("-A {post} -s 127.0.0.0/8 -o {br} -j MASQUERADE\n"));
            s.push_str(&format!("-A {post} -s {sub} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE\n"));
            if !n.internal {
                s.push_str(&format!("-A {post} -s {sub} ! -o {br} -j MASQUERADE\n"));
            }
        }
        s.push_str(&format!("COMMIT\n*filter\n:{fwd} - [0:0]\n"));
        let bridges: Vec<&Network> = nets.iter().filter(|n| n.driver == "bridge" && !n.bridge.is_empty()).collect();
        for n in &bridges {
            let br = &n.bridge;
            if n.internal {
                s.push_str(&format!("-A {fwd} -i {br} ! -o {br} -j DROP\n-A {fwd} -o {br} ! -i {br} -j DROP\n"));
            }
            for o in &bridges {
                if o.bridge != n.bridge {
                    s.push_str(&format!("-A {fwd} -i {br} -o {} -j DROP\n", o.bridge));
                }
            }
        }
        s.push_str(&format!("COMMIT\n*raw\n:{guard} - [0:0]\n"));
        for n in &bridges {
            s.push_str(&format!("-A {guard} -i {} -d 127.0.0.0/8 -j DROP\n", n.bridge));
        }
        s.push_str("COMMIT\n");
        run(k, "iptables-restore", &["--noflush", "-w"], &s)?;
        for (table, chain, rule) in self.hooks() {
            let check = |op: &str| {
                let mut a = vec!["-w", "-t", table, op, chain];
                a.extend(rule.iter().map(String::as_str));
                k.run_quiet("iptables", &a)
            };
            if !check("-C").map(|s| s.success()).unwrap_or(false) {
                let op = if chain == "FORWARD" { "-I" } else { "-A" };
                let st = check(op).map_err(|e| Error::Other(format!("running iptables: {e}")))?;
                if !st.success() {
                    return Err(Error::Other(format!("iptables -t {table} {op} {chain} {} failed", rule.join(" "))));
                }
            }
        }
        Ok(())
    }

    fn hooks(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let j = |c: String| vec!["-j".to_string(), c];
        let local =
            |c: String| vec!["-m".into(), "addrtype".into(), "--dst-type".into(), "LOCAL".into(), "-j".into(), c];
        vec![
            ("nat", "PREROUTING", local(self.chain("PRE"))),
            ("nat", "OUTPUT", local(self.chain("PRE"))),
            ("nat", "POSTROUTING", j(self.chain("POST"))),
            ("filter", "FORWARD", j(self.chain("FWD"))),
            ("raw", "PREROUTING", j(self.chain("GUARD"))),
        ]
    }

    fn iptables_unhook(&self, k: &impl Kernel) {
        for (table, chain, rule) in self.hooks() {
            let mut a = vec!["-w", "-t", table, "-D", chain];
            a.extend(rule.iter().map(String::as_str));
            let _ = k.run_quiet("iptables", &a);
            let target = rule.last().cloned().unwrap_or_default();
            for op in ["-F", "-X"] {
                let _ = k.run_quiet("iptables", &["-w", "-t", table, op, &target]);
            }
        }
    }
}

fn nft_key(p: &PublishedPort) -> String {
    if p.host_ip.is_unspecified() {
        format!("{} . {}", p.proto, p.host_port)
    } else {
        format!("{} . {} . {}", p.host_ip, p.proto, p.host_port)
    }
}

fn nft_pair(p: &PublishedPort) -> String {
    format!("{} : {} . {}", nft_key(p), p.container_ip, p.container_port)
}

fn nft_element(p: &PublishedPort, with_value: bool) -> String {
    let map = if p.host_ip.is_unspecified() { "pub_any" } else { "pub_ip" };
    let el = if with_value { nft_pair(p) } else { nft_key(p) };
    format!("{map} {{ {el} }}")
}

/// Runs a firewall program with `input` on stdin; its stderr becomes the error.
fn run(k: &impl Kernel, prog: &str, args: &[&str], input: &str) -> Result<()> {
    let out = k.run_piped(prog, args, input).map_err(|e| Error::Other(format!("running {prog}: {e}")))?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "{prog} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// [`Kernel::run_piped`] for real: the program runs in the process's own PID namespace.
pub(crate) fn run_piped(prog: &str, args: &[&str], input: &str) -> std::io::Result<Output> {
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let input = input.to_string();
    spawn_in_own_pid_ns(cmd, move |mut child| {
        if let Some(mut si) = child.stdin.take() {
            let _ = si.write_all(input.as_bytes());
        }
        child.wait_with_output()
    })
}

/// [`Kernel::run_quiet`] for real.
pub(crate) fn run_quiet(prog: &str, args: &[&str]) -> std::io::Result<ExitStatus> {
    Command::new(prog).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status()
}

/// Spawns `cmd` from a helper thread whose children go to the process's own PID namespace.
///
/// A container's supervisor may have unshared a PID namespace for the container's init; once
/// that init has exited, every fork into the namespace fails with ENOMEM — yet the supervisor
/// must still run `nft` to unpublish the container's ports. The thread resets its own
/// `pid_for_children` (setns to the process's active namespace is always allowed) and leaves
/// the supervisor's untouched.
pub(crate) fn spawn_in_own_pid_ns<T: Send>(
    mut cmd: Command,
    then: impl FnOnce(std::process::Child) -> std::io::Result<T> + Send,
) -> std::io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(move || {
            let same = match (
                std::fs::read_link("/proc/thread-self/ns/pid"),
                std::fs::read_link("/proc/thread-self/ns/pid_for_children"),
            ) {
                (Ok(a), Ok(b)) => a == b,
                _ => true,
            };
            if !same {
                let f = std::fs::File::open("/proc/self/ns/pid")?;
                // This helper thread only, back to the process's own active PID namespace.
                nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWPID)?;
            }
            then(cmd.spawn()?)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("spawning thread panicked")))
    })
}

/// Writes a sysctl under /proc/sys (`net/ipv4/ip_forward`).
pub fn sysctl(key: &str, value: &str) -> Result<()> {
    let p = Path::new("/proc/sys").join(key);
    if std::fs::read_to_string(&p).map(|v| v.trim() == value).unwrap_or(false) {
        return Ok(());
    }
    std::fs::write(&p, value).map_err(|e| Error::io(&p, e))
}

/// Counts the rules of berth's table (for tests and `network inspect` diagnostics).
pub fn nft_rule_count(table: &str) -> usize {
    let Ok(o) = Command::new("nft").args(["-a", "list", "table", "ip", table]).output() else { return 0 };
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| {
            l.contains("# handle")
                && !l.trim_start().starts_with("chain")
                && !l.trim_start().starts_with("table")
                && !l.trim_start().starts_with("map")
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Proto;
    use std::net::Ipv4Addr;

    #[test]
    fn ruleset_names_bridges_and_ports() {
        let fw = Firewall::new(Backend::Nftables, "");
        let nets = vec![Network {
            name: "bridge".into(),
            driver: "bridge".into(),
            subnet: "172.17.0.0/16".into(),
            bridge: "berth0".into(),
            ..Default::default()
        }];
        let ports = vec![PublishedPort {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Tcp,
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
        }];
        let s = fw.nft_ruleset(&nets, &ports);
        assert!(s.contains("elements = { tcp . 8080 : 172.17.0.2 . 80 }"), "{s}");
        assert!(s.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"), "{s}");
        assert!(s.starts_with("table ip berth {}\ndelete table ip berth\n"));
    }
}
