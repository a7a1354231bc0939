#!/usr/bin/env bash
# http_bench.sh - OTLP/HTTP and OTLP/gRPC receive throughput of profcol against nginx, same run.
#
# The baseline is an nginx (Debian's nginx-light) that reads each whole POST
# body into memory and answers 200, doing nothing with the bytes. profcol runs
# otlp receiver -> batch -> nop, so it decompresses, decodes, validates and
# merges them. Both are driven by wrk with the same payload file, connections,
# threads and duration, one server at a time, each server pinned to one core
# and wrk to another. In the same run, profcol's gRPC receiver (same pipeline)
# is driven by h2load (nghttp2-client) POSTing the payload as one gRPC message
# (5-byte prefix + protobuf) to ProfilesService/Export, one stream per
# connection at a time as wrk does; its rows count only calls that got HTTP 200
# and, per profcol's own counters, grpc-status OK. Quote the ratios profcol/nginx, above all the one per
# CPU-second each server used: the machines are shared, absolute numbers move
# with load, and on two cores nginx is often wrk-bound (bench/README.md).
#
#   bench/http_bench.sh [--runs N] [--duration S] [--connections N] [--threads N]
#                       [--cases 10k,200k,200k-gzip] [--no-grpc] [--build-dir DIR] [--perf DIR]
#
# Loopback only; every wrk run is bounded by --duration (default 10 s). Not
# part of `meson test`. Each server is started for one measurement and stopped
# by its PID afterwards; the temp dir is removed on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
build="build-bench"
duration=10
warmup=2
conns=10
threads=1
runs=3
cases_arg="10k,200k,200k-gzip"
perf_dir=""
grpc=1

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
  cat <<EOF
Options:
  --runs N          measurements per server and payload; the median is reported (default $runs)
  --duration S      seconds per measured wrk run (default $duration), after a ${warmup} s warm-up
  --connections N   wrk connections (default $conns, as a Collector's otlphttp num_consumers)
  --threads N       wrk threads (default $threads)
  --cases LIST      any of 10k, 200k, 200k-gzip (default $cases_arg)
  --no-grpc         skip the gRPC measurements (h2load)
  --build-dir DIR   release build to use or create (default $build)
  --perf DIR        afterwards, perf record -g profcol during one run per case; data and
                    reports go to DIR
EOF
}

die() { echo "http_bench: $*" >&2; exit 1; }
log() { echo "http_bench: $*" >&2; }

while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --cases) cases_arg=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --perf) perf_dir=$2; shift 2 ;;
    --no-grpc) grpc=""; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $duration =~ ^[1-9][0-9]*$ && $duration -le 600 ]] || die "--duration must be 1..600 seconds"
[[ $conns =~ ^[1-9][0-9]*$ && $threads =~ ^[1-9][0-9]*$ ]] || die "bad --connections/--threads"
((conns >= threads)) || die "wrk needs at least one connection per thread"

cd "$root"

# ---- tools and build ------------------------------------------------------------------------
scripts/install-deps.sh --bench
for cmd in nginx wrk h2load taskset curl gzip meson ninja python3; do
  command -v "$cmd" >/dev/null || die "$cmd not found (scripts/install-deps.sh --bench)"
done
[[ -f $bl_echo_module ]] || die "$bl_echo_module missing (Debian's nginx-light depends on libnginx-mod-http-echo)"
if [[ -n $perf_dir ]]; then command -v perf >/dev/null || die "--perf needs perf"; fi

if [[ ! -d $build ]]; then
  meson setup "$build" --buildtype=release >&2
fi
buildtype=$(meson configure "$build" 2>/dev/null | awk '$1 == "buildtype" {print $2}')
[[ $buildtype == release ]] || die "$build is a '$buildtype' build; benchmark a release build (--build-dir)"
ninja -C "$build" service/profcol bench/profcol-gen >&2
profcol=$root/$build/service/profcol
gen=$root/$build/bench/profcol-gen
lua=$here/http_bench_post.lua

