/* gl_shell: the process shell (include/greenlight/gl_shell.h): the loop,
 * the settings every executable shares, the signals, the one fatal-error
 * path, and the admin HTTP router. librdkafka configurations are built in
 * gl_shell_kafka.c. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gl_shell_int.h"
#include "greenlight/gl_version.h"

extern char **environ;

#define GL_SHELL_OFF(f) offsetof(gl_shell_conf_t, f)
const gl_conf_prop_t gl_shell_conf_props[] = {
    {"http.host", GL_CONF_STR, "127.0.0.1", 0, 0, NULL, GL_SHELL_OFF(http_host),
     "Address of the HTTP port (/healthz, /metrics, state queries)."},
    {"http.port", GL_CONF_INT, "0", -1, 65535, NULL, GL_SHELL_OFF(http_port),
     "HTTP port; 0 picks a free one (logged), -1 disables HTTP."},
    {"log.level", GL_CONF_ENUM, "info", 0, 0, "debug|info|warn|error", GL_SHELL_OFF(log_level),
     "Least severe level logged."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

/* ---- Stopping and fatal errors (loop thread unless stated) ------------ */

bool gl_shell_on_loop(const gl_shell_t *sh) {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &sh->loop_thread) != 0;
}

/* Calls the stop callback, never re-entrantly: a fatal error that comes
 * while it runs (a flush inside it may serve one) calls it again after. */
static void gl_shell_stop(gl_shell_t *sh) {
  if (!sh->stopping) gl_shell__notify_stopping(sh);
  sh->stopping = true;
  if (sh->in_stop) {
    sh->stop_again = true;
    return;
  }
  if (!sh->on_stop) {
    gl_shell_close(sh);
    return;
  }
  do {
    sh->stop_again = false;
    sh->in_stop = true;
    sh->on_stop(sh, sh->on_stop_opaque);
    sh->in_stop = false;
  } while (sh->stop_again && sh->handles_open);
}

static void gl_shell_fatal_act(gl_shell_t *sh) {
  if (!atomic_load(&sh->fatal_pending) || sh->fatal_done) return;
  sh->fatal_done = true;
  sh->exit_code = sh->fatal_exit_code ? sh->fatal_exit_code : 1;
  char then[96] = "exiting so that a supervisor restarts the daemon";
  if (sh->exit_code != 1)
    snprintf(then, sizeof then, "exiting with status %d: a restart alone will not mend it",
             sh->exit_code);
  gl_log_kv(&sh->log, GL_LOG_ERROR, "fatal", GL_LOG_FIELDS(GL_LOG_INT("exit_code", sh->exit_code)),
            "%s; %s", sh->fatal_msg, then);
  if (sh->handles_open)
    gl_shell_stop(sh);
  else
    sh->stopping = true; /* The owner has closed: nothing is left to stop. */
}

void gl_shell__fatal_post(gl_shell_t *sh, const char *msg, bool defer) {
  bool no = false;
  if (!atomic_compare_exchange_strong(&sh->fatal_claimed, &no, true)) {
    gl_warn(&sh->log, "fatal_dropped", "%s (after an earlier fatal error)", msg);
    return;
  }
  snprintf(sh->fatal_msg, sizeof(sh->fatal_msg), "%s", msg);
  atomic_store(&sh->fatal_pending, true); /* After the message: the loop reads it then. */
  if (!defer) {
    gl_shell_fatal_act(sh);
    return;
  }
  uv_mutex_lock(&sh->wake_lock);
  if (sh->wake_open) uv_async_send(&sh->wake);
  uv_mutex_unlock(&sh->wake_lock);
}

static void gl_shell_fatalv(gl_shell_t *sh, bool later, const char *fmt, va_list ap) {
  char msg[sizeof(sh->fatal_msg)];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  gl_shell__fatal_post(sh, msg, later || !gl_shell_on_loop(sh));
}

void gl_shell_fatal(gl_shell_t *sh, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gl_shell_fatalv(sh, false, fmt, ap);
  va_end(ap);
}

