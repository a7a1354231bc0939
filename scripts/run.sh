#!/usr/bin/env bash
# run.sh - build profcol (release: -O2, LTO) and run it. With no arguments it
# uses the built-in default config: OTLP/HTTP on localhost:4318 into the debug
# exporter. Arguments are passed to profcol (e.g. --config my.yaml).
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
ninja -C build >/dev/null
exec build/service/profcol "$@"
