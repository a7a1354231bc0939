#!/usr/bin/env bash
# install-deps.sh - install the Debian packages profcol needs to build and test,
# only those that are missing, non-interactively. Safe to run again and again.
#
#   scripts/install-deps.sh          build + test packages (and the Debian package build)
#   scripts/install-deps.sh --bench  also what bench/ uses (nginx, wrk, h2load)
#
# Then the flame graph page's npm packages (d3, d3-flame-graph), at the exact
# versions ui/package-lock.json pins, into ui/node_modules (git ignores it):
# meson embeds them in the binary and fetches nothing itself.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
  build-essential meson ninja-build pkg-config
  libuv1-dev node-llhttp nanopb libnanopb-dev protobuf-compiler python3-protobuf
  libzstd-dev zlib1g-dev libdeflate-dev libyaml-dev libxxhash-dev libjansson-dev
  libcurl4-openssl-dev libnghttp2-dev libssl-dev libpcre2-dev
  check zstd gzip curl openssl
  python3-grpcio python3-grpc-tools python3-yaml
  chromium python3-websocket
  debhelper dpkg-dev lintian strace
)
# kubectl checks the Kubernetes manifests offline (tests/deploy/); any kubectl
# on PATH does, Debian's kubernetes-client where there is none (installing it
# over another vendor's kubectl package would conflict).
if ! command -v kubectl >/dev/null 2>&1; then
  pkgs+=(kubernetes-client)
fi
# npm installs the page's packages; any node with its npm on PATH does,
# Debian's where there is none.
if ! command -v npm >/dev/null 2>&1; then
  pkgs+=(npm)
fi
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(nginx-light wrk nghttp2-client)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# `npm ci` installs exactly the lock file (and checks each package's
# integrity hash); it runs again only when the lock file changed since.
if ! cmp -s ui/package-lock.json ui/node_modules/.profcol-lock 2>/dev/null; then
  echo "install-deps: npm ci in ui/ (the flame graph page's d3 and d3-flame-graph)" >&2
  (cd ui && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp ui/package-lock.json ui/node_modules/.profcol-lock
fi
