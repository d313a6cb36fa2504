#!/usr/bin/env bash
# The leak-free teardown (see stack-teardown.sh) of several stacks at once, in phases across all of them:
# note every task, remove every service, wait until every noted task is gone from the swarm, then
# `docker stack rm` them all, then wait until all their networks are gone. The per-task wait is what keeps
# addresses from leaking (moby/swarmkit#3230), not doing one stack at a time; and one docker call per phase
# and poll, rather than one per stack, keeps a 2-core host from spending the outage starting docker clients.
# Usage: stacks-teardown.sh TIMEOUT STACK...
set -euo pipefail
if ! declare -F sp_die >/dev/null; then
  # shellcheck source=lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
sp_script='stacks-teardown'
[ "$#" -ge 2 ] || sp_usage "stacks-teardown.sh TIMEOUT STACK..."
timeout=$1
shift
sp_check_timeout "$timeout" TIMEOUT
for stack in "$@"; do
  sp_check_name "$stack" STACK
done
stacks=("$@")
deadline=$(($(sp_now) + timeout))

services=() one=() tasks=() left=() networks=()
for stack in "${stacks[@]}"; do
  sp_capture one sp_stack_services "$stack"
  services+=("${one[@]}")
done
if [ "${#services[@]}" -gt 0 ]; then
  sp_capture tasks sp_docker service ps -q --no-trunc "${services[@]}"
  sp_docker service rm "${services[@]}" >/dev/null
  while [ "${#tasks[@]}" -gt 0 ]; do
    sp_capture left sp_tasks_still_present "${tasks[@]}"
    [ "${#left[@]}" -eq 0 ] && break
    if [ "$(sp_now)" -ge "$deadline" ]; then
      sp_die "after ${timeout}s these tasks are still in the swarm: ${left[*]}"
    fi
    sleep 0.5
  done
fi

# The stacks' networks, as "ID NAME" lines, from one listing.
stack_networks() {
  sp_docker network ls --no-trunc --format '{{.ID}} {{.Name}} {{.Label "com.docker.stack.namespace"}}' |
    awk -v list="${stacks[*]}" 'BEGIN { n = split(list, s, " "); for (i = 1; i <= n; i++) want[s[i]] = 1 }
      NF == 3 && ($3 in want) { print $1, $2 }'
}

sp_docker stack rm "${stacks[@]}" >/dev/null 2>&1 || true
while :; do
  sp_capture networks stack_networks
  [ "${#networks[@]}" -eq 0 ] && break
  if [ "$(sp_now)" -ge "$deadline" ]; then
    what=()
    for net in "${networks[@]}"; do
      mapfile -t users < <(sp_network_users "${net%% *}" "${net#* }")
      what+=("${net#* }${users[*]:+ (used by ${users[*]})}")
    done
    sp_die "after ${timeout}s these networks are still there: ${what[*]}"
  fi
  sleep 0.5
  # A removal refused while an endpoint is still going away is retried until the deadline.
  sp_docker stack rm "${stacks[@]}" >/dev/null 2>&1 || true
done
echo "stacks removed: ${stacks[*]}"
