/* gl_notify: the daemon's life told to systemd through sd_notify
 * (libsystemd), for Type=notify units (include/greenlight/gl_shell.h,
 * "systemd"):
 *   READY=1     once, when the owner's status callback says the start is over
 *   STATUS=...  "ready", or why not (the /readyz reason), whenever it changes
 *   WATCHDOG=1  every half WATCHDOG_USEC, from a timer on the loop: a loop
 *               that hangs stops the pings and systemd restarts the daemon
 *   STOPPING=1  when a stop begins (a signal, a fatal error)
 * The timer runs only when NOTIFY_SOCKET is set; without it nothing here
 * costs anything. All on the loop thread. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "gl_shell_int.h"

/* How often the status is looked at when no watchdog asks for more. */
#define GL_NOTIFY_STATUS_MS 1000

static void gl_notify_send(gl_shell_t *sh, const char *state) {
  int rc = sd_notify(0, state);
  if (rc < 0 && !sh->notify_failed) {
    sh->notify_failed = true; /* Said once: the socket will not mend itself. */
    gl_log_kv(&sh->log, GL_LOG_WARN, "notify", GL_LOG_FIELDS(GL_LOG_INT("errno", -rc)),
              "sd_notify to NOTIFY_SOCKET failed: %s", strerror(-rc));
  }
}

/* Appends one NAME=value line to the message, the value on one line. */
static void gl_notify_add(char *msg, size_t cap, const char *name, const char *value) {
  size_t n = strlen(msg);
  snprintf(msg + n, cap - n, "%s=%s\n", name, value);
  for (char *p = msg + n + strlen(name) + 1; *p; p++)
    if (*p == '\n' && p[1] != '\0') *p = ' ';
}

static void gl_notify_tick(uv_timer_t *h) {
  gl_shell_t *sh = h->data;
  char buf[256], msg[512] = "";
  bool started = sh->on_status == NULL;
  const char *why = sh->on_status ? sh->on_status(sh->on_status_opaque, &started, buf, sizeof buf)
                                  : NULL;
  const char *status = why ? why : "ready";
  if (started && !sh->notify_ready && !sh->stopping) {
    sh->notify_ready = true;
    gl_notify_add(msg, sizeof msg, "READY", "1");
  }
  if (strncmp(status, sh->notify_status, sizeof sh->notify_status - 1) != 0) {
    snprintf(sh->notify_status, sizeof sh->notify_status, "%s", status);
    gl_notify_add(msg, sizeof msg, "STATUS", sh->notify_status);
  }
  if (sh->notify_watchdog_ms) gl_notify_add(msg, sizeof msg, "WATCHDOG", "1");
  if (msg[0]) gl_notify_send(sh, msg);
}

void gl_shell__notify_start(gl_shell_t *sh) {
  const char *socket = getenv("NOTIFY_SOCKET");
  if (sh->notify_on || !sh->handles_open || !socket || !socket[0]) return;
  uint64_t usec = 0;
  sh->notify_watchdog_ms = sd_watchdog_enabled(0, &usec) > 0 ? usec / 2000 : 0;
  if (usec && !sh->notify_watchdog_ms) sh->notify_watchdog_ms = 1;
  uint64_t period = sh->notify_watchdog_ms && sh->notify_watchdog_ms < GL_NOTIFY_STATUS_MS
                        ? sh->notify_watchdog_ms
                        : GL_NOTIFY_STATUS_MS;
  if (uv_timer_init(&sh->loop, &sh->notify_timer) < 0) return;
  sh->notify_timer.data = sh;
  sh->notify_on = true;
  gl_log_kv(&sh->log, GL_LOG_INFO, "notify",
            GL_LOG_FIELDS(GL_LOG_INT("watchdog_ms", (int64_t)sh->notify_watchdog_ms)),
            "telling systemd READY, STATUS%s through NOTIFY_SOCKET",
            sh->notify_watchdog_ms ? " and WATCHDOG" : "");
  uv_timer_start(&sh->notify_timer, gl_notify_tick, 0, period);
}

void gl_shell__notify_stopping(gl_shell_t *sh) {
  if (sh->notify_on) gl_notify_send(sh, "STOPPING=1");
}

void gl_shell__notify_close(gl_shell_t *sh) {
  if (!sh->notify_on) return;
  sh->notify_on = false;
  uv_close((uv_handle_t *)&sh->notify_timer, NULL);
}
