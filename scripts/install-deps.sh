#!/usr/bin/env bash
# Installs the Debian packages the project needs when they are missing (dockerd for the sandbox, busybox and
# haproxy for its stand-in and socket-proxy images, shellcheck for the lint, iproute2 for the sandbox's network
# namespaces, jq and curl for the host scripts that write service specs through the Engine API, libseccomp-dev
# and pkg-config for the runc that Docker 29.8 needs: scripts/docker-build.sh), and a Go new enough for the
# builds (scripts/go-toolchain.sh: with no Go at all, Debian's golang-go, too old itself, fetches it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in docker.io busybox-static haproxy shellcheck iproute2 git curl jq nix-bin libseccomp-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if ! command -v go >/dev/null && [ ! -x /usr/lib/go/bin/go ]; then need+=(golang-go); fi
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash "$root/scripts/go-toolchain.sh" >/dev/null
