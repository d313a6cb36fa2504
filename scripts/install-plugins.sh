#!/usr/bin/env bash
# Installs the real Pulumi plugins operators run, at the versions the project pins, where the CLI finds them:
#
#   pulumi-resource-command   @pulumi/command's version, into the plugin cache (`pulumi plugin install`)
#   pulumi-resource-docker    @pulumi/docker's version, into the plugin cache (`pulumi plugin install`)
#   pulumi-language-nodejs    the CLI's version, beside the `pulumi` binary (where the CLI finds bundled plugins)
#
# With SWARM_PROXY_PLUGIN_MIRROR (a directory of release archives, pulumi-KIND-NAME-vVERSION-OS-ARCH.tar.gz,
# and their SHA256SUMS) every archive SHA256SUMS lists is checked first; one bad checksum stops the script
# before anything is installed. The providers are then installed as operators do,
# `pulumi plugin install resource NAME VERSION --file ARCHIVE`, and the language host is taken from its archive.
# Without a mirror it tries `pulumi plugin install resource NAME VERSION` from Pulumi's own sources, once each
# with a short timeout (a failed try is not repeated for an hour: SWARM_PROXY_PLUGIN_RETRY_MINUTES); when that
# fails it says loudly what is missing and which stand-ins the test tiers use instead, and exits 0.
# With a mirror under CI=true, or with SWARM_PROXY_REQUIRE_REAL_PLUGINS=1, any failure to install is fatal.
#
# Plugins already installed at the pinned versions are kept: a second run only looks. The CLI is
# .tools/pulumi-v<version>/bin/pulumi (scripts/pulumi-toolchain.sh builds it), or the one in --bin DIR.
#
#   scripts/install-plugins.sh [--bin DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { echo "install-plugins: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --bin)
      [ $# -ge 2 ] || die "--bin needs a directory"
      bin=$2
      shift 2
      ;;
    -h | --help)
      sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "usage: $0 [--bin DIR]" >&2
      exit 2
      ;;
  esac
done

mirror=${SWARM_PROXY_PLUGIN_MIRROR:-}
strict=
if [ "${SWARM_PROXY_REQUIRE_REAL_PLUGINS:-}" = 1 ]; then
  strict="SWARM_PROXY_REQUIRE_REAL_PLUGINS=1"
elif [ -n "$mirror" ] && [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; then
  # CI as the tiers take it (harness/ci.ts): set to anything but empty or false.
  strict="CI=$CI with a plugin mirror"
fi
retry_minutes=${SWARM_PROXY_PLUGIN_RETRY_MINUTES:-60}
[[ $retry_minutes =~ ^[0-9]+$ ]] ||
  die "SWARM_PROXY_PLUGIN_RETRY_MINUTES must be a whole number of minutes (found '$retry_minutes')"

# --- versions pinned by the project (as scripts/pulumi-toolchain.sh reads them) --------------------------
# shellcheck source=scripts/pinned-versions.sh
source "$root/scripts/pinned-versions.sh"
cmd_version=$(provider_version command)
docker_version=$(provider_version docker)

bin=${bin:-$root/.tools/pulumi-v$cli_version/bin}
stamps="$(dirname "$bin")/versions"
pulumi="$bin/pulumi"
cache="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no Pulumi plugin archives for the machine type '$(uname -m)'" ;;
esac
os=$(uname -s | tr '[:upper:]' '[:lower:]')

# --- what is there already -------------------------------------------------------------------------------
# beside NAME VERSION: a binary beside the CLI that scripts/pulumi-toolchain.sh built or verified for VERSION
beside() {
  [ -x "$bin/$1" ] && [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "v$2" ]
}
# provider_ok NAME VERSION: the provider is in the plugin cache, completely installed (no `.partial` marker)
provider_ok() {
  local dir="$cache/resource-$1-v$2"
  [ -x "$dir/pulumi-resource-$1" ] && [ ! -e "$dir.partial" ]
}
# host_elsewhere: a language host the CLI finds before the one beside it (on PATH) or in the plugin cache
host_elsewhere() {
  local found f
  found=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$bin" | paste -sd:) command -v pulumi-language-nodejs || true)
  if [ -n "$found" ]; then
    log "using $found (on PATH) as the language host"
    return 0
  fi
  for f in "$cache"/language-nodejs-v*/pulumi-language-nodejs; do
    if [ -x "$f" ] && [ ! -e "$(dirname "$f").partial" ]; then
      log "using $f (in the plugin cache) as the language host"
      return 0
    fi
  done
  return 1
}

todo=()
provider_ok command "$cmd_version" || beside pulumi-resource-command "$cmd_version" || todo+=(command)
provider_ok docker "$docker_version" || beside pulumi-resource-docker "$docker_version" || todo+=(docker)
beside pulumi-language-nodejs "$cli_version" || host_elsewhere || todo+=(language)
if [ "${#todo[@]}" -eq 0 ]; then
  log "already installed: pulumi-language-nodejs v$cli_version, pulumi-resource-command v$cmd_version, pulumi-resource-docker v$docker_version"
  exit 0
fi

archive_of() { # archive_of WHAT: the mirror's archive name for a plugin to install
  case "$1" in
    command) printf 'pulumi-resource-command-v%s-%s-%s.tar.gz' "$cmd_version" "$os" "$arch" ;;
    docker) printf 'pulumi-resource-docker-v%s-%s-%s.tar.gz' "$docker_version" "$os" "$arch" ;;
    language) printf 'pulumi-language-nodejs-v%s-%s-%s.tar.gz' "$cli_version" "$os" "$arch" ;;
  esac
}
version_of() {
  case "$1" in
    command) printf '%s' "$cmd_version" ;;
    docker) printf '%s' "$docker_version" ;;
    language) printf '%s' "$cli_version" ;;
  esac
}

