#!/bin/sh
# attacks.sh - issue 14's attacks on memory against two profcol binaries in
# one run: the peak RSS and the answers before and after (bench_attacks.c
# says what each attack sends).
#
#   bench/attacks.sh BASELINE_BIN BIN [MEMORY]
#
# BASELINE_BIN runs with its defaults; BIN runs twice, with its defaults
# and with service.max_request_memory: MEMORY (default 512MiB). The prefix
# attack runs under an 8 GiB address-space limit (RLIMIT_AS), as the issue
# reproduced it. Needs a build with tests (bench_attacks reuses their
# clients), e.g. build-bench:
#   meson setup build-bench --buildtype=release && ninja -C build-bench
#   bench/attacks.sh /path/to/main/profcol build-bench/service/profcol
set -u
base=$1
bin=$2
mem=${3:-512MiB}
here=$(dirname "$0")
tool=${BENCH_ATTACKS:-$here/../build-bench/bench/bench_attacks}
as=$((8 << 30))
for attack in expansion expansion4 window prefix reset; do
  extra=""
  [ "$attack" = prefix ] && extra="--as $as"
  echo "== $attack"
  printf 'baseline:    '; PROFCOL_BIN=$base "$tool" $attack $extra
  printf 'new default: '; PROFCOL_BIN=$bin "$tool" $attack $extra
  printf 'new %s: ' "$mem"; PROFCOL_BIN=$bin "$tool" $attack $extra --memory "$mem"
done
