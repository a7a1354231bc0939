/* redact.c - credentials out of logs and error messages (core.h).
 *
 * The one idea: a secret is recognised by where it sits, not by what it
 * looks like. A header or client-metadata value is secret when its name
 * says so (authorization, *token*, *secret*, *key, cookie, ...); in a URL,
 * the userinfo (user:password@) and the values of query parameters with
 * such names are. Every place that prints a URL, a header or a metadata
 * value passes it through here first; the value itself is never changed,
 * only what is shown. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core.h"

/* Name parts that mark a credential, matched in any case anywhere in the
 * name; and names that carry one without saying so. */
static const char *const SECRET_PARTS[] = {
    "auth", "token", "secret", "passw", "pwd", "apikey", "api-key", "api_key", "cookie",
    "credential", "session", "signature", "private", "bearer"};
static const char *const SECRET_NAMES[] = {"x-honeycomb-team", "key"};

static bool has_part(const uint8_t *p, size_t n, const char *part) {
  size_t k = strlen(part);
  for (size_t i = 0; i + k <= n; i++)
    if (strncasecmp((const char *)p + i, part, k) == 0) return true;
  return false;
}

bool pc_redact_key(pc_str_t key) {
  for (size_t i = 0; i < sizeof SECRET_PARTS / sizeof SECRET_PARTS[0]; i++)
    if (has_part(key.p, key.n, SECRET_PARTS[i])) return true;
  for (size_t i = 0; i < sizeof SECRET_NAMES / sizeof SECRET_NAMES[0]; i++)
    if (key.n == strlen(SECRET_NAMES[i]) && strncasecmp((const char *)key.p, SECRET_NAMES[i], key.n) == 0)
      return true;
  /* "x-api-key", "ocp-apim-subscription-key", "dd-application-key" */
  return key.n > 4 && strncasecmp((const char *)key.p + key.n - 4, "-key", 4) == 0;
}

pc_str_t pc_redact_value(pc_str_t key, pc_str_t value) {
  return pc_redact_key(key) && value.n ? PC_STR_LIT(PC_REDACTED) : value;
}

/* Append p[0..n) to out[*o..cap), always leaving room for the NUL. */
static void put(char *out, size_t cap, size_t *o, const char *p, size_t n) {
  if (*o + 1 >= cap) return;
  if (n > cap - 1 - *o) n = cap - 1 - *o;
  memcpy(out + *o, p, n);
  *o += n;
}

const char *pc_redact_url(const char *url, char *out, size_t cap) {
  if (!cap) return "";
  size_t o = 0;
  out[0] = 0;
  if (!url) return out;
  const char *scheme_end = strstr(url, "://");
  const char *auth = scheme_end ? scheme_end + 3 : url;
  const char *auth_end = auth + strcspn(auth, "/?#");
  put(out, cap, &o, url, (size_t)(auth - url));
  /* The last '@' of the authority ends the userinfo (a password may hold '@'
   * unescaped in careless configs). */
  const char *at = NULL;
  for (const char *p = auth; p < auth_end; p++)
    if (*p == '@') at = p;
  if (at) {
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon) { /* keep the user, as Go's url.URL.Redacted does */
      put(out, cap, &o, auth, (size_t)(colon + 1 - auth));
      put(out, cap, &o, PC_REDACTED_URL, strlen(PC_REDACTED_URL));
    } else { /* a user alone is often a token */
      put(out, cap, &o, PC_REDACTED_URL, strlen(PC_REDACTED_URL));
    }
    auth = at;
  }
  put(out, cap, &o, auth, (size_t)(auth_end - auth));
  /* The path as it is; in the query, the values of secret-named parameters. */
  const char *q = strchr(auth_end, '?');
  const char *frag = auth_end + strcspn(auth_end, "#");
  if (!q || q > frag) q = frag;
  put(out, cap, &o, auth_end, (size_t)(q - auth_end));
  while (q < frag) {
    const char *end = q + 1 + strcspn(q + 1, "&#");
    if (end > frag) end = frag;
    const char *eq = memchr(q, '=', (size_t)(end - q));
    if (eq && pc_redact_key((pc_str_t){(const uint8_t *)q + 1, (size_t)(eq - q - 1)})) {
      put(out, cap, &o, q, (size_t)(eq + 1 - q));
      put(out, cap, &o, PC_REDACTED_URL, strlen(PC_REDACTED_URL));
    } else {
      put(out, cap, &o, q, (size_t)(end - q));
    }
    q = end;
  }
  put(out, cap, &o, frag, strlen(frag));
  out[o] = 0;
  return out;
}
