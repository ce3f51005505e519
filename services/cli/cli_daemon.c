/* The daemons the operator commands act on (rebuild, reset): where their
 * executables are, what their effective settings are, and running one.
 *
 * The settings are the daemon's own: the CLI runs the executable with
 * --check-config, with the config file and settings the operator gives,
 * and reads back what it prints (KEY = VALUE lines), so that the CLI and
 * the daemon agree on app.id, topic.prefix, topics and connection without
 * a second parser of the daemon's configuration. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *const orderd_outputs[] = {"status", "repartition", NULL};
static const char *const batchd_outputs[] = {"status", NULL};

static const cli_daemon_kind_t cli_daemon_kinds[] = {
    {"orderd", "greenlight-orderd", "orders", orderd_outputs, "status", true},
    {"batchd", "greenlight-batchd", "batches", batchd_outputs, "status", false},
};

const cli_daemon_kind_t *cli_daemon_kind(const char *name) {
  for (size_t i = 0; i < sizeof cli_daemon_kinds / sizeof cli_daemon_kinds[0]; i++)
    if (strcmp(cli_daemon_kinds[i].name, name) == 0) return &cli_daemon_kinds[i];
  return NULL;
}

static char *xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

static void cli_argv_add(cli_daemon_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void cli_argv_add(cli_daemon_t *d, const char *fmt, ...) {
  char *s;
  va_list ap;
  va_start(ap, fmt);
  int rc = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (rc < 0) abort();
  char **v = realloc(d->pass, (d->n_pass + 1) * sizeof *v);
  if (!v) abort();
  d->pass = v;
  d->pass[d->n_pass++] = s;
}

static bool cli_executable(const char *path) { return access(path, X_OK) == 0; }

/* Beside the CLI (installed together), in the build tree
 * (build/services/cli/greenlight -> build/services/orderd/...), or on PATH. */
static int cli_daemon_locate(cli_daemon_t *d) {
  if (d->bin[0]) {
    if (cli_executable(d->bin)) return 0;
    cli_err("--daemon-bin %s: not an executable file", d->bin);
    return -1;
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    int len = snprintf(d->bin, sizeof d->bin, "%s/%s", self, d->kind->binary);
    if (len > 0 && (size_t)len < sizeof d->bin && cli_executable(d->bin)) return 0;
    len = snprintf(d->bin, sizeof d->bin, "%s/../%s/%s", self, d->kind->name, d->kind->binary);
    if (len > 0 && (size_t)len < sizeof d->bin && cli_executable(d->bin)) return 0;
  }
  const char *path = getenv("PATH");
  for (const char *p = path; p && *p;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    int w = snprintf(d->bin, sizeof d->bin, "%.*s/%s", (int)len, p, d->kind->binary);
    if (len > 0 && w > 0 && (size_t)w < sizeof d->bin && cli_executable(d->bin)) return 0;
    p = colon ? colon + 1 : NULL;
  }
  d->bin[0] = '\0';
  cli_err("cannot find %s beside the CLI, in its build tree or on PATH (give --daemon-bin PATH)",
          d->kind->binary);
  return -1;
}

/* argv for a run: the executable, --config, the pass-through settings,
 * then extra (later settings win). Free with free() (the strings are
 * borrowed). */
static char **cli_daemon_argv(const cli_daemon_t *d, const char *const *extra) {
  size_t n_extra = 0;
  while (extra && extra[n_extra]) n_extra++;
  char **argv = calloc(d->n_pass + n_extra + 4, sizeof *argv);
  if (!argv) abort();
  size_t n = 0;
  argv[n++] = (char *)d->bin;
  if (d->config) argv[n++] = "--config", argv[n++] = (char *)d->config;
  for (size_t i = 0; i < d->n_pass; i++) argv[n++] = d->pass[i];
  for (size_t i = 0; i < n_extra; i++) argv[n++] = (char *)extra[i];
  return argv;
}

