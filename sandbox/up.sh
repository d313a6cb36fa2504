#!/usr/bin/env bash
# Brings up one sandbox instance from nothing: a dockerd of its own (own data root, exec root, socket and,
# when the kernel allows it, own network namespace), a single-node swarm on loopback, the stand-in image and,
# on the manager, the traefik stack's images (traefik from scripts/traefik-build.sh, the socket proxy), and the
# front link: a veth from the host's namespace to the manager's, where traefik's port 80 answers.
# With SANDBOX_NODES=N (1..9) a swarm of N nodes instead: the manager (the instance's own dockerd) and N-1
# workers (<instance>-w1, ...), each a dockerd in its own network and UTS namespace, joined over veths to a
# bridge in a hub namespace; the manager listens on its bridge address, not on loopback. SANDBOX_NODES unset:
# as many nodes as the instance has. Idempotent.
# SANDBOX_DOCKER picks the engine every node runs (20.10, 28.5, 29.0, 29 (the default) or system: see
# scripts/docker-build.sh); an instance keeps the engine it was made with.
# Usage: [SANDBOX_NODES=N] [SANDBOX_DOCKER=E] SANDBOX=name bash sandbox/up.sh [--env] [--restart]
#   --env      print the shell exports for this instance on stdout (eval "$(bash sandbox/up.sh --env)")
#   --restart  stop and start the manager's dockerd, keeping its swarm state (what a host reboot does)
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
  for pkg in docker.io busybox-static haproxy iproute2 util-linux libseccomp-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
  done
  [ "${#need[@]}" -eq 0 ] && return 0
  sandbox_say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

ensure_swarm() {
  local state addr i
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" != active ]; then
    if [ "$nodes" -eq 1 ]; then
      sandbox_say "initialising a single-node swarm on 127.0.0.1"
      docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
    else
      addr=$(sandbox_node_addr 0)
      sandbox_say "initialising a swarm of $nodes nodes, manager on $addr"
      docker swarm init --advertise-addr "$addr" --listen-addr "$addr:2377" >/dev/null
    fi
  fi
  # After a restart the node is "active" before the manager has a leader; callers need the manager.
  for ((i = 0; i < 120; i++)); do
    docker node ls -q >/dev/null 2>&1 && break
    sleep 0.5
  done
  [ "$i" -lt 120 ] || sandbox_die "the swarm manager did not answer within 60 s; see $sandbox_log"
  if [ "$nodes" -gt 1 ] && [ "$(docker info --format '{{.Swarm.NodeAddr}}')" != "$(sandbox_node_addr 0)" ]; then
    sandbox_die "the swarm advertises $(docker info --format '{{.Swarm.NodeAddr}}'), not $(sandbox_node_addr 0): take the instance down first (down.sh)"
  fi
}

# SANDBOX_NODES unset: as many nodes as the instance was created with (1 for a new one).
recorded=$(sandbox_recorded_nodes)
nodes=${SANDBOX_NODES:-${recorded:-1}}
if ! [[ $nodes =~ ^[1-9]$ ]] || [ "$nodes" -gt "$sandbox_max_nodes" ]; then
  sandbox_die "SANDBOX_NODES='$nodes' is not a number of nodes from 1 to $sandbox_max_nodes"
fi
if [ -n "$recorded" ] && [ "$recorded" != "$nodes" ]; then
  sandbox_die "the instance has $recorded node(s), not SANDBOX_NODES=$nodes: take it down first (down.sh)"
fi
sandbox_refuse_worker
if [ "$nodes" -gt 1 ]; then
  [ "${SANDBOX_NETNS:-1}" != 0 ] || sandbox_die "SANDBOX_NODES=$nodes needs network namespaces (SANDBOX_NETNS=0 is set)"
  for ((n = 1; n < nodes; n++)); do
    worker=$(sandbox_node_instance "$n")
    [[ $worker =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,26}$ ]] || sandbox_die "worker name '$worker' is too long"
    # A stand-alone instance of that name is not ours to take over.
    if { [ -d "/var/lib/swarm-sandbox/$worker" ] || [ -e "/run/swarm-sandbox/$worker.sock" ]; } \
      && ! sandbox_workers_on_disk | grep -qxF "$worker"; then
      sandbox_die "an instance named '$worker' exists on its own; the worker w$n would use its paths"
    fi
  done
fi

install_missing
sandbox_check_engine
mkdir -p "$sandbox_state" "$sandbox_exec"
echo "$nodes" >"$sandbox_nodes_file"
use_netns=false
if [ "${SANDBOX_NETNS:-1}" != 0 ]; then
  if sandbox_ensure_netns "$sandbox_netns"; then
    use_netns=true
  else
    sandbox_say "warning: cannot create a network namespace; dockerd shares the host's (one instance only)"
  fi
fi
if [ "$use_netns" = true ]; then
  sandbox_ensure_front_link
  front_addr=$sandbox_front_ns_addr
else
  # dockerd shares the host's namespace: what it publishes answers on the host's own addresses.
  front_addr=127.0.0.1
fi
manager_hostname=
if [ "$nodes" -gt 1 ]; then
  [ "$use_netns" = true ] || sandbox_die "SANDBOX_NODES=$nodes needs network namespaces, and none can be created"
  sandbox_ensure_hub_link 0
  manager_hostname=$(sandbox_node_hostname 0)
fi
if [ "$restart" = true ]; then sandbox_stop_node 60; fi
sandbox_ensure_dockerd "$use_netns" "$manager_hostname"
ensure_swarm
sandbox_ensure_image
sandbox_ensure_socket_proxy_image
sandbox_ensure_traefik_image
worker_hosts=() worker_logs=() worker_names=()
for ((n = 1; n < nodes; n++)); do
  sandbox_up_worker "$n"
  worker_hosts+=("$DOCKER_HOST") worker_logs+=("$sandbox_log") worker_names+=("w$n")
done
sandbox_select "$sandbox_name"
if [ "$nodes" -eq 1 ]; then
  sandbox_say "ready: DOCKER_HOST=$DOCKER_HOST"
else
  sandbox_say "ready ($nodes nodes; workers ${worker_names[*]}): DOCKER_HOST=$DOCKER_HOST"
fi
if [ "$print_env" = true ]; then
  printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"
  printf 'export SANDBOX_DOCKERD_LOG=%q\n' "$sandbox_log"
  printf 'export SANDBOX_NODES=%q\n' "$nodes"
  printf 'export SANDBOX_DOCKER=%q\n' "$sandbox_engine"
  # The traefik stack's compose file binds this socket into its socket proxy.
  printf 'export SANDBOX_DOCKER_SOCKET=%q\n' "$sandbox_sock"
  # Where the host reaches the manager's host-mode ports (traefik: http://$SANDBOX_FRONT_ADDR/).
  printf 'export SANDBOX_FRONT_ADDR=%q\n' "$front_addr"
  # Space-separated lists in single quotes (printf %q would escape each space with a backslash, which
  # readers that only strip '...', like harness/engine/multinode.ts, would keep).
  list="${worker_names[*]}" && printf 'export SANDBOX_WORKERS=%s\n' "${list@Q}"
  list="${worker_hosts[*]}" && printf 'export SANDBOX_WORKER_HOSTS=%s\n' "${list@Q}"
  list="${worker_logs[*]}" && printf 'export SANDBOX_WORKER_DOCKERD_LOGS=%s\n' "${list@Q}"
fi
