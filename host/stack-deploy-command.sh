#!/usr/bin/env bash
# A stack the program does not deploy with a compose file or a unit: `deploy: external` (another tool deploys it:
# the program only requires that it runs) or `deploy: [WORD...]` (the user's own command, run with the stack's
# name as its last argument). Installed only for a configuration that has such a stack, so that the bundle of
# any other configuration stays as it was.
# Usage: stack-deploy-command.sh STACK present
#        stack-deploy-command.sh STACK if-absent WORD...   (adoption: a running stack is left as it runs)
#        stack-deploy-command.sh STACK always WORD...
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='stack-deploy-command'

[ "$#" -ge 2 ] || sp_usage "stack-deploy-command.sh STACK present|if-absent|always [WORD...]"
stack=$1
when=$2
shift 2
sp_check_name "$stack" STACK
services=()
sp_capture services sp_stack_services "$stack"
case "$when" in
  present)
    [ "$#" -eq 0 ] || sp_usage "stack-deploy-command.sh STACK present"
    [ "${#services[@]}" -gt 0 ] \
      || sp_die "stack $stack has no service on this host; it is deploy: external (another tool deploys it): deploy it with that tool, then run again"
    echo "stack $stack: running (${#services[@]} services), deployed by another tool"
    exit 0
    ;;
  if-absent | always) ;;
  *) sp_usage "stack-deploy-command.sh STACK present|if-absent|always [WORD...]" ;;
esac
[ "$#" -ge 1 ] || sp_usage "stack-deploy-command.sh STACK $when WORD..."
if [ "$when" = if-absent ] && [ "${#services[@]}" -gt 0 ]; then
  echo "stack $stack: running (${#services[@]} services), its deploy command not run"
  exit 0
fi
out=$("$@" "$stack" 2>&1 </dev/null) || sp_die "stack $stack: deploy command '$*' failed: $out"
echo "stack $stack: deployed by '$*'"
