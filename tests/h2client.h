/* h2client.h - a small HTTP/2 (h2c) client on libnghttp2's client session,
 * for tests that must do what gRPC libraries never do: send a message
 * prefix that claims 64 MiB and nothing more, hold flow-control windows
 * full without finishing, keep a connection alive with WINDOW_UPDATEs,
 * reset streams at once. Blocking socket, one thread; shared by the grpc
 * suite and the end-to-end suites.
 *
 *   pc_h2_t *h = pc_h2_open(port);
 *   int32_t id = pc_h2_call(h, PATH, msg, n, n, n, NULL); // a whole unary call
 *   pc_h2_pump(h, 5000);                            // until every stream closed
 *   pc_h2_status(h, id);                            // its grpc-status
 *   pc_h2_close(h); */
#ifndef PC_TEST_H2CLIENT_H
#define PC_TEST_H2CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pc_h2 pc_h2_t;

/* Connect to 127.0.0.1:port and send the preface and SETTINGS; NULL when
 * the connection fails. */
pc_h2_t *pc_h2_open(int port);
void pc_h2_close(pc_h2_t *h);

/* Start a gRPC call (POST, content-type application/grpc, te: trailers) on
 * path whose DATA are head[0..head_n) then zeros, total bytes in all (head
 * must stay valid until sent). Only the first `stall_after` bytes are sent
 * (as flow control allows); the stream ends (END_STREAM) once all `total`
 * were sent, and stays open forever when stall_after < total. extra: one
 * more "name: value" header, or NULL. The stream id. */
int32_t pc_h2_call(pc_h2_t *h, const char *path, const uint8_t *head, size_t head_n,
                   size_t total, size_t stall_after, const char *extra);
/* RST_STREAM(CANCEL) for id, sent at the next pump. */
void pc_h2_reset(pc_h2_t *h, int32_t id);
/* A WINDOW_UPDATE of one byte for the connection, sent at the next pump:
 * traffic that keeps a connection alive without any stream's data. */
void pc_h2_window_update(pc_h2_t *h);

/* Exchange frames for up to ms, or until no stream is open and nothing is
 * left to send (then early). 0, or -1 once the server closed the
 * connection (or it failed). */
int pc_h2_pump(pc_h2_t *h, int ms);
/* Streams still open. */
unsigned pc_h2_open_streams(const pc_h2_t *h);

/* What stream id got: its grpc-status (-1: none yet), its :status (0:
 * none), the RST_STREAM code it was closed with (0: none or NO_ERROR),
 * whether it is closed, and the DATA bytes sent on it. */
int pc_h2_status(const pc_h2_t *h, int32_t id);
int pc_h2_http_status(const pc_h2_t *h, int32_t id);
uint32_t pc_h2_reset_code(const pc_h2_t *h, int32_t id);
bool pc_h2_closed(const pc_h2_t *h, int32_t id);
size_t pc_h2_sent(const pc_h2_t *h, int32_t id);
/* Whether the answer to id (headers or trailers) holds a
 * grpc-status-details-bin (a RetryInfo for UNAVAILABLE). */
bool pc_h2_has_details(const pc_h2_t *h, int32_t id);

/* Pump every client in turn, 20 ms each, for ms; with keepalive each
 * sends a WINDOW_UPDATE (pc_h2_window_update) every 300 ms. */
void pc_h2_pump_all(pc_h2_t **h, int n, int ms, bool keepalive);
/* Whether each stream ids[c][0..2) of each client h[c] sent want bytes or
 * was answered (or closed). */
bool pc_h2_all_sent_or_answered(pc_h2_t **h, int n, int32_t (*ids)[2], size_t want);

/* A gRPC message prefix: uncompressed, claiming n bytes. */
void pc_h2_prefix(uint8_t out[5], uint32_t n);

#endif
