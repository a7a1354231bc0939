/* app.js - the flame graph page (issue 16): a trace id in, its flame graph
 * out, drawn by d3-flame-graph (vendor.js: d3's modules and d3-flame-graph,
 * embedded from ui/node_modules at build time).
 *
 * Everything comes from the query API, so whatever the page shows a script
 * can fetch with curl:
 *   GET /api/v1/traces?limit=N                      the list of recent traces
 *   GET /api/v1/traces/{id}/profile[?span_id=]      one trace's (span's) samples
 *   GET /api/v1/services/{name}/profile?trace_id=   a service's whole window,
 *                                                   that trace's samples marked
 * with Accept: application/json, and &format=folded|pprof for the exports.
 *
 * When the server asks for a bearer token (the span_store's auth), the page
 * asks for it once and keeps it in sessionStorage: the browser sends no
 * token by itself. State (trace, span, type, view) lives in the URL's hash,
 * so a view can be linked to. Frame names come from the profiled programs:
 * they are only ever set as text, never as HTML. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const HEX32 = /^[0-9a-f]{32}$/;
  const HEX16 = /^[0-9a-f]{16}$/;

  const state = {
    trace: "", span: "", type: "", view: "trace", service: "",
    data: null,  // the last JSON answer drawn
    chart: null,
  };
  // For tests and measurements: what the last render took and drew.
  window.profcolUI = { renders: 0, renderMs: null, scriptMs: null, frames: 0, error: null };

  function status(msg, info) {
    const el = $("status");
    el.textContent = msg || "";
    el.className = info ? "info" : "";
    if (!info && msg) window.profcolUI.error = msg;
  }

  function headers(accept) {
    const h = { Accept: accept };
    const token = sessionStorage.getItem("profcol.token");
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  // GET a path of the API; resolves to the Response when it is 2xx, else
  // rejects with the server's own message.
  async function get(path, accept) {
    const r = await fetch(path, { headers: headers(accept || "application/json"),
                                  cache: "no-store" });
    if (r.ok) return r;
    let msg = r.status + " " + r.statusText;
    try {
      const text = await r.text();
      try { msg = JSON.parse(text).error || msg; } catch (_) { msg = text.trim() || msg; }
    } catch (_) { /* keep the status line */ }
    if (r.status === 401) {
      $("auth").hidden = false;
      $("token").focus();
    }
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }

  // ---- the hash ----------------------------------------------------------------

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    state.trace = (p.get("trace") || "").toLowerCase();
    state.span = (p.get("span") || "").toLowerCase();
    state.type = p.get("type") || "";
    state.view = p.get("view") === "service" ? "service" : "trace";
    state.service = p.get("service") || "";
  }

  function writeHash() {
    const p = new URLSearchParams();
    if (state.trace) p.set("trace", state.trace);
    if (state.span) p.set("span", state.span);
    if (state.type) p.set("type", state.type);
    if (state.view === "service") {
      p.set("view", "service");
      if (state.service) p.set("service", state.service);
    }
    const h = "#" + p.toString();
    if (location.hash !== h) history.replaceState(null, "", h);
  }

  // ---- the list of recent traces ---------------------------------------------------

  function duration(ns) {
    if (ns === null || ns === undefined) return "";
    if (ns >= 1e9) return (ns / 1e9).toFixed(2) + " s";
    if (ns >= 1e6) return (ns / 1e6).toFixed(1) + " ms";
    if (ns >= 1e3) return (ns / 1e3).toFixed(1) + " µs";
    return ns + " ns";
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  async function loadTraces() {
    let list;
    try {
      list = await (await get("/api/v1/traces?limit=50")).json();
    } catch (e) {
      status("Recent traces: " + e.message);
      return;
    }
    const body = $("traces").tBodies[0];
    body.textContent = "";
    for (const t of list.traces) {
      const tr = document.createElement("tr");
      tr.dataset.trace = t.traceId;
      cell(tr, t.rootSpanName === null ? "(span not known)" : t.rootSpanName);
      cell(tr, t.service || "");
      cell(tr, duration(t.durationNano), "num");
      cell(tr, String(t.sampleCount), "num");
      cell(tr, t.lastReceived ? new Date(t.lastReceived).toLocaleTimeString() : "");
      cell(tr, t.traceId, "id");
      if (t.traceId === state.trace) tr.className = "chosen";
      tr.addEventListener("click", () => choose(t.traceId, "", t.service));
      body.appendChild(tr);
    }
    $("traces-empty").hidden = list.traces.length > 0;
  }

  function markChosen() {
    for (const tr of $("traces").tBodies[0].rows)
      tr.className = tr.dataset.trace === state.trace ? "chosen" : "";
  }

  // ---- one flame graph ---------------------------------------------------------------

  function profileURL(format) {
    let path, q = new URLSearchParams();
    if (state.view === "service") {
      path = "/api/v1/services/" + encodeURIComponent(state.service) + "/profile";
      q.set("trace_id", state.trace);
      if (state.span) q.set("span_id", state.span);
    } else {
      path = "/api/v1/traces/" + state.trace + "/profile";
      if (state.span) q.set("span_id", state.span);
    }
    if (state.type) q.set("sample_type", state.type);
    if (format) q.set("format", format);
    const qs = q.toString();
    return qs ? path + "?" + qs : path;
  }

  function choose(trace, span, service) {
    state.trace = trace.toLowerCase();
    state.span = (span || "").toLowerCase();
    state.type = "";
    state.view = "trace";
    state.service = service || "";
    $("trace").value = state.trace;
    $("span").value = state.span;
    show();
  }

  async function show() {
    if (!HEX32.test(state.trace)) {
      status("A trace id is 32 hex digits.");
      return;
    }
    if (state.span && !HEX16.test(state.span)) {
      status("A span id is 16 hex digits.");
      return;
    }
    if (state.view === "service" && !state.service) state.view = "trace";
    writeHash();
    markChosen();
    status("Loading…", true);
    let data;
    try {
      data = await (await get(profileURL())).json();
    } catch (e) {
      $("graph").hidden = true;
      status(e.message);
      return;
    }
    status("");
    state.data = data;
    if (state.view === "trace" && data.services && data.services.length &&
        !data.services.includes(state.service))
      state.service = data.services[0];
    controls(data);
    draw(data);
  }

  function option(select, value, text, selected) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    o.selected = selected;
    select.appendChild(o);
  }

  function controls(data) {
    const types = $("sample-type");
    types.textContent = "";
    const chosen = data.sampleType + ":" + data.unit;
    for (const t of data.sampleTypes) {
      const name = t.type + ":" + t.unit;
      option(types, name, name + " (" + t.samples + " samples)", name === chosen);
    }
    const svc = $("service");
    if (state.view === "trace") {
      svc.textContent = "";
      for (const s of data.services || []) option(svc, s, s, s === state.service);
    }
    $("view-service").disabled = !svc.options.length;
    $("view-trace").setAttribute("aria-pressed", String(state.view === "trace"));
    $("view-service").setAttribute("aria-pressed", String(state.view === "service"));
    const s = $("summary");
    s.textContent = "";
    const b = (t) => { const e = document.createElement("b"); e.textContent = t; return e; };
    if (state.view === "service") {
      s.append("Service ", b(data.service), ": every linked sample of the window, ",
               b(human(data.total, data.unit)), " of " + data.sampleType + " in " +
               data.samples + " samples; trace ", b(state.trace.slice(0, 8) + "…"),
               " (highlighted) " + pct(data.marked, data.total) + " of it" +
               (data.partialWindow ? " (the newest part of the window only)" : "") + ".");
    } else {
      s.append("Trace ", b(state.trace), state.span ? " span " : "",
               state.span ? b(state.span) : "", ": ", b(human(data.total, data.unit)),
               " of " + data.sampleType + " in " + data.samples + " samples" +
               (data.chosenByDefault ? " (the sample type with the most samples)" : "") + ".");
    }
  }

  function fmt(v) { return Number(v).toLocaleString("en-US"); }

  // A value in its unit, the way a person reads it: 1.79 s, 12.5 MiB, 40 samples.
  function human(v, unit) {
    const n = Number(v);
    const scale = (steps) => {
      let i = 0, x = n;
      while (i + 1 < steps.length && Math.abs(x) >= steps[i + 1][0] / steps[i][0] * 0.9999) {
        x = x / (steps[i + 1][0] / steps[i][0]);
        i++;
      }
      return (i ? x.toPrecision(3) : fmt(x)) + " " + steps[i][1];
    };
    if (unit === "nanoseconds")
      return scale([[1, "ns"], [1e3, "µs"], [1e6, "ms"], [1e9, "s"]]);
    if (unit === "microseconds") return scale([[1, "µs"], [1e3, "ms"], [1e6, "s"]]);
    if (unit === "milliseconds") return scale([[1, "ms"], [1e3, "s"]]);
    if (unit === "bytes")
      return scale([[1, "B"], [1024, "KiB"], [1048576, "MiB"], [1073741824, "GiB"]]);
    return fmt(n) + " " + unit;
  }
  function pct(v, total) { return total ? (100 * v / total).toFixed(2) + "%" : "0%"; }

  // Frames of the whole-window view: blue as deep as the trace's share of
  // the frame, grey where the trace has none; search matches stay magenta.
  function markedColor(d, original) {
    if (d.highlight) return original;
    const m = d.data.marked || 0;
    if (!m) return "#d9dce1";
    const share = Math.min(1, m / d.data.value);
    const light = Math.round(82 - 40 * share);
    return "hsl(214, 80%, " + light + "%)";
  }

  function tooltipText(d) {
    const data = state.data;
    const lines = [d.data.name];
    if (d.data.file) lines.push(d.data.file + (d.data.line ? ":" + d.data.line : ""));
    else if (d.data.line) lines.push("line " + d.data.line + " (no file name)");
    lines.push(human(d.data.value, data.unit) + ", " + pct(d.data.value, data.total) +
               " of the total");
    if (state.view === "service")
      lines.push("this trace: " + human(d.data.marked || 0, data.unit) + " (" +
                 pct(d.data.marked || 0, d.data.value) + " of the frame)");
    return lines.join("\n");
  }

  function countFrames(node) {
    let n = 0;
    const stack = [node];
    while (stack.length) {
      const x = stack.pop();
      n++;
      if (x.children) for (const c of x.children) stack.push(c);
    }
    return n - 1; // not the root
  }

  function draw(data) {
    $("graph").hidden = false;
    const el = $("chart");
    if (state.chart) state.chart.destroy();
    el.textContent = "";
    const fg = window.flamegraph;
    const tip = fg.tooltip.defaultFlamegraphTooltip().text(tooltipText);
    const chart = fg.default()
      .width(Math.max(320, el.clientWidth))
      .cellHeight(18)
      .minFrameSize(1)
      .transitionDuration(0) // the first drawing at once; zooms animate
      .tooltip(tip)
      .setDetailsElement($("details"))
      .setSearchMatch((d, term) => !!term && d.data.name.toLowerCase().includes(term))
      .setSearchHandler((results, sum, total) => {
        $("details").textContent = results.length
          ? "search: " + results.length + (results.length === 1 ? " frame, " : " frames, ") +
            human(sum, data.unit) + " of " + human(total, data.unit) + " (" + pct(sum, total) + ")"
          : "search: no frame matches";
      })
      .setLabelHandler((d) => d.data.name + " (" + pct(d.data.value, data.total) + ", " +
                       human(d.data.value, data.unit) + ")");
    if (state.view === "service") chart.setColorMapper(markedColor);
    state.chart = chart;
    const t0 = performance.now();
    d3.select(el).datum(data.flamegraph).call(chart);
    const t1 = performance.now();
    // Done once the frames are laid out and painted (two frames later).
    requestAnimationFrame(() => requestAnimationFrame(() => {
      void el.offsetHeight;
      const ui = window.profcolUI;
      ui.renderMs = performance.now() - t0;
      ui.scriptMs = t1 - t0; // of which d3-flame-graph's own code
      ui.frames = countFrames(data.flamegraph);
      ui.renders++;
      chart.transitionDuration(300);
      const term = $("search").value.trim().toLowerCase();
      if (term) chart.search(term);
      document.body.dataset.rendered = String(ui.renders);
    }));
  }

  // ---- exports -------------------------------------------------------------------

  async function download(format, ext) {
    try {
      const r = await get(profileURL(format), "*/*");
      const blob = await r.blob();
      const a = document.createElement("a");
      const base = state.view === "service" ? "service-" + state.service.replace(/[^\w.-]/g, "_")
                                             : "trace-" + state.trace;
      a.href = URL.createObjectURL(blob);
      a.download = base + (state.span ? "-span-" + state.span : "") + ext;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) {
      status("Export: " + e.message);
    }
  }

  // ---- wiring ----------------------------------------------------------------------

  function init() {
    readHash();
    $("trace").value = state.trace;
    $("span").value = state.span;
    $("lookup").addEventListener("submit", (ev) => {
      ev.preventDefault();
      choose($("trace").value.trim(), $("span").value.trim(), "");
    });
    $("auth").addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem("profcol.token", $("token").value);
      $("auth").hidden = true;
      status("");
      loadTraces();
      if (state.trace) show();
    });
    $("refresh").addEventListener("click", loadTraces);
    $("sample-type").addEventListener("change", (ev) => { state.type = ev.target.value; show(); });
    $("view-trace").addEventListener("click", () => { state.view = "trace"; show(); });
    $("view-service").addEventListener("click", () => {
      state.view = "service";
      state.service = $("service").value;
      show();
    });
    $("service").addEventListener("change", (ev) => {
      state.service = ev.target.value;
      if (state.view === "service") show();
    });
    $("search").addEventListener("input", (ev) => {
      if (!state.chart) return;
      const term = ev.target.value.trim().toLowerCase();
      if (term) state.chart.search(term);
      else state.chart.clear();
    });
    $("reset-zoom").addEventListener("click", () => { if (state.chart) state.chart.resetZoom(); });
    $("export-folded").addEventListener("click", () => download("folded", ".folded.txt"));
    $("export-pprof").addEventListener("click", () => download("pprof", ".pb.gz"));
    // Redraw for a new width only (a resize of the height changes nothing),
    // once the resizing has stopped.
    let resizing = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => {
        const w = Math.max(320, $("chart").clientWidth);
        if (state.data && state.chart && w !== state.chart.width()) draw(state.data);
      }, 150);
    });
    loadTraces();
    if (state.trace) show();
  }

  if (typeof window.flamegraph !== "object" || typeof window.d3 !== "object") {
    status("The page's scripts did not load (vendor.js).");
    return;
  }
  init();
})();
