#!/usr/bin/env bash
# pipeline_bench.sh - the whole pipeline under a steady load: latency of small
# requests beside big batches, and throughput per CPU-second against nginx.
#
# profcol runs otlp (HTTP) -> batch (8 MiB batches) -> otlphttp (gzip) -> an
# nginx sink on loopback that reads every body (as in http_bench.sh). Three
# measurements, each for every profcol binary given (e.g. a build of main
# and one of a branch), in the same run:
#   alone:      the 10 KB client of `latency` with no other load, against
#               the same profcol: its p50/p99, what the machine itself costs
#               a request (on a shared machine, the scheduler's tail).
#   latency:    a steady 200 KB load (wrk, HB_DELAY_MS between requests) and,
#               at the same time, a second wrk sending 10 KB requests one at a
#               time: that client's p50/p99 latency (wrk --latency). A loop
#               that compresses 8 MiB batches itself stalls it for hundreds
#               of ms per batch.
#   throughput: 200 KB requests as fast as wrk -c4 sends them: answered 2xx
#               per second and per CPU-second of profcol (all its threads;
#               the sink's CPU is not counted), against nginx reading the
#               same bodies, per its CPU-second, in the same run.
#   paced:      200 KB requests at a rate below saturation (wrk -c2, PACE_MS
#               between requests): answered 2xx per CPU-second, against
#               nginx paced alike. Nothing is refused here, so on a shared
#               machine, where the share of CPU profcol gets changes from
#               second to second, this is the steadier figure of the two.
#   compressions: profcol_process_compressions per batch handed on.
#
#   bench/pipeline_bench.sh [--duration S] [--rate-delay MS] [--no-batch] PROFCOL [PROFCOL...]
#
# --no-batch leaves the batch processor out (otlp -> otlphttp gzip): each
# 200 KB request is encoded and compressed on its own, the path of issue
# 13's "without batch" (compressions/batch then reads per request).
#
# Loopback only; not part of `meson test`. Each server is stopped by its PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
duration=15
delay_ms=20
pace_ms=${PACE_MS:-20}
no_batch=0
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rate-delay) delay_ms=$2; shift 2 ;;
    --no-batch) no_batch=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
