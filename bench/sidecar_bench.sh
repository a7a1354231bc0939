#!/usr/bin/env bash
# sidecar_bench.sh - run.sh's sidecar phase for several profcol binaries,
# interleaved, with the CPU of what was taken counted until it is sent.
#
#   bench/sidecar_bench.sh [--runs N] [--duration S] [--cases "samples dict"]
#                          [--server NAME] [--set KEY=VALUE]... LABEL=PROFCOL...
#
# Per run, per case (the 200 KB payloads of run.sh: profcol-gen's
# dictionary and samples shapes), per binary in the order given:
# config/examples/sidecar.yaml pointed at an nginx sink (run.sh's setup:
# server pinned to the first CPU, wrk and the sink on the second), wrk with
# 10 connections for 1 s of warm-up and --duration seconds (3) with no
# pause, then everything taken must be compressed and sent: the CPU is read
# once the process has been idle for 0.5 s, past the batch's 5 s timeout.
# run.sh reads it as wrk ends, which leaves out the batches still held,
# and a config that holds more (a batch grown to 8 MiB behind the pool)
# looks cheaper than it is. Then 4 connections at half the peak rate for
# the p50/p99 latency. One line per cell: 2xx and all answers, the share
# refused, early refusals (at the headers, warm-up included), CPU per 2xx
# (warm-up and saturated, µs), peak 2xx/s, half-load p50/p99 (ms) and
# non-2xx, peak RSS. --set goes to every binary (e.g.
# exporters.otlp_http.compression=zstd). --server runs another of run.sh's
# configs instead of the sidecar (receive, e2e, workers2, gateway; the CPU
# is read once everything is sent, past that config's batch timeout).
# Loopback only; not part of meson test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

runs=3
duration=3
cases="samples dict"
sets=()
server=sidecar
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "sidecar_bench.sh: $*" >&2; exit 1; }
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --server) server=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) break ;;
  esac
done
(($#)) || { usage >&2; exit 2; }
case $server in
  sidecar) settle=5.5 ;;
  gateway) settle=10.5 ;;
  receive|e2e|workers2) settle=0.5 ;;
  *) die "--server: want sidecar, receive, e2e, workers2 or gateway" ;;
