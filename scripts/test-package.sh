#!/usr/bin/env bash
# test-package.sh - the Debian package, end to end: build it from this tree
# (a copy of the tracked and new files, as a clean clone would have them),
# install it, run the installed profcol as its systemd unit would, check it
# answers, then remove and purge it and look for anything left behind.
#
#   scripts/test-package.sh        (root, or sudo without a password)
#
# Running it: under systemd (PID 1) the package's own start is checked with
# systemctl. Without systemd (CI machines, containers) the unit's ExecStart
# line is run as its User= with its sandbox rebuilt by hand: a private mount
# namespace where / is read-only but the StateDirectory (ProtectSystem=strict),
# fresh /tmp and /var/tmp (PrivateTmp), empty /home and /root (ProtectHome),
# no_new_privs (NoNewPrivileges), the unit's Environment= and STATE_DIRECTORY.
# There the binary is traced (strace) through start, OTLP/gRPC and OTLP/HTTP
# requests, a reload (the unit's ExecReload lines), the persistent queue of
# the config's commented-out backend block, and a drain; every system call
# it made must be in the unit's SystemCallFilter set and no mapping may be
# writable and executable (MemoryDenyWriteExecute).
#
# Removal: after `dpkg -r` the binary and unit are gone, the conffile and the
# state stay; after `dpkg -P` nothing named profcol is left on the system
# (compared with a scan made before the install), except the profcol system
# user and group, which Debian keeps on purge (see debian/profcol.postrm).
# The test then deletes that user itself when it created it.
#
# Needs ports 4317, 4318, 8888 and 13133 on 127.0.0.1 free, and no profcol
# package installed. Prints "package: N checks, M failed"; exit 0 only if
# all passed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "test-package: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n "$0" "$@"
  fi
  log "SKIPPED: installing and purging a package needs root (or sudo without a password)"
  exit 0
fi

passed=0 failed=0
check() { # description command...: one check, counted
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    log "ok: $what"
  else
    failed=$((failed + 1))
    log "FAIL: $what"
  fi
}
finish() { # the closing line, and the exit status
  echo "package: $((passed + failed)) checks, $failed failed"
  exit $((failed == 0 ? 0 : 1))
}

# ---- preconditions ----------------------------------------------------------------------------
ports=(4317 4318 8888 13133)
status_of() { dpkg-query -W -f='${Status}' profcol 2>/dev/null || true; }
if [[ -n "$(status_of)" && "$(status_of)" != "unknown ok not-installed" ]]; then
  log "a profcol package is on this machine already ($(status_of)); this test installs and purges"
  log "its own: remove it first with: dpkg -P profcol"
  failed=1
  finish
fi
for p in "${ports[@]}"; do
  if [[ -n "$(ss -Htln "sport = :$p")" ]]; then
    log "port $p is in use (the packaged config listens on it): $(ss -Htlnp "sport = :$p" | sed -n 1p)"
    failed=1
  fi
done
((failed == 0)) || finish

work=$(mktemp -d /tmp/profcol-pkg.XXXXXX)
user_existed=0
getent passwd profcol >/dev/null && user_existed=1
group_existed=0
getent group profcol >/dev/null && group_existed=1
dirs_existed=0
[[ -e /etc/profcol || -e /var/lib/profcol ]] && dirs_existed=1
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f /etc/profcol/profcol-test-queue.yaml
  local st
  st=$(status_of)
  if [[ -n "$st" && "$st" != "unknown ok not-installed" ]]; then
    log "cleanup: purging the test's profcol package"
    dpkg -P profcol >/dev/null 2>&1 || true
  fi
  if ((!user_existed)) && getent passwd profcol >/dev/null; then deluser --system --quiet profcol >/dev/null 2>&1 || true; fi
  if ((!group_existed)) && getent group profcol >/dev/null; then delgroup --system --quiet profcol >/dev/null 2>&1 || true; fi
  # What a purge that failed its check left (reported above), so the next
  # run starts clean.
  if ((!dirs_existed)); then rm -rf /etc/profcol /var/lib/profcol; fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- build ------------------------------------------------------------------------------------
