#!/usr/bin/env bash
# install-deps.sh - install the Debian packages profcol needs to build and test,
# only those that are missing, non-interactively. Safe to run again and again.
#
#   scripts/install-deps.sh          build + test packages (and the Debian package build)
#   scripts/install-deps.sh --bench  also what bench/ uses (nginx, wrk, h2load)
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config
  libuv1-dev node-llhttp nanopb libnanopb-dev protobuf-compiler python3-protobuf
  libzstd-dev zlib1g-dev libdeflate-dev libyaml-dev libxxhash-dev libjansson-dev
  libcurl4-openssl-dev libnghttp2-dev libssl-dev libpcre2-dev
  check zstd gzip curl openssl
  python3-grpcio python3-grpc-tools python3-yaml
  debhelper dpkg-dev lintian strace
)
# kubectl checks the Kubernetes manifests offline (tests/deploy/); any kubectl
# on PATH does, Debian's kubernetes-client where there is none (installing it
# over another vendor's kubectl package would conflict).
if ! command -v kubectl >/dev/null 2>&1; then
  pkgs+=(kubernetes-client)
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

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
