# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Shared by up.sh, down.sh, node.sh and seed.sh: where one sandbox instance keeps its daemons, and how one
# node (a dockerd of its own) is started and stopped. SANDBOX names the instance, so several people can each
# run their own swarm on one machine. A single-node instance is one dockerd; a multi-node one
# (SANDBOX_NODES=N, up.sh) is a manager, which is the instance itself (same paths and socket), plus N-1
# workers, each a per-node instance named <instance>-w1, <instance>-w2, ... with its own paths.

sandbox_name=${SANDBOX:-sandbox}
# At most 24 characters: a worker adds "-wN", and exec roots hold containerd's sockets (unix socket paths are
# limited to 108 bytes; the longest below /run/swarm-sandbox/<node>/ takes 34 more).
if ! [[ $sandbox_name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,23}$ ]]; then
  echo "SANDBOX='$sandbox_name' is not a valid instance name (letters, digits, _ . -; at most 24)" >&2
  exit 2
fi
sandbox_image=swarm-sandbox/standin:2
# The traefik stack's images, made on the manager only (both services are constrained to it). The traefik
# binary is built by scripts/traefik-build.sh (keep the version in step with it); SANDBOX_TRAEFIK_BIN names
# another static binary of that version.
sandbox_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sandbox_traefik_version=v3.6.12
sandbox_traefik_image=swarm-sandbox/traefik:$sandbox_traefik_version
sandbox_traefik_bin=${SANDBOX_TRAEFIK_BIN:-$sandbox_root/.tools/traefik-$sandbox_traefik_version/bin/traefik}
sandbox_socket_proxy_image=swarm-sandbox/socket-proxy:1
# The Docker engine every node runs (scripts/docker-build.sh builds and caches it in .tools/): 20.10 (Debian's
# docker.io), 28.5, 29.0 (the strict API floor, 1.44) or 29 (the newest 29.x served, the default, as on a NixOS
# host); `system` runs the machine's own dockerd from PATH.
sandbox_engine=${SANDBOX_DOCKER:-29}
case $sandbox_engine in
  20.10 | 28.5 | 29.0 | 29 | system) ;;
  *)
    echo "SANDBOX_DOCKER='$sandbox_engine' is not an engine the sandbox runs (allowed: 20.10, 28.5, 29.0, 29, system)" >&2
    exit 2
    ;;
esac
sandbox_max_nodes=9
# The nodes of a multi-node instance meet on a Linux bridge in a namespace of their own (the hub: no
# iptables, so VXLAN between nodes is never filtered). Its name holds a '+', which instance names cannot,
# so it never collides with another instance's namespace.
sandbox_hub_netns=swarm-sandbox-$sandbox_name+hub
# Every instance has its own namespaces, so every instance can use the same private /24 for its nodes
# (outside Docker's default pools: 172.17-31.0.0/16 and 192.168.0.0/16 for bridges, 10.0.0.0/8 for overlays).
sandbox_node_net=172.16.200

# Points the sandbox_* paths and DOCKER_HOST at one node's dockerd (the instance itself, or a worker).
sandbox_select() { # INSTANCE
  sandbox_instance=$1
  sandbox_state=/var/lib/swarm-sandbox/$sandbox_instance
  # Exec roots hold containerd's sockets: keep them short.
  sandbox_exec=/run/swarm-sandbox/$sandbox_instance
  sandbox_sock=/run/swarm-sandbox/$sandbox_instance.sock
  sandbox_netns=swarm-sandbox-$sandbox_instance
  sandbox_pidfile=$sandbox_exec/dockerd.pid
  sandbox_log=$sandbox_state/dockerd.log
  export DOCKER_HOST=unix://$sandbox_sock
}
sandbox_select "$sandbox_name"
# The manager's (the instance's own) paths, whichever node is selected.
sandbox_manager_state=$sandbox_state
sandbox_manager_host=$DOCKER_HOST
sandbox_manager_log=$sandbox_log
sandbox_nodes_file=$sandbox_manager_state/nodes
# The engine the instance was created with: its data root is that engine's (an older dockerd cannot read what a
# newer one wrote), so another SANDBOX_DOCKER needs the instance taken down first.
sandbox_engine_file=$sandbox_manager_state/engine
# The traefik stack bind-mounts the manager's dockerd socket into its socket proxy; the socket is per
# instance, so the compose file takes it from here (interpolated by `docker stack deploy`).
export SANDBOX_DOCKER_SOCKET=$sandbox_sock

