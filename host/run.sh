#!/usr/bin/env bash
# Runs one program with its arguments, as given: the NixOS rebuild (`nixos-rebuild switch`) or a stand-in.
# Its stdin is closed because the bundle this script may arrive in is being read from there.
# Usage: run.sh PROGRAM [ARG...]
set -euo pipefail
sp_script=run
if ! declare -F sp_die >/dev/null; then
  # shellcheck source=lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
sp_script=run
[ "$#" -ge 1 ] || sp_usage "run.sh PROGRAM [ARG...]"
"$@" </dev/null
