/* gl_log: JSON-lines logging to stderr, one object per line.
 *
 *   {"ts":"2026-11-23T19:22:00.123Z","level":"info","service":"orderd",
 *    "event":"commit","records":812,"duration_ms":14,"msg":"committed 812 records"}
 *
 * "event" is a short stable slug that operators can filter on; "msg" is
 * free text for a human. The facts a line is about (topic, partition,
 * offset, order_id, counts, durations) are fields of their own, given with
 * gl_log_kv(), so that a log pipeline filters on them without parsing msg.
 *
 * Every line is valid JSON in valid UTF-8, whatever the strings hold:
 * control characters are written as \n, \r, \t or \u00XX; a byte that is
 * not part of a well-formed UTF-8 sequence (a stray continuation byte, an
 * overlong form, a surrogate, a truncated sequence, anything above
 * U+10FFFF) is written as the four characters \xHH (in JSON "\\xHH"), so
 * that it stays visible and the line stays readable by any JSON parser.
 * A line longer than GL_LOG_LINE_MAX bytes is cut at a whole character and
 * ends with "truncated":true; it stays valid JSON.
 *
 * Thread locality: gl_log(), gl_logv() and gl_log_kv() may be called on any
 * thread at once: each line is built in a buffer on the caller's stack and
 * written by one fwrite, which stdio locks. The logger's fields are set by
 * gl_log_init() (and the level by the shell's configure) before other
 * threads use it, and not changed after.
 *
 * Ownership: the logger borrows service and out (it never closes out);
 * every string passed to a call is borrowed for the call only. */
#ifndef GREENLIGHT_GL_LOG_H
#define GREENLIGHT_GL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "greenlight/gl_error.h"

/* The longest line written, newline included. */
#define GL_LOG_LINE_MAX 8192

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

/* One field of a line: a name (lower case, never ts, level, service, event,
 * msg or truncated, which the line has already) and a string or an integer.
 * Build them with GL_LOG_STR and GL_LOG_INT, and pass a list with
 * GL_LOG_FIELDS. A NULL string is written as null. */
typedef struct gl_log_field {
  const char *key;
  bool is_str;
  const char *str;
  int64_t num;
} gl_log_field_t;

#define GL_LOG_STR(k, s) ((gl_log_field_t){.key = (k), .is_str = true, .str = (s)})
#define GL_LOG_INT(k, n) ((gl_log_field_t){.key = (k), .num = (int64_t)(n)})
/* The two arguments fields, nfields of gl_log_kv() from a list of fields:
 *   gl_log_kv(log, GL_LOG_WARN, "dlq",
 *             GL_LOG_FIELDS(GL_LOG_STR("topic", t), GL_LOG_INT("partition", p)),
 *             "record dead-lettered: %s", why); */
#define GL_LOG_FIELDS(...)                  \
  ((const gl_log_field_t[]){__VA_ARGS__}), \
      (sizeof((const gl_log_field_t[]){__VA_ARGS__}) / sizeof(gl_log_field_t))

/* Sets the fields; out is stderr. Before the logger is shared. */
void gl_log_init(gl_log_t *log, const char *service, gl_log_level_t level);
/* Parses "debug", "info", "warn" or "error" into *out. Returns GL_OK, or
 * GL_ECONFIG with *out unchanged (the text is a setting: log.level).
 * Pure; any thread. */
int gl_log_level_parse(const char *s, gl_log_level_t *out);

/* Writes one line when level is at least log->level: msg from fmt, no
 * fields. log may be NULL (nothing is written). Any thread. */
void gl_log(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gl_logv(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt,
             va_list ap);
/* gl_log() with fields, written between event and msg in the order given.
 * Any thread. */
void gl_log_kv(const gl_log_t *log, gl_log_level_t level, const char *event,
               const gl_log_field_t *fields, size_t nfields, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define gl_debug(log, ev, ...) gl_log((log), GL_LOG_DEBUG, (ev), __VA_ARGS__)
#define gl_info(log, ev, ...) gl_log((log), GL_LOG_INFO, (ev), __VA_ARGS__)
#define gl_warn(log, ev, ...) gl_log((log), GL_LOG_WARN, (ev), __VA_ARGS__)
#define gl_error(log, ev, ...) gl_log((log), GL_LOG_ERROR, (ev), __VA_ARGS__)

/* For a program about to abort on a broken invariant, with no logger at
 * hand: writes one line at level error, service "greenlight", event "bug",
 * to stderr (the tests fail on any "bug" line). Any thread. */
void gl_log_bug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
