#!/usr/bin/env bash
# Removes the network NAME and waits until the name is free (swarm removes networks asynchronously, and a
# create right after a removal can fail with "already exists"). When a service or container is still
# attached, fails naming them and removes nothing. Usage: network-remove.sh NAME [TIMEOUT]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='network-remove'

{ [ "$#" -ge 1 ] && [ "$#" -le 2 ]; } || sp_usage "network-remove.sh NAME [TIMEOUT]"
name=$1
timeout=${2:-60}
sp_check_name "$name" NAME
sp_check_timeout "$timeout" TIMEOUT
deadline=$(($(sp_now) + timeout))
users=()

id=$(sp_network_id "$name")
if [ -z "$id" ]; then
  echo "network $name: absent"
  exit 0
fi
sp_capture users sp_network_users "$id" "$name"
[ "${#users[@]}" -eq 0 ] || sp_die "network $name is still in use by: $(IFS=','; echo "${users[*]}"); removed nothing"
# Docker's own endpoints can outlive the last user by a moment ("has active endpoints"): with no user left,
# the removal is tried again until the timeout.
while ! out=$(sp_docker network rm "$id" 2>&1); do
  [ -n "$(sp_network_id "$name")" ] || break
  sp_capture users sp_network_users "$id" "$name"
  if [ "${#users[@]}" -gt 0 ] || [ "$(sp_now)" -ge "$deadline" ]; then
    sp_die "network $name: removal refused${users[*]:+, in use by: $(IFS=','; echo "${users[*]}")}: $out"
  fi
  sleep 0.5
done
while :; do
  still=$(sp_network_id "$name")
  [ -n "$still" ] || break
  if [ "$(sp_now)" -ge "$deadline" ]; then
    sp_die "network $name: still listed ${timeout}s after its removal; wait until docker network ls no longer lists it, then run again"
  fi
  sleep 0.5
done
echo "network $name: removed"
