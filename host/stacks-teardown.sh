#!/usr/bin/env bash
# The leak-free teardown of several stacks at once (sp_teardown_stacks in lib.sh), as the program's
# ParallelTeardown runs it when the network is replaced. Usage: stacks-teardown.sh TIMEOUT STACK...
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='stacks-teardown'
[ "$#" -ge 2 ] || sp_usage "stacks-teardown.sh TIMEOUT STACK..."
timeout=$1
shift
sp_check_timeout "$timeout" TIMEOUT
for stack in "$@"; do
  sp_check_name "$stack" STACK
done
sp_teardown_stacks "$timeout" "$@"
echo "stacks removed: $*"
