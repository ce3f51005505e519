"""Abort and rewind on the real broker: the order daemon aborts every fourth
transaction on purpose (fault.abort.every; the abort is a real one, with
abort markers). Each abort must rewind the inputs to the last commit and
restore the state from the changelog, so that the output is still exactly
once: every order's versions 1..6, no duplicate, and read_committed
consumers never see an aborted record."""
from harness import *
from test_crash import EXPECTED_STATES, workload_for

ORDERS = 600


def main():
    prefix = new_prefix("abort")
    make_topics(prefix)
    produce(prefix, workload_for(ORDERS))
    d = orderd(prefix, extra=["--commit.max.records", "200", "--fault.abort.every", "4"]).start()
    # Re-processed records count again in records_processed_total, so wait
    # for the outcome itself: every status record, read_committed.
    want = ORDERS * 6
    recs = wait_until(lambda: (lambda r: r if len(r) >= want else None)(
        tail(prefix, "greenlight.order-status")), 300, f"{want} status records", interval=1)
    aborts = d.metric("greenlight_aborts_total")
    commits = d.metric("greenlight_commits_total")
    check(aborts >= 3, f"only {aborts} aborts happened")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")
    recs = tail(prefix, "greenlight.order-status")
    orders = by_order(recs)
    check(len(recs) == ORDERS * 6, f"{len(recs)} status records, expected {ORDERS * 6}")
    check_versions(orders)
    for oid, rs in orders.items():
        states = [r["state"] for r in rs]
        check(states == EXPECTED_STATES, f"order {oid}: states {states}")
    log = d.log_text()
    check("rewinding inputs to the last commit" in log, "no rewind was logged")
    print(f"abort: {ORDERS} orders, {int(commits)} commits, {int(aborts)} real aborts, "
          f"{len(recs)} status records exactly once")


run(main)
