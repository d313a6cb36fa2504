#!/usr/bin/env bash
# Prints a directory whose `go` is new enough to build every module the project builds. The builds need
# Go 1.26.3: the `go` line of github.com/moby/moby/v2 v2.0.0-beta.24 (scripts/docker-build.sh), the highest of
# them (the Pulumi CLI's pkg/v3 says 1.25.11).
#
# The `go` on PATH when it is that version or newer. Otherwise Go itself, as the module golang.org/toolchain
# (what GOTOOLCHAIN downloads), fetched with `go mod download -json` by whatever older Go there is (Debian 12's
# golang-go is 1.19, which scripts/install-deps.sh installs when there is no Go at all) and copied into
# .tools/go-<version>/, so a second run only prints the directory.
#
# Logs go to stderr.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/go-module.sh
source "$root/scripts/go-module.sh"
version=1.26.3
if [ "$#" -gt 0 ]; then
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi

log() { echo "go-toolchain: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
emit() {
  printf '%s\n' "$1"
  exit 0
}

# The Go version a `go` binary reports (1.26.3), or nothing when it does not run.
version_of() {
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || v=$("$1" version 2>/dev/null | awk '{print $3}') || return 0
  v=${v#go}
  printf '%s' "${v%% *}"
}
# 0 when version $1 >= $2.
at_least() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

dest=$root/.tools/go-$version
if [ -x "$dest/bin/go" ] && [ "$(version_of "$dest/bin/go")" = "$version" ]; then
  emit "$dest/bin"
fi

# Every go on PATH (the copy aside), first match first: the first new enough is used; any other that runs can
# fetch the toolchain. Debian's golang-go installs /usr/lib/go/bin/go, a bootstrap even off PATH.
bootstrap=
while read -r go; do
  if [ -z "$go" ] || [ "$go" = "$dest/bin/go" ]; then continue; fi
  got=$(version_of "$go")
  [ -n "$got" ] || continue
  if at_least "$got" "$version"; then
    emit "$(dirname "$go")"
  fi
  bootstrap=${bootstrap:-$go}
done < <(
  type -a -P go 2>/dev/null || true
  [ -x /usr/lib/go/bin/go ] && echo /usr/lib/go/bin/go
)
[ -n "$bootstrap" ] ||
  die "no Go on PATH to fetch Go $version with (scripts/install-deps.sh installs Debian's golang-go)"

case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no Go toolchain module for the machine type '$(uname -m)'" ;;
esac
module="golang.org/toolchain@v0.0.1-go$version.linux-$arch"

mkdir -p "$(dirname "$dest")"
# One fetch at a time (two build scripts may start together); the second waits and then finds the copy.
exec 9>"$dest.lock"
if command -v flock >/dev/null; then flock 9; fi
if [ -x "$dest/bin/go" ] && [ "$(version_of "$dest/bin/go")" = "$version" ]; then
  emit "$dest/bin"
fi

log "fetching Go $version ($module) with $bootstrap (go$(version_of "$bootstrap")) ..."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The bootstrap Go must not switch toolchains by itself (1.21+): GOTOOLCHAIN=local.
GOTOOLCHAIN=local go_module_copy "$module" "$work" "$dest.tmp" "$bootstrap"
# A module zip records no executable bits and holds no go.mod below its root: as Go's own toolchain switch does
# (cmd/go/internal/toolchain/select.go), mark pkg/tool, lib's go_*_*_exec and bin executable, and copy every
# _go.mod to go.mod (the standard library's src/go.mod among them).
find "$dest.tmp/pkg/tool" "$dest.tmp/bin" -type f -exec chmod +x {} +
if [ -d "$dest.tmp/lib" ]; then find "$dest.tmp/lib" -type f -name 'go_?*_?*_exec' -exec chmod +x {} +; fi
find "$dest.tmp" -type f -name _go.mod -execdir cp _go.mod go.mod \;
got=$(version_of "$dest.tmp/bin/go")
[ "$got" = "$version" ] || die "the Go fetched as $module reports '$got', not $version"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
log "Go $version is in $dest"
emit "$dest/bin"
