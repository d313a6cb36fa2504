#!/usr/bin/env bash
# Restarts the host's systemd unit that deploys a stack (a oneshot with RemainAfterExit is not restarted by
# `nixos-rebuild switch` when its definition is unchanged), then waits until the stack's services exist.
# Usage: stack-restart-unit.sh STACK UNIT [TIMEOUT]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='stack-restart-unit'

{ [ "$#" -ge 2 ] && [ "$#" -le 3 ]; } || sp_usage "stack-restart-unit.sh STACK UNIT [TIMEOUT]"
stack=$1
unit=$2
timeout=${3:-300}
sp_check_name "$stack" STACK
sp_check_name "$unit" UNIT
sp_check_timeout "$timeout" TIMEOUT
deadline=$(($(sp_now) + timeout))
services=()

systemctl restart "$unit" </dev/null || sp_die "systemctl restart $unit failed (see: journalctl -u $unit)"
while :; do
  sp_capture services sp_stack_services "$stack"
  [ "${#services[@]}" -gt 0 ] && break
  if [ "$(sp_now)" -ge "$deadline" ]; then
    sp_die "stack $stack: no service after ${timeout}s of restarting $unit (see: journalctl -u $unit)"
  fi
  sleep 1
done
echo "stack $stack: unit $unit restarted, ${#services[@]} service(s)"
