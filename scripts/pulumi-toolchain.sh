#!/usr/bin/env bash
# Puts the Pulumi engine the engine tests drive into .tools/pulumi-v<version>/bin and prints that directory
# (with --env: an `export PATH=...` line to eval).
#
#   pulumi                          the CLI, at the version package.json pins for @pulumi/pulumi
#   pulumi-resource-pulumi-nodejs   the dynamic-provider launcher the CLI ships with (from the same sdk module)
#   pulumi-language-nodejs          the Node.js language host, at that release's commit
#   pulumi-resource-command         the command provider, at the version @pulumi/command declares
#
# Binaries already in the bin directory, or on PATH, are reused when their versions match; anything else is
# built with Go from its module at exactly that version (nothing is downloaded but Go modules). The nested
# modules replace their siblings with relative paths, so `go install <module>@<version>` refuses them: each
# is built from a small wrapper module generated under .tools/ that requires the module and its siblings at
# the same version and repeats the module's other (non-local) replace directives.
#
# The CLI is mandatory: if it cannot be built the script fails. The language host and the command provider
# are used as installed (on PATH or in the plugin cache, where the CLI finds them), else built when the module
# proxy serves them. Last, scripts/install-plugins.sh installs what is still missing of the real plugins (the
# language host, the command and docker providers) from SWARM_PROXY_PLUGIN_MIRROR or Pulumi's own sources, its
# output on stderr. What is then still missing is said on stderr and the script goes on: the engine tier
# serves programs inline (no language host needed) and runs the stand-in command provider of
# harness/engine/command-provider/. Set PULUMI_TOOLCHAIN_REQUIRE_ALL=1 to make that fatal.
# A module that downloads but does not compile is always fatal.
#
# Go's own caches (GOMODCACHE, GOCACHE) stay where `go env` puts them, so a rebuild on the same machine is
# fast. Builds use -trimpath and at most PULUMI_TOOLCHAIN_JOBS (default 2) parallel compiles.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=dir
case "${1:-}" in
  --env) mode="env" ;;
  "") ;;
  -h | --help)
    sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [--env]" >&2
    exit 2
    ;;
esac

log() { echo "pulumi-toolchain: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# shellcheck source=scripts/go-module.sh
source "$root/scripts/go-module.sh"
go_use_toolchain "the Pulumi CLI"
jobs=${PULUMI_TOOLCHAIN_JOBS:-2}
require_all=${PULUMI_TOOLCHAIN_REQUIRE_ALL:-}

# --- versions pinned by the project ---------------------------------------------------------------------
# shellcheck source=scripts/pinned-versions.sh
source "$root/scripts/pinned-versions.sh"
cmd_version=$(provider_version command)

tools="$root/.tools/pulumi-v$cli_version"
bin="$tools/bin"
stamps="$tools/versions"
work="$tools/build"
mkdir -p "$bin" "$stamps" "$work"

# One run at a time per version directory (CI and a developer, or two test tiers, may start it together).
exec 9>"$tools/.lock"
if command -v flock >/dev/null; then flock 9; fi

sdk_mod=github.com/pulumi/pulumi/sdk/v3
pkg_mod=github.com/pulumi/pulumi/pkg/v3
host_mod=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
cmd_mod=github.com/pulumi/pulumi-command/provider

# --- helpers --------------------------------------------------------------------------------------------
stamp_ok() { # stamp_ok NAME VERSION: the binary in $bin was produced or verified for VERSION
  [ -x "$bin/$1" ] && [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ]
}
set_stamp() { printf '%s' "$2" >"$stamps/$1"; }

# reuse_from_path NAME VERSION VERSION-ARGS...: link a matching binary found on PATH (outside $bin)
reuse_from_path() {
  local name=$1 want=$2 found got
  shift 2
  found=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$bin" | paste -sd:) command -v "$name" || true)
  [ -n "$found" ] || return 1
  got=$("$found" "$@" 2>/dev/null | head -n1 || true)
  [ "${got#v}" = "${want#v}" ] || return 1
  ln -sf "$found" "$bin/$name"
  set_stamp "$name" "$want"
  log "reusing $found ($got)"
}

# mod_json MODULE@VERSION: `go mod download -json` output (fails if the proxy does not serve the module)
mod_json() {
  local out
  out=$(cd "$work" && go mod download -json "$1" 2>&1) || {
    printf '%s\n' "$out" >&2
    return 1
  }
  if printf '%s' "$out" | grep -q '"Error"'; then
    printf '%s\n' "$out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}
json_field() { # json_field FIELD(.path) < json
  "$root/scripts/node.sh" node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      let v = JSON.parse(s); for (const k of process.argv[1].split(".")) v = v == null ? v : v[k];
      if (v == null) process.exit(3); process.stdout.write(String(v)); });' "$1"
}