# Server on one core, wrk on another, when the process may use two.
bl_pin_cpus
srv_pin=("${bl_srv_pin[@]}")
cli_pin=("${bl_cli_pin[@]}")
pin_note=${bl_pin_note/clients/wrk}
((${#bl_cpus[@]} >= 2)) || log "warning: $pin_note"

# ---- temp dir, servers, cleanup ----------------------------------------------------------------
tmp=$(mktemp -d /tmp/profcol-http-bench.XXXXXX)
srv_pid=""
srv_name=""
srv_port=""

stop_server() {
  if [[ -n $srv_pid ]]; then
    kill -TERM "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
    srv_pid=""
  fi
}
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  stop_server
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait until $srv_pid accepts on $srv_port, or fail if it exited.
wait_listening() { bl_wait_port "$srv_pid" "$srv_port"; }

# nginx: the baseline of lib.sh (bl_nginx_conf), serving only the profiles
# path, one worker reading every whole body into memory.
start_nginx() {
  local d=$tmp/nginx
  for _ in $(seq 20); do
    srv_port=$((20000 + RANDOM % 40000))
    bl_port_in_use "$srv_port" && continue
    rm -rf "$d"
    bl_nginx_conf "$d" "$srv_port" "= /v1development/profiles"
    "${srv_pin[@]}" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" </dev/null >"$d/stdout.log" 2>&1 &
    srv_pid=$!
    srv_name=nginx
    if wait_listening; then return 0; fi
    stop_server # most likely the port was taken meanwhile: try another
  done
  cat "$d/error.log" >&2 || true
  die "nginx did not start"
}

# start_profcol [grpc]: the otlp receiver with only the http protocol and no
# self-telemetry, or with only grpc and the Prometheus endpoint (its counters
# tell whether every call was answered grpc-status OK; see check_grpc_counters).
start_profcol() {
  local mode=${1:-http} d=$tmp/profcol
  rm -rf "$d"
  mkdir -p "$d"
  local proto="      http:" telemetry="      level: none"
  if [[ $mode == grpc ]]; then
    proto="      grpc:"
    telemetry="      address: 127.0.0.1:0"
  fi
  cat >"$d/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
$proto
        endpoint: 127.0.0.1:0
processors:
  batch: {}
exporters:
  nop: {}
service:
  telemetry:
    metrics:
$telemetry
  pipelines:
    profiles:
      receivers: [otlp]
      processors: [batch]
      exporters: [nop]
EOF
  : >"$d/profcol.log"
  "${srv_pin[@]}" "$profcol" --config "$d/config.yaml" </dev/null >>"$d/profcol.log" 2>&1 &
  srv_pid=$!
  srv_name=profcol
  [[ $mode == grpc ]] && srv_name="profcol-grpc"
  srv_port=""
  metrics_url=""
  local what=HTTP
  [[ $mode == grpc ]] && what=gRPC
  for _ in $(seq 100); do
    kill -0 "$srv_pid" 2>/dev/null || break
    if grep -q 'everything is ready' "$d/profcol.log"; then
      srv_port=$(sed -n "s/.*listening for OTLP\/$what on .* (port \([0-9]*\)).*/\1/p" "$d/profcol.log" | head -1)
      # The log shows the configured address (port 0) and the bound port.
      metrics_url=$(sed -n 's/.*serving Prometheus metrics at http:\/\/[^/]*\(\/[^ ]*\) (port \([0-9]*\)).*/http:\/\/127.0.0.1:\2\1/p' \
        "$d/profcol.log" | head -1)
      [[ $mode == grpc && -z $metrics_url ]] && srv_port=""
      break
    fi
    sleep 0.05
  done
  if [[ -z $srv_port ]] || ! wait_listening; then
    cat "$d/profcol.log" >&2
    die "profcol did not start"
  fi
}

# The server must answer only once the whole body is in (lib.sh).
check_reads_body() { bl_check_reads_body "$srv_port" "$1" "$srv_name" || die "$srv_name does not read whole bodies"; }

# The exact status for one request of this case must be 200.
check_status() {
  local file=$1 enc=$2 code
  local -a hdr=(-H 'Content-Type: application/x-protobuf')
  [[ -n $enc ]] && hdr+=(-H "Content-Encoding: $enc")
  code=$(curl -sS -o "$tmp/answer" -w '%{http_code}' --max-time 10 -X POST "${hdr[@]}" \
    --data-binary "@$file" "http://127.0.0.1:$srv_port/v1development/profiles") || code=000
  [[ $code == 200 ]] || die "$srv_name answered $code (not 200) to $file: $(head -c 300 "$tmp/answer" 2>/dev/null)"
}

# CPU ticks used so far by the server and its children (the nginx worker).
cpu_ticks() { bl_cpu_ticks "$srv_pid"; }

# One wrk run against the current server. Sets w_rps, w_cli_cpu; dies on any
# non-2xx answer or socket error.
run_wrk() {
  local secs=$1 file=$2 enc=$3 out
  out=$({
    TIMEFORMAT=%P
    time env HB_BODY="$file" HB_ENCODING="$enc" "${cli_pin[@]}" wrk -t"$threads" -c"$conns" \
      -d"${secs}s" --timeout 10s -s "$lua" "http://127.0.0.1:$srv_port/v1development/profiles"
  } 2>&1) || die "wrk failed against $srv_name: $out"
  w_rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  w_cli_cpu=$(tail -n 1 <<<"$out")
  local non2xx sockerr
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  sockerr=$(grep 'Socket errors:' <<<"$out" || true)
  if [[ -n $non2xx || -n $sockerr || -z $w_rps ]]; then
    echo "$out" >&2
    die "$srv_name: ${non2xx:-0} non-2xx answers; ${sockerr:-no socket errors}"
  fi
}

# ---- gRPC: h2load and profcol's counters -------------------------------------------------------
grpc_path=/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export

# frame_grpc IN OUT [z]: IN as one gRPC message (flag byte 1 when z: IN is
# already gzip-compressed, sent with grpc-encoding: gzip).
frame_grpc() {
  python3 -c 'import struct, sys
body = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(struct.pack(">BI", int(sys.argv[3]), len(body)) + body)' \
    "$1" "$2" "${3:-0}"
}

# profcol's grpc-transport counter NAME from its Prometheus endpoint (read
# whole first: awk stopping early would fail curl with a broken pipe).
grpc_counter() {
  curl -sS --max-time 10 -o "$tmp/metrics.txt" "$metrics_url" || die "cannot read $metrics_url"
  awk -v n="$1" '$1 ~ "^" n "[{]" && $1 ~ /transport="grpc"/ && !v {v = $2} END {print v}' \
    "$tmp/metrics.txt"
}

# One call with curl over h2c: HTTP 200 and grpc-status 0 in the trailers.
check_grpc_status() {
  local file=$1 enc=$2 out
  local -a hdr=(-H 'content-type: application/grpc' -H 'te: trailers')
  [[ -n $enc ]] && hdr+=(-H "grpc-encoding: $enc")
  out=$(curl -sS --http2-prior-knowledge --max-time 10 -o /dev/null -D - "${hdr[@]}" \
    --data-binary "@$file" "http://127.0.0.1:$srv_port$grpc_path" 2>&1 | tr -d '\r') || true
  if ! grep -q '^HTTP/2 200' <<<"$out" || ! grep -q '^grpc-status: 0$' <<<"$out"; then
    die "$srv_name did not answer HTTP 200 + grpc-status 0 to $file: $out"
  fi
}

# One h2load run against profcol's gRPC port. Sets w_rps, w_cli_cpu, w_done;
# dies unless every finished call got HTTP 200.
run_h2load() {
  local secs=$1 file=$2 enc=$3 out
  local -a hdr=(-H 'content-type: application/grpc' -H 'te: trailers')
  [[ -n $enc ]] && hdr+=(-H "grpc-encoding: $enc")
  out=$({
    TIMEFORMAT=%P
    time "${cli_pin[@]}" h2load -c"$conns" -t"$threads" -m1 -D"$secs" -d "$file" "${hdr[@]}" \
      "http://127.0.0.1:$srv_port$grpc_path"
  } 2>&1) || die "h2load failed against $srv_name: $out"
  w_rps=$(awk '/^finished in/ {print $4}' <<<"$out")
  w_cli_cpu=$(tail -n 1 <<<"$out")
  local ndone ok bad
  ndone=$(awk '/^requests:/ {print $8}' <<<"$out")
  ok=$(awk '/^status codes:/ {print $3}' <<<"$out")
  bad=$(awk '/^requests:/ {print $12 + $14 + $16}' <<<"$out")
  if [[ -z $w_rps || -z $ndone || $ndone -eq 0 || $ok != "$ndone" || $bad != 0 ]]; then
    echo "$out" >&2
    die "$srv_name: $ndone calls done, ${ok:-?} with HTTP 200 (2xx), ${bad:-?} failed/errored/timed out"
  fi
  w_done=$ndone
}

# grpc-status is in the trailers, which h2load does not report: profcol's
# counters must show every call it answered as OK (none failed), at least as
# many as h2load finished (it may stop with calls in flight), and profiles
# pushed into the pipeline.
check_grpc_counters() {
  local want=$1 calls failed accepted
  calls=$(grpc_counter profcol_receiver_requests)
  failed=$(grpc_counter profcol_receiver_failed_requests)
  accepted=$(grpc_counter otelcol_receiver_accepted_profiles)
  awk -v c="${calls:-0}" -v f="${failed:-x}" -v a="${accepted:-0}" -v w="$want" \
    'BEGIN {exit !(f == 0 && c >= w && a > 0)}' ||
    die "$srv_name counters: $calls calls, $failed not OK, $accepted profiles accepted; h2load finished $want"
}

# ---- payloads ------------------------------------------------------------------------------------
"$gen" --size 10000 -o "$tmp/p10k.pb"
"$gen" --size 200000 -o "$tmp/p200k.pb"
gzip -c -n -6 "$tmp/p200k.pb" >"$tmp/p200k.pb.gz"
frame_grpc "$tmp/p10k.pb" "$tmp/p10k.grpc"
frame_grpc "$tmp/p200k.pb" "$tmp/p200k.grpc"
frame_grpc "$tmp/p200k.pb.gz" "$tmp/p200k.gz.grpc" 1

declare -A c_label c_file c_enc c_target c_metric
declare -A c_gfile
c_gfile[10k]=$tmp/p10k.grpc; c_gfile[200k]=$tmp/p200k.grpc; c_gfile[200k-gzip]=$tmp/p200k.gz.grpc
c_label[10k]="10 KB";        c_file[10k]=$tmp/p10k.pb;         c_enc[10k]="";     c_target[10k]=0.30;        c_metric[10k]="req/s"
c_label[200k]="200 KB";      c_file[200k]=$tmp/p200k.pb;       c_enc[200k]="";    c_target[200k]=0.15;       c_metric[200k]="MB/s"
c_label[200k-gzip]="200 KB gzip"; c_file[200k-gzip]=$tmp/p200k.pb.gz; c_enc[200k-gzip]=gzip; c_target[200k-gzip]=0.15; c_metric[200k-gzip]="MB/s"
IFS=',' read -r -a cases <<<"$cases_arg"
for c in "${cases[@]}"; do [[ -n ${c_file[$c]:-} ]] || die "unknown case '$c' (10k, 200k, 200k-gzip)"; done

# ---- measure -------------------------------------------------------------------------------------
start_server() {
  case $1 in
    nginx) start_nginx ;;
    profcol) start_profcol ;;
    profcol-grpc) start_profcol grpc ;;
  esac
}
servers=(nginx profcol)
[[ -n $grpc ]] && servers+=(profcol-grpc)