void gl_shell_fatal_later(gl_shell_t *sh, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gl_shell_fatalv(sh, true, fmt, ap);
  va_end(ap);
}

static void gl_shell_wake_cb(uv_async_t *h) { gl_shell_fatal_act(h->data); }

static void gl_shell_signal_cb(uv_signal_t *h, int signum) {
  gl_shell_t *sh = h->data;
  const char *event = signum == SIGHUP ? "sighup" : "stopping";
  const char *what = signum == SIGHUP  ? "settings are read at start; restart to change them"
                     : sh->stopping    ? "already stopping; ignored"
                                       : "draining, committing and exiting";
  gl_log_kv(&sh->log, GL_LOG_INFO, event, GL_LOG_FIELDS(GL_LOG_INT("signal", signum)),
            "signal %d: %s", signum, what);
  if (signum != SIGHUP && !sh->stopping) gl_shell_stop(sh);
}

/* ---- The admin port --------------------------------------------------- */

static const gl_shell_route_t *gl_shell_route_find(const gl_shell_t *sh, const char *path) {
  const gl_shell_route_t *best = NULL;
  size_t best_len = 0;
  for (int i = 0; i < sh->nroutes; i++) {
    size_t n = strlen(sh->routes[i].prefix);
    if (strncmp(path, sh->routes[i].prefix, n) == 0 && (!best || n > best_len)) {
      best = &sh->routes[i];
      best_len = n;
    }
  }
  return best;
}

static void gl_shell_http_cb(void *opaque, const char *method, const char *path,
                             gl_http_response_t *r) {
  gl_shell_t *sh = opaque;
  (void)method;
  if (strcmp(path, "/metrics") == 0) {
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    gl_metrics_process(sh->metrics);
    r->body_len = gl_metrics_render(sh->metrics, &r->body);
    return;
  }
  const gl_shell_route_t *route = gl_shell_route_find(sh, path);
  if (route) route->fn(route->opaque, path, r);
}

void gl_shell_route(gl_shell_t *sh, const char *prefix, gl_shell_route_fn fn, void *opaque) {
  gl_shell_route_t *rs = realloc(sh->routes, sizeof(*rs) * (size_t)(sh->nroutes + 1));
  char *copy = strdup(prefix);
  if (!rs || !copy) abort();
  sh->routes = rs;
  sh->routes[sh->nroutes++] = (gl_shell_route_t){.prefix = copy, .fn = fn, .opaque = opaque};
}

int gl_shell_listen(gl_shell_t *sh, char *errstr, size_t errlen) {
  if (sh->settings.http_port < 0) return GL_OK;
  if (!sh->handles_open || sh->http) {
    snprintf(errstr, errlen, "admin port: the shell is closed or already listening");
    return GL_ESTATE;
  }
  int err = gl_http_listen(&sh->http, &sh->loop, sh->settings.http_host,
                           (int)sh->settings.http_port, gl_shell_http_cb, sh, errstr, errlen);
  if (err < 0) return err; /* GL_ECONFIG, GL_EIO or GL_ENOMEM, as gl_http_listen() says. */
  gl_log_kv(&sh->log, GL_LOG_INFO, "http", GL_LOG_FIELDS(GL_LOG_INT("port", gl_http_port(sh->http))),
            "listening on http://%s:%d (/healthz, /readyz, /metrics)", sh->settings.http_host,
            gl_http_port(sh->http));
  return GL_OK;
}

int gl_shell_http_port(const gl_shell_t *sh) { return sh->http ? gl_http_port(sh->http) : -1; }

/* ---- Life -------------------------------------------------------------- */

/* handles_open comes first: gl_shell_close() then closes whichever were
 * made (h->loop is set) should one fail. */
