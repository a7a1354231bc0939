/* query_fuzz.c - libFuzzer target for what the query API and the flame
 * graph page read from a request (extension/trace_query.c, ui.c): the
 * path and its percent-encoded service segment, the query string (ids,
 * sample_type, format, limit), and the Accept and Accept-Encoding headers.
 *
 * An input is "URL\nACCEPT\nACCEPT-ENCODING" (missing lines are absent
 * headers). The window holds one linked sample of service "s" and trace
 * 0101..01, so selections run past parsing. Properties checked beyond "no
 * crash": every answer has a status from 200 to 599 and a content type;
 * 200s of the profile paths say which sample type they added up. */
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

#include "../../extension/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string view usable in static initializers. */
#define S(x) {(const uint8_t *)(x), sizeof(x) - 1}

static pc_linked_t *window(void) {
  static pc_linked_t *w;
  if (w) return w;
  pc_linked_cfg_t cfg = {.window_ms = 3600000, .max_bytes = 16 << 20};
  w = pc_linked_new(&cfg);
  static uint8_t trace[16], span[8];
  memset(trace, 1, sizeof trace);
  memset(span, 2, sizeof span);
  static pc_str_t strings[] = {S(""), S("cpu"), S("nanoseconds"), S("main")};
  static pc_function_t functions[] = {{0}, {.name_strindex = 3}};
  static pc_line_t lines[] = {{.function_index = 1}};
  static pc_location_t locations[] = {{0}, {.lines = lines, .n_lines = 1}};
  static int32_t st[] = {1};
  static pc_stack_t stacks[] = {{{0}}, {{st, 1}}};
  static const uint8_t zeros[16];
  static pc_link_t links[] = {{{zeros, 16}, {zeros, 8}}, {{trace, 16}, {span, 8}}};
  static int64_t v[] = {7};
  static pc_sample_t samples[] = {{.stack_index = 1, .link_index = 1, .values = v, .n_values = 1}};
  static pc_profile_t profiles[] = {{.has_sample_type = true, .sample_type = {1, 2},
                                     .samples = samples, .n_samples = 1}};
  static pc_scope_profiles_t scopes[] = {{.profiles = profiles, .n_profiles = 1}};
  static pc_keyvalue_t svc[] = {{.key = S("service.name"), .has_value = true,
                                 .value = {.type = PC_AV_STRING, .u.s = S("s")}}};
  static pc_resource_profiles_t resources[] = {
      {.resource = {.attributes = {svc, 1}}, .scopes = scopes, .n_scopes = 1}};
  pc_request_t req = {.has_dictionary = true, .resources = resources, .n_resources = 1};
  req.dict = (pc_dictionary_t){.locations = locations, .n_locations = 2,
                               .functions = functions, .n_functions = 2, .links = links,
                               .n_links = 2, .strings = strings, .n_strings = 4,
                               .stacks = stacks, .n_stacks = 2};
  pc_linked_add(w, &req, 1000);
  return w;
}

static pc_str_t line(const uint8_t **p, const uint8_t *end) {
  const uint8_t *nl = *p < end ? memchr(*p, '\n', (size_t)(end - *p)) : NULL;
  pc_str_t s = {*p, (size_t)((nl ? nl : end) - *p)};
  *p = nl ? nl + 1 : end;
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_spans_t *spans;
  if (!spans) {
    pc_spans_cfg_t cfg = {.window_ms = 3600000, .max_bytes = 1 << 20, .stripes = 1};
    spans = pc_spans_new(&cfg);
  }
  const uint8_t *p = data, *end = data + size;
  pc_str_t url = line(&p, end);
  pc_md_pair_t headers[2] = {{PC_STR_LIT("Accept"), {0}}, {PC_STR_LIT("Accept-Encoding"), {0}}};
  size_t nh = 0;
  while (p < end && nh < 2) headers[nh].value = line(&p, end), nh++;
  const uint8_t *q = memchr(url.p, '?', url.n);
  pc_http_request_t r = {.method = HTTP_GET, .url = url,
                         .path = {url.p, q ? (size_t)(q - url.p) : url.n},
                         .headers = {headers, nh}};
  pc_http_response_t resp = {0};
  if (pc__ui_path(r.path)) {
    pc__ui_answer(&r, &resp);
  } else {
    pc__query_t qy = {.spans = spans, .linked = window(), .window_ms = 3600000,
                      .now_ms = 2000, .wall_ms = 1700000000000ull,
                      .max_query_bytes = 1 << 20};
    pc__query_answer(&qy, &r, &resp);
    if (resp.status == 200 && r.path.n > 8 &&
        !memcmp(r.path.p + r.path.n - 8, "/profile", 8) &&
        !(resp.headers.n && memmem(resp.headers.p, resp.headers.n, "X-Profcol-Sample-Type: ", 23)))
      abort();
  }
  if (resp.status < 200 || resp.status > 599 || (resp.status != 308 && !resp.content_type))
    abort();
  pc_buf_free(&resp.body);
  pc_buf_free(&resp.headers);
  return 0;
}
