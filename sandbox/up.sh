#!/usr/bin/env bash
# Brings up one sandbox instance from nothing: a dockerd of its own (own data root, exec root, socket and,
# when the kernel allows it, own network namespace), a single-node swarm on loopback, and the stand-in image.
# Idempotent. Usage: SANDBOX=name bash sandbox/up.sh [--env] [--restart]
#   --env      print the shell exports for this instance on stdout (eval "$(bash sandbox/up.sh --env)")
#   --restart  stop and start the instance's dockerd, keeping its swarm state (what a host reboot does)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"

print_env=false
restart=false
for arg in "$@"; do
  case $arg in
    --env) print_env=true ;;
    --restart) restart=true ;;
    *) sandbox_die "unknown option '$arg' (expected --env or --restart)" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || sandbox_die "needs root (starts dockerd, creates a network namespace)"

install_missing() {
  local need=() pkg
  for pkg in docker.io busybox-static iproute2 util-linux; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
  done
  [ "${#need[@]}" -eq 0 ] && return 0
  sandbox_say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

# A network namespace per instance keeps docker0, docker_gwbridge, iptables and the swarm ports apart, so
# instances do not see each other. Without it (no CAP_SYS_ADMIN), one instance runs in the host namespace.
ensure_netns() {
  if [ "${SANDBOX_NETNS:-1}" = 0 ]; then
    return 1
  fi
  if ! ip netns list | awk '{print $1}' | grep -qxF "$sandbox_netns"; then
    if ! ip netns add "$sandbox_netns" 2>/dev/null; then
      sandbox_say "warning: cannot create a network namespace; dockerd shares the host's (one instance only)"
      return 1
    fi
  fi
  ip -n "$sandbox_netns" link set lo up
}

# overlay2 cannot stack on an overlay filesystem (a container's root, for instance); vfs works anywhere.
storage_driver() {
  if [ -n "${SANDBOX_STORAGE_DRIVER:-}" ]; then
    echo "$SANDBOX_STORAGE_DRIVER"
  elif [ "$(stat -f -c %T "$sandbox_state")" = overlayfs ] || ! grep -qw overlay /proc/filesystems; then
    echo vfs
  else
    echo overlay2
  fi
}

stop_dockerd() {
  local pid i
  pid=$(sandbox_dockerd_pid) || return 0
  sandbox_say "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  for ((i = 0; i < 120; i++)); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.5
  done
  sandbox_say "dockerd (pid $pid) still running after 60 s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

start_dockerd() {
  local driver use_netns=$1 i
  driver=$(storage_driver)
  mkdir -p "$sandbox_state/data" "$sandbox_exec"
  # An empty config keeps the machine's daemon.json (if any) out of the sandbox.
  [ -f "$sandbox_state/daemon.json" ] || echo '{}' >"$sandbox_state/daemon.json"
  local cmd=(dockerd
    --data-root "$sandbox_state/data" --exec-root "$sandbox_exec" --pidfile "$sandbox_pidfile"
    --config-file "$sandbox_state/daemon.json" -H "unix://$sandbox_sock"
    --storage-driver "$driver" --cgroup-parent "swarm-sandbox-$sandbox_name"
    # dockerd uses the machine's containerd when one runs: keep each instance's containers apart there.
    --containerd-namespace "swarm-sandbox-$sandbox_name"
    --containerd-plugins-namespace "swarm-sandbox-$sandbox_name-plugins")
  if [ "$use_netns" = true ]; then
    cmd=(nsenter "--net=/run/netns/$sandbox_netns" "${cmd[@]}")
  fi
  sandbox_say "starting dockerd (storage driver $driver, log $sandbox_log)"
  setsid "${cmd[@]}" </dev/null >>"$sandbox_log" 2>&1 &
  for ((i = 0; i < 120; i++)); do
    sandbox_responds && return 0
    if ! kill -0 "$!" 2>/dev/null; then
      tail -n 5 "$sandbox_log" >&2
      sandbox_die "dockerd exited during start-up; see $sandbox_log"
    fi
    sleep 0.5
  done
  sandbox_die "dockerd did not answer on $sandbox_sock within 60 s; see $sandbox_log"
}

ensure_swarm() {
  local state i
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" != active ]; then
    sandbox_say "initialising a single-node swarm on 127.0.0.1"
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
  fi
  # After a restart the node is "active" before the manager has a leader; callers need the manager.
  for ((i = 0; i < 120; i++)); do
    docker node ls -q >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  sandbox_die "the swarm manager did not answer within 60 s; see $sandbox_log"
}

# Nothing can be pulled: the stand-in image is a busybox rootfs. Its shell traps SIGTERM, so a task stops
# at once instead of waiting out the 10 s grace period (busybox httpd as pid 1 ignores SIGTERM).
ensure_image() {
  docker image inspect "$sandbox_image" >/dev/null 2>&1 && return 0
  local rootfs applet
  rootfs=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the trap must remove this directory
  trap "rm -rf '$rootfs'" RETURN
  mkdir -p "$rootfs/bin" "$rootfs/www" "$rootfs/tmp" "$rootfs/etc"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in sh httpd sleep wget cat ls ip hostname nslookup; do
    ln -s busybox "$rootfs/bin/$applet"
  done
  echo ok >"$rootfs/www/index.html"
  sandbox_say "building $sandbox_image from busybox-static"
  tar -C "$rootfs" -c . | docker import \
    -c 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; httpd -f -p 80 -h /www & wait"]' \
    - "$sandbox_image" >/dev/null
}

install_missing
mkdir -p "$sandbox_state" "$sandbox_exec"
use_netns=false
if ensure_netns; then use_netns=true; fi
if [ "$restart" = true ]; then stop_dockerd; fi
if ! sandbox_dockerd_pid >/dev/null || ! sandbox_responds; then
  if sandbox_responds; then
    sandbox_die "something else answers on $sandbox_sock; refusing to start a second dockerd"
  fi
  stop_dockerd
  start_dockerd "$use_netns"
fi
ensure_swarm
ensure_image
sandbox_say "ready: DOCKER_HOST=$DOCKER_HOST"
if [ "$print_env" = true ]; then
  printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"
  printf 'export SANDBOX_DOCKERD_LOG=%q\n' "$sandbox_log"
fi