static int gl_shell_handles_init(gl_shell_t *sh) {
  sh->handles_open = true;
  uv_signal_t *sigs[] = {&sh->sigterm, &sh->sigint, &sh->sighup};
  for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
    if (uv_signal_init(&sh->loop, sigs[i]) < 0) return GL_EIO;
    sigs[i]->data = sh;
  }
  if (uv_async_init(&sh->loop, &sh->wake, gl_shell_wake_cb) < 0) return GL_EIO;
  sh->wake.data = sh;
  sh->wake_open = true;
  return GL_OK;
}

/* greenlight_build_info, and the process_* series from the start. */
static int gl_shell_build_info(gl_shell_t *sh, const char *service) {
  char labels[512];
  gl_metrics_labels(labels, sizeof(labels), "service", service, "version", gl_version_string(),
                    "git", gl_version_git(), "librdkafka", rd_kafka_version_str(), "libuv",
                    uv_version_string(), NULL);
  gl_series_t *s = gl_metrics_gauge(sh->metrics, "greenlight_build_info",
                                    "Always 1: the versions this program was built with.", labels);
  gl_series_set(s, 1);
  gl_metrics_process(sh->metrics);
  return s ? GL_OK : GL_ENOMEM;
}

int gl_shell_init(gl_shell_t *sh, const char *service, const char *argv0) {
  char errstr[256];
  memset(sh, 0, sizeof(*sh));
  signal(SIGPIPE, SIG_IGN); /* A peer closing a socket must not kill the process. */
  const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
  sh->prog = slash ? slash + 1 : argv0 ? argv0 : service;
  sh->loop_thread = uv_thread_self();
  gl_log_init(&sh->log, service, GL_LOG_INFO);
  gl_conf_init(&sh->conf, sh->prog);
  if (gl_conf_add_table(&sh->conf, gl_shell_conf_props, &sh->settings, errstr, sizeof errstr) < 0)
    return GL_ENOMEM; /* Only the defaults' copies can fail here. */
  if (!(sh->metrics = gl_metrics_new()) || gl_shell_build_info(sh, service) < 0) return GL_ENOMEM;
  if (uv_mutex_init(&sh->wake_lock) < 0) return GL_EIO;
  if (uv_loop_init(&sh->loop) < 0) {
    uv_mutex_destroy(&sh->wake_lock);
    return GL_EIO;
  }
  sh->loop_ready = true;
  return gl_shell_handles_init(sh);
}

void gl_shell_on_stop(gl_shell_t *sh, gl_shell_stop_fn fn, void *opaque) {
  sh->on_stop = fn;
  sh->on_stop_opaque = opaque;
}

void gl_shell_on_check(gl_shell_t *sh, gl_shell_check_fn fn, void *opaque) {
  sh->on_check = fn;
  sh->on_check_opaque = opaque;
}

void gl_shell_on_status(gl_shell_t *sh, gl_shell_status_fn fn, void *opaque) {
  sh->on_status = fn;
  sh->on_status_opaque = opaque;
}

/* Everything after the sources are loaded. Returns GL_OK, GL_ECONFIG or 1
 * (--check-config answered). */
static int gl_shell_judge(gl_shell_t *sh, char *errstr, size_t errlen) {
  gl_log_level_parse(sh->settings.log_level, &sh->log.level);
  if (sh->on_check && sh->on_check(sh, sh->on_check_opaque, errstr, errlen) < 0)
    return GL_ECONFIG;
  /* --check-config and a start judge http.host alike. */
  if (sh->settings.http_port >= 0 &&
      gl_http_check_host(sh->settings.http_host, errstr, errlen) < 0)
    return GL_ECONFIG;
  if (sh->conf.check) return gl_conf_check(&sh->conf, stdout, errstr, errlen) < 0 ? GL_ECONFIG : 1;
  return GL_OK;
}

