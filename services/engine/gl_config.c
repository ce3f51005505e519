/* gl_config: declarative configuration. See include/greenlight/gl_config.h. */
#include "greenlight/gl_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GL_KAFKA_PREFIX "kafka."
#define GL_ENV_PREFIX "GREENLIGHT_"

void gl_conf_init(gl_conf_t *c, const char *program) {
  memset(c, 0, sizeof(*c));
  c->program = program;
}

static const gl_conf_prop_t *gl_conf_find(const gl_conf_t *c, const char *key, void **base) {
  for (int t = 0; t < c->ntables; t++) {
    for (const gl_conf_prop_t *p = c->tables[t].props; p->name; p++) {
      if (strcmp(p->name, key) == 0) {
        *base = c->tables[t].base;
        return p;
      }
    }
  }
  return NULL;
}

static int gl_conf_parse_int(const char *s, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

static int gl_conf_choice_ok(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *p = choices; p && *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && strncmp(p, v, n) == 0) return 1;
    p = bar ? bar + 1 : NULL;
  }
  return 0;
}

static int gl_conf_assign(const gl_conf_prop_t *p, void *base, const char *value, char *errstr,
                          size_t errlen) {
  char *slot = (char *)base + p->offset;
  switch (p->type) {
    case GL_CONF_INT: {
      int64_t v;
      if (gl_conf_parse_int(value, &v) < 0 || v < p->min || v > p->max) {
        snprintf(errstr, errlen, "config: %s = '%s': expected an integer in %lld..%lld", p->name,
                 value, (long long)p->min, (long long)p->max);
        return -1;
      }
      *(int64_t *)slot = v;
      return 0;
    }
    case GL_CONF_BOOL: {
      bool v;
      if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
        v = true;
      else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
        v = false;
      else {
        snprintf(errstr, errlen, "config: %s = '%s': expected true or false", p->name, value);
        return -1;
      }
      *(bool *)slot = v;
      return 0;
    }
    case GL_CONF_ENUM:
      if (!gl_conf_choice_ok(p->choices, value)) {
        snprintf(errstr, errlen, "config: %s = '%s': expected one of %s", p->name, value,
                 p->choices);
        return -1;
      }
      /* fall through */
    case GL_CONF_STR: {
      char *dup = strdup(value);
      if (!dup) abort();
      free(*(char **)slot);
      *(char **)slot = dup;
      return 0;
    }
  }
  return -1;
}

int gl_conf_add_table(gl_conf_t *c, const gl_conf_prop_t *props, void *base, char *errstr,
                      size_t errlen) {
  if (c->ntables == GL_CONF_MAX_TABLES) {
    snprintf(errstr, errlen, "config: too many tables");
    return -1;
  }
  c->tables[c->ntables].props = props;
  c->tables[c->ntables].base = base;
  c->ntables++;
  for (const gl_conf_prop_t *p = props; p->name; p++) {
    const char *def = p->def ? p->def : (p->type == GL_CONF_STR ? "" : "0");
    if (p->type == GL_CONF_STR || p->type == GL_CONF_ENUM) *(char **)((char *)base + p->offset) = NULL;
    if (gl_conf_assign(p, base, def, errstr, errlen) < 0) return -1;
  }
  return 0;
}

static int gl_conf_kafka_set(gl_conf_t *c, const char *name, const char *value, char *errstr,
                             size_t errlen) {
  /* Validate against librdkafka now, so a bad value stops the daemon at start. */
  rd_kafka_conf_t *probe = rd_kafka_conf_new();
  char kerr[512];
  rd_kafka_conf_res_t r = rd_kafka_conf_set(probe, name, value, kerr, sizeof(kerr));
  rd_kafka_conf_destroy(probe);
  if (r != RD_KAFKA_CONF_OK) {
    snprintf(errstr, errlen, "config: kafka.%s = '%s': %s", name, value, kerr);
    return -1;
  }
  for (size_t i = 0; i < c->nkafka; i += 2) {
    if (strcmp(c->kafka[i], name) == 0) {
      free(c->kafka[i + 1]);
      c->kafka[i + 1] = strdup(value);
      return 0;
    }
  }
  char **n = realloc(c->kafka, sizeof(char *) * (c->nkafka + 2));
  if (!n) abort();
  c->kafka = n;
  c->kafka[c->nkafka++] = strdup(name);
  c->kafka[c->nkafka++] = strdup(value);
  return 0;
}

int gl_conf_set(gl_conf_t *c, const char *key, const char *value, char *errstr, size_t errlen) {
  if (strncmp(key, GL_KAFKA_PREFIX, strlen(GL_KAFKA_PREFIX)) == 0)
    return gl_conf_kafka_set(c, key + strlen(GL_KAFKA_PREFIX), value, errstr, errlen);
  void *base = NULL;
  const gl_conf_prop_t *p = gl_conf_find(c, key, &base);
  if (!p) {
    snprintf(errstr, errlen, "config: unknown key '%s' (see --help; librdkafka properties take the prefix kafka.)",
             key);
    return -1;
  }
  return gl_conf_assign(p, base, value, errstr, errlen);
}

