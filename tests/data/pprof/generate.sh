#!/bin/sh
# generate.sh - record the real pprof fixtures cpu.pb.gz and heap.pb.gz from
# workload.go with Debian's Go toolchain (apt-get install golang-go; these
# were made with go1.19.8 linux/amd64). The tests never run this: they read
# the committed files, so Go is not needed to test. Run it from anywhere:
#   tests/data/pprof/generate.sh
# -trimpath keeps the build machine's paths out of the profiles (files read
# "workload/workload.go"); -B gives the binary a fixed GNU build id, which
# runtime/pprof copies into the main mapping's build_id.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/workload.go" "$work/"
printf 'module workload\n\ngo 1.19\n' >"$work/go.mod"
(cd "$work" && go build -trimpath -ldflags=-B=0x5a1d7ec0ffee2026 -o workload . &&
  ./workload -cpu cpu.pb.gz -heap heap.pb.gz -for 3s)
cp "$work/cpu.pb.gz" "$work/heap.pb.gz" "$here/"
