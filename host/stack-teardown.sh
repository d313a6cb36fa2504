#!/usr/bin/env bash
# The leak-free teardown of one stack. Removing a stack's own network while its tasks still exist in the
# swarm store leaks their addresses on the external overlay (moby/swarmkit#3230, moby#37338); waiting for
# the containers is not enough, the tasks must be gone. So: note the stack's task IDs, remove its services,
# wait until every noted task is gone, then `docker stack rm`, then wait until its networks are gone
# (`docker stack rm` is asynchronous, docker/cli#7304). Usage: stack-teardown.sh STACK [TIMEOUT]
set -euo pipefail
if ! declare -F sp_die >/dev/null; then
  # shellcheck source=lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
sp_script='stack-teardown'

{ [ "$#" -ge 1 ] && [ "$#" -le 2 ]; } || sp_usage "stack-teardown.sh STACK [TIMEOUT]"
stack=$1
timeout=${2:-180}
sp_check_name "$stack" STACK
sp_check_timeout "$timeout" TIMEOUT
deadline=$(($(sp_now) + timeout))
services=() tasks=() left=() networks=()

sp_capture services sp_stack_services "$stack"
if [ "${#services[@]}" -gt 0 ]; then
  sp_capture tasks sp_docker service ps -q --no-trunc "${services[@]}"
  sp_docker service rm "${services[@]}" >/dev/null
  while :; do
    sp_capture left sp_tasks_present "${tasks[@]}"
    [ "${#left[@]}" -eq 0 ] && break
    if [ "$(sp_now)" -ge "$deadline" ]; then
      sp_die "stack $stack: after ${timeout}s these tasks are still in the swarm: ${left[*]}"
    fi
    sleep 0.5
  done
fi

# Also removes the stack's configs and secrets. A removal refused while an endpoint is still going away is
# retried until the deadline.
sp_docker stack rm "$stack" >/dev/null 2>&1 || true
while :; do
  sp_capture networks sp_stack_networks "$stack"
  [ "${#networks[@]}" -eq 0 ] && break
  if [ "$(sp_now)" -ge "$deadline" ]; then
    what=()
    for net in "${networks[@]}"; do
      mapfile -t users < <(sp_network_users "${net%% *}" "${net#* }")
      what+=("${net#* }${users[*]:+ (used by ${users[*]})}")
    done
    sp_die "stack $stack: after ${timeout}s these networks are still there: ${what[*]}"
  fi
  sleep 0.5
  sp_docker stack rm "$stack" >/dev/null 2>&1 || true
done
echo "stack $stack: removed"