static char *gl_conf_trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

int gl_conf_load_file(gl_conf_t *c, const char *path, char *errstr, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(errstr, errlen, "config: cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  char line[4096];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof(line), f)) {
    lineno++;
    char *s = gl_conf_trim(line);
    if (!*s || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      snprintf(errstr, errlen, "config: %s:%d: expected 'key = value', got '%s'", path, lineno, s);
      rc = -1;
      break;
    }
    *eq = '\0';
    char *key = gl_conf_trim(s), *val = gl_conf_trim(eq + 1);
    char inner[512];
    if (gl_conf_set(c, key, val, inner, sizeof(inner)) < 0) {
      snprintf(errstr, errlen, "%s:%d: %s", path, lineno, inner);
      rc = -1;
    }
  }
  fclose(f);
  return rc;
}

/* Builds the environment name of key: GREENLIGHT_ + upper case, '.' and '-' as '_'. */
static void gl_conf_env_name(const char *key, char *out, size_t outlen) {
  size_t n = (size_t)snprintf(out, outlen, GL_ENV_PREFIX);
  for (const char *k = key; *k && n + 1 < outlen; k++)
    out[n++] = (*k == '.' || *k == '-') ? '_' : (char)toupper((unsigned char)*k);
  out[n] = '\0';
}

int gl_conf_load_env(gl_conf_t *c, char **envp, char *errstr, size_t errlen) {
  static const char kafka_env[] = GL_ENV_PREFIX "KAFKA_";
  for (char **e = envp; e && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || strncmp(*e, GL_ENV_PREFIX, strlen(GL_ENV_PREFIX)) != 0) continue;
    size_t nlen = (size_t)(eq - *e);
    char name[256];
    if (nlen >= sizeof(name)) continue;
    memcpy(name, *e, nlen);
    name[nlen] = '\0';
    const char *value = eq + 1;
    if (strncmp(name, kafka_env, strlen(kafka_env)) == 0) {
      char key[256];
      size_t n = 0;
      for (const char *k = name + strlen(kafka_env); *k && n + 1 < sizeof(key); k++)
        key[n++] = *k == '_' ? '.' : (char)tolower((unsigned char)*k);
      key[n] = '\0';
      if (gl_conf_kafka_set(c, key, value, errstr, errlen) < 0) return -1;
      continue;
    }
    for (int t = 0; t < c->ntables; t++) {
      for (const gl_conf_prop_t *p = c->tables[t].props; p->name; p++) {
        char want[256];
        gl_conf_env_name(p->name, want, sizeof(want));
        if (strcmp(want, name) == 0) {
          char inner[512];
          if (gl_conf_assign(p, c->tables[t].base, value, inner, sizeof(inner)) < 0) {
            snprintf(errstr, errlen, "%s (from environment %s)", inner, name);
            return -1;
          }
        }
      }
    }
  }
  return 0;
}

int gl_conf_load(gl_conf_t *c, int argc, char **argv, char **envp, char *errstr, size_t errlen) {
  const char *file = NULL;
  for (char **e = envp; e && *e; e++)
    if (strncmp(*e, GL_ENV_PREFIX "CONFIG=", strlen(GL_ENV_PREFIX "CONFIG=")) == 0)
      file = *e + strlen(GL_ENV_PREFIX "CONFIG=");
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      gl_conf_usage(c, stdout);
      return 1;
    }
    if (!strcmp(argv[i], "--check-config")) c->check = true;
    if (!strcmp(argv[i], "--config") && i + 1 < argc) file = argv[++i];
    else if (!strncmp(argv[i], "--config=", 9)) file = argv[i] + 9;
  }
  if (file && *file && gl_conf_load_file(c, file, errstr, errlen) < 0) return -1;
  if (gl_conf_load_env(c, envp, errstr, errlen) < 0) return -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char key[256];
    const char *val = NULL;
    if (!strcmp(a, "--config")) { i++; continue; }
    if (!strncmp(a, "--config=", 9) || !strcmp(a, "--check-config")) continue;
    if ((!strcmp(a, "-X") || !strcmp(a, "-b")) && i + 1 < argc) {
      const char *kv = argv[++i];
      if (a[1] == 'b') {
        snprintf(key, sizeof(key), "kafka.bootstrap.servers");
        val = kv;
      } else {
        const char *eq = strchr(kv, '=');
        if (!eq || (size_t)(eq - kv) >= sizeof(key)) {
          snprintf(errstr, errlen, "config: -X '%s': expected key=value", kv);
          return -1;
        }
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        val = eq + 1;
      }
    } else if (!strncmp(a, "--", 2) && a[2]) {
      const char *eq = strchr(a + 2, '=');
      size_t klen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
      if (klen >= sizeof(key)) klen = sizeof(key) - 1;
      memcpy(key, a + 2, klen);
      key[klen] = '\0';
      if (eq) val = eq + 1;
      else if (i + 1 < argc) val = argv[++i];
      else {
        snprintf(errstr, errlen, "config: --%s: missing value", key);
        return -1;
      }
    } else {
      snprintf(errstr, errlen, "config: unexpected argument '%s' (see --help)", a);
      return -1;
    }
    if (gl_conf_set(c, key, val, errstr, errlen) < 0) return -1;
  }
  return 0;
}

