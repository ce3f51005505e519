/* Shared helpers of the operator CLI. See cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The command being run, for messages; written once by main() before any
 * librdkafka thread exists, read-only afterwards. */
static const char *cli_command;

void cli_set_command(const char *cmd) { cli_command = cmd; }

void cli_err(const char *fmt, ...) {
  char line[2048];
  int n = snprintf(line, sizeof line, "greenlight: %s%s", cli_command ? cli_command : "",
                   cli_command ? ": " : "");
  va_list ap;
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}

/* librdkafka's own log lines, errors only: its warnings (retried
 * requests), debug and info chatter would bury the CLI's answer. May run on
 * librdkafka's threads. */
static void cli_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  (void)rk;
  if (level <= 3) cli_err("kafka %s: %s", fac, buf);
}

/* Client errors, served by rd_kafka_poll() or rd_kafka_consumer_poll() on
 * the main thread. Most are retried by librdkafka and already logged; only
 * a fatal error, and all brokers going down, get a line of their own. */
static void cli_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  (void)opaque;
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_fatal_error(rk, buf, sizeof buf);
    cli_err("kafka fatal error: %s", buf);
  } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    cli_err("kafka: %s", reason);
  }
}

void cli_common_init(cli_common_t *c) {
  memset(c, 0, sizeof *c);
  const char *env = getenv("GREENLIGHT_BOOTSTRAP");
  c->bootstrap = env && *env ? env : CLI_DEFAULT_BOOTSTRAP;
  env = getenv("GREENLIGHT_TOPIC_PREFIX");
  c->prefix = env ? env : "";
}

void cli_common_free(cli_common_t *c) {
  free(c->props);
  c->props = NULL;
  c->n_props = 0;
}

int cli_common_opt(cli_common_t *c, int opt, const char *arg) {
  switch (opt) {
    case 'b':
      if (!arg[0]) {
        cli_err("-b: the bootstrap server list is empty");
        return -1;
      }
      c->bootstrap = arg;
      return 1;
    case 'X': {
      const char *eq = strchr(arg, '=');
      if (!eq || eq == arg) {
        cli_err("-X %s: expected kafka.property=value", arg);
        return -1;
      }
      const char **grown = realloc(c->props, (c->n_props + 1) * sizeof *grown);
      if (!grown) abort();
      c->props = grown;
      c->props[c->n_props++] = arg;
      return 1;
    }
    case CLI_OPT_PREFIX: c->prefix = arg; return 1;
    case 'h': c->help = true; return 1;
    default: return 0;
  }
}

/* The shell's builder (the daemons' order of layers), with -X as the
 * operator's pass-through and the CLI's own callbacks. */
rd_kafka_conf_t *cli_kafka_conf(const cli_common_t *c, const char *const *defaults) {
  char errstr[768];
  /* -X name=value as name, value pairs. */
  char **pass = calloc(2 * c->n_props + 1, sizeof(*pass));
  if (!pass) abort();
  for (size_t i = 0; i < c->n_props; i++) {
    const char *eq = strchr(c->props[i], '=');
    pass[2 * i] = strndup(c->props[i], (size_t)(eq - c->props[i]));
    pass[2 * i + 1] = strdup(eq + 1);
    if (!pass[2 * i] || !pass[2 * i + 1]) abort();
  }
  rd_kafka_conf_t *conf = gl_kafka_conf_build(c->bootstrap, defaults, (const char *const *)pass,
                                              "-X ", NULL, errstr, sizeof errstr);
  for (size_t i = 0; i < 2 * c->n_props; i++) free(pass[i]);
  free(pass);
  if (!conf) {
    cli_err("%s", errstr);
    return NULL;
  }
  rd_kafka_conf_set_log_cb(conf, cli_kafka_log_cb);
  rd_kafka_conf_set_error_cb(conf, cli_kafka_error_cb);
  return conf;
}

int cli_topic_name(const cli_common_t *c, const char *name, char *out, size_t outlen) {
  int n = snprintf(out, outlen, "%s%s", c->prefix, name);
  if (n < 0 || (size_t)n >= outlen || n > 249) {
    cli_err("topic name '%s%s' is too long (Kafka allows 249 characters)", c->prefix, name);
    return -1;
  }
  return 0;
}

int cli_parse_int(const char *s, long long min, long long max, long long *out) {
  if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
    return -1;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end != '\0' || v < min || v > max) return -1;
  *out = v;
  return 0;
}

int64_t cli_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *cli_hex_encode(const void *data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  const uint8_t *p = data;
  char *out = malloc(2 * n + 1);
  if (!out) abort();
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
  return out;
}

/* The value of one hex digit, or -1. */
static int cli_hex_digit(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

int cli_hex_decode(const char *s, uint8_t **out, size_t *out_len) {
  size_t n = strlen(s);
  *out = NULL;
  *out_len = 0;
  if (n % 2) return -1;
  if (n == 0) return 0;
  uint8_t *buf = malloc(n / 2);
  if (!buf) abort();
  for (size_t i = 0; i < n; i += 2) {
    int hi = cli_hex_digit(s[i]), lo = cli_hex_digit(s[i + 1]);
    if (hi < 0 || lo < 0) {
      free(buf);
      return -1;
    }
    buf[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  *out = buf;
  *out_len = n / 2;
  return 0;
}
