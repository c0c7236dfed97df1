//! `linux.seccomp` (the OCI form of a seccomp profile, e.g. Docker's default) compiled to
//! classic BPF with the pure-Rust `seccompiler`, no libseccomp.
//!
//! seccompiler builds filters with one match action and one default action, while an OCI
//! profile gives each rule its own action (Docker's has ALLOW for most syscalls and
//! ERRNO(ENOSYS) for `clone3` and friends). The kernel runs every installed filter and keeps the
//! most severe verdict (KILL > TRAP > ERRNO > TRACE > LOG > ALLOW), so the profile becomes:
//!
//! * a base filter matching every rule of the profile (with its argument conditions) that
//!   answers ALLOW on a match and the profile's default action otherwise, and
//! * one filter per other action, matching that action's rules and answering ALLOW otherwise.
//!
//! A syscall no rule matches gets the default action from the base filter; a syscall a rule
//! matches gets ALLOW from the base filter and the rule's action from its own filter, so the
//! combination gives what libseccomp's single filter would. Syscall names unknown on this
//! architecture are skipped, as libseccomp does. Only the native architecture is filtered:
//! other ABIs (i386 on x86_64) are killed by seccompiler's architecture check, which is stricter
//! than Docker's profile but never more permissive.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The names of every system call of the architecture berth runs on (for building profiles:
/// the engine's default one, tests).
pub fn native_syscall_names() -> Vec<&'static str> {
    syscalls::Sysno::iter().map(|s| s.name()).collect()
}

/// A compiled filter and the flags to install it with.
#[derive(Debug, Clone)]
pub struct Filter {
    pub program: BpfProgram,
    pub flags: u32,
}

fn target_arch() -> Result<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|_| Error::Seccomp(format!("seccomp filters are not supported on {}", std::env::consts::ARCH)))
}

fn action(a: LinuxSeccompAction, errno: Option<u32>, default_errno: Option<u32>) -> Result<SeccompAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno.or(default_errno).unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::Seccomp("SCMP_ACT_NOTIFY (seccomp user notification) is not supported".into()))
        }
    })
}

fn condition(arg: &oci_spec::runtime::LinuxSeccompArg) -> Result<SeccompCondition> {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
        LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
        LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
        LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
        LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
        LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
        // libseccomp: (arg & value) == valueTwo.
        LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(arg.value()),
    };
    let value =
        if arg.op() == LinuxSeccompOperator::ScmpCmpMaskedEq { arg.value_two().unwrap_or(0) } else { arg.value() };
    SeccompCondition::new(arg.index() as u8, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| Error::Seccomp(format!("argument {}: {e}", arg.index())))
}

/// An action's rank in the kernel's precedence (lower wins).
fn severity(a: &SeccompAction) -> u8 {
    match a {
        SeccompAction::KillProcess => 0,
        SeccompAction::KillThread => 1,
        SeccompAction::Trap => 2,
        SeccompAction::Errno(_) => 3,
        SeccompAction::Trace(_) => 4,
        SeccompAction::Log => 5,
        SeccompAction::Allow => 6,
    }
}

type Rules = BTreeMap<i64, Vec<SeccompRule>>;

/// Compiles `linux.seccomp` into the filters to install, in installation order.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<Filter>> {
    let arch = target_arch()?;
    let default_errno = profile.default_errno_ret();
    let default = action(profile.default_action(), default_errno, None)?;
    let mut flags = 0u32;
    for f in profile.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG as u32,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC as u32,
        };
    }
    // A syscall matched unconditionally by some rule stays unconditional (`insert`).
    let mut base: Rules = BTreeMap::new();
    let mut unconditional_base: std::collections::BTreeSet<i64> = Default::default();
    let mut by_action: Vec<(SeccompAction, Rules, std::collections::BTreeSet<i64>)> = Vec::new();
    for sc in profile.syscalls().iter().flatten() {
        let act = action(sc.action(), sc.errno_ret(), default_errno)?;
        if act == default {
            // Rules that repeat the default action change nothing.
            continue;
        }
        let conds: Vec<SeccompCondition> = sc.args().iter().flatten().map(condition).collect::<Result<_>>()?;
        for name in sc.names() {
            let Ok(nr) = syscalls::Sysno::from_str(name) else {
                continue; // not a syscall on this architecture
            };
            let nr = nr.id() as i64;
            let rule = if conds.is_empty() {
                None
            } else {
                Some(SeccompRule::new(conds.clone()).map_err(|e| Error::Seccomp(format!("{name}: {e}")))?)
            };
            insert(&mut base, &mut unconditional_base, nr, rule.clone());
            if act != SeccompAction::Allow {
                let idx = match by_action.iter().position(|(a, _, _)| *a == act) {
                    Some(i) => i,
                    None => {
                        by_action.push((act.clone(), BTreeMap::new(), Default::default()));
                        by_action.len() - 1
                    }
                };
                let (_, rules, uncond) = &mut by_action[idx];
                insert(rules, uncond, nr, rule);
            }
        }
    }
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        filters.push(build(base, default.clone(), SeccompAction::Allow, arch, flags)?);
    }
    // Least severe first: for equal severities the most recently installed filter's data wins,
    // and the order below keeps that deterministic.
    by_action.sort_by_key(|(a, _, _)| std::cmp::Reverse(severity(a)));
    for (act, rules, _) in by_action {
        if act == default && default != SeccompAction::Allow {
            continue;
        }
        filters.push(build(rules, SeccompAction::Allow, act, arch, flags)?);
    }
    Ok(filters)
}

