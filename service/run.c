/* run.c - the commands that run or inspect a pipeline: run (the default),
 * validate and components. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "cli.h"
#include "logs.h"
#include "service.h"

#define LOG "service"

const char pc_default_config[] =
    "# profcol's built-in config: OTLP/gRPC on localhost:4317 and OTLP/HTTP on\n"
    "# localhost:4318 into the debug exporter.\n"
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      grpc:\n"
    "        endpoint: localhost:4317\n"
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

/* The feature gates a Collector user passes with --feature-gates. profcol
 * knows them so that the same command line works; each is always on here. */
static const struct {
  const char *id;
  const char *what;
} known_gates[] = {
    {"service.profilesSupport", "profiles pipelines, which profcol always supports"},
};
#define N_GATES (sizeof known_gates / sizeof known_gates[0])

/* One --feature-gates value: "gate", "+gate", "-gate", comma-separated, as
 * the Collector's featuregate flag. A known gate may be enabled (it is on
 * anyway); turning one off, or naming an unknown one, is an error. */
static int check_feature_gates(const char *list, const char *cmd) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", list);
  int i = 0;
  for (char *save = NULL, *id = strtok_r(buf, ",", &save); id; id = strtok_r(NULL, ",", &save), i++) {
    bool off = id[0] == '-';
    if (id[0] == '-' || id[0] == '+') id++;
    size_t k = 0;
    while (k < N_GATES && strcmp(known_gates[k].id, id) != 0) k++;
    if (k < N_GATES && !off) continue;
    if (k < N_GATES) {
      fprintf(stderr, "profcol: %s: feature gate \"%s\" cannot be turned off: %s\n", cmd, id,
              known_gates[k].what);
      return -1;
    }
    fprintf(stderr, "profcol: %s: unknown feature gate \"%s\"%s; profcol knows:", cmd, id,
            id[0] ? "" : " (an empty name)");
    for (size_t g = 0; g < N_GATES; g++)
      fprintf(stderr, "%s %s (always on: %s)", g ? "," : "", known_gates[g].id,
              known_gates[g].what);
    fprintf(stderr, "\n");
    return -1;
  }
  if (list[0] && (list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))) {
    fprintf(stderr, "profcol: %s: empty feature gate name in \"%s\"\n", cmd, list);
    return -1;
  }
  return 0;
}

/* The config sources of a command line: --config URIs in order, then each
 * --set as an inline YAML source (the Collector's --set key.path=value is
 * yaml:key::path: value, applied after every --config). Without --config,
 * the built-in config comes first. */
typedef struct {
  pc_cfg_source_t v[64];
  int n, n_configs;
  char *owned[64]; /* strings built here */
  int n_owned;
} sources_t;

static void sources_free(sources_t *s) {
  for (int i = 0; i < s->n_owned; i++) free(s->owned[i]);
  *s = (sources_t){0};
}

static char *own(sources_t *s, char *str) {
  if (!str) pc_oom();
  s->owned[s->n_owned++] = str;
  return str;
}

static bool sources_full(const sources_t *s, const char *cmd) {
  if (s->n < 63) return false;
  fprintf(stderr, "profcol: %s: at most 63 --config and --set options\n", cmd);
  return true;
}

/* key.path=value -> yaml:key::path: value. */
static int add_set(sources_t *s, const char *arg, const char *cmd) {
  const char *eq = strchr(arg, '=');
  if (!eq) {
    fprintf(stderr, "profcol: %s: --set %s: missing equal sign (--set key.path=value)\n", cmd, arg);
    return -1;
  }
  while (*arg == ' ') arg++;
  size_t klen = (size_t)(eq - arg);
  while (klen && arg[klen - 1] == ' ') klen--;
  const char *value = eq + 1;
  while (*value == ' ') value++;
  if (klen == 0) {
    fprintf(stderr, "profcol: %s: --set %s: missing key before '='\n", cmd, eq);
    return -1;
  }
  pc_buf_t uri = {0};
  pc_buf_append(&uri, "yaml:", 5);
  for (size_t i = 0; i < klen; i++)
    pc_buf_append(&uri, arg[i] == '.' ? "::" : &arg[i], arg[i] == '.' ? 2 : 1);
  pc_buf_printf(&uri, ": %s", value);
  char *name = NULL;
  if (asprintf(&name, "--set %s", arg) < 0) name = NULL;
  s->v[s->n++] = (pc_cfg_source_t){.uri = own(s, (char *)uri.p), .name = own(s, name)};
  return 0;
}

