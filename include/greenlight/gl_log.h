/* gl_log: JSON-lines logging to stderr, one object per line.
 *
 *   {"ts":"2026-11-23T19:22:00.123Z","level":"info","service":"orderd",
 *    "event":"commit","msg":"committed 812 records"}
 *
 * "event" is a short stable slug that operators can filter on; "msg" is
 * free text.
 *
 * Thread locality: gl_log() and gl_logv() may be called on any thread at
 * once: each line is built in memory and written by one fwrite, which stdio
 * locks. The logger's fields are set by gl_log_init() (and the level by the
 * shell's configure) before other threads use it, and not changed after.
 *
 * Ownership: the logger borrows service and out (it never closes out);
 * every string passed to a call is borrowed for the call only. */
#ifndef GREENLIGHT_GL_LOG_H
#define GREENLIGHT_GL_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "greenlight/gl_error.h"

typedef enum gl_log_level {
  GL_LOG_DEBUG = 0,
  GL_LOG_INFO = 1,
  GL_LOG_WARN = 2,
  GL_LOG_ERROR = 3
} gl_log_level_t;

typedef struct gl_log {
  const char *service; /* Not owned; must outlive the logger. */
  gl_log_level_t level;
  FILE *out;
} gl_log_t;

/* Sets the fields; out is stderr. Before the logger is shared. */
void gl_log_init(gl_log_t *log, const char *service, gl_log_level_t level);
/* Parses "debug", "info", "warn" or "error" into *out. Returns GL_OK, or
 * GL_ECONFIG with *out unchanged (the text is a setting: log.level).
 * Pure; any thread. */
int gl_log_level_parse(const char *s, gl_log_level_t *out);

void gl_log(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gl_logv(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt,
             va_list ap);

#define gl_debug(log, ev, ...) gl_log((log), GL_LOG_DEBUG, (ev), __VA_ARGS__)
#define gl_info(log, ev, ...) gl_log((log), GL_LOG_INFO, (ev), __VA_ARGS__)
#define gl_warn(log, ev, ...) gl_log((log), GL_LOG_WARN, (ev), __VA_ARGS__)
#define gl_error(log, ev, ...) gl_log((log), GL_LOG_ERROR, (ev), __VA_ARGS__)

/* Writes s as a JSON string body (no quotes) to f, escaping as needed.
 * Any thread, on a stream no other thread writes meanwhile: it writes
 * character by character (gl_log() gives it a memory stream of its own). */
void gl_json_escape(FILE *f, const char *s);

#endif
