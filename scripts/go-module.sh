# shellcheck shell=bash
# shellcheck disable=SC2154 # root and die come from the script that sources this file
# Sourced by the scripts that build with Go (pulumi-toolchain.sh, traefik-build.sh, docker-build.sh,
# docker-cli.sh): `go install` refuses those modules (replace or exclude directives, or no go.mod), so the
# module's source is copied out of Go's module cache and built there. The caller defines root and die().

# Puts a Go new enough for every module the project builds first on PATH (scripts/go-toolchain.sh: the one on
# PATH, else Go fetched as the module golang.org/toolchain into .tools/), for the build of WHAT. GOTOOLCHAIN=local:
# a module's go line must not make go download another toolchain behind the build's back.
go_use_toolchain() { # WHAT
  local dir
  dir=$(bash "$root/scripts/go-toolchain.sh") ||
    die "no Go new enough to build $1 (above); scripts/install-deps.sh installs one"
  export PATH="$dir:$PATH" GOTOOLCHAIN=local
}

# Copies MODULE@VERSION's source (downloaded into Go's module cache unless it is there already) to DEST, writable
# (the module cache is read-only; a later rm -rf must be able to delete the copy). GO (default: the go on PATH)
# runs in WORKDIR, outside any other module. Dies, showing what go said, when the proxy does not serve it.
go_module_copy() { # MODULE@VERSION WORKDIR DEST [GO]
  local json dir
  json=$(cd "$2" && "${4:-go}" mod download -json "$1" 2>&1) || {
    printf '%s\n' "$json" >&2
    die "the Go module proxy does not serve $1 (GOPROXY=$("${4:-go}" env GOPROXY))"
  }
  dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1)
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    printf '%s\n' "$json" >&2
    die "cannot find the source directory of $1"
  fi
  rm -rf "$3"
  cp -R "$dir" "$3"
  chmod -R u+w "$3"
}
