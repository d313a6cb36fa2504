#!/usr/bin/env bash
# The rolling migration's hops: moves every service attached to one network onto another, with no moment at which
# a service is on neither, and so that traefik (on the same networks) reaches every service at every moment.
#
#   network-move.sh out NAME TEMP TEMP_SUBNET TARGET_SUBNET TIMEOUT [STACK...]
#     NAME's subnet is not TARGET_SUBNET yet: check the host is quiescent (STACK: the stacks allowed to run),
#     create TEMP (attachable overlay, TEMP_SUBNET), move every service from NAME onto TEMP, then remove NAME.
#     NAME already on TARGET_SUBNET, or absent: nothing to do (a rerun after the hop, or after the whole move).
#   network-move.sh back NAME TEMP TIMEOUT
#     Moves every service from TEMP onto NAME (the new network), restores what the moves changed in each
#     service's spec, then removes TEMP. TEMP absent: nothing to do.
#
# Every step reads the live host, so a run stopped anywhere (SIGINT, dockerd restarted, a worker down) and run
# again picks up where it stopped. A hop moves services in three phases:
#   1. every service that can start a new task beside the old one (start-first) joins the destination too;
#   2. every service that cannot (a port published in host mode, one replica per node) switches networks in one
#      update, one restart per hop: traefik is the usual case. Once their old tasks are told to stop (the old
#      traefik takes no request from its stop signal on), the others' `traefik.swarm.network` label names the
#      destination (a label change restarts no task), so the restarted traefik, now on the destination only,
#      routes to their addresses there from its first read;
#   3. every start-first service leaves the source, start-first: its old task keeps serving while traefik's next
#      poll moves the route.
# A service whose update fails (its new task does not start, or the swarm pauses or rolls the update back) is
# put back as it was, and the move stops naming it. Each service's spec is written whole through the Engine API
# (curl and jq on the host): networks in name order, as `docker stack deploy` writes them, so that a later
# deploy of the stack's compose file restarts no task. What the moves change (update order, the label) is kept
# in the service's own labels and restored at the end of `back`.
# shellcheck disable=SC2016 # the jq filters' $variables are jq's, in single quotes on purpose
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script='network-move'

usage="network-move.sh out NAME TEMP TEMP_SUBNET TARGET_SUBNET TIMEOUT [STACK...] | back NAME TEMP TIMEOUT"
[ "$#" -ge 1 ] || sp_usage "$usage"
mode=$1
shift
case $mode in
  out)
    [ "$#" -ge 5 ] || sp_usage "$usage"
    name=$1 temp=$2 temp_subnet=$3 target_subnet=$4 timeout=$5
    shift 5
    sp_check_cidr "$temp_subnet" TEMP_SUBNET
    sp_check_cidr "$target_subnet" TARGET_SUBNET
    allowed=("$@")
    ;;
  back)
    [ "$#" -eq 3 ] || sp_usage "$usage"
    name=$1 temp=$2 timeout=$3
    ;;
  *) sp_usage "$usage" ;;
esac
sp_check_name "$name" NAME
sp_check_name "$temp" TEMP
sp_check_timeout "$timeout" TIMEOUT
[ "$name" != "$temp" ] || sp_die "TEMP '$temp' must differ from NAME"
command -v jq >/dev/null || sp_die "jq is not installed on the host (the moves write service specs with it)"
command -v curl >/dev/null || sp_die "curl is not installed on the host (the moves write service specs with it)"

LABEL=traefik.swarm.network
KEEP=swarm-proxy.rolling

# The Engine API, where the docker CLI would reach it (set by engine_negotiate), and the API version every call
# uses, agreed once per run by engine_negotiate (no version is pinned: Docker 29.0 refuses anything under 1.44,
# moby#51186).
engine_conn=() engine_base='' engine_api=''

# Whether Engine API version A is older than B (MAJOR.MINOR, compared as numbers: 1.9 < 1.41).
api_older() { # A B
  local a=$1 b=$2
  [ "${a%%.*}" -lt "${b%%.*}" ] || { [ "${a%%.*}" -eq "${b%%.*}" ] && [ "${a#*.}" -lt "${b#*.}" ]; }
}

