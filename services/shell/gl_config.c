/* gl_config: declarative configuration. See include/greenlight/gl_config.h. */
#include "greenlight/gl_config.h"
#include "greenlight/gl_version.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A whole decimal integer: an optional sign, then digits only. strtoll
 * alone would also take leading white space. */
static int gl_conf_parse_int(const char *s, int64_t *out) {
  const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
  if (!isdigit((unsigned char)*d)) return GL_ECONFIG;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return GL_ECONFIG;
  *out = v;
  return GL_OK;
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

/* librdkafka properties whose values are not printed. */
static bool gl_conf_secret(const char *name) {
  static const char *const words[] = {"password", "secret", "ssl.key.pem", "keystore",
                                      "oauthbearer.config", "ssl.certificate.pem", NULL};
  for (const char *const *w = words; *w; w++)
    if (strstr(name, *w)) return true;
  return false;
}

/* Copies value into out with control characters as \xNN, so that an error
 * message shows them rather than acting on the terminal. */
static void gl_conf_escape(const char *value, char *out, size_t outlen) {
  size_t n = 0;
  for (const unsigned char *v = (const unsigned char *)value; *v && n + 5 < outlen; v++) {
    if (*v < 0x20 || *v == 0x7f)
      n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", *v);
    else
      out[n++] = (char)*v;
  }
  out[n] = '\0';
}

/* Refuses a value that would reach the program other than the operator sees
 * it: control characters anywhere (a CR left by a Windows-edited environment
 * file, a newline), and, for the table's own keys, leading or trailing spaces
 * (a file's are trimmed, but the environment's and the flags' would be kept).
 * name is the key as the operator writes it; secret hides the value. */
static int gl_conf_value_ok(const char *name, const char *value, bool trimmed, bool secret,
                            char *errstr, size_t errlen) {
  const char *why = NULL;
  for (const unsigned char *v = (const unsigned char *)value; *v && !why; v++)
    if (*v < 0x20 || *v == 0x7f) why = "expected no control characters";
  size_t n = strlen(value);
  if (!why && trimmed && n > 0 && (value[0] == ' ' || value[n - 1] == ' '))
    why = "expected no leading or trailing spaces";
  if (!why) return GL_OK;
  char shown[256];
  gl_conf_escape(secret ? "(secret)" : value, shown, sizeof(shown));
  snprintf(errstr, errlen, "config: %s = '%s': %s", name, shown, why);
  return GL_ECONFIG;
}

static int gl_conf_assign(const gl_conf_prop_t *p, void *base, const char *value, char *errstr,
                          size_t errlen) {
  char *slot = (char *)base + p->offset;
  if (gl_conf_value_ok(p->name, value, true, false, errstr, errlen) < 0) return GL_ECONFIG;
  switch (p->type) {
    case GL_CONF_INT: {
      int64_t v;
      if (gl_conf_parse_int(value, &v) < 0 || v < p->min || v > p->max) {
        snprintf(errstr, errlen, "config: %s = '%s': expected an integer in %lld..%lld", p->name,
                 value, (long long)p->min, (long long)p->max);
        return GL_ECONFIG;
      }
      *(int64_t *)slot = v;
      return GL_OK;
    }
    case GL_CONF_BOOL: {
      bool v;
      if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
        v = true;
      else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
        v = false;
      else {
        snprintf(errstr, errlen, "config: %s = '%s': expected true or false", p->name, value);
        return GL_ECONFIG;
      }
      *(bool *)slot = v;
      return GL_OK;
    }
    case GL_CONF_ENUM:
      if (!gl_conf_choice_ok(p->choices, value)) {
        snprintf(errstr, errlen, "config: %s = '%s': expected one of %s", p->name, value,
                 p->choices);
        return GL_ECONFIG;
      }
      /* fall through */
    case GL_CONF_STR: {
      if (p->type == GL_CONF_STR && p->min > 0 && strlen(value) < (size_t)p->min) {
        snprintf(errstr, errlen, "config: %s = '%s': expected a value of at least %lld byte%s",
                 p->name, value, (long long)p->min, p->min == 1 ? "" : "s");
        return GL_ECONFIG;
      }
      char *dup = strdup(value);
      if (!dup) abort();
      free(*(char **)slot);
      *(char **)slot = dup;
      return GL_OK;
    }
  }
  return GL_ECONFIG;
}

int gl_conf_add_table(gl_conf_t *c, const gl_conf_prop_t *props, void *base, char *errstr,
                      size_t errlen) {
  if (c->ntables == GL_CONF_MAX_TABLES) {
    snprintf(errstr, errlen, "config: too many tables");
    return GL_ECONFIG;
  }
  c->tables[c->ntables].props = props;
  c->tables[c->ntables].base = base;
  c->ntables++;
  for (const gl_conf_prop_t *p = props; p->name; p++) {
    const char *def = p->def ? p->def : (p->type == GL_CONF_STR ? "" : "0");
    if (p->type == GL_CONF_STR || p->type == GL_CONF_ENUM) *(char **)((char *)base + p->offset) = NULL;
    if (gl_conf_assign(p, base, def, errstr, errlen) < 0) return GL_ECONFIG;
  }
  return GL_OK;
}

static int gl_conf_kafka_set(gl_conf_t *c, const char *name, const char *value, char *errstr,
                             size_t errlen) {
  char key[256];
  snprintf(key, sizeof(key), GL_KAFKA_PREFIX "%s", name);
  if (gl_conf_value_ok(key, value, false, gl_conf_secret(name), errstr, errlen) < 0)
    return GL_ECONFIG;
  /* Validate against librdkafka now, so a bad value stops the daemon at start. */
  rd_kafka_conf_t *probe = rd_kafka_conf_new();
  char kerr[512];
  rd_kafka_conf_res_t r = rd_kafka_conf_set(probe, name, value, kerr, sizeof(kerr));
  rd_kafka_conf_destroy(probe);
  if (r != RD_KAFKA_CONF_OK) {
    snprintf(errstr, errlen, "config: kafka.%s = '%s': %s", name,
             gl_conf_secret(name) ? "(secret)" : value, kerr);
    return GL_ECONFIG;
  }
  for (size_t i = 0; i < c->nkafka; i += 2) {
    if (strcmp(c->kafka[i], name) == 0) {
      free(c->kafka[i + 1]);
      c->kafka[i + 1] = strdup(value);
      return GL_OK;
    }
  }
  char **n = realloc(c->kafka, sizeof(char *) * (c->nkafka + 3));
  if (!n) abort();
  c->kafka = n;
  c->kafka[c->nkafka++] = strdup(name);
  c->kafka[c->nkafka++] = strdup(value);
  c->kafka[c->nkafka] = NULL; /* For gl_conf_kafka_pairs(). */
  return GL_OK;
}

int gl_conf_set(gl_conf_t *c, const char *key, const char *value, char *errstr, size_t errlen) {
  if (strncmp(key, GL_KAFKA_PREFIX, strlen(GL_KAFKA_PREFIX)) == 0)
    return gl_conf_kafka_set(c, key + strlen(GL_KAFKA_PREFIX), value, errstr, errlen);
  void *base = NULL;
  const gl_conf_prop_t *p = gl_conf_find(c, key, &base);
  if (!p) {
    snprintf(errstr, errlen, "config: unknown key '%s' (see --help; librdkafka properties take the prefix kafka.)",
             key);
    return GL_ECONFIG;
  }
  return gl_conf_assign(p, base, value, errstr, errlen);
}

static char *gl_conf_trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

static const char *gl_conf_file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "it is a directory";
  if (S_ISFIFO(mode)) return "it is a FIFO";
  if (S_ISSOCK(mode)) return "it is a socket";
  if (S_ISCHR(mode)) return "it is a character device";
  if (S_ISBLK(mode)) return "it is a block device";
  return "it is not a regular file";
}

