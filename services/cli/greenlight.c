/* greenlight: the operator CLI.
 *
 *   greenlight produce   JSON lines -> input topics (upstream side)
 *   greenlight tail      a topic -> JSON lines (downstream side)
 *   greenlight show      an order's (or a batch's) last published status
 *   greenlight replay    a slice of a topic -> another topic (or itself)
 *   greenlight dlq       the dead-letter topic: summary, list, redrive
 *   greenlight topics    create or check a deployment's topics
 *   greenlight rebuild   a daemon over its inputs into a shadow, diffed with live
 *   greenlight reset     a daemon's group to a time or offsets, its state cleared
 *   greenlight config    the settings the CLI would use
 *   greenlight help      usage (cli_help.c, from the command table below)
 *
 * This file holds main() and the command table; each subcommand lives in
 * its own cli_<name>.c file, with its cli_command_t (help text, options). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "greenlight/gl_version.h"

bool cli_stop_requested(void) { return gl_signals_stop_requested(); }

const cli_command_t *const cli_commands[] = {
    &cli_cmd_produce, &cli_cmd_tail,   &cli_cmd_show,    &cli_cmd_replay,
    &cli_cmd_dlq,     &cli_cmd_topics, &cli_cmd_rebuild, &cli_cmd_reset,
    NULL,
};

static const cli_command_t *cli_find(const char *name) {
  for (const cli_command_t *const *c = cli_commands; *c; c++)
    if (strcmp((*c)->name, name) == 0) return *c;
  return NULL;
}

/* `greenlight help [COMMAND]`. */
static int cli_help_main(int argc, char **argv) {
  if (argc < 3) {
    cli_usage(stdout);
    return CLI_EXIT_OK;
  }
  const cli_command_t *cmd = cli_find(argv[2]);
  if (!cmd) {
    cli_err("help: unknown command '%s' (try 'greenlight help')", argv[2]);
    return CLI_EXIT_USAGE;
  }
  cli_help(cmd, stdout);
  return CLI_EXIT_OK;
}

/* `greenlight completion bash`. */
static int cli_completion_main(int argc, char **argv) {
  if (argc != 3 || strcmp(argv[2], "bash") != 0) {
    cli_err("completion: expected 'greenlight completion bash'");
    return CLI_EXIT_USAGE;
  }
  cli_completion_bash(stdout);
  return CLI_EXIT_OK;
}

int main(int argc, char **argv) {
  /* The shell's signal policy: SIGINT/SIGTERM finish what is in flight;
   * a closed stdout (`greenlight tail ... | head`) ends the program through
   * the write error, not through SIGPIPE. */
  gl_signals_catch();

  if (argc < 2) {
    cli_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    gl_version_print(stdout, "greenlight");
    return CLI_EXIT_OK;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
    return cli_help_main(argc, argv);
  if (strcmp(cmd, "--help-man") == 0) {
    cli_man(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(cmd, "completion") == 0) return cli_completion_main(argc, argv);
  if (strcmp(cmd, "config") == 0 || strcmp(cmd, "--check-config") == 0) {
    cli_set_command("config");
    return cli_config_main(argc - 1, argv + 1);
  }
  const cli_command_t *c = cli_find(cmd);
  if (!c) {
    cli_err("unknown command '%s' (try 'greenlight help')", cmd);
    return CLI_EXIT_USAGE;
  }
  cli_set_command(c->name);
  return c->main(argc - 1, argv + 1);
}
