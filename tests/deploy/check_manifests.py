#!/usr/bin/python3
"""check_manifests.py - the deployment recipes checked without a cluster.

What a cluster would refuse, or accept and then run wrong, found offline:

  * every file in deploy/kubernetes/ parses as YAML (no duplicate keys, as the
    API server's strict decoding refuses them), every object has the fields
    its kind requires, and the objects agree with each other: a Service or a
    PodDisruptionBudget selects a Deployment's pods, a targetPort or a probe
    names a port the container declares, a volume names a ConfigMap that
    exists, an HPA scales a Deployment whose containers request CPU, a PDB
    still lets one pod be evicted;
  * kubectl (Debian's kubernetes-client, or any on PATH) decodes every object
    into its typed API struct: unknown kinds, wrong field types and bad
    quantities fail. `kubectl set env --local` is the command that does that
    without a cluster (`apply`/`create --dry-run=client` need the server's
    discovery); objects whose apiVersion the client is too old to know are
    said so and left to the field rules;
  * RBAC: roles and bindings are well formed and name what exists, and the
    service account of every profcol pod is granted what its config reads
    from the Kubernetes API (k8s_attributes: pods, and replicasets or
    namespaces, nodes when its extract rules need them; resource_detection's
    k8s_api detector: get on nodes), with its token mounted;
  * every profcol config in a ConfigMap is found through the container that
    mounts it (args --config -> volumeMount -> volume -> ConfigMap key) and
    passes `profcol validate` with exactly the environment that container
    gets; its listening ports are the ones the probes and Services use, on an
    address the kubelet and other pods can reach;
  * the packaged config (deploy/config.yaml) validates as installed, with
    PROFCOL_LISTEN_HOST=0.0.0.0 as the container image sets it, and with its
    commented-out backend blocks uncommented;
  * the Containerfile exposes the packaged config's ports and runs as the uid
    the manifests ask for; the manifests' image tag is the project version.

--self-test then breaks the manifests in memory, one mistake at a time, and
fails unless each mistake is reported: the checks above can fail.

  check_manifests.py --profcol BIN --root DIR [--self-test]
  check_manifests.py extract FILE CONFIGMAP     print that ConfigMap's config.yaml
  check_manifests.py uncomment FILE             print FILE with its commented
                                                config lines uncommented
"""
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

# apiVersions newer than some kubectl a Debian machine may have (bookworm's
# kubernetes-client is 1.20): the Kubernetes minor release that added each.
API_SINCE = {"autoscaling/v2": 23, "policy/v1": 21}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
RBAC_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"}
FIELD_REF_VALUES = {"status.podIP": "10.0.0.10", "status.hostIP": "10.0.0.1",
                    "spec.nodeName": "node-1", "metadata.name": "pod-1",
                    "metadata.namespace": "default"}


# ---- YAML ------------------------------------------------------------------------------------

class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                "duplicate key %r (first at line %d)" % (key, seen[key] + 1), key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_docs(path, text=None):
    """[(index, object)] of the non-empty documents of a file."""
    if text is None:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    return [(i, d) for i, d in enumerate(yaml.load_all(text, Loader=StrictLoader)) if d is not None]


def uncomment(text):
    """The config with its commented-out config blocks put back.

    A commented block starts with '#' directly followed by a key ("#otlphttp:",
    "  #extensions: [...]"); prose comments have a space after the '#'. The
    block goes on over the lines right below it that have the '#' at the same
    column and two or more spaces after it ("  #  endpoint: ..."). An uncommented
    line replaces the line just before it when both set the same key at the
    same indent ("exporters: [debug]" then "#exporters: [otlphttp]")."""
    out, block = [], None
    for line in text.splitlines():
        m = re.match(r"^(\s*)#(\S.*)$", line)
        if m and re.match(r"[A-Za-z0-9_./-]+:", m.group(2)):
            block = m.group(1)
            new = m.group(1) + m.group(2)
        else:
            cont = re.match(r"^(\s*)#( {2,})(\S.*)$", line)
            if block is not None and cont and cont.group(1) == block:
                out.append(cont.group(1) + cont.group(2) + cont.group(3))
                continue
            block = None
            out.append(line)
            continue
        key = re.match(r"^(\s*)([A-Za-z0-9_./-]+):", new)
        prev = re.match(r"^(\s*)([A-Za-z0-9_./-]+):", out[-1]) if out else None
        if prev and prev.group(1) == key.group(1) and prev.group(2) == key.group(2):
            out[-1] = new
        else:
            out.append(new)
    return "\n".join(out) + "\n"


# ---- quantities, selectors, ports --------------------------------------------------------------

