/* Shared helpers of the operator CLI. See cli.h. */
#include "cli.h"

#include <ctype.h>
#include <stddef.h>
#include <stdbool.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "greenlight/gl_kafka.h"

#include "greenlight/gl_codec.h"
#include "greenlight/gl_json.h"

/* The command being run, for messages; written once by main() before any
 * librdkafka thread exists, read-only afterwards. */
static const char *cli_command;

void cli_set_command(const char *cmd) { cli_command = cmd; }

const char *cli_command_name(void) { return cli_command; }

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

/* The CLI's own key; the rest of what it shares with the daemons is the
 * kafka.* pass-through. */
static const gl_conf_prop_t cli_common_props[] = {
    {"topic.prefix", GL_CONF_STR, "", 0, 0, NULL, offsetof(cli_common_t, settings.topic_prefix),
     "Prepended to every topic name."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

extern char **environ;

void cli_common_init(cli_common_t *c) {
  memset(c, 0, sizeof *c);
  gl_conf_init(&c->conf, "greenlight");
  if (gl_conf_add_table(&c->conf, cli_common_props, c, c->env_err, sizeof c->env_err) < 0) abort();
  c->env_rc = gl_conf_load_env(&c->conf, environ, c->env_err, sizeof c->env_err);
  const char *env = gl_conf_kafka_get(&c->conf, "bootstrap.servers");
  c->bootstrap = env && *env ? env : CLI_DEFAULT_BOOTSTRAP;
  c->prefix = c->settings.topic_prefix ? c->settings.topic_prefix : "";
}

void cli_common_free(cli_common_t *c) {
  free(c->props);
  c->props = NULL;
  c->n_props = 0;
  gl_conf_destroy(&c->conf);
}

/* Sets kafka.<name> = value in c->conf; reports a refusal. */
static int cli_common_kafka_set(cli_common_t *c, const char *name, size_t name_len,
                                const char *value) {
  char key[256], err[768];
  if (snprintf(key, sizeof key, "kafka.%.*s", (int)name_len, name) >= (int)sizeof key) {
    cli_err("-X %.40s...: expected a property name of at most %zu bytes", name, sizeof key - 7);
    return -1;
  }
  if (gl_conf_set(&c->conf, key, value, err, sizeof err) == 0) return 0;
  cli_err("%s", strncmp(err, "config: ", 8) == 0 ? err + 8 : err);
  return -1;
}

static bool cli_common_given(const cli_common_t *c, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < c->n_props; i++)
    if (strncmp(c->props[i], name, n) == 0 && c->props[i][n] == '=') return true;
  return false;
}

int cli_common_default_prop(cli_common_t *c, const char *name, const char *value) {
  if (cli_common_given(c, name)) return 0;
  return cli_common_kafka_set(c, name, strlen(name), value);
}

int cli_common_opt(cli_common_t *c, int opt, const char *arg) {
  switch (opt) {
    case 'b':
      if (!arg[0]) {
        cli_err("-b: the bootstrap server list is empty");
        return -1;
      }
      if (cli_common_kafka_set(c, "bootstrap.servers", strlen("bootstrap.servers"), arg) < 0)
        return -1;
      c->bootstrap = arg;
      c->bootstrap_given = true;
      return 1;
    case 'X': {
      /* kafka.prop=value as the daemons take it, or prop=value as kcat. */
      const char *prop = strncmp(arg, "kafka.", 6) == 0 ? arg + 6 : arg;
      const char *eq = strchr(prop, '=');
      if (!eq || eq == prop) {
        cli_err("-X %s: expected kafka.property=value", arg);
        return -1;
      }
      if (cli_common_kafka_set(c, prop, (size_t)(eq - prop), eq + 1) < 0) return -1;
      if (strncmp(prop, "bootstrap.servers=", 18) == 0) {
        c->bootstrap = eq + 1;
        c->bootstrap_given = true;
      }
      const char **grown = realloc(c->props, (c->n_props + 1) * sizeof *grown);
      if (!grown) abort();
      c->props = grown;
      c->props[c->n_props++] = prop;
      return 1;
    }
    case CLI_OPT_PREFIX: {
      char err[768];
      if (gl_conf_set(&c->conf, "topic.prefix", arg, err, sizeof err) < 0) {
        cli_err("--prefix: %s", strncmp(err, "config: ", 8) == 0 ? err + 8 : err);
        return -1;
      }
      c->prefix = c->settings.topic_prefix;
      c->prefix_given = true;
      return 1;
    }
    case 'h': c->help = true; return 1;
    default: return 0;
  }
}

/* The shell's builder (the daemons' order of layers), with the environment
 * and -X as the operator's pass-through and the CLI's own callbacks. */
rd_kafka_conf_t *cli_kafka_conf(const cli_common_t *c, const char *const *defaults) {
  char errstr[768];
  rd_kafka_conf_t *conf = gl_kafka_conf_build(c->bootstrap, defaults,
                                              gl_conf_kafka_pairs(&c->conf), "kafka.", NULL,
                                              errstr, sizeof errstr);
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

int cli_parse_opts(cli_common_t *c, int argc, char **argv, const char *extra_short,
                   const struct option *longopts, cli_opt_fn fn, void *ctx) {
  char shortopts[64];
  snprintf(shortopts, sizeof shortopts, ":%s%s", CLI_COMMON_SHORTOPTS,
           extra_short ? extra_short : "");
  if (c->env_rc < 0) { /* A bad GREENLIGHT_* value: a bad setting, as for a daemon. */
    cli_err("%s", strncmp(c->env_err, "config: ", 8) == 0 ? c->env_err + 8 : c->env_err);
    return -1;
  }
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    int handled = cli_common_opt(c, opt, optarg);
    if (handled < 0) return -1;
    if (handled) continue;
    if (opt == ':') {
      cli_err("option '%s' needs a value", argv[optind - 1]);
      return -1;
    }
    if (opt == '?') {
      cli_err("unknown option '%s'", argv[optind - 1]);
      return -1;
    }
    if (fn(ctx, opt, optarg) < 0) return -1;
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

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
 * days_from_civil). */
static int64_t cli_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* n digits at *p as a number, moving *p past them; -1 if not digits. */
static int cli_digits(const char **p, int n) {
  int v = 0;
  for (int i = 0; i < n; i++, (*p)++) {
    if (!isdigit((unsigned char)**p)) return -1;
    v = v * 10 + (**p - '0');
  }
  return v;
}

int cli_parse_time(const char *s, int64_t *ms) {
  long long v;
  if (cli_parse_int(s, 0, INT64_MAX, &v) == 0) {
    *ms = v;
    return 0;
  }
  const char *p = s;
  int y = cli_digits(&p, 4);
  if (y < 0 || *p++ != '-') return -1;
  int mo = cli_digits(&p, 2);
  if (mo < 1 || mo > 12 || *p++ != '-') return -1;
  int d = cli_digits(&p, 2);
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) return -1;
  if (*p != 'T' && *p != 't' && *p != ' ') return -1;
  p++;
  int h = cli_digits(&p, 2);
  if (h < 0 || h > 23 || *p++ != ':') return -1;
  int mi = cli_digits(&p, 2);
  if (mi < 0 || mi > 59 || *p++ != ':') return -1;
  int sec = cli_digits(&p, 2);
  if (sec < 0 || sec > 60) return -1; /* 60: a leap second, as the next one. */
  int frac = 0; /* Milliseconds: the first three digits of the fraction. */
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p)) return -1;
    for (int i = 0; i < 3; i++)
      frac = frac * 10 + (isdigit((unsigned char)*p) ? *p++ - '0' : 0);
    while (isdigit((unsigned char)*p)) p++;
  }
  int off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1;
    int oh = cli_digits(&p, 2);
    if (oh < 0 || oh > 23 || *p++ != ':') return -1;
    int om = cli_digits(&p, 2);
    if (om < 0 || om > 59) return -1;
    off = sign * (oh * 60 + om);
  } else {
    return -1; /* RFC 3339 asks for the offset. */
  }
  if (*p) return -1;
  int64_t days = cli_days_from_civil(y, (unsigned)mo, (unsigned)d);
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
  if (secs < 0) return -1; /* Kafka timestamps start at the epoch. */
  *ms = secs * 1000 + frac;
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

