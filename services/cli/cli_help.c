/* What the CLI says about itself: `greenlight help`, each command's --help,
 * the man page (`greenlight --help-man`) and the bash completion script
 * (`greenlight completion bash`), all from the command table (cli_commands,
 * each command's cli_command_t with its getopt table) and from the one
 * table of exit codes below, so that none of them can drift from the
 * others or from the options the commands parse. */
#include <string.h>

#include "cli.h"
#include "greenlight/gl_man.h"
#include "greenlight/gl_version.h"

/* The exit codes of every command. A row names a command or none (every
 * command); a command's own row of a code replaces the general one. The
 * code returns these through the CLI_EXIT_* names of cli.h. */
static const struct {
  int code;
  const char *command; /* NULL: every command. */
  const char *meaning;
} cli_exit_rows[] = {
    {CLI_EXIT_OK, NULL, "done; also after SIGINT or SIGTERM once what was sent is flushed"},
    {CLI_EXIT_FAIL, NULL,
     "anything else: the broker unreachable, the time-out ran out, a record not delivered, a "
     "transaction aborted, a write to standard output failed"},
    {CLI_EXIT_USAGE, NULL,
     "bad usage, known before any connection: an unknown command or option, a bad value or -X "
     "property, a bad GREENLIGHT_KAFKA_* variable, an input file that cannot be opened"},
    {CLI_EXIT_USAGE, "produce",
     "bad usage (as for every command), or an input line refused before it is sent (reported as "
     "FILE:LINE: REASON: DETAIL)"},
    {CLI_EXIT_NOT_FOUND, "show", "no record for the ID"},
    {CLI_EXIT_NOT_FOUND, "tail", "--last: no record (for the key)"},
    {CLI_EXIT_OK, "dlq", "done (redrive: every selected record sent, or a dry run)"},
    {CLI_EXIT_FAIL, "dlq",
     "a failure: Kafka, the time-out, the transaction, or (redrive) a record refused (the others "
     "were sent, as standard error says)"},
    {CLI_EXIT_USAGE, "dlq", "bad usage, or redrive without --yes or --dry-run"},
    {CLI_EXIT_OK, "topics", "done, every topic as wanted"},
    {CLI_EXIT_FAIL, "topics", "a problem found, a topic not created, or Kafka unreachable"},
    {CLI_EXIT_OK, "rebuild", "the shadow equals live"},
    {CLI_EXIT_DIFFERENT, "rebuild", "the shadow differs from live"},
    {CLI_EXIT_USAGE, "rebuild", "bad usage, or a setting the daemon refuses"},
    {CLI_EXIT_NOT_RUN, "rebuild",
     "the rebuild could not run (broker, daemon exit, time-out, interrupted)"},
    {CLI_EXIT_OK, "reset", "done, or --dry-run"},
    {CLI_EXIT_FAIL, "reset", "refused (the group has members) or failed (what was done is said)"},
    {CLI_EXIT_USAGE, "reset",
     "bad usage, a setting the daemon refuses, a bad --to-offset, or neither --yes nor --dry-run"},
};

#define CLI_N(a) (sizeof(a) / sizeof((a)[0]))

/* The row cmd follows for code: its own, else the general one; NULL if
 * the code is not one of cmd's. */
static const char *cli_exit_meaning(const char *cmd, int code) {
  const char *general = NULL;
  for (size_t i = 0; i < CLI_N(cli_exit_rows); i++) {
    if (cli_exit_rows[i].code != code) continue;
    if (!cli_exit_rows[i].command) general = cli_exit_rows[i].meaning;
    else if (cmd && strcmp(cli_exit_rows[i].command, cmd) == 0) return cli_exit_rows[i].meaning;
  }
  return general;
}

/* The options every Kafka command shares, and the environment. */
static const char cli_common_text[] =
    "  -b, --bootstrap BOOTSTRAP  the brokers; --kafka.bootstrap.servers, as the\n"
    "                             daemons name it, too (default:\n"
    "                             $GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS, else\n"
    "                             $GREENLIGHT_BOOTSTRAP, else " CLI_DEFAULT_BOOTSTRAP ")\n"
    "  -X kafka.prop=value        a librdkafka property (TLS, SASL, ...),\n"
    "                             repeatable; the daemons' form, whose kafka.\n"
    "                             prefix may be left out here\n"
    "  --prefix P                 prepended to every topic name; --topic.prefix\n"
    "                             too (default: $GREENLIGHT_TOPIC_PREFIX or none)\n"
    "  -h, --help                 show the command's help\n";

static const char cli_env_text[] =
    "The CLI reads what it shares with the daemons under the daemons' names:\n"
    "GREENLIGHT_TOPIC_PREFIX, GREENLIGHT_KAFKA_<PROPERTY> (e.g.\n"
    "GREENLIGHT_KAFKA_SASL_PASSWORD for kafka.sasl.password) and\n"
    "GREENLIGHT_BOOTSTRAP, short for GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS; flags\n"
    "win over them. 'greenlight config' prints the settings the CLI would use\n"
    "and the GREENLIGHT_* variables it does not read. topics create reads\n"
    "GREENLIGHT_PARTITIONS.\n";

