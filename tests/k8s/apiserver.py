#!/usr/bin/python3
"""apiserver.py - a stand-in for the Kubernetes API server, for the tests of
k8s_attributes and resource_detection's k8s_api detector.

Debian has no Kubernetes API server, so this speaks the parts of its
protocol that profcol's client uses, as the API documents them
(https://kubernetes.io/docs/reference/using-api/api-concepts/):

  * HTTPS (Python's ssl module, ALPN http/1.1) with a bearer token: a request
    without the right `Authorization: Bearer <token>` gets 401 and a Status.
  * Lists: GET /api/v1/pods, /api/v1/namespaces/NS/pods, /apis/apps/v1/
    [namespaces/NS/]replicasets, /api/v1/namespaces -> a PodList (...List)
    with metadata.resourceVersion; limit + continue paging (a continue token
    older than the compacted history gets 410 Gone, as etcd compaction
    does); resourceVersion=0 is served whole, as the watch cache serves it;
    fieldSelector (spec.nodeName=, metadata.name=, metadata.namespace=, !=)
    and labelSelector (k=v, k!=v, k, !k). Accept: ...;as=PartialObjectMetadataList
    gets metadata-only objects, as the API gives them.
  * Watches: ?watch=1&resourceVersion=RV -> 200 and a chunked stream of
    {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...} lines: the
    changes after RV, then new ones as they happen; BOOKMARKs every
    --bookmark-seconds with allowWatchBookmarks; an RV older than the
    compacted history gets an ERROR event with a 410 Status (what the API
    server sends), and the stream ends after timeoutSeconds.
  * Watches from resourceVersion 0 (or none) start at the newest state, as
    the API server's "start at most recent" does.
  * GET /api/v1/nodes/NAME -> a Node; nodes are listed and watched like the
    rest (/api/v1/nodes, fieldSelector=metadata.name=NAME as an agent's
    node watch asks).
  * A kind the control port forbids answers 403 with the Status the API
    server gives a service account without that RBAC rule.

The tests drive it through a plain-HTTP control port on 127.0.0.1
(--control-port-file): POST /pods (a JSON list of pod specs in the short
form of make_pod below, added or modified), POST /nodes, /namespaces,
/replicasets (the same for those kinds), POST /delete[?kind=nodes] (a list
of "ns/name", or node names), POST /forbid (a list of kinds to answer 403
from now on; [] forbids none), POST /bulk?n=N&node=X (N generated pods),
POST /bulk_nodes?n=N (N generated nodes), POST /compact (forget
the history: every open watch and continue token is now too old), POST
/drop (cut every open watch mid-stream, no final chunk), POST /down?ms=N
(close the listener and every connection, refuse for N ms, then listen
again on the same port), GET /stats (requests served, as JSON: with
<kind>_lists and <kind>_watches per kind, and forbidden).

  apiserver.py --cert PEM --key PEM --token TOKEN --port-file F
               --control-port-file F [--port N] [--bookmark-seconds S]
"""
import argparse
import base64
import copy
import http.server
import json
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse


