#!/usr/bin/python3
"""grpc_server.py - an independent OTLP/gRPC backend for profcol's `otlp` exporter.

Debian's python3-grpcio serving ProfilesService/Export (and TraceService/Export,
for spans: recorded the same way, parsed as ExportTraceServiceRequest), with nothing shared
with the C side: the method is registered raw (bytes in, bytes out), so what
is recorded is exactly the message grpcio got off the wire after it undid any
grpc-encoding. The stubs python3-grpc-tools generates at run time from the
project's .proto files are used only to check that each message parses as an
ExportProfilesServiceRequest and to build the google.rpc.Status details.

  grpc_server.py --proto-root DIR --out DIR --port-file FILE [options]

The first --fail calls are answered with --code (UNAVAILABLE by default),
with a RetryInfo of --retry-delay seconds in grpc-status-details-bin when that
is > 0; every later call is answered OK. Call i (from 0) is written to
OUT/NNN.bin (its metadata, "key: value" a line, to OUT/NNN.md) and a line
"NNN CODE BYTES parsed|unparsable:ERROR timeout=T peer=P" appended to OUT/calls.log
before the answer goes out, so a client that saw the answer can read them
all; T is the seconds left of the call's deadline (the client's
grpc-timeout, as grpcio reads it) or "none", and P the client's address and
port as grpcio names it (one per connection). With --tls-cert and --tls-key it
serves TLS (HTTP/2 by ALPN) instead of cleartext. The listening port
(bound on 127.0.0.1, chosen by the kernel) is written to --port-file once the
server accepts connections. Exits on SIGTERM, or after --lifetime seconds.
"""
import argparse
import os
import signal
import sys
import tempfile
import threading

import grpc

SERVICE = "opentelemetry.proto.collector.profiles.v1development.ProfilesService"
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
PROTOS = [
    "opentelemetry/proto/common/v1/common.proto",
    "opentelemetry/proto/resource/v1/resource.proto",
    "opentelemetry/proto/profiles/v1development/profiles.proto",
    "opentelemetry/proto/collector/profiles/v1development/profiles_service.proto",
    "opentelemetry/proto/trace/v1/trace.proto",
    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
    "google/rpc/status.proto",
]


def fail(msg):
    print("grpc_server: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def gen_stubs(proto_root, out):
    from grpc_tools import protoc

    rc = protoc.main(["protoc", "-I" + proto_root, "--python_out=" + out] + PROTOS)
    if rc != 0:
        fail("protoc could not generate the stubs (rc %d)" % rc)
    sys.path.insert(0, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto-root", required=True)
    ap.add_argument("--out", required=True, help="directory for the received messages")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fail", type=int, default=0, help="answer --code to this many calls")
    ap.add_argument("--code", default="UNAVAILABLE", help="a grpc.StatusCode name")
    ap.add_argument("--retry-delay", type=int, default=0, help="RetryInfo seconds, 0: none")
    ap.add_argument("--lifetime", type=float, default=120)
    ap.add_argument("--tls-cert", help="PEM certificate: serve TLS only (with --tls-key)")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    a = ap.parse_args()
    code = grpc.StatusCode[a.code]

    tmp = tempfile.TemporaryDirectory(prefix="profcol-grpc-server-")
    gen_stubs(a.proto_root, tmp.name)
    from google.protobuf import any_pb2, duration_pb2
    from google.rpc import status_pb2
    from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

    details = b""
    if a.retry_delay > 0:
        # RetryInfo{retry_delay = 1: Duration}, encoded by hand: the project
        # has no errdetails.proto.
        dur = duration_pb2.Duration(seconds=a.retry_delay).SerializeToString()
        info = b"\x0a" + bytes([len(dur)]) + dur
        st = status_pb2.Status(code=code.value[0], message="backend warming up")
        st.details.append(any_pb2.Any(type_url="type.googleapis.com/google.rpc.RetryInfo",
                                      value=info))
        details = st.SerializeToString()

    lock = threading.Lock()
    calls = [0]
    log = open(os.path.join(a.out, "calls.log"), "a")

    def export(body, context, request=ps.ExportProfilesServiceRequest,
               response=ps.ExportProfilesServiceResponse):
        with lock:
            i = calls[0]
            calls[0] += 1
            answer = code if i < a.fail else grpc.StatusCode.OK
            path = os.path.join(a.out, "%03d.bin" % i)
            # The call's metadata first, "key: value" a line (auth tests).
            with open(path[:-4] + ".md.tmp", "w") as f:
                for k, v in context.invocation_metadata():
                    f.write("%s: %s\n" % (k, v))
            os.rename(path[:-4] + ".md.tmp", path[:-4] + ".md")
            with open(path + ".tmp", "wb") as f:
                f.write(body)
            os.rename(path + ".tmp", path)
            try:
                request.FromString(body)
                parsed = "parsed"
            except Exception as e:  # noqa: BLE001 - any decode error is reported
                parsed = "unparsable:" + type(e).__name__
            left = context.time_remaining()
            # grpcio reports no deadline as about 2^63 ns.
            timeout = "%.3f" % left if left is not None and left < 1e9 else "none"
            log.write("%03d %s %d %s timeout=%s peer=%s\n" % (i, answer.name, len(body), parsed,
                                                                timeout, context.peer()))
            log.flush()
        if answer != grpc.StatusCode.OK:
            if details:
                context.set_trailing_metadata((("grpc-status-details-bin", details),))
            context.abort(answer, "test backend: call %d answered %s" % (i, answer.name))
        return response().SerializeToString()

    def export_traces(body, context):
        return export(body, context, ts.ExportTraceServiceRequest, ts.ExportTraceServiceResponse)

    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)})
    traces = grpc.method_handlers_generic_handler(
        TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export_traces)})
    from concurrent import futures
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=(handler, traces))
    if a.tls_cert:
        with open(a.tls_key, "rb") as k, open(a.tls_cert, "rb") as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    if port <= 0:
        fail("cannot bind 127.0.0.1:0")
    server.start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(a.port_file + ".tmp", a.port_file)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait(a.lifetime)
    server.stop(0)
    log.close()


if __name__ == "__main__":
    main()
