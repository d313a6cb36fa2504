#!/usr/bin/env bash
# The reference host's "before" state in a sandbox instance: `proxy` created as the host's swarm-init unit
# does (no --subnet, so the default pool's /24; PROXY_SUBNET picks a small one instead), then the stand-in
# stacks, traefik first, each waited for until healthy. Usage: SANDBOX=name bash sandbox/seed.sh [--remove]
#   --remove  tear the stacks down (leak-free) and remove proxy
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
host=$here/../host
stacks=(traefik drone ccci-bridge ccci-dashboard ccci-reports warm-keycloak backups)

remove=false
for arg in "$@"; do
  case $arg in
    --remove) remove=true ;;
    *) sandbox_die "unknown option '$arg' (expected --remove)" ;;
  esac
done
sandbox_responds || sandbox_die "no dockerd answers on $sandbox_sock; run sandbox/up.sh first"

if [ "$remove" = true ]; then
  for stack in "${stacks[@]}"; do
    bash "$host/stack-teardown.sh" "$stack" &
  done
  wait_all=0
  for job in $(jobs -p); do wait "$job" || wait_all=1; done
  [ "$wait_all" -eq 0 ] || sandbox_die "a teardown failed"
  bash "$host/network-remove.sh" proxy
  exit 0
fi

if ! docker network ls --format '{{.Name}}' | grep -qxF proxy; then
  create=(network create --driver overlay --attachable)
  [ -z "${PROXY_SUBNET:-}" ] || create+=(--subnet "$PROXY_SUBNET")
  docker "${create[@]}" proxy >/dev/null
fi
subnet=$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' proxy)
sandbox_say "proxy has subnet $subnet"
for stack in "${stacks[@]}"; do
  bash "$host/stack-deploy.sh" "$stack" "$here/stacks/$stack.yml"
  # traefik first: the others route through it on the real host.
  [ "$stack" != traefik ] || bash "$host/stack-health.sh" traefik proxy "$subnet" 120
done
for stack in "${stacks[@]}"; do
  bash "$host/stack-health.sh" "$stack" proxy "$subnet" 120
done
