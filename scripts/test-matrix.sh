#!/usr/bin/env bash
# The engine matrix (npm run test:matrix): every tier runs on the default engine (29); on each older engine of the
# matrix the cases that depend most on the daemon run too: the swarm tier's leak, moves, spec fields and in-use
# count, and the program end to end (test/matrix: adoption, recreate and rolling through traefik). Each engine
# gets sandbox instances of its own; the leak runs 2 cycles of 6 stacks per arm (SWARM_TEST_LEAK_CYCLES).
# SWARM_MATRIX_ENGINES (default "20.10 28.5 29.0") picks the engines; each row checks that its sandbox runs the
# dockerd it names (the tiers' assertSelectedEngine). Every engine runs even when one fails; the
# exit code is non-zero if any failed, and the summary names which.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
read -r -a engines <<<"${SWARM_MATRIX_ENGINES:-20.10 28.5 29.0}"
# An empty or blank list would run no engine and pass: refused, as is an engine the sandbox does not run.
if [ "${#engines[@]}" -eq 0 ]; then
  echo "test-matrix: SWARM_MATRIX_ENGINES='${SWARM_MATRIX_ENGINES:-}' names no engine (allowed: 20.10 28.5 29.0 29, space-separated)" >&2
  exit 2
fi
for engine in "${engines[@]}"; do
  case "$engine" in
    20.10 | 28.5 | 29.0 | 29) ;;
    *)
      echo "test-matrix: SWARM_MATRIX_ENGINES names '$engine', not an engine of the matrix (allowed: 20.10 28.5 29.0 29)" >&2
      exit 2
      ;;
  esac
done
summary=() failed=0
for engine in "${engines[@]}"; do
  start=$SECONDS
  echo "== engine matrix: SANDBOX_DOCKER=$engine" >&2
  result=passed
  if ! bash scripts/docker-build.sh "$engine" >/dev/null; then
    result="not run: the engine could not be built"
  elif ! SANDBOX_DOCKER=$engine SWARM_TEST_SANDBOX="swarm-m$engine" \
    SWARM_TEST_LEAK_CYCLES=${SWARM_TEST_LEAK_CYCLES:-2} npx mocha --config test/matrix/swarm.mocharc.cjs; then
    result="failed in the swarm tier's cases"
  elif ! SANDBOX_DOCKER=$engine npx mocha --config test/matrix/.mocharc.cjs; then
    result="failed end to end (test/matrix)"
  fi
  [ "$result" = passed ] || failed=1
  summary+=("  $engine: $result ($((SECONDS - start)) s)")
done
echo "== engine matrix" >&2
printf '%s\n' "${summary[@]}" >&2
exit "$failed"
