/* gl_log: JSON-lines logging to stderr, one object per line.
 *
 *   {"ts":"2026-11-23T19:22:00.123Z","level":"info","service":"orderd",
 *    "event":"commit","msg":"committed 812 records"}
 *
 * "event" is a short stable slug that operators can filter on; "msg" is
 * free text. Safe to call from any thread (one fprintf per line). */
#ifndef GREENLIGHT_GL_LOG_H
#define GREENLIGHT_GL_LOG_H

#include <stdarg.h>
#include <stdio.h>

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

void gl_log_init(gl_log_t *log, const char *service, gl_log_level_t level);
/* Parses "debug", "info", "warn" or "error". Returns 0 or -1. */
int gl_log_level_parse(const char *s, gl_log_level_t *out);

void gl_log(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gl_logv(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt,
             va_list ap);

#define gl_debug(log, ev, ...) gl_log((log), GL_LOG_DEBUG, (ev), __VA_ARGS__)
#define gl_info(log, ev, ...) gl_log((log), GL_LOG_INFO, (ev), __VA_ARGS__)
#define gl_warn(log, ev, ...) gl_log((log), GL_LOG_WARN, (ev), __VA_ARGS__)
#define gl_error(log, ev, ...) gl_log((log), GL_LOG_ERROR, (ev), __VA_ARGS__)

/* Writes s as a JSON string body (no quotes) to f, escaping as needed. */
void gl_json_escape(FILE *f, const char *s);

#endif
