#!/usr/bin/env bash
# Removes, on this node, the vxlan interface an overlay's VNI is still held by after a dockerd that stopped without
# cleaning up (moby/libnetwork#1765, moby#21482, moby#28559). While it is there the node rejects every task of that
# overlay with "error creating vxlan interface: file exists": the kernel refuses a second vxlan with the same VNI and
# port, wherever the first was moved. dockerd creates an overlay's vxlan in its own network namespace
# (vx-<VNI, 6 hex digits>-<network ID, 5 chars>) and moves it, renamed vxlan0, into the overlay's namespace
# EXEC_ROOT/netns/1-<network ID, 10 chars>: both places are searched, and only they (another dockerd's namespaces,
# on a machine running several, may use the same VNIs). The kernel allows one such interface, so the first found is
# the stale one and the search ends there: dockerd retries the join every few seconds, and an interface found after
# that removal would be its new, live one (measured: removed 10 ms after the stale one, on dockerd 20.10).
# Usage: vxlan-clear.sh NETWORK_ID VNI [EXEC_ROOT [PIDFILE]]   (as root on the node; defaults /var/run/docker and
# /var/run/docker.pid, dockerd's own). Refuses while this node's dockerd has an endpoint on the network (a container
# or its load balancer: the interface is then in use, not stale). Nothing found: nothing to do.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='vxlan-clear'

usage="vxlan-clear.sh NETWORK_ID VNI [EXEC_ROOT [PIDFILE]]"
{ [ "$#" -ge 2 ] && [ "$#" -le 4 ]; } || sp_usage "$usage"
net=$1 vni=$2 exec_root=${3:-/var/run/docker} pidfile=${4:-/var/run/docker.pid}
[[ $net =~ ^[a-z0-9]{12,64}$ ]] || sp_die "NETWORK_ID '$net' is not a network ID (12 to 64 lowercase letters and digits)"
{ [[ $vni =~ ^[1-9][0-9]{0,7}$ ]] && [ "$vni" -le 16777215 ]; } || sp_die "VNI '$vni' is not a VXLAN ID (1 to 16777215)"
for p in "$exec_root" "$pidfile"; do
  [[ $p =~ ^/[A-Za-z0-9_./+-]*$ ]] || sp_die "'$p' is not an absolute path of letters, digits and _./+-"
done
command -v nsenter >/dev/null || sp_die "nsenter is not installed on this node (util-linux)"
[ -r "$pidfile" ] || sp_die "no dockerd pidfile at $pidfile: pass the node's EXEC_ROOT and PIDFILE"
pid=$(<"$pidfile")
{ [[ $pid =~ ^[0-9]+$ ]] && [ -e "/proc/$pid/ns/net" ]; } || sp_die "dockerd (pid '$pid' in $pidfile) is not running"

# A node that takes no part in the network does not know it: the inspect fails, and nothing is attached. A container
# (its ID as the key) or the network's load balancer (lb-NAME) means a working join; the endpoint a failed join
# leaves (ep-ID, measured on dockerd 20.10 while the stale interface was there) does not.
# shellcheck disable=SC2016 # a Go template, not a shell expansion
in_use=$(sp_docker network inspect --format '{{range $k, $v := .Containers}}{{$k}}={{$v.Name}} {{end}}' "$net" 2>/dev/null |
  tr ' ' '\n' | grep -v '^ep-' | grep -v '^$' || true)
[ -z "$in_use" ] ||
  sp_die "network $net has endpoints on this node ($(echo "$in_use" | tr '\n' ' ')): its vxlan interface is in use, not stale"

namespaces=("/proc/$pid/ns/net")
for ns in "$exec_root"/netns/*; do
  [ -e "$ns" ] && namespaces+=("$ns")
done
for ns in "${namespaces[@]}"; do
  # One line per interface: "N: NAME[@LINK]: <...> ... vxlan id VNI ...". A namespace file dockerd already tore
  # down cannot be entered: skipped.
  name=$(nsenter "--net=$ns" ip -d -o link show type vxlan 2>/dev/null |
    awk -v v="$vni" '$0 ~ (" vxlan id " v " ") { n = $2; sub(/:$/, "", n); sub(/@.*/, "", n); print n; exit }') || true
  [ -n "$name" ] || continue
  nsenter "--net=$ns" ip link del "$name"
  echo "removed vxlan interface $name (VNI $vni) in network namespace $ns"
  exit 0
done
echo "no vxlan interface with VNI $vni on this node: nothing to remove"