/* --config/-c URI, --set k=v, --feature-gates LIST (each also as --x=v),
 * any number of times. 0, 1 after --help (printed), or -1 on a usage error
 * (printed). */
static int parse_run_args(int argc, char **argv, sources_t *s, const char *cmd) {
  *s = (sources_t){0};
  sources_t sets = {0};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      printf("usage: profcol %s[--config URI]... [--set key.path=value]... "
             "[--feature-gates LIST]\n\n"
             "  --config URI  a config file (a path or file:PATH), env:VAR (the variable holds\n"
             "                YAML) or yaml:TEXT; several merge in order, as in the Collector.\n"
             "                Without one, the built-in config (profcol --help shows it).\n"
             "  --set K=V     set one key after every --config: --set "
             "processors.batch.timeout=2s\n"
             "  --feature-gates LIST\n"
             "                the Collector's gates (gate, +gate, -gate, comma-separated);\n"
             "                profcol knows service.profilesSupport (always on)\n",
             strcmp(cmd, "run") == 0 ? "" : "validate ");
      sources_free(&sets);
      return 1;
    }
    const char *opts[] = {"--config", "-c", "--set", "--feature-gates"};
    const char *value = NULL, *opt = NULL;
    for (size_t k = 0; k < 4 && !opt; k++) {
      size_t n = strlen(opts[k]);
      if (strcmp(a, opts[k]) == 0) {
        if (i + 1 >= argc) {
          fprintf(stderr, "profcol: %s: %s needs a value\n", cmd, a);
          sources_free(&sets);
          return -1;
        }
        opt = opts[k];
        value = argv[++i];
      } else if (strncmp(a, opts[k], n) == 0 && a[n] == '=') {
        opt = opts[k];
        value = a + n + 1;
      }
    }
    int rc = 0;
    if (!opt) {
      fprintf(stderr, "profcol: %s: unexpected argument \"%s\" (try profcol %s--help)\n", cmd, a,
              strcmp(cmd, "run") == 0 ? "" : "validate ");
      rc = -1;
    } else if (opt[2] == 'f') {
      rc = check_feature_gates(value, cmd);
    } else if (sources_full(s, cmd) || sources_full(&sets, cmd)) {
      rc = -1;
    } else if (opt[2] == 's') {
      rc = add_set(&sets, value, cmd);
    } else {
      s->v[s->n++] = (pc_cfg_source_t){.uri = value};
      s->n_configs++;
    }
    if (rc) {
      sources_free(&sets);
      return -1;
    }
  }
  if (s->n_configs == 0) { /* the built-in config, under the sets */
    char *uri = NULL;
    if (asprintf(&uri, "yaml:%s", pc_default_config) < 0) uri = NULL;
    s->v[s->n++] = (pc_cfg_source_t){.uri = own(s, uri), .name = "<built-in config>"};
  }
  for (int i = 0; i < sets.n; i++) s->v[s->n++] = sets.v[i];
  for (int i = 0; i < sets.n_owned; i++) s->owned[s->n_owned++] = sets.owned[i];
  return 0;
}

static pc_cfg_t *load_config(const sources_t *s, pc_err_t *err) {
  return pc_cfg_load_sources(s->v, (size_t)s->n, err);
}

static void print_errors(const pc_errlist_t *errs) {
  for (size_t i = 0; i < errs->n; i++) fprintf(stderr, "profcol: config error: %s\n", errs->msgs[i]);
}

/* service.telemetry.logs: read and checked always (errors added to errs);
 * applied (files opened) only for a config that is to run and was built
 * without error, so validate creates no log file and a reload that fails
 * leaves the running config's logging as it was. */