/* ---- Records as JSON lines (tail, show, dlq) ---------------------------- */

/* True if the n bytes at s are text that JSON can carry as a string. */
static bool cli_is_text(const void *s, size_t n) {
  if (memchr(s, '\0', n)) return false;
  json_t *j = json_stringn(s, n);
  if (!j) return false;
  json_decref(j);
  return true;
}

json_t *cli_bytes_json(const void *val, size_t n) {
  if (cli_is_text(val, n)) return json_stringn(val, n);
  char *hex = cli_hex_encode(val, n);
  size_t len = strlen(hex);
  char *buf = malloc(len + 3);
  if (!buf) abort();
  memcpy(buf, "0x", 2);
  memcpy(buf + 2, hex, len + 1);
  json_t *j = json_string(buf);
  free(buf);
  free(hex);
  return j;
}

/* Adds "value" (decoded), or "value_hex" and "error" when the value cannot
 * be decoded as type_name (NULL or raw: never decoded). */
static void cli_add_value(json_t *out, const char *type_name, int json_flags, bool raw,
                          const rd_kafka_message_t *m) {
  if (!m->payload) {
    json_object_set_new(out, "value", json_null());
    return;
  }
  const char *error = NULL;
  char detail[512];
  if (type_name && !raw) {
    const ProtobufCMessageDescriptor *desc = gl_json_descriptor(type_name);
    if (!desc) {
      error = "unknown message type";
    } else {
      ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, m->len, m->payload);
      if (msg) {
        json_t *value = gl_json_from_message(msg, json_flags);
        protobuf_c_message_free_unpacked(msg, NULL);
        if (value) {
          json_object_set_new(out, "value", value);
          return;
        }
        error = "cannot convert to JSON";
      } else {
        snprintf(detail, sizeof detail, "not a valid %s (%zu bytes)", type_name, m->len);
        error = detail;
      }
    }
  }
  char *hex = cli_hex_encode(m->payload, m->len);
  json_object_set_new(out, "value_hex", json_string(hex));
  free(hex);
  if (error) json_object_set_new(out, "error", json_string(error));
}