declare -A rps scpu ccpu checked
echo "# http_bench $(date -u +%Y-%m-%dT%H:%M:%SZ), profcol $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo '+dirty'), $(nginx -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')"
echo "# $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg); $pin_note"
echo "# wrk -t$threads -c$conns -d${duration}s after a ${warmup} s warm-up; $runs runs per server and payload"
[[ -n $grpc ]] && echo "# gRPC: $(h2load --version | head -1) -t$threads -c$conns -m1 -D$duration after a ${warmup} s warm-up, path $grpc_path"
for c in "${cases[@]}"; do
  for ((r = 1; r <= runs; r++)); do
    order=("${servers[@]}")
    if ((r % 2 == 0)); then # alternate, so a load drift hits all
      order=()
      for ((i = ${#servers[@]} - 1; i >= 0; i--)); do order+=("${servers[i]}"); done
    fi
    for s in "${order[@]}"; do
      start_server "$s"
      if [[ $s == profcol-grpc ]]; then
        check_grpc_status "${c_gfile[$c]}" "${c_enc[$c]}"
        run_h2load "$warmup" "${c_gfile[$c]}" "${c_enc[$c]}"
        n_calls=$((1 + w_done))
        t0=$(cpu_ticks)
        s0=$(date +%s.%N)
        run_h2load "$duration" "${c_gfile[$c]}" "${c_enc[$c]}"
        t1=$(cpu_ticks)
        s1=$(date +%s.%N)
        check_grpc_counters $((n_calls + w_done))
      else
        if [[ -z ${checked[$s]:-} ]]; then
          check_reads_body "$tmp/p200k.pb"
          checked[$s]=1
        fi
        check_status "${c_file[$c]}" "${c_enc[$c]}"
        run_wrk "$warmup" "${c_file[$c]}" "${c_enc[$c]}"
        t0=$(cpu_ticks)
        s0=$(date +%s.%N)
        run_wrk "$duration" "${c_file[$c]}" "${c_enc[$c]}"
        t1=$(cpu_ticks)
        s1=$(date +%s.%N)
      fi
      rps[$c,$s,$r]=$w_rps
      ccpu[$c,$s,$r]=$w_cli_cpu
      scpu[$c,$s,$r]=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v a="$s0" -v b="$s1" \
        'BEGIN {printf "%.0f", 100 * t / hz / (b - a)}')
      stop_server
      printf '# %-11s run %d %-12s %10.1f req/s  server CPU %3s%%  client CPU %5s%%\n' \
        "${c_label[$c]}" "$r" "$s" "$w_rps" "${scpu[$c,$s,$r]}" "${ccpu[$c,$s,$r]}"
    done
  done
done

median() { bl_median; }

echo
echo "Medians of $runs runs; MB = 10^6 bytes of request bodies as sent (the gzip case counts compressed"
echo "bytes); ratio = median over runs of profcol/nginx from adjacent runs (same for req/s and MB/s);"
echo "/CPU = the same ratio per CPU-second each server used (CPU% = of one core, during the run):"
echo "trust it over the plain ratio when a server shows well under 100% (wrk-bound or starved by load)."
printf '%-12s %7s | %9s %8s %5s | %9s %8s %5s | %6s %6s | %s\n' payload "body B" "nginx/s" "MB/s" "CPU%" \
  "profcol/s" "MB/s" "CPU%" ratio "/CPU" "target: ratio, /CPU"
for c in "${cases[@]}"; do
  bytes=$(stat -c %s "${c_file[$c]}")
  declare -A med=() cpu=()
  for s in nginx profcol; do
    vals="" cv=""
    for ((r = 1; r <= runs; r++)); do vals+=" ${rps[$c,$s,$r]}"; cv+=" ${scpu[$c,$s,$r]}"; done
    med[$s]=$(median <<<"$vals")
    cpu[$s]=$(median <<<"$cv")
  done
  ratios=""
  for ((r = 1; r <= runs; r++)); do
    ratios+=" $(awk -v a="${rps[$c,profcol,$r]}" -v b="${rps[$c,nginx,$r]}" 'BEGIN {printf "%.4f", a / b}')"
  done
  ratio=$(median <<<"$ratios")
  # The same per CPU-second each server got: fairer when the baseline is not
  # saturated (wrk-bound on two cores) or the core is shared with other load.
  ratios=""
  for ((r = 1; r <= runs; r++)); do
    ratios+=" $(awk -v a="${rps[$c,profcol,$r]}" -v ca="${scpu[$c,profcol,$r]}" -v b="${rps[$c,nginx,$r]}" \
      -v cb="${scpu[$c,nginx,$r]}" 'BEGIN {printf "%.4f", (ca > 0 && cb > 0) ? (a / ca) / (b / cb) : 0}')"
  done
  ratio_cpu=$(median <<<"$ratios")
  verdict=$(awk -v r="$ratio" -v rc="$ratio_cpu" -v t="${c_target[$c]}" 'BEGIN {
    printf "%s, /CPU %s", (r >= t) ? "met" : "MISSED", (rc >= t) ? "met" : "MISSED" }')
  awk -v l="${c_label[$c]}" -v n="$bytes" -v a="${med[nginx]}" -v b="${med[profcol]}" -v ca="${cpu[nginx]}" \
    -v cb="${cpu[profcol]}" -v r="$ratio" -v rc="$ratio_cpu" -v t="${c_target[$c]}" -v m="${c_metric[$c]}" \
    -v v="$verdict" 'BEGIN {printf "%-12s %7d | %9.0f %8.1f %5s | %9.0f %8.1f %5s | %6.3f %6.3f | %s\n", l, n,
      a, a * n / 1e6, ca, b, b * n / 1e6, cb, r, rc, ">= " t " " m ": " v}'
done
if [[ -n $grpc ]]; then
  echo
  echo "OTLP/gRPC (h2load, one message per call, gRPC framing adds 5 B), same runs; ratios are medians"
  echo "over runs of profcol-grpc/profcol (HTTP) and profcol-grpc/nginx from the same run, /CPU per CPU-second:"
  printf '%-12s %7s | %9s %8s %5s | %7s %6s | %7s %6s\n' payload "body B" "grpc/s" "MB/s" "CPU%" \
    "/http" "/CPU" "/nginx" "/CPU"
  for c in "${cases[@]}"; do
    bytes=$(stat -c %s "${c_file[$c]}")
    vals="" cv="" rh="" rhc="" rn="" rnc=""
    for ((r = 1; r <= runs; r++)); do
      vals+=" ${rps[$c,profcol-grpc,$r]}"
      cv+=" ${scpu[$c,profcol-grpc,$r]}"
      for base in profcol nginx; do
        q=$(awk -v a="${rps[$c,profcol-grpc,$r]}" -v ca="${scpu[$c,profcol-grpc,$r]}" \
          -v b="${rps[$c,$base,$r]}" -v cb="${scpu[$c,$base,$r]}" \
          'BEGIN {printf "%.4f %.4f", a / b, (ca > 0 && cb > 0) ? (a / ca) / (b / cb) : 0}')
        if [[ $base == profcol ]]; then rh+=" ${q% *}"; rhc+=" ${q#* }"; else rn+=" ${q% *}"; rnc+=" ${q#* }"; fi
      done
    done
    awk -v l="${c_label[$c]}" -v n="$bytes" -v g="$(median <<<"$vals")" -v cg="$(median <<<"$cv")" \
      -v a="$(median <<<"$rh")" -v b="$(median <<<"$rhc")" -v d="$(median <<<"$rn")" -v e="$(median <<<"$rnc")" \
      'BEGIN {printf "%-12s %7d | %9.0f %8.1f %5s | %7.3f %6.3f | %7.3f %6.3f\n", l, n, g, g * n / 1e6, cg, a, b, d, e}'
  done
fi
if [[ " ${cases[*]} " == *" 200k-gzip "* ]]; then
  echo "(200 KB gzip: the body inflates to $(stat -c %s "$tmp/p200k.pb") bytes; the ratio is per request either way.)"
fi

# ---- optional profile ------------------------------------------------------------------------------
# perf record -g with DWARF unwinding: a release build keeps no frame pointers,
# so frame-pointer chains would break at the first profcol frame. Stages are
# the inclusive share of samples under each stage's entry function (they nest
# in the loop, so the shares do not add up to 100%).
perf_stages() {
  local data=$1
  perf report -i "$data" --stdio --children --sort symbol -g none 2>/dev/null | awk '
    BEGIN {
      n = split("llhttp__internal__run|HTTP parse (llhttp)" \
        ";ksys_read|socket reads (kernel)" \
        ";do_writev,ksys_write|answer writes (kernel)" \
        ";do_epoll_wait,do_epoll_ctl|epoll (kernel)" \
        ";pc_decompress|decompression (pc_decompress, zlib/zstd)" \
        ";pc_proto_decode,pc_proto_decode.part.0|decode + validate (pc_proto_decode)" \
        ";check_dictionary|  of which validate dictionary (check_dictionary)" \
        ";batch_consume_profiles|batch merge (batch_consume_profiles)" \
        ";merge_guarded|  of which merge_guarded (pdata/intern.c)" \
        ";asm_exc_page_fault|page faults (first touch of fresh memory)", st, ";")
      for (i = 1; i <= n; i++) { split(st[i], kv, "|"); names[i] = kv[2]; syms[i] = kv[1] }
    }
    /^ *[0-9.]+% +[0-9.]+% +\[/ {
      c = $1; sub(/%/, "", c); sym = $4
      for (i = 1; i <= n; i++) {
        m = split(syms[i], list, ",")
        for (j = 1; j <= m; j++) if (sym == list[j]) { v = c + 0; if (!(i in got) || v > got[i]) got[i] = v }
      }
    }
    END { for (i = 1; i <= n; i++) printf "  %6.1f%%  %s\n", (i in got) ? got[i] : 0, names[i] }'
  perf report -i "$data" --stdio --no-children --sort dso -g none 2>/dev/null |
    awk '/^ *[0-9.]+%/ {printf "  %6s   self time in %s\n", $1, $2}' | head -n 6
}

if [[ -n $perf_dir ]]; then
  mkdir -p "$perf_dir"
  for c in "${cases[@]}"; do
    start_profcol
    run_wrk "$warmup" "${c_file[$c]}" "${c_enc[$c]}"
    "${cli_pin[@]}" perf record -q -F 999 --call-graph dwarf,8192 -o "$perf_dir/perf-$c.data" \
      -p "$srv_pid" -- sleep "$duration" >/dev/null 2>"$perf_dir/perf-$c.record.log" &
    perf_pid=$!
    run_wrk "$duration" "${c_file[$c]}" "${c_enc[$c]}"
    wait "$perf_pid" || die "perf record failed: $(cat "$perf_dir/perf-$c.record.log")"
    stop_server
    perf report -i "$perf_dir/perf-$c.data" --stdio --no-children --sort dso,symbol -g none \
      --percent-limit 0.3 2>/dev/null | grep -v '^$' >"$perf_dir/perf-$c.txt" || true
    perf_stages "$perf_dir/perf-$c.data" >"$perf_dir/perf-$c.stages.txt"
    echo
    echo "perf, ${c_label[$c]}: $w_rps req/s while recorded; profcol samples under each stage:"
    cat "$perf_dir/perf-$c.stages.txt"
    echo "  top self time (dso, symbol); all in $perf_dir/perf-$c.txt:"
    grep -v '^#' "$perf_dir/perf-$c.txt" | head -n 15 | sed 's/ *$//'
  done
fi
exit 0