/* Reads at most max + 1 bytes of fd into a new buffer (NUL-terminated). */
static int gl_conf_read_fd(int fd, size_t max, char **out, size_t *len, char *why, size_t whylen) {
  char *buf = malloc(max + 2);
  if (!buf) abort();
  size_t n = 0;
  while (n <= max) {
    ssize_t r = read(fd, buf + n, max + 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      snprintf(why, whylen, "expected a readable regular file (read: %s)", strerror(errno));
      free(buf);
      return GL_ECONFIG;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  if (n > max) {
    snprintf(why, whylen, "expected a file of at most %zu bytes", max);
    free(buf);
    return GL_ECONFIG;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return GL_OK;
}

int gl_conf_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                      size_t whylen) {
  *out = NULL;
  *len = 0;
  /* Non-blocking, so that opening a FIFO returns at once; fstat before any
   * read, so that nothing but a regular file is ever read. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat st;
  if (fd < 0) {
    int err = errno; /* A socket cannot be opened (ENXIO): say what it is. */
    bool other = stat(path, &st) == 0 && !S_ISREG(st.st_mode);
    snprintf(why, whylen, "expected a regular file (%s)",
             other ? gl_conf_file_kind(st.st_mode) : strerror(err));
    return GL_ECONFIG;
  }
  int rc = GL_ECONFIG;
  if (fstat(fd, &st) < 0)
    snprintf(why, whylen, "expected a regular file (fstat: %s)", strerror(errno));
  else if (!S_ISREG(st.st_mode))
    snprintf(why, whylen, "expected a regular file (%s)", gl_conf_file_kind(st.st_mode));
  else
    rc = gl_conf_read_fd(fd, max, out, len, why, whylen);
  close(fd);
  return rc;
}

size_t gl_conf_nul_line(const char *buf, size_t len) {
  const char *nul = memchr(buf, '\0', len);
  if (!nul) return 0;
  size_t line = 1;
  for (const char *p = buf; p < nul; p++) line += *p == '\n';
  return line;
}

/* A key the file has set, and where. */
typedef struct gl_conf_seen {
  const char *key;
  int line;
} gl_conf_seen_t;

/* Applies one line of a config file (NUL-terminated, without its newline).
 * A key may appear once per file: a second line for it is most likely an
 * edit that missed the first, and one of the two would be ignored. */
static int gl_conf_file_line(gl_conf_t *c, char *line, int lineno, gl_conf_seen_t **seen,
                             size_t *nseen, char *msg, size_t msglen) {
  char *s = gl_conf_trim(line);
  if (!*s || *s == '#') return GL_OK;
  char *eq = strchr(s, '=');
  if (!eq) {
    snprintf(msg, msglen, "expected 'key = value', got '%s'", s);
    return GL_ECONFIG;
  }
  *eq = '\0';
  char *key = gl_conf_trim(s), *val = gl_conf_trim(eq + 1);
  for (size_t i = 0; i < *nseen; i++) {
    if (strcmp((*seen)[i].key, key) == 0) {
      snprintf(msg, msglen, "%s = '%s': set again (first on line %d); expected each key once",
               key, val, (*seen)[i].line);
      return GL_ECONFIG;
    }
  }
  char inner[1024];
  if (gl_conf_set(c, key, val, inner, sizeof(inner)) < 0) {
    const char *prefix = "config: "; /* The caller writes it before the line. */
    size_t plen = strncmp(inner, prefix, strlen(prefix)) ? 0 : strlen(prefix);
    snprintf(msg, msglen, "%s", inner + plen);
    return GL_ECONFIG;
  }
  /* Only keys that were taken are recorded: they are few, each a known one. */
  gl_conf_seen_t *grown = realloc(*seen, sizeof(**seen) * (*nseen + 1));
  if (!grown) abort();
  *seen = grown;
  grown[(*nseen)++] = (gl_conf_seen_t){key, lineno};
  return GL_OK;
}

/* Loads the file named by the setting `source` (--config or
 * GREENLIGHT_CONFIG); errors name that setting or the file's line. */
static int gl_conf_load_file_as(gl_conf_t *c, const char *path, const char *source, char *errstr,
                                size_t errlen) {
  char *buf = NULL, why[512];
  size_t len = 0;
  if (gl_conf_read_file(path, GL_CONF_FILE_MAX, &buf, &len, why, sizeof(why)) < 0) {
    snprintf(errstr, errlen, "config: %s = '%s': %s", source, path, why);
    return GL_ECONFIG;
  }
  size_t nul = gl_conf_nul_line(buf, len);
  if (nul) {
    snprintf(errstr, errlen, "config: %s line %zu: contains a NUL byte", path, nul);
    free(buf);
    return GL_ECONFIG;
  }
  gl_conf_seen_t *seen = NULL;
  size_t nseen = 0;
  int lineno = 0, rc = GL_OK;
  char *end = buf + len;
  for (char *line = buf, *next; rc == GL_OK && line < end; line = next) {
    char *nl = memchr(line, '\n', (size_t)(end - line));
    next = nl ? nl + 1 : end;
    if (nl) *nl = '\0';
    char msg[1024];
    if (gl_conf_file_line(c, line, ++lineno, &seen, &nseen, msg, sizeof(msg)) < 0) {
      snprintf(errstr, errlen, "config: %s line %d: %s", path, lineno, msg);
      rc = GL_ECONFIG;
    }
  }
  free(seen);
  free(buf);
  return rc;
}

int gl_conf_load_file(gl_conf_t *c, const char *path, char *errstr, size_t errlen) {
  return gl_conf_load_file_as(c, path, "--config", errstr, errlen);
}

/* Builds the environment name of key: GREENLIGHT_ + upper case, '.' and '-' as '_'. */
static void gl_conf_env_name(const char *key, char *out, size_t outlen) {
  size_t n = (size_t)snprintf(out, outlen, GL_ENV_PREFIX);
  for (const char *k = key; *k && n + 1 < outlen; k++)
    out[n++] = (*k == '.' || *k == '-') ? '_' : (char)toupper((unsigned char)*k);
  out[n] = '\0';
}

/* The variables greenlight's programs and scripts read that are no
 * setting: exact names, then prefixes (a name ending in '_'). */
static const char *const gl_conf_tool_vars[] = {
    GL_ENV_PREFIX "CONFIG",     /* The config file (gl_conf_scan_args). */
    GL_ENV_PREFIX "BOOTSTRAP",  /* Short for GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS. */
    GL_ENV_PREFIX "PARTITIONS", /* greenlight topics create's default. */
    GL_ENV_PREFIX "CLI",        /* deploy/local and tests/kafka: the CLI to run. */
    GL_ENV_PREFIX "BUILD",      /* deploy/local/seed.sh: the build directory. */
    GL_ENV_PREFIX "CACHE",      /* deploy/local/kafka.sh: the jar cache. */
    GL_ENV_PREFIX "BROKER_",    /* deploy/local/kafka.sh: the local broker. */
    GL_ENV_PREFIX "TEST_",      /* The test scripts. */
    NULL,
};

bool gl_conf_tool_env(const char *name) {
  for (const char *const *v = gl_conf_tool_vars; *v; v++) {
    size_t n = strlen(*v);
    if ((*v)[n - 1] == '_' ? strncmp(name, *v, n) == 0 : strcmp(name, *v) == 0) return true;
  }
  return false;
}

static void gl_conf_note_unknown(gl_conf_t *c, const char *name) {
  char **grown = realloc(c->unknown_env, sizeof(char *) * (c->n_unknown_env + 2));
  if (!grown) abort();
  c->unknown_env = grown;
  if (!(grown[c->n_unknown_env++] = strdup(name))) abort();
  grown[c->n_unknown_env] = NULL;
}

const char *const *gl_conf_unknown_env(const gl_conf_t *c) {
  return (const char *const *)c->unknown_env;
}

/* Applies one table key's variable, if name is one. Returns 1 if it was,
 * 0 if no table has it, or GL_ECONFIG. */
static int gl_conf_env_table(gl_conf_t *c, const char *name, const char *value, char *errstr,
                             size_t errlen) {
  for (int t = 0; t < c->ntables; t++) {
    for (const gl_conf_prop_t *p = c->tables[t].props; p->name; p++) {
      char want[256];
      gl_conf_env_name(p->name, want, sizeof(want));
      if (strcmp(want, name) != 0) continue;
      char inner[512];
      if (gl_conf_assign(p, c->tables[t].base, value, inner, sizeof(inner)) < 0) {
        snprintf(errstr, errlen, "%s (from environment %s)", inner, name);
        return GL_ECONFIG;
      }
      return 1;
    }
  }
  return 0;
}

/* Applies one GREENLIGHT_KAFKA_<PROPERTY> variable. */
static int gl_conf_env_kafka(gl_conf_t *c, const char *name, const char *value, char *errstr,
                             size_t errlen) {
  char key[256];
  size_t n = 0;
  for (const char *k = name; *k && n + 1 < sizeof(key); k++)
    key[n++] = *k == '_' ? '.' : (char)tolower((unsigned char)*k);
  key[n] = '\0';
  return gl_conf_kafka_set(c, key, value, errstr, errlen);
}

int gl_conf_load_env(gl_conf_t *c, char **envp, char *errstr, size_t errlen) {
  static const char kafka_env[] = GL_ENV_PREFIX "KAFKA_";
  static const char alias[] = GL_ENV_PREFIX "BOOTSTRAP=";
  for (size_t i = 0; i < c->n_unknown_env; i++) free(c->unknown_env[i]);
  free(c->unknown_env);
  c->unknown_env = NULL;
  c->n_unknown_env = 0;
  /* The short name first, so that the long one wins wherever it stands. */
  for (char **e = envp; e && *e; e++)
    if (strncmp(*e, alias, strlen(alias)) == 0 && (*e)[strlen(alias)] &&
        gl_conf_kafka_set(c, "bootstrap.servers", *e + strlen(alias), errstr, errlen) < 0)
      return GL_ECONFIG;
  for (char **e = envp; e && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || strncmp(*e, GL_ENV_PREFIX, strlen(GL_ENV_PREFIX)) != 0) continue;
    size_t nlen = (size_t)(eq - *e);
    char name[256];
    bool cut = nlen >= sizeof(name); /* No setting is that long: reported, cut. */
    if (cut) nlen = sizeof(name) - 1;
    memcpy(name, *e, nlen);
    name[nlen] = '\0';
    if (cut) {
      gl_conf_note_unknown(c, name);
      continue;
    }
    const char *value = eq + 1;
    int rc;
    if (strncmp(name, kafka_env, strlen(kafka_env)) == 0)
      rc = gl_conf_env_kafka(c, name + strlen(kafka_env), value, errstr, errlen) < 0 ? GL_ECONFIG : 1;
    else
      rc = gl_conf_env_table(c, name, value, errstr, errlen);
    if (rc < 0) return GL_ECONFIG;
    if (rc == 0 && !gl_conf_tool_env(name)) gl_conf_note_unknown(c, name);
  }
  return GL_OK;
}

