/* gl_log: JSON-lines logging. See include/greenlight/gl_log.h. */
#include "greenlight/gl_log.h"

#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *gl_log_level_names[] = {"debug", "info", "warn", "error"};

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

void gl_json_escape(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      default:
        if (*p < 0x20)
          fprintf(f, "\\u%04x", *p);
        else
          fputc(*p, f);
    }
  }
}

void gl_logv(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt,
             va_list ap) {
  if (!log || level < log->level) return;
  char msg[2048];
  vsnprintf(msg, sizeof(msg), fmt, ap);

  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char ts[32];
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

  /* Build the line in memory so that one write carries it whole. */
  char line[4096];
  FILE *f = fmemopen(line, sizeof(line) - 2, "w");
  if (!f) return;
  fprintf(f, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"service\":\"", ts, (long)(tv.tv_usec / 1000),
          gl_log_level_names[level]);
  gl_json_escape(f, log->service ? log->service : "greenlight");
  fputs("\",\"event\":\"", f);
  gl_json_escape(f, event);
  fputs("\",\"msg\":\"", f);
  gl_json_escape(f, msg);
  fputs("\"}", f);
  long n = ftell(f);
  fclose(f);
  if (n < 0) return;
  line[n] = '\n';
  fwrite(line, 1, (size_t)n + 1, log->out ? log->out : stderr);
  fflush(log->out ? log->out : stderr);
}

void gl_log(const gl_log_t *log, gl_log_level_t level, const char *event, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gl_logv(log, level, event, fmt, ap);
  va_end(ap);
}
