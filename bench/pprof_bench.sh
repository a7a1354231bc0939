#!/usr/bin/env bash
# pprof_bench.sh - the pprof receiver (remote mode) against an nginx that
# serves pprof files as Go's /debug/pprof handlers would: memory with 1,000
# scrape targets, and pprof bytes converted per CPU-second in the receiver
# against decoding the same bytes alone (bench_pprof), in the same run.
#
#   memory:     resident set of profcol (pprof -> nop) with 1 target and
#               with 1,000 targets configured, idle (initial_delay 1h: the
#               targets exist, nothing was scraped yet), then while the
#               1,000 are scraped every 10 s (spread over the interval, so
#               about 100 scrapes a second): mean and peak RSS over the run.
#               Done with the Go heap profile (2.2 KB as served, gzip'd) and
#               with the workload's profile (73 KB gzip'd, 190 KB inflated).
#   throughput: TARGETS targets scraped every 100 ms (far more than the
#               receiver keeps up with on 2 shared cores: it runs flat out,
#               the surplus skipped), over WINDOW seconds after a warm-up:
#               gzip'd pprof bytes the receiver took (its
#               profcol_receiver_pprof_bytes counter) per CPU-second of
#               profcol (all its threads: libcurl, inflate, decode, convert,
#               the thread pool); against bench_pprof's "gzip decode" of the
#               same bytes (inflate + pc_pprof_decode, one thread), measured
#               in the same run. ratio = receiver / decode alone; beside it
#               bench_pprof's "gzip convert" (inflate + decode + convert,
#               one thread, no HTTP) over the same decode.
#
#   bench/pprof_bench.sh [--window S] [--targets N] [--only memory|throughput] [BUILD_DIR]
#                                                  (BUILD_DIR default: build-bench)
#
# BUILD_DIR should be a release build (meson setup build-bench
# --buildtype=release). Loopback only; not part of `meson test`. Each
# server is stopped by its PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
window=10
targets=100
only=
while (($#)); do
  case "$1" in
    --window) window=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
build=${1:-$here/../build-bench}
profcol=$build/service/profcol
bench_pprof=$build/bench/bench_pprof
[[ -x $profcol && -x $bench_pprof ]] || { echo "pprof_bench: no profcol or bench_pprof in $build" >&2; exit 2; }
tmp=$(mktemp -d /tmp/profcol-pprof-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

mkdir -p "$tmp/files"
"$bench_pprof" --write "$tmp/files" >/dev/null

# nginx: /t/N/F serves files/F for any N, so every target has a URL of its own.
ng_port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 100000000; default_type application/octet-stream;
  server {
    listen 127.0.0.1:$ng_port;
    location ~ ^/t/[0-9]+/(?<f>[0-9]+\.pb\.gz)\$ { alias $tmp/files/\$f; }
  }
}
NGX
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" </dev/null >"$tmp/nginx/out.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$ng_port") 2>/dev/null && break; sleep 0.05; done

# run_profcol NAME N FILE INTERVAL DELAY [EXTRA_YAML]: start profcol with N
# targets of files/FILE; sets pc_pid and pc_mport.
run_profcol() {
  local name=$1 n=$2 file=$3 interval=$4 delay=$5 extra=${6:-}
  local cfg=$tmp/$name.yaml
  {
    echo "receivers:"
    echo "  pprof:"
    echo "    remote:"
    echo "      paths: [/$file]"
    echo "      collection_interval: $interval"
    echo "      initial_delay: $delay"
    [[ -n $extra ]] && echo "$extra"
    echo "      endpoints:"
    for i in $(seq 1 "$n"); do echo "        - http://127.0.0.1:$ng_port/t/$i"; done
    echo "exporters:"
    echo "  nop:"
    echo "service:"
    echo "  telemetry:"
    echo "    metrics:"
    echo "      address: 127.0.0.1:0"
    echo "  pipelines:"
    echo "    profiles:"
    echo "      receivers: [pprof]"
    echo "      exporters: [nop]"
  } >"$cfg"
  "$profcol" --config "$cfg" >"$tmp/$name.log" 2>&1 &
  pc_pid=$!
  pids+=("$pc_pid")
  for _ in $(seq 300); do grep -q "everything is ready" "$tmp/$name.log" && break; sleep 0.05; done
  grep -q "everything is ready" "$tmp/$name.log" || { cat "$tmp/$name.log" >&2; exit 1; }
  pc_mport=$(sed -n 's/.*service:telemetry.*(port \([0-9]*\)).*/\1/p' "$tmp/$name.log" | head -1)
}

stop_profcol() { kill -TERM "$pc_pid"; wait "$pc_pid" 2>/dev/null || true; }

metric() { # $1 series prefix; sums every series that starts with it
  curl -s "http://127.0.0.1:$pc_mport/metrics" | awk -v k="$1" 'index($0, k) == 1 {s += $NF} END {print s + 0}'
}

if [[ $only != throughput ]]; then
echo "== memory (KB of resident set)"
printf '%-26s %9s %10s %10s %12s %9s\n' "" "1 target" "1000 idle" "per target" "scraping avg" "peak"
for f in 1 2; do
  label=$([[ $f == 1 ]] && echo "Go heap (2.2 KB gz)" || echo "workload (73 KB gz)")
  run_profcol one 1 "$f.pb.gz" 10s 1h
  sleep 1
  one=$(rss_kb "$pc_pid")
  stop_profcol
  run_profcol idle 1000 "$f.pb.gz" 10s 1h
  sleep 1
  idle=$(rss_kb "$pc_pid")
  stop_profcol
  run_profcol busy 1000 "$f.pb.gz" 10s 0s
  sum=0 cnt=0 start=$(date +%s.%N)
  while (($(echo "$(date +%s.%N) - $start < 25" | bc -l))); do # two and a half intervals
    sleep 0.25
    r=$(rss_kb "$pc_pid"); sum=$((sum + r)); cnt=$((cnt + 1))
  done
  secs=$(echo "$(date +%s.%N) - $start" | bc -l)
  peak=$(hwm_kb "$pc_pid")
  scraped=$(metric 'profcol_receiver_pprof_attempts{')
  failed=$(metric 'profcol_receiver_pprof_failures{')
  skipped=$(metric 'profcol_receiver_pprof_skipped_scrapes{')
  stop_profcol
  printf '%-26s %9d %10d %10.2f %12d %9d   (%.0f scrapes/s, %d failed, %d skipped)\n' "$label" \
    "$one" "$idle" "$(echo "($idle - $one) / 999" | bc -l)" $((sum / cnt)) "$peak" \
    "$(echo "$scraped / $secs" | bc -l)" "$failed" "$skipped"
done

echo
fi

[[ $only == memory ]] && exit 0
echo "== throughput: gzip'd pprof bytes per CPU-second ($targets targets every 100 ms, ${window} s)"
"$bench_pprof" --time 0.5 --runs 3 >"$tmp/bench_pprof.txt"
printf '%-22s %14s %12s %13s %8s %15s %10s %14s\n' "payload" "receiver MB/s" "decode MB/s" "convert MB/s" "ratio" "convert/decode" \
  "scrapes/s" "CPU us/scrape"
for f in 0 1 2; do
  case $f in 0) label="Go CPU (1.5 KB gz)" ;; 1) label="Go heap (2.2 KB gz)" ;; 2) label="workload (73 KB gz)" ;; esac
  # bench_pprof prints payloads in file order; take the f-th "gzip decode" row.
  dec=$(awk -v want=$((f + 1)) '/^  gzip +decode/ {n++; if (n == want) print $3}' "$tmp/bench_pprof.txt")
  conv=$(awk -v want=$((f + 1)) '/^  gzip +convert / {n++; if (n == want) print $3}' "$tmp/bench_pprof.txt")
  run_profcol tp "$targets" "$f.pb.gz" 100ms 0s "      max_concurrent_scrapes: 64"
  sleep 2 # warm-up
  b0=$(metric 'profcol_receiver_pprof_bytes{'); a0=$(metric 'profcol_receiver_pprof_attempts{'); t0=$(ticks "$pc_pid")
  w0=$(date +%s.%N)
  sleep "$window"
  b1=$(metric 'profcol_receiver_pprof_bytes{'); a1=$(metric 'profcol_receiver_pprof_attempts{'); t1=$(ticks "$pc_pid")
  w1=$(date +%s.%N)
  stop_profcol
  cpu=$(echo "($t1 - $t0) / $hz" | bc -l)
  rx=$(echo "($b1 - $b0) / $cpu / 1000000" | bc -l)
  printf '%-22s %14.1f %12.1f %13.1f %8.3f %15.3f %10.0f %14.0f\n' "$label" "$rx" "$dec" "$conv" \
    "$(echo "$rx / $dec" | bc -l)" "$(echo "$conv / $dec" | bc -l)" \
    "$(echo "($a1 - $a0) / ($w1 - $w0)" | bc -l)" "$(echo "$cpu * 1000000 / ($a1 - $a0)" | bc -l)"
done
