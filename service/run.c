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
#include "workers.h"

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

/* The prefix of a usage error after "profcol: ": "validate: ", or nothing
 * for the service (run is no command the user types). */
static const char *who(const char *cmd) { return strcmp(cmd, "run") == 0 ? "" : "validate: "; }

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
      fprintf(stderr, "profcol: %sfeature gate \"%s\" cannot be turned off: %s\n", who(cmd), id,
              known_gates[k].what);
      return -1;
    }
    fprintf(stderr, "profcol: %sunknown feature gate \"%s\"%s; profcol knows:", who(cmd), id,
            id[0] ? "" : " (an empty name)");
    for (size_t g = 0; g < N_GATES; g++)
      fprintf(stderr, "%s %s (always on: %s)", g ? "," : "", known_gates[g].id,
              known_gates[g].what);
    fprintf(stderr, "\n");
    return -1;
  }
  if (list[0] && (list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))) {
    fprintf(stderr, "profcol: %sempty feature gate name in \"%s\"\n", who(cmd), list);
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
  fprintf(stderr, "profcol: %sat most 63 --config and --set options\n", who(cmd));
  return true;
}

/* key.path=value -> yaml:key::path: value. */
static int add_set(sources_t *s, const char *arg, const char *cmd) {
  const char *eq = strchr(arg, '=');
  if (!eq) {
    fprintf(stderr, "profcol: %s--set %s: missing equal sign (--set key.path=value)\n", who(cmd),
            arg);
    return -1;
  }
  while (*arg == ' ') arg++;
  size_t klen = (size_t)(eq - arg);
  while (klen && arg[klen - 1] == ' ') klen--;
  const char *value = eq + 1;
  while (*value == ' ') value++;
  if (klen == 0) {
    fprintf(stderr, "profcol: %s--set %s: missing key before '='\n", who(cmd), eq);
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
          fprintf(stderr, "profcol: %s%s needs a value\n", who(cmd), a);
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
      /* As the Collector's CLI (cobra) says it; "run" is no command the
       * user typed, so it is not named. */
      const char *help = strcmp(cmd, "run") == 0 ? "" : "validate ";
      if (a[0] == '-')
        fprintf(stderr, "profcol: %sunknown flag: %s (see profcol %s--help)\n", who(cmd), a, help);
      else
        fprintf(stderr, "profcol: %sunexpected argument \"%s\" (see profcol %s--help)\n", who(cmd),
                a, help);
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

/* svc[1..n) as copies of svc[0], built from cfg, for the other workers.
 * On failure (it cannot fail where svc[0] did not: errors are printed)
 * every service and cfg are freed and 1 is returned. */
static int add_replicas(pc_cfg_t *cfg, pc_service_t **svc, uint32_t n) {
  for (uint32_t i = 1; i < n; i++) {
    pc_errlist_t errs = {0};
    svc[i] = pc_service_create_replica(pc_cfg_root(cfg), svc[0], &errs);
    if (errs.n) print_errors(&errs);
    pc_errlist_free(&errs);
    if (!svc[i]) {
      while (i-- > 0) pc_service_destroy(svc[i]);
      pc_cfg_free(cfg);
      return 1;
    }
  }
  return 0;
}

/* pc_workers_build_cb: the config from --config, n copies of it. */
static int build_copies(void *arg, uint32_t n, pc_cfg_t **cfg, pc_service_t **svc) {
  svc[0] = build_service(arg, true, cfg);
  return svc[0] ? add_replicas(*cfg, svc, n) : 1;
}

/* libuv's thread pool, which every worker uses for big decodes and for
 * encoding and compressing batches, has 4 threads unless told otherwise;
 * with several workers give it two per worker (a decode and a flush each),
 * unless the user set UV_THREADPOOL_SIZE. Before the pool's first use. */
static void size_thread_pool(uint32_t workers) {
  if (workers < 2 || getenv("UV_THREADPOOL_SIZE")) return;
  char v[16];
  snprintf(v, sizeof v, "%u", workers * 2 > 1024 ? 1024u : workers * 2);
  setenv("UV_THREADPOOL_SIZE", v, 0);
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
  pc_cfg_t *cfg = NULL;
  pc_service_t *first = build_service(sources, true, &cfg);
  if (!first) return 1;
  if (sources->n_configs == 0)
    pc_log(LOG, PC_LOG_INFO, "no --config given: using the built-in config "
           "(OTLP/gRPC on localhost:4317 and OTLP/HTTP on localhost:4318 -> debug exporter)");
  uint32_t n = pc_service_workers(first);
  pc_service_t **svc = pc_xcalloc(n, sizeof *svc);
  svc[0] = first;
  if (add_replicas(cfg, svc, n)) {
    free(svc);
    return 1;
  }
  size_thread_pool(n);
  uv_loop_t *loop = uv_default_loop();
  int rc = pc_workers_run(loop, cfg, svc, n, build_copies, (void *)sources);
  free(svc);
  int lrc = uv_loop_close(loop);
  if (lrc) pc_log(LOG, PC_LOG_WARN, "loop closed with handles still open (%s)", uv_err_name(lrc));
  return rc;
}
