#!/usr/bin/env bash
# run.sh - the one benchmark command: profcol against nginx on loopback, every
# target of issue 18 as a ratio measured in the same run, one table.
#
#   bench/run.sh [--quick] [--runs N] [--duration S] [--flood-seconds S]
#                [--no-flood] [--build-dir DIR] [--perf DIR | --no-perf]
#                [--no-results]
#
# What it does, from a clean clone (scripts/install-deps.sh --bench installs
# nginx-light, wrk and h2load; the script runs it):
#   1. builds a release build in its own directory (build-bench) and the
#      payloads: profcol-gen's two shapes of 200 KB (dictionary-heavy, about
#      230 samples; samples-heavy, about 5,000), each plain and gzip -6;
#   2. per run (default 3; servers alternate their order so a drift in the
#      machine's load hits all), per payload, per server: starts the server
#      pinned to one CPU, warms it up, saturates it with wrk (10 connections,
#      --duration seconds; wrk and the sink on the other CPU), then for
#      profcol sends at half that peak rate (4 connections with a pause) and
#      takes p50/p99 latency; also the compute floor (bench_floor: inflate +
#      decode + validate + merge, no server) on the server's CPU;
#   3. start-up time (exec to listening sockets, bench/startup-time, 5
#      starts each) and idle memory after start (RSS, PSS and private dirty
#      from /proc/PID/smaps_rollup; the sidecar's by shared library);
#   4. the flood: the sidecar config with a 64 MiB memory_limiter, 64
#      connections sending as fast as wrk can for --flood-seconds (60), into
#      a profcol sink; RSS sampled throughout; then everything acknowledged
#      must reach the sink (samples counted at both ends);
#   5. where perf may record (root, or perf_event_paranoid <= 1; --no-perf
#      skips it), after all the measuring: perf record of the server of
#      every CPU-per-request target the run missed, and of its reference
#      (nginx, or the one-worker receive), with the same load (the sidecar
#      at its half-load pace); report.py puts each sample into a phase of
#      the request's work by its call chain; --perf DIR also keeps the
#      perf.data and top symbols there, and records receive and e2e for
#      every payload whether missed or not;
#   6. prints the table, the targets and, for each missed one, where the
#      CPU goes by phase against the floor's parts or nginx's
#      (bench/report.py), and writes them to bench/RESULTS.md with the
#      date, the commit and the machine.
#
# The servers (each a row per payload):
#   nginx    nginx reading every body (echo_read_request_body): the baseline
#   receive  profcol otlp -> batch -> nop (receive path; the floor's peer)
#   e2e      profcol otlp -> batch -> otlp_http (zstd) -> nginx sink
#   sidecar  config/examples/sidecar.yaml as it is, pointed at the nginx sink
#   gateway  config/examples/gateway.yaml as it is (persistent queue in a
#            temp dir), pointed at the nginx sink
#   workers2 the receive config with service.workers: 2, on the same one
#            CPU: what a second loop costs per CPU-second; with perf, futex
#            calls and context switches per request (receive's too) show
#            whether anything serializes the workers
# Only the listen addresses (free loopback ports) and the backend's address
# are changed, with --set and the configs' own ${env:...}.
#
# Default: about 9 minutes on 2 cores, plus about 6 s per profile (none
# when every CPU target is met, 12 when all are missed). --quick: one run
# of 1 s per cell, the plain payloads only, a 5 s flood, about a minute: a smoke run (its figures
# are not worth quoting). Loopback only; every server is stopped by its PID;
# the temp dir is removed on exit. Not part of `meson test`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

build=build-bench
runs=3
duration=3
warmup=1
flood_secs=60
flood=1
quick=""
perf_dir=""
perf_mode=auto
write_results=1
conns=10

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "run.sh: $(date +%T) $*" >&2; }

