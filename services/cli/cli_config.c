/* greenlight config (also greenlight --check-config): the settings the
 * CLI's clients would use, after the environment and the shared options,
 * printed as a daemon's --check-config prints its own (KEY = VALUE lines,
 * secrets hidden) by the same code (gl_conf_check), so that an operator
 * sees which broker and prefix a command would reach. The GREENLIGHT_*
 * variables the CLI does not read (a daemon's settings, or a misspelling)
 * follow on standard error. */
#include "cli.h"

static const struct option config_options[] = {
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static int config_no_opt(void *ctx, int opt, const char *arg) {
  (void)ctx;
  (void)opt;
  (void)arg;
  return -1;
}

int cli_config_main(int argc, char **argv) {
  cli_common_t c;
  cli_common_init(&c);
  int rc = cli_parse_opts(&c, argc, argv, "", config_options, config_no_opt, NULL);
  if (rc == 0 && optind < argc) {
    cli_err("unexpected argument '%s'", argv[optind]);
    rc = -1;
  }
  if (rc < 0 || c.help) {
    if (c.help)
      fputs("usage: greenlight config [-b BOOTSTRAP] [-X kafka.prop=value ...] [--prefix P]\n"
            "Prints the settings the CLI's clients would use.\n",
            stdout);
    cli_common_free(&c);
    return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  char err[768];
  rc = gl_conf_check(&c.conf, stdout, err, sizeof err);
  if (rc < 0) cli_err("%s", err);
  cli_common_free(&c);
  return rc < 0 ? CLI_EXIT_USAGE : fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
