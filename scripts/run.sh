#!/usr/bin/env bash
# run.sh - build profcol (release: -O2, LTO) and run it. With no arguments it
# uses the built-in default config: OTLP/gRPC on localhost:4317 and OTLP/HTTP
# on localhost:4318 into the debug exporter. Arguments are passed to profcol
# (e.g. --config my.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [[ ! -f build/build.ninja ]]; then
  meson setup build --buildtype=release >/dev/null
fi
# The build's own output is hidden: say when the first one, which takes a
# few minutes on a small machine, is to be waited for.
if [[ ! -x build/service/profcol ]]; then
  echo "run.sh: building profcol in build/ (release; the first build takes a few minutes)" >&2
fi
# Only the binary and the workload generator the README's quick start sends
# with: building every test suite and benchmark too (LTO) took a fresh clone's
# first run over 20 minutes on a loaded 2-core machine. meson
# test -C build builds the rest when it is wanted.
ninja -C build service/profcol bench/profcol-gen >/dev/null
exec build/service/profcol "$@"
