/* gl_shell: the process shell every greenlight executable runs in: the
 * libuv loop, the signals, the JSON log, the settings registry, the metrics
 * registry, the admin HTTP port, and the one way to build a librdkafka
 * configuration with the one log and error callback path.
 *
 * Life (libuv style, the struct embedded in the owner or on main's stack):
 *   gl_shell_init(&sh, "orderd", argv[0]);
 *   gl_conf_add_table(&sh.conf, my_props, &my_conf, ...);   // optional
 *   gl_shell_on_check(&sh, my_check, me);         // optional: judge my settings
 *   rc = gl_shell_configure(&sh, argc, argv, defaults, errstr, len);
 *   rc = gl_shell_listen(&sh, errstr, len);      // admin HTTP, if http.port >= 0
 *   gl_shell_route(&sh, "/orders/", cb, me);      // the daemon's own GET routes
 *   gl_shell_on_stop(&sh, drain_cb, me);          // SIGTERM/SIGINT, and fatal errors
 *   ... start the daemon's own handles ...
 *   code = gl_shell_run(&sh);                     // until every handle closed
 *   ... destroy the daemon's Kafka clients ...
 *   gl_shell_destroy(&sh);
 *
 * Stopping: the owner calls gl_shell_close() once it no longer needs the
 * shell's handles (the admin port, the signals): at once in its stop
 * callback when its stop is synchronous, or when an asynchronous drain
 * has finished (the admin port keeps answering while it drains). The
 * loop, and so gl_shell_run(), ends when both have closed their handles.
 *
 * Signals: SIGTERM and SIGINT call the stop callback once (drain, commit,
 * close: the owner's job), with sh.stopping set; a second one is logged
 * and otherwise ignored. SIGHUP is logged ("settings are read at start;
 * restart to change them") and otherwise ignored: never fatal. SIGPIPE is
 * ignored (a peer closing a socket must not kill the process).
 *
 * systemd (sd_notify, when NOTIFY_SOCKET is set; gl_notify.c): from
 * gl_shell_run() on, a timer on the loop sends READY=1 once the owner's
 * status callback says its start is over, STATUS=<"ready" or why not>
 * whenever that changes, and WATCHDOG=1 every half WATCHDOG_USEC (so a
 * loop that hangs stops them and systemd restarts the daemon); a stop
 * sends STOPPING=1. Without NOTIFY_SOCKET nothing of this runs.
 *
 * Admin HTTP: /metrics renders sh.metrics; every other path goes to the
 * route with the longest matching prefix (404 otherwise). Routes are
 * called on the loop thread and must not block: the port answers at once,
 * also while a client connects or a commit runs on the thread pool.
 *
 * Thread locality: every function runs on the loop thread, except where a
 * comment says "any thread". The loop thread is the one that called
 * gl_shell_init() (main's), and it configures the shell before the loop
 * runs.
 *
 * Errors follow gl_error.h: GL_OK or a negative GL_E* code with errstr,
 * gl_exit_code() for the exit; gl_shell_configure() alone also returns 1.
 *
 * Ownership: the shell borrows service and argv0 (sh->prog points into
 * argv0), each opaque, and the tables added to sh->conf, all of which must
 * outlive it; it copies route prefixes and the name, value lists given to
 * the Kafka builders. sh->metrics, sh->conf and the clients' callback
 * contexts are the shell's, freed by gl_shell_destroy(). */
#ifndef GREENLIGHT_GL_SHELL_H
#define GREENLIGHT_GL_SHELL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>
#include <uv.h>

#include "greenlight/gl_config.h"
#include "greenlight/gl_error.h"
#include "greenlight/gl_http.h"
#include "greenlight/gl_log.h"
#include "greenlight/gl_metrics.h"

/* The shell's own settings (gl_shell_conf_props, added by gl_shell_init). */
typedef struct gl_shell_conf {
  char *http_host;
  int64_t http_port; /* -1: no admin port; 0: pick a free one. */
  char *log_level;
} gl_shell_conf_t;

extern const gl_conf_prop_t gl_shell_conf_props[];

