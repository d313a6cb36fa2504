#!/usr/bin/env bash
# Refuses to go on while stacks beyond the allow-list run (an upgrade run, say): the maintenance needs a
# quiescent host.
# Usage: gate-quiescent.sh ALLOWED_STACK...
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='gate-quiescent'

allowed=("$@")
for name in "${allowed[@]}"; do
  sp_check_name "$name" ALLOWED_STACK
done
stacks=() extra=()
sp_capture stacks sp_docker stack ls --format '{{.Name}}'
for stack in "${stacks[@]}"; do
  ok=false
  for name in "${allowed[@]}"; do
    if [ "$stack" = "$name" ]; then ok=true; break; fi
  done
  [ "$ok" = true ] || extra+=("$stack")
done
[ "${#extra[@]}" -eq 0 ] || sp_die "host is not quiescent: stacks beyond the allow-list run: ${extra[*]}; wait until they are done, or add them to maintenance.allowStacks, then run again"
echo "quiescent: ${#stacks[@]} stack(s), all allowed"
