#!/usr/bin/env bash
# test.sh - build profcol and run every test, twice: a normal build and one
# with AddressSanitizer + UndefinedBehaviorSanitizer. Installs missing
# Debian packages first. Exit status 0 only if everything passed.
#
#   scripts/test.sh            both builds, then the Debian package
#   PC_TEST_SANITIZE=0 scripts/test.sh   skip the sanitizer build
#   PC_TEST_PACKAGE=0 scripts/test.sh    skip the package (scripts/test-package.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

# A suite's meson timeout guards against a hang, not speed: the sanitizer
# build runs the same tests two to three times slower, so it gets twice
# the time (timeout_multiplier).
run_suite() { # build_dir timeout_multiplier [meson setup args...]
  local dir=$1 mult=$2
  shift 2
  if [[ ! -f "$dir/build.ninja" ]]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
  local rc=0
  meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier "$mult" || rc=$?
  # Sum Check's per-suite lines ("100%: Checks: 17, Failures: 0, Errors: 0").
  awk '/Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
         gsub(/,/, ""); for (i = 1; i <= NF; i++) {
           if ($i == "Checks:") c += $(i + 1);
           if ($i == "Failures:" || $i == "Errors:") f += $(i + 1) } }
       END { printf "%s: %d checks, %d failed\n", dir, c, f }' dir="$dir" \
    "$dir/meson-logs/testlog.txt" >&2
  return $rc
}

status=0
run_suite build-test 1 || status=1
if [[ "${PC_TEST_SANITIZE:-1}" != 0 ]]; then
  run_suite build-asan 2 -Db_sanitize=address,undefined -Db_lundef=false || status=1
fi

# The Debian package: built, installed, run as its unit, removed and purged.
# It needs root (or sudo without a password) and says so when it skips.
pkg_passed=0 pkg_failed=0
if [[ "${PC_TEST_PACKAGE:-1}" != 0 ]]; then
  pkg_out=$(mktemp)
  pkg_rc=0
  scripts/test-package.sh | tee "$pkg_out" || pkg_rc=$?
  read -r c f < <(sed -n 's/^package: \([0-9]*\) checks, \([0-9]*\) failed$/\1 \2/p' "$pkg_out"; echo 0 0)
  rm -f "$pkg_out"
  pkg_passed=$((c - f)) pkg_failed=$f
  if ((pkg_rc != 0)); then
    status=1
    ((pkg_failed > 0)) || pkg_failed=1
  fi
else
  echo "test.sh: PC_TEST_PACKAGE=0: the Debian package test is skipped" >&2
fi

# One closing line that CI reads: totals over both builds and the package.
passed=$pkg_passed failed=$pkg_failed
for d in build-test build-asan; do
  [[ -f "$d/meson-logs/testlog.txt" ]] || continue
  read -r c f < <(awk '/Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
      gsub(/,/, ""); for (i = 1; i <= NF; i++) {
        if ($i == "Checks:") c += $(i + 1);
        if ($i == "Failures:" || $i == "Errors:") f += $(i + 1) } }
      END { print c + 0, f + 0 }' "$d/meson-logs/testlog.txt")
  passed=$((passed + c - f))
  failed=$((failed + f))
done
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi # a suite crashed or timed out
echo "$passed passed, $failed failed"
exit $status
