#!/usr/bin/env bash
# Tears several stacks down at once, each with the leak-free teardown (stack-teardown.sh): the per-stack task
# wait is what keeps addresses from leaking, not doing one stack at a time, so running them side by side is
# as safe and takes as long as the slowest one. Fails naming every stack whose teardown failed.
# Usage: stacks-teardown.sh TIMEOUT STACK...
set -euo pipefail
if ! declare -F sp_die >/dev/null; then
  # shellcheck source=lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
sp_script=stacks-teardown
[ "$#" -ge 2 ] || sp_usage "stacks-teardown.sh TIMEOUT STACK..."
timeout=$1
shift
sp_check_timeout "$timeout" TIMEOUT
for stack in "$@"; do
  sp_check_name "$stack" STACK
done

# Within the program's bundle stack-teardown is a function; run directly, it is the file beside this one.
teardown_one() {
  if declare -F sp_main_stack_teardown >/dev/null; then
    (sp_main_stack_teardown "$1" "$timeout")
  else
    bash "$(dirname "${BASH_SOURCE[0]}")/stack-teardown.sh" "$1" "$timeout"
  fi
}

pids=()
for stack in "$@"; do
  teardown_one "$stack" </dev/null &
  pids+=("$!")
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${@:i+1:1}")
done
[ "${#failed[@]}" -eq 0 ] || sp_die "teardown failed for: ${failed[*]} (the others are down)"
echo "stacks torn down together: $*"
