//! Device rules (`linux.resources.devices`) as a cgroup v2 eBPF program.
//!
//! cgroup v2 has no `devices.allow` file: access to device nodes is decided by a
//! BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. [`program`] compiles the rules
//! to one, with v1's semantics: the last rule that matches decides, nothing matching means
//! deny. The context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! with the device type (1 block, 2 char) in the low 16 bits of `access_type` and the access
//! (1 mknod, 2 read, 4 write) in the high 16 bits.
//!
//! Each rule becomes a block that jumps to the next block on any mismatch and otherwise returns
//! its verdict; blocks are emitted last rule first, so the first block that matches is the
//! last matching rule. A rule matching everything ends the program there.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// One eBPF instruction, encoded as the kernel's `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn { code, dst, src, off, imm }
    }

    /// The 8 bytes the kernel reads.
    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

// Opcodes (linux/bpf.h, linux/bpf_common.h).
const LDX_MEM_W: u8 = 0x61;
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_JNE_X: u8 = 0x5d;
const JMP_EXIT: u8 = 0x95;

const R0: u8 = 0;
const R1: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |acc, c| {
        acc | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

/// Compiles the rules (in config order) to an eBPF program.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![
        Insn::new(LDX_MEM_W, TYPE, R1, 0, 0),
        Insn::new(ALU32_AND_K, TYPE, 0, 0, 0xffff),
        Insn::new(LDX_MEM_W, ACCESS, R1, 0, 0),
        Insn::new(ALU32_RSH_K, ACCESS, 0, 0, 16),
        Insn::new(LDX_MEM_W, MAJOR, R1, 4, 0),
        Insn::new(LDX_MEM_W, MINOR, R1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        // Conditions as (instructions), each ending in a "jump to next block" placeholder.
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps: Vec<usize> = Vec::new();
        match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => {}
            t => {
                let code = if t == LinuxDeviceType::B { 1 } else { 2 };
                jumps.push(block.len());
                block.push(Insn::new(JMP_JNE_K, TYPE, 0, 0, code));
            }
        }
        let access = access_bits(rule.access().as_deref().unwrap_or("rwm"));
        if access != 7 {
            // Every requested bit must be allowed: (requested & allowed) == requested.
            block.push(Insn::new(ALU32_MOV_X, R1, ACCESS, 0, 0));
            block.push(Insn::new(ALU32_AND_K, R1, 0, 0, access));
            jumps.push(block.len());
            block.push(Insn::new(JMP_JNE_X, R1, ACCESS, 0, 0));
        }
        for (reg, v) in [(MAJOR, rule.major()), (MINOR, rule.minor())] {
            if let Some(v) = v.filter(|v| *v >= 0) {
                jumps.push(block.len());
                block.push(Insn::new(JMP_JNE_K, reg, 0, 0, v as i32));
            }
        }
        block.push(Insn::new(ALU64_MOV_K, R0, 0, 0, rule.allow() as i32));
        block.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        let unconditional = jumps.is_empty();
        for j in jumps {
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
        if unconditional {
            // Matches everything: the earlier rules (and the default) can never be reached, and
            // the verifier rejects unreachable instructions.
            return p;
        }
    }
    p.push(Insn::new(ALU64_MOV_K, R0, 0, 0, 0));
    p.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on (type, access, major, minor) like the kernel would.
    fn run(p: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0;
        loop {
            let i = p[pc];
            pc += 1;
            let (d, s) = (i.dst as usize, i.src as usize);
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    r[d] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[d] = u64::from(r[d] as u32 & i.imm as u32),
                ALU32_RSH_K => r[d] = u64::from((r[d] as u32) >> i.imm),
                ALU32_MOV_X => r[d] = u64::from(r[s] as u32),
                ALU64_MOV_K => r[d] = i.imm as i64 as u64,
                JMP_JNE_K if r[d] != i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JNE_X if r[d] != r[s] => pc += i.off as usize,
                JMP_JNE_K | JMP_JNE_X => {}
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    const CHAR: u32 = 2;
    const BLOCK: u32 = 1;
    const MKNOD: u32 = 1;
    const READ: u32 = 2;
    const WRITE: u32 = 4;

    #[test]
    fn docker_rules_allow_only_the_listed_devices() {
        let mut r = rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":true,"type":"c","major":136,"access":"rwm"}]"#,
        );
        r.extend(crate::cgroups::default_device_rules());
        let p = program(&r);
        assert_eq!(run(&p, CHAR, READ | WRITE, 1, 3), 1, "/dev/null");
        assert_eq!(run(&p, CHAR, READ, 136, 7), 1, "any pty");
        assert_eq!(run(&p, BLOCK, READ, 8, 0), 0, "a disk");
        assert_eq!(run(&p, BLOCK, MKNOD, 8, 0), 1, "mknod of anything is allowed, opening is not");
        assert_eq!(run(&p, CHAR, READ, 10, 200), 0, "/dev/net/tun is not listed");
    }

    #[test]
    fn last_matching_rule_wins_and_access_must_be_covered() {
        let p = program(&rules(
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":5,"access":"w"}]"#,
        ));
        assert_eq!(run(&p, CHAR, READ, 1, 5), 1, "reading /dev/zero is allowed");
        assert_eq!(run(&p, CHAR, WRITE, 1, 5), 0, "writing it is denied");
        // A rule matches a request it fully covers (runc's filter does the same).
        assert_eq!(run(&p, CHAR, READ | WRITE, 1, 5), 1, "r+w is not covered by a w-only deny rule");
        assert_eq!(run(&p, BLOCK, WRITE, 1, 5), 1, "the deny rule is for char devices only");
        let p = program(&rules(r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":"r"}]"#));
        assert_eq!(run(&p, CHAR, READ, 1, 3), 1);
        assert_eq!(run(&p, CHAR, READ | WRITE, 1, 3), 0);
        assert_eq!(run(&p, CHAR, READ, 1, 4), 0);
    }

    /// The real kernel runs the program: a shell moved into a cgroup2 directory with a filter
    /// denying /dev/null can no longer open it, and can still open /dev/zero.
    #[test]
    #[ignore = "needs root"]
    fn kernel_enforces_the_filter() {
        use crate::syscall::Syscall;
        assert!(nix::unistd::geteuid().is_root(), "needs root (this test is ignored unless asked for)");
        let layout = crate::cgroups::Layout::detect().unwrap();
        let Some(h) = layout.hierarchies.iter().find(|h| h.v2) else {
            eprintln!("skipped: no cgroup2 hierarchy");
            return;
        };
        let dir = h.mountpoint.join(format!("berth-devfilter-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        struct Remove(std::path::PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                for _ in 0..100 {
                    if std::fs::remove_dir(&self.0).is_ok() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
        let _rm = Remove(dir.clone());
        let p = program(&rules(
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"rwm"}]"#,
        ));
        crate::syscall::LinuxSyscall.attach_device_filter(&dir, &p).unwrap();
        let script = format!(
            "echo $$ > {}/cgroup.procs && head -c 0 /dev/null && echo opened; head -c 1 /dev/zero | wc -c",
            dir.display()
        );
        let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"), "{out:?}");
    }

    #[test]
    fn encoding_matches_struct_bpf_insn() {
        let i = Insn::new(LDX_MEM_W, 4, 1, 4, 0);
        assert_eq!(i.encode(), [0x61, 0x14, 4, 0, 0, 0, 0, 0]);
        assert_eq!(Insn::new(ALU64_MOV_K, 0, 0, 0, -1).encode(), [0xb7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    }
}
