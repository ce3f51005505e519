"""Abort and rewind on the real broker: the order daemon aborts every fourth
transaction on purpose (fault.abort.every; the abort is a real one, with
abort markers). Each abort must rewind the inputs to the last commit and
restore the state from the changelog, so that the output is still exactly
once: every order's versions 1..6, no duplicate, and read_committed
consumers never see an aborted record."""
from harness import *
from test_crash import check_workload_output, workload_for

ORDERS = 600


def main():
    prefix = new_prefix("abort")
    make_topics(prefix)
    produce(prefix, workload_for(ORDERS))
    d = orderd(prefix, extra=["--commit.max.records", "200", "--fault.abort.every", "4"]).start()
    # Re-processed records count again in records_processed_total, so wait
    # for the outcome itself: every status record, read_committed.
    check_workload_output(prefix, ORDERS)
    aborts = d.metric("greenlight_aborts_total")
    commits = d.metric("greenlight_commits_total")
    check(aborts >= 3, f"only {aborts} aborts happened")
    # Records were processed while commits ran (their outputs held for the
    # next transaction), and some of those were dropped by an abort: the
    # output above is exactly once all the same.
    overlap = d.metric("greenlight_records_processed_during_commit_total")
    check(overlap > 0, "no record was processed while a commit ran")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")
    # Nothing more once stopped: still exactly once.
    recs = tail(prefix, "greenlight.order-status")
    check(len(recs) == ORDERS * 6, f"{len(recs)} status records after the stop, expected {ORDERS * 6}")
    log = d.log_text()
    check("rewinding inputs to the last commit" in log, "no rewind was logged")
    print(f"abort: {ORDERS} orders, {int(commits)} commits, {int(aborts)} real aborts, "
          f"{int(overlap)} records processed during commits, {len(recs)} status records exactly once")


run(main)
