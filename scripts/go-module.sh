# shellcheck shell=bash
# Sourced by the scripts that build a tool from its Go module (traefik-build.sh, docker-build.sh,
# docker-cli.sh): `go install` refuses those modules (replace or exclude directives, or no go.mod), so the
# module's source is copied out of Go's module cache and built there. The caller defines die().

# Copies MODULE@VERSION's source (downloaded into Go's module cache unless it is there already) to DEST, writable
# (the module cache is read-only; a later rm -rf must be able to delete the copy). Go runs in WORKDIR, outside
# any other module. Dies, showing what go said, when the proxy does not serve it.
go_module_copy() { # MODULE@VERSION WORKDIR DEST
  local json dir
  json=$(cd "$2" && go mod download -json "$1" 2>&1) || {
    printf '%s\n' "$json" >&2
    die "the Go module proxy does not serve $1"
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