while (($#)); do
  case "$1" in
    --quick) quick=1; runs=1; duration=1; flood_secs=5; shift ;;
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --flood-seconds) flood_secs=$2; shift 2 ;;
    --no-flood) flood=""; shift ;;
    --build-dir) build=$2; shift 2 ;;
    --perf) perf_dir=$2; perf_mode=all; shift 2 ;;
    --no-perf) perf_mode=off; shift ;;
    --no-results) write_results=""; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $duration =~ ^[1-9][0-9]*$ && $duration -le 600 ]] || die "--duration must be 1..600 seconds"
[[ $flood_secs =~ ^[1-9][0-9]*$ ]] || die "--flood-seconds must be a positive integer"

cd "$root"
started=$(date +%s)

# ---- tools and build -------------------------------------------------------------------------
scripts/install-deps.sh --bench
for cmd in nginx wrk taskset curl gzip meson ninja python3; do
  command -v "$cmd" >/dev/null || die "$cmd not found (scripts/install-deps.sh --bench)"
done
[[ -f $bl_echo_module ]] || die "$bl_echo_module missing (Debian's nginx-light depends on libnginx-mod-http-echo)"
if [[ $perf_mode == all ]]; then command -v perf >/dev/null || die "--perf needs perf"; fi
# Lock counters for the workers row (futex calls per request): where perf
# may read tracepoints.
have_perf=""
perf stat -e syscalls:sys_enter_futex true >/dev/null 2>&1 && have_perf=1
if [[ ! -f $build/build.ninja ]]; then meson setup "$build" --buildtype=release >&2; fi
buildtype=$(meson configure "$build" 2>/dev/null | awk '$1 == "buildtype" {print $2}')
[[ $buildtype == release ]] || die "$build is a '$buildtype' build; benchmark a release build (--build-dir)"
ninja -C "$build" service/profcol bench/profcol-gen bench/bench_floor bench/startup-time >&2
profcol=$root/$build/service/profcol
gen=$root/$build/bench/profcol-gen
floor=$root/$build/bench/bench_floor
startup=$root/$build/bench/startup-time
# A file written moments ago has dirty pages in the page cache until the
# kernel writes them back (about 30 s), and /proc/PID/smaps counts such a
# page as Private_Dirty in every process that maps it: a binary ninja just
# linked showed 0.8 MiB more idle private dirty memory than the same binary
# a minute later. Write it back now so that the idle figures are the
# process's own.
sync "$profcol"

