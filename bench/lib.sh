# lib.sh - what the loopback benchmarks share (sourced by http_bench.sh,
# pipeline_bench.sh and run.sh): pinning to cores, free ports, the nginx that
# reads every body (the baseline and the sink), wrk runs, CPU and memory of a
# process tree, medians. Bash only; every function documents what it sets.
#
# The nginx baseline: one worker; echo_read_request_body (ngx_http_echo_module,
# which Debian's nginx-light ships) reads the whole body before the content
# handler answers, and client_body_buffer_size keeps it in one memory buffer
# (nginx allocates only Content-Length bytes of it). A bare `return 200` would
# answer at the rewrite phase, before the body arrived, and then discard the
# body unread into a small buffer: bl_check_reads_body tells the two apart.

bl_echo_module=/usr/lib/nginx/modules/ngx_http_echo_module.so
bl_hz=$(getconf CLK_TCK)

# bl_pin_cpus: the server on the first CPU this process may use, clients on
# the second. Sets bl_srv_pin, bl_cli_pin (arrays, empty when there is one
# CPU), bl_cpus (the list) and bl_pin_note.
bl_pin_cpus() {
  bl_cpus=()
  local part c
  for part in $(taskset -pc $$ | sed 's/.*: //' | tr ',' ' '); do
    if [[ $part == *-* ]]; then
      for ((c = ${part%-*}; c <= ${part#*-}; c++)); do bl_cpus+=("$c"); done
    else
      bl_cpus+=("$part")
    fi
  done
  if ((${#bl_cpus[@]} >= 2)); then
    bl_srv_pin=(taskset -c "${bl_cpus[0]}")
    bl_cli_pin=(taskset -c "${bl_cpus[1]}")
    bl_pin_note="server on CPU ${bl_cpus[0]}, clients on CPU ${bl_cpus[1]}"
  else
    bl_srv_pin=()
    bl_cli_pin=()
    bl_pin_note="one CPU only: server and clients share it (no pinning)"
  fi
}

bl_port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nothing listens on now (the kernel's pick, so two scripts running at
# once do not collide as random picks might).
bl_python=$(command -v /usr/bin/python3 || command -v python3) # not a pyenv shim: 0.3 s a call
# bl_port VAR: set VAR to a port nothing listens on now. Ports come from a
# pool the kernel picked 64 at a time (bound all at once, so distinct), which
# saves a Python start per port on a busy machine; call it directly, not in
# $(...), or the pool is refilled every time.
bl_port_pool=()
bl_port() {
  local _bl_p=""
  while [[ -z $_bl_p ]]; do
    if ((${#bl_port_pool[@]} == 0)); then
      # shellcheck disable=SC2207
      bl_port_pool=($("$bl_python" -c 'import socket
ss = [socket.socket() for _ in range(64)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))'))
    fi
    _bl_p=${bl_port_pool[0]}
    bl_port_pool=("${bl_port_pool[@]:1}")
    if bl_port_in_use "$_bl_p"; then _bl_p=""; fi
  done
  printf -v "$1" '%s' "$_bl_p"
}
bl_free_port() {
  local p
  bl_port p
  echo "$p"
}

# bl_wait_port PID PORT: until PORT accepts (10 s), or fail if PID exited.
bl_wait_port() {
  local _
  for _ in $(seq 200); do
    kill -0 "$1" 2>/dev/null || return 1
    bl_port_in_use "$2" && return 0
    sleep 0.05
  done
  return 1
}

# bl_nginx_conf DIR PORT [LOCATION]: nginx.conf in DIR for an nginx that
# reads every body POSTed to LOCATION (default: every path) on PORT.
bl_nginx_conf() {
  local d=$1 port=$2 loc=${3:-/}
  mkdir -p "$d"
  cat >"$d/nginx.conf" <<EOF
load_module $bl_echo_module;
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$port;
    location $loc {
      client_max_body_size 128m;
      client_body_buffer_size 128m;
      client_body_in_file_only off;
      echo_read_request_body;
      echo_status 200;
    }
  }
}
EOF
}

# bl_start_nginx DIR PORT PIN...: start nginx (pinned by the command words
# after PORT, e.g. "${bl_srv_pin[@]}") on PORT. Sets bl_pid; fails with the
# error log if it does not listen.
bl_start_nginx() {
  local d=$1 port=$2
  shift 2
  rm -rf "$d"
  bl_nginx_conf "$d" "$port"
  "$@" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" </dev/null >"$d/stdout.log" 2>&1 &
  bl_pid=$!
  if ! bl_wait_port "$bl_pid" "$port"; then
    cat "$d/error.log" >&2 || true
    return 1
  fi
}

# bl_stop PID: SIGTERM and wait (profcol drains, nginx stops its worker).
bl_stop() {
  [[ -n ${1:-} ]] || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# PID and its children (nginx's worker).
bl_tree() { echo "$1" $(pgrep -P "$1" || true); }

# CPU ticks used so far by PID and its children.
bl_cpu_ticks() {
  local total=0 p t
  for p in $(bl_tree "$1"); do
    t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

# bl_mem PID: "rss_kb pss_kb private_dirty_kb" summed over PID and its
# children (/proc/PID/smaps_rollup; RSS counts shared pages once per process).
bl_mem() {
  local p
  for p in $(bl_tree "$1"); do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
    awk '$1 == "Rss:" {r += $2} $1 == "Pss:" {p += $2} $1 == "Private_Dirty:" {d += $2}
         END {printf "%d %d %d\n", r, p, d}'
}

# bl_hwm PID: peak RSS (VmHWM, kB) summed over PID and its children.
bl_hwm() {
  local p
  for p in $(bl_tree "$1"); do awk '$1 == "VmHWM:" {print $2}' "/proc/$p/status" 2>/dev/null; done |
    awk '{s += $1} END {print s + 0}'
}

# bl_sample_pss PID SECONDS OUT: write the largest PSS (kB) of PID's tree seen
# every 0.2 s for SECONDS into OUT (run it in the background beside a load).
bl_sample_pss() {
  local pid=$1 secs=$2 out=$3 max=0 m end
  end=$(($(date +%s%N) + secs * 1000000000))
  while (($(date +%s%N) < end)) && kill -0 "$pid" 2>/dev/null; do
    m=$(bl_mem "$pid" | awk '{print $2}')
    ((m > max)) && max=$m
    sleep 0.2
  done
  echo "$max" >"$out"
}

# bl_sample_rss PID OUT: the largest RSS (kB, VmRSS) of PID seen every 0.1 s,
# written to OUT each time it grows, until PID ends (run it in the background
# beside a flood, kill it when done).
bl_sample_rss() {
  local pid=$1 out=$2 max=0 m
  while kill -0 "$pid" 2>/dev/null; do
    m=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    ((m > max)) && max=$m && echo "$max" >"$out"
    sleep 0.1
  done
}

# bl_wrk OUT SECONDS URL BODY ENC CONNS [DELAY_MS] [PIN...]: one wrk run with
# --latency, output in OUT. Sets bl_rps (answered per second, all statuses),
# bl_non2xx (count), bl_sockerr ("" or wrk's line), bl_p50_ms, bl_p99_ms.
bl_wrk_lua=$(dirname "${BASH_SOURCE[0]}")/http_bench_post.lua
bl_wrk() {
  local out=$1 secs=$2 url=$3 body=$4 enc=$5 conns=$6 delay=${7:-}
  shift 7 2>/dev/null || shift $#
  HB_BODY=$body HB_ENCODING=$enc HB_DELAY_MS=$delay "$@" wrk -t1 -c"$conns" -d"${secs}s" \
    --timeout 10s --latency -s "$bl_wrk_lua" "$url" >"$out" 2>&1 || return 1
  bl_rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  bl_non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  bl_non2xx=${bl_non2xx:-0}
  bl_sockerr=$(grep 'Socket errors:' "$out" || true)
  bl_p50_ms=$(bl_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  bl_p99_ms=$(bl_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  [[ -n $bl_rps ]]
}

# wrk's "1.23ms" / "456.00us" / "1.02s" in milliseconds.
bl_ms() {
  awk -v v="$1" 'BEGIN { if (v == "") print "nan"; else if (v ~ /us$/) printf "%.3f", v / 1000;
    else if (v ~ /ms$/) printf "%.3f", v + 0; else if (v ~ /m$/) printf "%.3f", v * 60000;
    else printf "%.3f", v * 1000 }'
}

# The median of the numbers on stdin (one per line or space separated).
bl_median() {
  tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "nan"; exit } m = int((NR + 1) / 2)
    if (NR % 2) print v[m]; else print (v[m] + v[m + 1]) / 2 }'
}

# bl_check_reads_body PORT FILE NAME: the server answers only once the whole
# body is in: send all but the last byte, expect silence for a second, then
# the last byte, expect 200.
bl_check_reads_body() {
  local port=$1 file=$2 name=$3 n line
  n=$(stat -c %s "$file")
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'POST /v1development/profiles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\n' "$n" >&3
  head -c $((n - 1)) "$file" >&3
  if IFS= read -r -t 1 line <&3; then
    exec 3>&-
    echo "$name answered before the body was complete: $line" >&2
    return 1
  fi
  tail -c 1 "$file" >&3
  if ! IFS= read -r -t 10 line <&3; then
    exec 3>&-
    echo "$name did not answer after the whole body" >&2
    return 1
  fi
  exec 3>&-
  [[ $line == "HTTP/1.1 200 "* ]] || { echo "$name answered '$line' to a complete body" >&2; return 1; }
}

# bl_post_status PORT FILE ENC: the HTTP status of one POST of FILE.
bl_post_status() {
  local -a hdr=(-H 'Content-Type: application/x-protobuf')
  [[ -n $3 ]] && hdr+=(-H "Content-Encoding: $3")
  curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST "${hdr[@]}" \
    --data-binary "@$2" "http://127.0.0.1:$1/v1development/profiles" || echo 000
}

# bl_metric URL NAME: the first sample of Prometheus series NAME (any labels)
# on profcol's /metrics, summed over its label sets.
bl_metric() {
  curl -sS --max-time 10 "$1" 2>/dev/null |
    awk -v n="$2" '($1 == n || index($1, n "{") == 1) {s += $2; f = 1} END {if (f) print s; else print ""}'
}
