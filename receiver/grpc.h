/* grpc.h - the OTLP receiver's gRPC side (grpc.c): an HTTP/2 server
 * (cleartext, or TLS with ALPN h2) on the receiver's libuv loop
 * (libnghttp2's server session, fed from uv_read callbacks), serving the
 * unary Export methods of ProfilesService and TraceService with the same
 * pipeline contract as OTLP/HTTP.
 *
 * Ownership: otlp.c creates one pc_grpc_server_t per receiver instance that
 * has protocols.grpc, starts it next to its HTTP server, closes both on
 * shutdown and frees it on destroy. Everything runs on the loop's thread;
 * the counters may be read from any thread (relaxed atomics).
 *
 * Not a public header: only receiver/, tests/ and tests/fuzz/ include it. */
#ifndef PC_RECEIVER_GRPC_H
#define PC_RECEIVER_GRPC_H

#include "internal.h"

#define PC_GRPC_PROFILES_PATH "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
#define PC_GRPC_TRACES_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

/* protocols.grpc, with the Collector's keys (configgrpc.ServerConfig).
 * Durations are milliseconds; 0 means "no limit" where the Collector's is
 * infinity. */
typedef struct {
  char *endpoint;                 /* "host:port" */
  char *transport;                /* "tcp" only */
  int64_t max_recv_msg_size_mib;  /* a message, compressed and decompressed */
  int64_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
  uint64_t read_buffer_size;      /* accepted; the loop reads in 64 KiB steps */
  uint64_t write_buffer_size;     /* accepted; answers are written as they come */
  bool include_metadata;          /* pass the call's metadata on with its data */
  char *authenticator;            /* auth.authenticator: a bearertokenauth id, or NULL */
  pc_ref_t auth_ref;              /* ... with the place of the key that names it */
  pc_tls_files_t tls;             /* tls: TLS (ALPN h2) when cert_file is set */
  /* keepalive.server_parameters */
  uint64_t max_connection_idle;      /* no open stream this long: GOAWAY */
  uint64_t max_connection_age;       /* connection this old: GOAWAY */
  uint64_t max_connection_age_grace; /* ... then closed this much later */
  uint64_t keepalive_time;           /* silent this long: PING */
  uint64_t keepalive_timeout;        /* PING unanswered, a stream or the
                                        handshake stalled, an answer not
                                        taken: close */
  /* keepalive.enforcement_policy */
  uint64_t min_time;          /* client PINGs closer than this are strikes */
  bool permit_without_stream; /* PINGs without open streams are fine */
} pc_grpc_settings_t;

/* Parse node (protocols.grpc; NULL: defaults) into s. Strings in s point
 * into the config tree. PC_EINVAL with err at the bad key's file:line. */
int pc__grpc_settings(const pc_cfg_node_t *node, pc_grpc_settings_t *s, pc_err_t *err);
/* The option table (for --help). */
extern const pc_opt_t pc__grpc_opts[];

typedef struct pc_grpc_server pc_grpc_server_t;

/* A server for s (strings copied) that hands requests to next and counts
 * into rxc and hc (both must outlive it). log_id ("receiver:otlp") is
 * copied. tls: NULL for cleartext (h2c), or a context made for ALPN "h2"
 * (pc_server_tls_ctx with s->tls) that the server takes. No I/O yet. */
pc_grpc_server_t *pc__grpc_new(const pc_grpc_settings_t *s, const char *log_id,
                               pc_consumer_t *next, pc__rx_counters_t *rxc,
                               pc_http_counters_t *hc, pc_tls_ctx_t *tls);
/* Find the authenticator the settings name (the component's resolve). */
int pc__grpc_resolve(pc_grpc_server_t *g, const pc_host_t *host, pc_err_t *err);
/* Bind and listen on loop. Fills err with the endpoint and the reason. */
int pc__grpc_listen(pc_grpc_server_t *g, uv_loop_t *loop, pc_err_t *err);
/* Serve an already connected stream socket on loop (tests, fuzzing). */
int pc__grpc_adopt(pc_grpc_server_t *g, uv_loop_t *loop, uv_os_sock_t fd);
/* Free the spare decode jobs (the receiver's trim, on the loop). */
void pc__grpc_drop_spares(pc_grpc_server_t *g);
/* Request memory its spare decode jobs hold (tests, fuzzing). */
uint64_t pc__grpc_spare_held(const pc_grpc_server_t *g);
/* The bound port, or 0 when not listening. */
int pc__grpc_port(const pc_grpc_server_t *g);
/* Stop accepting, send GOAWAY to every connection, let streams in progress
 * finish until deadline_ms (uv_now based), then close everything; done(arg)
 * once every handle is closed. Safe before listen and safe twice. */
void pc__grpc_close(pc_grpc_server_t *g, uint64_t deadline_ms, pc_done_cb done, void *arg);
/* Free a server that is closed (or was never started). */
void pc__grpc_free(pc_grpc_server_t *g);

/* Parse a grpc-timeout value (1 to 8 ASCII digits, then H, M, S, m, u or n)
 * into *ms, rounding below a millisecond up; PC_EINVAL when malformed. */
int pc__grpc_timeout_parse(const uint8_t *v, size_t n, uint64_t *ms);

/* The gRPC port of an otlp receiver instance, or 0 (otlp.c). */
int pc__otlp_grpc_port(void *self);

#endif