/* The commands that are not in cli_commands (no options of their own). */
static const char *const cli_extra_commands[][2] = {
    {"config", "print the settings the CLI would use (also --check-config)"},
    {"completion", "print the bash completion script: completion bash"},
    {"version", "the versions of greenlight and its libraries (also --version)"},
    {"help", "this text, or a command's: help COMMAND"},
};

static void cli_indented(FILE *out, const char *text, const char *indent) {
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    fprintf(out, "%s%.*s\n", n ? indent : "", (int)n, p);
    p += n + (nl ? 1 : 0);
  }
}

/* "  N  " then text, filled to 79 columns, later lines under the text. */
static void cli_exit_line(FILE *out, int code, const char *who, const char *text) {
  int col = fprintf(out, "  %d  %s%s", code, who ? who : "", who ? ": " : "");
  const int indent = 5, width = 79;
  for (const char *p = text; *p;) {
    size_t n = strcspn(p, " ");
    if (col + 1 + (int)n > width && col > indent) col = fprintf(out, "\n%*s", indent, "") - 1;
    else if (p != text) col += fprintf(out, " ");
    col += fprintf(out, "%.*s", (int)n, p);
    p += n + (p[n] == ' ');
  }
  fputc('\n', out);
}

/* cmd's exit codes, each once: its own meaning, else the general one. */
static void cli_exit_codes(const char *cmd, FILE *out) {
  for (int code = CLI_EXIT_OK; code <= CLI_EXIT_NOT_RUN; code++) {
    const char *m = cli_exit_meaning(cmd, code);
    if (m) cli_exit_line(out, code, NULL, m);
  }
}

void cli_help(const cli_command_t *cmd, FILE *out) {
  fputs("usage: ", out);
  fputs(cmd->synopsis, out);
  fputc('\n', out);
  fputs(cmd->help, out);
  fputs("\nShared options:\n", out);
  fputs(cli_common_text, out);
  fputs("\nExamples:\n", out);
  cli_indented(out, cmd->examples, "  ");
  fputs("\nExit codes:\n", out);
  cli_exit_codes(cmd->name, out);
}

void cli_help_current(FILE *out) {
  const char *name = cli_command_name();
  for (const cli_command_t *const *c = cli_commands; *c; c++)
    if (name && strcmp((*c)->name, name) == 0) {
      cli_help(*c, out);
      return;
    }
  cli_usage(out);
}

/* The whole table, each command's own rows after the general ones. */
static void cli_exit_table(FILE *out) {
  for (size_t i = 0; i < CLI_N(cli_exit_rows); i++)
    if (!cli_exit_rows[i].command)
      cli_exit_line(out, cli_exit_rows[i].code, NULL, cli_exit_rows[i].meaning);
  for (size_t i = 0; i < CLI_N(cli_exit_rows); i++)
    if (cli_exit_rows[i].command)
      cli_exit_line(out, cli_exit_rows[i].code, cli_exit_rows[i].command,
                    cli_exit_rows[i].meaning);
}

void cli_usage(FILE *out) {
  fputs("usage: greenlight <command> [options]\n\nCommands:\n", out);
  for (const cli_command_t *const *c = cli_commands; *c; c++)
    fprintf(out, "  %-11s %s\n", (*c)->name, (*c)->summary);
  for (size_t i = 0; i < CLI_N(cli_extra_commands); i++)
    fprintf(out, "  %-11s %s\n", cli_extra_commands[i][0], cli_extra_commands[i][1]);
  fputs("\n'greenlight <command> --help' shows a command's options, examples and exit\n"
        "codes.\n"
        "\nShared options:\n",
        out);
  fputs(cli_common_text, out);
  fputc('\n', out);
  fputs(cli_env_text, out);
  fputs("\nExit codes (one table for every command):\n", out);
  cli_exit_table(out);
}

