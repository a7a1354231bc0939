/* internal.h - what the receiver's files share: the receiver's counters
 * and the OTLP receiver's settings (otlp.c), exposed so that tests and the
 * fuzz target can build a receiver without a YAML file. The HTTP/1.1 server
 * underneath is httpd/ (httpd.h).
 *
 * Not a public header: only receiver/, tests/ and tests/fuzz/ include it. */
#ifndef PC_RECEIVER_INTERNAL_H
#define PC_RECEIVER_INTERNAL_H

#include <llhttp.h>
#include <stdatomic.h>
#include <uv.h>

#include "../core/log.h"
#include "../httpd/httpd.h"
#include "receiver.h"

/* ---- counters --------------------------------------------------------------
 * What the receiver counts beyond its HTTP server (pc_http_counters_t).
 * Written on the receiver's loop, read from anywhere: relaxed atomics. */
typedef struct {
  _Atomic uint64_t profiles_accepted, profiles_refused;
  _Atomic uint64_t samples_accepted, samples_refused;
  _Atomic uint64_t bytes_decompressed;
} pc__rx_counters_t;

#define PC__CNT_ADD(c, f, v) atomic_fetch_add_explicit(&(c)->f, (uint64_t)(v), memory_order_relaxed)

/* ---- decode arenas ------------------------------------------------------------
 * Shared by the HTTP (otlp.c) and gRPC (grpc.c) sides. Decoded pdata may take
 * RX_ARENA_FACTOR times the decompressed bytes (packed varints widen to 8
 * bytes; small messages gain struct padding). A reused arena keeps
 * RX_ARENA_KEEP bytes of blocks: mapping them afresh for every large message
 * cost 6-7% of the CPU in page faults at 200 KB (bench/README.md), and a
 * 200 KB request decodes into well under that. */
#define RX_ARENA_FACTOR 16
#define RX_ARENA_MIN ((size_t)16 << 20)
#define RX_ARENA_KEEP ((size_t)2 << 20)

/* An arena for decoding payloads of up to max_payload decompressed bytes. */
static inline pc_arena_t *pc__rx_arena_new(uint64_t max_payload) {
  pc_arena_t *a = pc_arena_new(0);
  uint64_t lim = max_payload * RX_ARENA_FACTOR;
  pc_arena_set_limit(a, lim < RX_ARENA_MIN ? RX_ARENA_MIN : (size_t)lim);
  pc_arena_set_keep(a, RX_ARENA_KEEP);
  return a;
}

/* ---- TLS of a listener ----------------------------------------------------------
 * protocols.http.tls and protocols.grpc.tls: the Collector's configtls server
 * keys (component/server.h). */
#include "../component/server.h"

/* ---- the OTLP receiver without YAML ---------------------------------------- */

typedef struct {
  char *endpoint; /* "host:port" */
  uint64_t max_request_body_size;
  uint64_t max_buffered_bytes;
  bool include_metadata;
  char *profiles_url_path;
  char *traces_url_path;
  uint64_t idle_timeout;        /* ms */
  uint64_t read_header_timeout; /* ms */
  uint64_t read_body_timeout;   /* ms */
  uint64_t min_body_rate;       /* bytes per second */
  uint64_t write_timeout;       /* ms */
  uint64_t read_timeout;        /* ms, a whole request; 0: none */
  bool keepalives_enabled;
  int64_t max_connections;
  /* read into the receiver at create */
  const pc_cfg_node_t *response_headers;       /* map of name: value */
  const pc_cfg_node_t *compression_algorithms; /* list of Content-Encodings */
  char *authenticator; /* auth.authenticator: a bearertokenauth id, or NULL */
  /* protocols.http.cors (lists read into the receiver at create) */
  const pc_cfg_node_t *cors_allowed_origins;
  const pc_cfg_node_t *cors_allowed_headers;
  int64_t cors_max_age; /* seconds */
  pc_tls_files_t tls;        /* protocols.http.tls: TLS when cert_file is set */
  const pc_cfg_node_t *http; /* the protocols.http node, if any (error places) */
  const pc_cfg_node_t *grpc; /* the protocols.grpc node, if any */
} pc_otlp_settings_t;

/* Fill s with the defaults of the option table. */
void pc__otlp_defaults(pc_otlp_settings_t *s);
/* The receiver instance behind pc_receiver_otlp.create; strings in s are
 * copied. Returns NULL with err filled when a setting is invalid. */
void *pc__otlp_new(const pc_otlp_settings_t *s, const char *id, pc_consumer_t *next,
                   pc_err_t *err);
/* Its HTTP server (tests and fuzzing adopt sockets into it). */
pc_http_server_t *pc__otlp_server(void *self);

#endif
