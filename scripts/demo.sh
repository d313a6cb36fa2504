#!/usr/bin/env bash
# The program's main job on the local sandbox swarm, from a fresh machine: install what is missing, start the
# sandbox with the reference host's "before" state, adopt it (first `up`: changes nothing), then preview the
# change of `proxy` to 10.10.0.0/16. With --up, also run the maintenance with the window open, and end with
# every route answering through the sandbox's real traefik.
# State lives in a local file backend under .pulumi-state/ (no account); the stack is `sandbox-demo`, whose
# config starts as a copy of Pulumi.sandbox.yaml.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
run_up=false
case "${1:-}" in
  --up) run_up=true ;;
  "") ;;
  *) echo "usage: $0 [--up]" >&2; exit 2 ;;
esac
say() { printf '\n== %s\n' "$*" >&2; }

say "installing what is missing"
bash scripts/install-deps.sh
[ -d node_modules/@pulumi/pulumi ] || ./scripts/node.sh npm ci --no-audit --no-fund
# shellcheck source=scripts/plugin-mirror.sh
source scripts/plugin-mirror.sh
eval "$(bash scripts/pulumi-toolchain.sh --env)"
bash scripts/traefik-build.sh >/dev/null # the sandbox's real traefik (built once, cached in .tools/)
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true

# The engine: the machine's own dockerd when it is Docker 28 or newer (a user with Docker installed expects that
# one), else the sandbox's default (29, built once from its Go module: scripts/docker-build.sh). SANDBOX_DOCKER,
# when set, decides.
if [ -z "${SANDBOX_DOCKER:-}" ]; then
  own=$(dockerd --version 2>/dev/null | sed -n 's/^Docker version \([0-9][0-9]*\)\..*/\1/p') || own=
  if [ -n "$own" ] && [ "$own" -ge 28 ]; then
    export SANDBOX_DOCKER=system
    say "the sandbox runs this machine's dockerd: $(dockerd --version)"
  else
    export SANDBOX_DOCKER=29
    say "this machine's dockerd is ${own:+Docker $own, }not 28 or newer: the sandbox runs Docker 29 (scripts/docker-build.sh)"
    bash scripts/docker-build.sh 29 >/dev/null
  fi
else
  say "the sandbox runs the engine SANDBOX_DOCKER=$SANDBOX_DOCKER"
fi
cli=$(bash scripts/docker-cli.sh) # a docker CLI that speaks to Docker 29 (API 1.44 or newer)
export PATH="$cli:$PATH"

say "starting the sandbox swarm with the reference host's before state"
eval "$(bash sandbox/up.sh --env)"
bash sandbox/seed.sh

export PULUMI_BACKEND_URL="file://$root/.pulumi-state"
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-sandbox-demo}
mkdir -p .pulumi-state
# The Pulumi CLI on this project (harness/run-pulumi.ts): plain `pulumi` where the real language host and providers
# are installed (on PATH or in the plugin cache), as an operator runs it; on a machine without them it falls
# back to stand-ins and says which.
p() { ./scripts/node.sh npx ts-node --transpile-only harness/run-pulumi.ts "$@"; }
plugins=$(p --engine-plugins)
stack=sandbox-demo
if ! p stack select "$stack" 2>/dev/null; then
  rm -f "Pulumi.$stack.yaml" # a leftover from a state directory that was deleted since
  p stack init "$stack" --secrets-provider passphrase
  # Pulumi.sandbox-demo.yaml is the demo's own (ignored by git): Pulumi.sandbox.yaml stays as committed. Appended,
  # so that the passphrase salt `stack init` wrote stays.
  # The routes' URL is the default instance's front address: another instance (SANDBOX=...) has its own.
  grep -v '^#' Pulumi.sandbox.yaml | sed "s#http://198\.19\.89\.210/#http://$SANDBOX_FRONT_ADDR/#" >> "Pulumi.$stack.yaml"
  if [[ $plugins != *'"docker":true'* ]]; then
    say "no Docker provider plugin here: the network is managed by the host scripts (implementation: command)"
    p config set --path network.implementation command
  fi
fi

live=$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' proxy)
say "adopting the live proxy ($live) and the running stacks: the first up changes nothing"
# The README's step 1: the live subnet, the live network's ID, the host's current module.
p config set --path network.subnet "$live"
p config set --path network.adoptId "$(docker network inspect --format '{{.Id}}' proxy)"
p config set --path rebuild.nixModule sandbox/swarm-before.nix
p up --yes --skip-preview

say "the change: proxy as 10.10.0.0/16, with the module that creates it so"
p config set --path network.subnet 10.10.0.0/16
p config rm --path network.adoptId
p config set --path rebuild.nixModule nix/swarm.nix
p preview --diff --show-replacement-steps

if [ "$run_up" = true ]; then
  say "running the maintenance with the window open"
  SWARM_PROXY_MAINTENANCE=open p up --yes --skip-preview
  p preview --expect-no-changes
  docker network inspect --format '{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}' proxy
  say "every route through traefik (http://$SANDBOX_FRONT_ADDR/)"
  failed=0
  while read -r host; do
    if answer=$(curl -fsS --max-time 5 -H "Host: $host" "http://$SANDBOX_FRONT_ADDR/"); then
      printf '  %-28s %s\n' "$host" "$answer" >&2
    else
      printf '  %-28s NOT ANSWERING\n' "$host" >&2
      failed=1
    fi
  done < <(sed -n 's/^ *host: \([a-z0-9.-]*\.sandbox\.test\)$/\1/p' "Pulumi.$stack.yaml")
  [ "$failed" -eq 0 ] || { echo "demo: a route does not answer through traefik" >&2; exit 1; }
fi
