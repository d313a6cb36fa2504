#!/usr/bin/env bash
# Prints a directory whose `docker` speaks to every engine of the sandbox's matrix (20.10 up to 29.8): a client
# of API 1.44 or newer (Docker 25+), since Docker 29.0 refuses anything older ("client version 1.41 is too
# old"), and older than 29, whose client no longer negotiates below 1.44 (measured: the 29.1.2 CLI against
# dockerd 20.10, "client version 1.52 is too new. Maximum supported API version is 1.41"). The machine's own CLI
# when it is such a one; otherwise github.com/docker/cli 28.5.2 (built once from its Go module into
# .tools/docker-cli/, with a stamp).
# Callers put it first on PATH: the host scripts, the sandbox scripts and the tiers all run `docker`.
# Logs go to stderr.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/go-module.sh
source "$root/scripts/go-module.sh"
version=v28.5.2+incompatible
module=github.com/docker/cli
minimum=1.44
plain=${version%+incompatible}

log() { echo "docker-cli: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
# 0 when API version $1 >= $2 (major.minor).
api_at_least() {
  local a=${1%%.*} b=${1#*.} c=${2%%.*} d=${2#*.}
  [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || return 1
  [ "$a" -gt "$c" ] || { [ "$a" -eq "$c" ] && [ "$b" -ge "$d" ]; }
}

tools="$root/.tools/docker-cli"
bin="$tools/bin"
# Every docker on PATH, first match first (the built one aside): the first new enough is used.
while read -r cli; do
  if [ -z "$cli" ] || [ "$cli" = "$bin/docker" ]; then continue; fi
  # The client's part prints even when no daemon answers (the command then exits non-zero).
  read -r api major < <(DOCKER_HOST=unix:///nonexistent "$cli" version \
    --format '{{.Client.APIVersion}} {{.Client.Version}}' 2>/dev/null || true) || true
  major=${major#v}
  major=${major%%.*}
  if api_at_least "${api:-}" "$minimum" && [[ ${major:-} =~ ^[0-9]+$ ]] && [ "$major" -lt 29 ]; then
    dirname "$cli"
    exit 0
  fi
done < <(type -a -P docker 2>/dev/null || true)

mkdir -p "$bin"
exec 9>"$tools/.lock"
if command -v flock >/dev/null; then flock 9; fi
stamp="$bin/.version"
if [ -x "$bin/docker" ] && [ -f "$stamp" ] && [ "$(<"$stamp")" = "$version" ]; then
  printf '%s\n' "$bin"
  exit 0
fi
go_use_toolchain "the docker CLI (no docker CLI of API $minimum or newer on PATH)"
go_module_copy "$module@$version" "$tools" "$tools/src"
[ -f "$tools/src/vendor.mod" ] || die "cannot find the source directory of $module@$version (no vendor.mod in it)"
# The module has no go.mod: its dependencies are listed in vendor.mod (the module zip carries no vendor/).
rm -rf "$tools/src/vendor"
cp "$tools/src/vendor.mod" "$tools/src/go.mod"
cp "$tools/src/vendor.sum" "$tools/src/go.sum"
start=$SECONDS
log "no docker CLI of API $minimum or newer on PATH: building $module@$version ..."
(cd "$tools/src" && CGO_ENABLED=0 go build -mod=mod -trimpath -buildvcs=false \
  -ldflags "-s -w -X $module/cli/version.Version=${plain#v}" -o "$bin/docker.tmp" ./cmd/docker) >&2 ||
  die "building the docker CLI $version failed"
mv -f "$bin/docker.tmp" "$bin/docker"
rm -rf "$tools/src"
printf '%s' "$version" >"$stamp"
log "built the docker CLI $version in $((SECONDS - start))s"
printf '%s\n' "$bin"