void gl_conf_usage(const gl_conf_t *c, FILE *out) {
  fprintf(out,
          "usage: %s [--config FILE] [--KEY=VALUE ...] [-X KEY=VALUE ...] [-b BOOTSTRAP]\n\n"
          "Each KEY may also come from the config file (KEY = VALUE lines) or the\n"
          "environment (GREENLIGHT_KEY, dots as underscores). librdkafka properties\n"
          "pass through with the prefix kafka. (e.g. -X kafka.security.protocol=ssl).\n"
          "--check-config validates the settings, prints them and exits.\n\n",
          c->program ? c->program : "greenlight");
  /* Defaults are shown as they stand before the file, the environment and
   * the flags: the daemon's own overrides of the engine's defaults included. */
  for (int t = 0; t < c->ntables; t++) {
    for (const gl_conf_prop_t *p = c->tables[t].props; p->name; p++) {
      const char *slot = (const char *)c->tables[t].base + p->offset;
      fprintf(out, "  %-26s %s\n", p->name, p->doc);
      if (p->type == GL_CONF_INT)
        fprintf(out, "  %-26s (integer %lld..%lld, default %lld)\n", "", (long long)p->min,
                (long long)p->max, (long long)*(const int64_t *)slot);
      else if (p->type == GL_CONF_BOOL)
        fprintf(out, "  %-26s (true or false, default %s)\n", "",
                *(const bool *)slot ? "true" : "false");
      else if (p->type == GL_CONF_ENUM)
        fprintf(out, "  %-26s (one of %s, default %s)\n", "", p->choices, *(char *const *)slot);
      else
        fprintf(out, "  %-26s (default '%s')\n", "", *(char *const *)slot);
    }
  }
}

/* librdkafka properties whose values are not printed. */
static bool gl_conf_secret(const char *name) {
  static const char *const words[] = {"password", "secret", "ssl.key.pem", "keystore",
                                      "oauthbearer.config", "ssl.certificate.pem", NULL};
  for (const char *const *w = words; *w; w++)
    if (strstr(name, *w)) return true;
  return false;
}

void gl_conf_dump(const gl_conf_t *c, FILE *out) {
  for (int t = 0; t < c->ntables; t++) {
    for (const gl_conf_prop_t *p = c->tables[t].props; p->name; p++) {
      const char *slot = (const char *)c->tables[t].base + p->offset;
      if (p->type == GL_CONF_INT)
        fprintf(out, "%s = %lld\n", p->name, (long long)*(const int64_t *)slot);
      else if (p->type == GL_CONF_BOOL)
        fprintf(out, "%s = %s\n", p->name, *(const bool *)slot ? "true" : "false");
      else
        fprintf(out, "%s = %s\n", p->name, *(char *const *)slot);
    }
  }
  for (size_t i = 0; i < c->nkafka; i += 2)
    fprintf(out, "kafka.%s = %s\n", c->kafka[i],
            gl_conf_secret(c->kafka[i]) ? "(secret)" : c->kafka[i + 1]);
}

int gl_conf_check(const gl_conf_t *c, FILE *out, char *errstr, size_t errlen) {
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  int rc = gl_conf_kafka_apply(c, kc, errstr, errlen);
  rd_kafka_conf_destroy(kc);
  if (rc < 0) return -1;
  gl_conf_dump(c, out);
  return 1;
}

int gl_conf_kafka_apply(const gl_conf_t *c, rd_kafka_conf_t *kc, char *errstr, size_t errlen) {
  for (size_t i = 0; i < c->nkafka; i += 2) {
    char kerr[512];
    if (rd_kafka_conf_set(kc, c->kafka[i], c->kafka[i + 1], kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
      snprintf(errstr, errlen, "config: kafka.%s = '%s': %s", c->kafka[i], c->kafka[i + 1], kerr);
      return -1;
    }
  }
  return 0;
}

const char *gl_conf_kafka_get(const gl_conf_t *c, const char *name) {
  for (size_t i = 0; i < c->nkafka; i += 2)
    if (strcmp(c->kafka[i], name) == 0) return c->kafka[i + 1];
  return NULL;
}

void gl_conf_destroy(gl_conf_t *c) {
  for (int t = 0; t < c->ntables; t++) {
    for (const gl_conf_prop_t *p = c->tables[t].props; p->name; p++) {
      if (p->type == GL_CONF_STR || p->type == GL_CONF_ENUM) {
        char **slot = (char **)((char *)c->tables[t].base + p->offset);
        free(*slot);
        *slot = NULL;
      }
    }
  }
  for (size_t i = 0; i < c->nkafka; i++) free(c->kafka[i]);
  free(c->kafka);
  c->kafka = NULL;
  c->nkafka = 0;
}
