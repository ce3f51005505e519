/* greenlight show: the current state of one order or batch, as the
 * daemons last published it.
 *
 * `show ID` is `tail` over the status topic, restricted to ID's partition
 * (Java's murmur2, as every greenlight producer partitions) and to ID's
 * records, from the beginning to the last stable offset: it needs no
 * running daemon and shows only committed state. It prints the last record
 * (--history: every version) and exits CLI_EXIT_NOT_FOUND when there is
 * none. --offset and --from (tail's positions) start it later: the last
 * record, or the versions, from there on. A daemon's GET /orders/{id} answers the same from memory. Its
 * messages, tail's included, name "show" (main() set the command). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define SHOW_ORDER_TOPIC "greenlight.order-status"
#define SHOW_BATCH_TOPIC "greenlight.batch-status"
#define SHOW_TIMEOUT_MS "30000"

/* show's options: its own, and those of tail's it passes on. */
enum { OPT_BATCH = CLI_OPT_FIRST_OWN, OPT_HISTORY, OPT_TIMEOUT, OPT_OFFSET, OPT_FROM, OPT_DEFAULTS,
       OPT_RAW };
static const struct option show_options[] = {
    CLI_COMMON_LONGOPTS,
    {"batch", no_argument, NULL, OPT_BATCH},
    {"history", no_argument, NULL, OPT_HISTORY},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"from", required_argument, NULL, OPT_FROM},
    {"defaults", no_argument, NULL, OPT_DEFAULTS},
    {"raw", no_argument, NULL, OPT_RAW},
    {NULL, 0, NULL, 0},
};

/* True for the options that take a separate value. */
static bool show_takes_value(const char *a) {
  if (strcmp(a, "-b") == 0 || strcmp(a, "-X") == 0) return true;
  for (const struct option *o = show_options; a[0] == '-' && a[1] == '-' && o->name; o++)
    if (o->has_arg == required_argument && strcmp(a + 2, o->name) == 0) return true;
  return false;
}

int cli_show_main(int argc, char **argv) {
  const char *id = NULL, *timeout = SHOW_TIMEOUT_MS;
  bool batch = false, history = false, start = false;
  /* tail's argv: at most the fixed part (10) plus what is forwarded. */
  char **targv = calloc((size_t)argc + 12, sizeof *targv);
  if (!targv) abort();
  int n = 0;
  targv[n++] = "tail";
  targv[n++] = NULL; /* The topic, once known. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--batch") == 0) {
      batch = true;
    } else if (strcmp(a, "--history") == 0) {
      history = true;
    } else if (strcmp(a, "--timeout-ms") == 0 && i + 1 < argc) {
      timeout = argv[++i];
    } else if (strcmp(a, "--partition") == 0) {
      cli_err("--partition: show reads the partition of its id, no other");
      free(targv);
      return CLI_EXIT_USAGE;
    } else if (show_takes_value(a) && i + 1 < argc) {
      start |= !strcmp(a, "--offset") || !strcmp(a, "--from");
      targv[n++] = argv[i];
      targv[n++] = argv[++i];
    } else if (a[0] == '-') {
      targv[n++] = argv[i]; /* -h, --defaults, --raw, -Xprop=v, or an error for tail to report. */
    } else if (!id) {
      id = a;
    } else {
      cli_err("unexpected argument '%s' (one id at a time)", a);
      free(targv);
      return CLI_EXIT_USAGE;
    }
  }
  bool help = false;
  for (int i = 2; i < n; i++) help |= !strcmp(targv[i], "-h") || !strcmp(targv[i], "--help");
  if (!id && !help) {
    cli_err("which order? usage: greenlight show ORDER_ID [--batch] [--history]");
    free(targv);
    return CLI_EXIT_USAGE;
  }
  targv[1] = batch ? SHOW_BATCH_TOPIC : SHOW_ORDER_TOPIC;
  /* From the beginning unless --offset or --from says where: the last
   * record (or --history's versions) from there on. */
  if (!start) targv[n++] = "--from-beginning";
  const char *fixed[] = {"--exit-at-end", "--key", id ? id : "", "--timeout-ms", timeout,
                         history ? NULL : "--last", NULL};
  for (const char **f = fixed; *f; f++) targv[n++] = (char *)*f;
  int rc = cli_tail_main(n, targv);
  free(targv);
  return rc;
}

static const char show_synopsis[] =
    "greenlight show ID [--batch] [--history] [-b BOOTSTRAP] [-X prop=value ...]\n"
    "                [--prefix P] [--timeout-ms T] [--defaults] [--raw]\n"
    "                [--offset N|-N|beginning|end | --from TIME]\n";
static const char show_help[] =
    "Prints the last committed status of order ID from greenlight.order-status\n"
    "(with --batch: of batch ID, or ~waiting, from greenlight.batch-status) as\n"
    "one JSON line, like tail; reads only ID's partition and needs no daemon.\n"
    "Exits 3 if there is none.\n"
    "\n"
    "  --batch           ID is a batch: read greenlight.batch-status\n"
    "  --history         every version, oldest first\n"
    "  --offset N|-N|beginning|end, --from TIME\n"
    "                    read ID's partition from there on, as tail does: the\n"
    "                    last status (or --history's versions) since TIME\n"
    "  --timeout-ms T    give up (exit 1) after T ms (default 30000)\n"
    "  --defaults        also print fields that hold their zero value\n"
    "  --raw             print the value as \"value_hex\"\n";
static const char show_examples[] =
    "greenlight show O-1\n"
    "greenlight show O-1 --history\n"
    "greenlight show CN-B1 --batch --from 2026-01-05T08:00:00Z\n";

const cli_command_t cli_cmd_show = {
    .name = "show",
    .summary = "print an order's (or a batch's) last published status",
    .synopsis = show_synopsis,
    .help = show_help,
    .examples = show_examples,
    .options = show_options,
    .shortopts = NULL,
    .words = NULL,
    .main = cli_show_main,
};
