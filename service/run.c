/* run.c - the commands that run or inspect a pipeline: run (the default),
 * validate and components. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "cli.h"
#include "service.h"

#define LOG "service"

const char pc_default_config[] =
    "# profcol's built-in config: OTLP/HTTP on localhost:4318 into the debug exporter.\n"
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      http:\n"
    "        endpoint: localhost:4318\n"
    "exporters:\n"
    "  debug:\n"
    "    verbosity: normal\n"
    "service:\n"
    "  pipelines:\n"
    "    profiles:\n"
    "      receivers: [otlp]\n"
    "      exporters: [debug]\n"
    "    traces:\n"
    "      receivers: [otlp]\n"
    "      exporters: [debug]\n";

/* --config FILE / --config=FILE, any number of times, in order. Returns the
 * number of files, or -1 on a usage error (message printed). */
static int parse_config_args(int argc, char **argv, const char **files, int cap,
                             const char *cmd) {
  int n = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *file = NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      printf("usage: profcol %s [--config FILE]...\n"
             "Several --config files are merged in order, as the Collector merges them.\n",
             strcmp(cmd, "run") == 0 ? "" : cmd);
      return -2;
    }
    if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "profcol: %s: --config needs a file name\n", cmd);
        return -1;
      }
      file = argv[++i];
    } else if (strncmp(a, "--config=", 9) == 0) {
      file = a + 9;
    } else {
      fprintf(stderr, "profcol: %s: unexpected argument \"%s\" (try profcol --help)\n", cmd, a);
      return -1;
    }
    if (n == cap) {
      fprintf(stderr, "profcol: %s: at most %d --config files\n", cmd, cap);
      return -1;
    }
    files[n++] = file;
  }
  return n;
}

static pc_cfg_t *load_config(const char **files, int n, pc_err_t *err) {
  if (n == 0) return pc_cfg_load_string("<built-in config>", pc_default_config, err);
  return pc_cfg_load(files, (size_t)n, err);
}

static void print_errors(const pc_errlist_t *errs) {
  for (size_t i = 0; i < errs->n; i++) fprintf(stderr, "profcol: config error: %s\n", errs->msgs[i]);
}

/* service.telemetry.logs: level and encoding. */
static int apply_log_settings(const pc_cfg_node_t *root, pc_errlist_t *errs) {
  const pc_cfg_node_t *logs = pc_cfg_get(pc_cfg_get(pc_cfg_get(root, "service"), "telemetry"), "logs");
  if (!logs) return 0;
  const pc_cfg_node_t *level = pc_cfg_get(logs, "level");
  const pc_cfg_node_t *enc = pc_cfg_get(logs, "encoding");
  pc_err_t err = {0};
  if (level && level->text) {
    int l = pc_log_level_parse(level->text);
    if (l < 0) {
      pc_cfg_error(&err, level, PC_EINVAL, "expected debug, info, warn or error, got \"%s\"",
                   level->text);
      pc_errlist_add(errs, err.msg);
    } else {
      pc_log_set_level((pc_log_level_t)l);
    }
  }
  if (enc && enc->text) {
    if (strcmp(enc->text, "json") == 0) pc_log_set_json(true);
    else if (strcmp(enc->text, "console") == 0) pc_log_set_json(false);
    else {
      pc_cfg_error(&err, enc, PC_EINVAL, "expected console or json, got \"%s\"", enc->text);
      pc_errlist_add(errs, err.msg);
    }
  }
  return errs->n ? -1 : 0;
}

/* Load, validate and create. NULL (errors printed) on failure. */
static pc_service_t *build_service(const char **files, int n, pc_cfg_t **cfg_out) {
  pc_err_t err = {0};
  pc_cfg_t *cfg = load_config(files, n, &err);
  if (!cfg) {
    fprintf(stderr, "profcol: config error: %s\n", err.msg);
    return NULL;
  }
  pc_errlist_t errs = {0};
  apply_log_settings(pc_cfg_root(cfg), &errs);
  pc_service_t *s = pc_service_create(pc_cfg_root(cfg), &errs);
  if (errs.n) print_errors(&errs);
  pc_errlist_free(&errs);
  if (!s) {
    pc_cfg_free(cfg);
    return NULL;
  }
  *cfg_out = cfg;
  return s;
}

static int validate_main(int argc, char **argv) { return pc_cmd_validate(argc - 1, argv + 1); }
static int components_main(int argc, char **argv) { return pc_cmd_components(argc - 1, argv + 1); }

const pc_cli_command_t pc__cli_validate_cmd = {
    .name = "validate",
    .usage = "validate --config FILE...",
    .summary = "check a config and print every error at once (exit 0 or 1)",
    .help = "Loads and merges the files in order, checks every component's settings and the\n"
            "pipelines, and prints each problem as file:line:col: key.path: message.\n",
    .run = validate_main,
};

