#!/usr/bin/env bash
# Tears one sandbox instance down: stops the dockerd that up.sh started (and its containerd), unmounts what
# it left under its roots, deletes its network namespace and its state. Idempotent; other instances and any
# other dockerd on the machine are left alone. Usage: SANDBOX=name bash sandbox/down.sh [--keep-state]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"

keep_state=false
for arg in "$@"; do
  case $arg in
    --keep-state) keep_state=true ;;
    *) sandbox_die "unknown option '$arg' (expected --keep-state)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || sandbox_die "needs root"

stop_pid() {
  local pid=$1 what=$2 i
  [ -d "/proc/$pid" ] || return 0
  sandbox_say "stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 120; i++)); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.5
  done
  sandbox_say "$what (pid $pid) still running after 60 s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

if pid=$(sandbox_dockerd_pid); then
  stop_pid "$pid" dockerd
fi
# dockerd normally stops its own containerd; one left behind (dockerd killed) is found by its pidfile.
containerd_pidfile=$sandbox_exec/containerd/containerd.pid
if [ -r "$containerd_pidfile" ]; then
  pid=$(<"$containerd_pidfile")
  if [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] \
    && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF "$sandbox_exec"; then
    stop_pid "$pid" containerd
  fi
fi

# Overlay mounts and network-namespace bind mounts that a killed dockerd leaves behind, deepest first.
while read -r mnt; do
  umount -l "$mnt" 2>/dev/null || true
done < <(awk -v a="$sandbox_state/" -v b="$sandbox_exec/" \
  'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r)

if ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$sandbox_netns"; then
  ip netns del "$sandbox_netns"
fi
rm -f "$sandbox_sock"
rm -rf "$sandbox_exec"
if [ "$keep_state" = false ]; then
  rm -rf "$sandbox_state"
fi
sandbox_say "down"