_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(v):
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(v))
    if not m:
        raise ValueError("bad quantity %r" % (v,))
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def subst_env(text, env):
    """${env:VAR}, ${VAR} and their :-default forms, as profcol's config does."""
    def one(m):
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        return default if default is not None else m.group(0)
    return re.sub(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", one, text)


def endpoint_port(ep):
    m = re.fullmatch(r"(.*):([0-9]+)", str(ep))
    return (m.group(1), int(m.group(2))) if m else (None, None)


# ---- the checks ------------------------------------------------------------------------------

class Checker:
    def __init__(self, profcol, root, verbose=True):
        self.profcol = profcol
        self.root = root
        self.verbose = verbose
        self.errors = []
        self.checks = 0

    def fail(self, where, msg):
        self.errors.append("%s: %s" % (where, msg))

    def ok(self, cond, where, msg):
        self.checks += 1
        if not cond:
            self.fail(where, msg)
        return cond

    def note(self, msg):
        if self.verbose:
            print("check_manifests: " + msg)

    # Each object is (file, index, obj); `where` names it for messages.
    @staticmethod
    def where(o):
        f, i, obj = o
        meta = obj.get("metadata") or {} if isinstance(obj, dict) else {}
        return "%s[%d] %s/%s" % (os.path.basename(f), i, obj.get("kind", "?") if isinstance(obj, dict)
                                 else "?", meta.get("name", "?"))

    def check_objects(self, objs):
        by_kind = {}
        for o in objs:
            obj = o[2]
            w = self.where(o)
            if not self.ok(isinstance(obj, dict), w, "a document is not a mapping"):
                continue
            for k in ("apiVersion", "kind", "metadata"):
                self.ok(k in obj, w, "missing %s" % k)
            self.ok(bool((obj.get("metadata") or {}).get("name")), w, "missing metadata.name")
            name = (obj.get("metadata") or {}).get("name", "")
            self.ok(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", str(name)) is not None and len(name) <= 63,
                    w, "metadata.name %r is not a DNS label" % name)
            by_kind.setdefault(obj.get("kind"), []).append(o)
        rules = {"Namespace": lambda o: None, "ConfigMap": self.check_configmap,
                 "ServiceAccount": lambda o: None,
                 "ClusterRole": self.check_role, "Role": self.check_role,
                 "ClusterRoleBinding": lambda o: self.check_binding(o, objs),
                 "RoleBinding": lambda o: self.check_binding(o, objs),
                 "Deployment": lambda o: self.check_workload(o, objs),
                 "DaemonSet": lambda o: self.check_workload(o, objs),
                 "Service": lambda o: self.check_service(o, objs),
                 "PodDisruptionBudget": lambda o: self.check_pdb(o, objs),
                 "HorizontalPodAutoscaler": lambda o: self.check_hpa(o, objs)}
        for kind, items in by_kind.items():
            for o in items:
                if self.ok(kind in rules, self.where(o), "no rules for kind %r here: add them" % kind):
                    try:
                        rules[kind](o)
                    except (AttributeError, KeyError, TypeError, ValueError) as e:
                        # A field of the wrong shape: say so, do not crash.
                        self.fail(self.where(o), "malformed (%s: %s)" % (type(e).__name__, e))
        self.check_namespaces(objs)

    @staticmethod
    def ns(o):
        return (o[2].get("metadata") or {}).get("namespace", "")

    def find(self, objs, kind, name, ns):
        for o in objs:
            md = o[2].get("metadata") or {}
            if o[2].get("kind") == kind and md.get("name") == name and self.ns(o) == ns:
                return o
        return None

    def check_namespaces(self, objs):
        names = {(o[2].get("metadata") or {}).get("name") for o in objs if o[2].get("kind") == "Namespace"}
        for o in objs:
            ns = self.ns(o)
            if o[2].get("kind") in CLUSTER_SCOPED:
                self.ok(not ns, self.where(o), "a cluster-scoped object with a namespace")
            elif ns and o[2].get("kind") != "Namespace":
                self.ok(ns in names, self.where(o), "namespace %r is not created by these manifests" % ns)

    def check_configmap(self, o):
        w, obj = self.where(o), o[2]
        data = obj.get("data")
        if not self.ok(isinstance(data, dict) and data, w, "missing data"):
            return
        for k, v in data.items():
            self.ok(isinstance(v, str), w, "data.%s is not a string" % k)

    # ---- RBAC ----------------------------------------------------------------------------------

    def check_role(self, o):
        w, obj = self.where(o), o[2]
        rules = obj.get("rules")
        if not self.ok(isinstance(rules, list) and rules, w, "missing rules"):
            return
        for i, r in enumerate(rules):
            rw = "%s rules[%d]" % (w, i)
            for k in ("apiGroups", "resources", "verbs"):
                v = r.get(k)
                self.ok(isinstance(v, list) and v and all(isinstance(x, str) for x in v), rw,
                        "%s must be a non-empty list of strings" % k)
            for v in r.get("verbs") or []:
                self.ok(v in RBAC_VERBS, rw, "unknown verb %r" % v)

    def check_binding(self, o, objs):
        w, obj = self.where(o), o[2]
        ref = obj.get("roleRef") or {}
        self.ok(ref.get("apiGroup") == "rbac.authorization.k8s.io", w, "roleRef.apiGroup must be "
                "rbac.authorization.k8s.io")
        kind = ref.get("kind")
        self.ok(kind in ("ClusterRole", "Role") and not (obj.get("kind") == "ClusterRoleBinding" and kind == "Role"),
                w, "roleRef.kind %r cannot be bound here" % kind)
        self.ok(self.find(objs, kind, ref.get("name"), "" if kind == "ClusterRole" else self.ns(o)) is not None,
                w, "roleRef %s/%s is not in these manifests" % (kind, ref.get("name")))
        subjects = obj.get("subjects")
        self.ok(isinstance(subjects, list) and subjects, w, "missing subjects")
        for sj in subjects or []:
            if sj.get("kind") == "ServiceAccount":
                self.ok(bool(sj.get("namespace")) or obj.get("kind") == "RoleBinding", w,
                        "subject ServiceAccount %r needs a namespace" % sj.get("name"))
                self.ok(self.find(objs, "ServiceAccount", sj.get("name"), sj.get("namespace") or self.ns(o))
                        is not None, w, "subject ServiceAccount %s/%s is not in these manifests"
                        % (sj.get("namespace") or self.ns(o), sj.get("name")))

    def granted(self, objs, ns, sa):
        """{(apiGroup, resource): set(verbs)} that ServiceAccount ns/sa is bound to
        (ClusterRoleBindings anywhere, RoleBindings in ns)."""
        out = {}
        for b in objs:
            kind = b[2].get("kind")
            if kind not in ("ClusterRoleBinding", "RoleBinding"):
                continue
            if not any(sj.get("kind") == "ServiceAccount" and sj.get("name") == sa
                       and (sj.get("namespace") or self.ns(b)) == ns for sj in b[2].get("subjects") or []):
                continue
            if kind == "RoleBinding" and self.ns(b) != ns:
                continue  # grants only in its own namespace: not what a cluster-wide watch needs
            ref = b[2].get("roleRef") or {}
            role = self.find(objs, ref.get("kind"), ref.get("name"),
                             "" if ref.get("kind") == "ClusterRole" else self.ns(b))
            for r in (role[2].get("rules") or []) if role else []:
                for g in r.get("apiGroups") or []:
                    for res in r.get("resources") or []:
                        out.setdefault((g, res), set()).update(r.get("verbs") or [])
        return out

    @staticmethod
    def api_needs(text, env):
        """{(apiGroup, resource): (verbs, why)} that a profcol config reads from the
        Kubernetes API with the pod's service account, as profcol's k8s_attributes
        and k8s_api detector do (processor/k8s_attributes.c, detectors.c)."""
        cfg = yaml.safe_load(subst_env(text, env)) or {}
        needs = {}

        def need(key, verbs, why):  # what two components read adds up
            old = needs.get(key)
            needs[key] = (old[0] | verbs, old[1] + " and " + why) if old else (verbs, why)
        for pid, pc in (cfg.get("processors") or {}).items():
            typ, pc = pid.split("/")[0], pc or {}
            if typ in ("k8s_attributes", "k8sattributes") and not pc.get("passthrough") \
                    and pc.get("auth_type", "serviceAccount") == "serviceAccount":
                needs[("", "pods")] = ({"list", "watch"}, pid)
                ex = pc.get("extract") or {}
                md = ex.get("metadata", ["k8s.deployment.name"])
                if ("k8s.deployment.name" in md and not ex.get("deployment_name_from_replicaset")) \
                        or "k8s.deployment.uid" in md:
                    needs[("apps", "replicasets")] = ({"list", "watch"}, pid + " (k8s.deployment.name)")
                if any((r or {}).get("from") == "namespace" for k in ("labels", "annotations")
                       for r in ex.get(k) or []):
                    needs[("", "namespaces")] = ({"list", "watch"}, pid + " (a rule from: namespace)")
                if any((r or {}).get("from") == "node" for k in ("labels", "annotations")
                       for r in ex.get(k) or []) or "k8s.node.uid" in md:
                    need(("", "nodes"), {"list", "watch"}, pid + " (a rule from: node or k8s.node.uid)")
            if typ in ("resource_detection", "resourcedetection"):
                dets = pc.get("detectors") or []
                for d in ("k8s_api", "k8snode"):
                    if d in dets and (pc.get(d) or {}).get("auth_type", "serviceAccount") == "serviceAccount":
                        need(("", "nodes"), {"get"}, pid + "'s " + d + " detector")
        return needs

    def check_rbac(self, o, objs, cw, texts, env):
        pod = self.pod_spec(o[2])
        needs = {}
        for t in texts:
            needs.update(self.api_needs(t, env))
        if not needs:
            return
        sa = pod.get("serviceAccountName") or "default"
        ns = self.ns(o)
        self.ok(self.find(objs, "ServiceAccount", sa, ns) is not None, cw,
                "its config reads the Kubernetes API as ServiceAccount %s/%s, which is not in these manifests"
                % (ns, sa))
        self.ok(pod.get("automountServiceAccountToken") is not False, cw,
                "its config reads the Kubernetes API but the pod does not mount the service account token")
        have = self.granted(objs, ns, sa)
        for (group, res), (verbs, why) in sorted(needs.items()):
            got = have.get((group, res), set()) | have.get((group, "*"), set()) | have.get(("*", res), set())
            missing = verbs - got if "*" not in got else set()
            self.ok(not missing, cw, "%s needs %s %s on %s%s; ServiceAccount %s/%s is not granted it"
                    % (why, "/".join(sorted(missing)), "verb" if len(missing) == 1 else "verbs",
                       res, " (apiGroup %s)" % group if group else "", ns, sa))

    def pod_spec(self, obj):
        return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}

    def containers(self, obj):
        spec = self.pod_spec(obj)
        return [("initContainers", c) for c in spec.get("initContainers") or []] + \
               [("containers", c) for c in spec.get("containers") or []]

    def check_workload(self, o, objs):
        w, obj = self.where(o), o[2]
        spec = obj.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        self.ok(bool(sel), w, "missing spec.selector.matchLabels")
        self.ok(isinstance(spec.get("replicas", 1), int), w, "spec.replicas is not an integer")
        self.ok(labels_match(sel, tlabels), w, "spec.selector does not select the pod template's labels")
        pod = self.pod_spec(obj)
        self.ok(bool(pod.get("containers")), w, "missing spec.template.spec.containers")
        vols = {v.get("name"): v for v in pod.get("volumes") or []}
        names = set()
        for where_list, c in self.containers(obj):
            cw = "%s %s %r" % (w, where_list, c.get("name"))
            self.ok(bool(c.get("name")) and bool(c.get("image")), cw, "a container needs name and image")
            self.ok(c.get("name") not in names, cw, "container name used twice")
            names.add(c.get("name"))
            ports = {}
            for p in c.get("ports") or []:
                cp = p.get("containerPort")
                self.ok(isinstance(cp, int) and 0 < cp < 65536, cw, "bad containerPort %r" % (cp,))
                if "name" in p:
                    self.ok(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", p["name"]) is not None
                            and len(p["name"]) <= 15, cw, "port name %r is not an IANA_SVC_NAME" % p["name"])
                    self.ok(p["name"] not in ports, cw, "port name %r used twice" % p["name"])
                    ports[p["name"]] = cp
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                pr = c.get(probe)
                if pr is None:
                    continue
                port = (pr.get("httpGet") or pr.get("tcpSocket") or pr.get("grpc") or {}).get("port")
                self.ok(port is not None, cw, "%s has no port" % probe)
                if isinstance(port, str):
                    self.ok(port in ports, cw, "%s names port %r, which the container does not declare"
                            % (probe, port))
            if where_list == "initContainers" and c.get("restartPolicy") != "Always":
                self.ok(not any(c.get(p) for p in ("readinessProbe", "livenessProbe", "startupProbe")), cw,
                        "probes on an init container need restartPolicy: Always (a native sidecar)")
            res = c.get("resources") or {}
            for r, q in (res.get("requests") or {}).items():
                lim = (res.get("limits") or {}).get(r)
                try:
                    if lim is not None:
                        self.ok(quantity(q) <= quantity(lim), cw, "requests.%s %s above limits.%s %s"
                                % (r, q, r, lim))
                except ValueError as e:
                    self.fail(cw, str(e))
            for vm in c.get("volumeMounts") or []:
                self.ok(vm.get("name") in vols, cw, "volumeMount %r names no volume" % vm.get("name"))
                self.ok(str(vm.get("mountPath", "")).startswith("/"), cw, "volumeMount without absolute mountPath")
        for v in vols.values():
            cm = v.get("configMap")
            if cm:
                self.ok(self.find(objs, "ConfigMap", cm.get("name"), self.ns(o)) is not None, w,
                        "volume %r names ConfigMap %r, not in these manifests (namespace %r)"
                        % (v.get("name"), cm.get("name"), self.ns(o)))

    def pods_selected(self, objs, sel, ns):
        return [o for o in objs if o[2].get("kind") in ("Deployment", "StatefulSet", "DaemonSet")
                and self.ns(o) == ns and labels_match(sel, ((o[2].get("spec") or {}).get("template") or {})
                                                      .get("metadata", {}).get("labels") or {})]

    def check_service(self, o, objs):
        w, obj = self.where(o), o[2]
        spec = obj.get("spec") or {}
        sel = spec.get("selector") or {}
        targets = self.pods_selected(objs, sel, self.ns(o))
        self.ok(bool(targets), w, "spec.selector %r selects no pod template here" % (sel,))
        self.ok(bool(spec.get("ports")), w, "missing spec.ports")
        for p in spec.get("ports") or []:
            self.ok(isinstance(p.get("port"), int), w, "port without an integer port")
            tp = p.get("targetPort", p.get("port"))
            for t in targets:
                declared = {pp.get("name"): pp.get("containerPort") for _, c in self.containers(t[2])
                            for pp in c.get("ports") or []}
                if isinstance(tp, str):
                    self.ok(tp in declared, w, "targetPort %r is not a port of %s" % (tp, self.where(t)))
                else:
                    self.ok(tp in declared.values(), w, "targetPort %r is not a port of %s" % (tp, self.where(t)))

    def check_pdb(self, o, objs):
        w, spec = self.where(o), o[2].get("spec") or {}
        self.ok(("minAvailable" in spec) != ("maxUnavailable" in spec), w,
                "needs exactly one of minAvailable and maxUnavailable")
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        targets = self.pods_selected(objs, sel, self.ns(o))
        self.ok(bool(targets), w, "spec.selector selects no pod template here")
        for t in targets:
            replicas = (t[2].get("spec") or {}).get("replicas", 1)
            if not isinstance(replicas, int):
                continue  # reported by the Deployment's rules
            hpa_min = [h[2]["spec"].get("minReplicas", 1) for h in objs
                       if h[2].get("kind") == "HorizontalPodAutoscaler"
                       and (h[2].get("spec") or {}).get("scaleTargetRef", {}).get("name")
                       == t[2]["metadata"]["name"]]
            floor = min([replicas] + hpa_min)
            if isinstance(spec.get("minAvailable"), int):
                self.ok(spec["minAvailable"] < floor, w, "minAvailable %d with %d replicas: no pod could "
                        "ever be evicted (node drains would hang)" % (spec["minAvailable"], floor))

    def check_hpa(self, o, objs):
        w, spec = self.where(o), o[2].get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        target = self.find(objs, ref.get("kind"), ref.get("name"), self.ns(o))
        self.ok(target is not None, w, "scaleTargetRef %s/%s is not in these manifests"
                % (ref.get("kind"), ref.get("name")))
        self.ok(isinstance(spec.get("maxReplicas"), int), w, "missing maxReplicas")
        self.ok(spec.get("minReplicas", 1) <= spec.get("maxReplicas", 0), w, "minReplicas above maxReplicas")
        for m in spec.get("metrics") or []:
            res = (m.get("resource") or {})
            if m.get("type") == "Resource" and (res.get("target") or {}).get("type") == "Utilization" \
                    and target is not None:
                for _, c in self.containers(target[2]):
                    self.ok(res.get("name") in ((c.get("resources") or {}).get("requests") or {}), w,
                            "%s utilization needs every container of %s to request %s (%r does not)"
                            % (res.get("name"), self.where(target), res.get("name"), c.get("name")))

    # ---- profcol configs --------------------------------------------------------------------

    def validate(self, where, text, env):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(text)
            path = f.name
        try:
            full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
                if k in os.environ:
                    full_env[k] = os.environ[k]
            full_env.update(env)
            r = subprocess.run([self.profcol, "validate", "--config", path], env=full_env,
                               capture_output=True, text=True, timeout=60)
            self.ok(r.returncode == 0, where, "profcol validate failed (exit %d): %s"
                    % (r.returncode, (r.stderr + r.stdout).strip().replace(path, "<config>")))
        finally:
            os.unlink(path)

    def container_env(self, c):
        env = {}
        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "valueFrom" in e:
                fr = (e["valueFrom"].get("fieldRef") or {}).get("fieldPath")
                env[e["name"]] = FIELD_REF_VALUES.get(fr, "placeholder")
        return env

    def check_profcol_configs(self, objs):
        used = set()
        for o in objs:
            if o[2].get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
                continue
            pod = self.pod_spec(o[2])
            vols = {v.get("name"): v for v in pod.get("volumes") or []}
            for _, c in self.containers(o[2]):
                if not str(c.get("image", "")).startswith("profcol"):
                    continue
                cw = "%s container %r" % (self.where(o), c.get("name"))
                args = [str(a) for a in (c.get("args") or [])]
                cfgs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--config"]
                if not self.ok(bool(cfgs), cw, "profcol without --config: it would run the built-in config"):
                    continue
                texts = []
                for path in cfgs:
                    mounts = [m for m in c.get("volumeMounts") or []
                              if path.startswith(m.get("mountPath", "").rstrip("/") + "/")]
                    if not self.ok(len(mounts) == 1, cw, "--config %s is under no volumeMount" % path):
                        continue
                    m = mounts[0]
                    key = path[len(m["mountPath"].rstrip("/")) + 1:]
                    cm_ref = (vols.get(m["name"]) or {}).get("configMap") or {}
                    cm = self.find(objs, "ConfigMap", cm_ref.get("name"), self.ns(o))
                    if not self.ok(cm is not None, cw, "--config %s: volume %r is no ConfigMap here"
                                   % (path, m["name"])):
                        continue
                    used.add((self.ns(cm), cm[2]["metadata"]["name"]))
                    data = cm[2].get("data") or {}
                    if self.ok(key in data, cw, "--config %s: ConfigMap %r has no key %r"
                               % (path, cm[2]["metadata"]["name"], key)):
                        texts.append(data[key])
                if not texts:
                    continue
                env = self.container_env(c)
                for t in texts:
                    self.validate(cw, t, env)
                self.check_ports(cw, c, texts, env)
                self.check_rbac(o, objs, cw, texts, env)
                self.note("%s: its config validates with the container's env" % cw)
        for o in objs:
            md = o[2].get("metadata") or {}
            if o[2].get("kind") == "ConfigMap" and (md.get("labels") or {}).get("app.kubernetes.io/name") == "profcol":
                self.ok((self.ns(o), md.get("name")) in used, self.where(o),
                        "a profcol ConfigMap no profcol container reads")

    def check_ports(self, cw, c, texts, env):
        """The probes hit health_check's port on a reachable address; each declared
        container port is one the config listens on, reachable from outside the pod."""
        merged = {}
        for t in texts:
            cfg = yaml.safe_load(subst_env(t, env)) or {}
            for sect in ("receivers", "extensions", "service"):
                merged.setdefault(sect, {}).update(cfg.get(sect) or {})
        listen, health = {}, None
        for rid, r in merged["receivers"].items():
            for proto, p in (((r or {}).get("protocols")) or {}).items():
                host, port = endpoint_port((p or {}).get("endpoint", ""))
                if port:
                    listen[port] = (host, "receivers.%s.protocols.%s" % (rid, proto))
        for eid, e in merged["extensions"].items():
            if eid.split("/")[0] == "health_check":
                host, port = endpoint_port((e or {}).get("endpoint", "localhost:13133"))
                listen[port] = (host, "extensions." + eid)
                health = port
            elif eid.split("/")[0] == "span_store" and (e or {}).get("endpoint"):
                host, port = endpoint_port(e["endpoint"])  # the trace-linking query API
                listen[port] = (host, "extensions." + eid)
        metrics = (((merged["service"].get("telemetry") or {}).get("metrics")) or {})
        if metrics.get("level") != "none":
            host, port = endpoint_port(metrics.get("address", "localhost:8888"))
            listen[port] = (host, "service.telemetry.metrics")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        for name, port in ports.items():
            if self.ok(port in listen, cw, "declares port %s %r, which its config does not listen on"
                       % (name, port)):
                host = listen[port][0]
                self.ok(host not in ("localhost", "127.0.0.1", "::1", "[::1]"), cw,
                        "port %s %r is declared but %s listens on %s only" % (name, port, listen[port][1], host))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            pr = c.get(probe)
            if not pr:
                continue
            port = (pr.get("httpGet") or {}).get("port")
            port = ports.get(port, port)
            self.ok(health is not None and port == health, cw,
                    "%s probes port %r, not health_check's" % (probe, port))

    # ---- kubectl ----------------------------------------------------------------------------

    def kubectl_decode(self, objs, kubectl):
        home = tempfile.mkdtemp(prefix="pc-kubectl-")
        try:
            ver = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, errors="replace",
                                 text=True, timeout=60, env={"HOME": home, "PATH": os.environ["PATH"]})
            try:
                cv = json.loads(ver.stdout)["clientVersion"]
                minor = int(re.match(r"[0-9]+", cv["minor"]).group(0))
                self.note("kubectl %s (%s)" % (cv.get("gitVersion"), kubectl))
            except (ValueError, KeyError, AttributeError):
                self.fail(kubectl, "cannot read its client version: %s" % (ver.stdout + ver.stderr)[:300])
                return
            for o in objs:
                obj = o[2]
                w = self.where(o)
                since = API_SINCE.get(obj.get("apiVersion"))
                if since and minor < since:
                    self.note("%s: kubectl 1.%d predates %s (1.%d): checked by the field rules only"
                              % (w, minor, obj.get("apiVersion"), since))
                    continue
                path = os.path.join(home, "obj.json")
                with open(path, "w") as f:
                    json.dump(obj, f)
                # Decodes into the typed object, touches only pod templates,
                # never contacts a server (--local).
                r = subprocess.run([kubectl, "set", "env", "--local", "-f", path, "PC_CHECK=1", "-o", "name"],
                                   capture_output=True, text=True, errors="replace", timeout=60,
                                   env={"HOME": home, "PATH": os.environ["PATH"], "KUBECONFIG": "/dev/null"})
                # Decoded, just not a workload: "error: KIND/NAME <newline> the
                # object is not a pod or does not have a pod template: *TYPE".
                rest = re.sub(r"error: \S+\s+the object is not a pod or does not have a pod template: \*\S+",
                              "", r.stderr or "").strip()
                self.ok(not rest, w, "kubectl cannot decode it: %s"
                        % " / ".join(rest.splitlines()).replace(path, "<obj>"))
        finally:
            shutil.rmtree(home, ignore_errors=True)

    # ---- packaged config and Containerfile ----------------------------------------------------

    def check_packaged_config(self):
        path = os.path.join(self.root, "deploy", "config.yaml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.validate("deploy/config.yaml", text, {})
        self.validate("deploy/config.yaml with PROFCOL_LISTEN_HOST=0.0.0.0", text, {"PROFCOL_LISTEN_HOST": "0.0.0.0"})
        unc = uncomment(text)
        self.ok(unc != text, "deploy/config.yaml", "no commented-out config lines found")
        self.validate("deploy/config.yaml uncommented", unc, {})

    def packaged_ports(self):
        with open(os.path.join(self.root, "deploy", "config.yaml"), encoding="utf-8") as f:
            text = subst_env(f.read(), {})
        return sorted({int(p) for p in re.findall(r"^\s*(?:endpoint|address):\s*\S+:([0-9]+)\s*$", text, re.M)})

    def check_containerfile(self, objs):
        path = os.path.join(self.root, "Containerfile")
        with open(path, encoding="utf-8") as f:
            text = re.sub(r"\\\n", " ", f.read())  # join continued lines
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        expose = sorted(int(p.split("/")[0]) for ln in lines if ln.startswith("EXPOSE ") for p in ln.split()[1:])
        self.ok(expose == self.packaged_ports(), "Containerfile", "EXPOSE %s, the packaged config listens on %s"
                % (expose, self.packaged_ports()))
        users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
        self.ok(bool(users) and re.fullmatch(r"[0-9]+(:[0-9]+)?", users[-1]) is not None, "Containerfile",
                "the last USER must be numeric (uid:gid) so that runAsNonRoot can check it")
        uid = users[-1].split(":")[0] if users else None
        self.ok(any("HEALTHCHECK" in ln and "13133" in ln for ln in lines), "Containerfile",
                "no HEALTHCHECK on health_check's port 13133")
        with open(os.path.join(self.root, "meson.build"), encoding="utf-8") as f:
            version = re.search(r"version:\s*'([^']+)'", f.read()).group(1)
        for o in objs:
            if o[2].get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
                continue
            pod = self.pod_spec(o[2])
            for _, c in self.containers(o[2]):
                if not str(c.get("image", "")).startswith("profcol"):
                    continue
                cw = "%s container %r" % (self.where(o), c.get("name"))
                self.ok(c["image"] == "profcol:" + version, cw, "image %s, the project is at version %s"
                        % (c["image"], version))
                sc = dict(pod.get("securityContext") or {})
                sc.update(c.get("securityContext") or {})
                self.ok(str(sc.get("runAsUser")) == uid, cw, "runAsUser %r, the image's USER is %r"
                        % (sc.get("runAsUser"), uid))
                self.ok(sc.get("runAsNonRoot") is True, cw, "runAsNonRoot is not set")


def run_all(checker, files, texts, kubectl):
    objs = []
    for path in files:
        try:
            objs += [(path, i, d) for i, d in load_docs(path, texts.get(path))]
            checker.checks += 1
        except yaml.YAMLError as e:
            checker.fail(os.path.basename(path), "not valid YAML: %s" % str(e).replace("\n", " "))
    checker.check_objects(objs)
    checker.check_profcol_configs(objs)
    checker.check_containerfile(objs)
    if kubectl:
        checker.kubectl_decode(objs, kubectl)
    return objs


# Mistakes a user could make; --self-test expects each to be reported.
def _mutations():
    def cm(name):
        return lambda objs: next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name)

    def dep(name):
        return lambda objs: next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == name)

    def first_kind(kind):
        return lambda objs: next(o for o in objs if o["kind"] == kind)

    def set_cfg(name, old, new):
        def f(objs):
            d = cm(name)(objs)["data"]
            assert old in d["config.yaml"], old
            d["config.yaml"] = d["config.yaml"].replace(old, new, 1)
        return f

    def first_container(objs, name):
        pod = dep(name)(objs)["spec"]["template"]["spec"]
        return (pod.get("initContainers") or []) + pod["containers"]

    def prof(name):
        return lambda objs: next(c for c in first_container(objs, name) if c["image"].startswith("profcol"))

    def ds(name):
        return lambda objs: next(o for o in objs if o["kind"] == "DaemonSet" and o["metadata"]["name"] == name)

    def ds_prof(objs):
        return next(c for c in ds("profcol-agent")(objs)["spec"]["template"]["spec"]["containers"]
                    if c["image"].startswith("profcol"))

    def role_rule(resource):
        return lambda objs: next(r for r in first_kind("ClusterRole")(objs)["rules"] if resource in r["resources"])

    return [
        ("a config key misspelled", "gateway.yaml", set_cfg("profcol-gateway", "send_batch_size", "send_bacth_size")),
        ("an env var the config needs not set", "gateway.yaml", lambda objs: prof("profcol-gateway")(objs)
         .__setitem__("env", [])),
        ("the ConfigMap renamed", "sidecar.yaml", lambda objs: cm("profcol-sidecar")(objs)["metadata"]
         .__setitem__("name", "profcol-side")),
        ("a Service targetPort misnamed", "gateway.yaml", lambda objs: first_kind("Service")(objs)["spec"]
         ["ports"][0].__setitem__("targetPort", "otlp-grcp")),
        ("health_check on localhost only", "gateway.yaml",
         set_cfg("profcol-gateway", "endpoint: 0.0.0.0:13133", "endpoint: localhost:13133")),
        ("a load_balancing resolver unknown to profcol", "two-tier.yaml",
         set_cfg("profcol-load-balancer", "      dns:", "      k8s:")),
        ("the query API declared but not listened on", "two-tier.yaml",
         set_cfg("profcol-trace-gateway", "endpoint: 0.0.0.0:13134", "endpoint: 0.0.0.0:13135")),
        ("a probe on the wrong port", "sidecar.yaml", lambda objs: prof("example-app")(objs)["livenessProbe"]
         ["httpGet"].__setitem__("port", 4318)),
        ("a bad memory quantity", "gateway.yaml", lambda objs: prof("profcol-gateway")(objs)["resources"]
         ["limits"].__setitem__("memory", "512Zi")),
        ("the HPA scaling a missing Deployment", "gateway.yaml", lambda objs: first_kind("HorizontalPodAutoscaler")
         (objs)["spec"]["scaleTargetRef"].__setitem__("name", "profcol-gw")),
        ("a PDB that blocks every eviction", "gateway.yaml", lambda objs: first_kind("PodDisruptionBudget")(objs)
         ["spec"].__setitem__("minAvailable", 2)),
        ("a misspelled kind", "gateway.yaml", lambda objs: first_kind("PodDisruptionBudget")(objs)
         .__setitem__("kind", "PodDisruptionBudgett")),
        ("a replica count of the wrong type", "gateway.yaml", lambda objs: dep("profcol-gateway")(objs)["spec"]
         .__setitem__("replicas", "two")),
        ("an old image tag", "sidecar.yaml", lambda objs: prof("example-app")(objs).__setitem__("image", "profcol:0.0.9")),
        ("the agent's role without watch on pods", "daemonset.yaml",
         lambda objs: role_rule("pods")(objs).__setitem__("verbs", ["get", "list"]), "needs watch verb on pods;"),
        ("the agent's role without replicasets", "daemonset.yaml",
         lambda objs: first_kind("ClusterRole")(objs)["rules"].remove(role_rule("replicasets")(objs)),
         "on replicasets (apiGroup apps)"),
        ("a namespace label rule and no namespaces in the role", "daemonset.yaml",
         lambda objs: role_rule("pods")(objs).__setitem__("resources", ["pods", "nodes"]),
         "needs list/watch verbs on namespaces;"),
        ("a node label rule and only get on nodes in the role", "daemonset.yaml",
         lambda objs: (role_rule("pods")(objs).__setitem__("resources", ["pods", "namespaces"]),
                       first_kind("ClusterRole")(objs)["rules"].append(
                           {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]})),
         "needs list/watch verbs on nodes;"),
        ("the agent running as another service account", "daemonset.yaml",
         lambda objs: ds("profcol-agent")(objs)["spec"]["template"]["spec"]
         .__setitem__("serviceAccountName", "default")),
        ("the binding naming a missing role", "daemonset.yaml",
         lambda objs: first_kind("ClusterRoleBinding")(objs)["roleRef"].__setitem__("name", "profcol-agnet")),
        ("the service account token not mounted", "daemonset.yaml",
         lambda objs: ds("profcol-agent")(objs)["spec"]["template"]["spec"]
         .__setitem__("automountServiceAccountToken", False), "does not mount the service account token"),
        ("the node name not given to the agent", "daemonset.yaml",
         lambda objs: ds_prof(objs).__setitem__("env", [e for e in ds_prof(objs)["env"]
                                                        if e["name"] != "K8S_NODE_NAME"]),
         "envvar \"K8S_NODE_NAME\" is not set"),
        ("a DaemonSet selecting other pods", "daemonset.yaml", lambda objs: ds("profcol-agent")(objs)["spec"]
         ["selector"]["matchLabels"].__setitem__("app.kubernetes.io/component", "gateway")),
        ("an apiVersion that does not serve the kind", "sidecar.yaml", lambda objs: dep("example-app")(objs)
         .__setitem__("apiVersion", "apps/v1beta3"), "kubectl cannot decode"),
    ]


