#!/usr/bin/env bash
# A real OpenSSH server in one sandbox instance's network namespace, so the program's `connection.mode: ssh`
# (remote.Command, the system ssh client with a pinned host key) can run against the sandbox's dockerd.
# The instance's front link (sandbox/common.sh, made by up.sh: a veth pair from the host's network namespace
# to the manager's, a /30 derived from the instance name in 198.18.0.0/15) carries it; sshd listens on the
# namespace end and sets DOCKER_HOST (and SANDBOX_DOCKER_SOCKET, for the traefik stack's compose file) to
# the instance's socket for every session. Keys and config live in $sandbox_state/ssh/ (down.sh deletes them
# with the state).
# Idempotent. Usage: SANDBOX=name bash sandbox/sshd.sh [--env | --stop]
#   --env   print the shell exports on stdout (eval "$(bash sandbox/sshd.sh --env)"); never the private key
#   --stop  stop this instance's sshd; works when the dockerd or namespace is gone. The front link stays (it
#           is the instance's, also for traefik); down.sh removes it.
# Knob: SANDBOX_SSH_PORT (default 22), the port sshd listens on inside the namespace.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"

print_env=false
stop=false
for arg in "$@"; do
  case $arg in
    --env) print_env=true ;;
    --stop) stop=true ;;
    *) sandbox_die "unknown option '$arg' (expected --env or --stop)" ;;
  esac
done
[ "$print_env" = true ] && [ "$stop" = true ] && sandbox_die "--env and --stop exclude each other"
[ "$(id -u)" -eq 0 ] || sandbox_die "needs root (creates a veth pair, starts sshd in a network namespace)"

ssh_port=${SANDBOX_SSH_PORT:-22}
if ! [[ $ssh_port =~ ^[1-9][0-9]{0,4}$ ]] || [ "$ssh_port" -gt 65535 ]; then
  sandbox_die "SANDBOX_SSH_PORT='$ssh_port' is not a TCP port (1-65535)"
fi

ssh_dir=$sandbox_state/ssh
host_key=$ssh_dir/ssh_host_ed25519_key
client_key=$ssh_dir/client_ed25519_key
authorized_keys=$ssh_dir/authorized_keys
known_hosts=$ssh_dir/known_hosts
sshd_config=$ssh_dir/sshd_config
sshd_pidfile=$ssh_dir/sshd.pid
sshd_log=$ssh_dir/sshd.log
netns_path=/run/netns/$sandbox_netns
config_changed=false

veth_ns_addr=$sandbox_front_ns_addr

