#!/usr/bin/env bash
# npm test: every tier. The fast ones first (lint, unit, program), then the sandbox tiers on the default engine in
# order, each stopping the run at its first failure, and beside them the engine matrix (test:matrix: the older
# engines, on sandbox instances of their own), whose output is kept apart and printed when both are done; the
# run fails if either did. The matrix spends most of its time waiting on dockerd and traefik, so running it beside
# the tiers costs far less than running it after them. SWARM_TEST_SERIAL=1 runs the matrix after the tiers instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
npm run lint
npm run test:unit
npm run test:program
# What both streams need, built once before they start (each tier's own call then only looks).
bash scripts/pulumi-toolchain.sh >/dev/null
bash scripts/traefik-build.sh >/dev/null
tiers=(tools swarm drift engine multinode pipelines)
start=$SECONDS
if [ "${SWARM_TEST_SERIAL:-}" = 1 ]; then
  for t in "${tiers[@]}" matrix; do npm run "test:$t"; done
  exit 0
fi
log=$(mktemp "${TMPDIR:-/tmp}/swarm-proxy-matrix.XXXXXX")
npm run test:matrix >"$log" 2>&1 &
matrix=$!
echo "== test:matrix runs beside the tiers (its output follows them)" >&2
failed=
# Each tier's output also goes to a file: when one fails, its end (mocha's list of failures) is printed again
# after the matrix's output, so the last lines of the run say what failed and why.
tier_log=$(mktemp "${TMPDIR:-/tmp}/swarm-proxy-tier.XXXXXX")
for t in "${tiers[@]}"; do
  if ! npm run "test:$t" 2>&1 | tee "$tier_log"; then
    failed="test:$t"
    break
  fi
done
tiers_s=$((SECONDS - start))
matrix_rc=0
wait "$matrix" || matrix_rc=$?
echo "== test:matrix (ran beside the tiers; tiers ${tiers_s} s, both $((SECONDS - start)) s)" >&2
cat "$log"
rm -f "$log"
if [ -n "$failed" ]; then
  echo "== $failed failed; the end of its output again:" >&2
  failures=$(grep -n -E '^ +[0-9]+ (passing|failing|pending)' "$tier_log" | head -n 1 | cut -d: -f1)
  tail -n +"${failures:-1}" "$tier_log" | tail -n 150 >&2
  rm -f "$tier_log"
  echo "== $failed failed" >&2
  exit 1
fi
rm -f "$tier_log"
[ "$matrix_rc" -eq 0 ] || {
  echo "== test:matrix failed" >&2
  exit 1
}