typedef struct gl_shell gl_shell_t;

/* A GET route: fill r (see gl_http.h). path includes the query string. */
typedef void (*gl_shell_route_fn)(void *opaque, const char *path, gl_http_response_t *r);
/* Called on the loop thread, never re-entrantly, when the process must
 * stop: for the first SIGTERM/SIGINT (sh->exit_code still 0), and for the
 * first fatal error (sh->exit_code 1, already logged). So it is called at
 * most twice: an owner still draining after a signal learns of a later
 * fatal error by the second call, and should give the drain up (nothing
 * will commit any more) and close. A fatal error after gl_shell_close()
 * only sets exit_code. The owner stops its work, closes its handles and
 * calls gl_shell_close() (see "Stopping" above). Without a stop callback
 * the shell just closes its own handles. */
typedef void (*gl_shell_stop_fn)(gl_shell_t *sh, void *opaque);
/* Judges the owner's own settings once all sources are loaded, before
 * http.host is checked and --check-config answers (so --check-config judges
 * them too). Returns GL_OK, or GL_ECONFIG with errstr naming the key, the
 * value and what was expected. */
typedef int (*gl_shell_check_fn)(gl_shell_t *sh, void *opaque, char *errstr, size_t errlen);
/* Says where the daemon stands, for systemd: returns NULL when it is ready,
 * else why not (its /readyz reason, in buf or static), and sets *started
 * once its start is over (connected: READY=1, which ends `systemctl
 * start`; an instance that then restores, or has no partition, is started
 * but not ready, and says so in STATUS=). Loop thread. */
typedef const char *(*gl_shell_status_fn)(void *opaque, bool *started, char *buf, size_t len);

typedef struct gl_shell_route {
  char *prefix;
  gl_shell_route_fn fn;
  void *opaque;
} gl_shell_route_t;

/* One client's callback context, owned by the shell (gl_shell_kafka_conf). */
typedef struct gl_shell_client {
  gl_shell_t *sh;
  void *opaque; /* The caller's, for its own callbacks. */
  struct gl_shell_client *next;
} gl_shell_client_t;

struct gl_shell {
  /* Public, read-only after gl_shell_configure() unless stated. */
  uv_loop_t loop;
  gl_log_t log;
  gl_conf_t conf;          /* The settings registry; add tables before configure. */
  gl_shell_conf_t settings;
  gl_metrics_t *metrics;   /* Owned; register series freely (loop thread). */
  const char *prog;        /* argv[0]'s base name. */
  bool stopping;           /* A stop was asked for (signal or fatal). */
  int exit_code;           /* What gl_shell_run() returns; owners may raise it to 1. */
  int fatal_exit_code;     /* The exit code of a fatal error: 0 = 1 (a supervisor's retry);
                            * GL_EXIT_CONFIG when it is a setting or the deployment that is
                            * wrong, which no restart mends. Loop thread, before the error. */

  /* Private. */
  uv_thread_t loop_thread;
  uv_signal_t sigterm, sigint, sighup;
  uv_async_t wake;       /* Hands fatal errors from other threads to the loop. */
  uv_mutex_t wake_lock;  /* Guards wake_open: no uv_async_send after the close. */
  bool wake_open;
  gl_http_t *http;
  gl_shell_route_t *routes;
  int nroutes;
  gl_shell_stop_fn on_stop;
  void *on_stop_opaque;
  gl_shell_check_fn on_check;
  void *on_check_opaque;
  gl_shell_status_fn on_status;
  void *on_status_opaque;
  uv_timer_t notify_timer; /* gl_notify.c: runs while notify_on. */
  bool notify_on, notify_ready, notify_failed;
  uint64_t notify_watchdog_ms; /* Half of WATCHDOG_USEC; 0: no watchdog. */
  char notify_status[256];     /* The last STATUS= sent. */
  bool in_stop, stop_again; /* The stop callback runs; a fatal error came meanwhile. */
  gl_shell_client_t *clients;
  atomic_bool fatal_claimed, fatal_pending; /* fatal_msg written between the two. */
  bool fatal_done;                          /* Loop thread: the fatal error was acted on. */
  char fatal_msg[1024];
  atomic_bool brokers_down;
  bool loop_ready;   /* init made the loop, the lock and the handles. */
  bool handles_open; /* ... and gl_shell_close() has not closed them yet. */
};