const pc_cli_command_t pc__cli_components_cmd = {
    .name = "components",
    .usage = "components",
    .summary = "list the component types per kind, with their config keys",
    .help = "",
    .run = components_main,
};

int pc_cmd_validate(int argc, char **argv) {
  const char *files[32];
  int n = parse_config_args(argc, argv, files, 32, "validate");
  if (n < 0) return n == -2 ? 0 : 2;
  pc_cfg_t *cfg = NULL;
  pc_service_t *s = build_service(files, n, &cfg);
  if (!s) return 1;
  pc_service_destroy(s);
  pc_cfg_free(cfg);
  printf("config is valid\n");
  return 0;
}

int pc_cmd_components(int argc, char **argv) {
  (void)argv;
  if (argc > 0) {
    fprintf(stderr, "profcol: components takes no arguments\n");
    return 2;
  }
  for (int kind = PC_RECEIVER; kind <= PC_EXTENSION; kind++) {
    printf("%s:\n", pc_kind_section((pc_kind_t)kind));
    for (const pc_component_t *const *c = pc_registry_list((pc_kind_t)kind); *c; c++) {
      printf("  %s (%s; signals:%s%s)\n", (*c)->type, (*c)->stability,
             (*c)->signals & PC_SIGNAL_PROFILES ? " profiles" : "",
             (*c)->signals & PC_SIGNAL_TRACES ? " traces" : "");
      if ((*c)->options) pc_cfg_print_options((*c)->options, 4, stdout);
    }
  }
  return 0;
}

/* ---- run ---------------------------------------------------------------------- */

/* The running service, and on SIGHUP a retired one draining beside the new
 * one. A retired service is destroyed from a timer callback (a safe point),
 * never from inside its own shutdown callbacks. */
typedef struct {
  uv_loop_t *loop;
  const char **files;
  int n_files;
  pc_service_t *service;
  pc_cfg_t *cfg;
  pc_service_t *retired;
  pc_cfg_t *retired_cfg;
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t reaper;
  bool stopping, drained;
} runner_t;

static void runner_on_close(uv_handle_t *h) { (void)h; }

/* Close the runner's own handles once nothing is left to drain. */
static void runner_maybe_close(runner_t *r) {
  if (!r->drained || r->retired) return;
  pc_log(LOG, PC_LOG_INFO, "shutdown complete");
  uv_close((uv_handle_t *)&r->sigint, runner_on_close);
  uv_close((uv_handle_t *)&r->sigterm, runner_on_close);
  uv_close((uv_handle_t *)&r->sighup, runner_on_close);
  uv_close((uv_handle_t *)&r->reaper, runner_on_close);
}

static void runner_on_drained(void *arg) {
  runner_t *r = arg;
  r->drained = true;
  runner_maybe_close(r);
}

static void runner_on_reap(uv_timer_t *t) {
  runner_t *r = t->data;
  pc_service_destroy(r->retired);
  pc_cfg_free(r->retired_cfg);
  r->retired = NULL;
  r->retired_cfg = NULL;
  pc_log(LOG, PC_LOG_INFO, "the previous config's pipelines are drained and closed");
  runner_maybe_close(r);
}

static void runner_on_retired(void *arg) {
  runner_t *r = arg;
  uv_timer_start(&r->reaper, runner_on_reap, 0, 0);
}

/* Drain s behind the config that runs in its place (or, when the new
 * config failed to start, the old one that stays). */
static void retire(runner_t *r, pc_service_t *s, pc_cfg_t *cfg) {
  r->retired = s;
  r->retired_cfg = cfg;
  pc_service_replaced(s);
  uint64_t timeout = pc_service_shutdown_timeout_ms(s);
  pc_service_shutdown(s, uv_now(r->loop) + timeout, runner_on_retired, r);
}

/* SIGHUP: build and start the new config beside the running one, then
 * drain the old one. Listeners share the running config's sockets (httpd's
 * pc_listen_acquire), so the new listener is up before the old one closes
 * and connections queued meanwhile are not lost: no gap. A config that
 * fails validation or cannot start leaves the running one untouched. */
