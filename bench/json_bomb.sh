#!/bin/sh
# json_bomb.sh - what issue 14's OTLP-JSON bomb costs a profcol binary: a
# few KB of zstd that inflate to 64 MiB of {"x":[{},{},...]}, posted N
# times to an otlp receiver with the default limits. Prints per request the
# answer, wall time, the process's CPU seconds, its peak RSS over its RSS
# before (VmHWM after resetting it through /proc/PID/clear_refs) and its RSS
# after.
#
# With SIGNAL traces, the bomb goes to /v1/traces beside 16 spans of 16
# traces, into a traces pipeline whose load_balancing exporter (two static
# backends, routing by trace id) must cut the request by trace: what the
# cut costs on top of the decode (issue 15's traces path).
#
# usage: bench/json_bomb.sh PROFCOL_BINARY [REQUESTS (4)] [INFLATED_MIB (64)] [SIGNAL (profiles)]
# e.g.   bench/json_bomb.sh build-bench/service/profcol 4 64 traces
set -eu
bin=$1
requests=${2:-4}
mib=${3:-64}
signal=${4:-profiles}
dir=$(mktemp -d /tmp/profcol-json-bomb-XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

python3 -c "
import sys
n = $mib * 2**20 - 64
head = b'{'
if '$signal' == 'traces':
    spans = b','.join(b'{\"traceId\":\"%032x\",\"spanId\":\"%016x\",\"name\":\"s\"}'
                      % (t * 0x1000193 + 1, t + 1) for t in range(16))
    head += b'\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[' + spans + b']}]}],'
body = head + b'\"x\":[' + b'{},' * ((n - 8 - len(head)) // 3)
sys.stdout.buffer.write(body[:-1] + b']}')" | zstd -q -o "$dir/bomb.json.zst"
echo "body: $(stat -c %s "$dir/bomb.json.zst") B of zstd, $mib MiB inflated, to $signal"

cat >"$dir/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
EOF
if [ "$signal" = traces ]; then
  path=/v1/traces
  cat >>"$dir/config.yaml" <<EOF
exporters:
  load_balancing:
    routing_key: traceID
    protocol:
      otlp_http:
        retry_on_failure: {enabled: false}
    resolver:
      static: {hostnames: [127.0.0.1:9, 127.0.0.1:10]}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [load_balancing]}
EOF
else
  path=/v1development/profiles
  cat >>"$dir/config.yaml" <<EOF
exporters:
  nop:
service:
  pipelines:
    profiles: {receivers: [otlp], exporters: [nop]}
EOF
fi
"$bin" --config "$dir/config.yaml" >"$dir/log" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening for OTLP\/HTTP on .*(port \([0-9]*\)).*/\1/p' "$dir/log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$dir/log"; exit 1; }

kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$pid/status"; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' \
          "/proc/$pid/stat"; }
i=1
while [ "$i" -le "$requests" ]; do
  rm -f "$dir/answer"
  echo 5 >"/proc/$pid/clear_refs"
  before=$(kb VmRSS)
  cpu0=$(cpu)
  answer=$(curl -sS -o "$dir/answer" -w '%{http_code} %{time_total}' --max-time 600 \
    -H 'Content-Type: application/json' -H 'Content-Encoding: zstd' \
    --data-binary @"$dir/bomb.json.zst" "http://127.0.0.1:$port$path" \
    2>/dev/null) || true # 000: no answer within 600 s
  cpu1=$(cpu)
  kill -0 "$pid" 2>/dev/null || { echo "request $i: profcol died"; tail -5 "$dir/log"; exit 1; }
  echo "request $i: HTTP ${answer% *} after ${answer#* } s, CPU $(awk "BEGIN { print $cpu1 - $cpu0 }") s," \
    "peak RSS +$(( ($(kb VmHWM) - before) / 1024 )) MiB, after +$(( ($(kb VmRSS) - before) / 1024 )) MiB:" \
    "$(head -c 160 "$dir/answer" 2>/dev/null)"
  i=$((i + 1))
done