# non_local_replaces GOMOD: the module's replace directives that do not point at a directory, as
# `go mod edit -replace` arguments, one per line
non_local_replaces() {
  go mod edit -json "$1" | "$root/scripts/node.sh" node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      for (const r of JSON.parse(s).Replace || []) {
        if (!r.New.Version) continue; // a directory: the wrapper supplies those modules itself
        const old = r.Old.Path + (r.Old.Version ? "@" + r.Old.Version : "");
        console.log("-replace=" + old + "=" + r.New.Path + "@" + r.New.Version);
      }
    });'
}

# wrapper DIR IMPORT GOVERSION REQUIRE... : a module in DIR that builds IMPORT with the given requirements
wrapper() {
  local dir=$1 import=$2 gover=$3 req
  shift 3
  rm -rf "$dir"
  mkdir -p "$dir"
  printf 'module local.invalid/pulumi-toolchain\n\ngo %s\n' "$gover" >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$import" >"$dir/tools.go"
  for req in "$@"; do
    case "$req" in
      -replace=*) (cd "$dir" && go mod edit "$req") ;;
      *) (cd "$dir" && go mod edit -require="$req") ;;
    esac
  done
  if ! (cd "$dir" && GOFLAGS=-mod=mod go mod tidy) >"$dir/tidy.log" 2>&1; then
    cat "$dir/tidy.log" >&2
    return 1
  fi
}

build() { # build DIR OUT PACKAGE LDFLAGS
  local start=$SECONDS
  log "building $(basename "$2") from $3 ..."
  (cd "$1" && go build -p "$jobs" -trimpath -buildvcs=false -ldflags "-s -w $4" -o "$2.tmp" "$3") >&2
  mv -f "$2.tmp" "$2"
  log "built $(basename "$2") in $((SECONDS - start))s"
}

go_version_of() { go mod edit -json "$1" | json_field Go; }

missing=()

# --- the CLI ---------------------------------------------------------------------------------------------
v=v$cli_version
if stamp_ok pulumi "$v" || reuse_from_path pulumi "$v" version; then
  :
else
  pkg_json=$(mod_json "$pkg_mod@$v") ||
    die "the Go module proxy does not serve $pkg_mod@$v: pin @pulumi/pulumi to a version whose CLI module is served"
  mod_json "$sdk_mod@$v" >/dev/null || die "the Go module proxy does not serve $sdk_mod@$v"
  pkg_gomod=$(printf '%s' "$pkg_json" | json_field GoMod)
  mapfile -t reps < <(non_local_replaces "$pkg_gomod")
  wrapper "$work/pulumi" "$pkg_mod/cmd/pulumi" "$(go_version_of "$pkg_gomod")" \
    "$pkg_mod@$v" "$sdk_mod@$v" "${reps[@]}" || die "resolving the CLI's dependencies failed"
  build "$work/pulumi" "$bin/pulumi" "$pkg_mod/cmd/pulumi" \
    "-X $sdk_mod/go/common/version.Version=$v" || die "building the Pulumi CLI $v failed"
  got=$("$bin/pulumi" version)
  [ "$got" = "$v" ] || die "the built CLI reports $got, not $v"
  set_stamp pulumi "$v"
fi

# --- the dynamic-provider launcher shipped beside the CLI (a script in the sdk module) ------------------
if ! stamp_ok pulumi-resource-pulumi-nodejs "$v"; then
  sdk_dir=$(mod_json "$sdk_mod@$v" | json_field Dir) || die "cannot download $sdk_mod@$v"
  install -m 0755 "$sdk_dir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$bin/pulumi-resource-pulumi-nodejs"
  set_stamp pulumi-resource-pulumi-nodejs "$v"
fi