# Asks dockerd (GET /version, which it serves unversioned) which API versions it speaks and takes its own
# newest, not the newest this project knows as the TypeScript client does: the moves read a service's spec and
# write it back whole through jq, and the daemon down-converts both at an older version, dropping the fields that
# version does not know (moby's swarm router: Healthcheck.StartInterval below 1.44, OomScoreAdj below 1.46), so
# that what `docker stack deploy` wrote would be lost and the next deploy would restart the tasks.
engine_negotiate() {
  local host=${DOCKER_HOST:-unix:///var/run/docker.sock} out api version
  case $host in
    unix://*) engine_conn=(--unix-socket "${host#unix://}") engine_base=http://localhost ;;
    tcp://*)
      [ -z "${DOCKER_TLS_VERIFY:-}" ] || sp_die "DOCKER_HOST $host with TLS: run the move on the host itself"
      engine_base="http://${host#tcp://}"
      ;;
    *) sp_die "DOCKER_HOST $host: the moves reach dockerd through unix:// or tcp:// only" ;;
  esac
  out=$(curl -sS --fail-with-body "${engine_conn[@]}" "$engine_base/version" </dev/null 2>&1) ||
    sp_die "Engine API GET /version: $out"
  read -r version api < <(jq -r '"\(.Version // "?") \(.ApiVersion // "?")"' <<<"$out")
  [[ $api =~ ^[0-9]+\.[0-9]+$ ]] || sp_die "dockerd $version gave no usable Engine API version ('$api')"
  ! api_older "$api" 1.41 || sp_die "dockerd $version speaks Engine API $api; the rolling moves need 1.41 or newer"
  engine_api=$api
}

sp_engine() { # METHOD PATH [BODY]
  [ -n "$engine_api" ] || sp_die "internal: an Engine API call before the version was agreed"
  local out url="$engine_base/v$engine_api$2"
  if [ "$#" -ge 3 ]; then
    out=$(curl -sS --fail-with-body -X "$1" -H 'Content-Type: application/json' "${engine_conn[@]}" --data-binary @- \
      "$url" <<<"$3" 2>&1) || sp_die "Engine API $1 $2: $out"
  else
    out=$(curl -sS --fail-with-body -X "$1" "${engine_conn[@]}" "$url" </dev/null 2>&1) ||
      sp_die "Engine API $1 $2: $out"
  fi
  printf '%s\n' "$out"
}

# Every network's ID -> name, for writing a spec's networks in name order.
network_names() {
  sp_docker network ls --no-trunc --format '{{.ID}} {{.Name}}' | jq -Rn '[inputs | split(" ") | {(.[0]): .[1]}] | add'
}

