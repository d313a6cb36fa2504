#!/usr/bin/env bash
# Deploys a compose file as a stack. `docker stack deploy` of an unchanged file keeps the running tasks (same
# task IDs), so deploying a stack that already runs adopts it without restarting anything.
# Usage: stack-deploy.sh STACK COMPOSE_FILE
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='stack-deploy'

[ "$#" -eq 2 ] || sp_usage "stack-deploy.sh STACK COMPOSE_FILE"
stack=$1
compose=$2
sp_check_name "$stack" STACK
{ [ -f "$compose" ] && [ -r "$compose" ]; } || sp_die "compose file '$compose' is not a readable file"
# Its warnings (no registry to resolve a digest from, detach default) matter only when it fails.
out=$(sp_docker stack deploy --compose-file "$compose" "$stack" 2>&1) \
  || sp_die "stack $stack: docker stack deploy of '$compose' failed: $out; fix the compose file, then run again"
echo "stack $stack: deployed"
