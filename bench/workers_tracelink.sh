#!/usr/bin/env bash
# workers_tracelink.sh - trace linking on 1 and on 2 workers, with the one
# span store they share (issue 18: going from 1 to 2 workers keeps at least
# 0.9x the throughput per CPU-second, and nothing serializes the workers).
#
# profcol: otlp -> trace_link (span_store) -> batch -> nop, and a traces
# pipeline through trace_link, as a gateway that links runs it. wrk posts
# the sample-heavy 200 KB payload (profcol-gen --shape samples: a link on
# most samples, a few hundred distinct ones per request), so every request
# looks up each distinct link in the span stripes and adds its linked
# samples to the window. Per run, 1 and 2 workers alternate (their order
# swaps from run to run): requests/s, profcol's CPU (every thread), requests
# per CPU-second (answered 2xx), and with --perf the futex calls and context switches per
# request (a contended mutex waits in futex; libuv's thread pool and
# uv_async wake-ups make some in any case, so compare the two). With
# --control the same runs are made without trace_link and span_store (otlp
# -> batch -> nop): what a second loop costs on its own, so that the
# store's share of the ratio shows. With --record-futex, one more run of 2
# workers with perf record of every futex call and its call chain, and the
# share of them made from the span store's locks (pc_spans_*, pc_linked_*).
# The server
# runs on the first CPU this script may use, wrk on the second: on two
# cores a second worker cannot add CPU, so the ratio is what a second loop
# and the shared store cost per CPU-second.
#
#   bench/workers_tracelink.sh [--build DIR] [--runs N] [--duration S] [--conns N] [--perf]
#                              [--control] [--record-futex]
#
# Default: build-bench (any build with profcol and profcol-gen will do for a
# ratio), 5 runs of 5 s, 4 connections (with 10, one worker on one CPU
# refuses a third of the requests with 503, which two do not: the figures
# would compare different loads). Loopback only; servers are stopped
# by their PID; the temp dir is removed on exit. Not part of `meson test`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

build=build-bench
runs=5
duration=5
conns=4
perf=""
control=""
record=""
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --perf) perf=1; shift ;;
    --control) control=1; shift ;;
    --record-futex) record=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "workers_tracelink.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $build == /* ]] || build=$root/$build
profcol=$build/service/profcol
gen=$build/bench/profcol-gen
[[ -x $profcol && -x $gen ]] || { echo "workers_tracelink.sh: build $build first" >&2; exit 1; }

