/* gl_config's --help and --help-man: one text, two forms. The settings
 * table gives every key with its type, range and default; the sources, the
 * environment variables and the exit codes are the tables below, so that
 * the usage and the man page say the same thing. See gl_config.h. */
#include <stdint.h>
#include <string.h>

#include "greenlight/gl_config.h"
#include "greenlight/gl_error.h"
#include "greenlight/gl_man.h"

static const char gl_conf_sources_text[] =
    "Settings come from, later ones winning: the defaults below, the config file\n"
    "(--config FILE, else $GREENLIGHT_CONFIG: KEY = VALUE lines, # comments, each\n"
    "key once), the environment (GREENLIGHT_KEY: upper case, dots and dashes as\n"
    "underscores, e.g. GREENLIGHT_TOPIC_PREFIX), then flags (--KEY=VALUE,\n"
    "--KEY VALUE or -X KEY=VALUE). librdkafka properties pass through with the\n"
    "prefix kafka. (-X kafka.security.protocol=ssl, GREENLIGHT_KAFKA_SECURITY_PROTOCOL);\n"
    "-b HOST:PORT is kafka.bootstrap.servers (default " GL_CONF_DEFAULT_BOOTSTRAP ").\n"
    "An unknown key, or a value out of range, stops the start with exit 2.\n"
    "--check-config validates the settings, prints them (KEY = VALUE, the\n"
    "bootstrap servers included) and exits; --help-man prints this page as a\n"
    "man page; --version prints the versions of greenlight and its libraries.\n";

/* The environment, as (name, meaning) pairs. */
static const char *const gl_conf_env_rows[][2] = {
    {"GREENLIGHT_CONFIG", "the config file, when --config is not given"},
    {"GREENLIGHT_<KEY>", "a setting, e.g. GREENLIGHT_APP_ID for app.id"},
    {"GREENLIGHT_KAFKA_<PROPERTY>",
     "a librdkafka property, e.g. GREENLIGHT_KAFKA_SASL_PASSWORD for kafka.sasl.password"},
    {"GREENLIGHT_BOOTSTRAP",
     "short for GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS, which wins if both are set"},
    {"GREENLIGHT_*", "any other: reported as a warning at start, then ignored"},
};

/* The exit codes of every daemon (gl_error.h's rule). */
static const struct {
  int code;
  const char *meaning;
} gl_conf_exit_rows[] = {
    {GL_EXIT_OK, "stopped by SIGTERM or SIGINT once drained; --help, --check-config"},
    {GL_EXIT_FAILURE, "anything else: the broker unreachable past startup.timeout.ms, fenced, a "
                      "fatal client error, the HTTP port in use"},
    {GL_EXIT_CONFIG, "a bad setting, known at start (the key, the value and what was expected "
                     "are printed), or topics that cannot serve it"},
};

#define GL_N(a) (sizeof(a) / sizeof((a)[0]))

/* "(integer 1..600000, default 100)" and the like, from the value in slot. */
static void gl_conf_prop_range(const gl_conf_prop_t *p, const void *slot, char *buf,
                               size_t len) {
  if (p->type == GL_CONF_INT)
    snprintf(buf, len, "(integer %lld..%lld, default %lld)", (long long)p->min,
             (long long)p->max, (long long)*(const int64_t *)slot);
  else if (p->type == GL_CONF_BOOL)
    snprintf(buf, len, "(true or false, default %s)", *(const bool *)slot ? "true" : "false");
  else if (p->type == GL_CONF_ENUM)
    snprintf(buf, len, "(one of %s, default %s)", p->choices, *(char *const *)slot);
  else if (p->min > 0)
    snprintf(buf, len, "(at least %lld byte%s, default '%s')", (long long)p->min,
             p->min == 1 ? "" : "s", *(char *const *)slot);
  else
    snprintf(buf, len, "(default '%s')", *(char *const *)slot);
}

static const char *gl_conf_prog(const gl_conf_t *c) {
  return c->program ? c->program : "greenlight";
}

void gl_conf_usage(const gl_conf_t *c, FILE *out) {
  fprintf(out,
          "usage: %s [--config FILE] [--KEY=VALUE ...] [-X KEY=VALUE ...] [-b BOOTSTRAP]\n"
          "       %s --check-config | --help | --help-man | --version\n\n",
          gl_conf_prog(c), gl_conf_prog(c));
  if (c->summary) fprintf(out, "%s\n\n", c->summary);
  fprintf(out, "%s\nSettings:\n", gl_conf_sources_text);
  /* Defaults are shown as they stand before the file, the environment and
   * the flags: the daemon's own overrides of the engine's defaults included. */
  for (int t = 0; t < c->ntables; t++) {
    for (const gl_conf_prop_t *p = c->tables[t].props; p->name; p++) {
      char range[512];
      gl_conf_prop_range(p, (const char *)c->tables[t].base + p->offset, range, sizeof range);
      fprintf(out, "  %-26s %s\n  %-26s %s\n", p->name, p->doc, "", range);
    }
  }
  fputs("\nEnvironment:\n", out);
  for (size_t i = 0; i < GL_N(gl_conf_env_rows); i++)
    fprintf(out, "  %-28s %s\n", gl_conf_env_rows[i][0], gl_conf_env_rows[i][1]);
  fputs("\nExit codes:\n", out);
  for (size_t i = 0; i < GL_N(gl_conf_exit_rows); i++)
    fprintf(out, "  %d  %s\n", gl_conf_exit_rows[i].code, gl_conf_exit_rows[i].meaning);
}

void gl_conf_man(const gl_conf_t *c, FILE *out) {
  const char *prog = gl_conf_prog(c);
  gl_man_begin(out, prog, c->summary);
  gl_man_section(out, "SYNOPSIS");
  char line[512];
  snprintf(line, sizeof line,
           "%s [--config FILE] [--KEY=VALUE ...] [-X KEY=VALUE ...] [-b BOOTSTRAP]\n"
           "%s --check-config | --help | --help-man | --version\n",
           prog, prog);
  gl_man_verbatim(out, line);
  gl_man_section(out, "DESCRIPTION");
  gl_man_para(out, gl_conf_sources_text);
  gl_man_section(out, "SETTINGS");
  for (int t = 0; t < c->ntables; t++) {
    for (const gl_conf_prop_t *p = c->tables[t].props; p->name; p++) {
      char range[512], text[2048];
      gl_conf_prop_range(p, (const char *)c->tables[t].base + p->offset, range, sizeof range);
      snprintf(text, sizeof text, "%s %s", p->doc, range);
      gl_man_item(out, p->name, text);
    }
  }
  gl_man_section(out, "ENVIRONMENT");
  for (size_t i = 0; i < GL_N(gl_conf_env_rows); i++)
    gl_man_item(out, gl_conf_env_rows[i][0], gl_conf_env_rows[i][1]);
  gl_man_section(out, "EXIT STATUS");
  for (size_t i = 0; i < GL_N(gl_conf_exit_rows); i++) {
    char code[16];
    snprintf(code, sizeof code, "%d", gl_conf_exit_rows[i].code);
    gl_man_item(out, code, gl_conf_exit_rows[i].meaning);
  }
  gl_man_section(out, "SEE ALSO");
  gl_man_para(out, "greenlight(1)");
}
