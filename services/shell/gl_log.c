/* gl_log: JSON-lines logging. See include/greenlight/gl_log.h.
 *
 * A line is built in a buffer on the caller's stack (gl_line_t) and written
 * by one fwrite. The buffer keeps GL_LINE_RESERVE bytes back: once a piece
 * does not fit in the rest, the line is cut there, and the reserve always
 * holds what closes it (a string's quote, "truncated":true, the brace and
 * the newline), so that a cut line is still valid JSON. */
#include "greenlight/gl_log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *gl_log_level_names[] = {"debug", "info", "warn", "error"};

/* Room for "\"", ",\"truncated\":true", "}" and "\n". */
#define GL_LINE_RESERVE 32

typedef struct gl_line {
  char buf[GL_LOG_LINE_MAX];
  size_t len;
  bool cut; /* A piece did not fit: nothing more is added but the closing. */
} gl_line_t;

void gl_log_init(gl_log_t *log, const char *service, gl_log_level_t level) {
  log->service = service;
  log->level = level;
  log->out = stderr;
}

int gl_log_level_parse(const char *s, gl_log_level_t *out) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, gl_log_level_names[i]) == 0) {
      *out = (gl_log_level_t)i;
      return GL_OK;
    }
  }
  return GL_ECONFIG;
}

/* Adds n bytes whole, or cuts the line. Returns whether they were added. */
static bool gl_line_put(gl_line_t *l, const char *s, size_t n) {
  if (l->cut || l->len + n > sizeof(l->buf) - GL_LINE_RESERVE) {
    l->cut = true;
    return false;
  }
  memcpy(l->buf + l->len, s, n);
  l->len += n;
  return true;
}

/* Adds what closes the line (from the reserve). */
static void gl_line_close(gl_line_t *l, const char *s) {
  size_t n = strlen(s);
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * form, no surrogate, nothing above U+10FFFF), or 0 when the byte at p
 * starts none. p is NUL-terminated, so a truncated sequence ends at a byte
 * that is no continuation. */
static size_t gl_utf8_len(const unsigned char *p) {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF; /* The range of the second byte. */
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;      /* Overlong below U+0800. */
    else if (c == 0xED) hi = 0x9F; /* Surrogates U+D800..U+DFFF. */
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;      /* Overlong below U+10000. */
    else if (c == 0xF4) hi = 0x8F; /* Above U+10FFFF. */
  } else {
    return 0; /* A continuation byte, C0, C1 or F5..FF. */
  }
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return n;
}

/* Adds s as the body of a JSON string (no quotes), piece by piece: each
 * character escaped as JSON needs, each byte that is not UTF-8 as \xHH. */
static void gl_line_escape(gl_line_t *l, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p && !l->cut) {
    char esc[8];
    const char *piece = esc;
    size_t n = gl_utf8_len(p), adv = n ? n : 1;
    if (n == 0) {
      snprintf(esc, sizeof esc, "\\\\x%02x", *p);
    } else if (*p == '"' || *p == '\\') {
      esc[0] = '\\', esc[1] = (char)*p, esc[2] = '\0';
    } else if (*p == '\n' || *p == '\r' || *p == '\t') {
      esc[0] = '\\', esc[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't', esc[2] = '\0';
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
    } else {
      piece = (const char *)p;
    }
    if (gl_line_put(l, piece, piece == esc ? strlen(esc) : n)) p += adv;
  }
}

/* Adds ,"key": and a string value (null for NULL). The key and the opening
 * quote go in as one piece: a cut never leaves a key without a value. */
static void gl_line_str(gl_line_t *l, const char *key, const char *s) {
  char head[80];
  int n = snprintf(head, sizeof head, ",\"%s\":%s", key, s ? "\"" : "null");
  if (n < 0 || (size_t)n >= sizeof head || !gl_line_put(l, head, (size_t)n) || !s) return;
  gl_line_escape(l, s);
  gl_line_close(l, "\""); /* The opening quote went in, so the closing one must. */
}

static void gl_line_int(gl_line_t *l, const char *key, int64_t v) {
  char piece[96];
  int n = snprintf(piece, sizeof piece, ",\"%s\":%" PRId64, key, v);
  if (n > 0 && (size_t)n < sizeof piece) gl_line_put(l, piece, (size_t)n);
}

static void gl_log_write(const gl_log_t *log, gl_log_level_t level, const char *event,
                         const gl_log_field_t *fields, size_t nfields, const char *fmt,
                         va_list ap) {
  char msg[GL_LOG_LINE_MAX];
  int m = vsnprintf(msg, sizeof msg, fmt, ap);
  if (m < 0) {
    msg[0] = '\0';
  } else if ((size_t)m >= sizeof msg) {
    /* Cut at a whole character: drop a sequence the cut left incomplete. */
    size_t i = sizeof msg - 2;
    while (i > 0 && ((unsigned char)msg[i] & 0xC0) == 0x80) i--;
    if (gl_utf8_len((const unsigned char *)msg + i) == 0) msg[i] = '\0';
  }
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char ts[40];
  size_t tn = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + tn, sizeof ts - tn, ".%03ldZ", (long)(tv.tv_usec / 1000));

  gl_line_t line, *l = &line;
  line.len = 0;
  line.cut = false;
  gl_line_put(l, "{\"ts\":\"", 7);
  gl_line_put(l, ts, strlen(ts));
  gl_line_put(l, "\"", 1);
  gl_line_str(l, "level", gl_log_level_names[level]);
  gl_line_str(l, "service", log->service ? log->service : "greenlight");
  gl_line_str(l, "event", event ? event : "log");
  for (size_t i = 0; i < nfields; i++) {
    if (fields[i].is_str)
      gl_line_str(l, fields[i].key, fields[i].str);
    else
      gl_line_int(l, fields[i].key, fields[i].num);
  }
  gl_line_str(l, "msg", msg);
  if (l->cut) gl_line_close(l, ",\"truncated\":true");
  gl_line_close(l, "}\n");
  FILE *out = log->out ? log->out : stderr;
  fwrite(l->buf, 1, l->len, out);
  fflush(out);
}

void gl_logv(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt,
             va_list ap) {
  if (!log || level < log->level) return;
  gl_log_write(log, level, event, NULL, 0, fmt, ap);
}

void gl_log(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gl_logv(log, level, event, fmt, ap);
  va_end(ap);
}

void gl_log_kv(const gl_log_t *log, gl_log_level_t level, const char *event,
               const gl_log_field_t *fields, size_t nfields, const char *fmt, ...) {
  if (!log || level < log->level) return;
  va_list ap;
  va_start(ap, fmt);
  gl_log_write(log, level, event, fields, nfields, fmt, ap);
  va_end(ap);
}

void gl_log_bug(const char *fmt, ...) {
  gl_log_t log = {.service = "greenlight", .level = GL_LOG_ERROR, .out = stderr};
  va_list ap;
  va_start(ap, fmt);
  gl_log_write(&log, GL_LOG_ERROR, "bug", NULL, 0, fmt, ap);
  va_end(ap);
}
