#!/usr/bin/python3
"""grpc_client.py - an independent gRPC client for profcol's OTLP/gRPC receiver.

Debian's python3-grpcio with stubs that python3-grpc-tools generates at run
time (into a temp dir) from the project's own .proto files, so nothing here
shares code with the C side. tests/test_grpc.c runs it against a receiver on
a loopback port, then checks what the receiver's consumer got.

  grpc_client.py --port N --proto-root DIR --request FILE.txtpb [options] CASE...

Cases (each exits non-zero with a message when the server answers wrong):
  ok            Export the request: OK, no partial_success
  gzip          the same, gzip-compressed (grpc-encoding: gzip)
  concurrent    --streams Exports at once on one channel: all OK
  large         a 600 KiB message (decoded in the server's thread pool): OK
  large_gzip    the same gzip-compressed (announces its size): OK
  large_deflate the same deflate-compressed (does not announce it): OK
  oversize      a message over the server's 1 MiB limit: RESOURCE_EXHAUSTED
  oversize_gzip small compressed, over 1 MiB decompressed: RESOURCE_EXHAUSTED
  malformed     bytes that are no ExportProfilesServiceRequest: INVALID_ARGUMENT
                with the decoder's message (which says at which byte)
  unknown       an unknown method of ProfilesService: UNIMPLEMENTED
  traces        TraceService/Export of one span: OK
  traces_unimplemented  the same: UNIMPLEMENTED (no traces consumer)
  traces_invalid  a span whose span_id is 5 bytes: INVALID_ARGUMENT naming it
  raw_traces    --traces-file sent as it is to TraceService/Export: OK
  unavailable   UNAVAILABLE with a RetryInfo of --retry seconds in
                grpc-status-details-bin
  payloads      every --payload-dir/*.binpb as is (raw bytes, so nothing here
                re-encodes them): the first third one call at a time, the rest
                all at once on this one channel; every other one gzip
                (grpc-encoding: gzip). Each must be OK without partial_success.
--tls-ca FILE speaks TLS (a secure channel, which insists on ALPN h2) and trusts the CAs
in FILE; --tls-cert/--tls-key add a client certificate (mutual TLS).
--out-request / --out-traces / --out-large write the serialized messages sent, for the C
side to compare with what its consumer got. --metadata KEY=VALUE (repeatable) is sent
with every ok and gzip call (include_metadata tests).
"""
import argparse
import os
import sys
import tempfile

import grpc

PROFILES = "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
PROTOS = [
    "opentelemetry/proto/common/v1/common.proto",
    "opentelemetry/proto/resource/v1/resource.proto",
    "opentelemetry/proto/profiles/v1development/profiles.proto",
    "opentelemetry/proto/collector/profiles/v1development/profiles_service.proto",
    "opentelemetry/proto/trace/v1/trace.proto",
    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
    "google/protobuf/any.proto",
    "google/rpc/status.proto",
]