mkdir -p "$work/src"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$root" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
     [[ -e $f || -L $f ]] && printf '%s\0' "$f"
   done | xargs -0 cp -P --parents -t "$work/src")
  # The flame graph page's npm packages are ignored by git but embedded by
  # the build (install-deps.sh installed them).
  if [[ -d "$root/ui/node_modules" ]]; then cp -a "$root/ui/node_modules" "$work/src/ui/"; fi
else
  tar -C "$root" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$work/src" -xf -
fi
log "building the package (dpkg-buildpackage -us -uc -b, nocheck) in $work/src"
build_rc=0
(cd "$work/src" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" nice dpkg-buildpackage -us -uc -b) \
  >"$work/build.log" 2>&1 || build_rc=$?
if ((build_rc != 0)); then
  tail -40 "$work/build.log" >&2
fi
check "dpkg-buildpackage -us -uc -b builds from a clean tree" test "$build_rc" -eq 0
version=$(sed -n "s/^ *version: '\([^']*\)'.*/\1/p" "$root/meson.build" | sed -n 1p)
deb="$work/profcol_${version}_$(dpkg --print-architecture).deb"
check "it made $(basename "$deb") (debian/changelog's version is meson's $version)" test -f "$deb"
if [[ ! -f $deb ]]; then finish; fi

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/profcol ./etc/profcol/config.yaml ./usr/share/man/man1/profcol.1.gz \
         ./usr/share/doc/profcol/copyright ./usr/share/doc/profcol/changelog.gz; do
  check "the package holds $f" grep -qx "$f" <<<"$contents"
done
check "the package holds the systemd unit" grep -qE '^\./(usr/)?lib/systemd/system/profcol\.service$' <<<"$contents"
mkdir "$work/control"
dpkg-deb -e "$deb" "$work/control"
check "/etc/profcol/config.yaml is a conffile" grep -qx /etc/profcol/config.yaml "$work/control/conffiles"
# Dependencies: each library the binary names (NEEDED) through
# ${shlibs:Depends}, and libcurl and OpenSSL, which profcol loads with dlopen
# at their first use (component/curl_dl.c, httpd/openssl_dl.c) and
# dpkg-shlibdeps cannot see, by hand in debian/control.
dpkg-deb -x "$deb" "$work/unpacked"
depends=$(sed -n 's/^Depends: //p' "$work/control/control")
needed=$(objdump -p "$work/unpacked/usr/bin/profcol" | awk '$1 == "NEEDED" {print $2}')
check "profcol does not link libcurl (it loads it at its first send)" \
  test -z "$(grep '^libcurl' <<<"$needed")"
check "profcol does not link OpenSSL (it loads it at its first use)" \
  test -z "$(grep -E '^lib(ssl|crypto)' <<<"$needed")"
check "the package depends on libcurl4 ($depends)" grep -qE '(^|, )libcurl4( |,|$)' <<<"$depends"
check "the package depends on libssl3" grep -qE '(^|, )libssl3( |,|$)' <<<"$depends"
# (awk reads to the end rather than exit at the first match: an early exit
# can kill ldconfig with SIGPIPE, which pipefail and set -e turn into this
# script ending mid-way without a word; seen once in CI.)
for lib in $needed; do
  path=$(ldconfig -p | awk -v l="$lib" '!p && $1 == l && /x86-64|x86_64/ {p = $NF} END {print p}')
  [[ -n $path ]] || path=$(ldconfig -p | awk -v l="$lib" '!p && $1 == l {p = $NF} END {print p}')
  # the file the link names, in the link's directory (dpkg knows /lib/... on a
  # merged /usr, where readlink -f would say /usr/lib/...)
  real="$(dirname "$path")/$(basename "$(readlink -f "$path")")"
  pkg=$({ dpkg -S "$real" || dpkg -S "/usr$real"; } 2>/dev/null | awk -F: 'NR == 1 {print $1}')
  check "the package depends on $pkg, which has $lib" grep -qE "(^|, )$pkg( |,|\$)" <<<"$depends"
done
if command -v lintian >/dev/null 2>&1; then
  lint_rc=0
  lintian --fail-on error,warning "$deb" >"$work/lintian.log" 2>&1 || lint_rc=$?
  grep -v '^running with root' "$work/lintian.log" >&2 || true
  check "lintian finds no error or warning" test "$lint_rc" -eq 0
else
  log "lintian not installed (scripts/install-deps.sh installs it): not run"
fi

# ---- install ----------------------------------------------------------------------------------
scan() { # every path named *profcol* where a package may put or leave one
  # (not man-db's cache of formatted pages, which `systemd-analyze verify`
  # fills while it checks Documentation=man:profcol(1); man-db's cron expires it)
  local prune=(-path /var/tmp -o -path "$work" -o -path "$root" -o -path /var/cache/apt/archives
               -o -path /var/cache/man)
  find /etc /usr /var /opt /srv -xdev \( "${prune[@]}" \) -prune -o -name '*profcol*' -print 2>/dev/null | sort
}
scan >"$work/before.txt"
install_rc=0
dpkg -i "$deb" >"$work/install.log" 2>&1 || install_rc=$?
((install_rc == 0)) || cat "$work/install.log" >&2
check "dpkg -i installs it" test "$install_rc" -eq 0
check "dpkg says it is installed" test "$(status_of)" = "install ok installed"
if [[ "$(status_of)" != "install ok installed" ]]; then finish; fi

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd profcol) || true
check "postinst made the system user profcol (uid $uid below 1000, nologin)" \
  test -n "$uid" -a "${uid:-1000}" -lt 1000 -a "$shell" = /usr/sbin/nologin -a "$home" = /var/lib/profcol
