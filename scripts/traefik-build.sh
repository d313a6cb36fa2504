#!/usr/bin/env bash
# Builds the traefik the sandbox's traefik stack runs (nothing can be pulled there: no container registry) and
# prints the binary's path: .tools/traefik-v<version>/bin/traefik. Logs go to stderr.
#
# `go install .../cmd/traefik@<version>` refuses the module (its go.mod has replace directives), so the
# module's source is copied out of Go's module cache into .tools/traefik-v<version>/src and built there, a
# static binary (CGO_ENABLED=0) that runs in a rootfs holding nothing else. A stamp records the version built,
# so a second run only prints the path. The build is slow on a small machine (minutes): TRAEFIK_BUILD_JOBS
# (default 2) parallel compiles.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/go-module.sh
source "$root/scripts/go-module.sh"
case "${1:-}" in
  "") ;;
  -h | --help)
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0" >&2
    exit 2
    ;;
esac

version=v3.6.12
module=github.com/traefik/traefik/v3
jobs=${TRAEFIK_BUILD_JOBS:-2}

log() { echo "traefik-build: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

tools="$root/.tools/traefik-$version"
bin="$tools/bin/traefik"
stamp="$tools/bin/.version"
mkdir -p "$tools/bin"

# One build at a time (CI and a developer, or up.sh in two shells, may start it together); the second waits
# and then finds the stamp.
exec 9>"$tools/.lock"
if command -v flock >/dev/null; then flock 9; fi

if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(<"$stamp")" = "$version" ]; then
  printf '%s\n' "$bin"
  exit 0
fi

go_use_toolchain "traefik"

go_module_copy "$module@$version" "$tools" "$tools/src"
[ -f "$tools/src/go.mod" ] || die "cannot find the source directory of $module@$version (no go.mod in it)"

start=$SECONDS
log "building traefik $version (-p $jobs; this takes minutes) ..."
(cd "$tools/src" && CGO_ENABLED=0 go build -p "$jobs" -trimpath -buildvcs=false \
  -ldflags "-s -w -X $module/pkg/version.Version=$version" -o "$bin.tmp" ./cmd/traefik) >&2 ||
  die "building traefik $version failed"
got=$("$bin.tmp" version 2>/dev/null | awk '$1 == "Version:" {print $2; exit}')
[ "$got" = "$version" ] || die "the built traefik reports version '$got', not $version"
mv -f "$bin.tmp" "$bin"
printf '%s' "$version" >"$stamp"
log "built traefik $version in $((SECONDS - start))s"
printf '%s\n' "$bin"
