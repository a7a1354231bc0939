/* e2e.h - start the real profcol binary with an inline YAML config and talk
 * to it over real loopback sockets (for the end-to-end suites).
 *
 * The binary comes from $PROFCOL_BIN (set by meson). Configs should use
 * "endpoint: 127.0.0.1:0": the harness reads the bound port from the
 * receiver's "listening for OTLP/HTTP on ... (port N)" log line, and other
 * listeners' ports (health_check, the metrics endpoint) from theirs with
 * pc_e2e_port_of. */
#ifndef PC_E2E_H
#define PC_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../../pdata/pdata.h"

typedef struct {
  pid_t pid;
  int port; /* first listening port found in the log, 0 if none */
  char dir[256];
  char log_path[300];
  char config_path[300];
} pc_e2e_proc_t;

/* Write yaml to a temp dir and start `profcol --config FILE`; waits until
 * "everything is ready" is logged (true) or the process exits or 15 s pass
 * (false; the log tells why). */
bool pc_e2e_start(pc_e2e_proc_t *p, const char *yaml);
/* The same with more arguments after the --config ones (NULL-ended, may be
 * NULL); with yaml NULL, no config file is given at all (the built-in config,
 * and whatever --config or --set args holds). */
bool pc_e2e_start_args(pc_e2e_proc_t *p, const char *yaml, const char *const *args);
/* SIGTERM, wait up to timeout_s; returns the exit status, or -1 when it
 * had to be killed, or 128+N when killed by signal N. */
int pc_e2e_stop(pc_e2e_proc_t *p, int timeout_s);
/* Send signum and return at once (to watch a drain). */
void pc_e2e_signal(const pc_e2e_proc_t *p, int signum);
/* Wait up to timeout_s for the process to exit; results as pc_e2e_stop. */
int pc_e2e_wait_exit(pc_e2e_proc_t *p, int timeout_s);
/* The port in the first log line of a component whose log id starts with
 * component ("service:telemetry", "extension:health_check") and that says
 * "(port N)"; 0 when there is none. */
int pc_e2e_port_of(const pc_e2e_proc_t *p, const char *component);
/* The whole log so far (malloc'd, NUL-terminated). */
char *pc_e2e_log(const pc_e2e_proc_t *p);
/* How many times needle occurs in the log so far. */
int pc_e2e_log_count(const pc_e2e_proc_t *p, const char *needle);
/* Wait until the log contains needle (true) or timeout_ms passes (false). */
bool pc_e2e_wait_log(const pc_e2e_proc_t *p, const char *needle, int timeout_ms);
/* Remove the temp dir. */
void pc_e2e_cleanup(pc_e2e_proc_t *p);

typedef struct {
  int status;        /* HTTP status, or -1 on a transport error */
  char headers[2048]; /* raw response headers */
  pc_buf_t body;
} pc_e2e_resp_t;

/* pc_e2e_start, failing the test with the log when profcol did not start
 * ("profcol did not <what>"). */
void pc_e2e_start_or_fail(pc_e2e_proc_t *p, const char *yaml, const char *what);

/* A loopback connection to port whose reads give up after timeout_s
 * seconds; -1 when it cannot be made. */
int pc_e2e_connect(int port, int timeout_s);
/* Append to req a POST of body to path (Content-Length, Connection: close)
 * with more header lines ("Name: value\r\n" each; may be NULL), as
 * pc_e2e_post_headers sends it: for clients that send it their own way. */
void pc_e2e_post_request(pc_buf_t *req, int port, const char *path, const char *content_type,
                         const char *headers, const void *body, size_t n);

/* One POST over a fresh connection (Connection: close). content_encoding may
 * be NULL. The caller frees resp->body. */
int pc_e2e_post(int port, const char *path, const char *content_type,
                const char *content_encoding, const void *body, size_t n, pc_e2e_resp_t *resp);
/* pc_e2e_post with more header lines ("Name: value\r\n" each; may be NULL). */
int pc_e2e_post_headers(int port, const char *path, const char *content_type,
                        const char *headers, const void *body, size_t n, pc_e2e_resp_t *resp);
/* One GET over a fresh connection (Connection: close), as pc_e2e_post. */
int pc_e2e_get(int port, const char *path, pc_e2e_resp_t *resp);
/* The same with more header lines ("Name: value\r\n" each; may be NULL). */
int pc_e2e_get_headers(int port, const char *path, const char *headers, pc_e2e_resp_t *resp);
/* Send raw bytes and read the whole answer until the server closes. */
int pc_e2e_raw(int port, const void *req, size_t n, pc_buf_t *answer);
/* Run tests/grpc/grpc_client.py (python3-grpcio) against port with
 * tests/data/request.txtpb and the given options and cases (NULL-ended);
 * returns its exit status (0: every case answered as expected). */
int pc_e2e_grpc_client(int port, const char *const *cases);
/* A free loopback port (bound, then released: fine for a test). */
int pc_e2e_free_port(void);

/* Decode every request of a file exporter's proto output (4-byte
 * big-endian length + protobuf each) and call fn on it; a record still
 * being written at the end is ignored. Returns the number of requests, 0
 * when the file does not exist; a record that does not decode fails the
 * test. */
int pc_e2e_read_proto_file(const char *path, void (*fn)(const pc_request_t *req, void *arg),
                           void *arg);
/* Samples in such a file (0 when it does not exist). */
uint64_t pc_e2e_samples_in_file(const char *path);
/* Samples in such a file once want arrived, or after 30 s. */
uint64_t pc_e2e_wait_samples(const char *path, uint64_t want);
/* A backend: a profcol on port writing what it gets to out (proto), as
 * pc_e2e_start; fails the test when it does not start. */
void pc_e2e_start_file_sink(pc_e2e_proc_t *p, int port, const char *out);

/* Whether resident-set figures mean what they say in this build: under
 * AddressSanitizer (as the binary is built with the tests) freed blocks sit
 * in its quarantine and every block has shadow, so a test bounds memory by
 * the process's own accounting there, and by RSS only without it. */
#if defined(__SANITIZE_ADDRESS__)
#define PC_E2E_RSS_MEANINGFUL 0
#else
#define PC_E2E_RSS_MEANINGFUL 1
#endif

/* A field of /proc/PID/status (VmSize, VmRSS, VmHWM; pid 0: this process)
 * in bytes, 0 when the process or the field is not there. */
uint64_t pc_e2e_proc_status(pid_t pid, const char *field);

/* Run `profcol ARGS...`, capture stdout+stderr into out; returns exit status. */
int pc_e2e_run(const char *const *args, pc_buf_t *out);

#endif