# installed KIND NAME [VERSION]: a plugin in the user's plugin cache, which the CLI finds by itself
installed() {
  local cache=${PULUMI_HOME:-$HOME/.pulumi}/plugins f
  for f in "$cache/$1-$2-v${3:-}"*/"pulumi-$1-$2"; do
    if [ -x "$f" ] && [ ! -e "$(dirname "$f").partial" ]; then
      log "using the installed $f"
      return 0
    fi
  done
  return 1
}

# --- the Node.js language host, pinned by the release commit --------------------------------------------
if stamp_ok pulumi-language-nodejs "$v" || reuse_from_path pulumi-language-nodejs "$v" -version || installed language nodejs; then
  :
else
  # The nested module has no tag per release: its pseudo-version comes from the commit of pkg's tag.
  pkg_info=$(mod_json "$pkg_mod@$v")
  hash=$(printf '%s' "$pkg_info" | json_field Origin.Hash || true)
  when=$(printf '%s' "$pkg_info" | json_field Info | xargs cat | json_field Time || true)
  host_version=
  if [ -n "$hash" ] && [ -n "$when" ]; then
    host_version="v3.0.0-$(printf '%s' "$when" | tr -d ':TZ-' | cut -c1-14)-${hash:0:12}"
  fi
  if [ -n "$host_version" ] && host_json=$(mod_json "$host_mod@$host_version" 2>/dev/null); then
    host_gomod=$(printf '%s' "$host_json" | json_field GoMod)
    mapfile -t reps < <(non_local_replaces "$host_gomod")
    wrapper "$work/language-nodejs" "$host_mod" "$(go_version_of "$host_gomod")" \
      "$host_mod@$host_version" "$pkg_mod@$v" "$sdk_mod@$v" "${reps[@]}" ||
      die "resolving the language host's dependencies failed"
    build "$work/language-nodejs" "$bin/pulumi-language-nodejs" "$host_mod" \
      "-X $sdk_mod/go/common/version.Version=$v" || die "building pulumi-language-nodejs failed"
    set_stamp pulumi-language-nodejs "$v"
  else
    missing+=("pulumi-language-nodejs: the Go module proxy does not serve $host_mod at ${host_version:-the $v commit}")
  fi
fi

# --- the command provider --------------------------------------------------------------------------------
cv=v$cmd_version
if stamp_ok pulumi-resource-command "$cv" || installed resource command "$cmd_version"; then
  :
elif cmd_json=$(mod_json "$cmd_mod@$cv" 2>/dev/null); then
  cmd_gomod=$(printf '%s' "$cmd_json" | json_field GoMod)
  mapfile -t reps < <(non_local_replaces "$cmd_gomod")
  wrapper "$work/command" "$cmd_mod/cmd/pulumi-resource-command" "$(go_version_of "$cmd_gomod")" \
    "$cmd_mod@$cv" "${reps[@]}" || die "resolving the command provider's dependencies failed"
  build "$work/command" "$bin/pulumi-resource-command" "$cmd_mod/cmd/pulumi-resource-command" \
    "-X $cmd_mod/pkg/version.Version=$cv" || die "building pulumi-resource-command $cv failed"
  set_stamp pulumi-resource-command "$cv"
else
  missing+=("pulumi-resource-command: the Go module proxy does not serve $cmd_mod@$cv")
fi

# --- the real plugins: from a plugin mirror, or downloaded as operators do (scripts/install-plugins.sh) ----
# Its failure is fatal only where it says so (a bad checksum; CI=true with a mirror). It gets no lock fd 9.
"$root/scripts/install-plugins.sh" --bin "$bin" >&2 9>&- || die "installing the Pulumi plugins failed (above)"
still=()
for m in "${missing[@]}"; do
  case "$m" in
    pulumi-language-nodejs:*) stamp_ok pulumi-language-nodejs "$v" && continue ;;
    pulumi-resource-command:*) installed resource command "$cmd_version" && continue ;;
  esac
  still+=("$m")
done
missing=("${still[@]}")

for m in "${missing[@]}"; do log "UNAVAILABLE $m"; done
if [ "${#missing[@]}" -gt 0 ] && [ -n "$require_all" ]; then
  die "PULUMI_TOOLCHAIN_REQUIRE_ALL is set and ${#missing[@]} binaries are unavailable"
fi

if [ "$mode" = env ]; then
  # shellcheck disable=SC2016 # $PATH is expanded by the shell that evals this line
  printf 'export PATH=%q:"$PATH"\n' "$bin"
else
  printf '%s\n' "$bin"
fi
