/* Comparing two topics record by record per key (cli_diff.c), for
 * `greenlight rebuild`. Main thread only, like the rest of the CLI. */
#ifndef GREENLIGHT_CLI_DIFF_H
#define GREENLIGHT_CLI_DIFF_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* The digests of one topic's records, per key. */
typedef struct cli_digest cli_digest_t;

/* Whether a record takes part in the comparison. */
typedef bool (*cli_keep_fn)(void *ctx, const rd_kafka_message_t *m);

cli_digest_t *cli_digest_new(void);
void cli_digest_free(cli_digest_t *dg);
/* Reads partitions 0..n_partitions-1 of topic to their end (cli_scan_topic)
 * and digests each record keep accepts (keep NULL: all). 0 or -1 reported. */
int cli_digest_scan(cli_digest_t *dg, rd_kafka_t *consumer, const char *topic,
                    int32_t n_partitions, int64_t deadline, cli_keep_fn keep, void *keep_ctx);
long cli_digest_records(const cli_digest_t *dg);  /* Digested. */
long cli_digest_excluded(const cli_digest_t *dg); /* Refused by keep. */

typedef struct cli_diff_summary {
  long keys, equal, different, only_live, only_shadow;
  long live_records, shadow_records, live_excluded;
} cli_diff_summary_t;

/* Compares the two digests key by key (records in partition and offset
 * order; equal = the same number of records with equal timestamps, values
 * and headers) and prints each key that differs, in key order: as text, or
 * as one JSON line each (json), at most limit keys (0 = all). The records
 * shown are read back from the topics (both have n_partitions). Sorts the
 * digests (no more scans into them). Fills sum; returns 0 or -1 reported. */
int cli_diff_report(cli_digest_t *live, cli_digest_t *shadow, rd_kafka_t *consumer,
                    const char *live_topic, const char *shadow_topic, int32_t n_partitions,
                    int64_t deadline, bool json, long limit, cli_diff_summary_t *sum);

#endif