def self_test(profcol, root, files, kubectl):
    """Each mutation must add at least one error to a clean run's none."""
    failed = 0
    for what, fname, mutate, *expect in _mutations():
        if expect and "kubectl" in expect[0] and not kubectl:
            continue
        texts = {}
        path = next(f for f in files if os.path.basename(f) == fname)
        docs = [d for _, d in load_docs(path)]
        mutate(docs)
        texts[path] = yaml.safe_dump_all(docs, sort_keys=False)
        c = Checker(profcol, root, verbose=False)
        # kubectl (the slow part) only where it is the check being tested.
        run_all(c, files, texts, kubectl if expect and "kubectl" in expect[0] else None)
        hits = [e for e in c.errors if not expect or expect[0] in e]
        if hits:
            print("check_manifests: self-test: %s: caught (%s)" % (what, hits[0][:160]))
        else:
            print("check_manifests: self-test: FAIL: %s was not reported" % what)
            failed += 1
    # The uncommenter and the duplicate-key loader on their own.
    dup = "a: 1\na: 2\n"
    try:
        yaml.load(dup, Loader=StrictLoader)
        print("check_manifests: self-test: FAIL: a duplicate key was not reported")
        failed += 1
    except yaml.YAMLError:
        print("check_manifests: self-test: a duplicate key: caught")
    got = uncomment("x:\n  # prose: text\n  a: [1]\n  #a: [2]\n  #b:\n  #  c: 3\n  # d: prose\n")
    if got != "x:\n  # prose: text\n  a: [2]\n  b:\n    c: 3\n  # d: prose\n":
        print("check_manifests: self-test: FAIL: uncomment gave %r" % got)
        failed += 1
    return failed