int gl_shell_configure(gl_shell_t *sh, int argc, char **argv, const char *const *defaults,
                       char *errstr, size_t errlen) {
  int rc = 0;
  for (const char *const *d = defaults; rc == 0 && d && *d; d += 2)
    rc = gl_conf_set(&sh->conf, d[0], d[1], errstr, errlen);
  if (rc == 0) rc = gl_conf_load(&sh->conf, argc, argv, environ, errstr, errlen);
  if (rc != 0) return rc < 0 ? GL_ECONFIG : 1; /* 1: --help answered. */
  for (const char *const *u = gl_conf_unknown_env(&sh->conf); u && *u; u++)
    if (!sh->conf.check) /* --check-config prints them itself. */
      gl_warn(&sh->log, "unknown_env", "environment %s names no setting (see --help); ignored", *u);
  if ((rc = gl_shell_judge(sh, errstr, errlen)) != GL_OK) return rc;
  if (!sh->handles_open) {
    snprintf(errstr, errlen, "signals: the shell is closed");
    return GL_ESTATE;
  }
  gl_signals_unblock();
  uv_signal_start(&sh->sigterm, gl_shell_signal_cb, SIGTERM);
  uv_signal_start(&sh->sigint, gl_shell_signal_cb, SIGINT);
  uv_signal_start(&sh->sighup, gl_shell_signal_cb, SIGHUP);
  return GL_OK;
}

bool gl_shell_brokers_down(gl_shell_t *sh) { return atomic_load(&sh->brokers_down); }
void gl_shell_brokers_up(gl_shell_t *sh) { atomic_store(&sh->brokers_down, false); }

const char *gl_shell_not_ready(gl_shell_t *sh, const char *starting, char *buf, size_t len) {
  if (sh->exit_code) return "exiting after a fatal error";
  if (sh->stopping) return "stopping";
  if (starting) {
    snprintf(buf, len, "starting: %s", starting);
    return buf;
  }
  return gl_shell_brokers_down(sh) ? "broker unreachable" : NULL;
}

void gl_shell_reply_readyz(gl_http_response_t *r, const char *why) {
  gl_http_reply_json(r, why ? 503 : 200,
                     json_pack("{s:s, s:s?}", "status", why ? "not_ready" : "ready", "why", why));
}

static void gl_shell_close_handle(uv_handle_t *h) {
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

void gl_shell_close(gl_shell_t *sh) {
  if (!sh->handles_open) return;
  sh->handles_open = false;
  gl_shell_close_handle((uv_handle_t *)&sh->sigterm);
  gl_shell_close_handle((uv_handle_t *)&sh->sigint);
  gl_shell_close_handle((uv_handle_t *)&sh->sighup);
  uv_mutex_lock(&sh->wake_lock);
  sh->wake_open = false;
  uv_mutex_unlock(&sh->wake_lock);
  gl_shell_close_handle((uv_handle_t *)&sh->wake);
  gl_shell__notify_close(sh);
  if (sh->http) gl_http_close(sh->http, NULL, NULL);
  sh->http = NULL;
}

int gl_shell_run(gl_shell_t *sh) {
  gl_shell__notify_start(sh);
  uv_run(&sh->loop, UV_RUN_DEFAULT);
  /* A fatal error handed over while the shell closed never reached the wake. */
  gl_shell_fatal_act(sh);
  return sh->exit_code;
}

void gl_shell_destroy(gl_shell_t *sh) {
  if (sh->loop_ready) {
    gl_shell_close(sh);
    uv_run(&sh->loop, UV_RUN_DEFAULT);
    gl_shell_fatal_act(sh); /* One reported while the owner destroyed its clients. */
    uv_loop_close(&sh->loop);
    uv_mutex_destroy(&sh->wake_lock);
    sh->loop_ready = false;
  }
  for (int i = 0; i < sh->nroutes; i++) free(sh->routes[i].prefix);
  free(sh->routes);
  sh->routes = NULL;
  sh->nroutes = 0;
  while (sh->clients) {
    gl_shell_client_t *next = sh->clients->next;
    free(sh->clients);
    sh->clients = next;
  }
  gl_metrics_destroy(sh->metrics);
  sh->metrics = NULL;
  gl_conf_destroy(&sh->conf);
}