static void runner_reload(runner_t *r) {
  if (r->retired) {
    pc_log(LOG, PC_LOG_WARN, "SIGHUP received while the previous reload is still draining; "
           "ignored, send it again once \"drained and closed\" is logged");
    return;
  }
  pc_log(LOG, PC_LOG_INFO, "SIGHUP received: reloading the config");
  pc_cfg_t *cfg = NULL;
  pc_service_t *next = build_service(r->files, r->n_files, &cfg);
  if (!next) {
    pc_log(LOG, PC_LOG_ERROR, "reload failed: the new config has errors (see above); "
           "the running config stays in effect");
    return;
  }
  pc_err_t err = {0};
  if (pc_service_start(next, r->loop, &err)) {
    pc_log(LOG, PC_LOG_ERROR, "reload failed: cannot start the new config: %s; the running "
           "config stays in effect", err.msg);
    retire(r, next, cfg);
    return;
  }
  pc_service_t *old = r->service;
  pc_cfg_t *old_cfg = r->cfg;
  r->service = next;
  r->cfg = cfg;
  retire(r, old, old_cfg);
  pc_log(LOG, PC_LOG_INFO, "config reloaded; draining the previous config's pipelines");
}

static void runner_on_signal(uv_signal_t *sig, int signum) {
  runner_t *r = sig->data;
  if (signum == SIGHUP) {
    if (!r->stopping) runner_reload(r);
    return;
  }
  if (r->stopping) {
    pc_log(LOG, PC_LOG_WARN, "%s received again while draining; still waiting for the "
           "deadline", signum == SIGINT ? "SIGINT" : "SIGTERM");
    return;
  }
  r->stopping = true;
  uint64_t timeout = pc_service_shutdown_timeout_ms(r->service);
  pc_log(LOG, PC_LOG_INFO, "%s received: stopping receivers and draining (deadline %llu ms)",
         signum == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)timeout);
  pc_service_shutdown(r->service, uv_now(r->loop) + timeout, runner_on_drained, r);
}

int pc_cmd_run(int argc, char **argv) {
  const char *files[32];
  int n = parse_config_args(argc, argv, files, 32, "run");
  if (n < 0) return n == -2 ? 0 : 2;
  /* A client that closes while an answer or a TLS record is being written
   * must cost that write EPIPE, not the process its life: libuv leaves
   * SIGPIPE to the application (nginx, Redis and Go's runtime ignore it too).
   * TLS makes two writes in a row common (session tickets, then an answer;
   * an alert after a handshake the client gave up). */
  signal(SIGPIPE, SIG_IGN);
  /* A file-size limit (ulimit -f, systemd LimitFSIZE=) makes a write fail
   * with EFBIG, which the queue and the file exporter answer as a full
   * disk; its default signal would kill the process instead. */
  signal(SIGXFSZ, SIG_IGN);
  /* As Go's runtime does: a gateway's connections are descriptors, and the
   * usual soft limit of 1024 is far below what the hard limit allows. */
  uint64_t fd_before, fd_after;
  int frc = pc_fd_limit_raise(&fd_before, &fd_after);
  if (frc)
    pc_log(LOG, PC_LOG_WARN, "cannot raise the open file limit from %llu: %s",
           (unsigned long long)fd_before, strerror(-frc));
  else if (fd_after != fd_before)
    pc_log(LOG, PC_LOG_INFO, "raised the open file limit from %llu to %llu (the hard limit)",
           (unsigned long long)fd_before, (unsigned long long)fd_after);
  runner_t r = {.loop = uv_default_loop(), .files = files, .n_files = n};
  r.service = build_service(files, n, &r.cfg);
  if (!r.service) return 1;
  if (n == 0)
    pc_log(LOG, PC_LOG_INFO, "no --config given: using the built-in config "
           "(OTLP/HTTP on localhost:4318 -> debug exporter)");

  pc_err_t err = {0};
  int rc = pc_service_start(r.service, r.loop, &err);
  if (rc) {
    pc_log(LOG, PC_LOG_ERROR, "cannot start: %s", err.msg);
    r.stopping = true;
    pc_service_shutdown(r.service, uv_now(r.loop), NULL, NULL);
    uv_run(r.loop, UV_RUN_DEFAULT);
    pc_service_destroy(r.service);
    pc_cfg_free(r.cfg);
    return 1;
  }
  uv_signal_t *sigs[] = {&r.sigint, &r.sigterm, &r.sighup};
  int nums[] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(r.loop, sigs[i]);
    sigs[i]->data = &r;
    uv_signal_start(sigs[i], runner_on_signal, nums[i]);
  }
  uv_timer_init(r.loop, &r.reaper);
  r.reaper.data = &r;
  pc_log(LOG, PC_LOG_INFO, "everything is ready; processing data");
  uv_run(r.loop, UV_RUN_DEFAULT);
  pc_service_destroy(r.service);
  pc_cfg_free(r.cfg);
  rc = uv_loop_close(r.loop);
  if (rc) pc_log(LOG, PC_LOG_WARN, "loop closed with handles still open (%s)", uv_err_name(rc));
  return 0;
}