(($#)) || { echo "pipeline_bench: give one or more profcol binaries" >&2; exit 2; }
binaries=("$@")
gen=${PROFCOL_GEN:-$here/../build-rel/bench/profcol-gen}
[[ -x $gen ]] || { echo "pipeline_bench: set PROFCOL_GEN to profcol-gen ($gen missing)" >&2; exit 2; }
lua=$bl_wrk_lua
tmp=$(mktemp -d /tmp/profcol-pipe-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

"$gen" --size 10000 -o "$tmp/p10k.pb"
"$gen" --size 200000 -o "$tmp/p200k.pb"

free_port() { bl_free_port; }
ticks() { bl_cpu_ticks "$1"; }
hz=$bl_hz

start_nginx() { # $1 dir; sets ng_pid ng_port: the sink of lib.sh, reading every body
  ng_port=$(free_port)
  bl_start_nginx "$1" "$ng_port" || { echo "nginx did not start" >&2; exit 1; }
  ng_pid=$bl_pid
  pids+=("$ng_pid")
}

start_profcol() { # $1 binary $2 dir $3 sink port; sets pf_pid pf_port pf_metrics
  local bin=$1 d=$2 sink=$3
  mkdir -p "$d"
  local procs="[batch]"
  ((no_batch)) && procs="[]"
  cat >"$d/config.yaml" <<YAML
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
processors:
  batch:
    send_batch_size: 100000000
    send_batch_max_bytes: 8MiB
    timeout: 2s
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:$sink
    compression: gzip
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    profiles:
      receivers: [otlp]
      processors: $procs
      exporters: [otlphttp]
YAML
  "$bin" --config "$d/config.yaml" </dev/null >"$d/profcol.log" 2>&1 &
  pf_pid=$!
  pids+=("$pf_pid")
  for _ in $(seq 200); do grep -q 'everything is ready' "$d/profcol.log" && break; sleep 0.05; done
  pf_port=$(sed -n 's/.*listening for OTLP\/HTTP on .* (port \([0-9]*\)).*/\1/p' "$d/profcol.log" | head -1)
  pf_metrics=$(sed -n 's/.*serving Prometheus metrics at http:\/\/[^/]*\(\/[^ ]*\) (port \([0-9]*\)).*/http:\/\/127.0.0.1:\2\1/p' "$d/profcol.log" | head -1)
  [[ -n $pf_port ]] || { cat "$d/profcol.log" >&2; exit 1; }
}

stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

wrk_run() { # $1 port $2 body $3 conns $4 secs $5 delay|"" $6 out
  HB_BODY=$2 HB_DELAY_MS=$5 wrk -t1 -c"$3" -d"$4"s --timeout 10s --latency -s "$lua" \
    "http://127.0.0.1:$1/v1development/profiles" >"$6" 2>&1
}
field() { awk -v k="$1" '$1 == k {print $2}' "$2"; }
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ {print $NF}' "$1"; }
metric() { curl -s "$pf_metrics" | awk -v n="$1" '$1 == n {print $2}'; }
ms() { bl_ms "$1"; }

echo "# pipeline_bench $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
((no_batch)) && echo "# without the batch processor: otlp -> otlphttp (gzip)"
echo "# steady load: 200 KB, 1 connection, ${delay_ms} ms between requests; probe: 10 KB, 8 connections, each 50 ms apart; ${duration} s"
start_nginx "$tmp/nginx"
# nginx reading the same 200 KB bodies, saturated: requests per CPU-second.
wrk_run "$ng_port" "$tmp/p200k.pb" 4 2 "" "$tmp/warm"
t0=$(ticks "$ng_pid"); s0=$(date +%s.%N)
wrk_run "$ng_port" "$tmp/p200k.pb" 4 "$duration" "" "$tmp/ng"
t1=$(ticks "$ng_pid"); s1=$(date +%s.%N)
ng_rps=$(rps "$tmp/ng")
ng_cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.3f", t / hz / (b - a)}')
ng_per_cpu=$(awk -v r="$ng_rps" -v c="$ng_cpu" 'BEGIN {printf "%.0f", r / c}')
echo "nginx (sink, reading 200 KB bodies): $ng_rps req/s at $ng_cpu CPUs: $ng_per_cpu req per CPU-second"
# Answered 2xx per CPU-second of pid under a paced load on port ($1 pid $2 port $3 out).
paced() {
  local t0 s0 t1 s1 total bad
  wrk_run "$2" "$tmp/p200k.pb" 2 2 "$pace_ms" "$3.warm"
  t0=$(ticks "$1"); s0=$(date +%s.%N)
  wrk_run "$2" "$tmp/p200k.pb" 2 "$duration" "$pace_ms" "$3"
  t1=$(ticks "$1"); s1=$(date +%s.%N)
  total=$(awk '/requests in/ {print $1}' "$3"); bad=$(non2xx "$3"); bad=${bad:-0}
  awk -v n="$total" -v b="$bad" -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.0f", (n - b) / (t / hz)}'
}
ng_paced=$(paced "$ng_pid" "$ng_port" "$tmp/ng-paced")
echo "nginx paced (2 connections, ${pace_ms} ms apart): $ng_paced req per CPU-second"
printf '%-40s | %9s %9s | %9s %9s %9s | %9s %6s %9s %7s | %9s %7s | %s\n' binary "alone p50" "alone p99" "p50 ms" "p99 ms" "max ms" "req/s" CPUs "req/CPU-s" "/nginx" "paced/CPU" "/nginx" "compressions/batch"
for bin in "${binaries[@]}"; do
  d=$tmp/pf-$(basename "$(dirname "$(dirname "$bin")")")-$RANDOM
  start_profcol "$bin" "$d" "$ng_port"
  # the 10 KB client alone: what the machine costs it
  wrk_run "$pf_port" "$tmp/p10k.pb" 8 2 50 "$tmp/warm"
  wrk_run "$pf_port" "$tmp/p10k.pb" 8 "$duration" 50 "$d/alone"
  a50=$(ms "$(field 50% "$d/alone")"); a99=$(ms "$(field 99% "$d/alone")")
  # latency beside the steady load
  wrk_run "$pf_port" "$tmp/p200k.pb" 1 2 "$delay_ms" "$tmp/warm"
  wrk_run "$pf_port" "$tmp/p200k.pb" 1 "$duration" "$delay_ms" "$d/steady" &
  steady=$!
  wrk_run "$pf_port" "$tmp/p10k.pb" 8 "$duration" 50 "$d/probe" # 8 in flight: a stall shows in 8 samples, not 1
  wait "$steady"
  p50=$(ms "$(field 50% "$d/probe")"); p99=$(ms "$(field 99% "$d/probe")")
  max=$(ms "$(awk '/^ *Latency/ {print $4}' "$d/probe")")
  [[ -z $(non2xx "$d/probe") && -z $(non2xx "$d/steady") ]] || echo "warning: non-2xx answers during the latency run" >&2
  # throughput, saturated
  t0=$(ticks "$pf_pid"); s0=$(date +%s.%N)
  wrk_run "$pf_port" "$tmp/p200k.pb" 4 "$duration" "" "$d/sat"
  t1=$(ticks "$pf_pid"); s1=$(date +%s.%N)
  total=$(awk '/requests in/ {print $1}' "$d/sat"); bad=$(non2xx "$d/sat"); bad=${bad:-0}
  ok_rps=$(awk -v n="$total" -v b="$bad" -v a="$s0" -v z="$s1" 'BEGIN {printf "%.1f", (n - b) / (z - a)}')
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.3f", t / hz / (b - a)}')
  per=$(awk -v r="$ok_rps" -v c="$cpu" 'BEGIN {printf "%.0f", r / c}')
  ratio=$(awk -v a="$per" -v b="$ng_per_cpu" 'BEGIN {printf "%.3f", a / b}')
  sleep 3 # the sink drains what was refused into retries
  pp=$(paced "$pf_pid" "$pf_port" "$d/paced")
  pratio=$(awk -v a="$pp" -v b="$ng_paced" 'BEGIN {printf "%.3f", a / b}')
  sleep 3 # the last batch goes out
  comp=$(metric profcol_process_compressions)
  if ((no_batch)); then # per body sent
    batches=$(curl -s "$pf_metrics" | awk '/^profcol_exporter_sent_batches/ {print $2}')
  else
    batches=$(curl -s "$pf_metrics" | awk '/^otelcol_processor_batch_batch_send_size_count/ {print $2}')
  fi
  cpb=$(awk -v c="${comp:-nan}" -v b="${batches:-0}" 'BEGIN { if (c == "nan" || c == "") print "n/a (no counter)"; else printf "%.2f (%d/%d)", c / b, c, b }')
  printf '%-40s | %9s %9s | %9s %9s %9s | %9s %6s %9s %7s | %9s %7s | %s\n' "$bin" "$a50" "$a99" "$p50" "$p99" "$max" "$ok_rps" "$cpu" "$per" "$ratio" "$pp" "$pratio" "$cpb"
  stop "$pf_pid"
done
