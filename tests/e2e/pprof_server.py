#!/usr/bin/python3
"""pprof_server.py - a loopback HTTP server for the pprof receiver's end-to-end
test (tests/e2e/test_pprof.c): Go's /debug/pprof handlers as the committed
fixtures (tests/data/pprof, real profiles of workload.go), plus targets that
misbehave, and a count of every request per path.

  /debug/pprof/profile   cpu.pb.gz  (Go serves it gzip'd, application/octet-stream)
  /debug/pprof/heap      heap.pb.gz
  /garbage               200 with an HTML page: not a profile
  /slow                  answers cpu.pb.gz after --slow seconds (past the timeout),
                         or ?s=N seconds
  /bomb                  200 with 64 MB of zeros gzip'd into 64 KB
  /fail                  500
  /stats                 JSON {path: requests so far, "max_inflight": most requests
                         being answered at once} (not counted itself)

Binds 127.0.0.1:0 and writes the port to --port-file once listening. Debian's
python3 only; no Go needed at test time."""
import argparse
import gzip
import http.server
import json
import os
import threading
import time
import urllib.parse

counts = {}
inflight = {"now": 0, "max": 0}
lock = threading.Lock()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--slow", type=float, default=5.0)
    a = ap.parse_args()
    files = {}
    for path, name in (("/debug/pprof/profile", "cpu.pb.gz"), ("/debug/pprof/heap", "heap.pb.gz")):
        with open(os.path.join(a.dir, name), "rb") as f:
            files[path] = f.read()
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status, body, ctype="application/octet-stream"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path == "/stats":
                with lock:
                    body = json.dumps(dict(counts, max_inflight=inflight["max"])).encode()
                return self.send(200, body, "application/json")
            with lock:
                counts[path] = counts.get(path, 0) + 1
                inflight["now"] += 1
                inflight["max"] = max(inflight["max"], inflight["now"])
            try:
                self.answer(path, urllib.parse.parse_qs(query))
            finally:
                with lock:
                    inflight["now"] -= 1

        def answer(self, path, query):
            if path in files:
                return self.send(200, files[path])
            if path == "/garbage":
                return self.send(200, b"<html><body>not a profile</body></html>\n", "text/html")
            if path == "/slow":
                time.sleep(float(query.get("s", [a.slow])[0]))
                return self.send(200, files["/debug/pprof/profile"])
            if path == "/bomb":
                return self.send(200, bomb)
            if path == "/fail":
                return self.send(500, b"internal error\n", "text/plain")
            return self.send(404, b"404 page not found\n", "text/plain")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