check "and its group" test "$(getent group profcol | cut -d: -f3)" = "$gid"
check "/var/lib/profcol is profcol:profcol 0750" test "$(stat -c '%U:%G %a' /var/lib/profcol 2>/dev/null)" = "profcol:profcol 750"
check "/etc/profcol/config.yaml is root's, 0644" test "$(stat -c '%U %a' /etc/profcol/config.yaml)" = "root 644"
installed_version=$(/usr/bin/profcol --version | sed -n 1p)
check "the installed profcol is version $version ($installed_version)" \
  test "${installed_version%% (*}" = "profcol $version"
check "the installed profcol loads libcurl and OpenSSL (--version names them)" \
  test "$(/usr/bin/profcol --version | grep -cE '^  (libcurl [0-9]|OpenSSL [0-9])')" = 2
if command -v man >/dev/null 2>&1; then
  check "man finds profcol(1)" test "$(man -w profcol 2>/dev/null)" = /usr/share/man/man1/profcol.1.gz
fi
unit=$(ls /lib/systemd/system/profcol.service /usr/lib/systemd/system/profcol.service 2>/dev/null | sed -n 1p)
check "the unit is installed" test -n "$unit"
if command -v systemd-analyze >/dev/null 2>&1; then
  check "systemd-analyze verify accepts the unit" systemd-analyze verify "$unit"
fi

# The unit's settings, as systemd reads them (one value per key; the last
# ExecStart wins, every ExecReload line counts).
unit_get() { sed -n "s/^$1=//p" "$unit" | tail -1; }
unit_user=$(unit_get User)
unit_state=/var/lib/$(unit_get StateDirectory)
read -r -a exec_start <<<"$(unit_get ExecStart)"
mapfile -t exec_reload < <(sed -n 's/^ExecReload=//p' "$unit")
mapfile -t unit_env < <(sed -n 's/^Environment=//p' "$unit" | tr ' ' '\n' | sed '/^$/d')
stop_timeout=$(unit_get TimeoutStopSec | tr -dc 0-9)
check "the unit runs as profcol, with /var/lib/profcol as its state" \
  test "$unit_user" = profcol -a "$unit_state" = /var/lib/profcol
check "the unit starts /usr/bin/profcol with the packaged config" \
  test "${exec_start[*]}" = "/usr/bin/profcol --config /etc/profcol/config.yaml"
check "the installed config validates, as the profcol user" \
  setpriv --reuid=profcol --regid=profcol --init-groups /usr/bin/profcol validate --config /etc/profcol/config.yaml \
  >/dev/null