# The sshd pid only if the process behind our pidfile is still the sshd we started (pids get reused).
sshd_pid() {
  local pid
  [ -r "$sshd_pidfile" ] || return 1
  pid=$(<"$sshd_pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/sshd ] || return 1
  # sshd rewrites its argv into one title ("sshd: /usr/sbin/sshd -f CONFIG ... [listener] ...").
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF " -f $sshd_config " || return 1
  echo "$pid"
}

stop_sshd() {
  local pid i
  if pid=$(sshd_pid); then
    sandbox_say "stopping sshd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      [ -d "/proc/$pid" ] || break
      sleep 0.25
    done
    if [ -d "/proc/$pid" ]; then
      sandbox_say "sshd (pid $pid) still running after 10 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$sshd_pidfile"
}

if [ "$stop" = true ]; then
  stop_sshd
  sandbox_say "sshd stopped"
  exit 0
fi

install_missing() {
  local need=() pkg
  for pkg in openssh-server openssh-client iproute2 util-linux; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
  done
  [ "${#need[@]}" -eq 0 ] && return 0
  sandbox_say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

# SetEnv in sshd_config (how sessions get DOCKER_HOST) needs OpenSSH >= 7.8.
check_openssh_version() {
  local version major minor
  version=$(dpkg-query -W -f='${Version}' openssh-server)
  version=${version#*:}
  if ! [[ $version =~ ^([0-9]+)\.([0-9]+) ]]; then
    sandbox_die "cannot read the version of openssh-server ('$version')"
  fi
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  if ((major < 7 || (major == 7 && minor < 8))); then
    sandbox_die "openssh-server $version lacks SetEnv in sshd_config (needs >= 7.8)"
  fi
}

# Keys are made once; a later run reuses them, so the pinned host key stays valid across restarts.
ensure_keys() {
  mkdir -p "$ssh_dir"
  chmod 0700 "$ssh_dir"
  if [ ! -s "$host_key" ] || [ ! -s "$host_key.pub" ]; then
    rm -f "$host_key" "$host_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "swarm-sandbox-$sandbox_name-host" -f "$host_key"
  fi
  if [ ! -s "$client_key" ] || [ ! -s "$client_key.pub" ]; then
    rm -f "$client_key" "$client_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "swarm-sandbox-$sandbox_name-client" -f "$client_key"
  fi
  chmod 0600 "$host_key" "$client_key"
  # Only the test's client key, and nothing else, may log in.
  (umask 077 && cp "$client_key.pub" "$authorized_keys.tmp")
  mv -f "$authorized_keys.tmp" "$authorized_keys"
  chmod 0600 "$authorized_keys"
}

# The public host key line as the program pins it: "ssh-ed25519 AAAA...", without the comment.
host_key_line() {
  local type key rest
  read -r type key rest <"$host_key.pub"
  if [ "$type" != ssh-ed25519 ] || ! [[ $key =~ ^AAAA[A-Za-z0-9+/]+=*$ ]]; then
    sandbox_die "unexpected host key in $host_key.pub"
  fi
  printf '%s %s\n' "$type" "$key"
}

write_config() {
  # Every value below is built from the validated instance name and port: no spaces, quotes or '#'.
  (umask 077 && cat >"$sshd_config.tmp" <<EOF
# Written by sandbox/sshd.sh for sandbox instance '$sandbox_name'; rewritten on every run.
ListenAddress $veth_ns_addr:$ssh_port
HostKey $host_key
PidFile $sshd_pidfile
AuthorizedKeysFile $authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
StrictModes yes
AllowUsers root
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
PermitTunnel no
PrintMotd no
PermitUserEnvironment no
LogLevel INFO
SetEnv DOCKER_HOST=unix://$sandbox_sock SANDBOX_DOCKER_SOCKET=$sandbox_sock
EOF
  )
  if cmp -s "$sshd_config.tmp" "$sshd_config"; then
    rm -f "$sshd_config.tmp"
  else
    config_changed=true
    mv -f "$sshd_config.tmp" "$sshd_config"
  fi
  # Privilege separation directory: Debian's sshd refuses to start (or even test a config) without it.
  mkdir -p /run/sshd
  chmod 0755 /run/sshd
  /usr/sbin/sshd -t -f "$sshd_config" || sandbox_die "sshd rejects $sshd_config (see above)"
}

# sshd daemonizes and writes its PidFile itself. Started with nsenter, it and every session it forks live in
# the instance's network namespace; the filesystem (and so the dockerd socket) is the host's.
start_sshd() {
  local pid
  if pid=$(sshd_pid); then
    # Still ours, but in this namespace (it may have been deleted and made again) and on this address?
    if [ "$config_changed" = false ] \
      && [ "$(stat -L -c %i "/proc/$pid/ns/net")" = "$(stat -L -c %i "$netns_path")" ] \
      && nsenter "--net=$netns_path" ss -Hltn src "$veth_ns_addr:$ssh_port" 2>/dev/null | grep -q .; then
      sandbox_say "sshd already runs (pid $pid)"
      return 0
    fi
    sandbox_say "sshd (pid $pid) has an older config or does not listen on $veth_ns_addr:$ssh_port in $sandbox_netns: restarting it"
    stop_sshd
  fi
  sandbox_say "starting sshd on $veth_ns_addr:$ssh_port in $sandbox_netns (log $sshd_log)"
  nsenter "--net=$netns_path" /usr/sbin/sshd -f "$sshd_config" -E "$sshd_log"
}

wait_port() {
  local i
  for ((i = 0; i < 40; i++)); do
    # shellcheck disable=SC2016 # expanded by the inner shell, from its arguments
    if timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$veth_ns_addr" "$ssh_port" 2>/dev/null; then
      return 0
    fi
    sleep 0.25
  done
  tail -n 5 "$sshd_log" >&2 || true
  sandbox_die "sshd does not accept connections on $veth_ns_addr:$ssh_port after 10 s; see $sshd_log"
}

# A real login, as the program's host-facts runner does it: batch mode, the pinned key and nothing else.
verify_login() {
  local key state
  key=$(host_key_line)
  (umask 077 && printf '[%s]:%s %s\n%s %s\n' "$veth_ns_addr" "$ssh_port" "$key" "$veth_ns_addr" "$key" >"$known_hosts")
  if ! state=$(ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o "UserKnownHostsFile=$known_hosts" -o GlobalKnownHostsFile=/dev/null \
    -o IdentitiesOnly=yes -o IdentityAgent=none -o "IdentityFile=$client_key" -o ConnectTimeout=10 \
    -p "$ssh_port" -l root -- "$veth_ns_addr" "docker info --format '{{.Swarm.LocalNodeState}}'"); then
    sandbox_die "ssh root@$veth_ns_addr:$ssh_port could not run docker info; see $sshd_log"
  fi
  case $state in
    active) sandbox_say "verified: ssh root@$veth_ns_addr:$ssh_port runs docker against the swarm (state $state)" ;;
    *) sandbox_die "ssh works but docker there reports swarm state '$state' (expected 'active'; is the sandbox up?)" ;;
  esac
}

[ -e "$netns_path" ] || sandbox_die "no network namespace $sandbox_netns: start the instance first (SANDBOX=$sandbox_name bash sandbox/up.sh); sshd.sh needs it (SANDBOX_NETNS=0 instances are not supported)"
if ! sandbox_dockerd_pid >/dev/null || ! sandbox_responds; then
  sandbox_die "the instance's dockerd does not run or answer on $sandbox_sock: run SANDBOX=$sandbox_name bash sandbox/up.sh first"
fi
install_missing
check_openssh_version
ensure_keys
sandbox_ensure_front_link
write_config
start_sshd
wait_port
verify_login
if [ "$print_env" = true ]; then
  printf 'export %s=%q\n' \
    SANDBOX_SSH_HOST "$veth_ns_addr" \
    SANDBOX_SSH_PORT "$ssh_port" \
    SANDBOX_SSH_USER root \
    SANDBOX_SSH_HOST_KEY "$(host_key_line)" \
    SANDBOX_SSH_KEY_FILE "$client_key"
fi
