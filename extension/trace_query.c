/* trace_query.c - the span store's query API (internal.h): from a request's
 * method, path, query and Accept header to the answer, as
 * shared/spec/OTLP-PROFILES.md section 6 lays it out.
 *
 *   GET /api/v1/traces/{trace_id}/profile[?span_id=HEX][&sample_type=TYPE[:UNIT]]
 *       the samples linked to the trace (or span) received within the
 *       window, as folded stacks (text/plain), or as JSON with Accept:
 *       application/json; the sample type in X-Profcol-Sample-Type
 *   GET /api/v1/services/{service}/profile[?trace_id=HEX[&span_id=HEX]][&sample_type=..]
 *       every linked sample of the window whose resource's service.name is
 *       {service} (the flame graph page's "whole window" view); the samples
 *       of the trace (span) given are marked in the JSON tree
 *   GET /api/v1/traces[?service=NAME][&limit=N]
 *       recent traces with linked samples, newest first (JSON)
 *
 * The two profile answers come as folded stacks, JSON, or pprof (gzip'd
 * profile.proto, for go tool pprof): ?format=folded|json|pprof, else by
 * the Accept header (application/json; application/vnd.google.protobuf or
 * application/vnd.google.protobuf+gzip), else folded.
 *
 * Answers: 200; 400 for a malformed id or parameter; 404 for an unknown
 * trace or service, nothing recent, or nothing of the asked-for sample
 * type; 405 for other methods. Error bodies are one line of text, or
 * {"error": "..."} for a client that asked for JSON. Nothing here holds a
 * lock while it formats: the window hands out the chunks it needs by
 * reference. */
#include <ctype.h>
#include <llhttp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../pdata/pprof.h"
#include "../pdata/stacks.h"
#include "internal.h"

#define PREFIX "/api/v1/traces"
#define SERVICES "/api/v1/services"
#define PPROF_TYPE "application/vnd.google.protobuf+gzip"
#define DEFAULT_LIMIT 20
#define MAX_LIMIT 1000

