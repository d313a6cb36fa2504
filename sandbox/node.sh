#!/usr/bin/env bash
# Stops or starts one worker of a multi-node sandbox instance (up.sh with SANDBOX_NODES=N), to simulate a
# node that dies and comes back. Usage: SANDBOX=name bash sandbox/node.sh stop|start NODE   (NODE: w1..wN-1)
#   stop   TERM its dockerd, wait up to SANDBOX_STOP_TIMEOUT seconds (default 20), then KILL; its containers
#          stop with it (a containerd left behind is stopped too); its state, namespace and link are kept
#   start  start its dockerd again; it rejoins by itself (its swarm state is kept). Waits until the manager
#          shows it Ready
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"

usage() { echo "usage: SANDBOX=name bash sandbox/node.sh stop|start NODE (NODE: w1..wN-1)" >&2; exit 2; }
[ "$#" -eq 2 ] || usage
action=$1 node=$2
case $action in stop | start) ;; *) usage ;; esac
[ "$(id -u)" -eq 0 ] || sandbox_die "needs root"
sandbox_refuse_worker
timeout=${SANDBOX_STOP_TIMEOUT:-20}
[[ $timeout =~ ^[1-9][0-9]*$ ]] || sandbox_die "SANDBOX_STOP_TIMEOUT='$timeout' is not a positive number of seconds"

nodes=$(sandbox_recorded_nodes)
[ -n "$nodes" ] || sandbox_die "no instance '$sandbox_name' exists (start it with SANDBOX_NODES=N bash sandbox/up.sh)"
if [ "$nodes" -le 1 ]; then
  sandbox_die "NODE '$node': instance '$sandbox_name' is a single node and has no workers (SANDBOX_NODES=N bash sandbox/up.sh)"
fi
if ! [[ $node =~ ^w([1-9][0-9]*)$ ]] || [ "${BASH_REMATCH[1]}" -ge "$nodes" ]; then
  sandbox_die "NODE '$node' is not a worker of instance '$sandbox_name' (its workers: $(seq -f 'w%g' -s ' ' 1 $((nodes - 1))))"
fi
index=${BASH_REMATCH[1]}
sandbox_select "$(sandbox_node_instance "$index")"

case $action in
  stop)
    if ! sandbox_dockerd_pid >/dev/null && ! sandbox_containerd_pid >/dev/null; then
      sandbox_say "not running"
      exit 0
    fi
    sandbox_stop_node "$timeout"
    sandbox_say "stopped (state kept; start it with: SANDBOX=$sandbox_name bash sandbox/node.sh start $node)"
    ;;
  start)
    [ -d "$sandbox_state/data" ] || sandbox_die "worker $node has no state; run SANDBOX=$sandbox_name bash sandbox/up.sh"
    sandbox_select "$sandbox_name"
    sandbox_responds || sandbox_die "the manager does not answer on $sandbox_sock; run SANDBOX=$sandbox_name bash sandbox/up.sh"
    sandbox_up_worker "$index"
    sandbox_say "running and Ready"
    ;;
esac
