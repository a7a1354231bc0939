#!/usr/bin/python3
"""browser.py - drive headless Chromium (Debian's chromium) through the
DevTools protocol (Debian's python3-websocket) against profcol's flame graph
page, for tests/e2e/test_ui.c.

It loads the page, types the trace id into its box as a user would (real key
input), presses Show, waits for the flame graph, and reads the DOM that
d3-flame-graph drew: one <g name=FRAME width=PIXELS> per frame. Checks:
  --expect NAME=VALUE   the frame is drawn, its width / the widest frame's
                        width equals VALUE / the root frame's VALUE (the
                        first --expect), within one pixel
  --absent NAME         the frame is not drawn
  --service-view SVC    then switch to the whole window of service SVC and
  --window-expect N=V   check widths there the same way (against the first)
  --marked / --unmarked NAME   a frame is drawn in the trace's colour, or not
  --search TERM         type TERM in the search box: the frames whose names
                        hold it turn to d3-flame-graph's highlight colour
  --export              the page's export buttons save the folded stacks the API
                        gives for the trace, and a gzip'd pprof
  --controls T2=FRAME   after the rest: a click on frame FRAME zooms it to the
                        chart's width and Reset zoom undoes it; the sample type
                        selector offers alloc:bytes and draws frame "alloc" from
                        it; a click on trace T2's row in the list of recent
                        traces (which shows its root span and service) draws
                        T2, whose frame "other" appears
  --min-frames N        at least N frames drawn
  --measure             print the render time the page measured
  --screenshot PATH     a PNG of the page at the end
and that nothing was logged to the console at error level and no script
threw, and that the page works with no network: Chromium resolves no host name
but 127.0.0.1 and localhost, and every request the page makes goes to the
profcol it came from (or is a data: or blob: URL, the exports). Exit status 0 when every check passed; each failure is printed.
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--mute-audio",
                  "--hide-scrollbars", "--window-size=1400,1000",
                  "--remote-debugging-port=0", "--remote-allow-origins=*",
                  # no network but loopback: a CDN link or a web font would fail
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, "
                  "EXCLUDE 127.0.0.1"]
HIGHLIGHT = "#E600E6"  # d3-flame-graph's colour for search matches

failures = []


def fail(msg):
    failures.append(msg)
    print("browser.py: FAIL: " + msg, flush=True)


def info(msg):
    print("browser.py: " + msg, flush=True)


class Chromium:
    """A headless Chromium with a fresh profile, and one page's DevTools session."""

    def __init__(self, timeout):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            raise SystemExit("browser.py: no chromium on PATH (scripts/install-deps.sh installs "
                             "Debian's chromium)")
        self.dir = tempfile.mkdtemp(prefix="profcol-chromium-")
        self.log = open(os.path.join(self.dir, "chromium.log"), "w+")
        self.proc = subprocess.Popen([exe] + CHROMIUM_FLAGS +
                                     ["--user-data-dir=" + self.dir, "about:blank"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.timeout = timeout
        port = self._port()
        page = None
        deadline = time.time() + timeout
        while page is None and time.time() < deadline:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port) as r:
                page = next((t for t in json.load(r) if t.get("type") == "page"), None)
            if page is None:
                time.sleep(0.1)
        if page is None:
            raise SystemExit("browser.py: chromium shows no page target")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = []

    def _port(self):
        path = os.path.join(self.dir, "DevToolsActivePort")
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with open(path) as f:
                    return int(f.readline())
            except (OSError, ValueError):
                time.sleep(0.05)
        self.log.seek(0)
        raise SystemExit("browser.py: chromium did not start:\n" + self.log.read()[-3000:])

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.ws.settimeout(max(0.05, deadline - time.time()))
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
        return None

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("script failed: %s: %s" % (expr[:80], r["exceptionDetails"]))
        return r["result"].get("value")

    def wait_js(self, expr, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.js(expr):
                return True
            time.sleep(0.05)
        fail("timed out waiting for " + what)
        return False

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# Every drawn frame: name, the width of its rectangle (what is seen) and of
# its <g> (the layout's, set at once), fill.
FRAMES_JS = """Array.from(document.querySelectorAll('#chart svg g.frame')).map(g => ({
  name: g.getAttribute('name'), layout: parseFloat(g.getAttribute('width')),
  width: parseFloat(g.querySelector('rect').getAttribute('width') || '0'),
  fill: g.querySelector('rect').getAttribute('fill')}))"""

# True once d3's transitions are over: every rectangle as wide as its frame.
SETTLED_JS = """Array.from(document.querySelectorAll('#chart svg g.frame')).every(g =>
  Math.abs(parseFloat(g.querySelector('rect').getAttribute('width') || '-9') -
           parseFloat(g.getAttribute('width'))) < 0.01)"""


def frames(c):
    drawn = {}
    for f in c.js(FRAMES_JS):
        drawn.setdefault(f["name"], f)  # the first (widest, outermost) of a name
    return drawn


def check_widths(drawn, pairs, what):
    """Widths proportional to values, against the first pair's frame."""
    if not pairs:
        return
    base_name, base_value = pairs[0]
    base = drawn.get(base_name)
    if not base:
        fail("%s: frame %r is not drawn (drawn: %s)" % (what, base_name, sorted(drawn)[:20]))
        return
    for name, value in pairs:
        f = drawn.get(name)
        if not f:
            fail("%s: frame %r is not drawn" % (what, name))
            continue
        want = base["width"] * value / base_value
        if abs(f["width"] - want) > 1.0:
            fail("%s: frame %r is %.1f px wide, want %.1f (value %d of %d)"
                 % (what, name, f["width"], want, value, base_value))
        else:
            info("%s: %s %.1f px (value %d) ok" % (what, name, f["width"], value))


def pairs_of(specs):
    out = []
    for s in specs or []:
        name, _, value = s.rpartition("=")
        out.append((name, int(value)))
    return out


def console_errors(c):
    errs = []
    for e in c.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errs.append("exception: " + str(d.get("exception", {}).get("description") or
                                            d.get("text")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errs.append("console.%s: %s" % (p["type"], " ".join(
                str(a.get("value", a.get("description"))) for a in p.get("args", []))))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errs.append("log: %s (%s)" % (p["entry"].get("text"), p["entry"].get("url", "")))
    return errs


def check_exports(c, a):
    """Click the export buttons: the files land in a download folder."""
    folder = tempfile.mkdtemp(prefix="profcol-downloads-")
    try:
        c.call("Page.setDownloadBehavior", behavior="allow", downloadPath=folder)
        api = a.url.split("/ui/")[0] + "/api/v1/traces/%s/profile" % a.trace
        req = urllib.request.Request(api)
        if a.token:
            req.add_header("Authorization", "Bearer " + a.token)
        with urllib.request.urlopen(req) as r:
            want = r.read()
        for button, name, check in (
                ("export-folded", "trace-%s.folded.txt" % a.trace, lambda b: b == want),
                ("export-pprof", "trace-%s.pb.gz" % a.trace, lambda b: b[:2] == b"\x1f\x8b")):
            c.js("document.getElementById(%s).click()" % json.dumps(button))
            path = os.path.join(folder, name)
            deadline = time.time() + a.timeout
            while not os.path.exists(path) and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)  # let the download finish writing
            if not os.path.exists(path):
                fail("export: %s saved no %s (folder: %s)" % (button, name, os.listdir(folder)))
                continue
            with open(path, "rb") as f:
                body = f.read()
            if not check(body):
                fail("export: %s is not what the API answers (%d bytes)" % (name, len(body)))
            else:
                info("export: %s, %d bytes ok" % (name, len(body)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def click_frame(c, name):
    box = c.js("""(() => { const g = Array.from(document.querySelectorAll('#chart g.frame'))
        .find(g => g.getAttribute('name') === %s); if (!g) return null;
        const r = g.querySelector('rect').getBoundingClientRect();
        return {x: r.x + Math.min(10, r.width / 2), y: r.y + r.height / 2}; })()"""
               % json.dumps(name))
    if not box:
        fail("controls: no frame %r to click" % name)
        return False
    for kind in ("mousePressed", "mouseReleased"):
        c.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left",
               clickCount=1)
    return True


def rendered(c):
    return int(c.js("document.body.dataset.rendered || '0'"))


def check_controls(c, a):
    """Zoom, the sample type selector and the list of recent traces, as a user uses them."""
    t2, _, frame = a.controls.partition("=")
    if c.js("document.getElementById('view-trace').getAttribute('aria-pressed')") != "true":
        n = rendered(c)  # back from the whole window: wait for the trace's redraw
        c.js("document.getElementById('view-trace').click()")
        c.wait_js("+(document.body.dataset.rendered || 0) > %d" % n, a.timeout, "the trace view")
    c.wait_js(SETTLED_JS, a.timeout, "the frames to settle")
    full = frames(c)
    root = max(f["width"] for f in full.values())
    before = full[frame]["width"] if frame in full else 0
    if click_frame(c, frame):
        c.wait_js("""(() => { const g = Array.from(document.querySelectorAll('#chart g.frame'))
            .find(g => g.getAttribute('name') === %s); return g && Math.abs(parseFloat(
            g.querySelector('rect').getAttribute('width')) - %f) < 1; })()"""
                  % (json.dumps(frame), root), a.timeout, "frame %r zoomed to the full width" % frame)
        c.wait_js(SETTLED_JS, a.timeout, "the zoom to settle")
        zoomed = frames(c).get(frame, {}).get("width", 0)
        c.js("document.getElementById('reset-zoom').click()")
        c.wait_js(SETTLED_JS + " && " + """(() => { const g = Array.from(document.querySelectorAll(
            '#chart g.frame')).find(g => g.getAttribute('name') === %s); return g && Math.abs(
            parseFloat(g.querySelector('rect').getAttribute('width')) - %f) < 1; })()"""
                  % (json.dumps(frame), before), a.timeout, "Reset zoom")
        after = frames(c).get(frame, {}).get("width", 0)
        info("zoom: %s %.1f px, zoomed %.1f px (root %.1f), reset %.1f px"
             % (frame, before, zoomed, root, after))
    # The sample type selector.
    opts = c.js("Array.from(document.getElementById('sample-type').options).map(o => o.value)")
    info("sample types offered: %s" % opts)
    alloc = next((o for o in opts if o.startswith("alloc")), None)
    if not alloc:
        fail("the sample type selector offers no alloc type: %s" % opts)
    else:
        n = rendered(c)
        c.js("""(() => { const s = document.getElementById('sample-type'); s.value = %s;
            s.dispatchEvent(new Event('change')); })()""" % json.dumps(alloc))
        if c.wait_js("+(document.body.dataset.rendered || 0) > %d" % n, a.timeout,
                     "the %s flame graph" % alloc):
            c.wait_js(SETTLED_JS, a.timeout, "the frames to settle")
            drawn = frames(c)
            if "alloc" not in drawn or "work" in drawn:
                fail("sample type %s: drawn %s, want alloc and not work" % (alloc, sorted(drawn)))
            else:
                info("sample type %s: %s" % (alloc, sorted(drawn)))
    # The list of recent traces: T2's row, then a click on it.
    c.js("window.scrollTo(0, 0)")
    if not c.wait_js("!!document.querySelector('#traces tr[data-trace=%s]')" % json.dumps(t2),
                     a.timeout, "trace %s in the list of recent traces" % t2):
        return
    row = c.js("Array.from(document.querySelector('#traces tr[data-trace=%s]').cells)"
               ".map(td => td.textContent)" % json.dumps(t2))
    info("list row: %s" % row)
    if "GET /cart" not in row or "checkout" not in row:
        fail("trace %s's row does not show its root span and service: %s" % (t2, row))
    n = rendered(c)
    box = c.js("""(() => { const r = document.querySelector('#traces tr[data-trace=%s]')
        .getBoundingClientRect(); return {x: r.x + 20, y: r.y + r.height / 2}; })()"""
               % json.dumps(t2))
    for kind in ("mousePressed", "mouseReleased"):
        c.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left",
               clickCount=1)
    if c.wait_js("+(document.body.dataset.rendered || 0) > %d" % n, a.timeout,
                 "trace %s drawn from the list" % t2):
        c.wait_js(SETTLED_JS, a.timeout, "the frames to settle")
        drawn = frames(c)
        if "other" not in drawn or t2 not in c.js("location.hash"):
            fail("the list's trace %s: drawn %s, hash %r" % (t2, sorted(drawn),
                                                             c.js("location.hash")))
        else:
            info("list: trace %s drawn: %s" % (t2, sorted(drawn)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--token")
    ap.add_argument("--expect", action="append")
    ap.add_argument("--absent", action="append", default=[])
    ap.add_argument("--service-view")
    ap.add_argument("--window-expect", action="append")
    ap.add_argument("--marked", action="append", default=[])
    ap.add_argument("--unmarked", action="append", default=[])
    ap.add_argument("--search")
    ap.add_argument("--export", action="store_true")
    ap.add_argument("--controls")
    ap.add_argument("--min-frames", type=int, default=0)
    ap.add_argument("--measure", action="store_true")
    ap.add_argument("--screenshot")
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()

    started = time.time()
    c = Chromium(a.timeout)
    try:
        c.call("Runtime.enable")
        c.call("Log.enable")
        c.call("Page.enable")
        c.call("Network.enable")
        if a.token:  # as the page keeps a token the user typed in, before it loads
            c.call("Page.addScriptToEvaluateOnNewDocument",
                   source="sessionStorage.setItem('profcol.token', %s)" % json.dumps(a.token))
        c.call("Page.navigate", url=a.url)
        if not c.wait_event("Page.loadEventFired", a.timeout):
            fail("the page did not load")
            return
        if c.js("typeof window.flamegraph") != "object":
            fail("vendor.js did not define flamegraph")
        # Type the trace id as a user would, and press Show.
        c.js("document.getElementById('trace').focus()")
        c.call("Input.insertText", text=a.trace)
        c.js("document.getElementById('show').click()")
        if not c.wait_js("document.body.dataset.rendered === '1'", a.timeout,
                         "the flame graph of trace " + a.trace):
            info("page status: %r" % c.js("document.getElementById('status').textContent"))
            return
        c.wait_js(SETTLED_JS, a.timeout, "the frames to settle")
        ui = c.js("({ms: window.profcolUI.renderMs, script: window.profcolUI.scriptMs,"
                  " frames: window.profcolUI.frames,"
                  " hash: location.hash, summary: document.getElementById('summary').textContent})")
        info("rendered %d frames in %.1f ms; %s" % (ui["frames"], ui["ms"], ui["summary"]))
        if a.trace not in ui["hash"]:
            fail("the URL's hash does not name the trace: %r" % ui["hash"])
        drawn = frames(c)
        check_widths(drawn, pairs_of(a.expect), "trace")
        for name in a.absent:
            if name in drawn:
                fail("trace: frame %r of another trace or type is drawn" % name)
        if len(drawn) < a.min_frames and ui["frames"] < a.min_frames:
            fail("%d frames drawn, want at least %d" % (len(drawn), a.min_frames))
        if a.min_frames:
            n = c.js("document.querySelectorAll('#chart svg g.frame').length")
            info("%d <g> frames in the DOM" % n)
            if n < a.min_frames:
                fail("%d frames in the DOM, want at least %d" % (n, a.min_frames))
        if a.measure:
            print("ui-render: %d frames rendered in %.1f ms, of which %.1f ms in scripts "
                  "(headless Chromium, %s)" % (ui["frames"], ui["ms"], ui["script"],
                                               c.js("navigator.userAgent")), flush=True)
        # Hover: the tooltip names function, file:line and the share.
        if a.expect:
            name = pairs_of(a.expect)[-1][0]
            box = c.js("""(() => { const g = Array.from(document.querySelectorAll('#chart g.frame'))
                .find(g => g.getAttribute('name') === %s); const r = g.getBoundingClientRect();
                return {x: r.x + Math.min(10, r.width / 2), y: r.y + r.height / 2}; })()"""
                       % json.dumps(name))
            c.call("Input.dispatchMouseEvent", type="mouseMoved", x=box["x"], y=box["y"])
            c.wait_js("(document.querySelector('.d3-flame-graph-tip') || {}).textContent"
                      " && document.querySelector('.d3-flame-graph-tip').style.display === 'block'",
                      5, "the tooltip")
            tip = c.js("document.querySelector('.d3-flame-graph-tip').textContent")
            info("tooltip: %r" % tip)
            if name not in tip or "% of the total" not in tip:
                fail("the tooltip does not name the frame and its share: %r" % tip)
        if a.export:
            check_exports(c, a)
        if a.service_view:
            c.js("document.getElementById('view-service').click()")
            if not c.wait_js("document.body.dataset.rendered === '2'", a.timeout,
                             "the whole window of " + a.service_view):
                info("page status: %r" % c.js("document.getElementById('status').textContent"))
                return
            c.wait_js(SETTLED_JS, a.timeout, "the frames to settle")
            summary = c.js("document.getElementById('summary').textContent")
            info("window: " + summary)
            if a.service_view not in summary:
                fail("the summary does not name service %r: %r" % (a.service_view, summary))
            drawn = frames(c)
            check_widths(drawn, pairs_of(a.window_expect), "window")
            grey = "#d9dce1"
            for name in a.marked:
                if name not in drawn or drawn[name]["fill"] == grey:
                    fail("window: frame %r is not marked as the trace's: %s"
                         % (name, drawn.get(name)))
            for name in a.unmarked:
                if name not in drawn or drawn[name]["fill"] != grey:
                    fail("window: frame %r should be drawn unmarked: %s" % (name, drawn.get(name)))
        if a.search:
            c.js("document.getElementById('search').focus()")
            c.call("Input.insertText", text=a.search)
            c.wait_js("Array.from(document.querySelectorAll('#chart g.frame rect')).some("
                      "r => r.getAttribute('fill') === %s)" % json.dumps(HIGHLIGHT), 5,
                      "search highlights")
            c.wait_js(SETTLED_JS, a.timeout, "the frames to settle")
            drawn = frames(c)
            hits = sorted(n for n, f in drawn.items() if f["fill"] == HIGHLIGHT)
            want = sorted(n for n in drawn if a.search.lower() in n.lower())
            details = c.js("document.getElementById('details').textContent")
            info("search %r highlights %s; %s" % (a.search, hits, details))
            if hits != want:
                fail("search %r highlights %s, want %s" % (a.search, hits, want))
        if a.screenshot:
            c.js("document.getElementById('search').blur()")
            time.sleep(0.4)  # the tooltip fades in over 200 ms
            shot = c.call("Page.captureScreenshot", format="png")
            os.makedirs(os.path.dirname(os.path.abspath(a.screenshot)), exist_ok=True)
            with open(a.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            info("screenshot: " + a.screenshot)
        if a.controls:
            check_controls(c, a)
        time.sleep(0.2)  # let late console messages arrive
        c.wait_event("never", 0.2)
        for e in console_errors(c):
            fail("console: " + e)
        origin = "/".join(a.url.split("/")[:3]) + "/"
        urls = [e["params"]["request"]["url"] for e in c.events
                if e.get("method") == "Network.requestWillBeSent"]
        foreign = [u for u in urls if not u.startswith((origin, "data:", "blob:"))]
        if foreign:
            fail("the page asked for more than its own server: %s" % foreign[:5])
        elif len(urls) < 4:  # index.html, app.css, vendor.js, app.js, the API
            fail("only %d requests seen: %s" % (len(urls), urls))
        else:
            info("%d requests, all to %s" % (len(urls), origin))
        err = c.js("window.profcolUI.error")
        if err:
            fail("the page reported: " + err)
    finally:
        c.close()
        info("%s in %.1f s" % ("FAILED" if failures else "passed", time.time() - started))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # a broken protocol exchange is a failure, with its reason
        fail("%s: %s" % (type(e).__name__, e))
    sys.exit(1 if failures else 0)