/* Finds the config file (GREENLIGHT_CONFIG, then --config), --help and
 * --check-config. Returns 0, 1 for --help, or -1 with errstr set. */
static int gl_conf_scan_args(gl_conf_t *c, int argc, char **argv, char **envp, const char **file,
                             const char **source, char *errstr, size_t errlen) {
  static const char env_key[] = GL_ENV_PREFIX "CONFIG=";
  for (char **e = envp; e && *e; e++) {
    if (strncmp(*e, env_key, strlen(env_key)) == 0) {
      *file = *e + strlen(env_key);
      *source = GL_ENV_PREFIX "CONFIG";
    }
  }
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      gl_conf_usage(c, stdout);
      return 1;
    }
    if (!strcmp(argv[i], "--help-man")) {
      gl_conf_man(c, stdout);
      return 1;
    }
    if (!strcmp(argv[i], "--version")) {
      gl_version_print(stdout, c->program);
      return 1;
    }
    if (!strcmp(argv[i], "--check-config")) c->check = true;
    if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9)) {
      if (argv[i][8] == '=')
        *file = argv[i] + 9;
      else if (i + 1 < argc)
        *file = argv[++i];
      else {
        snprintf(errstr, errlen, "config: --config: missing value (expected a file name)");
        return GL_ECONFIG;
      }
      *source = "--config";
    }
  }
  return GL_OK;
}

