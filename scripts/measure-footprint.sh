#!/usr/bin/env bash
# measure-footprint.sh - profcol's memory and CPU as deployed, for sizing the
# Kubernetes manifests' requests and limits and the README's "Deploying".
#
# Runs the sidecar and gateway configs exactly as their ConfigMaps in
# deploy/kubernetes/ hold them (only the listen addresses moved to free
# loopback ports and the queue directory to a temp dir), each forwarding to
# a second profcol acting as the backend (otlp receiver -> nop exporter), and
# measures, per config:
#   idle:    resident set (VmRSS) and CPU over --idle seconds with no traffic;
#   steady:  a fixed OTLP/HTTP load from h2load (--h1, --rps per client) for
#            --duration seconds: CPU (share of one core), RSS at the end,
#            peak RSS (VmHWM) and the answers (all must be 2xx);
#   peak:    as many requests as wrk can send over 10 connections for
#            --duration seconds: requests/s, CPU, peak RSS.
# Payloads come from bench/profcol-gen (realistic eBPF-profiler-like
# requests): the sidecar gets 20 KB requests at 10/s (an application's
# profiler), the gateway 200 KB requests at 50/s (about 250 nodes whose eBPF
# profiler sends every 5 s, 10 MB/s). The measured profcol is pinned to one
# CPU, the backend and the load generator to another.
#
#   scripts/measure-footprint.sh [--duration S] [--idle S] [--build-dir DIR]
#
# CPU is the process's utime + stime from /proc/PID/stat over wall time;
# memory is /proc/PID/status. The machines are shared: repeat and quote the
# range. Not part of the tests.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=build-bench
duration=30
idle=20
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--duration S] [--idle S] [--build-dir DIR]" >&2; exit 2 ;;
  esac
done
[[ $duration =~ ^[1-9][0-9]*$ && $idle =~ ^[1-9][0-9]*$ ]] || { echo "bad --duration/--idle" >&2; exit 2; }
log() { echo "measure-footprint: $*" >&2; }

cd "$root"
scripts/install-deps.sh --bench
if [[ ! -f $build/build.ninja ]]; then meson setup "$build" --buildtype=release >&2; fi
ninja -C "$build" service/profcol bench/profcol-gen >/dev/null
profcol=$root/$build/service/profcol
gen=$root/$build/bench/profcol-gen

