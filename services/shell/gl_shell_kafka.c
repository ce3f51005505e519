/* gl_shell_kafka: the one way to build a librdkafka configuration, with the
 * one log and error callback path (include/greenlight/gl_shell.h).
 *
 * Thread locality: gl_shell_kafka_conf() runs on the loop thread (it links
 * the client's context into sh->clients). The callbacks may run on any
 * thread: librdkafka's own, the thread pool serving a commit, or the loop
 * inside rd_kafka_poll(). They only log, set sh->brokers_down, or hand a
 * fatal error to the loop. */
#include <stdio.h>
#include <stdlib.h>

#include "greenlight/gl_kafka.h"

#include "gl_shell_int.h"

static void gl_shell_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                                  const char *buf) {
  const gl_shell_client_t *c = rd_kafka_opaque(rk);
  gl_kafka_log(&c->sh->log, rk, level, fac, buf);
}

/* A fatal error always goes through the wake, even on the loop thread:
 * rd_kafka_poll() or rd_kafka_flush() may be serving this callback there,
 * and the stop callback must not run inside them. */
static void gl_shell_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  gl_shell_client_t *c = opaque;
  char fatal[512], msg[768];
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) atomic_store(&c->sh->brokers_down, true);
  if (!gl_kafka_error(&c->sh->log, rk, err, reason, fatal, sizeof fatal)) return;
  snprintf(msg, sizeof(msg), "%s: %s", rd_kafka_name(rk), fatal);
  gl_shell__fatal_post(c->sh, msg, true);
}

/* Sets each name, value pair; on a refusal names it in errstr. */
static int gl_kafka_conf_layer(rd_kafka_conf_t *kc, const char *const *kv, const char *label,
                               char *errstr, size_t errlen) {
  char why[512];
  for (; kv && kv[0] && kv[1]; kv += 2)
    if (rd_kafka_conf_set(kc, kv[0], kv[1], why, sizeof why) != RD_KAFKA_CONF_OK) {
      snprintf(errstr, errlen, "%s%s = '%s': %s", label, kv[0], kv[1], why);
      return -1;
    }
  return 0;
}

rd_kafka_conf_t *gl_kafka_conf_build(const char *bootstrap, const char *const *defaults,
                                     const char *const *passthrough, const char *pass_label,
                                     const char *const *forced, char *errstr, size_t errlen) {
  const char *const base[] = {"bootstrap.servers", bootstrap ? bootstrap : GL_CONF_DEFAULT_BOOTSTRAP,
                              NULL};
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  if (!kc) {
    snprintf(errstr, errlen, "kafka: out of memory");
    return NULL;
  }
  if (gl_kafka_conf_layer(kc, base, "", errstr, errlen) < 0 ||
      gl_kafka_conf_layer(kc, defaults, "", errstr, errlen) < 0 ||
      gl_kafka_conf_layer(kc, passthrough, pass_label ? pass_label : "", errstr, errlen) < 0 ||
      gl_kafka_conf_layer(kc, forced, "", errstr, errlen) < 0) {
    rd_kafka_conf_destroy(kc);
    return NULL;
  }
  return kc;
}

rd_kafka_conf_t *gl_shell_kafka_conf(gl_shell_t *sh, const char *const *defaults,
                                     const char *const *forced, void *opaque, char *errstr,
                                     size_t errlen) {
  gl_shell_client_t *c = calloc(1, sizeof(*c));
  rd_kafka_conf_t *kc =
      c ? gl_kafka_conf_build(NULL, defaults, gl_conf_kafka_pairs(&sh->conf), "config: kafka.",
                              forced, errstr, errlen)
        : NULL;
  if (!kc) {
    if (!c) snprintf(errstr, errlen, "kafka: out of memory");
    free(c);
    return NULL;
  }
  *c = (gl_shell_client_t){.sh = sh, .opaque = opaque, .next = sh->clients};
  sh->clients = c;
  rd_kafka_conf_set_opaque(kc, c);
  rd_kafka_conf_set_log_cb(kc, gl_shell_kafka_log_cb);
  rd_kafka_conf_set_error_cb(kc, gl_shell_kafka_error_cb);
  return kc;
}

void *gl_shell_client_opaque(void *rk_opaque) {
  const gl_shell_client_t *c = rk_opaque;
  return c ? c->opaque : NULL;
}