/* Splits the flag at argv[*i] into key and value (advancing *i past a
 * separate value). Returns 0, 1 for a flag gl_conf_scan_args() took, or -1
 * with errstr set. */
static int gl_conf_flag(int argc, char **argv, int *i, char *key, size_t keylen,
                        const char **val, char *errstr, size_t errlen) {
  const char *a = argv[*i];
  if (!strcmp(a, "--config")) {
    (*i)++;
    return 1;
  }
  if (!strncmp(a, "--config=", 9) || !strcmp(a, "--check-config")) return 1;
  const char *k = NULL, *eq = NULL;
  if (!strcmp(a, "-b") && *i + 1 < argc) {
    k = "kafka.bootstrap.servers";
    *val = argv[++*i];
  } else if (!strcmp(a, "-X") && *i + 1 < argc) {
    k = argv[++*i];
    eq = strchr(k, '=');
    if (!eq) {
      snprintf(errstr, errlen, "config: -X '%s': expected key=value", k);
      return GL_ECONFIG;
    }
    *val = eq + 1;
  } else if (!strncmp(a, "--", 2) && a[2]) {
    k = a + 2;
    eq = strchr(k, '=');
    if (eq) *val = eq + 1;
    else if (*i + 1 < argc) *val = argv[++*i];
  } else {
    snprintf(errstr, errlen, "config: unexpected argument '%s' (see --help)", a);
    return GL_ECONFIG;
  }
  size_t klen = eq ? (size_t)(eq - k) : strlen(k);
  if (klen >= keylen) {
    snprintf(errstr, errlen, "config: '%.40s...': expected a key of at most %zu bytes", k,
             keylen - 1);
    return GL_ECONFIG;
  }
  memcpy(key, k, klen);
  key[klen] = '\0';
  if (!*val) {
    snprintf(errstr, errlen, "config: --%s: missing value", key);
    return GL_ECONFIG;
  }
  return GL_OK;
}

