/* metrics.c - the Prometheus text writer (see metrics.h): samples are kept
 * in the order added and grouped into families only when rendered. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *family; /* the metric name: HELP and TYPE are per family */
  const char *suffix; /* "", or "_bucket", "_sum", "_count" for histograms */
  const char *help;
  pc_metric_type_t type;
  char *labels; /* rendered: k="v",k2="v2" (no braces; may be empty) */
  double value;
} sample_t;

struct pc_metrics {
  sample_t *s;
  size_t n, cap;
  pc_buf_t scope; /* rendered labels of the scope, NUL-terminated */
};

pc_metrics_t *pc_metrics_new(void) { return pc_xcalloc(1, sizeof(pc_metrics_t)); }

void pc_metrics_free(pc_metrics_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) free(m->s[i].labels);
  free(m->s);
  pc_buf_free(&m->scope);
  free(m);
}

static void append(pc_buf_t *b, const void *p, size_t n) {
  if (pc_buf_append(b, p, n)) pc_oom();
}

/* key="value" with the value escaped as the format asks (\\, \", \n). */
static void append_label(pc_buf_t *b, const char *key, const char *value) {
  if (b->n) append(b, ",", 1);
  append(b, key, strlen(key));
  append(b, "=\"", 2);
  for (const char *v = value; *v; v++) {
    if (*v == '\\') append(b, "\\\\", 2);
    else if (*v == '"') append(b, "\\\"", 2);
    else if (*v == '\n') append(b, "\\n", 2);
    else append(b, v, 1);
  }
  append(b, "\"", 1);
}

/* Pairs from ap until a NULL key; a NULL value is rendered empty. */
static void append_pairs(pc_buf_t *b, va_list ap) {
  for (const char *k; (k = va_arg(ap, const char *));) {
    const char *v = va_arg(ap, const char *);
    append_label(b, k, v ? v : "");
  }
}

void pc_metrics_scope(pc_metrics_t *m, ...) {
  m->scope.n = 0;
  va_list ap;
  va_start(ap, m);
  append_pairs(&m->scope, ap);
  va_end(ap);
}

/* The scope's labels, then the caller's, as one malloc'd string. */
static char *labels_of(const pc_metrics_t *m, va_list ap) {
  pc_buf_t b = {0};
  if (m->scope.n) append(&b, m->scope.p, m->scope.n);
  append_pairs(&b, ap);
  append(&b, "", 1);
  return (char *)b.p;
}

static sample_t *add(pc_metrics_t *m, const char *family, const char *suffix, const char *help,
                     pc_metric_type_t type, char *labels, double value) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 64;
    m->s = pc_xrealloc(m->s, m->cap * sizeof *m->s);
  }
  sample_t *s = &m->s[m->n++];
  *s = (sample_t){family, suffix, help, type, labels, value};
  return s;
}

void pc_metrics_counter(pc_metrics_t *m, const char *name, const char *help, double value, ...) {
  va_list ap;
  va_start(ap, value);
  add(m, name, "", help, PC_METRIC_COUNTER, labels_of(m, ap), value);
  va_end(ap);
}

void pc_metrics_gauge(pc_metrics_t *m, const char *name, const char *help, double value, ...) {
  va_list ap;
  va_start(ap, value);
  add(m, name, "", help, PC_METRIC_GAUGE, labels_of(m, ap), value);
  va_end(ap);
}

/* A value as the format writes it: integers without a fraction. */
static void format_value(double v, char *buf, size_t n) {
  if (v == (double)(int64_t)v && v > -9e15 && v < 9e15)
    snprintf(buf, n, "%lld", (long long)v);
  else
    snprintf(buf, n, "%.9g", v);
}

void pc_metrics_histogram(pc_metrics_t *m, const char *name, const char *help,
                          const double *bounds, const uint64_t *counts, size_t n, double sum,
                          ...) {
  va_list ap;
  va_start(ap, sum);
  char *base = labels_of(m, ap);
  va_end(ap);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= n; i++) {
    cumulative += counts[i];
    char le[32] = "+Inf";
    if (i < n) format_value(bounds[i], le, sizeof le);
    pc_buf_t b = {0};
    append(&b, base, strlen(base));
    append_label(&b, "le", le);
    append(&b, "", 1);
    add(m, name, "_bucket", help, PC_METRIC_HISTOGRAM, (char *)b.p, (double)cumulative);
  }
  size_t len = strlen(base) + 1;
  add(m, name, "_sum", help, PC_METRIC_HISTOGRAM, memcpy(pc_xmalloc(len), base, len), sum);
  add(m, name, "_count", help, PC_METRIC_HISTOGRAM, base, (double)cumulative);
}

static const char *type_name(pc_metric_type_t t) {
  return t == PC_METRIC_COUNTER ? "counter" : t == PC_METRIC_GAUGE ? "gauge" : "histogram";
}

static bool seen_before(const pc_metrics_t *m, size_t i) {
  for (size_t j = 0; j < i; j++)
    if (strcmp(m->s[j].family, m->s[i].family) == 0) return true;
  return false;
}

static int render_sample(const sample_t *s, pc_buf_t *out) {
  char v[40];
  format_value(s->value, v, sizeof v);
  if (s->labels[0]) return pc_buf_printf(out, "%s%s{%s} %s\n", s->family, s->suffix, s->labels, v);
  return pc_buf_printf(out, "%s%s %s\n", s->family, s->suffix, v);
}

int pc_metrics_render(const pc_metrics_t *m, pc_buf_t *out) {
  for (size_t i = 0; i < m->n; i++) {
    const sample_t *first = &m->s[i];
    if (seen_before(m, i)) continue;
    int rc = pc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", first->family, first->help,
                           first->family, type_name(first->type));
    for (size_t j = i; !rc && j < m->n; j++)
      if (strcmp(m->s[j].family, first->family) == 0) rc = render_sample(&m->s[j], out);
    if (rc) return rc;
  }
  return 0;
}

/* Workers' pages into one: the same series (name, suffix, labels) from
 * several workers is one series of the process. Histogram buckets are
 * cumulative counts over the same bounds, so they add up too. */
void pc_metrics_merge(pc_metrics_t *dst, const pc_metrics_t *src) {
  size_t n = dst->n; /* src's own samples never match each other */
  for (size_t i = 0; i < src->n; i++) {
    const sample_t *x = &src->s[i];
    sample_t *same = NULL;
    for (size_t j = 0; j < n && !same; j++) {
      sample_t *y = &dst->s[j];
      if (strcmp(y->family, x->family) == 0 && strcmp(y->suffix, x->suffix) == 0 &&
          strcmp(y->labels, x->labels) == 0)
        same = y;
    }
    if (same) {
      same->value += x->value;
      continue;
    }
    size_t len = strlen(x->labels) + 1;
    add(dst, x->family, x->suffix, x->help, x->type, memcpy(pc_xmalloc(len), x->labels, len),
        x->value);
  }
}
