#!/usr/bin/env bash
# Waits until a stack is healthy: every service runs its desired replicas, and every running task attached
# to NETWORK has its address there inside SUBNET (after the network was recreated, a task still holding an
# address of the old subnet is not healthy). NETWORK and SUBNET may both be '' for a stack not on the network.
# Usage: stack-health.sh STACK NETWORK SUBNET [TIMEOUT]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='stack-health'

{ [ "$#" -ge 3 ] && [ "$#" -le 4 ]; } || sp_usage "stack-health.sh STACK NETWORK SUBNET [TIMEOUT]"
stack=$1
network=$2
subnet=$3
timeout=${4:-300}
sp_check_name "$stack" STACK
# A stack not attached to the network (backups) is checked for its replicas only: NETWORK and SUBNET are both ''.
if [ -n "$network" ] || [ -n "$subnet" ]; then
  sp_check_name "$network" NETWORK
  sp_check_cidr "$subnet" SUBNET
fi
sp_check_timeout "$timeout" TIMEOUT
deadline=$(($(sp_now) + timeout))
services=() tasks=() rows=()

# Prints what is not healthy yet, one item a line; prints nothing when the stack is healthy.
problems() {
  local name replicas id state attachments attachment net addr addrs
  sp_capture services sp_docker service ls --filter "label=com.docker.stack.namespace=$stack" \
    --format '{{.Name}} {{.Replicas}}'
  if [ "${#services[@]}" -eq 0 ]; then
    echo "no service of stack $stack exists"
    return 0
  fi
  local pending=false
  for row in "${services[@]}"; do
    read -r name replicas _ <<<"$row"
    if ! [[ $replicas =~ ^([0-9]+)/([0-9]+) ]] || [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]; then
      echo "service $name has $replicas replicas running"
      pending=true
    fi
  done
  [ "$pending" = false ] || return 0
  sp_capture tasks sp_docker service ps -q --no-trunc --filter desired-state=running "${services[@]%% *}"
  [ "${#tasks[@]}" -gt 0 ] || return 0
  # A task may vanish between the two calls: that is a retry, not a failure.
  if ! sp_capture rows sp_docker inspect --type task --format \
    '{{.ID}} {{.Status.State}}{{range .NetworksAttachments}} {{.Network.Spec.Name}}={{range .Addresses}}{{.}},{{end}}{{end}}' \
    "${tasks[@]}" 2>/dev/null; then
    echo "tasks changed while being read"
    return 0
  fi
  for row in "${rows[@]}"; do
    read -r id state attachments <<<"$row"
    [ "$state" = running ] || continue
    for attachment in $attachments; do
      net=${attachment%%=*}
      { [ -n "$network" ] && [ "$net" = "$network" ]; } || continue
      IFS=, read -r -a addrs <<<"${attachment#*=}"
      for addr in "${addrs[@]}"; do
        [ -n "$addr" ] || continue
        sp_ip_in_cidr "$addr" "$subnet" || echo "task $id has address $addr on $network, outside $subnet"
      done
    done
  done
  # A global service counts only the tasks it wants running: a node that rejects its task because of a stale vxlan
  # interface drops out of the count (measured: 1/1 on two nodes), so the count alone would call the stack healthy.
  sp_stale_vxlan "${services[@]%% *}"
}

while :; do
  report=$(problems) || exit 1
  [ -z "$report" ] && break
  mapfile -t left <<<"$report"
  if [ "$(sp_now)" -ge "$deadline" ]; then
    # A node that cannot join an overlay rejects the stack's tasks until the fix: named with it.
    stale=() ids=()
    mapfile -t ids < <(sp_stack_services "$stack" 2>/dev/null || true)
    [ "${#ids[@]}" -eq 0 ] || mapfile -t stale < <(sp_stale_vxlan "${ids[@]}" 2>/dev/null || true)
    [[ ${left[*]} == *"stale vxlan interface"* ]] || left+=("${stale[@]}")
    sp_die "stack $stack: not healthy after ${timeout}s: $(IFS=';'; echo "${left[*]}"); see docker service ps of those services, then run again"
  fi
  sleep 0.5
done
echo "stack $stack: healthy"
