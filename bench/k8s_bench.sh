#!/bin/sh
# k8s_bench.sh - bench_attrs with k8s_attributes and 10,000 pods cached.
#
# There is no Kubernetes API server here: this starts the tests' stand-in
# (tests/k8s/apiserver.py: HTTPS, a bearer token, the API's list/watch JSON)
# on loopback with a self-signed certificate from the openssl command,
# fills it with --pods generated pods (two containers each, owned by
# replicasets, app.kubernetes.io labels), writes a kubeconfig for it and
# runs bench_attrs --k8s with the remaining arguments:
#
#   bench/k8s_bench.sh [--bench BIN] [--pods N] [bench_attrs args...]
#   bench/k8s_bench.sh --bench build-bench/bench/bench_attrs --time 3 --runs 5
#
# PC_BENCH_WRAP, when set, is a command the bench runs under (for example
# "perf record -o /tmp/k8s.perf.data").
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/build-bench/bench/bench_attrs"
pods=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=$2; shift 2 ;;
    --pods) pods=$2; shift 2 ;;
    *) break ;;
  esac
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/profcol-k8s-bench-XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$dir/apiserver.key" -out "$dir/apiserver.pem" 2>/dev/null
python3 "$root/tests/k8s/apiserver.py" --cert "$dir/apiserver.pem" --key "$dir/apiserver.key" \
  --token bench-token --port-file "$dir/port" --control-port-file "$dir/cport" &
pid=$!
i=0
while [ ! -s "$dir/port" ] || [ ! -s "$dir/cport" ]; do
  i=$((i + 1))
  [ $i -gt 300 ] && { echo "k8s_bench: the stand-in did not start" >&2; exit 1; }
  sleep 0.1
done
port=$(cat "$dir/port")
cport=$(cat "$dir/cport")
curl -sf --noproxy '*' -X POST "http://127.0.0.1:$cport/bulk?n=$pods&node=node-1" -d '[]' >/dev/null
cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: standin
  cluster: {server: "https://127.0.0.1:$port", certificate-authority: apiserver.pem}
contexts:
- name: bench
  context: {cluster: standin, user: bench}
current-context: bench
users:
- name: bench
  user: {token: bench-token}
KC
${PC_BENCH_WRAP:-} "$bench" --k8s "$dir/kubeconfig" --k8s-pods "$pods" "$@"