const char *cli_daemon_setting(const cli_daemon_t *d, const char *key) {
  for (size_t i = 0; i < d->n_settings; i++)
    if (strcmp(d->keys[i], key) == 0) return d->values[i];
  return NULL;
}

/* Splits "a,b,c" into a malloc'd array of malloc'd strings. */
static char **cli_split(const char *s, size_t *n) {
  char **v = NULL;
  *n = 0;
  for (const char *p = s; p && *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len > 0) {
      v = realloc(v, (*n + 1) * sizeof *v);
      if (!v) abort();
      v[*n] = strndup(p, len);
      if (!v[*n]) abort();
      (*n)++;
    }
    p = comma ? comma + 1 : NULL;
  }
  return v;
}

/* output.topics as "topic,..." in the order of the outputs, or
 * "name=topic,..." in any order: into d->outputs in the outputs' order. */
static int cli_daemon_outputs(cli_daemon_t *d, const char *spec) {
  size_t n = 0, want = 0;
  while (d->kind->outputs[want]) want++;
  char **items = cli_split(spec, &n);
  d->outputs = calloc(want, sizeof *d->outputs);
  if (!d->outputs) abort();
  d->n_outputs = want;
  for (size_t i = 0; i < n; i++) {
    char *eq = strchr(items[i], '=');
    size_t slot = i;
    if (eq) {
      *eq = '\0';
      for (slot = 0; slot < want && strcmp(d->kind->outputs[slot], items[i]) != 0; slot++) {}
    }
    if (slot < want && !d->outputs[slot]) d->outputs[slot] = xstrdup(eq ? eq + 1 : items[i]);
    free(items[i]);
  }
  free(items);
  for (size_t i = 0; i < want; i++)
    if (!d->outputs[i]) {
      cli_err("%s: output.topics = '%s' names no topic for the output '%s'", d->kind->name, spec,
              d->kind->outputs[i]);
      return -1;
    }
  return 0;
}

/* Reads "KEY = VALUE" lines from fd into the settings. */
static void cli_daemon_read_settings(cli_daemon_t *d, FILE *f) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = '\0';
    char *eq = strstr(line, " = ");
    if (!eq) continue;
    *eq = '\0';
    d->keys = realloc(d->keys, (d->n_settings + 1) * sizeof *d->keys);
    d->values = realloc(d->values, (d->n_settings + 1) * sizeof *d->values);
    if (!d->keys || !d->values) abort();
    d->keys[d->n_settings] = xstrdup(line);
    d->values[d->n_settings++] = xstrdup(eq + 3);
  }
  free(line);
}

/* Runs the daemon with --check-config and reads its effective settings.
 * Its errors (a bad setting) reach the operator on stderr as they are. */