esac
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $duration =~ ^[1-9][0-9]*$ ]] || die "--duration must be a positive integer"
for lb in "$@"; do
  [[ $lb == *=* && -x ${lb#*=} ]] || die "$lb: want LABEL=PATH-TO-PROFCOL"
done
for cmd in nginx wrk taskset curl; do
  command -v "$cmd" >/dev/null || die "$cmd not found (scripts/install-deps.sh --bench)"
done
gen=$(dirname "$(dirname "${1#*=}")")/bench/profcol-gen
[[ -x $gen ]] || die "$gen not found: build bench/profcol-gen beside the first profcol"

bl_pin_cpus
tmp=$(mktemp -d /tmp/profcol-sidecar-bench.XXXXXX)
sink=""
srv=""
cleanup() {
  bl_stop "$srv"
  bl_stop "$sink"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$gen" --size 200000 -o "$tmp/dict.pb"
"$gen" --size 200000 --shape samples -o "$tmp/samples.pb"
bl_port sink_port
bl_start_nginx "$tmp/sink" "$sink_port" "${bl_cli_pin[@]}" || die "the nginx sink did not start"
sink=$bl_pid

# server_cmd BIN PORT GRPC METRICS: sets cmd (array) to run BIN with the
# --server config on those ports (as run.sh's profcol_cmd does).
server_cmd() {
  local bin=$1 port=$2 grpc=$3 metrics=$4 d=$tmp/srv-$server
  rm -rf "$d"
  mkdir -p "$d"
  local -a set=(--set "receivers.otlp.protocols.http.endpoint=127.0.0.1:$port"
    --set "service.telemetry.metrics.address=127.0.0.1:$metrics"
    --set service.telemetry.logs.level=warn)
  case $server in
    sidecar|gateway)
      cmd=(env "PROFILES_BACKEND=http://127.0.0.1:$sink_port"
        "PYROSCOPE_ENDPOINT=http://127.0.0.1:$sink_port" "PROFCOL_QUEUE_DIR=$d/queue"
        "$bin" --config "$root/config/examples/$server.yaml" "${set[@]}"
        --set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$grpc") ;;
    *)
      local exporter="nop: {}" name=nop workers=1
      [[ $server == workers2 ]] && workers=2
      if [[ $server == e2e ]]; then
        exporter="otlp_http: {endpoint: \"http://127.0.0.1:$sink_port\", compression: zstd}"
        name=otlp_http
      fi
      printf '%s\n' "receivers:" "  otlp:" "    protocols:" "      http:" \
        "        endpoint: 127.0.0.1:0" "processors:" "  batch: {}" "exporters:" \
        "  $exporter" "service:" "  workers: $workers" "  pipelines:" "    profiles:" \
        "      receivers: [otlp]" "      processors: [batch]" "      exporters: [$name]" \
        >"$d/config.yaml"
      cmd=("$bin" --config "$d/config.yaml" "${set[@]}") ;;
  esac
}

early() { curl -sS --max-time 10 "$1" | awk '/^profcol_receiver_refused_early_requests/ {s += $2} END {print s + 0}'; }

for ((r = 1; r <= runs; r++)); do
  for c in $cases; do
    [[ -f $tmp/$c.pb ]] || die "unknown case $c (samples, dict)"
    for lb in "$@"; do
      label=${lb%%=*} bin=${lb#*=}
      bl_port port
      bl_port grpc
      bl_port metrics
      server_cmd "$bin" "$port" "$grpc" "$metrics"
      "${bl_srv_pin[@]}" "${cmd[@]}" "${sets[@]}" </dev/null >"$tmp/$label.log" 2>&1 &
      srv=$!
      bl_wait_port "$srv" "$port" && bl_wait_port "$srv" "$metrics" ||
        { cat "$tmp/$label.log" >&2; die "$label did not start"; }
      url=http://127.0.0.1:$port/v1development/profiles
      m=http://127.0.0.1:$metrics/metrics
      e0=$(early "$m")
      t0=$(bl_cpu_ticks "$srv")
      bl_wrk "$tmp/warm" 1 "$url" "$tmp/$c.pb" "" 10 "" "${bl_cli_pin[@]}" || die "wrk failed: $(cat "$tmp/warm")"
      warm_ok=$(($(awk '/requests in/ {print $1}' "$tmp/warm") - bl_non2xx))
      bl_wrk "$tmp/sat" "$duration" "$url" "$tmp/$c.pb" "" 10 "" "${bl_cli_pin[@]}" || die "wrk failed: $(cat "$tmp/sat")"
      all=$(awk '/requests in/ {print $1}' "$tmp/sat")
      ok=$((all - bl_non2xx))
      peak=$(awk -v r="$bl_rps" -v n="$ok" -v a="$all" 'BEGIN {printf "%.1f", a ? r * n / a : 0}')
      refused=$(awk -v n="$bl_non2xx" -v a="$all" 'BEGIN {printf "%.4f", a ? n / a : 0}')
      sleep "$settle" # the batch's timeout: the last open batch is sealed
      prev=$(bl_cpu_ticks "$srv")
      for _ in $(seq 60); do
        sleep 0.5
        cur=$(bl_cpu_ticks "$srv")
        ((cur - prev <= 1)) && break
        prev=$cur
      done
      t1=$(bl_cpu_ticks "$srv")
      e1=$(early "$m")
      cpu_us=$(awk -v t=$((t1 - t0)) -v hz="$bl_hz" -v n=$((ok + warm_ok)) 'BEGIN {printf "%.0f", n ? t / hz / n * 1e6 : 0}')
      delay=$(awk -v p="$peak" 'BEGIN {d = p > 0 ? 7000 / p : 1000; printf "%d", d < 1 ? 1 : d + 0.5}')
      bl_wrk "$tmp/half" 2 "$url" "$tmp/$c.pb" "" 4 "$delay" "${bl_cli_pin[@]}" || die "wrk failed: $(cat "$tmp/half")"
      printf '%s server=%s run=%d case=%s ok=%d all=%d refused=%s early=%d cpu_per_ok_us=%s rps=%s half_rps=%s half_p50=%s half_p99=%s half_non2xx=%s hwm_mib=%.1f\n' \
        "$label" "$server" "$r" "$c" "$ok" "$all" "$refused" $((e1 - e0)) "$cpu_us" "$peak" "$bl_rps" \
        "$bl_p50_ms" "$bl_p99_ms" "$bl_non2xx" "$(awk -v k="$(bl_hwm "$srv")" 'BEGIN {print k / 1024}')"
      bl_stop "$srv"
      srv=""
    done
  done
done