/// Adds `rule` (None: unconditional) for `nr`; an unconditional rule absorbs conditional ones.
fn insert(rules: &mut Rules, unconditional: &mut std::collections::BTreeSet<i64>, nr: i64, rule: Option<SeccompRule>) {
    if unconditional.contains(&nr) {
        return;
    }
    match rule {
        None => {
            unconditional.insert(nr);
            rules.insert(nr, Vec::new());
        }
        Some(r) => rules.entry(nr).or_default().push(r),
    }
}

fn build(
    rules: Rules,
    mismatch: SeccompAction,
    matched: SeccompAction,
    arch: TargetArch,
    flags: u32,
) -> Result<Filter> {
    let filter = SeccompFilter::new(rules, mismatch, matched, arch).map_err(|e| Error::Seccomp(e.to_string()))?;
    let program: BpfProgram =
        filter.try_into().map_err(|e: seccompiler::BackendError| Error::Seccomp(e.to_string()))?;
    Ok(Filter { program, flags })
}

/// A BPF interpreter for compiled filters and a Docker-like profile, for the tests here and
/// the wasm runtime's (`testing` feature).
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::*;
    use seccompiler::sock_filter;

    /// The kernel's verdict for a syscall given the installed filters (most severe wins).
    pub fn verdict(filters: &[Filter], nr: i64, args: [u64; 6]) -> u32 {
        let mut best: Option<u32> = None;
        for f in filters.iter().rev() {
            let r = run(&f.program, nr, args);
            let rank = |v: u32| (v & 0xffff_0000) as i32;
            best = match best {
                // Kernel compares the action part as signed (KILL_PROCESS is negative).
                Some(b) if rank(b) <= rank(r) => Some(b),
                _ => Some(r),
            };
        }
        best.unwrap_or(libc::SECCOMP_RET_ALLOW)
    }

    /// A classic-BPF interpreter for the instructions seccompiler emits.
    fn run(prog: &[sock_filter], nr: i64, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend_from_slice(&(nr as u32).to_ne_bytes());
        data.extend_from_slice(&0xc000_003e_u32.to_ne_bytes()); // AUDIT_ARCH_X86_64
        data.extend_from_slice(&0u64.to_ne_bytes());
        for a in args {
            data.extend_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            match i.code {
                0x20 => acc = u32::from_ne_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap()),
                0x54 => acc &= i.k,
                0x05 => pc += i.k as usize,
                0x15 => pc += if acc == i.k { i.jt } else { i.jf } as usize,
                0x25 => pc += if acc > i.k { i.jt } else { i.jf } as usize,
                0x35 => pc += if acc >= i.k { i.jt } else { i.jf } as usize,
                0x45 => pc += if acc & i.k != 0 { i.jt } else { i.jf } as usize,
                0x06 => return i.k,
                c => panic!("unexpected BPF opcode {c:#x}"),
            }
        }
    }

    /// A profile shaped like Docker's: deny by default with EPERM, allow a list, ENOSYS for
    /// clone3, personality allowed for two argument values only.
    pub fn docker_like() -> LinuxSeccomp {
        serde_json::from_str(
            r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
              {"names": ["read", "write", "openat", "close", "execve", "exit_group", "arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
              {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
              {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
              {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
              {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}
            ]}"#,
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{docker_like, verdict};
    use super::*;

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | 1;

    #[test]
    fn docker_like_profile_behaves_like_libseccomp() {
        let filters = compile(&docker_like()).unwrap();
        assert_eq!(filters.len(), 3, "base + errno(38) + kill");
        let a = [0; 6];
        assert_eq!(verdict(&filters, libc::SYS_read, a), ALLOW);
        assert_eq!(verdict(&filters, libc::SYS_mount, a), EPERM);
        assert_eq!(verdict(&filters, libc::SYS_clone3, a), libc::SECCOMP_RET_ERRNO | 38);
        assert_eq!(verdict(&filters, libc::SYS_ptrace, a), libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(verdict(&filters, libc::SYS_personality, [8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&filters, libc::SYS_personality, [0, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&filters, libc::SYS_personality, [4, 0, 0, 0, 0, 0]), EPERM);
        // clone without namespace flags is fine, CLONE_NEWNS (0x20000) is not.
        assert_eq!(verdict(&filters, libc::SYS_clone, [0x11, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&filters, libc::SYS_clone, [0x20000, 0, 0, 0, 0, 0]), EPERM);
        // 64-bit comparisons look at the upper half too.
        assert_eq!(verdict(&filters, libc::SYS_personality, [1 << 32, 0, 0, 0, 0, 0]), EPERM);
    }

    #[test]
    fn allow_by_default_profile_only_filters_the_listed_calls() {
        let p: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let filters = compile(&p).unwrap();
        assert_eq!(filters.len(), 1);
        assert_eq!(verdict(&filters, libc::SYS_mkdir, [0; 6]), EPERM);
        assert_eq!(verdict(&filters, libc::SYS_read, [0; 6]), ALLOW);
    }

    #[test]
    fn unconditional_rule_wins_over_conditional_ones() {
        let p: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        let filters = compile(&p).unwrap();
        assert_eq!(verdict(&filters, libc::SYS_personality, [3, 0, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn notify_is_refused_clearly() {
        let p: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap();
        assert!(compile(&p).unwrap_err().to_string().contains("SCMP_ACT_NOTIFY"));
    }
}