/* Initialises the loop, the log (service name, info level), the settings
 * registry with gl_shell_conf_props, the metrics registry (with
 * greenlight_build_info), the signal handles (not started yet) and the
 * wake handle, and ignores SIGPIPE. The calling thread becomes the loop
 * thread. Returns GL_OK, GL_ENOMEM or GL_EIO (no loop could be made); call
 * gl_shell_destroy() either way. */
int gl_shell_init(gl_shell_t *sh, const char *service, const char *argv0);
/* Applies defaults (name, value pairs, NULL-terminated; may be NULL), then
 * the config file, GREENLIGHT_* environment and flags; sets the log level;
 * checks http.host; answers --help and --check-config. Returns GL_OK,
 * GL_ECONFIG with errstr (the key, the value and what was expected), or 1
 * when --help or --check-config was answered (exit 0). Starts the signal
 * handles. */
int gl_shell_configure(gl_shell_t *sh, int argc, char **argv, const char *const *defaults,
                       char *errstr, size_t errlen);
/* Opens the admin HTTP port when http.port >= 0. Returns GL_OK, GL_ECONFIG
 * (http.host is no address of this machine), GL_EIO (the port is in use:
 * a later start may find it free), GL_ENOMEM, or GL_ESTATE (the shell is
 * closed or already listening), with errstr. */
int gl_shell_listen(gl_shell_t *sh, char *errstr, size_t errlen);
/* The bound admin port, or -1 when there is none. */
int gl_shell_http_port(const gl_shell_t *sh);
/* Adds a GET route for paths starting with prefix ("/healthz", "/orders/").
 * The prefix is copied. */
void gl_shell_route(gl_shell_t *sh, const char *prefix, gl_shell_route_fn fn, void *opaque);
void gl_shell_on_stop(gl_shell_t *sh, gl_shell_stop_fn fn, void *opaque);
/* Before gl_shell_configure(). */
void gl_shell_on_check(gl_shell_t *sh, gl_shell_check_fn fn, void *opaque);
/* Before gl_shell_run(). Without one, the daemon counts as started and
 * ready as soon as the loop runs. */
void gl_shell_on_status(gl_shell_t *sh, gl_shell_status_fn fn, void *opaque);

/* Any thread. The first call wins: logs "fatal" with the message (on the
 * loop), sets exit_code 1 and calls the stop callback; later calls are
 * logged ("fatal_dropped") and dropped. On the loop thread it acts before
 * returning; on any other it hands the message to the loop through
 * sh->wake (if the shell has closed meanwhile, gl_shell_run() logs it and
 * returns 1). */
