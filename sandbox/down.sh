#!/usr/bin/env bash
# Tears one sandbox instance down: stops the dockerds that up.sh started for it (the manager's and, for a
# multi-node instance, every worker's, found from their state on disk whatever SANDBOX_NODES says) and their
# containerds, unmounts what they left under their roots, deletes their network namespaces (and the hub's)
# and their state. Idempotent; other instances and any other dockerd on the machine are left alone.
# Usage: SANDBOX=name bash sandbox/down.sh [--keep-state]
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
sandbox_refuse_worker

# Container shims of the selected node that outlived its containerd (dockerd killed): their containers are
# killed, then they are (their containerd namespace, swarm-sandbox-<node>, names them).
stop_leftover_shims() {
  local proc pid args
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    args=$(tr '\0' '\n' 2>/dev/null <"$proc/cmdline") || continue
    [[ ${args%%$'\n'*} == *containerd-shim* ]] || continue
    grep -qxF "swarm-sandbox-$sandbox_instance" <<<"$args" || continue
    sandbox_say "killing a left-over containerd shim (pid $pid) and its container"
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# Everything of the selected node: its dockerd, a containerd left behind, mounts, namespace, state.
node_down() {
  sandbox_stop_node 60
  stop_leftover_shims
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
}

mapfile -t workers < <(sandbox_workers_on_disk)
for worker in "${workers[@]}"; do
  sandbox_select "$worker"
  node_down
  sandbox_say "down"
done
sandbox_select "$sandbox_name"
# The manager's sshd (sshd.sh) keeps its pidfile in the state removed below. The front link is removed by
# name: deleting the namespace only unlinks it, and a process still inside would keep it (and the link) alive.
bash "$here/sshd.sh" --stop
sandbox_remove_front_link
node_down
if ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$sandbox_hub_netns"; then
  ip netns del "$sandbox_hub_netns"
fi
sandbox_say "down"
