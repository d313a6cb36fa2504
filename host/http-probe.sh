#!/usr/bin/env bash
# Probes a route through traefik: GET URL with the given Host header until it answers EXPECTED_STATUS,
# bounded by TIMEOUT. Usage: http-probe.sh URL HOST EXPECTED_STATUS [TIMEOUT]
set -euo pipefail
sp_script=http-probe
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sp_script=http-probe
if [ "$#" -lt 3 ] || [ "$#" -gt 4 ]; then sp_usage "http-probe.sh URL HOST EXPECTED_STATUS [TIMEOUT]"; fi
url=$1 host=$2 expect=$3 timeout=${4:-60}
[[ $url =~ ^https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/?=\&%-]*)?$ ]] || sp_die "URL '$url' is not an http(s) URL"
[[ $host =~ ^[A-Za-z0-9.-]+$ ]] || sp_die "HOST '$host' is not a host name"
[[ $expect =~ ^[1-5][0-9][0-9]$ ]] || sp_die "EXPECTED_STATUS '$expect' is not an HTTP status"
sp_check_timeout "$timeout" TIMEOUT
command -v curl >/dev/null || sp_die "curl is not installed on the host"
deadline=$(($(date +%s) + timeout))
status=none
while :; do
  status=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $host" -- "$url" </dev/null || true)
  [ "$status" = "$expect" ] && { echo "$host via $url: $status"; exit 0; }
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 2
done
sp_die "$host via $url answered '$status', expected $expect, for ${timeout}s"