static void log_settings(const pc_cfg_node_t *root, bool apply, pc_errlist_t *errs) {
  const pc_cfg_node_t *logs = pc_cfg_get(pc_cfg_get(pc_cfg_get(root, "service"), "telemetry"),
                                         "logs");
  if (logs && logs->type == PC_CFG_NULL) logs = NULL;
  pc_logs_t l;
  pc_err_t err = {0};
  pc_cfg_collect_begin(errs);
  int rc = pc_logs_read(logs, &l, &err);
  pc_cfg_collect_end();
  if (rc) {
    pc_errlist_add(errs, err.msg);
    return;
  }
  char why[256];
  if (apply && errs->n == 0 && pc_log_apply(&l.settings, why, sizeof why)) {
    pc_cfg_error(&err, logs, PC_EINVAL, "%s", why);
    pc_errlist_add(errs, err.msg);
  }
  pc_logs_free(&l);
}

/* Load, validate and create (with run set: as the config to run, its log
 * settings applied). NULL (errors printed) on failure. */
static pc_service_t *build_service(const sources_t *sources, bool run, pc_cfg_t **cfg_out) {
  pc_err_t err = {0};
  pc_cfg_t *cfg = load_config(sources, &err);
  if (!cfg) {
    fprintf(stderr, "profcol: config error: %s\n", err.msg);
    return NULL;
  }
  pc_errlist_t errs = {0};
  log_settings(pc_cfg_root(cfg), false, &errs);
  pc_service_t *s = pc_service_create(pc_cfg_root(cfg), &errs);
  if (s && run) log_settings(pc_cfg_root(cfg), true, &errs);
  if (s && errs.n) { /* the log files could not be opened */
    pc_service_destroy(s);
    s = NULL;
  }
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
    .usage = "validate [--config URI]... [--set key.path=value]... [--feature-gates LIST]",
    .summary = "check a config and print every error at once (exit 0 or 1)",
    .help = "\nLoads and merges the sources in order, checks every component's settings and the\n"
            "pipelines, as run does before it listens, and prints each problem as\n"
            "file:line:col: key.path: message. Takes the options of run:\n\n"
            "  --config URI  a path, file:PATH, env:VAR (holding YAML) or yaml:TEXT\n"
            "  --set K=V     set one key after every --config (processors.batch.timeout=2s)\n"
            "  --feature-gates LIST   the Collector's gates; profcol knows "
            "service.profilesSupport\n\n"
            "Exit status: 0 valid, 1 not, 2 bad command line.\n",
    .run = validate_main,
};

const pc_cli_command_t pc__cli_components_cmd = {
    .name = "components",
    .usage = "components",
    .summary = "list the component types per kind, with their config keys",
    .help = "\nPrints every receiver, processor, exporter and extension type with its\n"
            "stability, signals, deprecated alias (the Collector's name before its 2026\n"
            "lower_snake_case renames) and every config key with its type, bounds and default.\n",
    .run = components_main,
};

int pc_cmd_validate(int argc, char **argv) {
  sources_t sources;
  int rc = parse_run_args(argc, argv, &sources, "validate");
  if (rc) return rc > 0 ? 0 : 2;
  pc_cfg_t *cfg = NULL;
  pc_service_t *s = build_service(&sources, false, &cfg);
  sources_free(&sources);
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
      printf("  %s (%s; signals:%s%s", (*c)->type, (*c)->stability,
             (*c)->signals & PC_SIGNAL_PROFILES ? " profiles" : "",
             (*c)->signals & PC_SIGNAL_TRACES ? " traces" : "");
      if ((*c)->deprecated_alias) printf("; deprecated alias: %s", (*c)->deprecated_alias);
      printf(")\n");
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
  const sources_t *sources;
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
  pc_service_t *next = build_service(r->sources, true, &cfg);
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

static int run_service(const sources_t *sources);

int pc_cmd_run(int argc, char **argv) {
  sources_t sources;
  int rc = parse_run_args(argc, argv, &sources, "run");
  if (rc) return rc > 0 ? 0 : 2;
  rc = run_service(&sources);
  sources_free(&sources);
  return rc;
}

/* Run until SIGTERM/SIGINT has drained everything: 0, or 1 when the config
 * is broken or cannot start. */
static int run_service(const sources_t *sources) {
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
  runner_t r = {.loop = uv_default_loop(), .sources = sources};
  r.service = build_service(sources, true, &r.cfg);
  if (!r.service) return 1;
  if (sources->n_configs == 0)
    pc_log(LOG, PC_LOG_INFO, "no --config given: using the built-in config "
           "(OTLP/gRPC on localhost:4317 and OTLP/HTTP on localhost:4318 -> debug exporter)");

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