json_t *cli_record_json(const rd_kafka_message_t *m, const char *type_name, int json_flags,
                        bool raw) {
  json_t *out = json_object();
  json_object_set_new(out, "topic", json_string(rd_kafka_topic_name(m->rkt)));
  json_object_set_new(out, "partition", json_integer(m->partition));
  json_object_set_new(out, "offset", json_integer(m->offset));
  rd_kafka_timestamp_type_t tstype;
  int64_t ts = rd_kafka_message_timestamp(m, &tstype);
  json_object_set_new(out, "timestamp_ms", ts >= 0 ? json_integer(ts) : json_null());
  json_object_set_new(out, "key", m->key ? cli_bytes_json(m->key, m->key_len) : json_null());

  json_t *headers = json_object();
  char header_type[256] = "";
  rd_kafka_headers_t *hdrs = NULL;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
      /* Every header shows as a string; a header without a value as "". */
      json_object_set_new(headers, name, val ? cli_bytes_json(val, size) : json_string(""));
      if (strcmp(name, GL_HDR_MESSAGE_TYPE) == 0 && val && size < sizeof header_type) {
        memcpy(header_type, val, size);
        header_type[size] = '\0';
      }
    }
  }
  json_object_set_new(out, "headers", headers);

  if (!type_name && header_type[0]) type_name = header_type;
  if (type_name) json_object_set_new(out, "type", json_string(type_name));
  cli_add_value(out, type_name, json_flags, raw, m);
  return out;
}

int cli_print_json_line(json_t *j) {
  int rc = json_dumpf(j, stdout, JSON_COMPACT);
  json_decref(j);
  if (rc < 0 || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) return -1;
  return 0;
}

int32_t cli_key_partition(const void *key, size_t len, int32_t n_partitions) {
  return (int32_t)(((uint32_t)gl_murmur2(key, len) & 0x7fffffff) % (uint32_t)n_partitions);
}

int cli_topic_partitions(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int wait_ms, int32_t *n,
                         char *problem, size_t problem_len) {
  const char *topic = rd_kafka_topic_name(rkt);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, wait_ms > 0 ? wait_ms : 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(problem, problem_len, "cannot read the partitions of %s: %s", topic,
             rd_kafka_err2str(e));
    return -1;
  }
  e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  int32_t count = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
  rd_kafka_metadata_destroy(md);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR && count > 0) {
    *n = count;
    return 0;
  }
  if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    snprintf(problem, problem_len, "topic %s does not exist", topic);
  else
    snprintf(problem, problem_len, "topic %s: %s", topic,
             e ? rd_kafka_err2str(e) : "no partitions reported");
  return -1;
}