/* ---- small helpers ------------------------------------------------------------- */

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Exactly 2n hex digits (either case) into out[n]. */
static bool parse_hex(pc_str_t s, uint8_t *out, size_t n) {
  if (s.n != 2 * n) return false;
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(s.p[2 * i]), lo = hexval(s.p[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static void hex(const uint8_t *p, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) out[2 * i] = d[p[i] >> 4], out[2 * i + 1] = d[p[i] & 15];
  out[2 * n] = 0;
}

/* The query string's value of key, percent-decoded ('+' is a space) into
 * buf: 1, or 0 when absent, or -1 when it is malformed or does not fit (a
 * caller must refuse that, not take the parameter as absent: a span_id
 * ignored would answer for the whole trace). */
static int query_param(pc_str_t url, const char *key, char *buf, size_t cap, size_t *n) {
  const uint8_t *q = memchr(url.p, '?', url.n);
  if (!q) return 0;
  const uint8_t *p = q + 1, *end = url.p + url.n;
  size_t kn = strlen(key);
  while (p < end) {
    const uint8_t *amp = memchr(p, '&', (size_t)(end - p));
    const uint8_t *pe = amp ? amp : end;
    const uint8_t *eq = memchr(p, '=', (size_t)(pe - p));
    if ((size_t)((eq ? eq : pe) - p) == kn && memcmp(p, key, kn) == 0) {
      size_t o = 0;
      for (const uint8_t *v = eq ? eq + 1 : pe; v < pe; v++) {
        if (o + 1 >= cap) return -1;
        if (*v == '%') {
          if (pe - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0) return -1;
          buf[o++] = (char)(hexval(v[1]) << 4 | hexval(v[2]));
          v += 2;
        } else {
          buf[o++] = *v == '+' ? ' ' : (char)*v;
        }
      }
      buf[o] = 0;
      *n = o;
      return 1;
    }
    p = pe + 1;
  }
  return 0;
}

/* Whether the client accepts a media type: it is among its Accept header's
 * media ranges, with a q above 0 (a wildcard does not count: JSON and pprof
 * are given to those who ask for them). */
static bool accepts(const pc_http_request_t *r, const char *type) {
  return pc_http_header_q(r, "accept", type) > 0;
}

static bool wants_json(const pc_http_request_t *r) { return accepts(r, "application/json"); }

typedef enum { FMT_FOLDED, FMT_JSON, FMT_PPROF } fmt_t;

/* The answer's format: ?format= first (so a link can name it), then
 * Accept; false (and a 400 in resp) for an unknown format. */
static bool profile_format(const pc_http_request_t *r, fmt_t *fmt, pc_http_response_t *resp);

static void answer(pc_http_response_t *resp, int status, bool json, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void answer(pc_http_response_t *resp, int status, bool json, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pc_buf_free(&resp->body);
  resp->status = status;
  if (status >= 400) snprintf(resp->reason, sizeof resp->reason, "%.*s",
                             (int)sizeof resp->reason - 1, msg);
  if (json) {
    resp->content_type = "application/json";
    if (pc_buf_printf(&resp->body, "{\"error\":") ||
        pc_buf_json_string(&resp->body, (const uint8_t *)msg, strlen(msg)) ||
        pc_buf_printf(&resp->body, "}\n"))
      pc_oom();
  } else {
    resp->content_type = "text/plain; charset=utf-8";
    if (pc_buf_printf(&resp->body, "%s\n", msg)) pc_oom();
  }
}

/* query_param, answering 400 for a malformed or too long value: -1 then. */
static int param(const pc_http_request_t *r, const char *key, char *buf, size_t cap, size_t *n,
                 bool json, pc_http_response_t *resp) {
  int got = query_param(r->url, key, buf, cap, n);
  if (got < 0)
    answer(resp, 400, json, "parameter %s: malformed percent-encoding, or longer than %zu bytes",
           key, cap - 1);
  return got;
}

static void window_text(uint64_t ms, char *buf, size_t n) {
  if (ms % 60000 == 0) snprintf(buf, n, "%llum", (unsigned long long)(ms / 60000));
  else if (ms % 1000 == 0) snprintf(buf, n, "%llus", (unsigned long long)(ms / 1000));
  else snprintf(buf, n, "%llums", (unsigned long long)ms);
}

/* ---- GET /api/v1/traces/{id}/profile -------------------------------------------- */

/* The folded lines as JSON stacks: a line is "f1;f2;...;fn VALUE", and no
 * frame holds ';' or a line break. */
static void stacks_json(const pc_buf_t *folded, pc_buf_t *out) {
  const uint8_t *p = folded->p, *end = p + folded->n;
  bool first = true;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *le = nl ? nl : end;
    const uint8_t *sp = le;
    while (sp > p && sp[-1] != ' ') sp--;
    if (pc_buf_printf(out, "%s{\"frames\":[", first ? "" : ",")) pc_oom();
    const uint8_t *f = p, *fe = sp > p ? sp - 1 : p;
    for (bool ff = true; f < fe; ff = false) {
      const uint8_t *semi = memchr(f, ';', (size_t)(fe - f));
      const uint8_t *e = semi ? semi : fe;
      if ((!ff && pc_buf_append(out, ",", 1)) || pc_buf_json_string(out, f, (size_t)(e - f)))
        pc_oom();
      f = e + 1;
    }
    if (pc_buf_printf(out, "],\"value\":%.*s}", (int)(le - sp), (const char *)sp)) pc_oom();
    first = false;
    p = le + 1;
  }
}

/* The answer for an aggregated selection with samples, in fmt. head: the
 * JSON members that say what was asked (written first); name: the pprof
 * file's name for Content-Disposition. */
static void answer_stacks(const pc_stacks_t *st, fmt_t fmt, const pc_buf_t *head,
                          const char *name, pc_http_response_t *resp) {
  const pc_stacks_info_t *info = pc_stacks_info(st);
  resp->status = 200;
  if (pc_buf_printf(&resp->headers, "X-Profcol-Sample-Type: %.*s:%.*s\r\n",
                    PC_STR_FMT(info->type), PC_STR_FMT(info->unit)))
    pc_oom();
  if (fmt == FMT_PPROF) {
    resp->content_type = PPROF_TYPE;
    if (pc_pprof_encode(st, true, &resp->body) ||
        pc_buf_printf(&resp->headers, "Content-Disposition: attachment; filename=\"%s.pb.gz\"\r\n",
                      name))
      pc_oom();
    return;
  }
  pc_buf_t folded = {0};
  if (pc_stacks_folded(st, &folded)) pc_oom();
  if (fmt == FMT_FOLDED) {
    resp->content_type = "text/plain; charset=utf-8";
    resp->body = folded;
    return;
  }
  resp->content_type = "application/json";
  pc_buf_t *b = &resp->body;
  if (pc_buf_append(b, "{", 1) || pc_buf_append(b, head->p, head->n) ||
      pc_buf_printf(b, "%s\"sampleType\":", head->n ? "," : "") ||
      pc_buf_json_string(b, info->type.p, info->type.n) ||
      pc_buf_printf(b, ",\"unit\":") || pc_buf_json_string(b, info->unit.p, info->unit.n) ||
      pc_buf_printf(b, ",\"chosenByDefault\":%s,\"samples\":%llu,\"total\":%lld",
                    info->by_default ? "true" : "false", (unsigned long long)info->samples,
                    (long long)info->total) ||
      (info->marking && pc_buf_printf(b, ",\"markedSamples\":%llu,\"marked\":%lld",
                                      (unsigned long long)info->marked_samples,
                                      (long long)info->marked)) ||
      pc_buf_printf(b, ",\"sampleTypes\":["))
    pc_oom();
  for (uint32_t t = 0; t < info->n_types; t++) {
    const pc_stacks_type_t *ty = &info->types[t];
    if (pc_buf_printf(b, "%s{\"type\":", t ? "," : "") ||
        pc_buf_json_string(b, ty->type.p, ty->type.n) || pc_buf_printf(b, ",\"unit\":") ||
        pc_buf_json_string(b, ty->unit.p, ty->unit.n) ||
        pc_buf_printf(b, ",\"samples\":%llu}", (unsigned long long)ty->samples))
      pc_oom();
  }
  size_t n_services;
  const pc_str_t *services = pc_stacks_services(st, &n_services);
  if (pc_buf_printf(b, "],\"services\":[")) pc_oom();
  for (size_t i = 0; i < n_services; i++)
    if ((i && pc_buf_append(b, ",", 1)) ||
        pc_buf_json_string(b, services[i].p, services[i].n))
      pc_oom();
  if (pc_buf_printf(b, "],\"stacks\":[")) pc_oom();
  stacks_json(&folded, b);
  if (pc_buf_printf(b, "],\"flamegraph\":") || pc_stacks_tree_json(st, b) ||
      pc_buf_printf(b, "}\n"))
    pc_oom();
  pc_buf_free(&folded);
}

static void get_profile(const pc__query_t *qy, const pc_http_request_t *r, pc_str_t id,
                        fmt_t fmt, pc_http_response_t *resp) {
  bool json = fmt == FMT_JSON;
  pc_stacks_filter_t f = {.has_trace_id = true};
  char idhex[33], spanhex[17], buf[256], win[32];
  size_t n;
  if (!parse_hex(id, f.trace_id, 16)) {
    answer(resp, 400, json, "trace id must be 32 hex digits, got \"%.*s\"",
           (int)(id.n > 64 ? 64 : id.n), (const char *)id.p);
    return;
  }
  int got = param(r, "span_id", buf, sizeof buf, &n, json, resp);
  if (got < 0) return;
  if (got) {
    if (!parse_hex((pc_str_t){(const uint8_t *)buf, n}, f.span_id, 8)) {
      answer(resp, 400, json, "span_id must be 16 hex digits, got \"%.64s\"", buf);
      return;
    }
    f.has_span_id = true;
  }
  char type[256];
  if ((got = param(r, "sample_type", type, sizeof type, &n, json, resp)) < 0) return;
  if (got) f.sample_type = (pc_str_t){(const uint8_t *)type, n};
  hex(f.trace_id, 16, idhex);
  hex(f.span_id, 8, spanhex);
  window_text(qy->window_ms, win, sizeof win);
  pc_linked_sel_t sel;
  pc_err_t err = {0};
  int rc = pc_linked_select(qy->linked, f.trace_id, qy->now_ms, &sel, &err);
  if (rc || !sel.n_reqs) {
    pc_linked_sel_free(&sel);
    if (rc) answer(resp, 503, json, "cannot read the window now: %s", err.msg);
    else answer(resp, 404, json, "no profile samples linked to trace %s were received in the "
                "last %s", idhex, win);
    return;
  }
  /* The aggregation copies what it keeps: the chunks can go at once. */
  pc_stacks_t *st = NULL;
  rc = pc_stacks_select(sel.reqs, sel.n_reqs, &f, &st, &err);
  pc_linked_sel_free(&sel);
  const pc_stacks_info_t *info = st ? pc_stacks_info(st) : NULL;
  if (rc == PC_EINVAL) {
    answer(resp, 404, json, "trace %s: %s", idhex, err.msg);
  } else if (rc) {
    answer(resp, 503, json, "%s", err.msg);
  } else if (!info->samples || !info->stacks) {
    answer(resp, 404, json, "no profile samples linked to span %s of trace %s were "
           "received in the last %s", spanhex, idhex, win);
  } else {
    pc_buf_t head = {0};
    char name[64];
    if (pc_buf_printf(&head, "\"traceId\":\"%s\"", idhex) ||
        (f.has_span_id && pc_buf_printf(&head, ",\"spanId\":\"%s\"", spanhex)))
      pc_oom();
    snprintf(name, sizeof name, "trace-%s%s%s", idhex, f.has_span_id ? "-span-" : "",
             f.has_span_id ? spanhex : "");
    answer_stacks(st, fmt, &head, name, resp);
    pc_buf_free(&head);
  }
  pc_stacks_free(st);
}

/* ---- GET /api/v1/services/{service}/profile ------------------------------------ */

/* Percent-decode a path segment into buf (NUL-terminated); false when it is
 * malformed, too long, or holds a NUL. */
static bool path_segment(pc_str_t seg, char *buf, size_t cap, size_t *n) {
  size_t o = 0;
  for (size_t i = 0; i < seg.n; i++) {
    if (o + 1 >= cap) return false;
    uint8_t c = seg.p[i];
    if (c == '%') {
      if (seg.n - i < 3 || hexval(seg.p[i + 1]) < 0 || hexval(seg.p[i + 2]) < 0) return false;
      c = (uint8_t)(hexval(seg.p[i + 1]) << 4 | hexval(seg.p[i + 2]));
      if (!c) return false;
      i += 2;
    }
    buf[o++] = (char)c;
  }
  buf[o] = 0;
  *n = o;
  return o > 0;
}

static void get_service_profile(const pc__query_t *qy, const pc_http_request_t *r,
                                pc_str_t seg, fmt_t fmt, pc_http_response_t *resp) {
  bool json = fmt == FMT_JSON;
  char service[256], buf[256], idhex[33], spanhex[17];
  size_t n;
  if (!path_segment(seg, service, sizeof service, &n)) {
    answer(resp, 400, json, "the service name must be a non-empty, percent-encoded path "
           "segment of at most %zu bytes", sizeof service - 1);
    return;
  }
  /* The window's chunks of requests kept as they came hold their unlinked
   * samples too: the view is of linked samples, as the window promises. */
  pc_stacks_filter_t f = {.service = {(const uint8_t *)service, n}, .linked_only = true};
  int got = param(r, "trace_id", buf, sizeof buf, &n, json, resp);
  if (got < 0) return;
  if (got) {
    if (!parse_hex((pc_str_t){(const uint8_t *)buf, n}, f.mark_trace_id, 16)) {
      answer(resp, 400, json, "trace_id must be 32 hex digits, got \"%.64s\"", buf);
      return;
    }
    f.has_mark_trace_id = true;
  }
  if ((got = param(r, "span_id", buf, sizeof buf, &n, json, resp)) < 0) return;
  if (got) {
    if (!f.has_mark_trace_id) {
      answer(resp, 400, json, "span_id marks a span of the trace given by trace_id: give both");
      return;
    }
    if (!parse_hex((pc_str_t){(const uint8_t *)buf, n}, f.mark_span_id, 8)) {
      answer(resp, 400, json, "span_id must be 16 hex digits, got \"%.64s\"", buf);
      return;
    }
    f.has_mark_span_id = true;
  }
  char type[256];
  if ((got = param(r, "sample_type", type, sizeof type, &n, json, resp)) < 0) return;
  if (got) f.sample_type = (pc_str_t){(const uint8_t *)type, n};
  hex(f.mark_trace_id, 16, idhex);
  hex(f.mark_span_id, 8, spanhex);
  char win[32];
  window_text(qy->window_ms, win, sizeof win);
  pc_linked_sel_t sel;
  pc_err_t err = {0};
  int rc = pc_linked_select_all(qy->linked, qy->now_ms, qy->max_query_bytes, &sel, &err);
  pc_stacks_t *st = NULL;
  if (!rc) rc = pc_stacks_select(sel.reqs, sel.n_reqs, &f, &st, &err);
  size_t skipped = sel.skipped_chunks;
  pc_linked_sel_free(&sel);
  const pc_stacks_info_t *info = st ? pc_stacks_info(st) : NULL;
  if (rc == PC_EINVAL) {
    answer(resp, 404, json, "service \"%s\": %s", service, err.msg);
  } else if (rc) {
    answer(resp, 503, json, "cannot read the window now: %s", err.msg);
  } else if (!info->samples || !info->stacks) {
    answer(resp, 404, json, "no linked profile samples of service \"%s\" were received in "
           "the last %s", service, win);
  } else {
    pc_buf_t head = {0};
    if (pc_buf_printf(&head, "\"service\":") ||
        pc_buf_json_string(&head, (const uint8_t *)service, strlen(service)) ||
        (f.has_mark_trace_id && pc_buf_printf(&head, ",\"traceId\":\"%s\"", idhex)) ||
        (f.has_mark_span_id && pc_buf_printf(&head, ",\"spanId\":\"%s\"", spanhex)) ||
        pc_buf_printf(&head, ",\"partialWindow\":%s", skipped ? "true" : "false"))
      pc_oom();
    /* A file name from a service name: keep it to safe characters. */
    char name[96] = "service-";
    size_t o = strlen(name);
    for (const char *p = service; *p && o + 1 < sizeof name; p++)
      name[o++] = (isalnum((unsigned char)*p) || *p == '-' || *p == '.') ? *p : '_';
    name[o] = 0;
    answer_stacks(st, fmt, &head, name, resp);
    pc_buf_free(&head);
  }
  pc_stacks_free(st);
}

static bool profile_format(const pc_http_request_t *r, fmt_t *fmt, pc_http_response_t *resp) {
  char buf[32];
  size_t n;
  int got = param(r, "format", buf, sizeof buf, &n, wants_json(r), resp);
  if (got < 0) return false;
  if (got) {
    if (!strcmp(buf, "folded")) *fmt = FMT_FOLDED;
    else if (!strcmp(buf, "json")) *fmt = FMT_JSON;
    else if (!strcmp(buf, "pprof")) *fmt = FMT_PPROF;
    else {
      answer(resp, 400, wants_json(r), "format must be folded, json or pprof, got \"%s\"", buf);
      return false;
    }
    return true;
  }
  *fmt = wants_json(r) ? FMT_JSON
         : accepts(r, PPROF_TYPE) || accepts(r, "application/vnd.google.protobuf") ? FMT_PPROF
                                                                                   : FMT_FOLDED;
  return true;
}

/* ---- GET /api/v1/traces ------------------------------------------------------------- */

typedef struct {
  const pc__query_t *qy;
  pc_str_t service; /* empty: any */
} list_ctx_t;

/* A trace passes the service filter when its profiles' service, its linked
 * span's or its root's is the one asked for. */
static bool keep_trace(void *ud, const pc_linked_trace_t *t) {
  list_ctx_t *c = ud;
  if (!c->service.n) return true;
  if (pc_str_eq(c->service, (pc_str_t){(const uint8_t *)t->service, t->service_n})) return true;
  pc_span_rec_t span, top;
  if (!pc_spans_find(c->qy->spans, t->trace_id, t->span_id, c->qy->now_ms, &span, NULL, &top))
    return false;
  return pc_str_eq(c->service, (pc_str_t){(const uint8_t *)span.service, span.service_n}) ||
         pc_str_eq(c->service, (pc_str_t){(const uint8_t *)top.service, top.service_n});
}

static void list_traces(const pc__query_t *qy, const pc_http_request_t *r, bool json,
                        pc_http_response_t *resp) {
  char buf[256];
  size_t n;
  size_t limit = DEFAULT_LIMIT;
  int has = param(r, "limit", buf, sizeof buf, &n, json, resp);
  if (has < 0) return;
  if (has) {
    char *end;
    long v = strtol(buf, &end, 10);
    if (!n || *end || v < 1 || v > MAX_LIMIT) {
      answer(resp, 400, json, "limit must be a number from 1 to %d, got \"%.32s\"", MAX_LIMIT,
             buf);
      return;
    }
    limit = (size_t)v;
  }
  list_ctx_t ctx = {.qy = qy};
  char service[256];
  if ((has = param(r, "service", service, sizeof service, &n, json, resp)) < 0) return;
  if (has) ctx.service = (pc_str_t){(const uint8_t *)service, n};
  pc_linked_trace_t *t = pc_xcalloc(limit, sizeof *t);
  size_t got = pc_linked_list(qy->linked, qy->now_ms, limit, keep_trace, &ctx, t);
  pc_buf_t *b = &resp->body;
  resp->status = 200;
  resp->content_type = "application/json";
  if (pc_buf_printf(b, "{\"traces\":[")) pc_oom();
  for (size_t i = 0; i < got; i++) {
    char idhex[33];
    hex(t[i].trace_id, 16, idhex);
    pc_span_rec_t span, top;
    bool known = pc_spans_find(qy->spans, t[i].trace_id, t[i].span_id, qy->now_ms, &span, NULL,
                               &top);
    if (pc_buf_printf(b, "%s{\"traceId\":\"%s\",\"rootSpanName\":", i ? "," : "", idhex)) pc_oom();
    if (known) {
      pc_str_t svc = top.service_n ? (pc_str_t){(const uint8_t *)top.service, top.service_n}
                                   : (pc_str_t){(const uint8_t *)t[i].service, t[i].service_n};
      uint64_t dur = top.end_unix_nano > top.start_unix_nano
                         ? top.end_unix_nano - top.start_unix_nano : 0;
      if (pc_buf_json_string(b, (const uint8_t *)top.name, top.name_n) ||
          pc_buf_printf(b, ",\"isTraceRoot\":%s,\"service\":", top.has_parent ? "false" : "true") ||
          pc_buf_json_string(b, svc.p, svc.n) ||
          pc_buf_printf(b, ",\"durationNano\":%llu", (unsigned long long)dur))
        pc_oom();
    } else {
      if (pc_buf_printf(b, "null,\"isTraceRoot\":false,\"service\":") ||
          pc_buf_json_string(b, (const uint8_t *)t[i].service, t[i].service_n) ||
          pc_buf_printf(b, ",\"durationNano\":null"))
        pc_oom();
    }
    /* The wall clock when its last samples arrived (the window runs on a
     * monotonic clock). */
    uint64_t at_ms = qy->wall_ms - (qy->now_ms - t[i].last_ms);
    time_t secs = (time_t)(at_ms / 1000);
    struct tm tm;
    char when[40];
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    if (pc_buf_printf(b, ",\"sampleCount\":%llu,\"lastReceived\":\"%s.%03uZ\"}",
                      (unsigned long long)t[i].samples, when, (unsigned)(at_ms % 1000)))
      pc_oom();
  }
  if (pc_buf_printf(b, "]}\n")) pc_oom();
  free(t);
  (void)json;
}

/* ---- routing ---------------------------------------------------------------------- */

static bool has_prefix(pc_str_t path, const char *prefix) {
  size_t n = strlen(prefix);
  return path.n >= n && memcmp(path.p, prefix, n) == 0 && (path.n == n || path.p[n] == '/');
}

#define NO_SUCH_ENDPOINT                                                                   \
  "no such endpoint: the query API is GET " PREFIX ", GET " PREFIX "/{trace_id}/profile and " \
  "GET " SERVICES "/{service}/profile"

int pc__query_route(const pc_http_request_t *r, pc_http_response_t *resp) {
  bool ours = has_prefix(r->path, PREFIX) || has_prefix(r->path, SERVICES);
  bool json = wants_json(r);
  if (!ours) {
    answer(resp, 404, json, NO_SUCH_ENDPOINT);
    return 404;
  }
  if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
    answer(resp, 405, json, "method %s is not allowed; use GET",
           llhttp_method_name((llhttp_method_t)r->method));
    resp->allow = "GET, HEAD";
    return 405;
  }
  return 0;
}

void pc__query_answer(const pc__query_t *qy, const pc_http_request_t *r,
                      pc_http_response_t *resp) {
  if (pc__query_route(r, resp)) return;
  bool json = wants_json(r);
  bool services = has_prefix(r->path, SERVICES);
  size_t pn = services ? sizeof SERVICES - 1 : sizeof PREFIX - 1;
  pc_str_t rest = {r->path.p + pn, r->path.n - pn};
  if (!services && (rest.n == 0 || (rest.n == 1 && rest.p[0] == '/'))) {
    list_traces(qy, r, json, resp);
    return;
  }
  static const char suffix[] = "/profile";
  size_t sn = sizeof suffix - 1;
  if (rest.n > 1 + sn && memcmp(rest.p + rest.n - sn, suffix, sn) == 0) {
    pc_str_t id = {rest.p + 1, rest.n - 1 - sn};
    fmt_t fmt;
    if (!memchr(id.p, '/', id.n)) {
      if (!profile_format(r, &fmt, resp)) return;
      if (services) get_service_profile(qy, r, id, fmt, resp);
      else get_profile(qy, r, id, fmt, resp);
      return;
    }
  }
  answer(resp, 404, json, NO_SUCH_ENDPOINT);
}
