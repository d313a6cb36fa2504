#!/usr/bin/env bash
# Stand-in for `nixos-rebuild switch` on the sandbox: evaluates the NixOS module's swarm-init unit with real
# Nix and runs its script against the dockerd that DOCKER_HOST points at, which is what the switch does to
# that unit when the module changed (it restarts the oneshot). Nothing else of the module is applied.
# Usage: nixos-rebuild.sh [MODULE]
#   MODULE  the module (default: $SWARM_PROXY_NIX_MODULE, as the program's rebuild step passes it), absolute
#           or relative to the repository root
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { echo "nixos-rebuild.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Prints the module's systemd.services.swarm-init.script. There is no nixpkgs here: the module is called
# with stub arguments, config.virtualisation.docker.package being the prefix of the docker CLI on PATH and
# lib holding only what the modules use. The dummy store keeps nix-instantiate from opening (as root,
# creating) /nix/store and its database; a module that copies a path into the store cannot be evaluated.
swarm_init_script() {
  local module=$1 docker_prefix=$2 err json messages rc=0
  err=$(mktemp)
  # shellcheck disable=SC2016 # a Nix expression, not shell: the paths come in as --argstr
  json=$(nix-instantiate --store dummy:// --eval --strict --json \
    --argstr module "$module" --argstr dockerPrefix "$docker_prefix" -E '
      { module, dockerPrefix }:
      let
        m = import (/. + module) {
          config = { virtualisation.docker.package = dockerPrefix; };
          lib = { mkForce = x: x; };
          pkgs = { };
        };
        script = m.systemd.services.swarm-init.script or (throw "it defines no systemd.services.swarm-init.script");
      in
      if builtins.isString script then script
      else throw "systemd.services.swarm-init.script is a ${builtins.typeOf script}, not a string"' 2>"$err") || rc=$?
  messages=$(<"$err")
  rm -f "$err"
  [ "$rc" -eq 0 ] || die "$module does not evaluate (nix-instantiate exited $rc): $messages"
  [ -z "$messages" ] || echo "$messages" >&2
  # Nix 2.8's nix-instantiate has no --raw. Its JSON strings escape only \" \\ \n \r \t and \u00XX, all of
  # which printf %b decodes except \" (made \x22 first; a \" here is never the tail of an escaped \\).
  json=${json#\"}
  json=${json%\"}
  printf '%b' "${json//\\\"/\\x22}"
}

[ "$#" -le 1 ] || { echo "usage: nixos-rebuild.sh [MODULE]" >&2; exit 2; }
module=${1:-${SWARM_PROXY_NIX_MODULE:-}}
[ -n "$module" ] || die "no module: pass MODULE or set SWARM_PROXY_NIX_MODULE"
[[ $module == /* ]] || module=$root/$module
[ -f "$module" ] || die "$module is not a file"
# The unit runs `docker swarm init` and creates networks: never against whatever dockerd is the default.
[ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST is not set: eval \"\$(bash sandbox/up.sh --env)\" first"
command -v nix-instantiate >/dev/null || die "nix-instantiate not found: install nix-bin (bash scripts/install-deps.sh)"
docker_cli=$(command -v docker) || die "no docker CLI on PATH"

script=$(swarm_init_script "$module" "$(dirname "$(dirname "$docker_cli")")")
say "switch: restarting swarm-init of ${module#"$root"/} (docker $docker_cli, DOCKER_HOST=$DOCKER_HOST)"
# NixOS runs a unit's script with `bash -e` and no stdin.
rc=0
bash -e -c "$script" </dev/null || rc=$?
[ "$rc" -eq 0 ] || { say "error: swarm-init of ${module#"$root"/} exited $rc"; exit "$rc"; }
