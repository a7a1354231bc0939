#!/bin/sh
# nanopb-gen.sh GENERATOR PROTO_ROOT OUTDIR PROTO... - run the nanopb
# generator and put every .pb.c/.pb.h flat into OUTDIR (meson wants outputs in
# one folder; the file names are unique).
set -eu
gen=$1
root=$(realpath "$2")
out=$(realpath "$3")
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$@"; do
  rel=$(realpath "$f")
  rel=${rel#"$root"/}
  (cd "$root" && "$gen" -q -I . -D "$tmp" "$rel")
done
# Flatten the includes between generated files to match the flat layout.
find "$tmp" -name '*.pb.[ch]' | while read -r f; do
  sed -E 's|^#include "([^"]*/)?([^/"]+\.pb\.h)"|#include "\2"|' "$f" >"$out/$(basename "$f")"
done
