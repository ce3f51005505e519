/* gl_config: one declarative property table per component that is at once
 * the parser, the validator and the documentation (`--help`).
 *
 * Sources, later ones winning: the table's defaults, a config file
 * (`--config FILE` or GREENLIGHT_CONFIG), the environment (GREENLIGHT_<KEY>
 * with dots and dashes as underscores, e.g. GREENLIGHT_COMMIT_INTERVAL_MS),
 * then flags (`--key=value`, `--key value`, or `-X key=value`).
 *
 * Keys that start with "kafka." are passed through to librdkafka with the
 * prefix removed (TLS, SASL, bootstrap servers, ...); their environment
 * form is GREENLIGHT_KAFKA_<PROPERTY>, e.g. GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS.
 * `-b HOST:PORT` is short for kafka.bootstrap.servers, and so is the
 * variable GREENLIGHT_BOOTSTRAP (GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS wins).
 * Unknown keys are rejected, and every error names the key, the value and
 * what was expected. A GREENLIGHT_* variable that names no setting and is
 * none of the variables greenlight's tools read (gl_conf_tool_env()) is
 * not an error, since one environment often serves several programs, but
 * it is kept for the program to report (gl_conf_unknown_env()).
 *
 * The config file must be a regular file of at most GL_CONF_FILE_MAX bytes
 * without NUL bytes; each key may appear in it once. Lines are `key = value`
 * with white space around both trimmed (a CR of a Windows line end too);
 * `#` starts a comment line. No value, from any source, may hold a control
 * character, and a value of a table key may not start or end with a space:
 * either would reach the program other than the operator sees it.
 *
 * Errors (gl_error.h): every int function returns GL_OK, or GL_ECONFIG
 * with errstr naming the key, the value and what was expected (a setting:
 * exit 2); gl_conf_load() and gl_conf_check() also return 1 where said.
 *
 * Thread locality: a gl_conf_t is built and loaded on the main thread
 * before the loop runs (gl_conf_init() to gl_conf_check()), and is not
 * changed after; from then on the read-only calls (gl_conf_kafka_pairs(),
 * gl_conf_kafka_get(), gl_conf_usage()) may be made on any
 * thread. gl_conf_destroy() runs on the main thread once no other thread
 * reads it. gl_conf_read_file() and gl_conf_nul_line() use no gl_conf_t:
 * any thread.
 *
 * Ownership: the config borrows program, each table of properties and its
 * base (the owner's struct), which must outlive it. Keys and values given
 * to it are copied: a string setting in the owner's struct is malloc'd and
 * owned by the config (the owner reads it; gl_conf_destroy() frees it and
 * sets the field to NULL), and so are the kafka.* pairs. argv and envp are
 * read during the call only. */
#ifndef GREENLIGHT_GL_CONFIG_H
#define GREENLIGHT_GL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "greenlight/gl_error.h"

typedef enum gl_conf_type {
  GL_CONF_STR,  /* char * (malloc'd, owned by the config). */
  GL_CONF_INT,  /* int64_t, within [min, max]. */
  GL_CONF_BOOL, /* bool: true/false/1/0/yes/no. */
  GL_CONF_ENUM  /* char * restricted to `choices` ("a|b|c"). */
} gl_conf_type_t;

typedef struct gl_conf_prop {
  const char *name;
  gl_conf_type_t type;
  const char *def; /* Default as text; NULL = "" for strings, 0 for numbers. */
  int64_t min, max; /* GL_CONF_INT: the range. GL_CONF_STR: min > 0 = at least min bytes. */
  const char *choices;
  size_t offset; /* Where the value lives in the owner's struct. */
  const char *doc;
} gl_conf_prop_t;

#define GL_CONF_MAX_TABLES 4

typedef struct gl_conf {
  struct {
    const gl_conf_prop_t *props; /* Terminated by an entry with name NULL. */
    void *base;
  } tables[GL_CONF_MAX_TABLES];
  int ntables;
  char **kafka; /* name, value, name, value, ..., NULL (prefix removed). */
  size_t nkafka;
  const char *program;
  /* One line on what the program does, for --help and the man page
   * (borrowed; NULL: none). Set by the program before gl_conf_load(). */
  const char *summary;
  bool check; /* --check-config: validate, print the settings and exit. */
  char **unknown_env; /* GREENLIGHT_* names no setting has, NULL-terminated (owned). */
  size_t n_unknown_env;
} gl_conf_t;

/* The broker a program connects to when kafka.bootstrap.servers is not
 * set: the local development broker (deploy/local/kafka.sh). */
#define GL_CONF_DEFAULT_BOOTSTRAP "127.0.0.1:19092"