int cli_offsets_for_time(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int64_t ms,
                         int wait_ms, const char *what) {
  for (int i = 0; i < parts->cnt; i++) parts->elems[i].offset = ms;
  rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, parts, wait_ms > 0 ? wait_ms : 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    cli_err("%s: cannot look up the offsets of %s: %s", what,
            parts->cnt ? parts->elems[0].topic : "?", rd_kafka_err2str(e));
    return -1;
  }
  /* A partition's own error is no answer: taking it as "nothing at or
   * after ms" would silently skip the partition. */
  for (int i = 0; i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    if (!p->err) continue;
    cli_err("%s: cannot look up the offsets of %s [%d]: %s", what, p->topic, (int)p->partition,
            rd_kafka_err2str(p->err));
    return -1;
  }
  for (int i = 0; i < parts->cnt; i++)
    if (parts->elems[i].offset < 0) parts->elems[i].offset = RD_KAFKA_OFFSET_END;
  return 0;
}

rd_kafka_t *cli_consumer_new(const cli_common_t *c, const char *name) {
  /* librdkafka needs a group.id to assign partitions; the reader never
   * joins or commits to it, so a per-process name keeps it out of
   * everyone's way. */
  char group[64];
  snprintf(group, sizeof group, "greenlight-cli-%s-%ld", name, (long)getpid());
  const char *const defaults[] = {
      "client.id", "greenlight-cli",
      "group.id", group,
      "enable.auto.commit", "false",
      "enable.auto.offset.store", "false",
      "isolation.level", "read_committed",
      "enable.partition.eof", "true",
      /* A reader stops at the end it finds: the broker need not hold an
       * empty fetch for librdkafka's 500 ms before it can say so. */
      "fetch.wait.max.ms", "100",
      /* The topic is never created by a reader. */
      "allow.auto.create.topics", "false",
      NULL,
  };
  rd_kafka_conf_t *conf = cli_kafka_conf(c, defaults);
  if (!conf) return NULL;
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk) {
    cli_err("cannot create the consumer: %s", errstr);
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

rd_kafka_conf_t *cli_producer_conf(const cli_common_t *c, const char *name, long long timeout_ms,
                                   bool transactional, cli_dr_fn *dr, void *opaque) {
  char txid[96], timeout[32];
  snprintf(txid, sizeof txid, "greenlight-cli-%s-%ld-%lld", name, (long)getpid(),
           (long long)time(NULL));
  snprintf(timeout, sizeof timeout, "%lld", timeout_ms);
  const char *defaults[16] = {
      "client.id", "greenlight-cli",
      /* Java-compatible partitioning: upstream Java producers and greenlight
       * must put a key on the same partition (co-partitioned topics). */
      "partitioner", "murmur2_random",
      "enable.idempotence", "true",
      "acks", "all",
  };
  int n = 8;
  if (timeout_ms > 0) defaults[n++] = "message.timeout.ms", defaults[n++] = timeout;
  if (transactional) defaults[n++] = "transactional.id", defaults[n++] = txid;
  defaults[n] = NULL;
  rd_kafka_conf_t *conf = cli_kafka_conf(c, defaults);
  if (!conf) return NULL;
  rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_conf_set_dr_msg_cb(conf, dr);
  return conf;
}

rd_kafka_t *cli_producer_open(rd_kafka_conf_t *conf) {
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk) return rk;
  cli_err("cannot create the producer: %s", errstr);
  rd_kafka_conf_destroy(conf);
  return NULL;
}

int cli_txn_start(rd_kafka_t *rk, int timeout_ms) {
  rd_kafka_error_t *e = rd_kafka_init_transactions(rk, timeout_ms);
  if (!e) e = rd_kafka_begin_transaction(rk);
  if (!e) return 0;
  cli_err("cannot start a transaction: %s", rd_kafka_error_string(e));
  rd_kafka_error_destroy(e);
  return -1;
}

bool cli_consume_error_ends(const char *topic, const rd_kafka_message_t *m) {
  cli_err("%s [%d]: %s", topic, (int)m->partition, rd_kafka_message_errstr(m));
  return m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
         m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
         m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
         m->err == RD_KAFKA_RESP_ERR__FATAL;
}

int cli_parse_time_opt(const char *opt, const char *arg, int64_t *ms) {
  if (cli_parse_time(arg, ms) == 0) return 0;
  cli_err("%s: expected epoch milliseconds or an RFC 3339 time such as "
          "2026-01-05T08:00:00Z, got '%s'", opt, arg);
  return -1;
}