bl_pin_cpus
tmp=$(mktemp -d /tmp/profcol-wtl-XXXXXX)
pid=""
cleanup() {
  bl_stop "$pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

"$gen" --shape samples --size 200k -o "$tmp/body.binpb"

start_profcol() { # WORKERS KIND (linked or plain): sets pid, port
  local w=$1 kind=$2 metrics
  bl_port port
  bl_port metrics
  if [[ $kind == plain ]]; then
    cat >"$tmp/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
processors:
  batch: {}
exporters:
  nop: {}
service:
  workers: $w
  telemetry: {metrics: {address: "127.0.0.1:$metrics"}, logs: {level: warn}}
  pipelines:
    profiles: {receivers: [otlp], processors: [batch], exporters: [nop]}
EOF
  else
    cat >"$tmp/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
processors:
  trace_link: {}
  batch: {}
exporters:
  nop: {}
extensions:
  span_store: {endpoint: "127.0.0.1:0"}
service:
  workers: $w
  telemetry: {metrics: {address: "127.0.0.1:$metrics"}, logs: {level: warn}}
  extensions: [span_store]
  pipelines:
    traces: {receivers: [otlp], processors: [trace_link], exporters: [nop]}
    profiles: {receivers: [otlp], processors: [trace_link, batch], exporters: [nop]}
EOF
  fi
  "${bl_srv_pin[@]}" "$profcol" --config "$tmp/config.yaml" >"$tmp/profcol.log" 2>&1 &
  pid=$!
  bl_wait_port "$pid" "$port" || { cat "$tmp/profcol.log" >&2; exit 1; }
  [[ $(bl_post_status "$port" "$tmp/body.binpb" "") == 200 ]] ||
    { echo "profcol did not take the payload" >&2; cat "$tmp/profcol.log" >&2; exit 1; }
}

declare -A per_cpu futex cs this ratios
kinds=(linked)
[[ -n $control ]] && kinds+=(plain)
printf '%-4s %-7s %-8s %10s %7s %8s %12s %10s %10s\n' run config workers req/s non2xx cpu_s 2xx/cpu_s \
  futex/req cs/req
for ((r = 1; r <= runs; r++)); do
  for kind in "${kinds[@]}"; do
    order=(1 2)
    ((r % 2 == 0)) && order=(2 1)
    for w in "${order[@]}"; do
      start_profcol "$w" "$kind"
      url="http://127.0.0.1:$port/v1development/profiles"
      bl_wrk "$tmp/warm.txt" 1 "$url" "$tmp/body.binpb" "" "$conns" "" "${bl_cli_pin[@]}"
      t0=$(bl_cpu_ticks "$pid")
      # every thread of profcol: perf -p follows the threads that exist
      # when it attaches (the workers and the pool, started by now)
      if [[ -n $perf ]]; then
        perf stat -x, -e syscalls:sys_enter_futex,context-switches -p "$pid" \
          -o "$tmp/perf.txt" -- sleep "$((duration + 1))" &
        perf_pid=$!
        sleep 0.5
      fi
      bl_wrk "$tmp/wrk.txt" "$duration" "$url" "$tmp/body.binpb" "" "$conns" "" "${bl_cli_pin[@]}"
      t1=$(bl_cpu_ticks "$pid")
      [[ -n $perf ]] && wait "$perf_pid"
      reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
      cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$bl_hz" 'BEGIN {printf "%.2f", (b - a) / hz}')
      # answered 2xx: a refusal (503) costs little and would flatter a run
      pc=$(awk -v n="$reqs" -v x="$bl_non2xx" -v c="$cpu" 'BEGIN {printf "%.1f", (n - x) / c}')
      fx=nan
      sw=nan
      if [[ -n $perf ]]; then
        fx=$(awk -F, -v n="$reqs" '$3 == "syscalls:sys_enter_futex" {printf "%.2f", $1 / n}' "$tmp/perf.txt")
        sw=$(awk -F, -v n="$reqs" '$3 == "context-switches" {printf "%.2f", $1 / n}' "$tmp/perf.txt")
      fi
      per_cpu[$kind$w]+="$pc "
      futex[$kind$w]+="$fx "
      cs[$kind$w]+="$sw "
      this[$w]=$pc
      printf '%-4s %-7s %-8s %10s %7s %8s %12s %10s %10s\n' "$r" "$kind" "$w" "$bl_rps" "$bl_non2xx" \
        "$cpu" "$pc" "$fx" "$sw"
      bl_stop "$pid"
      pid=""
    done
    ratios[$kind]+="$(awk -v a="${this[2]}" -v b="${this[1]}" 'BEGIN {printf "%.3f", a / b}') "
  done
done
echo
for kind in "${kinds[@]}"; do
  echo "$kind: median requests per CPU-second: 1 worker $(echo "${per_cpu[${kind}1]}" | bl_median)," \
    "2 workers $(echo "${per_cpu[${kind}2]}" | bl_median); 2 workers / 1 worker, median of the" \
    "per-run ratios: $(echo "${ratios[$kind]}" | bl_median) (runs: ${ratios[$kind]})"
  if [[ -n $perf ]]; then
    echo "$kind: median futex calls per request: 1 worker" \
      "$(echo "${futex[${kind}1]}" | bl_median), 2 workers $(echo "${futex[${kind}2]}" | bl_median);" \
      "context switches per request: $(echo "${cs[${kind}1]}" | bl_median) and" \
      "$(echo "${cs[${kind}2]}" | bl_median)"
  fi
done
if [[ -n $record ]]; then
  start_profcol 2 linked
  url="http://127.0.0.1:$port/v1development/profiles"
  bl_wrk "$tmp/warm.txt" 1 "$url" "$tmp/body.binpb" "" "$conns" "" "${bl_cli_pin[@]}"
  perf record -q -e syscalls:sys_enter_futex --call-graph dwarf,16384 -p "$pid" \
    -o "$tmp/futex.data" -- sleep "$((duration + 1))" 2>/dev/null &
  perf_pid=$!
  sleep 0.5
  bl_wrk "$tmp/wrk.txt" "$duration" "$url" "$tmp/body.binpb" "" "$conns" "" "${bl_cli_pin[@]}"
  wait "$perf_pid"
  reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
  # one record per futex call: a header line, then its call chain
  perf script -i "$tmp/futex.data" -F comm,tid,ip,sym 2>/dev/null | awk -v n="$reqs" '
    function done_one() { all++; if (store) st++; if (ours) known++ }
    /^[^ \t]/ { if (inside) done_one(); inside = 1; store = 0; ours = 0; next }
    /pc_spans_|pc_linked_|ss_add|ss_find|ss_on_thread/ { store = 1 }
    / (pc_|uv_|worker_)/ { ours = 1 }
    END { if (inside) done_one(); printf "2 workers, %d requests: %d futex calls (%.2f per request; " \
          "%d with a profcol or libuv frame in their unwound chain), %d of them from the span " \
          "store (%.4f per request)\n", n, all, all / n, known, st, st / n }'
  bl_stop "$pid"
  pid=""
fi
echo "($bl_pin_note; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