tmp=$(mktemp -d /tmp/profcol-footprint.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ncpu=$(nproc)
pin_a=() pin_b=()
if ((ncpu >= 2)); then pin_a=(taskset -c 0) pin_b=(taskset -c 1); fi

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
wait_http() { # url: up to 10 s
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# The backend: a profcol that takes OTLP and drops it.
sink_http=$(free_port)
sink_grpc=$(free_port)
sink_health=$(free_port)
cat >"$tmp/sink.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:$sink_http, max_request_body_size: 256MiB}
      grpc: {endpoint: 127.0.0.1:$sink_grpc, max_recv_msg_size_mib: 256}
exporters:
  nop:
extensions:
  health_check: {endpoint: 127.0.0.1:$sink_health}
service:
  extensions: [health_check]
  telemetry: {metrics: {level: none}}
  pipelines:
    profiles: {receivers: [otlp], exporters: [nop]}
EOF
"${pin_b[@]}" "$profcol" --config "$tmp/sink.yaml" >"$tmp/sink.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$sink_health/" || { cat "$tmp/sink.log" >&2; exit 1; }

"$gen" --size 20000 -o "$tmp/20k.binpb" >/dev/null
"$gen" --size 200000 -o "$tmp/200k.binpb" >/dev/null

# measure NAME FILE CONFIGMAP PAYLOAD CLIENTS RPS_PER_CLIENT
measure() {
  local name=$1 file=$2 cm=$3 payload=$4 clients=$5 rps=$6
  local http grpc health metrics
  http=$(free_port) grpc=$(free_port) health=$(free_port) metrics=$(free_port)
  /usr/bin/python3 "$root/tests/deploy/check_manifests.py" extract "$file" "$cm" >"$tmp/$name.orig.yaml"
  /usr/bin/python3 - "$tmp/$name.orig.yaml" "$tmp/$name.yaml" "$http" "$grpc" "$health" "$metrics" "$tmp/$name-state" <<'EOF'
import sys, yaml
src, dst, http, grpc, health, metrics, state = sys.argv[1:]
c = yaml.safe_load(open(src))
p = c["receivers"]["otlp"]["protocols"]
if "http" in p: p["http"]["endpoint"] = "127.0.0.1:" + http
if "grpc" in p: p["grpc"]["endpoint"] = "127.0.0.1:" + grpc
for k, e in c.get("extensions", {}).items():
    if k.split("/")[0] == "health_check": e["endpoint"] = "127.0.0.1:" + health
    if k.split("/")[0] == "file_storage": e["directory"] = state
c.setdefault("service", {}).setdefault("telemetry", {})["metrics"] = {"address": "127.0.0.1:" + metrics}
c["service"]["telemetry"]["logs"] = {"level": "warn"}
yaml.safe_dump(c, open(dst, "w"), sort_keys=False)
EOF
  mkdir -p "$tmp/$name-state"
  PROFILES_BACKEND="http://127.0.0.1:$sink_http" PROFCOL_GATEWAY="127.0.0.1:$sink_grpc" \
    "${pin_a[@]}" "$profcol" --config "$tmp/$name.yaml" >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$health/" || { cat "$tmp/$name.log" >&2; exit 1; }
  local url="http://127.0.0.1:$http/v1development/profiles"

  # Idle.
  sleep 2
  local t0 c0 t1 c1
  t0=$(date +%s.%N) c0=$(cpu_ticks "$pid")
  sleep "$idle"
  t1=$(date +%s.%N) c1=$(cpu_ticks "$pid")
  local idle_rss idle_cpu
  idle_rss=$(status_kb "$pid" VmRSS)
  idle_cpu=$(awk -v c=$((c1 - c0)) -v t="$t0" -v u="$t1" -v hz="$ticks" 'BEGIN {printf "%.2f", 100 * c / hz / (u - t)}')

  # Steady load.
  t0=$(date +%s.%N) c0=$(cpu_ticks "$pid")
  "${pin_b[@]}" h2load --h1 -c "$clients" --rps "$rps" -D "$duration" -d "$payload" \
    -H 'Content-Type: application/x-protobuf' "$url" >"$tmp/$name.h2load" 2>&1 || true
  t1=$(date +%s.%N) c1=$(cpu_ticks "$pid")
  local steady_cpu steady_rss steady_hwm codes
  steady_cpu=$(awk -v c=$((c1 - c0)) -v t="$t0" -v u="$t1" -v hz="$ticks" 'BEGIN {printf "%.1f", 100 * c / hz / (u - t)}')
  steady_rss=$(status_kb "$pid" VmRSS)
  steady_hwm=$(status_kb "$pid" VmHWM)
  codes=$(grep -E '^status codes:' "$tmp/$name.h2load" | sed 's/^status codes: //')
  local done_req
  done_req=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$tmp/$name.h2load")

  # Peak: wrk, 10 connections.
  t0=$(date +%s.%N) c0=$(cpu_ticks "$pid")
  HB_BODY=$payload "${pin_b[@]}" wrk -t 1 -c 10 -d "${duration}s" -s "$root/bench/http_bench_post.lua" "$url" \
    >"$tmp/$name.wrk" 2>&1 || true
  t1=$(date +%s.%N) c1=$(cpu_ticks "$pid")
  local peak_cpu peak_rps peak_hwm non2xx
  peak_cpu=$(awk -v c=$((c1 - c0)) -v t="$t0" -v u="$t1" -v hz="$ticks" 'BEGIN {printf "%.0f", 100 * c / hz / (u - t)}')
  peak_rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$tmp/$name.wrk")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$tmp/$name.wrk")
  peak_hwm=$(status_kb "$pid" VmHWM)
  # Everything taken must have reached the backend, or the CPU is not the
  # whole pipeline's.
  sleep 12 # the batch timeouts (5 s, 10 s)
  local m sent failed
  m=$(curl -sS "http://127.0.0.1:$metrics/metrics")
  sent=$(awk '/^otelcol_exporter_sent_profiles/ {s += $2} END {print s + 0}' <<<"$m")
  failed=$(awk '/^otelcol_exporter_send_failed_profiles/ {s += $2} END {print s + 0}' <<<"$m")
  kill -TERM "$pid"
  wait "$pid" || true

  printf '%-8s idle: RSS %5.1f MiB, CPU %s%% of a core\n' "$name" "$(awk -v k="$idle_rss" 'BEGIN {print k / 1024}')" "$idle_cpu"
  printf '%-8s steady: %d clients x %d req/s of %d KB for %ds: %s requests ok (%s): CPU %s%%, RSS %.1f MiB, peak RSS %.1f MiB\n' \
    "$name" "$clients" "$rps" $(($(stat -c %s "$payload") / 1000)) "$duration" "${done_req:-?}" "${codes:-?}" \
    "$steady_cpu" "$(awk -v k="$steady_rss" 'BEGIN {print k / 1024}')" "$(awk -v k="$steady_hwm" 'BEGIN {print k / 1024}')"
  printf '%-8s peak: %s req/s (%s MB/s) over 10 connections, CPU %s%%, peak RSS %.1f MiB%s\n' \
    "$name" "${peak_rps:-?}" "$(awk -v r="${peak_rps:-0}" -v s="$(stat -c %s "$payload")" 'BEGIN {printf "%.1f", r * s / 1e6}')" \
    "$peak_cpu" "$(awk -v k="$peak_hwm" 'BEGIN {print k / 1024}')" "${non2xx:+, $non2xx answers not 2xx}"
  printf '%-8s exported: %s profiles sent to the backend, %s failed\n' "$name" "$sent" "$failed"
}

log "profcol $("$profcol" --version | cut -d' ' -f2) ($build), $(nproc) CPUs, idle ${idle}s, load ${duration}s"
measure sidecar deploy/kubernetes/sidecar.yaml profcol-sidecar "$tmp/20k.binpb" 2 5
measure gateway deploy/kubernetes/gateway.yaml profcol-gateway "$tmp/200k.binpb" 10 5