def fail(msg):
    print("grpc_client: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def gen_stubs(proto_root, out):
    from grpc_tools import protoc

    # The project's any.proto would shadow the runtime's well-known type.
    files = [f for f in PROTOS if not f.startswith("google/protobuf/")]
    rc = protoc.main(["protoc", "-I" + proto_root, "--python_out=" + out,
                      "--grpc_python_out=" + out] + files)
    if rc != 0:
        fail("protoc could not generate the stubs (rc %d)" % rc)
    sys.path.insert(0, out)


def expect_code(call, code, what):
    try:
        call()
    except grpc.RpcError as e:
        if e.code() != code:
            fail("%s: got %s (%s), want %s" % (what, e.code(), e.details(), code))
        if code != grpc.StatusCode.UNIMPLEMENTED and not e.details():
            fail("%s: %s without a grpc-message" % (what, code))
        print("%s: %s: %s" % (what, code.name, e.details()))
        return e
    fail("%s: got OK, want %s" % (what, code))


def send_payloads(raw, payload_dir, ps):
    if not payload_dir:
        fail("payloads: no --payload-dir")
    names = sorted(f for f in os.listdir(payload_dir) if f.endswith(".binpb"))
    if not names:
        fail("payloads: nothing in " + payload_dir)
    bodies = []
    for name in names:
        with open(os.path.join(payload_dir, name), "rb") as f:
            bodies.append(f.read())

    def comp(i):
        return grpc.Compression.Gzip if i % 2 else grpc.Compression.NoCompression

    def check(i, answer):
        resp = ps.ExportProfilesServiceResponse.FromString(answer)
        if resp.HasField("partial_success"):
            fail("payloads: %s: partial_success %s" % (names[i], resp.partial_success))

    one_by_one = len(bodies) // 3
    for i in range(one_by_one):
        try:
            check(i, raw(bodies[i], timeout=20, compression=comp(i)))
        except grpc.RpcError as e:
            fail("payloads: %s: %s %s" % (names[i], e.code(), e.details()))
    futures = [(i, raw.future(bodies[i], timeout=30, compression=comp(i)))
               for i in range(one_by_one, len(bodies))]
    for i, fu in futures:
        try:
            check(i, fu.result())
        except grpc.RpcError as e:
            fail("payloads: %s: %s %s" % (names[i], e.code(), e.details()))
    print("payloads: %d OK (%d at once)" % (len(bodies), len(futures)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--proto-root", required=True)
    ap.add_argument("--request", required=True, help="ExportProfilesServiceRequest, text format")
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--retry", type=int, default=1)
    ap.add_argument("--out-request")
    ap.add_argument("--out-traces")
    ap.add_argument("--out-large")
    ap.add_argument("--payload-dir", help="for the payloads case")
    ap.add_argument("--traces-file", help="for the raw_traces case: ExportTraceServiceRequest bytes")
    ap.add_argument("--metadata", action="append", default=[], help="KEY=VALUE")
    ap.add_argument("--tls-ca", help="PEM CAs: use a secure channel")
    ap.add_argument("--tls-cert", help="PEM client certificate (with --tls-key)")
    ap.add_argument("--tls-key")
    ap.add_argument("cases", nargs="+")
    a = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="profcol-grpc-stubs-")
    gen_stubs(a.proto_root, tmp.name)
    from google.protobuf import text_format
    from google.rpc import status_pb2
    from opentelemetry.proto.collector.profiles.v1development import (
        profiles_service_pb2 as ps, profiles_service_pb2_grpc as ps_grpc)
    from opentelemetry.proto.collector.trace.v1 import (
        trace_service_pb2 as ts, trace_service_pb2_grpc as ts_grpc)

    req = ps.ExportProfilesServiceRequest()
    with open(a.request) as f:
        text_format.Parse(f.read(), req)
    if a.out_request:
        with open(a.out_request, "wb") as f:
            f.write(req.SerializeToString())

    target = "127.0.0.1:%d" % a.port
    if a.tls_ca:
        def pem(path):
            if not path:
                return None
            with open(path, "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=pem(a.tls_ca),
                                             private_key=pem(a.tls_key),
                                             certificate_chain=pem(a.tls_cert))
        # The test certificates name localhost (and 127.0.0.1).
        channel = grpc.secure_channel(target, creds,
                                      options=(("grpc.ssl_target_name_override", "localhost"),))
    else:
        channel = grpc.insecure_channel(target)
    stub = ps_grpc.ProfilesServiceStub(channel)
    raw = channel.unary_unary(PROFILES)  # bytes in, bytes out

    metadata = tuple(tuple(kv.split("=", 1)) for kv in a.metadata) or None

    def export_ok(what, **kw):
        resp = stub.Export(req, timeout=20, metadata=metadata, **kw)
        if resp.HasField("partial_success") and resp.partial_success.rejected_profiles:
            fail("%s: %d profiles rejected: %s" % (what, resp.partial_success.rejected_profiles,
                                                   resp.partial_success.error_message))
        print("%s: OK" % what)

    large = ps.ExportProfilesServiceRequest()
    large.CopyFrom(req)
    large.dictionary.string_table.append("".join(chr(0x41 + i % 26) for i in range(600 << 10)))
    if a.out_large:
        with open(a.out_large, "wb") as f:
            f.write(large.SerializeToString())

    big = ps.ExportProfilesServiceRequest()
    big.CopyFrom(req)
    big.dictionary.string_table.append("x" * (2 << 20))

    for case in a.cases:
        if case == "ok":
            export_ok(case)
        elif case == "gzip":
            export_ok(case, compression=grpc.Compression.Gzip)
        elif case == "concurrent":
            futures = [stub.Export.future(req, timeout=30) for _ in range(a.streams)]
            for i, fu in enumerate(futures):
                try:
                    fu.result()
                except grpc.RpcError as e:
                    fail("concurrent: stream %d: %s %s" % (i, e.code(), e.details()))
            print("concurrent: %d OK" % a.streams)
        elif case == "large":
            stub.Export(large, timeout=20)
            print("large: OK")
        elif case == "large_gzip":
            stub.Export(large, timeout=20, compression=grpc.Compression.Gzip)
            print("large_gzip: OK")
        elif case == "large_deflate":
            stub.Export(large, timeout=20, compression=grpc.Compression.Deflate)
            print("large_deflate: OK")
        elif case == "oversize":
            expect_code(lambda: stub.Export(big, timeout=20), grpc.StatusCode.RESOURCE_EXHAUSTED,
                        case)
        elif case == "oversize_gzip":
            expect_code(lambda: stub.Export(big, timeout=20, compression=grpc.Compression.Gzip),
                        grpc.StatusCode.RESOURCE_EXHAUSTED, case)
        elif case == "malformed":
            e = expect_code(lambda: raw(b"\x0a\xff\xff\xff\x0f\x01", timeout=20),
                            grpc.StatusCode.INVALID_ARGUMENT, case)
            if "byte" not in e.details():
                fail("malformed: the message does not say where: %r" % e.details())
        elif case == "unknown":
            nope = channel.unary_unary(PROFILES.replace("/Export", "/Nope"))
            expect_code(lambda: nope(b"", timeout=20), grpc.StatusCode.UNIMPLEMENTED, case)
        elif case == "raw_traces":
            traw = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with open(a.traces_file, "rb") as f:
                body = f.read()
            try:
                traw(body, timeout=20)
            except grpc.RpcError as e:
                fail("raw_traces: %s %s" % (e.code(), e.details()))
            print("raw_traces: OK")
        elif case == "traces_invalid":
            treq = ts.ExportTraceServiceRequest()
            span = treq.resource_spans.add().scope_spans.add().spans.add()
            span.trace_id = bytes(range(16))
            span.span_id = bytes(range(5))
            export = ts_grpc.TraceServiceStub(channel).Export
            e = expect_code(lambda: export(treq, timeout=20), grpc.StatusCode.INVALID_ARGUMENT,
                            case)
            if "span_id: must be 8 bytes" not in e.details():
                fail("traces_invalid: the message does not name the field: %r" % e.details())
        elif case in ("traces", "traces_unimplemented"):
            treq = ts.ExportTraceServiceRequest()
            span = treq.resource_spans.add().scope_spans.add().spans.add()
            span.trace_id = bytes(range(16))
            span.span_id = bytes(range(8))
            span.name = "checkout"
            if a.out_traces:
                with open(a.out_traces, "wb") as f:
                    f.write(treq.SerializeToString())
            export = ts_grpc.TraceServiceStub(channel).Export
            if case == "traces":
                export(treq, timeout=20)
                print("traces: OK")
            else:
                expect_code(lambda: export(treq, timeout=20), grpc.StatusCode.UNIMPLEMENTED, case)
        elif case == "payloads":
            send_payloads(raw, a.payload_dir, ps)
        elif case == "unavailable":
            e = expect_code(lambda: stub.Export(req, timeout=20), grpc.StatusCode.UNAVAILABLE,
                            case)
            md = dict(e.trailing_metadata() or ())
            if "grpc-status-details-bin" not in md:
                fail("unavailable: no grpc-status-details-bin in %r" % md)
            st = status_pb2.Status.FromString(md["grpc-status-details-bin"])
            if st.code != 14 or len(st.details) != 1:
                fail("unavailable: details %r" % st)
            d = st.details[0]
            if d.type_url != "type.googleapis.com/google.rpc.RetryInfo":
                fail("unavailable: details type %s" % d.type_url)
            # RetryInfo{retry_delay: Duration{seconds}}, decoded by hand: the
            # project has no errdetails.proto.
            from google.protobuf import duration_pb2
            if not d.value.startswith(b"\x0a"):
                fail("unavailable: RetryInfo without retry_delay: %r" % d.value)
            delay = duration_pb2.Duration.FromString(d.value[2:])
            if delay.seconds != a.retry:
                fail("unavailable: retry_delay %ds, want %ds" % (delay.seconds, a.retry))
            print("unavailable: RetryInfo %ds" % delay.seconds)
        else:
            fail("unknown case " + case)
    channel.close()


if __name__ == "__main__":
    main()
