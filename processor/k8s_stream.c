/* k8s_stream.c - the API server's answers cut into objects (k8s.h).
 *
 * The one idea: never hold a whole answer. A list of 10,000 pods is tens of
 * megabytes of JSON (managedFields alone are kilobytes per pod), and jansson
 * would make several times that of a tree; a watch never ends at all. So
 * the bytes go through a small scanner that knows only where JSON values
 * begin and end - strings and their escapes, nesting of {} and [] - and
 * hands over one value at a time: each event of a watch, each element of a
 * list's "items", and the list's other members (its "metadata" carries the
 * resourceVersion and the continue token). Each piece is at most max bytes
 * (PC__K8S_MAX_OBJECT: bigger than any object etcd stores), and jansson,
 * which checks everything else about the JSON, reads only that piece.
 *
 * Input is untrusted (a man in the middle of a kubeConfig with
 * insecure-skip-tls-verify, a broken proxy): the scanner's memory is the
 * one piece it collects, its work is linear, it never recurses, and
 * anything that is not the expected shape is PC_EDECODE with the byte
 * offset (tests/fuzz/k8s_stream_fuzz.c). A piece that does not end before
 * the answer does is an error too: a cut connection must not look like a
 * short list. A value that lies inside one fed chunk is handed over from
 * the caller's bytes without a copy. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "k8s.h"

enum {
  S_START,        /* list: before the top object */
  S_KEY_OR_END,   /* list: after '{' */
  S_KEY,          /* list: after ',' */
  S_IN_KEY,
  S_COLON,
  S_VALUE,        /* list: after ':' */
  S_AFTER,        /* list: after a member's value */
  S_ITEMS_FIRST,  /* after "items": [ */
  S_ITEMS,        /* after an element's ',' */
  S_ITEM_AFTER,   /* after an element */
  S_DONE,         /* list: after the top object's '}' */
  S_EVENT,        /* events: between objects */
  S_COLLECT,      /* inside a value being collected (see col) */
};

/* What is being collected. */
enum { C_NESTED = 1, C_STRING, C_SCALAR };

/* Private fields beyond k8s.h's: kept in state's high bits to avoid
 * growing the public struct. */
#define COL_SHIFT 8
#define RET_SHIFT 16
#define ST(s) ((s)->state & 0xff)
#define COL(s) (((s)->state >> COL_SHIFT) & 0xff)
#define RET(s) (((s)->state >> RET_SHIFT) & 0xff)

static void set_state(pc__k8s_split_t *s, int st) { s->state = (s->state & ~0xff) | st; }

void pc__k8s_split_init(pc__k8s_split_t *s, pc__k8s_split_mode_t mode, size_t max,
                        int (*emit)(void *, const char *, const uint8_t *, size_t), void *arg) {
  memset(s, 0, sizeof *s);
  s->mode = mode;
  s->max = max;
  s->emit = emit;
  s->arg = arg;
  pc__k8s_split_reset(s);
}

void pc__k8s_split_reset(pc__k8s_split_t *s) {
  s->state = s->mode == PC__K8S_SPLIT_LIST ? S_START : S_EVENT;
  s->depth = 0;
  s->in_str = s->esc = s->done = false;
  s->cur.n = 0;
  s->key_n = 0;
  s->key[0] = 0;
  s->offset = 0;
}

void pc__k8s_split_free(pc__k8s_split_t *s) { pc_buf_free(&s->cur); }

