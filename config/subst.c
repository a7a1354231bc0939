/* subst.c - ${env:VAR} substitution in config values, as the OpenTelemetry
 * Collector does it, so one file serves every environment.
 *
 * Forms: ${env:VAR} and ${VAR} take the variable's value; ${env:VAR:-text}
 * and ${VAR:-text} take text when VAR is unset (a set but empty variable
 * stays empty, like the Collector's env provider); "$$" is a literal "$"; a
 * "$" before anything else stays as it is. References may be the whole value
 * or embedded in text ("http://${env:HOST}:4318"). The result is not scanned
 * again, so a value containing "${" is taken literally. An unset variable
 * without default, a bad name, another provider (${file:...}) or a missing
 * "}" is an error: a config that silently loses a setting is worse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { MAX_NAME = 255 };

void pc__cfg_quote(char *dst, size_t dst_size, const char *text) {
  size_t o = 0, max_text = 60;
  if (dst_size < 8) {
    if (dst_size) dst[0] = 0;
    return;
  }
  dst[o++] = '"';
  for (size_t i = 0; text[i]; i++) {
    unsigned char c = (unsigned char)text[i];
    size_t room = dst_size - o;
    if (i >= max_text || room < 9) { /* room for \xNN, "...", quote and NUL */
      /* Cut before a whole UTF-8 character (possibly dropping one more). */
      while (o > 1 && ((unsigned char)dst[o - 1] & 0xC0) == 0x80) o--;
      if (o > 1 && (unsigned char)dst[o - 1] >= 0xC0) o--;
      memcpy(dst + o, "...", 3);
      o += 3;
      break;
    }
    if (c == '"' || c == '\\') {
      dst[o++] = '\\';
      dst[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7F) {
      o += (size_t)snprintf(dst + o, room, "\\x%02X", c);
    } else {
      dst[o++] = (char)c;
    }
  }
  dst[o++] = '"';
  dst[o] = 0;
}

static bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

static bool is_scheme(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (!(s[i] >= 'a' && s[i] <= 'z')) return false;
  return true;
}

static int append(pc_buf_t *out, const char *p, size_t n, size_t limit, char *why,
                  size_t why_size) {
  if (n > limit - out->n) {
    snprintf(why, why_size, "the value is longer than %zu bytes after ${...} substitution",
             limit);
    return PC_ELIMIT;
  }
  if (pc_buf_append(out, p, n)) {
    snprintf(why, why_size, "out of memory substituting ${...}");
    return PC_ENOMEM;
  }
  return 0;
}

/* The reference "${" body "}" as written, quoted for a message. */
static void quote_ref(char *dst, size_t size, const char *body, size_t n) {
  char tmp[80];
  snprintf(tmp, sizeof tmp, "${%.*s}", n > 70 ? 70 : (int)n, body);
  pc__cfg_quote(dst, size, tmp);
}

/* Expand one reference; body is what stands between "${" and "}". */
static int expand_ref(const char *body, size_t n, pc_buf_t *out, size_t limit, char *why,
                      size_t why_size) {
  char ref[96];
  quote_ref(ref, sizeof ref, body, n);
  const char *name = body;
  if (n >= 4 && memcmp(body, "env:", 4) == 0) name += 4;
  size_t rest = n - (size_t)(name - body), len = 0;
  while (len < rest && is_name_char(name[len])) len++;
  bool has_default = rest - len >= 2 && name[len] == ':' && name[len + 1] == '-';
  if (name == body && len < rest && name[len] == ':' && !has_default && is_scheme(name, len)) {
    snprintf(why, why_size, "%s: only the env provider is supported (${env:NAME})", ref);
    return PC_EINVAL;
  }
  if (len == 0 || !is_name_start(name[0]) || len > MAX_NAME || (len < rest && !has_default)) {
    snprintf(why, why_size, "%s: invalid environment variable name (use letters, digits and _, "
             "like ${env:MY_VAR})", ref);
    return PC_EINVAL;
  }
  char var[MAX_NAME + 1];
  memcpy(var, name, len);
  var[len] = 0;
  const char *value = getenv(var);
  if (value) return append(out, value, strlen(value), limit, why, why_size);
  if (has_default) return append(out, name + len + 2, rest - len - 2, limit, why, why_size);
  snprintf(why, why_size, "environment variable %s is not set (used in %s); set it or give a "
           "default: ${env:%s:-value}", var, ref, var);
  return PC_EINVAL;
}

int pc__cfg_subst(const char *in, size_t n, size_t limit, pc_buf_t *out, char *why,
                  size_t why_size) {
  int rc = 0;
  out->n = 0;
  for (size_t i = 0; i < n && !rc;) {
    const char *dollar = memchr(in + i, '$', n - i);
    size_t lit = dollar ? (size_t)(dollar - in) - i : n - i;
    if ((rc = append(out, in + i, lit, limit, why, why_size)) || !dollar) break;
    i += lit;
    if (i + 1 < n && in[i + 1] == '$') { /* "$$" */
      rc = append(out, "$", 1, limit, why, why_size);
      i += 2;
    } else if (i + 1 < n && in[i + 1] == '{') {
      const char *close = memchr(in + i + 2, '}', n - i - 2);
      if (!close) {
        snprintf(why, why_size, "a \"${\" without its closing \"}\" (write \"$$\" for a literal "
                 "\"$\")");
        return PC_EINVAL;
      }
      rc = expand_ref(in + i + 2, (size_t)(close - in) - i - 2, out, limit, why, why_size);
      i = (size_t)(close - in) + 1;
    } else { /* a lone "$" */
      rc = append(out, "$", 1, limit, why, why_size);
      i++;
    }
  }
  if (rc) return rc;
  if (pc_buf_reserve(out, 1)) {
    snprintf(why, why_size, "out of memory substituting ${...}");
    return PC_ENOMEM;
  }
  out->p[out->n] = 0;
  return 0;
}
