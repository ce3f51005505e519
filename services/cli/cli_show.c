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

/* True for the shared and tail options that take a value. */
static bool show_takes_value(const char *a) {
  static const char *const opts[] = {"-b", "--bootstrap", "-X", "--prefix", "--timeout-ms",
                                     "--offset", "--from", NULL};
  for (const char *const *o = opts; *o; o++)
    if (strcmp(a, *o) == 0) return true;
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
