#!/usr/bin/env bash
# The leak-free teardown of one stack (sp_teardown_stacks in lib.sh: waiting for the containers is not
# enough, the stack's tasks must be gone from the swarm before its own networks are removed).
# Usage: stack-teardown.sh STACK [TIMEOUT]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='stack-teardown'

{ [ "$#" -ge 1 ] && [ "$#" -le 2 ]; } || sp_usage "stack-teardown.sh STACK [TIMEOUT]"
stack=$1
timeout=${2:-180}
sp_check_name "$stack" STACK
sp_check_timeout "$timeout" TIMEOUT
sp_teardown_stacks "$timeout" "$stack"
echo "stack $stack: removed"