static int cli_daemon_check_config(cli_daemon_t *d) {
  static const char *const extra[] = {"--check-config", NULL};
  char **argv = cli_daemon_argv(d, extra);
  int fds[2];
  if (pipe(fds) < 0) abort();
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) abort();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv);
    fprintf(stderr, "greenlight: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  free(argv);
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  if (!f) abort();
  cli_daemon_read_settings(d, f);
  fclose(f);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  cli_err("%s refused its settings (exit %d): see its message above", d->kind->binary,
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return -1;
}

/* The connection settings the CLI's own clients take from the daemon's:
 * bootstrap servers, TLS and SASL; the operator's -X come after them. */
static bool cli_connection_prop(const char *key) {
  return strncmp(key, "kafka.security.", 15) == 0 || strncmp(key, "kafka.ssl.", 10) == 0 ||
         strncmp(key, "kafka.sasl.", 11) == 0;
}

/* The daemon's connection under the operator's -X. A secret the daemon
 * prints as "(secret)" is not taken: the CLI reads it where the daemon
 * does, from the environment (GREENLIGHT_KAFKA_*), or from -X. */
static int cli_daemon_adopt_connection(cli_daemon_t *d, cli_common_t *c) {
  for (size_t i = 0; i < d->n_settings; i++) {
    if (!cli_connection_prop(d->keys[i]) || strcmp(d->values[i], "(secret)") == 0) continue;
    if (cli_common_default_prop(c, d->keys[i] + 6, d->values[i]) < 0) return -1;
  }
  const char *b = cli_daemon_setting(d, "kafka.bootstrap.servers");
  if (b && *b && !c->bootstrap_given) c->bootstrap = b;
  return 0;
}

int cli_daemon_open(cli_daemon_t *d, cli_common_t *c, const char *name, char **args,
                    size_t n_args) {
  if (!(d->kind = cli_daemon_kind(name))) {
    cli_err("unknown daemon '%s' (expected orderd or batchd)", name);
    return -1;
  }
  if (cli_daemon_locate(d) < 0) return -1;
  /* The CLI's explicit choices go to the daemon too: -b, --prefix, -X. */
  if (c->bootstrap_given) cli_argv_add(d, "-b"), cli_argv_add(d, "%s", c->bootstrap);
  if (c->prefix_given) cli_argv_add(d, "--topic.prefix=%s", c->prefix);
  for (size_t i = 0; i < c->n_props; i++) cli_argv_add(d, "-X"), cli_argv_add(d, "kafka.%s", c->props[i]);
  for (size_t i = 0; i < n_args; i++) cli_argv_add(d, "%s", args[i]);
  if (cli_daemon_check_config(d) < 0) return -1;
  const char *app = cli_daemon_setting(d, "app.id"), *prefix = cli_daemon_setting(d, "topic.prefix");
  const char *inputs = cli_daemon_setting(d, "input.topics");
  const char *outputs = cli_daemon_setting(d, "output.topics");
  d->dlq = cli_daemon_setting(d, "dlq.topic");
  if (!app || !prefix || !inputs || !outputs || !d->dlq) {
    cli_err("%s --check-config did not print app.id, topic.prefix, input.topics, output.topics "
            "and dlq.topic: is %s a greenlight daemon of this version?", d->kind->binary, d->bin);
    return -1;
  }
  d->app_id = app;
  d->prefix = prefix;
  d->inputs = cli_split(inputs, &d->n_inputs);
  if (cli_daemon_outputs(d, outputs) < 0) return -1;
  if (asprintf(&d->group, "%s%s", prefix, app) < 0 ||
      asprintf(&d->changelog, "%s%s.%s.changelog", prefix, app, d->kind->store) < 0)
    abort();
  c->prefix = prefix;
  return cli_daemon_adopt_connection(d, c);
}

void cli_daemon_close(cli_daemon_t *d) {
  for (size_t i = 0; i < d->n_pass; i++) free(d->pass[i]);
  for (size_t i = 0; i < d->n_settings; i++) free(d->keys[i]), free(d->values[i]);
  for (size_t i = 0; i < d->n_inputs; i++) free(d->inputs[i]);
  for (size_t i = 0; i < d->n_outputs; i++) free(d->outputs[i]);
  free(d->pass);
  free(d->keys);
  free(d->values);
  free(d->inputs);
  free(d->outputs);
  free(d->group);
  free(d->changelog);
  memset(d, 0, sizeof *d);
}

int cli_daemon_run(const cli_daemon_t *d, const char *const *extra, const char *log_path,
                   int *exit_code) {
  char **argv = cli_daemon_argv(d, extra);
  int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log < 0) {
    cli_err("cannot write %s: %s", log_path, strerror(errno));
    free(argv);
    return -1;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) abort();
  if (pid == 0) {
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    /* A terminal's ^C reaches the whole process group: the CLI alone
     * decides when the daemon stops. */
    setpgid(0, 0);
    execv(argv[0], argv);
    dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(log);
  free(argv);
  int status = 0;
  bool stopping = false;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) abort();
    if (!stopping && cli_stop_requested()) {
      /* Its own drain: it commits what it processed and exits. */
      kill(pid, SIGTERM);
      stopping = true;
    }
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
  }
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return stopping ? -1 : 0;
}
