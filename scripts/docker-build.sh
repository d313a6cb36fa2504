#!/usr/bin/env bash
# Resolves the Docker engine the sandbox runs (SANDBOX_DOCKER, or the first argument) and prints the directory
# that holds its binaries: dockerd, docker-proxy, docker-init and runc (the sandbox puts it first on dockerd's
# PATH, so containerd's shim runs that runc). Logs go to stderr.
#
#   20.10  Debian's docker.io (dockerd 20.10, API 1.41)
#   28.5   github.com/docker/docker v28.5.2+incompatible (API 1.51, minimum 1.24)
#   29.0   github.com/moby/moby/v2 v2.0.0-beta.1, Docker 29.0 (API 1.52, minimum 1.44: the strict floor)
#   29     github.com/moby/moby/v2 v2.0.0-beta.24, Docker 29.8.0 (API 1.56, minimum 1.40), the default,
#          with runc v1.4.1 from its module (29.8 needs time namespaces, which Debian's runc 1.1.5 lacks)
#
# The built engines come from Go's module cache, copied into .tools/docker-<name>/src and built there
# (`go install` refuses them: no go.mod in 28, exclude directives in 29), a stamp recording what was built so a
# second run only prints the directory. The matching docker-proxy is built with dockerd (Docker 28's release
# notes: older proxies do not work with it). containerd and docker-init are Debian's (docker.io's
# dependencies), which ran every engine here. DOCKER_BUILD_JOBS (default 2) parallel compiles.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/go-module.sh
source "$root/scripts/go-module.sh"
case "${1:-}" in
  -h | --help)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac
[ "$#" -le 1 ] || {
  echo "usage: $0 [20.10|28.5|29.0|29]" >&2
  exit 2
}
engine=${1:-${SANDBOX_DOCKER:-29}}
jobs=${DOCKER_BUILD_JOBS:-2}

log() { echo "docker-build: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# name -> module, module version, the version dockerd reports, build tags, the runc to build (or none)
case $engine in
  20.10) module= ;;
  28.5)
    module=github.com/docker/docker modver=v28.5.2+incompatible version=28.5.2 runc=
    tags="exclude_graphdriver_btrfs exclude_graphdriver_devicemapper exclude_graphdriver_zfs"
    ;;
  29.0)
    module=github.com/moby/moby/v2 modver=v2.0.0-beta.1 version=29.0.0 runc=
    tags="exclude_graphdriver_btrfs exclude_graphdriver_zfs"
    ;;
  29)
    module=github.com/moby/moby/v2 modver=v2.0.0-beta.24 version=29.8.0 runc=v1.4.1
    tags="exclude_graphdriver_btrfs exclude_graphdriver_zfs"
    ;;
  *) die "SANDBOX_DOCKER='$engine' is not an engine of the matrix (allowed: 20.10, 28.5, 29.0, 29)" ;;
esac

tools="$root/.tools/docker-$engine"
bin="$tools/bin"
stamp="$bin/.stamp"
mkdir -p "$bin"
exec 9>"$tools/.lock"
if command -v flock >/dev/null; then flock 9; fi

# Debian's part of every engine: containerd (found on PATH by dockerd), docker-init; and 20.10 itself.
for f in /usr/bin/containerd /usr/bin/docker-init /usr/sbin/dockerd /usr/sbin/docker-proxy /usr/sbin/runc; do
  [ -x "$f" ] || die "$f is missing (Debian's docker.io and its dependencies; scripts/install-deps.sh installs them)"
done
link() { ln -sfn "$1" "$bin/$2"; }
link /usr/bin/docker-init docker-init
if [ -z "$module" ]; then
  link /usr/sbin/dockerd dockerd
  link /usr/sbin/docker-proxy docker-proxy
  link /usr/sbin/runc runc
  printf '%s\n' "$bin"
  exit 0
fi

want="$module@$modver runc=${runc:-debian} tags=$tags"
if [ -x "$bin/dockerd" ] && [ -x "$bin/docker-proxy" ] && [ -f "$stamp" ] && [ "$(<"$stamp")" = "$want" ]; then
  printf '%s\n' "$bin"
  exit 0
fi
go_use_toolchain "dockerd $version"

# A writable copy of a module's source without vendor/ (the module zips carry a partial one, or none).
copy_source() { # MODULE@VERSION DEST
  go_module_copy "$1" "$tools" "$2"
  rm -rf "$2/vendor"
}

start=$SECONDS
src="$tools/src"
copy_source "$module@$modver" "$src"
if [ ! -f "$src/go.mod" ]; then
  # Docker 28's module has no go.mod: its dependencies are listed in vendor.mod.
  cp "$src/vendor.mod" "$src/go.mod"
  cp "$src/vendor.sum" "$src/go.sum"
fi
log "building dockerd $version and docker-proxy from $module@$modver (-p $jobs; this takes minutes) ..."
for cmd in dockerd docker-proxy; do
  (cd "$src" && CGO_ENABLED=0 go build -mod=mod -p "$jobs" -trimpath -buildvcs=false -tags "$tags" \
    -ldflags "-s -w -X $module/dockerversion.Version=$version -X $module/dockerversion.GitCommit=$modver" \
    -o "$bin/$cmd.tmp" "./cmd/$cmd") >&2 || die "building $cmd from $module@$modver failed"
done
got=$("$bin/dockerd.tmp" --version 2>/dev/null | awk '{print $3}')
[ "${got%,}" = "$version" ] || die "the built dockerd reports version '$got', not $version"
if [ -n "$runc" ]; then
  if ! command -v pkg-config >/dev/null || ! pkg-config --exists libseccomp; then
    die "libseccomp-dev and pkg-config are missing (needed to build runc $runc; scripts/install-deps.sh installs them)"
  fi
  copy_source "github.com/opencontainers/runc@$runc" "$tools/runc-src"
  log "building runc $runc ..."
  (cd "$tools/runc-src" && CGO_ENABLED=1 go build -mod=mod -p "$jobs" -trimpath -buildvcs=false -tags seccomp \
    -ldflags "-X main.version=${runc#v}" -o "$bin/runc.tmp" .) >&2 || die "building runc $runc failed"
  mv -f "$bin/runc.tmp" "$bin/runc"
  rm -rf "$tools/runc-src"
else
  link /usr/sbin/runc runc
fi
mv -f "$bin/dockerd.tmp" "$bin/dockerd"
mv -f "$bin/docker-proxy.tmp" "$bin/docker-proxy"
rm -rf "$src"
printf '%s' "$want" >"$stamp"
log "built dockerd $version ($module@$modver) in $((SECONDS - start))s"
printf '%s\n' "$bin"
