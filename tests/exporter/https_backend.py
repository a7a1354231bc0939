#!/usr/bin/python3
"""https_backend.py - an OTLP/HTTP backend over TLS for the otlphttp exporter's tests.

Python's own http.server behind its ssl module, nothing shared with the C
side: every POST body is written, as received (still compressed), to
OUT/NNN.bin with its Content-Encoding in OUT/NNN.enc, and answered 200 with
an empty ExportProfilesServiceResponse. The port (127.0.0.1, chosen by the
kernel) is written to --port-file once it listens. Exits on SIGTERM.

  https_backend.py --cert PEM --key PEM --out DIR --port-file FILE
"""
import argparse
import http.server
import os
import signal
import ssl
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    lock = threading.Lock()
    calls = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                i = calls[0]
                calls[0] += 1
                path = os.path.join(a.out, "%03d" % i)
                with open(path + ".enc", "w") as f:
                    f.write(self.headers.get("Content-Encoding", ""))
                with open(path + ".tmp", "wb") as f:
                    f.write(body)
                os.rename(path + ".tmp", path + ".bin")
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(a.port_file + ".tmp", a.port_file)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
