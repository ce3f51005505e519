"""A restarted instance takes its inputs in merge order (issue 6, defect 9).

After a restart (or an assignment, or a rewind) an input with nothing
fetched yet may hold the earliest record. The merge must wait until every
input of a partition group has been fetched (a record or its end) before it
takes a head, whatever max.idle.ms says: else a live run with restarts
writes another history than a replay.

Here the log holds, per order, an OrderPlaced, then a BatchQueued
(greenlight.batches) and an OrderCancelled (greenlight.orders, later). The
daemon starts over it with max.idle.ms=0 and fetches limited to ~2 KB, so
each fetch response serves one partition and the inputs of a group arrive
one by one. Merge
order gives every order QUEUED then CANCELLED; taking the cancel first
would give CANCELLED and a BatchQueued refused as order_closed."""
from harness import *

T0 = 1767571200000
ORDERS = 200


def placed(i):
    return {"event_id": f"E-RM-P-{i}", "occurred_at_ms": T0 + i, "source": "erp.test",
            "order_placed": {"order_id": f"O-RM-{i}", "buyer_id": "B-1", "buyer_name": "Test",
                             "product": "NVIDIA H200", "units": 1000,
                             "end_use": "END_USE_AI_RESEARCH", "domestic_units_committed": 500}}


def queued(i, t):
    return {"event_id": f"E-RM-Q-{i}", "occurred_at_ms": t, "source": "mofcom.test",
            "batch_queued": {"order_id": f"O-RM-{i}", "batch_id": "CN-B1", "batch_seq": 1,
                             "position": i + 1, "batch_unit_cap": 10000000}}


def cancelled(i, t):
    return {"event_id": f"E-RM-C-{i}", "occurred_at_ms": t, "source": "erp.test",
            "order_cancelled": {"order_id": f"O-RM-{i}", "reason": "withdrawn"}}


def main():
    prefix = new_prefix("restartmerge")
    make_topics(prefix)
    t1 = T0 + 10 * ORDERS
    events = [placed(i) for i in range(ORDERS)]
    for i in range(ORDERS):
        events += [queued(i, t1 + 2 * i), cancelled(i, t1 + 2 * i + 1)]
    produce(prefix, events, transactional=True)

    # A fresh start over a recorded log is the restart's case with nothing
    # to restore: the group's inputs arrive one fetch at a time.
    d = orderd(prefix, extra=["--max.idle.ms", "0", "-X", "kafka.message.max.bytes=2000",
                              "-X", "kafka.fetch.max.bytes=2000"]).start()
    d.wait_committed(len(events), timeout=180)
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")

    st = by_order(tail(prefix, "greenlight.order-status"))
    check_versions(st)
    wrong = {oid: [v["state"] for v in recs] for oid, recs in st.items()
             if [v["state"] for v in recs] != ["ORDER_STATE_ACCEPTED", "ORDER_STATE_QUEUED",
                                                 "ORDER_STATE_CANCELLED"]}
    check(len(st) == ORDERS and not wrong,
          f"{len(wrong)} of {ORDERS} orders were not taken in merge order, e.g. {list(wrong.items())[:3]}")
    closed = [r for r in tail(prefix, "greenlight.dlq") if r["headers"]["dlq.reason"] == "order_closed"]
    check(not closed, f"{len(closed)} BatchQueued records were refused as order_closed")


run(main)