void cli_man(FILE *out) {
  gl_man_begin(out, "greenlight", "the operator CLI of greenlight's Kafka stream daemons");
  gl_man_section(out, "SYNOPSIS");
  gl_man_verbatim(out, "greenlight <command> [options]\n"
                       "greenlight help [COMMAND]\n"
                       "greenlight --version | --help-man | completion bash\n");
  gl_man_section(out, "DESCRIPTION");
  gl_man_para(out, "greenlight produces events to the daemons' input topics, reads their "
                   "topics, and runs the operators' commands on a deployment. Each command "
                   "is described below, as 'greenlight <command> --help' prints it.");
  gl_man_section(out, "COMMANDS");
  for (const cli_command_t *const *c = cli_commands; *c; c++) {
    char title[64];
    snprintf(title, sizeof title, "greenlight %s", (*c)->name);
    gl_man_subsection(out, title);
    gl_man_para(out, (*c)->summary);
    gl_man_verbatim(out, (*c)->synopsis);
    gl_man_verbatim(out, (*c)->help);
    gl_man_para(out, "Examples:");
    gl_man_verbatim(out, (*c)->examples);
    gl_man_para(out, "Exit codes:");
    for (int code = CLI_EXIT_OK; code <= CLI_EXIT_NOT_RUN; code++) {
      const char *m = cli_exit_meaning((*c)->name, code);
      char tag[8];
      snprintf(tag, sizeof tag, "%d", code);
      if (m) gl_man_item(out, tag, m);
    }
  }
  for (size_t i = 0; i < CLI_N(cli_extra_commands); i++) {
    char title[64];
    snprintf(title, sizeof title, "greenlight %s", cli_extra_commands[i][0]);
    gl_man_subsection(out, title);
    gl_man_para(out, cli_extra_commands[i][1]);
  }
  gl_man_section(out, "SHARED OPTIONS");
  gl_man_verbatim(out, cli_common_text);
  gl_man_section(out, "ENVIRONMENT");
  gl_man_para(out, cli_env_text);
  gl_man_section(out, "EXIT STATUS");
  for (size_t i = 0; i < CLI_N(cli_exit_rows); i++) {
    char tag[64];
    snprintf(tag, sizeof tag, "%d%s%s", cli_exit_rows[i].code,
             cli_exit_rows[i].command ? " " : "",
             cli_exit_rows[i].command ? cli_exit_rows[i].command : "");
    gl_man_item(out, tag, cli_exit_rows[i].meaning);
  }
  gl_man_section(out, "SEE ALSO");
  gl_man_para(out, "greenlight-orderd(1), greenlight-batchd(1), greenlight-clockd(1), "
                   "greenlight-pipe(1)");
}

/* Options whose value is a file name: the completion offers files. */
static const char cli_file_options[] = "--file -f --config --policy --daemon-bin";

/* cmd's options as completion words: long ones, then the short ones
 * (shared and its own); valued = those that take a value only. */
static void cli_completion_words(const cli_command_t *cmd, bool valued, FILE *out) {
  for (const struct option *o = cmd->options; o->name; o++)
    if (!valued || o->has_arg == required_argument) fprintf(out, "--%s ", o->name);
  fputs(valued ? "-b -X" : "-b -X -h", out);
  for (const char *s = cmd->shortopts; s && *s; s++)
    if (*s != ':' && (!valued || s[1] == ':')) fprintf(out, " -%c", *s);
}

void cli_completion_bash(FILE *out) {
  fprintf(out,
          "# bash completion for greenlight %s, generated by `greenlight completion bash`\n"
          "# from the commands' option tables: regenerate it, do not edit it.\n"
          "_greenlight() {\n"
          "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
          "  local commands='",
          gl_version_string());
  for (const cli_command_t *const *c = cli_commands; *c; c++) fprintf(out, "%s ", (*c)->name);
  for (size_t i = 0; i < CLI_N(cli_extra_commands); i++)
    fprintf(out, "%s%s", i ? " " : "", cli_extra_commands[i][0]);
  fputs("'\n"
        "  if [[ $COMP_CWORD -eq 1 ]]; then\n"
        "    COMPREPLY=($(compgen -W \"$commands --help --version\" -- \"$cur\"))\n"
        "    return 0\n"
        "  fi\n"
        "  local opts='' valued='' words=''\n"
        "  case ${COMP_WORDS[1]} in\n",
        out);
  for (const cli_command_t *const *c = cli_commands; *c; c++) {
    fprintf(out, "    %s)\n      opts='", (*c)->name);
    cli_completion_words(*c, false, out);
    fputs("'\n      valued='", out);
    cli_completion_words(*c, true, out);
    fputs("'\n      words='", out);
    for (const char *const *w = (*c)->words; w && *w; w++)
      fprintf(out, "%s%s", *w, w[1] ? " " : "");
    fputs("';;\n", out);
  }
  fprintf(out,
          "    config|--check-config) opts='--bootstrap --prefix --topic.prefix -b -X -h'\n"
          "      valued='--bootstrap --prefix --topic.prefix -b -X';;\n"
          "    help) [[ $COMP_CWORD -eq 2 ]] && words=$commands;;\n"
          "    completion) [[ $COMP_CWORD -eq 2 ]] && words='bash';;\n"
          "  esac\n"
          "  if [[ -n $valued && \" $valued \" == *\" $prev \"* ]]; then\n"
          "    case \" %s \" in\n"
          "      *\" $prev \"*) COMPREPLY=($(compgen -f -- \"$cur\"));;\n"
          "      *) COMPREPLY=();;\n"
          "    esac\n"
          "  elif [[ $cur == -* ]]; then\n"
          "    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
          "  elif [[ $COMP_CWORD -eq 2 && -n $words ]]; then\n"
          "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "  fi\n"
          "  return 0\n"
          "}\n"
          "complete -F _greenlight greenlight\n",
          cli_file_options);
}
