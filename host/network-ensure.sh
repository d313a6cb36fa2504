#!/usr/bin/env bash
# Creates the attachable swarm overlay NAME with SUBNET, or adopts an existing one with exactly that subnet;
# refuses one with another subnet (recreating it is the maintenance's job, not a side effect). A create that
# overlaps another network can "succeed" with an empty driver (moby/swarmkit#2398), so the result is checked.
# Prints the network's ID. Usage: network-ensure.sh NAME SUBNET GATEWAY LABEL...   (GATEWAY may be '')
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='network-ensure'

[ "$#" -ge 3 ] || sp_usage "network-ensure.sh NAME SUBNET GATEWAY LABEL..."
name=$1
subnet=$2
gateway=$3
shift 3
labels=("$@")
sp_check_name "$name" NAME
sp_check_cidr "$subnet" SUBNET
if [ -n "$gateway" ]; then
  sp_ip_to_int "$gateway" >/dev/null || sp_die "GATEWAY '$gateway' is not an IPv4 address"
  sp_ip_in_cidr "$gateway" "$subnet" || sp_die "GATEWAY '$gateway' is not inside SUBNET $subnet"
fi
for label in "${labels[@]}"; do
  [[ $label =~ ^[A-Za-z0-9][A-Za-z0-9_./-]*=[^[:cntrl:]]*$ ]] || sp_die "LABEL '$label' is not key=value"
done
create_timeout=${SP_CREATE_TIMEOUT:-60}
sp_check_timeout "$create_timeout" SP_CREATE_TIMEOUT

# Why the network with this ID is not what we want, "; "-separated; nothing when it is.
mismatch() { # ID
  local described driver scope attachable subnets
  described=$(sp_docker network inspect --format \
    '{{.Driver}}|{{.Scope}}|{{.Attachable}}|{{range .IPAM.Config}}{{.Subnet}} {{end}}' "$1")
  IFS='|' read -r driver scope attachable subnets <<<"$described"
  subnets=${subnets% }
  local reasons=()
  [ "$driver" = overlay ] || reasons+=("driver '$driver' (wanted overlay)")
  [ "$scope" = swarm ] || reasons+=("scope '$scope' (wanted swarm)")
  [ "$attachable" = true ] || reasons+=("not attachable")
  [ "$subnets" = "$subnet" ] || reasons+=("subnet '${subnets:-none}' (wanted $subnet)")
  [ "${#reasons[@]}" -eq 0 ] || (IFS=";"; echo "${reasons[*]}")
}

id=$(sp_network_id "$name")
if [ -n "$id" ]; then
  why=$(mismatch "$id")
  [ -z "$why" ] || sp_die "network $name ($id) exists with $why; not adopting it (remove it first: network-remove.sh $name)"
  echo "$id"
  exit 0
fi

args=(network create --driver overlay --scope swarm --attachable --subnet "$subnet")
[ -z "$gateway" ] || args+=(--gateway "$gateway")
for label in "${labels[@]}"; do
  args+=(--label "$label")
done
args+=("$name")
# Swarm removes networks asynchronously: right after a removal the name can still be taken for a while.
deadline=$(($(sp_now) + create_timeout))
while ! out=$(sp_docker "${args[@]}" 2>&1); do
  if ! grep -q 'already exists' <<<"$out" || [ "$(sp_now)" -ge "$deadline" ]; then
    sp_die "network $name: create failed: $out; an overlap is named by swarm-proxy survey: pick a free subnet, then run again"
  fi
  sleep 1
  id=$(sp_network_id "$name")
  if [ -n "$id" ]; then
    sp_die "network $name: another network with this name appeared ($id) while creating it; run again"
  fi
done
id=$(tail -n 1 <<<"$out")
why=$(mismatch "$id")
if [ -n "$why" ]; then
  sp_docker network rm "$id" >/dev/null 2>&1 || true
  sp_die "network $name: created but it has $why (moby/swarmkit#2398); removed it again: pick a subnet swarm-proxy survey finds free, then run again"
fi
echo "$id"