int gl_conf_load(gl_conf_t *c, int argc, char **argv, char **envp, char *errstr, size_t errlen) {
  const char *file = NULL, *source = NULL;
  int rc = gl_conf_scan_args(c, argc, argv, envp, &file, &source, errstr, errlen);
  if (rc != 0) return rc;
  /* An empty GREENLIGHT_CONFIG or --config= names no file. */
  if (file && *file && gl_conf_load_file_as(c, file, source, errstr, errlen) < 0)
    return GL_ECONFIG;
  if (gl_conf_load_env(c, envp, errstr, errlen) < 0) return GL_ECONFIG;
  for (int i = 1; i < argc; i++) {
    char key[256];
    const char *val = NULL;
    rc = gl_conf_flag(argc, argv, &i, key, sizeof(key), &val, errstr, errlen);
    if (rc < 0) return GL_ECONFIG;
    if (rc == 0 && gl_conf_set(c, key, val, errstr, errlen) < 0) return GL_ECONFIG;
  }
  return GL_OK;
}

static int gl_conf_kafka_apply(const gl_conf_t *c, rd_kafka_conf_t *kc, char *errstr,
                               size_t errlen);

static void gl_conf_dump(const gl_conf_t *c, FILE *out) {
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
  /* The broker is the first thing to check, so it is always shown. */
  if (!gl_conf_kafka_get(c, "bootstrap.servers"))
    fprintf(out, "kafka.bootstrap.servers = %s\n", GL_CONF_DEFAULT_BOOTSTRAP);
  for (size_t i = 0; i < c->nkafka; i += 2)
    fprintf(out, "kafka.%s = %s\n", c->kafka[i],
            gl_conf_secret(c->kafka[i]) ? "(secret)" : c->kafka[i + 1]);
}