void gl_conf_init(gl_conf_t *c, const char *program);
/* Registers a table and applies its defaults. Returns GL_OK, or GL_ECONFIG
 * when there are GL_CONF_MAX_TABLES already or a default fails the table's
 * own check (the program's table is wrong; every start shows it). */
int gl_conf_add_table(gl_conf_t *c, const gl_conf_prop_t *props, void *base, char *errstr,
                      size_t errlen);
/* Sets one key (a table's, or kafka.* checked against librdkafka).
 * Returns GL_OK or GL_ECONFIG (an unknown key, a value out of range, ...). */
int gl_conf_set(gl_conf_t *c, const char *key, const char *value, char *errstr, size_t errlen);
/* Loads a config file; errors name it as --config. GL_OK or GL_ECONFIG. */
int gl_conf_load_file(gl_conf_t *c, const char *path, char *errstr, size_t errlen);
/* Applies the GREENLIGHT_* variables of envp (GREENLIGHT_BOOTSTRAP before
 * GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS, whatever their order) and records the
 * unknown ones. GL_OK or GL_ECONFIG. */
int gl_conf_load_env(gl_conf_t *c, char **envp, char *errstr, size_t errlen);
/* The GREENLIGHT_* variable names the last gl_conf_load_env() found no
 * setting for, NULL-terminated, in the environment's order (NULL if none);
 * owned by c. A daemon logs each as a warning; --check-config prints them
 * on standard error. */
const char *const *gl_conf_unknown_env(const gl_conf_t *c);
/* True if name (without "=value") is a variable that greenlight reads but
 * that is no setting: GREENLIGHT_CONFIG, GREENLIGHT_BOOTSTRAP, the CLI's
 * GREENLIGHT_PARTITIONS and the local scripts' (GREENLIGHT_CLI,
 * GREENLIGHT_BROKER_*, GREENLIGHT_TEST_*, ...). Pure; any thread. */
bool gl_conf_tool_env(const char *name);

/* Applies all sources in order. Returns GL_OK, GL_ECONFIG (errstr set), or
 * 1 if --help, --help-man or --version was asked for (the answer has been
 * printed to stdout; the program exits 0). --check-config sets c->check: the caller validates
 * what else it can without connecting, prints the settings and exits. */
int gl_conf_load(gl_conf_t *c, int argc, char **argv, char **envp, char *errstr, size_t errlen);

/* --help (gl_config_help.c): the sources of the settings, every key of the
 * tables with its type, range and default, the environment variables and
 * the exit codes. */
void gl_conf_usage(const gl_conf_t *c, FILE *out);
/* --help-man: the same as a man page (groff, section 1), which the build
 * turns into greenlight-<daemon>.1. */
void gl_conf_man(const gl_conf_t *c, FILE *out);
/* For --check-config: tries the librdkafka pass-through on a client
 * configuration (no connection) and prints the effective settings as a
 * config file would set them (KEY = VALUE lines, pass-through included,
 * kafka.bootstrap.servers always, its default if it is not set; values of
 * librdkafka properties that hold secrets print as "(secret)"), then the
 * unknown GREENLIGHT_* variables as warnings on standard error.
 * Returns 1 (the caller exits 0) or GL_ECONFIG with errstr set. */
int gl_conf_check(const gl_conf_t *c, FILE *out, char *errstr, size_t errlen);

/* The kafka.* pass-through properties as name, value pairs, NULL-terminated
 * (NULL when there are none); owned by c, valid until it changes. */
const char *const *gl_conf_kafka_pairs(const gl_conf_t *c);
/* The pass-through value of a librdkafka property (owned by c), or NULL. */
const char *gl_conf_kafka_get(const gl_conf_t *c, const char *name);

/* Frees every string the config holds, the owner's string fields
 * included (set to NULL). The tables' bases are the owner's to free. */
void gl_conf_destroy(gl_conf_t *c);

/* Largest config or policy file read: anything bigger is not settings. */
#define GL_CONF_FILE_MAX (1024 * 1024)

/* Reads the whole regular file at path, of at most max bytes, into a new
 * NUL-terminated buffer *out (the caller frees it) of *len bytes before the
 * terminator. The file is opened non-blocking and checked with fstat before
 * any read, so a directory, FIFO, socket or device is refused at once and
 * never blocks. Returns GL_OK, or GL_ECONFIG with *out NULL and why set to
 * what was expected and what was found, e.g. "expected a regular file (it
 * is a FIFO)": a file a setting names that cannot be read is a bad setting
 * (exit 2), and the caller prefixes the setting. Any thread. */
int gl_conf_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                      size_t whylen);
/* The line (from 1) of the first NUL byte in buf[0, len), or 0 if none: a
 * line-based file with one would be read as cut short there. Pure; any
 * thread. */
size_t gl_conf_nul_line(const char *buf, size_t len);

#endif