void gl_shell_fatal(gl_shell_t *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* gl_shell_fatal() that always hands the error to the loop through
 * sh->wake, so that the stop callback runs from the loop itself and never
 * inside the caller (e.g. inside a librdkafka callback such as a
 * rebalance, where a stop callback that flushes or closes a client would
 * deadlock). Any thread. */
void gl_shell_fatal_later(gl_shell_t *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True on the shell's loop thread. Any thread. */
bool gl_shell_on_loop(const gl_shell_t *sh);
/* Enforces a "loop thread only" rule: a call from another thread is a bug
 * that would corrupt loop state, so it is reported and the process aborts
 * (the sanitizer builds of the tests make every violation fail). */
#define GL_SHELL_ASSERT_LOOP(sh, what)                                                   \
  do {                                                                                   \
    if (!gl_shell_on_loop(sh)) {                                                         \
      gl_log_bug("%s called off the loop thread", (what));                              \
      abort();                                                                           \
    }                                                                                    \
  } while (0)
/* True while every broker of some client is down (from the error
 * callbacks, cleared by gl_shell_brokers_up). Any thread. */
bool gl_shell_brokers_down(gl_shell_t *sh);
void gl_shell_brokers_up(gl_shell_t *sh);
/* The reasons for not being ready that every daemon shares, the first that
 * holds: "exiting after a fatal error" (exit_code), "stopping",
 * "starting: <starting>" (starting is the owner's connection status, NULL
 * once connected; written to buf), "broker unreachable" (brokers down).
 * NULL when none holds: the owner then tests its own. Loop thread. */
const char *gl_shell_not_ready(gl_shell_t *sh, const char *starting, char *buf, size_t len);
/* The /readyz answer every daemon gives: 200 {"status":"ready","why":null}
 * when why is NULL, else 503 {"status":"not_ready","why":why}. For routes. */
void gl_shell_reply_readyz(gl_http_response_t *r, const char *why);

/* Builds a librdkafka configuration, the one way: bootstrap.servers
 * 127.0.0.1:19092, then defaults, then the kafka.* pass-through settings,
 * then forced (name, value pairs, NULL-terminated, each may be NULL); with
 * the shell's log callback (the JSON log, CONFWARN at debug) and error
 * callback (a warning; all brokers down sets the flag above; a fatal error
 * is "<client name>: <reason>" for gl_shell_fatal). Both callbacks may run
 * on librdkafka's threads and only log or hand over: a fatal error always
 * reaches the loop through sh->wake, even when rd_kafka_poll() serves it on
 * the loop thread, so that the stop callback never runs inside a
 * librdkafka call. opaque is the caller's: its own callbacks (rebalance,
 * delivery) get it back with gl_shell_client_opaque(); the caller must not
 * replace the configuration's opaque. Returns the configuration (the caller
 * passes it to rd_kafka_new, and destroys the client before
 * gl_shell_destroy()) or NULL with errstr: a bad setting, named. */
rd_kafka_conf_t *gl_shell_kafka_conf(gl_shell_t *sh, const char *const *defaults,
                                     const char *const *forced, void *opaque, char *errstr,
                                     size_t errlen);
/* In a librdkafka callback of a client built above: the caller's opaque. */
void *gl_shell_client_opaque(void *rk_opaque);

/* Builds a librdkafka configuration in the one order every greenlight
 * client uses: bootstrap (NULL: 127.0.0.1:19092), then defaults, then the
 * pass-through (an operator's own settings: kafka.* or -X), then forced;
 * each a NULL-terminated name, value list or NULL. No callbacks (the
 * caller's). Returns the configuration, or NULL with errstr naming the
 * refused setting ("<pass_label><name> = '<value>': <why>" for the
 * pass-through, e.g. pass_label "config: kafka." or "-X "). Any thread. */
rd_kafka_conf_t *gl_kafka_conf_build(const char *bootstrap, const char *const *defaults,
                                     const char *const *passthrough, const char *pass_label,
                                     const char *const *forced, char *errstr, size_t errlen);

/* For a program without a loop (the CLI): the shell's signal policy with
 * a flag instead of a callback. SIGTERM and SIGINT make
 * gl_signals_stop_requested() true (the program finishes what is in
 * flight); SIGHUP and SIGPIPE are ignored. Call once, on the main thread;
 * the flag may be read on any thread. */
/* Unblocks SIGINT and SIGTERM in the calling thread, whose mask may have
 * been inherited blocked; before any thread is created. */
void gl_signals_unblock(void);
void gl_signals_catch(void);
bool gl_signals_stop_requested(void);

/* Closes the shell's handles (signals, wake, admin port) so that the loop
 * can end once the owner's are closed too. Idempotent. */
void gl_shell_close(gl_shell_t *sh);
/* Runs the loop until every handle is closed; returns sh->exit_code. */
int gl_shell_run(gl_shell_t *sh);
/* Frees what init made (also after a failed init). After gl_shell_run(),
 * or after a failed configure: it closes the shell's handles and runs the
 * loop to let them go, so the owner's handles must be closed by then. */
void gl_shell_destroy(gl_shell_t *sh);

#endif