bl_pin_cpus
((${#bl_cpus[@]} >= 2)) || log "warning: $bl_pin_note"

tmp=$(mktemp -d /tmp/profcol-run-bench.XXXXXX)
raw=$tmp/raw.tsv
: >"$raw"
pids=()
srv_pid=""
cleanup() {
  bl_stop "$srv_pid"
  for p in "${pids[@]}"; do bl_stop "$p"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whether perf may record this user's processes with call graphs (root, or
# kernel.perf_event_paranoid <= 1): the profiles of the missed targets.
perf_note=""
if [[ $perf_mode == off ]]; then
  perf_note="--no-perf"
elif ! command -v perf >/dev/null; then
  perf_note="perf is not installed (linux-perf)"
elif ! perf record -q -F 99 -g -o "$tmp/perf-check.data" -- true >/dev/null 2>&1; then
  perf_note="perf record is not allowed here (kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?'); 1 or root needed)"
  [[ $perf_mode == all ]] && die "--perf: $perf_note"
fi

# rec RUN CASE SERVER KEY VALUE: one raw figure for report.py.
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$raw"; }

# ---- payloads ----------------------------------------------------------------------------------
"$gen" --size 200000 -o "$tmp/dict.pb"
"$gen" --size 200000 --shape samples -o "$tmp/samples.pb"
gzip -c -n -6 "$tmp/dict.pb" >"$tmp/dict.pb.gz"
gzip -c -n -6 "$tmp/samples.pb" >"$tmp/samples.pb.gz"
declare -A c_file c_enc
c_file[dict]=$tmp/dict.pb;           c_enc[dict]=""
c_file[dict-gzip]=$tmp/dict.pb.gz;   c_enc[dict-gzip]=gzip
c_file[samples]=$tmp/samples.pb;     c_enc[samples]=""
c_file[samples-gzip]=$tmp/samples.pb.gz; c_enc[samples-gzip]=gzip
cases=(dict dict-gzip samples samples-gzip)
[[ -n $quick ]] && cases=(dict samples)
# The gzip payloads serve the compute-floor target, which is the receive
# path's: the pipelines that send (e2e, sidecar, gateway) take plain ones.
takes_case() { [[ $2 != *-gzip || $1 == nginx || $1 == receive ]]; }
for c in "${cases[@]}"; do
  rec 0 "$c" - bytes "$(stat -c %s "${c_file[$c]}")"
  n=$("$floor" --time 0.01 --runs 1 "${c_file[$c]}" | sed 's/.* samples=\([0-9]*\).*/\1/')
  rec 0 "$c" - samples "$n"
done
servers=(nginx receive e2e sidecar gateway workers2)

# ---- the sink: an nginx reading every body, on the clients' CPU -----------------------------------
bl_port sink_port
bl_start_nginx "$tmp/sink" "$sink_port" "${bl_cli_pin[@]}" || die "the nginx sink did not start"
pids+=("$bl_pid")

# ---- servers --------------------------------------------------------------------------------------
# profcol_cmd SERVER DIR HTTP_PORT GRPC_PORT METRICS_PORT: sets cmd (array) and
# cmd_env (array of VAR=value) to run that server's config.
profcol_cmd() {
  local s=$1 d=$2 http=$3 grpc=$4 metrics=$5
  mkdir -p "$d"
  local -a set=(--set "receivers.otlp.protocols.http.endpoint=127.0.0.1:$http"
    --set "service.telemetry.metrics.address=127.0.0.1:$metrics"
    --set "service.telemetry.logs.level=warn")
  cmd_env=()
  case $s in
    receive|e2e|workers2)
      local exporter="nop: {}" name=nop workers=1
      [[ $s == workers2 ]] && workers=2
      if [[ $s == e2e ]]; then
        exporter="otlp_http: {endpoint: \"http://127.0.0.1:$sink_port\", compression: zstd}"
        name=otlp_http
      fi
      cat >"$d/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
processors:
  batch: {}
exporters:
  $exporter
service:
  workers: $workers
  pipelines:
    profiles:
      receivers: [otlp]
      processors: [batch]
      exporters: [$name]
EOF
      cmd=("$profcol" --config "$d/config.yaml" "${set[@]}")
      ;;
    sidecar)
      cmd=("$profcol" --config "$root/config/examples/sidecar.yaml" "${set[@]}"
        --set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$grpc")
      cmd_env=("PROFILES_BACKEND=http://127.0.0.1:$sink_port")
      ;;
    gateway)
      mkdir -p "$d/queue"
      cmd=("$profcol" --config "$root/config/examples/gateway.yaml" "${set[@]}"
        --set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$grpc")
      cmd_env=("PYROSCOPE_ENDPOINT=http://127.0.0.1:$sink_port" "PROFCOL_QUEUE_DIR=$d/queue")
      ;;
    *) die "unknown server $s" ;;
  esac
}

# start_server SERVER: pinned to the server CPU; sets srv_pid, srv_port,
# srv_metrics (profcol's /metrics URL, "" for nginx), srv_ports (all listeners).
start_server() {
  local s=$1 d=$tmp/srv-$1
  rm -rf "$d"
  bl_port srv_port
  srv_metrics=""
  srv_ports=("$srv_port")
  if [[ $s == nginx ]]; then
    bl_start_nginx "$d" "$srv_port" "${bl_srv_pin[@]}" || die "nginx did not start"
    srv_pid=$bl_pid
    return
  fi
  local grpc metrics
  bl_port grpc
  bl_port metrics
  profcol_cmd "$s" "$d" "$srv_port" "$grpc" "$metrics"
  [[ $s == sidecar || $s == gateway ]] && srv_ports+=("$grpc")
  env "${cmd_env[@]}" "${bl_srv_pin[@]}" "${cmd[@]}" </dev/null >"$d/profcol.log" 2>&1 &
  srv_pid=$!
  srv_metrics=http://127.0.0.1:$metrics/metrics
  local p
  for p in "${srv_ports[@]}" "$metrics"; do
    bl_wait_port "$srv_pid" "$p" || { cat "$d/profcol.log" >&2; die "$s did not start"; }
  done
}

stop_server() {
  bl_stop "$srv_pid"
  srv_pid=""
}

# ---- start-up time and idle memory --------------------------------------------------------------------
log "start-up and idle memory"
for s in "${servers[@]}"; do
  log "start-up and idle memory: $s"
  d=$tmp/start-$s
  bl_port port
  if [[ $s == nginx ]]; then
    bl_nginx_conf "$d" "$port"
    cmd=(nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log")
    cmd_env=()
    ports=("$port")
  else
    bl_port grpc
    bl_port mport
    profcol_cmd "$s" "$d" "$port" "$grpc" "$mport"
    ports=("$port")
    [[ $s == sidecar || $s == gateway ]] && ports+=("$grpc")
  fi
  portargs=()
  for p in "${ports[@]}"; do portargs+=(--port "$p"); done
  out=$(env "${cmd_env[@]}" "${bl_srv_pin[@]}" "$startup" --runs 5 --log "$d/startup.log" \
    "${portargs[@]}" -- "${cmd[@]}") || { cat "$d/startup.log" >&2 || true; die "start-up of $s failed"; }
  rec 0 - "$s" startup_ms "$(sed 's/.*median_ms=\([0-9.]*\).*/\1/' <<<"$out")"
  rec 0 - "$s" startup_cpu_ms "$(sed 's/.*cpu_ms=\([0-9.]*\).*/\1/' <<<"$out")"
  # idle: a second after it listens
  start_server "$s"
  sleep 1
  read -r rss pss dirty < <(bl_mem "$srv_pid")
  rec 0 - "$s" idle_rss_kb "$rss"
  rec 0 - "$s" idle_pss_kb "$pss"
  rec 0 - "$s" idle_dirty_kb "$dirty"
  if [[ $s == sidecar ]]; then
    "$bl_python" "$here/report.py" smaps "$srv_pid" >"$tmp/libs.txt"
  fi
  stop_server
done

# ---- saturated throughput, latency at half the peak, the floor ---------------------------------------
# half_load RUN CASE SERVER URL DELAY_MS: latency at a steady pace below the
# peak (4 connections, each pausing DELAY_MS before its next request).
half_load() {
  local r=$1 c=$2 s=$3 url=$4 delay=$5 half_secs=$(((duration + 1) / 2))
  bl_wrk "$tmp/half" "$half_secs" "$url" "${c_file[$c]}" "${c_enc[$c]}" 4 "$delay" "${bl_cli_pin[@]}" ||
    die "wrk failed against $s: $(cat "$tmp/half")"
  [[ -z $bl_sockerr ]] || die "$s: $bl_sockerr at half load"
  rec "$r" "$c" "$s" half_refused "$bl_non2xx"
  rec "$r" "$c" "$s" p50_ms "$bl_p50_ms"
  rec "$r" "$c" "$s" p99_ms "$bl_p99_ms"
  rec "$r" "$c" "$s" half_rps "$bl_rps"
}

# measure RUN CASE SERVER
measure() {
  local r=$1 c=$2 s=$3 url t0 t1 s0 s1
  start_server "$s"
  url=http://127.0.0.1:$srv_port/v1development/profiles
  [[ $(bl_post_status "$srv_port" "${c_file[$c]}" "${c_enc[$c]}") == 200 ]] ||
    die "$s did not answer 200 to ${c_file[$c]}"
  bl_wrk "$tmp/warm" "$warmup" "$url" "${c_file[$c]}" "${c_enc[$c]}" "$conns" "" "${bl_cli_pin[@]}" ||
    die "wrk failed against $s: $(cat "$tmp/warm")"
  bl_sample_pss "$srv_pid" "$duration" "$tmp/pss" &
  local sampler=$! pstat=""
  if [[ -n $have_perf && ($s == receive || $s == workers2) ]]; then
    # Whether anything serializes the workers: a lock that is contended
    # shows as futex calls (an uncontended pthread mutex makes none).
    perf stat -x, -e syscalls:sys_enter_futex,context-switches -o "$tmp/pstat" \
      -p "$srv_pid" -- sleep "$duration" >/dev/null 2>&1 &
    pstat=$!
  fi
  t0=$(bl_cpu_ticks "$srv_pid")
  s0=$(date +%s.%N)
  bl_wrk "$tmp/sat" "$duration" "$url" "${c_file[$c]}" "${c_enc[$c]}" "$conns" "" "${bl_cli_pin[@]}" ||
    die "wrk failed against $s: $(cat "$tmp/sat")"
  t1=$(bl_cpu_ticks "$srv_pid")
  s1=$(date +%s.%N)
  wait "$sampler"
  [[ -z $pstat ]] || wait "$pstat" || true
  if [[ -n $bl_sockerr ]]; then
    cat "$tmp/sat" >&2
    die "$s: $bl_sockerr (saturated, case $c)"
  fi
  # Throughput counts what was taken (2xx); a refusal (503 under overload)
  # costs CPU that is charged to the requests that were taken.
  local all ok peak
  all=$(awk '/requests in/ {print $1}' "$tmp/sat")
  ok=$((all - bl_non2xx))
  peak=$(awk -v r="$bl_rps" -v n="$ok" -v a="$all" 'BEGIN {printf "%.1f", a ? r * n / a : 0}')
  rec "$r" "$c" "$s" rps "$peak"
  if [[ -n $pstat && -s $tmp/pstat ]]; then
    local fx cs
    fx=$(awk -F, '$3 ~ /futex/ {print $1}' "$tmp/pstat")
    cs=$(awk -F, '$3 ~ /context-switches/ {print $1}' "$tmp/pstat")
    [[ $fx =~ ^[0-9]+$ ]] && rec "$r" "$c" "$s" futex_per_req "$(awk -v f="$fx" -v a="$all" 'BEGIN {printf "%.4f", a ? f / a : 0}')"
    [[ $cs =~ ^[0-9]+$ ]] && rec "$r" "$c" "$s" cswitch_per_req "$(awk -v f="$cs" -v a="$all" 'BEGIN {printf "%.4f", a ? f / a : 0}')"
  fi
  rec "$r" "$c" "$s" refused_share "$(awk -v n="$bl_non2xx" -v a="$all" 'BEGIN {printf "%.4f", a ? n / a : 0}')"
  rec "$r" "$c" "$s" cpu "$(awk -v t=$((t1 - t0)) -v hz="$bl_hz" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.4f", t / hz / (b - a)}')"
  rec "$r" "$c" "$s" sat_p99_ms "$bl_p99_ms"
  rec "$r" "$c" "$s" hwm_kb "$(bl_hwm "$srv_pid")"
  rec "$r" "$c" "$s" pss_peak_kb "$(cat "$tmp/pss")"
  if [[ $s != nginx ]]; then
    # Half the peak: 4 connections, each pausing before its next request so
    # that 4 / (pause + service time) = peak / 2, i.e. pause = 7 / peak.
    local delay
    delay=$(awk -v p="$peak" 'BEGIN {d = 7000 / p; printf "%d", d < 1 ? 1 : d + 0.5}')
    half_load "$r" "$c" "$s" "$url" "$delay"
    rec "$r" "$c" "$s" half_delay_ms "$delay"
    [[ $s == sidecar ]] && sidecar_delay=$delay
  fi
  stop_server
  printf 'run.sh: run %d %-13s %-8s %9.1f req/s at %s CPUs\n' "$r" "$c" "$s" "$peak" \
    "$(awk -v t=$((t1 - t0)) -v hz="$bl_hz" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.2f", t / hz / (b - a)}')" >&2
}

for ((r = 1; r <= runs; r++)); do
  log "run $r of $runs"
  order=("${servers[@]}")
  if ((r % 2 == 0)); then
    order=()
    for ((i = ${#servers[@]} - 1; i >= 0; i--)); do order+=("${servers[i]}"); done
  fi
  for c in "${cases[@]}"; do
    out=$("${bl_srv_pin[@]}" "$floor" --time "$(awk -v d="$duration" 'BEGIN {print d / 4}')" --runs 1 "${c_file[$c]}")
    for k in inflate_us decode_us merge_us floor_us encode_us; do
      rec "$r" "$c" floor "$k" "$(sed "s/.* $k=\([0-9.]*\).*/\1/" <<<"$out")"
    done
    sidecar_delay=""
    for s in "${order[@]}"; do
      takes_case "$s" "$c" && measure "$r" "$c" "$s"
    done
    # The latency baseline: nginx at the sidecar's half-load pace, on the
    # same machine at the same moment (what the scheduler alone costs).
    if [[ -n $sidecar_delay ]]; then
      start_server nginx
      half_load "$r" "$c" nginx "http://127.0.0.1:$srv_port/v1development/profiles" "$sidecar_delay"
      stop_server
    fi
  done
done

# ---- the flood -----------------------------------------------------------------------------------------
if [[ -n $flood ]]; then
  log "flood: ${flood_secs} s at 64 connections against a 64 MiB memory_limiter"
  d=$tmp/flood
  mkdir -p "$d"
  bl_port sink_http
  bl_port sink_metrics
  cat >"$d/sink.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:$sink_http", max_request_body_size: 256MiB}
exporters:
  nop: {}
service:
  telemetry:
    metrics: {address: "127.0.0.1:$sink_metrics"}
    logs: {level: warn}
  pipelines:
    profiles: {receivers: [otlp], exporters: [nop]}
EOF
  "${bl_cli_pin[@]}" "$profcol" --config "$d/sink.yaml" </dev/null >"$d/sink.log" 2>&1 &
  fsink=$!
  pids+=("$fsink")
  bl_wait_port "$fsink" "$sink_metrics" || { cat "$d/sink.log" >&2; die "flood sink did not start"; }
  bl_port port
  bl_port grpc
  bl_port metrics
  PROFILES_BACKEND=http://127.0.0.1:$sink_http "${bl_srv_pin[@]}" "$profcol" \
    --config "$root/config/examples/sidecar.yaml" \
    --set "receivers.otlp.protocols.http.endpoint=127.0.0.1:$port" \
    --set "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:$grpc" \
    --set "service.telemetry.metrics.address=127.0.0.1:$metrics" \
    --set processors.memory_limiter.limit_mib=64 --set processors.memory_limiter.spike_limit_mib=16 \
    </dev/null >"$d/profcol.log" 2>&1 &
  srv_pid=$!
  bl_wait_port "$srv_pid" "$metrics" || { cat "$d/profcol.log" >&2; die "flooded sidecar did not start"; }
  bl_sample_rss "$srv_pid" "$d/rss_max" &
  rss_sampler=$!
  url=http://127.0.0.1:$port/v1development/profiles
  bl_wrk "$d/wrk" "$flood_secs" "$url" "${c_file[dict]}" "" 64 "" "${bl_cli_pin[@]}" || true
  up=1
  kill -0 "$srv_pid" 2>/dev/null || up=0
  flood_answers=$(awk '/requests in/ {print $1}' "$d/wrk")
  rec 0 flood sidecar up "$up"
  rec 0 flood sidecar answered "${flood_answers:-0}"
  rec 0 flood sidecar answered_rps "${bl_rps:-0}"
  rec 0 flood sidecar non2xx "$bl_non2xx"
  rec 0 flood sidecar seconds "$flood_secs"
  # Everything the flooded sidecar acknowledged must reach the sink: wait
  # for its queue and batch to empty (the batch's timeout is 5 s).
  acc="" got=""
  for _ in $(seq 120); do
    ((up)) || break
    acc=$(bl_metric "http://127.0.0.1:$metrics/metrics" profcol_receiver_accepted_samples)
    got=$(bl_metric "http://127.0.0.1:$sink_metrics/metrics" profcol_receiver_accepted_samples)
    [[ -n $acc && $acc == "$got" ]] && break
    sleep 0.5
  done
  rec 0 flood sidecar acknowledged_samples "${acc:-0}"
  rec 0 flood sidecar delivered_samples "${got:-0}"
  rec 0 flood sidecar failed_samples "$(bl_metric "http://127.0.0.1:$metrics/metrics" otelcol_exporter_send_failed_profiles)"
  rec 0 flood sidecar refused_mem "$(bl_metric "http://127.0.0.1:$metrics/metrics" profcol_processor_memory_limiter_refused_requests)"
  # What the sidecar holds once quiet after the flood (service/quiet.c gives
  # back the burst's spares and malloc's free memory): RSS and private dirty
  # from smaps_rollup once they have not fallen for 3 s (at most 20 s).
  after_rss=0 after_dirty=0 same=0
  for _ in $(seq 40); do
    ((up)) || break
    read -r r pd < <(awk '$1 == "Rss:" {r = $2} $1 == "Private_Dirty:" {p = $2} END {print r + 0, p + 0}' \
      "/proc/$srv_pid/smaps_rollup" 2>/dev/null || echo "0 0")
    if ((r < after_rss || after_rss == 0)); then after_rss=$r after_dirty=$pd same=0
    elif ((++same >= 6)); then break
    fi
    sleep 0.5
  done
  rec 0 flood sidecar rss_after_kb "$after_rss"
  rec 0 flood sidecar dirty_after_kb "$after_dirty"
  stop_server
  wait "$rss_sampler" 2>/dev/null || true
  rec 0 flood sidecar rss_max_kb "$(cat "$d/rss_max" 2>/dev/null || echo 0)"
  bl_stop "$fsink"
fi

# ---- profiles of the missed targets ----------------------------------------------------------------
# After every figure is taken, so perf touches none of them. Each server
# runs as it did when measured (saturated; the sidecar at its half-load
# pace); its CPU per request under that load is kept too (perf_cpu_us).
pdir=$tmp/phases
mkdir -p "$pdir"
prof_started=$(date +%s)
if [[ -z $perf_note ]]; then
  [[ -n $perf_dir ]] && mkdir -p "$perf_dir"
  # 2 s at 999 Hz is about 2,000 samples of a busy server, enough for a
  # share to +-1 point; --perf DIR records for --duration.
  pflags=() psecs=$((duration < 2 ? duration : 2))
  [[ $perf_mode == all ]] && pflags=(--all) psecs=$duration
  mapfile -t wanted < <("$bl_python" "$here/report.py" profiles "$raw" "${pflags[@]}")
  ((${#wanted[@]})) && log "perf: ${#wanted[@]} profiles (${wanted[*]})"
  for w in "${wanted[@]}"; do
    read -r s c mode <<<"$w"
    data=$tmp/perf-$s-$c.data
    [[ -n $perf_dir ]] && data=$perf_dir/perf-$s-$c.data
    start_server "$s"
    url=http://127.0.0.1:$srv_port/v1development/profiles
    pconns=$conns pdelay=""
    if [[ $mode == half ]]; then
      pconns=4
      pdelay=$(awk -F'\t' -v c="$c" -v s="$s" '$2 == c && $3 == s && $4 == "half_delay_ms" {v = $5} END {print v}' "$raw")
      [[ -n $pdelay ]] || pdelay=1
    fi
    # wrk runs from a second before the recording (the warm-up) until it
    # ends, then is stopped (SIGINT: it prints its figures): perf, which
    # may take seconds to attach on a busy machine, records under load
    # throughout.
    t0=$(bl_cpu_ticks "$srv_pid")
    bl_wrk "$tmp/sat" "$((psecs + 60))" "$url" "${c_file[$c]}" "${c_enc[$c]}" "$pconns" "$pdelay" "${bl_cli_pin[@]}" &
    wrk_sub=$!
    sleep 1
    "${bl_cli_pin[@]}" perf record -q -F 999 --call-graph dwarf,8192 -o "$data" \
      -p "$(bl_tree "$srv_pid" | tr ' ' ',')" -- sleep "$psecs" >/dev/null 2>&1 || true
    wrk_pid=$(pgrep -P "$wrk_sub" -x wrk || true)
    [[ -z $wrk_pid ]] || kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_sub" || true
    t1=$(bl_cpu_ticks "$srv_pid")
    stop_server
    all=$(awk '/requests in/ {print $1}' "$tmp/sat")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$tmp/sat")
    ok=$((${all:-0} - ${non2xx:-0}))
    ((ok > 0)) && rec 0 "$c" "$s" perf_cpu_us "$(awk -v t=$((t1 - t0)) -v hz="$bl_hz" -v n="$ok" 'BEGIN {printf "%.1f", t / hz / n * 1e6}')"
    # the call chains into phases (bench/report.py, PHASE_RULES)
    "${bl_cli_pin[@]}" perf script -F comm,tid,period,ip,sym,dso -i "$data" 2>/dev/null |
      "$bl_python" "$here/report.py" phases --server "$s" --case "$c" --out "$pdir/phases-$s-$c.json" ||
      log "perf: no phases for $s $c"
    if [[ -n $perf_dir ]]; then
      cp "$pdir/phases-$s-$c.json" "$perf_dir/" 2>/dev/null || true
      perf report -i "$data" --stdio --no-children --sort dso,symbol -g none \
        --percent-limit 0.5 2>/dev/null | grep -v '^$' >"$perf_dir/perf-$s-$c.txt" || true
      log "perf: $perf_dir/perf-$s-$c.txt"
    else
      rm -f "$data"
    fi
  done
fi

# ---- the table ----------------------------------------------------------------------------------------
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$root" diff --quiet HEAD 2>/dev/null || commit="$commit+dirty"
meta=(--date "$(date -u +%Y-%m-%dT%H:%MZ)" --commit "$commit"
  --machine "$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  --tools "$(nginx -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}'), $($profcol --version 2>/dev/null | head -1)"
  --setup "runs $runs, wrk -t1 -c$conns -d${duration}s after ${warmup} s; $bl_pin_note; took $(($(date +%s) - started)) s, of which $(($(date +%s) - prof_started)) s the profiles"
  --libs "$tmp/libs.txt" --phases "$pdir" --perf-note "$perf_note")
[[ -n $quick ]] && meta+=(--quick)
"$bl_python" "$here/report.py" table "$raw" "${meta[@]}" >"$tmp/table.md"
cat "$tmp/table.md"
if [[ -n $write_results ]]; then
  cp "$tmp/table.md" "$here/RESULTS.md"
  log "wrote bench/RESULTS.md"
fi
