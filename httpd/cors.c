/* cors.c - Cross-Origin Resource Sharing for an HTTP listener, as the
 * Collector's confighttp does it (with github.com/rs/cors).
 *
 * One idea: CORS only adds headers. A preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) is answered 204 by the handler, and every
 * answer, preflight or not, passes through pc_cors_decorate, which says
 * which origin may read it. An origin that is not allowed gets an answer
 * without the Access-Control-Allow-* headers, and the browser withholds it.
 *
 * Rules (rs/cors with the Collector's options): origins compare in any case,
 * "*" allows every origin, and one '*' inside a pattern matches any run of
 * characters (the scheme, '*' and a domain suffix allow every subdomain).
 * The allowed origin is echoed, with Access-Control-Allow-Credentials: true. A preflight may ask for POST only,
 * and for request headers among the CORS-safelisted ones (accept,
 * accept-language, content-language, content-type), x-requested-with when
 * allowed_headers is empty, and those listed ("*": any). */
#include "httpd.h"

#include <ctype.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const safelisted_headers[] = {"accept", "accept-language",
                                                 "content-language", "content-type"};

static char *lower_dup(const char *s, size_t n) {
  char *d = pc_xmalloc(n + 1);
  for (size_t i = 0; i < n; i++) d[i] = (char)tolower((unsigned char)s[i]);
  d[n] = '\0';
  return d;
}

void pc_cors_init(pc_cors_t *c, int64_t max_age_s) {
  *c = (pc_cors_t){.max_age_s = max_age_s};
}

void pc_cors_add_origin(pc_cors_t *c, const char *origin) {
  c->origins = pc_xrealloc(c->origins, (c->n_origins + 1) * sizeof *c->origins);
  c->origins[c->n_origins++] = lower_dup(origin, strlen(origin));
}

void pc_cors_add_header(pc_cors_t *c, const char *header) {
  if (strcmp(header, "*") == 0) c->any_header = true;
  c->headers = pc_xrealloc(c->headers, (c->n_headers + 1) * sizeof *c->headers);
  c->headers[c->n_headers++] = lower_dup(header, strlen(header));
}

void pc_cors_free(pc_cors_t *c) {
  for (size_t i = 0; i < c->n_origins; i++) free(c->origins[i]);
  for (size_t i = 0; i < c->n_headers; i++) free(c->headers[i]);
  free(c->origins);
  free(c->headers);
  *c = (pc_cors_t){0};
}

bool pc_cors_enabled(const pc_cors_t *c) { return c && c->n_origins > 0; }

/* Does origin (as sent) match pattern (lowercase, at most one '*')? */
static bool origin_matches(const char *pattern, pc_str_t origin) {
  if (strcmp(pattern, "*") == 0) return true;
  const char *star = strchr(pattern, '*');
  size_t pn = strlen(pattern);
  if (!star) return pn == origin.n && strncasecmp(pattern, (const char *)origin.p, pn) == 0;
  size_t pre = (size_t)(star - pattern), post = pn - pre - 1;
  return origin.n >= pre + post &&
         strncasecmp(pattern, (const char *)origin.p, pre) == 0 &&
         strncasecmp(star + 1, (const char *)origin.p + origin.n - post, post) == 0;
}

bool pc_cors_origin_allowed(const pc_cors_t *c, pc_str_t origin) {
  if (!pc_cors_enabled(c) || origin.n == 0) return false;
  for (size_t i = 0; i < c->n_origins; i++)
    if (origin_matches(c->origins[i], origin)) return true;
  return false;
}

static bool header_allowed(const pc_cors_t *c, const char *name, size_t n) {
  if (c->any_header) return true;
  for (size_t i = 0; i < sizeof safelisted_headers / sizeof *safelisted_headers; i++)
    if (strlen(safelisted_headers[i]) == n && strncasecmp(safelisted_headers[i], name, n) == 0)
      return true;
  if (c->n_headers == 0 && n == 16 && strncasecmp("x-requested-with", name, n) == 0)
    return true;
  for (size_t i = 0; i < c->n_headers; i++)
    if (strlen(c->headers[i]) == n && strncasecmp(c->headers[i], name, n) == 0) return true;
  return false;
}

/* Every name of a comma-separated Access-Control-Request-Headers list. */
static bool headers_allowed(const pc_cors_t *c, pc_str_t list) {
  const char *p = (const char *)list.p, *end = p + list.n;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
    const char *name = p;
    while (p < end && *p != ',') p++;
    const char *e = p;
    while (e > name && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (e > name && !header_allowed(c, name, (size_t)(e - name))) return false;
  }
  return true;
}

bool pc_cors_is_preflight(const pc_cors_t *c, const pc_http_request_t *r) {
  return pc_cors_enabled(c) && r->method == HTTP_OPTIONS && r->origin.n > 0 &&
         r->ac_request_method.n > 0;
}

/* Header values are echoed from the request: they were read as header
 * values, so they hold no CR or LF. */
static void add_header(pc_http_response_t *resp, const char *name, pc_str_t value) {
  pc_buf_printf(&resp->headers, "%s: %.*s\r\n", name, (int)value.n, (const char *)value.p);
}

void pc_cors_decorate(const pc_cors_t *c, const pc_http_request_t *r,
                      pc_http_response_t *resp) {
  if (!pc_cors_enabled(c) || r->origin.n == 0) return;
  bool preflight = pc_cors_is_preflight(c, r);
  add_header(resp, "Vary",
             preflight ? PC_STR_LIT("Origin, Access-Control-Request-Method, "
                                    "Access-Control-Request-Headers")
                       : PC_STR_LIT("Origin"));
  if (!pc_cors_origin_allowed(c, r->origin)) return;
  if (preflight) {
    bool post = r->ac_request_method.n == 4 &&
                strncasecmp((const char *)r->ac_request_method.p, "POST", 4) == 0;
    if (!post || !headers_allowed(c, r->ac_request_headers)) return;
  }
  add_header(resp, "Access-Control-Allow-Origin", r->origin);
  add_header(resp, "Access-Control-Allow-Credentials", PC_STR_LIT("true"));
  if (!preflight) return;
  add_header(resp, "Access-Control-Allow-Methods", PC_STR_LIT("POST"));
  if (r->ac_request_headers.n)
    add_header(resp, "Access-Control-Allow-Headers", r->ac_request_headers);
  if (c->max_age_s > 0)
    pc_buf_printf(&resp->headers, "Access-Control-Max-Age: %lld\r\n", (long long)c->max_age_s);
}
