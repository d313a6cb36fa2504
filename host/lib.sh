# shellcheck shell=bash
# Functions shared by the host scripts. Every script sources this file from beside itself, where the program
# installed them on the host (connection.scriptsDir) or in the package's host/ (the operator tools).
set -euo pipefail
# A failure inside $(...) fails the substitution too, so a helper's error is never read as empty output.
shopt -s inherit_errexit

sp_script=${sp_script:-host}
# The program's naming rule (src/names.ts); a unit test keeps the two equal.
sp_name_re='^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'

sp_die() {
  echo "$sp_script: $*" >&2
  exit 1
}

sp_usage() {
  echo "$sp_script: usage: $*" >&2
  exit 2
}

# Nothing a script runs reads its stdin (a caller may leave one open and never close it).
sp_docker() { docker "$@" </dev/null; }

sp_check_name() { # VALUE WHAT
  [[ $1 =~ $sp_name_re ]] || sp_die "$2 '$1' is not a valid name (must match $sp_name_re)"
}

sp_check_timeout() { # VALUE WHAT
  { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; } || sp_die "$2 '$1' is not a positive number of seconds"
}

# Dotted quad to integer; fails on anything but a plain IPv4 address.
sp_ip_to_int() {
  local ip=$1 a b c d
  [[ $ip =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]} c=${BASH_REMATCH[3]} d=${BASH_REMATCH[4]}
  local o
  for o in "$a" "$b" "$c" "$d"; do
    { [[ $o =~ ^(0|[1-9][0-9]*)$ ]] && [ "$o" -le 255 ]; } || return 1
  done
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

# A canonical IPv4 CIDR: no host bits set (Docker >= 25 rejects those), prefix 1..32.
sp_check_cidr() { # VALUE WHAT
  local cidr=$1 ip len n mask
  [[ $cidr =~ ^([0-9.]+)/([0-9]{1,2})$ ]] || sp_die "$2 '$cidr' is not an IPv4 CIDR"
  ip=${BASH_REMATCH[1]} len=${BASH_REMATCH[2]}
  n=$(sp_ip_to_int "$ip") || sp_die "$2 '$cidr' is not an IPv4 CIDR"
  [[ $len =~ ^([1-9]|[12][0-9]|3[0-2])$ ]] || sp_die "$2 '$cidr' has an invalid prefix length"
  mask=$(((0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF))
  [ $((n & mask)) -eq "$n" ] || sp_die "$2 '$cidr' is not canonical (host bits are set)"
}

# Whether IP (optionally with /len, which is ignored) lies inside the canonical CIDR.
sp_ip_in_cidr() { # IP CIDR
  local ip=${1%%/*} net=${2%%/*} len=${2##*/} n m mask
  n=$(sp_ip_to_int "$ip") || return 1
  m=$(sp_ip_to_int "$net") || return 1
  mask=$(((0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF))
  [ $((n & mask)) -eq "$m" ]
}

# Seconds since the epoch; deadlines are compared against it.
sp_now() { date +%s; }

# The full ID of the network named exactly NAME (inspect by name would also match an ID prefix).
sp_network_id() { # NAME
  sp_docker network ls --no-trunc --format '{{.ID}} {{.Name}}' | awk -v n="$1" '$2 == n {print $1; exit}'
}

sp_stack_services() { # STACK -> service IDs
  sp_docker service ls -q --filter "label=com.docker.stack.namespace=$1"
}

# Lines of CMD's stdout into the array named ARRAY. Unlike `mapfile < <(CMD)`, a failing CMD (an
# unreachable daemon, say) fails the caller, with CMD's own error, instead of looking like an empty list.
sp_capture() { # ARRAY CMD...
  local -n sp_capture_into=$1
  shift
  local sp_capture_out sp_capture_err
  sp_capture_err=$(mktemp)
  if ! sp_capture_out=$("$@" 2>"$sp_capture_err"); then
    sp_capture_out=$(head -c 1000 "$sp_capture_err" | tr -s '\n' ' ')
    sp_capture_out=${sp_capture_out% }
    rm -f "$sp_capture_err"
    sp_die "${sp_capture_out:-failed: $*}"
  fi
  rm -f "$sp_capture_err"
  sp_capture_into=()
  if [ -n "$sp_capture_out" ]; then
    # shellcheck disable=SC2034 # a nameref: this assigns the caller's array
    mapfile -t sp_capture_into <<<"$sp_capture_out"
  fi
}

# Of the given task IDs, those the swarm still knows, as "ID SERVICE_ID.SLOT STATE NODE_ID" lines, from one docker
# call: inspect prints the tasks it finds and names each missing one on stderr. Anything else on stderr (a
# daemon outage) fails, so a wait never ends on an error that looks like "gone".
sp_tasks_present() { # TASK_ID...
  local err out status=0
  err=$(mktemp)
  out=$(sp_docker inspect --type task --format '{{.ID}} {{.ServiceID}}.{{.Slot}} {{.Status.State}} {{.NodeID}}' "$@" 2>"$err") || status=$?
  if [ "$status" -ne 0 ] && grep -viE 'not found|no such' "$err" | grep -q .; then
    echo "cannot tell which tasks are gone: $(head -c 500 "$err")" >&2
    rm -f "$err"
    return 1
  fi
  rm -f "$err"
  [ -z "$out" ] || echo "$out"
}

# "ID SERVICE.SLOT STATE NODE_ID" lines grouped by node, each node named with its hostname and state, so
# a teardown stuck on a node that went away (a worker whose dockerd stopped) says which node holds it up.
sp_tasks_by_node() { # LINE...
  local line id slot state node names=() lines_out=() seen=()
  local -A node_host=() node_tasks=()
  for line in "$@"; do
    read -r id slot state node <<<"$line"
    node=${node:-?}
    [ -n "${node_tasks[$node]:-}" ] || seen+=("$node")
    node_tasks[$node]+="${node_tasks[$node]:+, }$id ($slot, $state)"
  done
  mapfile -t names < <(sp_docker node inspect --format '{{.ID}} {{.Description.Hostname}} {{.Status.State}}' "${seen[@]}" 2>/dev/null || true)
  for line in "${names[@]}"; do
    read -r id slot state <<<"$line"
    node_host[$id]="$slot, $state"
  done
  for node in "${seen[@]}"; do
    lines_out+=("on node $node (${node_host[$node]:-unknown node}): ${node_tasks[$node]}")
  done
  (IFS=';'; echo "${lines_out[*]}")
}

# What keeps network NET_ID (named NAME) in use: services by spec or VIP, and containers attached on this
# node. Docker's own load-balancer endpoint (key lb-NAME, name NAME-endpoint) goes away with the network and
# is never a user; on a busy node it was once listed under another key right after the last container left,
# so an entry named NAME-endpoint whose key is no container is Docker's own too (the caller waits it out).
sp_network_users() { # NET_ID NAME
  local id=$1 name=$2 line svc
  local services=()
  mapfile -t services < <(sp_docker service ls -q)
  if [ "${#services[@]}" -gt 0 ]; then
    while read -r svc line; do
      # shellcheck disable=SC2086 # word splitting of the target list is intended
      for t in $line; do
        if [ "$t" = "$id" ] || [ "$t" = "$name" ]; then
          echo "service $svc"
          break
        fi
      done
    done < <(sp_docker service inspect --format \
      '{{.Spec.Name}}{{range .Spec.TaskTemplate.Networks}} {{.Target}}{{end}}{{range .Endpoint.VirtualIPs}} {{.NetworkID}}{{end}}' \
      "${services[@]}" 2>/dev/null || true)
  fi
  local key cname
  # shellcheck disable=SC2016 # a Go template, not a shell expansion
  while read -r key cname; do
    { [ -z "$cname" ] || [ "$key" = "lb-$name" ]; } && continue
    if [ "$cname" = "$name-endpoint" ] && ! sp_docker container inspect --format '{{.Id}}' "$key" >/dev/null 2>&1; then
      continue
    fi
    echo "container $cname"
  done < <(sp_docker network inspect --format '{{range $k, $v := .Containers}}{{$k}} {{$v.Name}}{{"\n"}}{{end}}' \
    "$id" 2>/dev/null || true)
}

# The stacks' networks, as "ID NAME" lines, from one listing.
sp_stacks_networks() { # STACK...
  sp_docker network ls --no-trunc --format '{{.ID}} {{.Name}} {{.Label "com.docker.stack.namespace"}}' |
    awk -v list="$*" 'BEGIN { n = split(list, s, " "); for (i = 1; i <= n; i++) want[s[i]] = 1 }
      NF == 3 && ($3 in want) { print $1, $2 }'
}

# The leak-free teardown of one or more stacks, in phases across all of them: note every task, remove every
# service, wait until every noted task is gone from the swarm, then `docker stack rm` them all, then wait
# until all their networks are gone. Removing a stack's own network while its tasks still exist in the swarm
# store leaks their addresses on the external overlay (moby/swarmkit#3230, moby#37338): the per-task wait is
# what matters, not doing one stack at a time. One docker call per phase and poll keeps a 2-core host from
# spending the outage starting docker clients. `docker stack rm` is asynchronous (docker/cli#7304): poll.
sp_teardown_stacks() { # TIMEOUT STACK...
  local timeout=$1
  shift
  local who="stack $*" deadline stack net
  [ "$#" -eq 1 ] || who="stacks $*"
  deadline=$(($(sp_now) + timeout))
  local services=() one=() tasks=() left=() networks=() what=() users=()
  for stack in "$@"; do
    sp_capture one sp_stack_services "$stack"
    services+=("${one[@]}")
  done
  if [ "${#services[@]}" -gt 0 ]; then
    sp_capture tasks sp_docker service ps -q --no-trunc "${services[@]}"
    sp_docker service rm "${services[@]}" >/dev/null
    while [ "${#tasks[@]}" -gt 0 ]; do
      sp_capture left sp_tasks_present "${tasks[@]}"
      [ "${#left[@]}" -eq 0 ] && break
      if [ "$(sp_now)" -ge "$deadline" ]; then
        sp_die "$who: after ${timeout}s these tasks are still in the swarm: $(sp_tasks_by_node "${left[@]}"); bring their nodes back (or docker node rm a node that is gone for good), then run again"
      fi
      sleep 0.5
    done
  fi
  # Also removes the stacks' configs and secrets. A removal refused while an endpoint is still going away is
  # retried until the deadline.
  sp_docker stack rm "$@" >/dev/null 2>&1 || true
  while :; do
    sp_capture networks sp_stacks_networks "$@"
    [ "${#networks[@]}" -eq 0 ] && break
    if [ "$(sp_now)" -ge "$deadline" ]; then
      what=()
      for net in "${networks[@]}"; do
        mapfile -t users < <(sp_network_users "${net%% *}" "${net#* }")
        what+=("${net#* }${users[*]:+ (used by ${users[*]})}")
      done
      sp_die "$who: after ${timeout}s these networks are still there: ${what[*]}; wait until docker network ls no longer lists them, then run again"
    fi
    sleep 0.5
    sp_docker stack rm "$@" >/dev/null 2>&1 || true
  done
}

# The Docker bug behind "error creating vxlan interface: file exists", for every message that names it.
sp_stale_vxlan_cause='a vxlan interface of that overlay was left on the node by a dockerd that stopped without cleaning up (Docker bug moby/libnetwork#1765, also moby#21482, moby#28559)'

# Of the given services, the nodes that reject their tasks because an overlay's vxlan interface was left there, one
# line each: the node, the overlay (name and subnet), the cause and the fix. A rejection is history once a running task
# of that service on that node has an address in that overlay's subnet (the node joined it); a running task elsewhere,
# say the old one of a start-first move, does not count. Prints nothing when there is none.
sp_stale_vxlan() { # SERVICE_ID...
  local svc tasks=() node state err addrs addr subnet nets=() line id name vni subnets host row key
  local -A rejected=() joined=() named=() hosts=()
  for svc in "$@"; do
    sp_capture tasks sp_docker service ps -q --no-trunc "$svc"
    [ "${#tasks[@]}" -gt 0 ] || continue
    while IFS='|' read -r node state err addrs; do
      if [ "$state" = running ]; then
        for addr in $addrs; do joined[$svc $node $addr]=1; done
      elif [[ $err == *"error creating vxlan interface: file exists"* && $err =~ subnet\ sandbox\ join\ failed\ for\ \"([0-9./]+)\" ]]; then
        rejected[$svc $node]=${BASH_REMATCH[1]}
      fi
    done < <(sp_docker inspect --type task --format \
      '{{.NodeID}}|{{.Status.State}}|{{.Status.Err}}|{{range .NetworksAttachments}}{{range .Addresses}}{{.}} {{end}}{{end}}' \
      "${tasks[@]}" 2>/dev/null || true)
  done
  [ "${#rejected[@]}" -gt 0 ] || return 0
  # shellcheck disable=SC2016 # a Go template, not a shell expansion
  mapfile -t nets < <(sp_docker network ls -q --no-trunc --filter driver=overlay |
    xargs -r docker network inspect --format \
      '{{.Id}} {{.Name}} {{index .Options "com.docker.network.driver.overlay.vxlanid_list"}} {{range .IPAM.Config}}{{.Subnet}} {{end}}' \
      2>/dev/null || true)
  while read -r id host; do hosts[$id]=$host; done < <(sp_docker node ls --format '{{.ID}} {{.Hostname}}' 2>/dev/null || true)
  for row in "${!rejected[@]}"; do
    subnet=${rejected[$row]}
    for key in "${!joined[@]}"; do
      [[ $key == "$row "* ]] && sp_ip_in_cidr "${key##* }" "$subnet" && continue 2
    done
    node=${row#* }
    host=${hosts[$node]:-$node}
    [ -z "${named[$node $subnet]:-}" ] || continue
    named[$node $subnet]=1
    for line in "${nets[@]}"; do
      read -r id name vni subnets <<<"$line"
      case " $subnets " in *" $subnet "*) ;; *) continue ;; esac
      echo "stale vxlan interface: node $host cannot join overlay $name ($subnet): $sp_stale_vxlan_cause; fix, as root on node $host: bash $(sp_host_dir)/vxlan-clear.sh $id $vni (the package's host/vxlan-clear.sh, where it is not installed), or by hand: nsenter --net=/var/run/docker/netns/1-${id:0:10} ip link del vxlan0, else in dockerd's own namespace: ip -d -o link show type vxlan | grep ' vxlan id $vni ' and ip link del NAME; the swarm starts the rejected tasks again within seconds"
      continue 2
    done
    echo "stale vxlan interface: node $host cannot join the overlay of subnet $subnet: $sp_stale_vxlan_cause; that network is gone, and its VNI with it: on node $host, ip -d -o link show type vxlan lists the interfaces, and one whose VNI no overlay has is stale (ip link del NAME; a dockerd restart does not remove it, a reboot does)"
  done
}

# Where the host scripts are (this file's folder), as an absolute path for the commands the messages print.
sp_host_dir() { (cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); }
