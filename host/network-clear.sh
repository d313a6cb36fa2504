#!/usr/bin/env bash
# Runs right before the network's delete, in the window: whatever the state's history (a refresh or an import
# can drop the stacks' recorded dependency on the network, and then the engine no longer orders their teardown
# first), nothing may be attached when the network goes. Configured stacks still attached are torn down the
# leak-free way (sp_teardown_stacks); anything else attached (a service of another stack, a container) stops the
# delete with one message naming it, before anything is torn down. The network absent: nothing to do.
# Usage: network-clear.sh NAME TIMEOUT [STACK...]   (STACK: the configured stacks attached to NAME)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='network-clear'

[ "$#" -ge 2 ] || sp_usage "network-clear.sh NAME TIMEOUT [STACK...]"
name=$1
timeout=$2
shift 2
sp_check_name "$name" NAME
sp_check_timeout "$timeout" TIMEOUT
declare -A configured=()
for stack in "$@"; do
  sp_check_name "$stack" STACK
  configured[$stack]=1
done

id=$(sp_network_id "$name")
if [ -z "$id" ]; then
  echo "network $name: absent, nothing attached"
  exit 0
fi

declare -A ours=()
foreign=()
# Services on the network (spec or VIP, as sp_network_users reads them), with their stack.
services=()
sp_capture services sp_docker service ls -q
if [ "${#services[@]}" -gt 0 ]; then
  while read -r svc stack targets; do
    for t in $targets; do
      [ "$t" = "$id" ] || [ "$t" = "$name" ] || continue
      if [ -n "${configured[$stack]:-}" ]; then ours[$stack]=1; else foreign+=("service $svc"); fi
      break
    done
  done < <(sp_docker service inspect --format \
    '{{.Spec.Name}} {{or (index .Spec.Labels "com.docker.stack.namespace") "-"}}{{range .Spec.TaskTemplate.Networks}} {{.Target}}{{end}}{{range .Endpoint.VirtualIPs}} {{.NetworkID}}{{end}}' \
    "${services[@]}" 2>/dev/null || true)
fi
# Containers attached on this node that are not a task of a service seen above (a task's container goes with its
# service; Docker's own load-balancer endpoint is never a user).
# shellcheck disable=SC2016 # a Go template, not a shell expansion
while read -r key cname; do
  [ -n "$cname" ] || continue
  [ "$key" != "lb-$name" ] || continue
  labels=$(sp_docker container inspect --format \
    '{{or (index .Config.Labels "com.docker.stack.namespace") "-"}} {{or (index .Config.Labels "com.docker.swarm.service.name") "-"}}' \
    "$key" 2>/dev/null) || continue # gone meanwhile, or Docker's own endpoint under another key
  read -r stack service <<<"$labels"
  if [ "$service" != "-" ]; then
    if [ -n "${configured[$stack]:-}" ]; then ours[$stack]=1; else foreign+=("service $service"); fi
  else
    foreign+=("container $cname")
  fi
done < <(sp_docker network inspect --format '{{range $k, $v := .Containers}}{{$k}} {{$v.Name}}{{"\n"}}{{end}}' "$id" 2>/dev/null || true)

if [ "${#foreign[@]}" -gt 0 ]; then
  mapfile -t foreign < <(printf '%s\n' "${foreign[@]}" | sort -u)
  sp_die "network $name is still in use by $(IFS=','; echo "${foreign[*]}"), which no configured stack owns: remove them, or add their stacks to swarm-proxy:stacks; nothing was torn down"
fi
if [ "${#ours[@]}" -eq 0 ]; then
  echo "network $name: nothing attached"
  exit 0
fi
mapfile -t stacks < <(printf '%s\n' "${!ours[@]}" | sort)
echo "network $name: still attached: stacks ${stacks[*]}; tearing them down first (leak-free)"
sp_teardown_stacks "$timeout" "${stacks[@]}"
echo "network $name: nothing attached"