def main(argv):
    if len(argv) >= 2 and argv[1] == "extract":
        for _, d in load_docs(argv[2]):
            if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == argv[3]:
                sys.stdout.write(d["data"]["config.yaml"])
                return 0
        print("check_manifests: no ConfigMap %r in %s" % (argv[3], argv[2]), file=sys.stderr)
        return 1
    if len(argv) >= 2 and argv[1] == "uncomment":
        with open(argv[2], encoding="utf-8") as f:
            sys.stdout.write(uncomment(f.read()))
        return 0
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profcol", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args(argv[1:])
    files = sorted(glob.glob(os.path.join(a.root, "deploy", "kubernetes", "*.yaml")))
    if not files:
        print("check_manifests: no manifests in deploy/kubernetes", file=sys.stderr)
        return 1
    kubectl = shutil.which("kubectl")
    if not kubectl and os.environ.get("PC_SKIP_KUBECTL") != "1":
        print("check_manifests: kubectl not found (scripts/install-deps.sh installs Debian's "
              "kubernetes-client; PC_SKIP_KUBECTL=1 skips it)", file=sys.stderr)
        return 1
    c = Checker(a.profcol, a.root)
    run_all(c, files, {}, kubectl)
    c.check_packaged_config()
    for e in c.errors:
        print("check_manifests: FAIL: " + e, file=sys.stderr)
    print("check_manifests: %d files, %d checks, %d failed" % (len(files), c.checks, len(c.errors)))
    failed = len(c.errors)
    if a.self_test and not failed:
        failed += self_test(a.profcol, a.root, files, kubectl)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
