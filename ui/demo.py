#!/usr/bin/env python3
"""demo.py - send a running profcol a few traces and CPU profiles linked to
them, to try the flame graph page (and to make docs/ui-screenshot.png).

  scripts/run.sh --config config/examples/trace-linking.yaml   # one terminal
  python3 ui/demo.py [--otlp http://localhost:4318]            # another
  # then open http://localhost:13134/ui/ and click a trace

The data is made up but shaped like a Go checkout service: spans of
`GET /checkout` (frontend) -> `POST /pay` -> `db.query` (checkout), and one
CPU profile of the checkout service whose samples are linked to them, with
function names, files and lines. It is OTLP-JSON over HTTP, standard
library only. trace_link's delay (5 s in the example) holds the profile
before the page can show it.
"""
import argparse
import json
import random
import time
import urllib.request

# (function, file, line) by short name
FUNCS = {
    "main": ("main.main", "/app/cmd/checkout/main.go", 41),
    "serve": ("net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", 2092),
    "mux": ("net/http.(*ServeMux).ServeHTTP", "/usr/local/go/src/net/http/server.go", 2688),
    "pay": ("checkout.(*Handler).Pay", "/app/internal/checkout/pay.go", 88),
    "validate": ("checkout.validateCart", "/app/internal/checkout/cart.go", 132),
    "price": ("checkout.(*Pricer).Total", "/app/internal/checkout/price.go", 57),
    "tax": ("checkout.taxFor", "/app/internal/checkout/tax.go", 23),
    "query": ("database/sql.(*DB).QueryContext", "/usr/local/go/src/database/sql/sql.go", 1727),
    "pgx": ("github.com/jackc/pgx/v5.(*Conn).Query", "/go/pkg/mod/pgx/v5/conn.go", 741),
    "read": ("bufio.(*Reader).Read", "/usr/local/go/src/bufio/bufio.go", 237),
    "syscall": ("syscall.Syscall", "/usr/local/go/src/syscall/syscall_linux.go", 69),
    "encode": ("encoding/json.(*encodeState).marshal", "/usr/local/go/src/encoding/json/encode.go", 295),
    "reflect": ("encoding/json.(*structEncoder).encode", "/usr/local/go/src/encoding/json/encode.go", 729),
    "mapenc": ("encoding/json.mapEncoder.encode", "/usr/local/go/src/encoding/json/encode.go", 795),
    "write": ("net/http.(*response).Write", "/usr/local/go/src/net/http/server.go", 1675),
    "gzip": ("compress/flate.(*compressor).deflate", "/usr/local/go/src/compress/flate/deflate.go", 436),
    "gc": ("runtime.gcBgMarkWorker", "/usr/local/go/src/runtime/mgc.go", 1412),
    "scan": ("runtime.scanobject", "/usr/local/go/src/runtime/mgcmark.go", 1436),
    "malloc": ("runtime.mallocgc", "/usr/local/go/src/runtime/malloc.go", 1024),
    "sort": ("sort.Slice", "/usr/local/go/src/sort/slice.go", 23),
    "log": ("log/slog.(*Logger).Info", "/usr/local/go/src/log/slog/logger.go", 209),
}
# stacks, root first, with the span they run in: 2 POST /pay, 3 db.query
STACKS = [
    (["main", "serve", "mux", "pay", "validate", "sort"], 2, 40),
    (["main", "serve", "mux", "pay", "validate", "malloc"], 2, 15),
    (["main", "serve", "mux", "pay", "price", "tax"], 2, 55),
    (["main", "serve", "mux", "pay", "price", "malloc"], 2, 10),
    (["main", "serve", "mux", "pay", "query", "pgx", "read", "syscall"], 3, 160),
    (["main", "serve", "mux", "pay", "query", "pgx", "malloc"], 3, 25),
    (["main", "serve", "mux", "pay", "encode", "reflect", "mapenc"], 2, 70),
    (["main", "serve", "mux", "pay", "encode", "reflect", "malloc"], 2, 20),
    (["main", "serve", "mux", "pay", "write", "gzip"], 2, 45),
    (["main", "serve", "mux", "pay", "log"], 2, 12),
    (["gc", "scan"], 0, 60),
]


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.status


def ids(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(2 * n))


def spans(trace, span_ids, now_ns, slow):
    names = ["GET /checkout", "POST /pay", "db.query"]
    services = ["frontend", "checkout", "checkout"]
    dur = [900e6 if slow else 120e6, 850e6 if slow else 100e6, 700e6 if slow else 30e6]
    out = []
    for i in range(3):
        s = {"traceId": trace, "spanId": span_ids[i], "name": names[i], "kind": 2,
             "startTimeUnixNano": str(int(now_ns - 1e9 + 10e6 * i)),
             "endTimeUnixNano": str(int(now_ns - 1e9 + 10e6 * i + dur[i]))}
        if i:
            s["parentSpanId"] = span_ids[i - 1]
        out.append({"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": services[i]}}]},
            "scopeSpans": [{"spans": [s]}]})
    return {"resourceSpans": out}


def profile(traces, now_ns, rng):
    strings = ["", "cpu", "nanoseconds"]
    sidx = {}

    def s(x):
        if x not in sidx:
            sidx[x] = len(strings)
            strings.append(x)
        return sidx[x]
    s("cpu")
    funcs, locs, fidx, lidx = [{}], [{}], {}, {}
    for short, (name, file, line) in FUNCS.items():
        fidx[short] = len(funcs)
        funcs.append({"nameStrindex": s(name), "filenameStrindex": s(file)})
        lidx[short] = len(locs)
        locs.append({"lines": [{"functionIndex": fidx[short], "line": str(line)}]})
    stacks, links, samples = [{}], [{"traceId": "0" * 32, "spanId": "0" * 16}], []
    for st, span, weight in STACKS:
        stacks.append({"locationIndices": [lidx[f] for f in reversed(st)]})
        for t, (trace, span_ids) in enumerate(traces):
            link = 0
            if span:
                links.append({"traceId": trace, "spanId": span_ids[span - 1]})
                link = len(links) - 1
            value = int(weight * (4 if t == 0 else 1) * rng.uniform(0.8, 1.2)) * 1000000
            samples.append({"stackIndex": len(stacks) - 1, "linkIndex": link,
                            "values": [str(value)]})
    return {"resourceProfiles": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeProfiles": [{"profiles": [{"sampleType": {"typeStrindex": 1, "unitStrindex": 2},
                                         "timeUnixNano": str(now_ns - 2000000000),
                                         "durationNano": "2000000000",
                                         "samples": samples}]}]}],
        "dictionary": {"stringTable": strings, "mappingTable": [{}], "functionTable": funcs,
                       "locationTable": locs, "stackTable": stacks, "linkTable": links,
                       "attributeTable": [{}]}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--otlp", default="http://localhost:4318")
    ap.add_argument("--traces", type=int, default=4)
    ap.add_argument("--seed", type=int, default=16)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    now = time.time_ns()
    traces = [(ids(rng, 16), [ids(rng, 8) for _ in range(3)]) for _ in range(a.traces)]
    for t, (trace, span_ids) in enumerate(traces):
        post(a.otlp + "/v1/traces", spans(trace, span_ids, now, slow=t == 0))
    post(a.otlp + "/v1development/profiles", profile(traces, now, rng))
    print("sent %d traces and a CPU profile of service checkout linked to them;" % len(traces))
    print("the slow one: %s (its db.query span: %s)" % (traces[0][0], traces[0][1][2]))


if __name__ == "__main__":
    main()
