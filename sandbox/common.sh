# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Shared by up.sh, down.sh and seed.sh: where one sandbox instance keeps its daemon.
# SANDBOX names the instance, so several people can each run their own dockerd on one machine.

sandbox_name=${SANDBOX:-sandbox}
if ! [[ $sandbox_name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,23}$ ]]; then
  echo "SANDBOX='$sandbox_name' is not a valid instance name (letters, digits, _ . -; at most 24)" >&2
  exit 2
fi
# Exec roots hold containerd's sockets: keep them short (unix socket paths are limited to 108 bytes).
sandbox_state=/var/lib/swarm-sandbox/$sandbox_name
sandbox_exec=/run/swarm-sandbox/$sandbox_name
sandbox_sock=/run/swarm-sandbox/$sandbox_name.sock
sandbox_netns=swarm-sandbox-$sandbox_name
sandbox_pidfile=$sandbox_exec/dockerd.pid
sandbox_log=$sandbox_state/dockerd.log
sandbox_image=swarm-sandbox/standin:1
export DOCKER_HOST=unix://$sandbox_sock

sandbox_say() { echo "sandbox[$sandbox_name]: $*" >&2; }
sandbox_die() { sandbox_say "error: $*"; exit 1; }

# The dockerd pid only if the process behind the pidfile is still our dockerd (pids get reused).
sandbox_dockerd_pid() {
  local pid
  [ -r "$sandbox_pidfile" ] || return 1
  pid=$(<"$sandbox_pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$sandbox_exec" || return 1
  echo "$pid"
}

sandbox_responds() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