# The services whose spec attaches network ID, as "ID NAME CLASS" lines; CLASS is start-first or stop-first.
attached() { # NET_ID
  local services=()
  sp_capture services sp_docker service ls -q
  [ "${#services[@]}" -gt 0 ] || return 0
  # shellcheck disable=SC2016 # a Go template, not a shell expansion
  sp_docker service inspect --format \
    '{{.ID}} {{.Spec.Name}} {{range .Endpoint.Spec.Ports}}{{.PublishMode}},{{end}}/{{with .Spec.TaskTemplate.Placement}}{{.MaxReplicas}}{{end}}/{{range .Spec.TaskTemplate.Networks}} {{.Target}}{{end}}' \
    "${services[@]}" | while read -r id svc rest; do
    case " ${rest#*/*/} " in *" $1 "*) ;; *) continue ;; esac
    local ports=${rest%%/*} max=${rest#*/}
    max=${max%%/*}
    if [[ $ports == *host,* ]] || [ "$max" = 1 ]; then echo "$id $svc stop-first"; else echo "$id $svc start-first"; fi
  done
}

# Writes service ID's spec through jq FILTER (which sees $from, $to, $names and $label), keeping what the moves
# change in its labels the first time. Prints nothing; fails with the Engine API's message.
write_spec() { # ID FILTER FROM TO LABEL
  local id=$1 filter=$2 service version spec out attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    # The stored spec, as the API returns it without defaults (what `docker service inspect` shows has them
    # filled in: written back, they would differ from what `docker stack deploy` writes, and restart the tasks).
    service=$(sp_engine GET "/services/$id")
    version=$(jq -r '.Version.Index' <<<"$service")
    spec=$(jq -c '.Spec' <<<"$service" | jq -c \
      --arg from "$3" --arg to "$4" --arg lbl "$5" --arg keep "$KEEP" --arg L "$LABEL" \
      --argjson names "$netnames" '
        .Labels //= {}
        | if .Labels[$keep + ".update-config"] == null then
            .Labels[$keep + ".update-config"] = (.UpdateConfig | tojson)
            | .Labels[$keep + ".label"] = (.Labels[$L] | tojson)
          else . end
        | '"$filter")
    # The swarm bumps a service's version when it records an update's progress: a write between our read and
    # the swarm's is refused as out of sequence, and is read and tried again.
    if out=$(sp_engine POST "/services/$id/update?version=$version" "$spec" 2>&1); then return 0; fi
    [[ $out == *"out of sequence"* ]] || sp_die "${out#"$sp_script: "}"
    sleep 0.$attempt
  done
  sp_die "service $id: its spec kept changing under the move (update out of sequence, 10 tries); stop what updates it, then run again"
}

# The jq filters below: $from, $to, $names, $lbl, $keep and $L are jq's variables, not the shell's.
# Networks: add TO (with FROM's aliases) and/or remove FROM, in name order; start-first while the move runs.
JOIN='(.TaskTemplate.Networks // []) as $n | ($n | map(select(.Target == $from)) | .[0] // {}) as $a
  | .TaskTemplate.Networks = (if any($n[]; .Target == $to) then $n else $n + [$a + {Target: $to}] end
      | sort_by($names[.Target] // .Target))'
LEAVE='.TaskTemplate.Networks = ((.TaskTemplate.Networks // []) | map(select(.Target != $from))
  | sort_by($names[.Target] // .Target))'
START_FIRST='.UpdateConfig = ((.UpdateConfig // {Parallelism: 1}) + {Order: "start-first"})'
SET_LABEL='.Labels[$L] = $lbl'
OWN_LABEL='(.Labels[$keep + ".label"] | fromjson) as $l | if $l == null then del(.Labels[$L]) else .Labels[$L] = $l end'
RESTORE='(.Labels[$keep + ".update-config"] | fromjson) as $u | (.Labels[$keep + ".label"] | fromjson) as $l
  | (if $u == null then del(.UpdateConfig) else .UpdateConfig = $u end)
  | (if $l == null then del(.Labels[$L]) else .Labels[$L] = $l end)
  | del(.Labels[$keep + ".update-config"], .Labels[$keep + ".label"])'

# Whether a task's "STATE NET_ID..." line says it runs, attached to network NET_ID (and not to GONE_ID).
runs_on() { # LINE NET_ID GONE_ID
  case "$1 " in running*" $2 "*) ;; *) return 1 ;; esac
  [ -z "$3" ] || case "$1 " in *" $3 "*) return 1 ;; esac
}

# Whether every task the service wants running runs, attached to network NET_ID (and not to GONE_ID).
converged() { # ID NET_ID GONE_ID
  local tasks=() line want
  want=$(sp_docker service inspect --format '{{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{end}}' "$1")
  [ "$want" != 0 ] || return 0
  sp_capture tasks sp_docker service ps -q --filter desired-state=running "$1"
  [ "${#tasks[@]}" -gt 0 ] || return 1
  if [ -n "$want" ] && [ "${#tasks[@]}" -lt "$want" ]; then return 1; fi
  while read -r line; do
    runs_on "$line" "$2" "$3" || return 1
  done < <(sp_docker inspect --format '{{.Status.State}} {{range .NetworksAttachments}} {{.Network.ID}}{{end}} ' "${tasks[@]}")
}

# What holds a service's move up: each of its tasks that should run and does not run on NET_ID alone (not on
# GONE_ID), as "task ID on node HOST (STATE): TASK_STATE", joined by "; ".
lagging() { # ID NET_ID GONE_ID
  local tasks=() out=() task node state nets where
  sp_capture tasks sp_docker service ps -q --filter desired-state=running "$1"
  [ "${#tasks[@]}" -gt 0 ] || { echo "no task of it runs"; return 0; }
  while read -r task node state nets; do
    ! runs_on "$state $nets" "$2" "$3" || continue
    [ "$state" != running ] || state="running, not (only) on the destination"
    where="no node"
    [ "$node" = - ] || where=$(sp_docker node inspect --format 'node {{.Description.Hostname}} ({{.Status.State}})' "$node" 2>/dev/null || echo "node $node")
    out+=("task ${task:0:12} on $where: $state")
  done < <(sp_docker inspect --format '{{.ID}} {{or .NodeID "-"}} {{.Status.State}} {{range .NetworksAttachments}} {{.Network.ID}}{{end}}' "${tasks[@]}")
  [ "${#out[@]}" -gt 0 ] || out+=("its tasks run, fewer than it wants")
  # A node that is not ready holds an update up without a task of its own in the list (the swarm waits on its slot).
  local host status down=()
  while read -r host status; do
    [ "$status" = Ready ] || down+=("$host ($status)")
  done < <(sp_docker node ls --format '{{.Hostname}} {{.Status}}' 2>/dev/null || true)
  [ "${#down[@]}" -eq 0 ] || out+=("node(s) not ready: ${down[*]}")
  local joined
  joined=$(printf '; %s' "${out[@]}")
  echo "${joined#; }"
}

# Waits until the service runs on NET_ID (not on GONE_ID). On a paused or rolled back update, or at the deadline,
# writes the spec it had before (PREVIOUS) back, waits for that, and stops naming the service.
await() { # ID SVC NET_ID GONE_ID PREVIOUS_SPEC
  local id=$1 svc=$2 state deadline
  deadline=$(($(sp_now) + timeout))
  while ! converged "$id" "$3" "$4"; do
    state=$(sp_docker service inspect --format '{{with .UpdateStatus}}{{.State}}{{end}}' "$id")
    if [[ $state == paused || $state == rollback* ]] || [ "$(sp_now)" -ge "$deadline" ]; then
      local why lag
      # Only words for the message: a read that fails here must not stop the put-back below.
      lag=$(lagging "$id" "$3" "$4" 2>/dev/null) || lag="its tasks could not be read"
      if [[ $state == rollback* || $state == paused ]]; then
        why="the swarm's update state is $state: its new task did not start ($lag)"
      else
        local update=""
        [ -z "$state" ] || update="the swarm's update state: $state; "
        why="not every task of it ran there within ${timeout}s (${update}$lag)"
      fi
      # A node that cannot join the destination at all is named with its fix: rerunning changes nothing until then.
      local stale
      stale=$(sp_stale_vxlan "$id" 2>/dev/null | paste -sd ';' -) || stale=""
      [ -z "$stale" ] || why="$why; $stale"
      local version try
      for try in 1 2 3 4 5; do
        read -r version < <(sp_docker service inspect --format '{{.Version.Index}}' "$id")
        ! sp_engine POST "/services/$id/update?version=$version" "$5" >/dev/null 2>&1 || break
        sleep 0.$try
      done
      sp_die "service $svc could not move onto network $(jq -rn --argjson n "$netnames" --arg i "$3" '$n[$i] // $i'): $why; it was put back as it was, and the move stopped here (rerun once it can start there)"
    fi
    sleep 0.5
  done
}

# Whether a task of service ID still runs attached to network GONE_ID. One read of the swarm's tasks: a task list
# followed by an inspect of each could miss the running one (the swarm prunes its task history in between, and an
# inspect naming a removed task fails), which read as "stopped" and switched the labels under the old traefik.
runs_on_source() { # ID GONE_ID
  local filter n
  filter=$(jq -rn --arg s "$1" '{service: [$s]} | tojson | @uri')
  n=$(sp_engine GET "/tasks?filters=$filter" | jq -r --arg n "$2" \
    '[.[] | select(.Status.State == "running") | select(any(.NetworksAttachments[]?; .Network.ID == $n))] | length')
  [[ $n =~ ^[0-9]+$ ]] || sp_die "the tasks of service $1 could not be read; check dockerd (docker info), then run again"
  [ "$n" -gt 0 ]
}

# The containers of service ID's running tasks attached to network NET_ID that run on the node of the dockerd the
# moves talk to, as "CONTAINER" lines; "-" for each such task on another node (its container's events are that
# node's own).
source_containers() { # ID NET_ID
  local local_node filter
  local_node=$(sp_engine GET /info | jq -r '.Swarm.NodeID // ""')
  filter=$(jq -rn --arg s "$1" '{service: [$s], "desired-state": ["running"]} | tojson | @uri')
  sp_engine GET "/tasks?filters=$filter" | jq -r --arg n "$2" --arg me "$local_node" '
    .[] | select(.Status.State == "running") | select(any(.NetworksAttachments[]?; .Network.ID == $n))
      | if .NodeID == $me and (.Status.ContainerStatus.ContainerID // "") != "" then .Status.ContainerStatus.ContainerID
        else "-" end'
}

# Waits until the old tasks of service ID (their containers: CONTAINER..., "-" for one on another node) have been
# told to stop (the first signal, dockerd's container kill event; or their exit), or no longer run attached to
# GONE_ID. That is the moment an old entry point stops taking requests: traefik closes its entry points at SIGTERM
# (measured on traefik v3.6: requests answered until the signal, refused from it on), and the swarm sends it 2 s
# (moby's defaultGossipConvergeDelay) or more after the update. A task on another node is waited for until it stops.
signalled() { # ID SVC GONE_ID CONTAINER...
  local id=$1 svc=$2 gone=$3 deadline want=() c seen filter
  shift 3
  for c in "$@"; do
    [ "$c" != - ] || { want=(); break; }
    want+=("$c")
  done
  deadline=$(($(sp_now) + timeout))
  while :; do
    if [ "${#want[@]}" -gt 0 ]; then
      # dockerd's past events only (until: now), so the call returns at once; kept as long as dockerd keeps them.
      filter=$(printf '%s\n' "${want[@]}" | jq -Rrn '{type: ["container"], event: ["kill", "die"], container: [inputs]} | tojson | @uri')
      seen=$(sp_engine GET "/events?since=1&until=$(date +%s.%N)&filters=$filter" | jq -rs '[.[].Actor.ID] | unique | length')
      [ "$seen" -lt "${#want[@]}" ] || { echo "  $svc: its old task was told to stop"; return 0; }
    fi
    runs_on_source "$id" "$gone" || { echo "  $svc: its old task stopped"; return 0; }
    [ "$(sp_now)" -lt "$deadline" ] || sp_die "service $svc: its old task still runs on the source network after ${timeout}s; see docker service ps $svc, bring its node back or raise network.rolling.moveTimeoutSeconds, then run again"
    sleep 0.1
  done
}

spec_of() { sp_engine GET "/services/$1" | jq -c '.Spec'; }

# One start-first update of a service ("ID SVC"): FILTER written, then its tasks running on the hop's destination
# (and not on GONE_ID, when given). Uses the hop's from, to and label.
move_one() { # "ID SVC" FILTER GONE_ID DONE_MESSAGE
  local id svc before
  read -r id svc <<<"$1"
  before=$(spec_of "$id")
  write_spec "$id" "$2" "$from" "$to" "$label"
  await "$id" "$svc" "$to" "$3" "$before"
  echo "  $svc: $4"
}

# Milliseconds since the epoch, and MS as seconds to a tenth: the hop's summary line.
now_ms() { date +%s%3N; }
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# Moves every service attached to FROM_ID onto TO_ID; LABEL_TO is the value of traefik.swarm.network while
# both are in use (empty: restore each service's own value). Ends with one line: the services moved, the hop's
# time, and each restarting service's gap (traefik's restart is the routes' only outage).
hop() { # FROM_ID TO_ID LABEL_TO
  local from=$1 to=$2 label=$3 lines=() id svc class before
  local start=() stop=() signals=() gaps=() t0 signalled_at
  t0=$(now_ms)
  sp_capture lines attached "$from"
  for line in "${lines[@]}"; do
    read -r id svc class <<<"$line"
    if [ "$class" = stop-first ]; then stop+=("$id $svc"); else start+=("$id $svc"); fi
  done
  local restarting=()
  for line in "${stop[@]}"; do restarting+=("${line#* }"); done
  echo "move: ${#start[@]} service(s) start-first (no restart of the route), ${#stop[@]} restarting once (${restarting[*]:-none})"
  for line in "${start[@]}"; do
    move_one "$line" "$JOIN | $START_FIRST" "" "on both networks"
  done
  local pending=() containers
  for line in "${stop[@]}"; do
    read -r id svc <<<"$line"
    before=$(spec_of "$id")
    containers=$(source_containers "$id" "$from" | tr '\n' ' ')
    write_spec "$id" "$JOIN | $LEAVE" "$from" "$to" "$label"
    pending+=("$id $svc $before")
    signals+=("$id $svc ${containers:--}")
  done
  # The label names the destination once the old tasks of those services were told to stop (an old traefik, only
  # on the source, routes while it takes requests: naming the destination earlier would send them to addresses it
  # cannot reach) and before their new tasks read the swarm (a new traefik, only on the destination, that read the
  # source's name first routes to the source's addresses until its next poll and its provider's throttle: measured
  # on dockerd 29.0, a 502 then 1.8 s of requests unanswered on the routes whose label came after its first read,
  # when the label waited for the old task's exit). The new task starts after the old one exited, and reads the
  # swarm after that: the signal leaves the old task's stop time, the swarm's start of the new one and its start-up
  # for the writes, where the exit left the last two. All at once.
  for line in "${signals[@]}"; do
    read -r id svc containers <<<"$line"
    # shellcheck disable=SC2086 # the container IDs, one word each
    signalled "$id" "$svc" "$from" $containers
  done
  signalled_at=$(now_ms)
  local jobs=()
  for line in "${start[@]}"; do
    read -r id svc <<<"$line"
    if [ -n "$label" ]; then
      write_spec "$id" "$SET_LABEL" "$from" "$to" "$label" &
    else
      write_spec "$id" "$OWN_LABEL" "$from" "$to" "" &
    fi
    jobs+=("$!")
  done
  for job in "${jobs[@]}"; do wait "$job" || sp_die "the $LABEL label could not be written (above); run again"; done
  for line in "${pending[@]}"; do
    read -r id svc before <<<"$line"
    await "$id" "$svc" "$to" "$from" "$before"
    echo "  $svc: moved (one restart)"
    gaps+=("$svc $(secs $(($(now_ms) - signalled_at)))s")
  done
  for line in "${start[@]}"; do
    move_one "$line" "$LEAVE" "$from" "moved"
  done
  # The old tasks drain, then leave the source: wait until nothing is attached to it any more, and until the swarm
  # has recorded every task on it as dead. Its allocator releases a task's addresses network by network and gives
  # up at the first network it no longer knows: a source removed before the death of a task on both networks is
  # recorded (Docker allows that once the task is told to stop) would leak the task's address on the destination.
  local deadline users=()
  deadline=$(($(sp_now) + timeout))
  while sp_capture users sp_network_users "$from" "$(jq -rn --argjson n "$netnames" --arg i "$from" '$n[$i] // $i')" &&
    [ "${#users[@]}" -gt 0 ] || { sp_capture users live_tasks "$from" && [ "${#users[@]}" -gt 0 ]; }; do
    [ "$(sp_now)" -lt "$deadline" ] || sp_die "still attached ${timeout}s after the move: ${users[*]}; remove them from the network, then run again"
    sleep 0.5
  done
  local gap_list=none
  if [ "${#gaps[@]}" -gt 0 ]; then
    gap_list=$(printf ', %s' "${gaps[@]}")
    gap_list=${gap_list#, }
  fi
  echo "moved $((${#start[@]} + ${#stop[@]})) service(s) onto $(jq -rn --argjson n "$netnames" --arg i "$to" '$n[$i] // $i') in $(secs $(($(now_ms) - t0)))s; restart gap (stop signal to new task running): $gap_list"
}

# Tasks attached to network NET_ID that the swarm does not count as dead yet (desired and actual state both past
# running: only then does its allocator release their addresses).
live_tasks() { # NET_ID
  sp_engine GET /tasks | jq -r --arg n "$1" '
    def past: IN("complete", "shutdown", "failed", "rejected", "remove", "orphaned");
    .[] | select(any(.NetworksAttachments[]?; .Network.ID == $n))
      | select(((.DesiredState | past) and (.Status.State | past)) | not)
      | "task \(.ID[0:12]) (\(.Status.State), desired \(.DesiredState))"'
}

# Every service on TEMP_ID onto NET_ID, what the moves changed in the specs restored, TEMP removed.
back_onto() { # NET_ID TEMP_ID
  hop "$2" "$1" ""
  local restore=()
  sp_capture restore sp_docker service ls -q --filter "label=$KEEP.update-config"
  for sid in "${restore[@]}"; do
    write_spec "$sid" "$RESTORE" "" "" ""
  done
  echo "restored the update order and the $LABEL label of ${#restore[@]} service(s)"
  bash "$(dirname "${BASH_SOURCE[0]}")/network-remove.sh" "$temp" "$timeout"
}

# A stop after the first move (a service put back, a bounded wait, dockerd gone) ends with one line: where the
# services stand, and that the same run resumes from there (every step reads the live host).
stands() {
  local code=$? on_name on_temp
  [ "$code" -ne 0 ] && [ -n "${id:-}" ] && [ -n "${temp_id:-}" ] || return 0
  on_name=$(attached "$id" 2>/dev/null | wc -l) || on_name="?"
  on_temp=$(attached "$temp_id" 2>/dev/null | wc -l) || on_temp="?"
  echo "$sp_script: where the host stands: $on_name service(s) on $name, $on_temp on $temp; run the same pulumi up again to resume from there" >&2
}

netnames=$(network_names)
if [ "$mode" = out ]; then
  id=$(sp_network_id "$name")
  if [ -z "$id" ]; then
    echo "network $name: absent, nothing to move out"
    exit 0
  fi
  subnets=$(sp_docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "$id")
  if [ "${subnets% }" = "$target_subnet" ]; then
    echo "network $name: already $target_subnet, nothing to move out"
    exit 0
  fi
  bash "$(dirname "${BASH_SOURCE[0]}")/gate-quiescent.sh" "${allowed[@]}"
  engine_negotiate
  temp_id=$(sp_network_id "$temp")
  if [ -z "$temp_id" ]; then
    sp_docker network create --driver overlay --attachable --subnet "$temp_subnet" \
      --label "$KEEP.temporary-for=$name" "$temp" >/dev/null
    temp_id=$(sp_network_id "$temp")
    echo "network $temp: created ($temp_subnet), for the move"
  else
    have=$(sp_docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "$temp_id")
    [ "${have% }" = "$temp_subnet" ] || sp_die "network $temp exists with subnet ${have% }, not $temp_subnet: remove it, or choose another network.rolling.temporaryName"
    echo "network $temp: there ($temp_subnet), resuming the move"
  fi
  netnames=$(network_names)
  trap stands EXIT
  if ! (hop "$id" "$temp_id" "$temp"); then
    # A service could not move (it was put back, and named above): every other one goes back onto NAME too, and
    # TEMP goes, so that NAME stays as it was. A failure of this undo leaves what a rerun resumes from.
    echo "the move out of $name stopped: putting every service back onto $name" >&2
    back_onto "$id" "$temp_id"
    sp_die "$name stays as it was (${subnets% }): no service was moved; see the service named above"
  fi
  bash "$(dirname "${BASH_SOURCE[0]}")/network-remove.sh" "$name" "$timeout"
else
  temp_id=$(sp_network_id "$temp")
  if [ -z "$temp_id" ]; then
    echo "network $temp: absent, nothing to move back"
    exit 0
  fi
  id=$(sp_network_id "$name")
  [ -n "$id" ] || sp_die "network $name does not exist: the services stay on $temp until it is created; run pulumi up again"
  engine_negotiate
  trap stands EXIT
  back_onto "$id" "$temp_id"
fi
