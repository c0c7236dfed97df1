# Sourced by the benchmarks that measure berth against Docker: starts a private Docker daemon
# (Debian's docker.io: its own data root, exec root, pidfile and socket under $W, no bridge, no
# firewall rules, so it cannot touch berth's networks or the host's), exports DOCKER_HOST, and
# stops it, with every container of either engine, when the script exits.
# Needs: W (a work directory), B (the berth binary). Sets: D (the docker CLI), dockerd_pid.
D=/usr/bin/docker
# Bridges the daemon makes for user networks outlive it: the ones not here before are removed.
docker_bridges() { ip -br link | { grep -oE '^br-[0-9a-f]{12}' || true; } | sort; }
bridges_before=$(docker_bridges)
export DOCKER_HOST="unix://$W/docker.sock" DOCKER_CONFIG="$W/docker-config"
dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" -H "$DOCKER_HOST" \
  --iptables=false --ip-forward=false --bridge=none \
  --containerd-namespace berth-bench --containerd-plugins-namespace berth-bench-plugins >"$W/dockerd.log" 2>&1 &
dockerd_pid=$!
cleanup() {
  set +e # every step runs, whatever the one before it says
  "$B" --root "$W/root" rm -f $("$B" --root "$W/root" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  $D rm -f $($D ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  kill "$dockerd_pid" 2>/dev/null || true
  wait "$dockerd_pid" 2>/dev/null || true
  for b in $(comm -13 <(echo "$bridges_before") <(docker_bridges)); do ip link delete "$b" 2>/dev/null; done
  if [ -n "${http_pid:-}" ]; then kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null; fi
  grep " $W/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$W"
  return 0
}
trap cleanup EXIT
for _ in $(seq 300); do $D version >/dev/null 2>&1 && break; sleep 0.1; done
