/* The shell's internals shared by its files:
 *   gl_shell.c        life, settings, signals, fatal errors, the admin router
 *   gl_shell_kafka.c  librdkafka configurations and their callbacks
 *   gl_notify.c       READY, STATUS, WATCHDOG and STOPPING for systemd */
#ifndef GREENLIGHT_GL_SHELL_INT_H
#define GREENLIGHT_GL_SHELL_INT_H

#include <stdbool.h>

#include "greenlight/gl_shell.h"

/* Any thread. Claims the fatal error for msg (the first claim wins; later
 * ones are logged and dropped). With defer false (loop thread only) acts at
 * once; with defer true hands it to the loop through sh->wake. */
void gl_shell__fatal_post(gl_shell_t *sh, const char *msg, bool defer);

/* gl_notify.c, loop thread. Start: when NOTIFY_SOCKET is set and the
 * shell's handles are open, starts the timer (from gl_shell_run). Stopping:
 * sends STOPPING=1 (the first stop). Close: closes the timer (from
 * gl_shell_close), so that the loop can end. */
void gl_shell__notify_start(gl_shell_t *sh);
void gl_shell__notify_stopping(gl_shell_t *sh);
void gl_shell__notify_close(gl_shell_t *sh);

#endif