label_of() { # label_of WHAT: the plugin's binary and version, as the messages name it
  case "$1" in
    language) printf 'pulumi-language-nodejs v%s' "$cli_version" ;;
    *) printf 'pulumi-resource-%s v%s' "$1" "$(version_of "$1")" ;;
  esac
}

need_cli() {
  [ -x "$pulumi" ] || die "the Pulumi CLI $pulumi is missing: run scripts/pulumi-toolchain.sh first"
}
# pulumi_run SECONDS ARGS...: the CLI without update checks, stopped after SECONDS; its output goes to stderr
# (this script's stdout stays empty) and fd 9 (scripts/pulumi-toolchain.sh's lock) is not passed on
pulumi_run() {
  local secs=$1
  shift
  timeout "$secs" env PULUMI_SKIP_UPDATE_CHECK=true "$pulumi" "$@" >&2 9>&-
}

failed=()
fail() { # fail WHAT: one plugin could not be installed (fatal when strict)
  [ -z "$strict" ] || die "$* ($strict: every plugin must be installed)"
  log "FAILED: $*"
  failed+=("$*")
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

install_host() { # install_host ARCHIVE: pulumi-language-nodejs from a release archive, beside the CLI
  local got
  if ! tar -xzf "$1" -C "$tmp" pulumi-language-nodejs 2>"$tmp/tar.log"; then
    cat "$tmp/tar.log" >&2
    fail "$(label_of language): $1 holds no pulumi-language-nodejs at its top level"
    return
  fi
  got=$("$tmp/pulumi-language-nodejs" -version 2>/dev/null | head -n1 || true)
  if [ "${got#v}" != "$cli_version" ]; then
    fail "$(label_of language): the binary in $1 reports '$got'"
    return
  fi
  mkdir -p "$bin" "$stamps"
  install -m 0755 "$tmp/pulumi-language-nodejs" "$bin/pulumi-language-nodejs.tmp"
  mv -f "$bin/pulumi-language-nodejs.tmp" "$bin/pulumi-language-nodejs"
  printf 'v%s' "$cli_version" >"$stamps/pulumi-language-nodejs"
  log "installed $bin/pulumi-language-nodejs (v$cli_version)"
}

install_provider() { # install_provider NAME VERSION [ARCHIVE]: `pulumi plugin install`, then check the cache
  local how="from Pulumi's own sources"
  local args=(plugin install resource "$1" "$2")
  if [ $# -ge 3 ]; then
    args+=(--file "$3")
    how="from $3"
  fi
  log "pulumi ${args[*]}"
  if ! pulumi_run 120 "${args[@]}"; then
    fail "pulumi-resource-$1 v$2: \`pulumi plugin install\` $how failed"
  elif ! provider_ok "$1" "$2"; then
    fail "pulumi-resource-$1 v$2: \`pulumi plugin install\` $how left no $cache/resource-$1-v$2/pulumi-resource-$1"
  else
    log "installed pulumi-resource-$1 v$2 into $cache"
  fi
}

if [ -n "$mirror" ]; then
  # --- from the mirror: every checksum first, then the installs -----------------------------------------
  [ -d "$mirror" ] || die "SWARM_PROXY_PLUGIN_MIRROR=$mirror is not a directory"
  mirror=$(cd "$mirror" && pwd)
  sums="$mirror/SHA256SUMS"
  [ -f "$sums" ] || die "the plugin mirror $mirror has no SHA256SUMS: nothing installed"
  avail=()
  for what in "${todo[@]}"; do
    a=$(archive_of "$what")
    if [ ! -f "$mirror/$a" ]; then
      fail "$(label_of "$what"): the plugin mirror $mirror has no $a"
      continue
    fi
    awk -v f="$a" '$2 == f || $2 == "*" f { found = 1 } END { exit !found }' "$sums" ||
      die "$a is not listed in $sums, so it cannot be verified: nothing installed"
    avail+=("$what")
  done
  # Every archive SHA256SUMS lists and the mirror holds (one it lists but does not hold is no install's).
  if ! (cd "$mirror" && sha256sum --check --quiet --strict --ignore-missing SHA256SUMS) >"$tmp/sums.log" 2>&1; then
    bad=$(sed -n 's/^\(.*\): FAILED.*$/\1/p' "$tmp/sums.log" | paste -sd, | sed 's/,/, /g')
    [ -n "$bad" ] || bad=$(tr '\n' ' ' <"$tmp/sums.log")
    die "checksum mismatch in the plugin mirror ($sums): $bad; nothing installed"
  fi
  log "checksums verified: $sums"
  for what in "${avail[@]}"; do
    a="$mirror/$(archive_of "$what")"
    if [ "$what" = language ]; then
      install_host "$a"
    else
      need_cli
      install_provider "$what" "$(version_of "$what")" "$a"
    fi
  done
else
  # --- without a mirror: Pulumi's own sources, once, with a short timeout ------------------------------
  # The language host is bundled with the CLI (`pulumi plugin install language nodejs` refuses it).
  failed_before="$stamps/plugins-download-failed"
  recent=$(find "$failed_before" -mmin "-$retry_minutes" 2>/dev/null || true)
  for what in "${todo[@]}"; do
    [ "$what" = language ] && continue
    if [ -n "$recent" ] && [ -z "$strict" ]; then
      failed+=("pulumi-resource-$what v$(version_of "$what"): not downloaded (a try less than $retry_minutes minutes ago failed)")
      continue
    fi
    need_cli
    log "pulumi plugin install resource $what $(version_of "$what") (from Pulumi's own sources, at most 30s)"
    if pulumi_run 30 plugin install resource "$what" "$(version_of "$what")" &&
      provider_ok "$what" "$(version_of "$what")"; then
      log "installed pulumi-resource-$what v$(version_of "$what") into $cache"
    else
      mkdir -p "$stamps"
      touch "$failed_before"
      fail "pulumi-resource-$what v$(version_of "$what"): the download from Pulumi's own sources failed"
    fi
  done
  for what in "${todo[@]}"; do
    [ "$what" = language ] || continue
    fail "pulumi-language-nodejs v$cli_version: bundled with the CLI, and no plugin mirror to take it from"
  done
fi

if [ "${#failed[@]}" -gt 0 ]; then
  {
    echo "================================================================================================"
    echo "install-plugins: THE REAL PULUMI PLUGINS ARE NOT ALL INSTALLED"
    for f in "${failed[@]}"; do echo "  MISSING  $f"; done
    echo "The engine, drift and multinode tiers (and the demo) fall back to stand-ins for what is missing:"
    echo "  no language host     -> the program is served to the CLI inline (--client)"
    echo "  no command provider  -> the test stand-in provider (harness/engine/command-provider);"
    echo "                          the multinode tier does not run"
    echo "  no docker provider   -> the network is managed by the host scripts (implementation: command)"
    echo "Set SWARM_PROXY_PLUGIN_MIRROR to a directory of plugin archives (TESTING.md) to install them."
    echo "================================================================================================"
  } >&2
fi
exit 0
