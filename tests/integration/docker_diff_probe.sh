# What a process sees from inside its container, one fact a line, for the differential suite
# (docker_diff.rs runs it through `docker run` and `berth run` with the same flags and compares).
echo "id: $(id)"
echo "hostname: $(hostname)"
echo "domainname: $(cat /proc/sys/kernel/domainname)"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status | tr '\t' ' '
echo "oom_score_adj: $(cat /proc/self/oom_score_adj)"
ulimit -a | sed 's/^/ulimit: /'
echo "shm: $(df -k /dev/shm | awk 'NR==2{print $2}')"
for k in net/ipv4/ip_forward net/core/somaxconn kernel/shmmax kernel/msgmax fs/mqueue/msg_max; do
  echo "sysctl $k: $(cat /proc/sys/$k)"
done
echo "dev: $(ls /dev | tr '\n' ' ')"
for d in /dev/*; do [ -c "$d" ] && echo "chardev: $(ls -l "$d" | awk '{print $1, $5, $6, $NF}')"; done
mount | awk '{print "mount: " $3 " " $5 " " $6}' | sort
for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes memory/memory.soft_limit_in_bytes \
  memory/memory.oom_control cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpuset/cpuset.cpus \
  cpuset/cpuset.mems pids/pids.max; do
  echo "cgroup $f: $(cat /sys/fs/cgroup/$f 2>&1 | tr '\n' ' ')"
done
for n in pid ipc uts net cgroup; do echo "ns $n: $(readlink /proc/self/ns/$n)"; done
sed 's/^/hosts: /' /etc/hosts
echo "resolv: $(grep -v '^#' /etc/resolv.conf | tr '\n' ' ')"
echo "env: $(env | grep -v -e '^HOSTNAME=' -e '^PWD=' -e '^SHLVL=' | sort | tr '\n' ' ')"
echo "pwd: $(pwd)"
echo "touch /: $(touch /probe-write 2>&1 && echo ok)"