# ---- run --------------------------------------------------------------------------------------
systemd=0
[[ -d /run/systemd/system ]] && systemd=1
tracer=""
command -v strace >/dev/null 2>&1 && tracer=strace
sandbox=1
if ! unshare --mount --propagation private true 2>/dev/null; then
  sandbox=0
  log "unshare --mount is not permitted here: the unit's sandbox is not rebuilt (run as the user only)"
fi

main_pid="" wrapper_pid=""
# start_like_unit LOG TRACE ARGS...: ARGS run as the unit's ExecStart would.
start_like_unit() {
  local out=$1 trace=$2
  shift 2
  local env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
             HOME=/var/lib/profcol USER="$unit_user" LOGNAME="$unit_user" SHELL=/usr/sbin/nologin
             STATE_DIRECTORY="$unit_state" "${unit_env[@]}")
  local run
  if [[ -n $tracer ]]; then
    run=(setpriv --no-new-privs strace -f -qq -o /dev/fd/3 -u "$unit_user" -- env -i "${env[@]}" "$@")
  else
    run=(setpriv --reuid="$unit_user" --regid="$unit_user" --init-groups --no-new-privs
         --inh-caps=-all --bounding-set=-all -- env -i "${env[@]}" "$@")
  fi
  if ((sandbox)); then
    # ProtectSystem=strict, PrivateTmp, ProtectHome; the StateDirectory is
    # bound onto itself first so that it keeps its own, writable, mount.
    unshare --mount --propagation private -- /bin/sh -c '
      set -e
      mount --bind "$1" "$1"
      mount -o remount,bind,ro /
      mount -t tmpfs -o mode=1777 tmpfs /tmp
      mount -t tmpfs -o mode=1777 tmpfs /var/tmp
      for d in /home /root; do [ -d "$d" ] && mount -t tmpfs -o mode=0755 tmpfs "$d"; done
      shift
      exec "$@"' sh "$unit_state" "${run[@]}" >"$out" 2>&1 3>"$trace" &
  else
    "${run[@]}" >"$out" 2>&1 3>"$trace" &
  fi
  wrapper_pid=$!
  pids+=("$wrapper_pid")
  main_pid=$wrapper_pid
  if [[ -n $tracer ]]; then # the traced profcol is strace's child
    local i
    for ((i = 0; i < 100; i++)); do
      main_pid=$(pgrep -P "$wrapper_pid" -x profcol || true)
      [[ -n $main_pid ]] && break
      sleep 0.1
    done
    pids+=("$main_pid")
  fi
}
# stop_like_unit: SIGTERM, then its exit status within TimeoutStopSec.
stop_like_unit() {
  kill -TERM "$main_pid" 2>/dev/null || true
  local i rc=0
  for ((i = 0; i < ${stop_timeout:-90} * 10; i++)); do
    kill -0 "$wrapper_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$wrapper_pid" 2>/dev/null; then
    kill -KILL "$wrapper_pid" "$main_pid" 2>/dev/null || true
    wait "$wrapper_pid" 2>/dev/null || true
    return 124
  fi
  wait "$wrapper_pid" || rc=$?
  return $rc
}
wait_health() { # up to 15 s for health_check's 200
  local i
  for ((i = 0; i < 150; i++)); do
    curl -fsS -o /dev/null http://127.0.0.1:13133/ 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
logs() {
  if ((systemd)); then journalctl -u profcol --no-pager -o cat 2>/dev/null; else cat "$work/run.log"; fi
}
logged() { logs | grep -qF -- "$1"; }
eventually() { # up to 15 s for a command to succeed
  local i
  for ((i = 0; i < 150; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

if ((systemd)); then
  log "systemd is running: checking the service dpkg -i started"
  check "systemctl reports profcol active" systemctl is-active --quiet profcol
  main_pid=$(systemctl show -p MainPID --value profcol)
else
  log "no systemd here: running the unit's ExecStart as $unit_user in the unit's sandbox${tracer:+, traced}"
  start_like_unit "$work/run.log" "$work/trace.run" "${exec_start[@]}"
fi
check "health_check answers 200 on 13133" wait_health
health=$(curl -sS http://127.0.0.1:13133/ || true)
check "and says the server is available" grep -q '"Server available"' <<<"$health"

# OTLP/gRPC on 4317: an Export call from python3-grpcio, plain and gzip.
check "OTLP/gRPC on 4317 takes an Export (python3-grpcio)" \
  /usr/bin/python3 "$root/tests/grpc/grpc_client.py" --port 4317 --proto-root "$root/proto" \
  --request "$root/tests/data/request.txtpb" ok gzip
# OTLP/HTTP on 4318: the same request as protobuf and as OTLP-JSON.
protoc --encode=opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest \
  -I "$root/proto" "$root/proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.proto" \
  <"$root/tests/data/request.txtpb" >"$work/request.binpb"
/usr/bin/profcol convert --to json -o "$work/request.json" "$work/request.binpb"
post() { # content-type file: the HTTP status of a POST to 4318
  curl -sS -o "$work/answer" -w '%{http_code}' -H "Content-Type: $1" --data-binary "@$2" \
    http://127.0.0.1:4318/v1development/profiles || true
}
check "OTLP/HTTP on 4318 answers 200 to a protobuf POST" test "$(post application/x-protobuf "$work/request.binpb")" = 200
check "and 200 to the same request in OTLP-JSON" test "$(post application/json "$work/request.json")" = 200
metrics=$(curl -sS http://127.0.0.1:8888/metrics || true)
accepted() { sed -n "s/^otelcol_receiver_accepted_profiles{.*transport=\"$1\".*} \([0-9]*\).*/\1/p" <<<"$metrics" | sed -n 1p; }
check "the metrics count the profiles taken over gRPC ($(accepted grpc))" test "$(accepted grpc)" -gt 0
check "and over HTTP ($(accepted http))" test "$(accepted http)" -gt 0
# The batch processor flushes within its 5 s timeout into the debug exporter.
check "the debug exporter logged the batch" eventually logged '[exporter:debug] profiles:'

# Reload: the unit's ExecReload lines (validate, then SIGHUP).
if ((systemd)); then
  check "systemctl reload profcol succeeds" systemctl reload profcol
else
  reload_rc=0
  for line in "${exec_reload[@]}"; do
    read -r -a cmd <<<"${line//\$MAINPID/$main_pid}"
    setpriv --reuid="$unit_user" --regid="$unit_user" --init-groups --no-new-privs -- "${cmd[@]}" \
      >/dev/null 2>&1 || reload_rc=$?
  done
  check "the unit's ExecReload lines run (validate, SIGHUP)" test "$reload_rc" -eq 0
fi
check "profcol reloaded its config" eventually logged 'SIGHUP received: reloading'
check "and still answers on health_check" eventually wait_health
check "and on OTLP/HTTP" test "$(post application/x-protobuf "$work/request.binpb")" = 200

if ((systemd)); then
  check "systemctl stop profcol stops it" systemctl stop profcol
else
  stop_rc=0
  stop_like_unit || stop_rc=$?
  check "SIGTERM drains and exits 0 within TimeoutStopSec (${stop_timeout}s)" test "$stop_rc" -eq 0
  check "with its drain logged" grep -q 'shutdown complete' "$work/run.log"
fi

# The config's commented-out backend block, uncommented: the otlphttp
# exporter's persistent queue in the StateDirectory, written by the profcol
# user. The backend is a closed port, so the batch stays queued on disk.
/usr/bin/python3 "$root/tests/deploy/check_manifests.py" uncomment /etc/profcol/config.yaml |
  sed -e 's#endpoint: https://profiles.example.com:4040#endpoint: http://127.0.0.1:9#' \
      -e 's#^service:#service:\n  shutdown_timeout: 2s#' >/etc/profcol/profcol-test-queue.yaml
check "the uncommented backend config validates" \
  /usr/bin/profcol validate --config /etc/profcol/profcol-test-queue.yaml >/dev/null
queue_args=("${exec_start[@]}")
queue_args[${#queue_args[@]} - 1]=/etc/profcol/profcol-test-queue.yaml
# Also under systemd: the service is stopped, this second run is the test's own.
start_like_unit "$work/queue.log" "$work/trace.queue" "${queue_args[@]}"
check "health_check answers with the queue config" wait_health
check "a POST is taken into the persistent queue (200)" test "$(post application/x-protobuf "$work/request.binpb")" = 200
# A segment holds an 8-byte header, then a 20-byte header per record.
queued() { [[ -n "$(find /var/lib/profcol/queue -name '*.seg' -size +100c 2>/dev/null)" ]]; }
check "the batch reaches the queue on disk, /var/lib/profcol/queue" eventually queued
seg=$(find /var/lib/profcol/queue -name '*.seg' -size +100c 2>/dev/null | sed -n 1p)
check "written by the profcol user" test "$(stat -c %U "${seg:-/nonexistent}" 2>/dev/null)" = profcol
queue_rc=0
stop_like_unit || queue_rc=$?
check "and it stops with exit 0" test "$queue_rc" -eq 0
((queue_rc == 0)) || tail -20 "$work/queue.log" >&2
rm -f /etc/profcol/profcol-test-queue.yaml

# What the traced runs did (under systemd: the queue run only), against the
# unit's SystemCallFilter and MemoryDenyWriteExecute.
if [[ -n $tracer ]] && command -v systemd-analyze >/dev/null 2>&1; then
  filter=$(unit_get SystemCallFilter)
  used=$(cat "$work"/trace.* | sed -n 's/^[0-9]\+ \+\([a-z0-9_]\+\)(.*/\1/p' | sort -u)
  allowed=$(systemd-analyze syscall-filter 2>/dev/null | awk -v want="$filter" '
      /^@/ { g = $1; next }
      /^ +[@a-z0-9_]/ { m[g] = m[g] " " $1 }
      function add(x,   n, i, a) {
        if (x in seen) return; seen[x] = 1
        if (x !~ /^@/) { print x; return }
        n = split(m[x], a, " "); for (i = 1; i <= n; i++) add(a[i]) }
      END { n = split(want, w, " "); for (i = 1; i <= n; i++) add(w[i]) }' | sort -u)
  outside=$(comm -23 <(echo "$used") <(echo "$allowed") | tr '\n' ' ')
  check "profcol made $(wc -w <<<"$used") kinds of system call, all in $filter${outside:+ (not: $outside)}" \
    test -z "$outside" -a -n "$used"
  wx=$(grep -hE '(mmap|mprotect|pkey_mprotect)\(.*PROT_EXEC' "$work"/trace.* | grep -E 'PROT_WRITE|mprotect' | head -3 || true)
  check "no writable and executable memory (MemoryDenyWriteExecute)${wx:+: $wx}" test -z "$wx"
fi

# ---- remove and purge -------------------------------------------------------------------------
rm_rc=0
dpkg -r profcol >"$work/remove.log" 2>&1 || rm_rc=$?
((rm_rc == 0)) || cat "$work/remove.log" >&2
check "dpkg -r removes it" test "$rm_rc" -eq 0
check "the binary and the unit are gone" test ! -e /usr/bin/profcol -a ! -e "$unit"
check "the conffile stays until purge" test -f /etc/profcol/config.yaml
check "and so does the state" test -d /var/lib/profcol
check "dpkg reports config-files" test "$(status_of)" = "deinstall ok config-files"
purge_rc=0
dpkg -P profcol >"$work/purge.log" 2>&1 || purge_rc=$?
((purge_rc == 0)) || cat "$work/purge.log" >&2
grep -i 'warning' "$work/purge.log" >&2 || true
check "dpkg -P purges it, without a warning" test "$purge_rc" -eq 0 -a -z "$(grep -i warning "$work/purge.log")"
check "/etc/profcol and /var/lib/profcol are gone" test ! -e /etc/profcol -a ! -e /var/lib/profcol
check "dpkg no longer knows the package" test -z "$(status_of | grep -v not-installed)"
scan >"$work/after.txt"
left=$(comm -13 "$work/before.txt" "$work/after.txt" | tr '\n' ' ')
check "nothing named profcol is left behind${left:+: $left}" test -z "$left"
check "the profcol system user stays, as Debian keeps system users on purge" getent passwd profcol >/dev/null

finish
