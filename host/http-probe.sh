#!/usr/bin/env bash
# Probes a route through traefik: GET URL with the given Host header until it answers EXPECTED_STATUS (and, when
# EXPECT_TEXT is given, a body that contains it: the stack's own answer), bounded by TIMEOUT. With STACK, a
# failure also names the stack and its tasks, so the operator sees which tasks traefik should have reached.
# Usage: http-probe.sh URL HOST EXPECTED_STATUS [TIMEOUT [STACK EXPECT_TEXT]]
set -euo pipefail
sp_script=http-probe
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script=http-probe
if [ "$#" -lt 3 ] || [ "$#" -gt 6 ] || [ "$#" -eq 5 ]; then
  sp_usage "http-probe.sh URL HOST EXPECTED_STATUS [TIMEOUT [STACK EXPECT_TEXT]]"
fi
url=$1 host=$2 expect=$3 timeout=${4:-60} stack=${5:-} text=${6:-}
# In a bracket expression ']' is literal only first, and a backslash is no escape: an IPv6 host's brackets so.
url_re='^https?://[]A-Za-z0-9.:[-]+(/[A-Za-z0-9._~/?=&%-]*)?$'
[[ $url =~ $url_re ]] || sp_die "URL '$url' is not an http(s) URL"
[[ $host =~ ^[A-Za-z0-9.-]+$ ]] || sp_die "HOST '$host' is not a host name"
[[ $expect =~ ^[1-5][0-9][0-9]$ ]] || sp_die "EXPECTED_STATUS '$expect' is not an HTTP status"
sp_check_timeout "$timeout" TIMEOUT
if [ -n "$stack" ]; then
  sp_check_name "$stack" STACK
  [[ $text =~ ^[[:print:]]{1,200}$ ]] || sp_die "EXPECT_TEXT '$text' is not 1 to 200 printable characters"
fi
command -v curl >/dev/null || sp_die "curl is not installed on the host"
body=$(mktemp)
trap 'rm -f "$body"' EXIT
deadline=$(($(date +%s) + timeout))
status=none
while :; do
  : >"$body"
  status=$(curl -ks -o "$body" -w '%{http_code}' --max-time 5 -H "Host: $host" -- "$url" </dev/null || true)
  if [ "$status" = "$expect" ] && { [ -z "$text" ] || grep -qF -- "$text" "$body"; }; then
    echo "$host via $url: $status"
    exit 0
  fi
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 1
done
if [ -z "$stack" ]; then
  sp_die "$host via $url answered '$status', expected $expect, for ${timeout}s; check the stack's traefik labels and its tasks (docker service ps), then run again"
fi
# What came back, on one line and short: enough to tell traefik's own 404 from another service's answer.
got=$(head -c 200 "$body" | tr -c '[:print:]' ' ')
running=$(sp_docker stack ps --no-trunc --filter desired-state=running --format '{{.ID}} ({{.Name}}, {{.CurrentState}})' \
  -- "$stack" 2>/dev/null | paste -sd ';' - || true)
sp_die "stack $stack: route $host via $url answered '$status' with '$got', expected $expect with '$text', for ${timeout}s; its running tasks: ${running:-none}; check which service holds this Host rule and that the stack's tasks are on traefik's network, then run again"