class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 1000
        self.objs = {"pods": {}, "replicasets": {}, "namespaces": {}, "nodes": {}}
        self.history = []  # (rv, kind, type, object)
        self.compacted = 0  # watches from an RV below this are Gone
        self.generation = 0  # bumped by /drop: open watches end
        self.stats = {"lists": 0, "pages": 0, "watches": 0, "gone": 0, "unauthorized": 0,
                      "events_sent": 0, "bookmarks": 0, "nodes": 0, "forbidden": 0}
        for k in self.objs:
            self.stats[k + "_lists"] = 0
            self.stats[k + "_watches"] = 0
        self.forbidden = set()  # kinds answered 403

    def next_rv(self):
        self.rv += 1
        return self.rv

    def put(self, kind, obj, typ):
        key = "%s/%s" % (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        rv = self.next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        if typ == "DELETED":
            self.objs[kind].pop(key, None)
        else:
            self.objs[kind][key] = obj
        self.history.append((rv, kind, typ, copy.deepcopy(obj)))
        if len(self.history) > 200000:
            self.compacted = self.history[100000][0]
            del self.history[:100000]
        self.lock.notify_all()


def uid_for(name):
    r = random.Random(name)
    return "%08x-%04x-4%03x-8%03x-%012x" % (r.getrandbits(32), r.getrandbits(16), r.getrandbits(12),
                                          r.getrandbits(12), r.getrandbits(48))


def make_pod(spec, state):
    """A Pod as the API returns it, from a short spec: name, namespace, node,
    ip, uid, labels, annotations, owner ({kind, name, uid}), containers
    ([{name, image, id, restarts, last_id}]), host_network, created."""
    name, ns = spec["name"], spec.get("namespace", "default")
    uid = spec.get("uid") or uid_for(ns + "/" + name)
    created = spec.get("created", "2026-01-02T03:04:05Z")
    containers = spec.get("containers") or [{"name": "app", "image": "nginx:1.25"}]
    meta = {
        "name": name, "namespace": ns, "uid": uid, "resourceVersion": "0",
        "creationTimestamp": created,
        "labels": spec.get("labels", {"app": name}),
        "annotations": spec.get("annotations", {}),
        "managedFields": [{
            "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
            "time": created, "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                         "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                             ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                             "f:resources": {}, "f:terminationMessagePath": {},
                             "f:terminationMessagePolicy": {}}},
                             "f:dnsPolicy": {}, "f:enableServiceLinks": {},
                             "f:restartPolicy": {}, "f:schedulerName": {},
                             "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}},
        }],
    }
    if "owner" in spec:
        o = spec["owner"]
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": o["kind"], "name": o["name"],
                                    "uid": o.get("uid") or uid_for(o["kind"] + o["name"]),
                                    "controller": True, "blockOwnerDeletion": True}]
    pod = {
        "kind": "Pod", "apiVersion": "v1", "metadata": meta,
        "spec": {
            "nodeName": spec.get("node", "node-1"),
            "hostNetwork": bool(spec.get("host_network", False)),
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
            "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
            "containers": [{"name": c["name"], "image": c.get("image", "busybox"),
                            "imagePullPolicy": "IfNotPresent", "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"} for c in containers],
        },
        "status": {
            "phase": "Running", "hostIP": "10.0.0.1",
            "startTime": created,
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None,
                            "lastTransitionTime": created}],
            "qosClass": "BestEffort",
            "containerStatuses": [],
        },
    }
    if spec.get("hostname"):
        pod["spec"]["hostname"] = spec["hostname"]
    if spec.get("ip"):
        pod["status"]["podIP"] = spec["ip"]
        pod["status"]["podIPs"] = [{"ip": spec["ip"]}] + [{"ip": x} for x in spec.get("ips", [])]
    for c in containers:
        st = {"name": c["name"], "image": c.get("image", "busybox"),
              "imageID": "docker.io/library/busybox@sha256:" + "ab" * 32,
              "ready": True, "started": True, "restartCount": c.get("restarts", 0),
              "state": {"running": {"startedAt": created}}, "lastState": {}}
        if c.get("id"):
            st["containerID"] = "containerd://" + c["id"]
        if c.get("last_id"):
            st["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                              "containerID": "containerd://" + c["last_id"],
                                              "startedAt": created, "finishedAt": created}}
        pod["status"]["containerStatuses"].append(st)
    return pod


def make_rs(spec):
    name, ns = spec["name"], spec.get("namespace", "default")
    meta = {"name": name, "namespace": ns, "uid": spec.get("uid") or uid_for("ReplicaSet" + name),
            "resourceVersion": "0", "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"pod-template-hash": name.rsplit("-", 1)[-1]}}
    if spec.get("deployment"):
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": spec["deployment"],
                                    "uid": spec.get("deployment_uid") or uid_for("Deployment" + spec["deployment"]),
                                    "controller": True, "blockOwnerDeletion": True}]
    return {"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": {}}}, "status": {"replicas": 1}}


