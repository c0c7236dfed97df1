#!/bin/sh
# Prints what a container looks like from inside, normalised so that two runtimes given the same
# bundle print the same text (tests/integration/runtime.rs diffs berth's output against runc's).
echo "hostname=$(hostname)"
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"
echo "pid=$$ ppid=$PPID"
echo "cwd=$(pwd)"
echo "umask=$(umask)"
echo "nofile=$(ulimit -n) nproc=$(ulimit -u)"
echo "oom_score_adj=$(cat /proc/self/oom_score_adj)"
echo "--- env"
env | sort
echo "--- mounts"
# mount point, fs type, source, per-mount options, superblock options (ids and devices vary)
awk '{ for (i = 7; $i != "-"; i++) ; print $5, $(i+1), $(i+2), $6, $(i+3) }' /proc/self/mountinfo
echo "--- dev"
ls -l /dev | awk '{ print $1, $3, $4, $5, $6, $NF }'
echo "--- cgroup"
for f in /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory.max \
    /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu.max; do
    [ -e "$f" ] && echo "$f=$(cat "$f")"
done
echo "--- masked"
for p in /proc/kcore /proc/keys /sys/firmware /proc/acpi; do
    echo "$p: $(cat $p 2>&1 | head -c 60 | wc -c)"
done
touch /proc/sys/kernel/x 2>/dev/null && echo "proc/sys writable" || echo "proc/sys read-only"
touch /probe-root-write 2>/dev/null && echo "rootfs writable" || echo "rootfs read-only"