static bool ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int bad(pc__k8s_split_t *s, uint64_t at, char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad(pc__k8s_split_t *s, uint64_t at, char *why, size_t cap, const char *fmt, ...) {
  char what[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(why, cap, "%s at byte %llu of the %s", what, (unsigned long long)at,
           s->mode == PC__K8S_SPLIT_LIST ? "list" : "watch stream");
  s->done = true; /* nothing more is read from this answer */
  return PC_EDECODE;
}

static const char *printable(uint8_t c, char *buf) {
  if (c >= 0x20 && c < 0x7f)
    snprintf(buf, 8, "'%c'", c);
  else
    snprintf(buf, 8, "0x%02x", c);
  return buf;
}

/* Begin collecting a value whose first byte is c (at p[i]); ret: the state
 * after it. A string or scalar value; nested values start at depth 1. */
static void begin(pc__k8s_split_t *s, uint8_t c, int ret) {
  int col = c == '{' || c == '[' ? C_NESTED : c == '"' ? C_STRING : C_SCALAR;
  s->state = S_COLLECT | col << COL_SHIFT | ret << RET_SHIFT;
  s->depth = col == C_NESTED;
  s->in_str = s->esc = false;
  s->cur.n = 0;
}

/* The value collected ends with p[0..end) of this chunk (started at p[start]
 * or in earlier chunks): hand it over. */
static int finish(pc__k8s_split_t *s, const uint8_t *p, size_t start, size_t end, char *why,
                  size_t cap) {
  const uint8_t *v = p + start;
  size_t n = end - start;
  if (s->cur.n) { /* it began in an earlier chunk */
    if (n > s->max - s->cur.n) {
      bad(s, s->offset + end, why, cap, "an object over %zu bytes", s->max);
      return PC_ELIMIT;
    }
    if (pc_buf_append(&s->cur, v, n)) return PC_ENOMEM;
    v = s->cur.p;
    n = s->cur.n;
  } else if (n > s->max) {
    bad(s, s->offset + end, why, cap, "an object over %zu bytes", s->max);
    return PC_ELIMIT;
  }
  int ret = RET(s);
  const char *key = s->mode == PC__K8S_SPLIT_EVENTS ? NULL
                    : ret == S_ITEM_AFTER           ? "items"
                                                    : s->key;
  s->state = ret;
  int rc = s->emit(s->arg, key, v, n);
  s->cur.n = 0;
  if (rc) s->done = true;
  return rc;
}

int pc__k8s_split_feed(pc__k8s_split_t *s, const uint8_t *p, size_t n, char *why, size_t cap) {
  if (s->done) return 0;
  size_t start = 0; /* where the value being collected starts in p */
  char pb[8];
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    uint64_t at = s->offset + i;
    switch (ST(s)) {
    case S_COLLECT:
      switch (COL(s)) {
      case C_STRING:
        if (s->esc) {
          s->esc = false;
        } else if (c == '\\') {
          s->esc = true;
        } else if (c == '"') {
          int rc = finish(s, p, start, i + 1, why, cap);
          if (rc) return rc;
        }
        break;
      case C_NESTED:
        if (s->in_str) {
          if (s->esc) s->esc = false;
          else if (c == '\\') s->esc = true;
          else if (c == '"') s->in_str = false;
        } else if (c == '"') {
          s->in_str = true;
        } else if (c == '{' || c == '[') {
          s->depth++;
        } else if (c == '}' || c == ']') {
          if (--s->depth == 0) {
            int rc = finish(s, p, start, i + 1, why, cap);
            if (rc) return rc;
          }
        }
        break;
      default: /* C_SCALAR: ends before a delimiter, which the next state reads */
        if (ws(c) || c == ',' || c == '}' || c == ']') {
          int rc = finish(s, p, start, i, why, cap);
          if (rc) return rc;
          i--; /* read c again in the state after the value */
        }
        break;
      }
      /* A value growing past max in one chunk: stop early, not at its end. */
      if (ST(s) == S_COLLECT && s->cur.n + (i + 1 - start) > s->max) {
        bad(s, at, why, cap, "an object over %zu bytes", s->max);
        return PC_ELIMIT;
      }
      break;
    case S_EVENT:
      if (ws(c)) break;
      if (c != '{') return bad(s, at, why, cap, "expected an event object, got %s", printable(c, pb));
      begin(s, c, S_EVENT);
      start = i;
      break;
    case S_START:
      if (ws(c)) break;
      if (c != '{') return bad(s, at, why, cap, "expected a list object, got %s", printable(c, pb));
      set_state(s, S_KEY_OR_END);
      break;
    case S_KEY_OR_END:
    case S_KEY:
      if (ws(c)) break;
      if (c == '}' && ST(s) == S_KEY_OR_END) {
        set_state(s, S_DONE);
        break;
      }
      if (c != '"') return bad(s, at, why, cap, "expected a member name, got %s", printable(c, pb));
      s->key_n = 0;
      s->key[0] = 0;
      s->esc = false;
      set_state(s, S_IN_KEY);
      break;
    case S_IN_KEY:
      if (s->esc) {
        s->esc = false;
      } else if (c == '\\') {
        s->esc = true;
      } else if (c == '"') {
        set_state(s, S_COLON);
        break;
      }
      /* Names that matter ("items", "metadata") are short and plain; a long
       * one is kept cut, and never equals them. */
      if (s->key_n + 1 < sizeof s->key) {
        s->key[s->key_n++] = (char)c;
        s->key[s->key_n] = 0;
      } else {
        s->key[0] = '\\'; /* no name the callers look for starts so */
      }
      break;
    case S_COLON:
      if (ws(c)) break;
      if (c != ':') return bad(s, at, why, cap, "expected ':', got %s", printable(c, pb));
      set_state(s, S_VALUE);
      break;
    case S_VALUE:
      if (ws(c)) break;
      if (c == '[' && !strcmp(s->key, "items")) {
        set_state(s, S_ITEMS_FIRST);
        break;
      }
      if (c == ',' || c == '}' || c == ']' || c == ':')
        return bad(s, at, why, cap, "expected a value, got %s", printable(c, pb));
      begin(s, c, S_AFTER);
      start = i;
      break;
    case S_AFTER:
      if (ws(c)) break;
      if (c == ',') set_state(s, S_KEY);
      else if (c == '}') set_state(s, S_DONE);
      else return bad(s, at, why, cap, "expected ',' or '}', got %s", printable(c, pb));
      break;
    case S_ITEMS_FIRST:
    case S_ITEMS:
      if (ws(c)) break;
      if (c == ']' && ST(s) == S_ITEMS_FIRST) {
        set_state(s, S_AFTER);
        break;
      }
      if (c == ',' || c == '}' || c == ']' || c == ':')
        return bad(s, at, why, cap, "expected an item, got %s", printable(c, pb));
      begin(s, c, S_ITEM_AFTER);
      start = i;
      break;
    case S_ITEM_AFTER:
      if (ws(c)) break;
      if (c == ',') set_state(s, S_ITEMS);
      else if (c == ']') set_state(s, S_AFTER);
      else return bad(s, at, why, cap, "expected ',' or ']' after an item, got %s", printable(c, pb));
      break;
    case S_DONE:
      if (ws(c)) break;
      return bad(s, at, why, cap, "%s after the list's end", printable(c, pb));
    }
    if (s->done) return 0; /* emit asked to stop */
  }
  /* Keep the part of a value this chunk holds. */
  if (ST(s) == S_COLLECT && n > start) {
    if (s->cur.n + (n - start) > s->max) {
      bad(s, s->offset + n, why, cap, "an object over %zu bytes", s->max);
      return PC_ELIMIT;
    }
    if (pc_buf_append(&s->cur, p + start, n - start)) return PC_ENOMEM;
  }
  s->offset += n;
  return 0;
}

int pc__k8s_split_end(pc__k8s_split_t *s, char *why, size_t cap) {
  if (s->done) return 0;
  int st = ST(s);
  if (s->mode == PC__K8S_SPLIT_EVENTS ? st == S_EVENT : st == S_DONE) return 0;
  return bad(s, s->offset, why, cap, "the answer ended inside %s",
             st == S_COLLECT ? "an object" : s->mode == PC__K8S_SPLIT_LIST ? "the list" : "an event");
}

/* ---- reading objects ---------------------------------------------------------------------- */

static const json_t *walk(const json_t *o, va_list ap) {
  for (const char *k; o && (k = va_arg(ap, const char *));) o = json_object_get(o, k);
  return o;
}

const char *pc__k8s_jstr(const json_t *o, ...) {
  va_list ap;
  va_start(ap, o);
  o = walk(o, ap);
  va_end(ap);
  return json_is_string(o) ? json_string_value(o) : NULL;
}

json_t *pc__k8s_jobj(const json_t *o, ...) {
  va_list ap;
  va_start(ap, o);
  o = walk(o, ap);
  va_end(ap);
  return json_is_object(o) ? (json_t *)o : NULL;
}
