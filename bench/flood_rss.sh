#!/usr/bin/env bash
# flood_rss.sh - a sidecar's memory before, during and after a flood, for
# several profcol binaries, interleaved.
#
#   bench/flood_rss.sh [--runs N] [--seconds S] [--case samples|dict] LABEL=PROFCOL...
#
# Per run, per binary: config/examples/sidecar.yaml (as it is) pointed at
# an nginx sink (lib.sh's pinning: server on the first CPU, wrk and the
# sink on the second), 1 s idle, then wrk with 64 connections sending the
# 200 KB payload (profcol-gen, --case's shape, default samples) for
# --seconds (20). RSS and private dirty memory from /proc/PID/smaps_rollup:
# idle before, the largest RSS seen every 0.1 s during the flood, and 1, 5
# and 15 s after it (past the batch's 5 s timeout). One line per cell.
# Loopback only; not part of meson test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

runs=2 secs=20 case=samples
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "flood_rss.sh: $*" >&2; exit 1; }
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --case) case=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) break ;;
  esac
done
(($#)) || { usage >&2; exit 2; }
[[ $case == samples || $case == dict ]] || die "--case: samples or dict"
for lb in "$@"; do [[ $lb == *=* && -x ${lb#*=} ]] || die "$lb: want LABEL=PATH-TO-PROFCOL"; done
gen=$(dirname "$(dirname "${1#*=}")")/bench/profcol-gen
[[ -x $gen ]] || die "$gen not found: build bench/profcol-gen beside the first profcol"

bl_pin_cpus
tmp=$(mktemp -d /tmp/profcol-flood-rss.XXXXXX)
sink="" srv="" sampler=""
cleanup() {
  [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
  bl_stop "$srv"
  bl_stop "$sink"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
shape=()
[[ $case == samples ]] && shape=(--shape samples)
"$gen" --size 200000 "${shape[@]}" -o "$tmp/body.pb"
bl_port sink_port
bl_start_nginx "$tmp/sink" "$sink_port" "${bl_cli_pin[@]}" || die "the nginx sink did not start"
sink=$bl_pid

mem() { awk '$1 == "Rss:" {r = $2} $1 == "Private_Dirty:" {p = $2} END {printf "%.1f/%.1f", r / 1024, p / 1024}' "/proc/$1/smaps_rollup"; }

for ((r = 1; r <= runs; r++)); do
  for lb in "$@"; do
    label=${lb%%=*} bin=${lb#*=}
    bl_port port
    bl_port grpc
    bl_port metrics
    PROFILES_BACKEND=http://127.0.0.1:$sink_port "${bl_srv_pin[@]}" "$bin" \
      --config "$root/config/examples/sidecar.yaml" \
      --set "receivers.otlp.protocols.http.endpoint=127.0.0.1:$port" \
      --set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$grpc" \
      --set "service.telemetry.metrics.address=127.0.0.1:$metrics" \
      --set service.telemetry.logs.level=warn </dev/null >"$tmp/$label.log" 2>&1 &
    srv=$!
    bl_wait_port "$srv" "$port" && bl_wait_port "$srv" "$metrics" ||
      { cat "$tmp/$label.log" >&2; die "$label did not start"; }
    sleep 1
    idle=$(mem "$srv")
    rm -f "$tmp/max"
    bl_sample_rss "$srv" "$tmp/max" &
    sampler=$!
    bl_wrk "$tmp/wrk" "$secs" "http://127.0.0.1:$port/v1development/profiles" "$tmp/body.pb" "" 64 \
      "" "${bl_cli_pin[@]}" || die "wrk failed: $(cat "$tmp/wrk")"
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null || true
    sampler=""
    sleep 1
    a1=$(mem "$srv")
    sleep 4
    a5=$(mem "$srv")
    sleep 10
    a15=$(mem "$srv")
    printf '%s run=%d case=%s answers=%s non2xx=%s idle=%s peak_rss=%.1f after1s=%s after5s=%s after15s=%s (MiB, RSS/private dirty)\n' \
      "$label" "$r" "$case" "$(awk '/requests in/ {print $1}' "$tmp/wrk")" "$bl_non2xx" "$idle" \
      "$(awk '{print $1 / 1024}' "$tmp/max" 2>/dev/null || echo 0)" "$a1" "$a5" "$a15"
    bl_stop "$srv"
    srv=""
  done
done