def make_ns(spec):
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": spec["name"], "uid": uid_for("ns" + spec["name"]),
                         "resourceVersion": "0", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": spec.get("labels", {}), "annotations": spec.get("annotations", {})},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def make_node(spec):
    """A Node as the API returns it, from a short spec: name, uid, labels
    (over the kubelet's own), annotations."""
    name = spec["name"]
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "m5.large"}
    labels.update(spec.get("labels", {}))
    annotations = {"node.alpha.kubernetes.io/ttl": "0",
                   "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
    annotations.update(spec.get("annotations", {}))
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "uid": spec.get("uid") or uid_for("node" + name),
                         "resourceVersion": "0", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": labels, "annotations": annotations},
            "spec": {"podCIDR": "10.244.0.0/24", "providerID": "aws:///eu-west-1a/i-0abc"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                                     {"type": "Hostname", "address": name}],
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z",
                                       "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status"}],
                       "nodeInfo": {"kubeletVersion": "v1.31.0", "osImage": "Debian GNU/Linux 12",
                                    "containerRuntimeVersion": "containerd://1.7.20"}}}


def forbidden(kind, verb):
    group = "apps" if kind == "replicasets" else ""
    return status(403, "Forbidden",
                  '%s is forbidden: User "system:serviceaccount:profcol:profcol-agent" cannot %s '
                  'resource "%s" in API group "%s" at the cluster scope' % (kind, verb, kind, group))


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def field_of(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    return "" if cur is None else str(cur)


def matches(obj, fsel, lsel):
    for term in [t for t in fsel.split(",") if t]:
        if "!=" in term:
            k, v = term.split("!=", 1)
            if field_of(obj, k) == v:
                return False
        else:
            k, v = term.split("=", 1)
            if field_of(obj, k.rstrip("=")) != v:
                return False
    labels = obj["metadata"].get("labels") or {}
    for term in [t for t in lsel.split(",") if t]:
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def metadata_only(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--control-port-file", required=True)
    ap.add_argument("--bookmark-seconds", type=float, default=60)
    a = ap.parse_args()
    st = State()
    conns = set()
    conns_lock = threading.Lock()

    class Api(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            with conns_lock:
                conns.add(self.connection)

        def finish(self):
            with conns_lock:
                conns.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def log_message(self, *args):
            pass

        def send_json(self, code, obj):
            body = json.dumps(obj, separators=(",", ":")).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.headers.get("Authorization") != "Bearer " + a.token:
                with st.lock:
                    st.stats["unauthorized"] += 1
                self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
                return
            u = urllib.parse.urlsplit(self.path)
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
            parts = [p for p in u.path.split("/") if p]
            ns = None
            if parts[:2] == ["api", "v1"] and len(parts) == 4 and parts[2] == "nodes":
                with st.lock:
                    st.stats["nodes"] += 1
                    if "nodes" in st.forbidden:
                        st.stats["forbidden"] += 1
                        self.send_json(403, forbidden("nodes", "get"))
                        return
                    node = st.objs["nodes"].get("/" + parts[3])
                if node:
                    self.send_json(200, node)
                else:
                    self.send_json(404, status(404, "NotFound", 'nodes "%s" not found' % parts[3]))
                return
            if len(parts) >= 5 and parts[-3] == "namespaces":
                ns = parts[-2]
                parts = parts[:-3] + parts[-1:]
            kind = parts[-1] if parts else ""
            if parts[:-1] not in (["api", "v1"], ["apis", "apps", "v1"]) or kind not in st.objs:
                self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
                return
            watch = q.get("watch") in ("1", "true")
            with st.lock:
                st.stats[kind + ("_watches" if watch else "_lists")] += 1
                if kind in st.forbidden:
                    st.stats["forbidden"] += 1
                    refuse = True
                else:
                    refuse = False
            if refuse:
                self.send_json(403, forbidden(kind, "watch" if watch else "list"))
                return
            meta = "as=PartialObjectMetadataList" in (self.headers.get("Accept") or "")
            fsel, lsel = q.get("fieldSelector", ""), q.get("labelSelector", "")
            if ns:
                fsel = (fsel + "," if fsel else "") + "metadata.namespace=" + ns
            if watch:
                self.watch(kind, q, fsel, lsel, meta)
            else:
                self.list(kind, q, fsel, lsel, meta)

        def list(self, kind, q, fsel, lsel, meta):
            limit = int(q.get("limit") or 0)
            cont = q.get("continue")
            with st.lock:
                st.stats["pages"] += 1
                if cont:
                    try:
                        tok = json.loads(base64.b64decode(cont))
                    except Exception:
                        self.send_json(400, status(400, "BadRequest", "invalid continue token"))
                        return
                    if tok["rv"] < st.compacted:
                        st.stats["gone"] += 1
                        self.send_json(410, status(410, "Expired", "The provided continue parameter "
                                                   "is too old to display a consistent list result. "
                                                   "You can start a new list without the continue "
                                                   "parameter."))
                        return
                    rv, start, keys = tok["rv"], tok["start"], None
                else:
                    st.stats["lists"] += 1
                    rv, start = st.rv, 0
                items = sorted(st.objs[kind].items())
                items = [copy.deepcopy(o) for _, o in items if matches(o, fsel, lsel)]
            if q.get("resourceVersion") == "0":
                limit = 0  # served from the watch cache: whole
            page = items[start:start + limit] if limit else items[start:]
            nxt = start + len(page)
            md = {"resourceVersion": str(rv)}
            if limit and nxt < len(items):
                md["continue"] = base64.b64encode(json.dumps({"rv": rv, "start": nxt}).encode()).decode()
                md["remainingItemCount"] = len(items) - nxt
            kinds = {"pods": "PodList", "replicasets": "ReplicaSetList",
                     "namespaces": "NamespaceList", "nodes": "NodeList"}
            out = {"kind": "PartialObjectMetadataList" if meta else kinds[kind],
                   "apiVersion": "meta.k8s.io/v1" if meta else "v1", "metadata": md,
                   "items": [metadata_only(o) if meta else o for o in page]}
            self.send_json(200, out)

        def chunk(self, obj):
            data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def watch(self, kind, q, fsel, lsel, meta):
            timeout = float(q.get("timeoutSeconds") or 1800)
            bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
            rv = int(q.get("resourceVersion") or 0)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            end = time.monotonic() + timeout
            next_bm = time.monotonic() + a.bookmark_seconds
            with st.lock:
                st.stats["watches"] += 1
                gen = st.generation
                if rv and rv < st.compacted:
                    st.stats["gone"] += 1
                    gone = True
                else:
                    gone = False
                if not rv:
                    rv = st.rv
            try:
                if gone:
                    self.chunk({"type": "ERROR", "object": status(
                        410, "Expired", "too old resource version: %d (%d)" % (rv, st.compacted))})
                    self.wfile.write(b"0\r\n\r\n")
                    return
                while True:
                    with st.lock:
                        now = time.monotonic()
                        if st.generation != gen:
                            # cut mid-stream: no final chunk
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        newest = rv
                        if rv < st.compacted:
                            st.stats["gone"] += 1
                            out = [("ERROR", status(410, "Expired", "too old resource version"))]
                        else:
                            out = [(t, o) for (r, k, t, o) in st.history
                                   if r > rv and k == kind and matches(o, fsel, lsel)]
                            newest = st.history[-1][0] if st.history else rv
                        if not out and now < end and now < next_bm:
                            st.lock.wait(min(end, next_bm) - now)
                            continue
                        st.stats["events_sent"] += len(out)
                    for t, o in out:
                        self.chunk({"type": t, "object": metadata_only(o) if meta and t != "ERROR" else o})
                        if t == "ERROR":
                            self.wfile.write(b"0\r\n\r\n")
                            return
                    rv = max(rv, newest)
                    now = time.monotonic()
                    if now >= end:
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    if bookmarks and now >= next_bm:
                        with st.lock:
                            st.stats["bookmarks"] += 1
                            rv = max(rv, st.rv)
                        self.chunk({"type": "BOOKMARK", "object": {
                            "kind": {"pods": "Pod", "replicasets": "ReplicaSet", "namespaces": "Namespace",
                                     "nodes": "Node"}[kind],
                            "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}}})
                        next_bm = now + a.bookmark_seconds
            except OSError:
                return

    class Control(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, obj):
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with st.lock:
                s = dict(st.stats)
                s["rv"] = st.rv
                s["pods"] = len(st.objs["pods"])
            with conns_lock:
                s["connections"] = len(conns)
            self.reply(s)

        def do_POST(self):
            u = urllib.parse.urlsplit(self.path)
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"[]")
            with st.lock:
                if u.path == "/pods":
                    for sp in body:
                        key = "%s/%s" % (sp.get("namespace", "default"), sp["name"])
                        typ = "MODIFIED" if key in st.objs["pods"] else "ADDED"
                        st.put("pods", make_pod(sp, st), typ)
                elif u.path == "/replicasets":
                    for sp in body:
                        st.put("replicasets", make_rs(sp), "ADDED")
                elif u.path == "/namespaces":
                    for sp in body:
                        key = "/" + sp["name"]
                        st.put("namespaces", make_ns(sp),
                               "MODIFIED" if key in st.objs["namespaces"] else "ADDED")
                elif u.path == "/nodes":
                    for sp in body:
                        key = "/" + sp["name"]
                        st.put("nodes", make_node(sp),
                               "MODIFIED" if key in st.objs["nodes"] else "ADDED")
                elif u.path == "/delete":
                    kind = q.get("kind", "pods")
                    for key in body:
                        obj = st.objs[kind].get(key if kind == "pods" else "/" + key)
                        if obj:
                            st.put(kind, copy.deepcopy(obj), "DELETED")
                elif u.path == "/forbid":
                    st.forbidden = set(body)
                elif u.path == "/bulk_nodes":
                    for i in range(int(q.get("n", "100"))):
                        st.put("nodes", make_node({
                            "name": "node-%05d" % i,
                            "labels": {"topology.kubernetes.io/zone": "eu-west-1%s" % "abc"[i % 3],
                                       "topology.kubernetes.io/region": "eu-west-1",
                                       "node.kubernetes.io/pool": "pool-%d" % (i % 4)},
                            "annotations": {"team.example.com/owner": "infra-%d" % (i % 7)}}),
                            "ADDED")
                elif u.path == "/bulk":
                    count, node = int(q.get("n", "1000")), q.get("node", "node-1")
                    for i in range(count):
                        name = "bulk-%05d" % i
                        st.put("pods", make_pod({
                            "name": name, "namespace": "ns-%d" % (i % 20), "node": node,
                            "ip": "10.%d.%d.%d" % (100 + i // 65536, (i // 256) % 256, i % 256),
                            "labels": {"app": name, "app.kubernetes.io/name": "svc-%d" % (i % 50),
                                       "pod-template-hash": "7d4f8b9c5"},
                            "owner": {"kind": "ReplicaSet", "name": "svc-%d-7d4f8b9c5" % (i % 50)},
                            "containers": [{"name": "app", "image": "registry.example.com/team/svc:1.%d" % (i % 9),
                                            "id": "%064x" % (i + 1)},
                                           {"name": "sidecar", "image": "envoyproxy/envoy:v1.29",
                                            "id": "%064x" % (i + 1 + 10 ** 9)}],
                        }, st), "ADDED")
                elif u.path == "/compact":
                    # etcd compacts up to a revision it has: a watch from an
                    # older one is Gone, from the newest it is not.
                    st.next_rv()
                    st.compacted = st.rv
                    st.history = []
                    st.lock.notify_all()
                elif u.path == "/drop":
                    st.generation += 1
                    st.lock.notify_all()
                elif u.path == "/down":
                    ms = int(q.get("ms", "1000"))
                    threading.Thread(target=go_down, args=(ms,), daemon=True).start()
            self.reply({"ok": True, "rv": st.rv})

    srv = {"api": None}
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # /down and /drop cut connections on purpose: a reset or an SSL
            # error then is expected, not worth a traceback in the test log.
            if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
                return
            super().handle_error(request, client_address)

    def listen(port):
        s = Server(("127.0.0.1", port), Api, bind_and_activate=False)
        s.allow_reuse_address = True
        s.daemon_threads = True
        s.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.server_bind()
        s.server_activate()
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        return s

    def go_down(ms):
        s = srv["api"]
        port = s.server_address[1]
        s.shutdown()
        s.server_close()
        with conns_lock:
            for c in list(conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        with st.lock:
            st.generation += 1
            st.lock.notify_all()
        time.sleep(ms / 1000)
        srv["api"] = listen(port)

    srv["api"] = listen(a.port)
    ctl = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Control)
    ctl.daemon_threads = True
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    for path, port in ((a.port_file, srv["api"].server_address[1]),
                       (a.control_port_file, ctl.server_address[1])):
        with open(path + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(path + ".tmp", path)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