int gl_conf_check(const gl_conf_t *c, FILE *out, char *errstr, size_t errlen) {
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  int rc = gl_conf_kafka_apply(c, kc, errstr, errlen);
  rd_kafka_conf_destroy(kc);
  if (rc < 0) return GL_ECONFIG;
  gl_conf_dump(c, out);
  for (size_t i = 0; i < c->n_unknown_env; i++)
    fprintf(stderr, "%s: warning: environment %s names no setting (see --help); ignored\n",
            c->program ? c->program : "greenlight", c->unknown_env[i]);
  return 1;
}

static int gl_conf_kafka_apply(const gl_conf_t *c, rd_kafka_conf_t *kc, char *errstr,
                               size_t errlen) {
  for (size_t i = 0; i < c->nkafka; i += 2) {
    char kerr[512];
    if (rd_kafka_conf_set(kc, c->kafka[i], c->kafka[i + 1], kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
      snprintf(errstr, errlen, "config: kafka.%s = '%s': %s", c->kafka[i], c->kafka[i + 1], kerr);
      return GL_ECONFIG;
    }
  }
  return GL_OK;
}

const char *const *gl_conf_kafka_pairs(const gl_conf_t *c) { return (const char *const *)c->kafka; }

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
  for (size_t i = 0; i < c->n_unknown_env; i++) free(c->unknown_env[i]);
  free(c->unknown_env);
  c->unknown_env = NULL;
  c->n_unknown_env = 0;
}