# The front link: a veth pair from the host's network namespace to the manager's, so the host reaches what
# the manager publishes in host mode (traefik's port 80) and sshd.sh's sshd. One /30 per instance in
# 198.18.0.0/15 (RFC 2544, benchmarking: not routed anywhere), from a hash of the instance name: 32768
# blocks. .1 is the host end, .2 the namespace end. The host end's interface name carries the same block
# number, so a collision of two names shows as "address in use", never as a silently shared link; its
# ifalias records which instance owns it.
sandbox_front_netns=swarm-sandbox-$sandbox_name
sandbox_front_block=$((0x$(printf '%s' "$sandbox_name" | sha256sum | cut -c1-8) % 32768))
sandbox_front_base=$(((198 << 24) + (18 << 16) + sandbox_front_block * 4))
sandbox_ipv4() { printf '%d.%d.%d.%d' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
sandbox_front_net=$(sandbox_ipv4 "$sandbox_front_base")
sandbox_front_host_addr=$(sandbox_ipv4 $((sandbox_front_base + 1)))
sandbox_front_ns_addr=$(sandbox_ipv4 $((sandbox_front_base + 2)))
sandbox_front_host_if=$(printf 'sbfront%04x' "$sandbox_front_block")
sandbox_front_ns_if=front0
sandbox_front_alias="swarm-sandbox front $sandbox_name"

sandbox_say() { echo "sandbox[$sandbox_instance]: $*" >&2; }
sandbox_die() { sandbox_say "error: $*"; exit 1; }

# Node 0 is the manager (the instance itself), node i >= 1 the worker wi.
sandbox_node_instance() { if [ "$1" -eq 0 ]; then echo "$sandbox_name"; else echo "$sandbox_name-w$1"; fi; }
sandbox_node_hostname() { if [ "$1" -eq 0 ]; then echo "$sandbox_name-manager"; else echo "$sandbox_name-w$1"; fi; }
sandbox_node_addr() { echo "$sandbox_node_net.$(($1 + 1))"; }

# How many nodes the instance was created with: its nodes file, else 1 for a swarm made before there was one;
# nothing when the instance has no state.
sandbox_recorded_nodes() {
  local n
  if [ -r "$sandbox_nodes_file" ]; then
    n=$(<"$sandbox_nodes_file")
    [[ $n =~ ^[1-9]$ ]] && { echo "$n"; return 0; }
  fi
  [ -e "$sandbox_manager_state/data/swarm" ] && echo 1
  return 0
}

# The worker instances of this instance found on disk (state, exec root, namespace): those marked as ours,
# and those within the recorded node count. Another instance that merely has a name like <instance>-w1 is
# not marked as ours and is left alone.
sandbox_workers_on_disk() {
  local recorded path base i marker
  recorded=$(sandbox_recorded_nodes)
  for path in /var/lib/swarm-sandbox/"$sandbox_name"-w* /run/swarm-sandbox/"$sandbox_name"-w* \
    /run/netns/swarm-sandbox-"$sandbox_name"-w*; do
    [ -e "$path" ] || continue
    base=${path##*/}
    base=${base#swarm-sandbox-}
    base=${base%.sock}
    [[ $base =~ ^"$sandbox_name"-w([1-9][0-9]*)$ ]] || continue
    i=${BASH_REMATCH[1]}
    for marker in "/var/lib/swarm-sandbox/$base/worker-of" "/run/swarm-sandbox/$base/worker-of"; do
      if [ -r "$marker" ] && [ "$(<"$marker")" = "$sandbox_name" ]; then
        echo "$base"
        continue 2
      fi
    done
    if [ -n "$recorded" ] && [ "$i" -lt "$recorded" ]; then echo "$base"; fi
  done | sort -u -V
}

# Refuses to run on a worker as if it were an instance of its own.
sandbox_refuse_worker() {
  local marker
  for marker in "$sandbox_manager_state/worker-of" "/run/swarm-sandbox/$sandbox_name/worker-of"; do
    if [ -r "$marker" ]; then
      sandbox_die "'$sandbox_name' is a worker node of instance '$(<"$marker")': use SANDBOX=$(<"$marker") (up.sh, down.sh, node.sh)"
    fi
  done
  return 0
}

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

# TERM, up to TIMEOUT seconds for the process to end, then KILL.
sandbox_stop_pid() { # PID WHAT [TIMEOUT]
  local pid=$1 what=$2 timeout=${3:-60} i
  [ -d "/proc/$pid" ] || return 0
  sandbox_say "stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < timeout * 2; i++)); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.5
  done
  sandbox_say "$what (pid $pid) still running after $timeout s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.5
  done
}

# The selected node's containerd, when dockerd left one behind (dockerd killed); found by its pidfile.
sandbox_containerd_pid() {
  local pidfile=$sandbox_exec/containerd/containerd.pid pid
  [ -r "$pidfile" ] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF "$sandbox_exec" || return 1
  echo "$pid"
}

# Stops the selected node's dockerd (and a containerd it left behind), keeping its state.
sandbox_stop_node() { # [TIMEOUT]
  local pid
  if pid=$(sandbox_dockerd_pid); then sandbox_stop_pid "$pid" dockerd "${1:-60}"; fi
  if pid=$(sandbox_containerd_pid); then sandbox_stop_pid "$pid" containerd 30; fi
  return 0
}

# A network namespace per node keeps docker0, docker_gwbridge, iptables and the swarm ports apart, so
# instances do not see each other. Without it (no CAP_SYS_ADMIN), one instance runs in the host namespace.
sandbox_ensure_netns() { # NETNS
  if ! ip netns list | awk '{print $1}' | grep -qxF "$1"; then
    ip netns add "$1" 2>/dev/null || return 1
  fi
  ip -n "$1" link set lo up
}

# The hub's bridge and the selected node's veth into it, with the node's address (idempotent).
sandbox_ensure_hub_link() { # NODE_INDEX
  local i=$1
  sandbox_ensure_netns "$sandbox_hub_netns" || sandbox_die "cannot create the hub namespace $sandbox_hub_netns"
  if ! ip -n "$sandbox_hub_netns" link show br0 >/dev/null 2>&1; then
    ip -n "$sandbox_hub_netns" link add br0 type bridge
  fi
  ip -n "$sandbox_hub_netns" link set br0 up
  if ! ip -n "$sandbox_netns" link show hub0 >/dev/null 2>&1; then
    ip -n "$sandbox_hub_netns" link del "n$i" 2>/dev/null || true
    ip -n "$sandbox_hub_netns" link add "n$i" type veth peer name hub0 netns "$sandbox_netns"
  fi
  ip -n "$sandbox_hub_netns" link set "n$i" master br0 up
  ip -n "$sandbox_netns" addr replace "$(sandbox_node_addr "$i")/24" dev hub0
  ip -n "$sandbox_netns" link set hub0 up
}

sandbox_link_exists() { ip link show dev "$1" >/dev/null 2>&1; }
# Our host end of the front link: exists and carries our alias.
sandbox_front_link_is_ours() {
  sandbox_link_exists "$sandbox_front_host_if" || return 1
  [ "$(cat "/sys/class/net/$sandbox_front_host_if/ifalias" 2>/dev/null)" = "$sandbox_front_alias" ]
}

# Refuses when our /30 is used by anything but our own front link: addresses in the host namespace (or in the
# manager's), or routes into it.
sandbox_front_check_free() { # host | NETNS
  local ns=$1 line dev addr
  while read -r line; do
    dev=$(awk '{print $2}' <<<"$line")
    addr=$(awk '{print $4}' <<<"$line")
    addr=${addr%/*}
    case $addr in
      "$sandbox_front_net" | "$sandbox_front_host_addr" | "$sandbox_front_ns_addr" | "$(sandbox_ipv4 $((sandbox_front_base + 3)))") ;;
      *) continue ;;
    esac
    if [ "$ns" = host ] && [ "$dev" = "$sandbox_front_host_if" ] && sandbox_front_link_is_ours; then continue; fi
    if [ "$ns" != host ] && [ "$dev" = "$sandbox_front_ns_if" ]; then continue; fi
    sandbox_die "address $addr (in the /30 $sandbox_front_net/30 derived from SANDBOX='$sandbox_name') is already in use on $dev in the $ns network namespace; pick another instance name"
  done < <(if [ "$ns" = host ]; then ip -o -4 addr show; else ip -n "$ns" -o -4 addr show; fi)
  while read -r line; do
    [ -n "$line" ] || continue
    dev=$(sed -n 's/.* dev \([^ ]*\).*/\1/p' <<<"$line")
    if [ "$ns" = host ] && [ "$dev" = "$sandbox_front_host_if" ] && sandbox_front_link_is_ours; then continue; fi
    if [ "$ns" != host ] && [ "$dev" = "$sandbox_front_ns_if" ]; then continue; fi
    sandbox_die "$sandbox_front_net/30 (derived from SANDBOX='$sandbox_name') is already routed in the $ns network namespace ($line); pick another instance name"
  done < <(if [ "$ns" = host ]; then ip -o -4 route show to root "$sandbox_front_net/30"; else ip -n "$ns" -o -4 route show to root "$sandbox_front_net/30"; fi)
}

# The front link of the instance (its manager's namespace must exist). Idempotent.
sandbox_ensure_front_link() {
  sandbox_front_check_free host
  sandbox_front_check_free "$sandbox_front_netns"
  if sandbox_link_exists "$sandbox_front_host_if" && ! sandbox_front_link_is_ours; then
    sandbox_die "interface $sandbox_front_host_if exists but is not this instance's (ifalias '$(cat "/sys/class/net/$sandbox_front_host_if/ifalias" 2>/dev/null)'); pick another instance name"
  fi
  # A host end whose namespace end is not in our namespace (or is gone) is stale: start over.
  if sandbox_front_link_is_ours && ! ip -n "$sandbox_front_netns" link show dev "$sandbox_front_ns_if" >/dev/null 2>&1; then
    ip link del dev "$sandbox_front_host_if"
  fi
  if ! sandbox_front_link_is_ours; then
    if ip -n "$sandbox_front_netns" link show dev "$sandbox_front_ns_if" >/dev/null 2>&1; then
      ip -n "$sandbox_front_netns" link del dev "$sandbox_front_ns_if"
    fi
    sandbox_say "creating the front link $sandbox_front_host_if ($sandbox_front_host_addr/30) <-> $sandbox_front_ns_if ($sandbox_front_ns_addr/30 in $sandbox_front_netns)"
    ip link add "$sandbox_front_host_if" type veth peer name "$sandbox_front_ns_if" netns "$sandbox_front_netns"
    ip link set dev "$sandbox_front_host_if" alias "$sandbox_front_alias"
  fi
  if ! ip -o -4 addr show dev "$sandbox_front_host_if" | grep -qF " $sandbox_front_host_addr/30 "; then
    ip addr add "$sandbox_front_host_addr/30" dev "$sandbox_front_host_if"
  fi
  ip link set dev "$sandbox_front_host_if" up
  if ! ip -n "$sandbox_front_netns" -o -4 addr show dev "$sandbox_front_ns_if" | grep -qF " $sandbox_front_ns_addr/30 "; then
    ip -n "$sandbox_front_netns" addr add "$sandbox_front_ns_addr/30" dev "$sandbox_front_ns_if"
  fi
  ip -n "$sandbox_front_netns" link set dev "$sandbox_front_ns_if" up
  # The host must reach the namespace end through our veth and nothing else.
  if ! ip -o route get "$sandbox_front_ns_addr" | grep -qF " dev $sandbox_front_host_if "; then
    sandbox_die "the host does not route $sandbox_front_ns_addr through $sandbox_front_host_if: $(ip -o route get "$sandbox_front_ns_addr")"
  fi
}

# Deleting one end of a veth deletes the other; when the namespace is gone, so is the pair. Idempotent.
sandbox_remove_front_link() {
  if sandbox_front_link_is_ours; then
    sandbox_say "removing the front link $sandbox_front_host_if"
    if ! ip link del dev "$sandbox_front_host_if" && sandbox_link_exists "$sandbox_front_host_if"; then
      sandbox_die "could not remove the front link $sandbox_front_host_if"
    fi
  fi
  return 0
}

# overlay2 cannot stack on an overlay filesystem (a container's root, for instance); vfs works anywhere.
# SANDBOX_STORAGE_DRIVER=containerd: no --storage-driver at all (Docker 29's containerd image store).
sandbox_storage_driver() {
  if [ -n "${SANDBOX_STORAGE_DRIVER:-}" ]; then
    echo "$SANDBOX_STORAGE_DRIVER"
  elif [ "$(stat -f -c %T "$sandbox_state")" = overlayfs ] || ! grep -qw overlay /proc/filesystems; then
    echo vfs
  else
    echo overlay2
  fi
}

# The directory holding the selected engine's dockerd, docker-proxy, docker-init and runc (built on first use;
# docker-build.sh only prints the directory once its stamp is there).
sandbox_engine_bin() {
  if [ "$sandbox_engine" = system ]; then
    local dockerd
    dockerd=$(command -v dockerd) || sandbox_die "SANDBOX_DOCKER=system, but there is no dockerd on PATH"
    dirname "$(readlink -f "$dockerd")"
  else
    bash "$sandbox_root/scripts/docker-build.sh" "$sandbox_engine" ||
      sandbox_die "the engine SANDBOX_DOCKER=$sandbox_engine could not be built (scripts/docker-build.sh)"
  fi
}

# Refuses an instance made with another engine than SANDBOX_DOCKER selects; records the engine of a new one.
sandbox_check_engine() {
  local recorded
  if [ -r "$sandbox_engine_file" ]; then
    recorded=$(<"$sandbox_engine_file")
    [ "$recorded" = "$sandbox_engine" ] ||
      sandbox_die "the instance runs the engine SANDBOX_DOCKER=$recorded, not $sandbox_engine: take it down first (down.sh)"
  elif [ -e "$sandbox_manager_state/data" ]; then
    # An instance from before engines were a choice ran the machine's dockerd.
    [ "$sandbox_engine" = system ] || [ "$sandbox_engine" = 20.10 ] ||
      sandbox_die "the instance was made with the machine's dockerd, not SANDBOX_DOCKER=$sandbox_engine: take it down first (down.sh)"
  fi
  mkdir -p "$sandbox_manager_state"
  echo "$sandbox_engine" >"$sandbox_engine_file"
}

# Starts the selected node's dockerd and waits until it answers. HOSTNAME (multi-node only) runs it in a UTS
# namespace of its own with that hostname, which becomes its swarm node name.
sandbox_start_dockerd() { # USE_NETNS [HOSTNAME]
  local use_netns=$1 hostname=${2:-} driver i bin storage=()
  mkdir -p "$sandbox_state/data" "$sandbox_exec"
  bin=$(sandbox_engine_bin)
  driver=$(sandbox_storage_driver)
  # containerd: no --storage-driver, so Docker 29 uses its containerd image store, as a fresh install does.
  [ "$driver" = containerd ] || storage=(--storage-driver "$driver")
  # An empty config keeps the machine's daemon.json (if any) out of the sandbox.
  [ -f "$sandbox_state/daemon.json" ] || echo '{}' >"$sandbox_state/daemon.json"
  # The engine's own directory first on PATH: containerd's shim runs the runc found there (Docker 29.8 needs a
  # newer one than Debian's). docker-proxy and docker-init are named explicitly: dockerd would otherwise take
  # whichever it finds, and Docker 28's release notes say an older proxy does not work with it.
  local cmd=(env "PATH=$bin:$PATH" "$bin/dockerd"
    --data-root "$sandbox_state/data" --exec-root "$sandbox_exec" --pidfile "$sandbox_pidfile"
    --config-file "$sandbox_state/daemon.json" -H "unix://$sandbox_sock"
    "${storage[@]}" --cgroup-parent "swarm-sandbox-$sandbox_instance"
    --userland-proxy-path "$bin/docker-proxy" --init-path "$bin/docker-init"
    # dockerd uses the machine's containerd when one runs: keep each node's containers apart there.
    --containerd-namespace "swarm-sandbox-$sandbox_instance"
    --containerd-plugins-namespace "swarm-sandbox-$sandbox_instance-plugins")
  if [ -n "$hostname" ]; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    cmd=(unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$hostname" "${cmd[@]}")
  fi
  if [ "$use_netns" = true ]; then
    cmd=(nsenter "--net=/run/netns/$sandbox_netns" "${cmd[@]}")
  fi
  sandbox_say "starting dockerd $sandbox_engine from $bin (storage driver $driver, log $sandbox_log)"
  setsid "${cmd[@]}" </dev/null >>"$sandbox_log" 2>&1 &
  for ((i = 0; i < 120; i++)); do
    sandbox_responds && return 0
    if ! kill -0 "$!" 2>/dev/null; then
      tail -n 5 "$sandbox_log" >&2
      sandbox_die "dockerd exited during start-up; see $sandbox_log"
    fi
    sleep 0.5
  done
  sandbox_die "dockerd did not answer on $sandbox_sock within 60 s; see $sandbox_log"
}

# Starts the selected node's dockerd unless ours already runs (refusing a foreign one on its socket).
sandbox_ensure_dockerd() { # USE_NETNS [HOSTNAME]
  if ! sandbox_dockerd_pid >/dev/null || ! sandbox_responds; then
    if sandbox_responds; then
      sandbox_die "something else answers on $sandbox_sock; refusing to start a second dockerd"
    fi
    sandbox_stop_node 60
    sandbox_start_dockerd "$@"
  fi
}

# Nothing can be pulled: the stand-in image is a busybox rootfs. At start its script writes /www/index.html,
# one line "stack <SANDBOX_STACK> task <SANDBOX_TASK>" (the compose files set both with service templates), so
# a request routed through traefik shows which stack and task answered; then it serves /www with busybox
# httpd on port 80. SANDBOX_ON_TERM picks what SIGTERM does: "exit" (the default) stops the task at once
# instead of waiting out the grace period (busybox httpd as pid 1 ignores SIGTERM); "drain:N" keeps serving
# N more seconds (a server finishing its requests while traefik still routes to it), then exits.
sandbox_ensure_image() {
  docker image inspect "$sandbox_image" >/dev/null 2>&1 && return 0
  local rootfs applet
  rootfs=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the trap must remove this directory
  trap "rm -rf '$rootfs'" RETURN
  mkdir -p "$rootfs/bin" "$rootfs/www" "$rootfs/tmp" "$rootfs/etc"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in sh httpd sleep wget cat ls ip hostname nslookup kill; do
    ln -s busybox "$rootfs/bin/$applet"
  done
  echo ok >"$rootfs/www/index.html"
  cat >"$rootfs/bin/standin" <<'STANDIN'
#!/bin/sh
# The sandbox's stand-in service (sandbox/common.sh): answers with its stack and task; SIGTERM per SANDBOX_ON_TERM.
printf 'stack %s task %s\n' "${SANDBOX_STACK:--}" "${SANDBOX_TASK:--}" >/www/index.html
drain=0
case ${SANDBOX_ON_TERM:-exit} in
  exit) ;;
  drain:*)
    drain=${SANDBOX_ON_TERM#drain:}
    case $drain in '' | *[!0-9]*)
      echo "standin: SANDBOX_ON_TERM='$SANDBOX_ON_TERM': drain needs whole seconds; exiting at once on SIGTERM" >&2
      drain=0
      ;;
    esac
    ;;
  *) echo "standin: SANDBOX_ON_TERM='$SANDBOX_ON_TERM' is neither exit nor drain:N; exiting at once on SIGTERM" >&2 ;;
esac
on_term() {
  if [ "$drain" -gt 0 ]; then
    echo "standin: SIGTERM: serving $drain s more" >&2
    sleep "$drain"
  fi
  kill "$httpd" 2>/dev/null
  exit 0
}
trap on_term TERM INT
httpd -f -p 80 -h /www &
httpd=$!
wait "$httpd"
STANDIN
  chmod 0755 "$rootfs/bin/standin"
  sandbox_say "building $sandbox_image from busybox-static"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/standin"]' - "$sandbox_image" >/dev/null
}

# traefik: the static binary alone (nothing in the sandbox speaks TLS, so no CA certificates).
sandbox_ensure_traefik_image() {
  docker image inspect "$sandbox_traefik_image" >/dev/null 2>&1 && return 0
  if [ ! -x "$sandbox_traefik_bin" ]; then
    sandbox_die "traefik is not built: $sandbox_traefik_bin is missing. Build it with scripts/traefik-build.sh (takes minutes; cached in .tools/) or point SANDBOX_TRAEFIK_BIN at a static traefik $sandbox_traefik_version; the traefik stack cannot run without it"
  fi
  local rootfs
  rootfs=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the trap must remove this directory
  trap "rm -rf '$rootfs'" RETURN
  mkdir -p "$rootfs/tmp" "$rootfs/etc"
  cp "$sandbox_traefik_bin" "$rootfs/traefik"
  chmod 0755 "$rootfs/traefik"
  sandbox_say "building $sandbox_traefik_image from $sandbox_traefik_bin"
  tar -C "$rootfs" -c . | docker import -c 'ENTRYPOINT ["/traefik"]' - "$sandbox_traefik_image" >/dev/null
}

# The socket proxy in front of dockerd, as on the reference host: traefik reads the Docker API only through
# it. Debian's haproxy (dynamically linked: the binary, every library ldd lists and the loader), with a
# config that lets through only GET and HEAD of the read endpoints traefik's swarm provider uses.
sandbox_ensure_socket_proxy_image() {
  docker image inspect "$sandbox_socket_proxy_image" >/dev/null 2>&1 && return 0
  local haproxy=/usr/sbin/haproxy rootfs lib
  [ -x "$haproxy" ] || sandbox_die "$haproxy is missing (Debian package haproxy; up.sh installs it)"
  rootfs=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the trap must remove this directory
  trap "rm -rf '$rootfs'" RETURN
  mkdir -p "$rootfs/usr/sbin" "$rootfs/etc/haproxy" "$rootfs/tmp" "$rootfs/var/run"
  cp "$haproxy" "$rootfs/usr/sbin/haproxy"
  # ldd prints "name => /path (addr)" for a library and "/path (addr)" for the loader; both keep their path.
  while read -r lib; do
    [ -n "$lib" ] || continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done < <(ldd "$haproxy" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
  cat >"$rootfs/etc/haproxy/haproxy.cfg" <<'HAPROXY'
# The sandbox's Docker socket proxy (sandbox/common.sh): read-only access, for traefik's swarm provider, to
# the dockerd socket bind-mounted at /var/run/docker.sock.
global
  maxconn 256

defaults
  mode http
  timeout connect 5s
  timeout client 5m
  timeout server 5m

frontend docker
  bind :2375
  http-request deny deny_status 405 unless { method GET HEAD }
  http-request deny deny_status 403 unless { path_reg ^(/v[0-9.]+)?/(_ping|version|info|events|services|tasks|networks|nodes)(/[^/]*)?$ }
  default_backend dockerd

backend dockerd
  server dockerd /var/run/docker.sock
HAPROXY
  "$haproxy" -c -q -f "$rootfs/etc/haproxy/haproxy.cfg" || sandbox_die "haproxy rejects the socket proxy's config"
  sandbox_say "building $sandbox_socket_proxy_image from $haproxy"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENTRYPOINT ["/usr/sbin/haproxy", "-db", "-f", "/etc/haproxy/haproxy.cfg"]' \
    - "$sandbox_socket_proxy_image" >/dev/null
}

# The manager's view of a node's status (ready, down, unknown, ...), or nothing.
sandbox_manager_node_state() { # NODE_ID
  DOCKER_HOST=$sandbox_manager_host docker node inspect --format '{{.Status.State}}' "$1" 2>/dev/null || true
}

# The selected worker's swarm state once it has settled (a restarted node is "pending" while it reconnects).
sandbox_settled_swarm_state() {
  local state i
  for ((i = 0; i < 60; i++)); do
    state=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) || state=unknown
    [ "$state" = pending ] || break
    sleep 0.5
  done
  echo "$state"
}

# Joins the selected worker (node i) to the manager's swarm unless it is already a member the manager
# knows, then waits until the manager shows it Ready. Idempotent.
sandbox_ensure_joined() { # NODE_INDEX
  local i=$1 state id token old
  state=$(sandbox_settled_swarm_state)
  id=$(docker info --format '{{.Swarm.NodeID}}')
  if [ "$state" = active ] && [ -n "$id" ] && [ -n "$(sandbox_manager_node_state "$id")" ]; then
    :
  else
    if [ "$state" != inactive ]; then
      sandbox_say "swarm state '$state' and not known to the manager: leaving and joining again"
      docker swarm leave --force >/dev/null 2>&1 || true
    fi
    token=$(DOCKER_HOST=$sandbox_manager_host docker swarm join-token -q worker)
    sandbox_say "joining the swarm of $sandbox_name as a worker ($(sandbox_node_addr "$i"))"
    docker swarm join --token "$token" --advertise-addr "$(sandbox_node_addr "$i")" \
      --listen-addr "$(sandbox_node_addr "$i"):2377" "$(sandbox_node_addr 0):2377" >/dev/null
    id=$(docker info --format '{{.Swarm.NodeID}}')
    # A node that joined anew leaves its former self behind as a Down node of the same name: drop it.
    for old in $(DOCKER_HOST=$sandbox_manager_host docker node ls \
      --filter "name=$(sandbox_node_hostname "$i")" --format '{{.ID}} {{.Hostname}} {{.Status}}' |
      awk -v h="$(sandbox_node_hostname "$i")" -v id="$id" '$2 == h && $1 != substr(id, 1, length($1)) && $3 == "Down" {print $1}'); do
      DOCKER_HOST=$sandbox_manager_host docker node rm --force "$old" >/dev/null 2>&1 || true
    done
  fi
  sandbox_wait_ready "$id"
}

sandbox_wait_ready() { # NODE_ID
  local i state
  for ((i = 0; i < 120; i++)); do
    state=$(sandbox_manager_node_state "$1")
    [ "$state" = ready ] && return 0
    sleep 0.5
  done
  sandbox_die "the manager does not show node $1 Ready within 60 s (state '${state:-none}'); see $sandbox_log"
}

# Brings up the worker wi of a multi-node instance (its namespace, link, dockerd, membership, image) and
# selects it. The manager must be up.
sandbox_up_worker() { # NODE_INDEX
  local i=$1
  sandbox_select "$(sandbox_node_instance "$i")"
  mkdir -p "$sandbox_state" "$sandbox_exec"
  echo "$sandbox_name" >"$sandbox_state/worker-of"
  echo "$sandbox_name" >"$sandbox_exec/worker-of"
  sandbox_ensure_netns "$sandbox_netns" || sandbox_die "cannot create the network namespace $sandbox_netns"
  sandbox_ensure_hub_link "$i"
  sandbox_ensure_dockerd true "$(sandbox_node_hostname "$i")"
  sandbox_ensure_joined "$i"
  sandbox_ensure_image
}
