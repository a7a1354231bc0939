#!/usr/bin/env bash
# lb_bench.sh - what the load_balancing exporter costs: CPU-seconds per MB
# of a profcol that routes by trace id over three backends, against the
# same profcol with one plain otlp_http exporter, in the same run.
#
# Both run otlp (HTTP) -> batch -> exporter; the plain one sends to one
# sink, the balancer (load_balancing, protocol otlp_http, static resolver)
# to three. The sinks are profcols with the nop exporter; their CPU is not
# counted. The load is wrk posting one profcol-gen request (200 KB by
# default, eight services, some samples linked to traces, so every batch
# is cut several ways) as fast as -c4 allows, for DURATION seconds against
# each, alternating ROUNDS times so that both see the same machine. CPU is
# utime + stime of the measured process (all threads) from /proc.
#
# --no-batch leaves batch out of both pipelines: each request is routed (cut,
# merged per backend, encoded, compressed) on its own, the balancer's worst
# case; with batch (the default) it cuts the batch's merged output.
#
#   bench/lb_bench.sh [--duration S] [--rounds N] [--size BYTES] [--no-batch] PROFCOL
#
# Prints, per round and summed: MB/s answered 2xx, CPU-s per MB for each,
# and the balancer's CPU per MB as a ratio of the plain exporter's.
# Loopback only; not part of `meson test`. Each server is stopped by its PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
duration=10
rounds=3
size=200k
nobatch=0
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --no-batch) nobatch=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
(($# == 1)) || { echo "lb_bench: give the profcol binary" >&2; exit 2; }
bin=$1
gen=${PROFCOL_GEN:-$(dirname "$bin")/../bench/profcol-gen}
[[ -x $gen ]] || { echo "lb_bench: set PROFCOL_GEN to profcol-gen ($gen missing)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "lb_bench: needs wrk" >&2; exit 2; }

dir=$(mktemp -d /tmp/lb_bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME YAML: start profcol on the config, wait until ready; sets $pid.
start() {
  printf '%s' "$2" >"$dir/$1.yaml"
  "$bin" --config "$dir/$1.yaml" >"$dir/$1.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    grep -q "everything is ready" "$dir/$1.log" && return 0
    sleep 0.05
  done
  echo "lb_bench: $1 did not start:" >&2
  cat "$dir/$1.log" >&2
  exit 1
}

sinks=()
for i in 1 2 3; do
  port=$(free_port)
  start "sink$i" "receivers: {otlp: {protocols: {http: {endpoint: 127.0.0.1:$port}}}}
exporters: {nop: {}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {profiles: {receivers: [otlp], exporters: [nop]}}
"
  sinks+=("127.0.0.1:$port")
done

procs="[batch]"
((nobatch)) && procs="[]"
common="processors: {batch: {timeout: 200ms}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {profiles: {receivers: [otlp], processors: $procs, exporters: [EXP]}}
"
plain_port=$(free_port)
start plain "receivers: {otlp: {protocols: {http: {endpoint: 127.0.0.1:$plain_port}}}}
exporters: {otlp_http: {endpoint: http://${sinks[0]}, compression: zstd}}
${common/EXP/otlp_http}"
plain_pid=$pid
lb_port=$(free_port)
lb_common=${common/EXP/load_balancing}
lb_common=${lb_common/"{metrics: {level: none}}"/"{metrics: {address: 127.0.0.1:0}}"}
start lb "receivers: {otlp: {protocols: {http: {endpoint: 127.0.0.1:$lb_port}}}}
exporters:
  load_balancing:
    protocol: {otlp_http: {compression: zstd}}
    resolver: {static: {hostnames: [${sinks[0]}, ${sinks[1]}, ${sinks[2]}]}}
$lb_common"
lb_pid=$pid

"$gen" --size "$size" --hosts 2 -o "$dir/body.pb" -v 2>"$dir/gen.txt"
body_bytes=$(stat -c %s "$dir/body.pb")
echo "lb_bench: body $(head -1 "$dir/gen.txt" | sed 's/^profcol-gen: //'), $(grep -o 'link [0-9]*' "$dir/gen.txt") entries;" \
  "${duration}s x $rounds rounds each, $( ((nobatch)) && echo "no batch" || echo "with batch")"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run PORT PID: prints "requests cpu_seconds"
run() {
  local before after out reqs
  before=$(cpu_ticks "$2")
  out=$(HB_BODY="$dir/body.pb" wrk -t1 -c4 -d"${duration}s" -s "$here/http_bench_post.lua" \
        "http://127.0.0.1:$1/v1development/profiles" 2>&1)
  sleep 0.5 # the last batch leaves
  after=$(cpu_ticks "$2")
  if grep -q "Non-2xx" <<<"$out"; then echo "lb_bench: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$reqs $(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}')"
}

tot_p_req=0 tot_p_cpu=0 tot_l_req=0 tot_l_cpu=0
printf '%-6s %-15s %10s %10s %12s\n' round exporter "MB/s" "CPU-s" "CPU-s/MB"
for r in $(seq "$rounds"); do
  for which in plain lb; do
    if [[ $which == plain ]]; then read -r req cpu < <(run "$plain_port" "$plain_pid")
    else read -r req cpu < <(run "$lb_port" "$lb_pid"); fi
    mb=$(awk -v n="$req" -v b="$body_bytes" 'BEGIN {print n * b / 1e6}')
    printf '%-6s %-15s %10.1f %10.2f %12.5f\n' "$r" "$([[ $which == plain ]] && echo otlp_http || echo load_balancing)" \
      "$(awk -v m="$mb" -v d="$duration" 'BEGIN {print m / d}')" "$cpu" \
      "$(awk -v c="$cpu" -v m="$mb" 'BEGIN {print c / m}')"
    if [[ $which == plain ]]; then
      tot_p_req=$((tot_p_req + req)); tot_p_cpu=$(awk -v a="$tot_p_cpu" -v b="$cpu" 'BEGIN {print a + b}')
    else
      tot_l_req=$((tot_l_req + req)); tot_l_cpu=$(awk -v a="$tot_l_cpu" -v b="$cpu" 'BEGIN {print a + b}')
    fi
  done
done
awk -v pr="$tot_p_req" -v pc="$tot_p_cpu" -v lr="$tot_l_req" -v lc="$tot_l_cpu" -v b="$body_bytes" 'BEGIN {
  p = pc / (pr * b / 1e6); l = lc / (lr * b / 1e6);
  printf "all    otlp_http      %.5f CPU-s/MB\nall    load_balancing %.5f CPU-s/MB\n", p, l;
  printf "load_balancing / otlp_http CPU per MB: %.2fx\n", l / p }'
grep -i "error" "$dir/lb.log" "$dir/plain.log" >&2 || true
# That the balancer really cut the load: what its self-telemetry counted.
mport=$(grep -o 'metrics at http://127.0.0.1:0/metrics (port [0-9]*' "$dir/lb.log" | grep -o '[0-9]*$')
curl -s "http://127.0.0.1:$mport/metrics" | grep -E '^profcol_load_balancing_routed_(requests|samples)' |
  sed 's/^/lb_bench: /'

