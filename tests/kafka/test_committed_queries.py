"""Queries serve committed state only (issue 6, defect 8).

The order daemon commits every 4 s here, so each change sits in an open
transaction for a while: GET /orders/{id} must answer what the last commit
left (404 for an order placed in the open transaction, the old state for a
change), and the new state once the commit is through. An instance whose
every transaction aborts never shows state at all."""
import json

from harness import *

T0 = 1767571200000


def placed(oid, t):
    return {"event_id": f"E-{oid}", "occurred_at_ms": t, "source": "erp.test",
            "order_placed": {"order_id": oid, "buyer_id": "B-1", "buyer_name": "Test",
                             "product": "NVIDIA H200", "units": 1000,
                             "end_use": "END_USE_AI_RESEARCH", "domestic_units_committed": 500}}


def cancelled(oid, t):
    return {"event_id": f"E-C-{oid}", "occurred_at_ms": t, "source": "erp.test",
            "order_cancelled": {"order_id": oid, "reason": "buyer withdrew"}}


def state(d, oid):
    code, body = d.get(f"/orders/{oid}")
    return code, json.loads(body).get("state") if code == 200 else None


def in_open_transaction(d, n):
    """Processed n records, which are not committed yet."""
    return (d.metric("greenlight_records_processed_total") >= n and
            d.metric("greenlight_uncommitted_records") > 0)


def main():
    prefix = new_prefix("committed")
    make_topics(prefix)
    d = orderd(prefix, extra=["--commit.interval.ms", "4000",
                              "--commit.max.records", "1000000"]).start()
    d.wait_ready()
    produce(prefix, [placed("O-Q-1", T0)])
    wait_until(lambda: in_open_transaction(d, 1), 60, "O-Q-1 processed, not committed")
    check(state(d, "O-Q-1") == (404, None),
          f"an order placed in the open transaction is served: {state(d, 'O-Q-1')}")
    d.wait_committed(1)
    check(state(d, "O-Q-1") == (200, "ORDER_STATE_ACCEPTED"), f"after the commit: {state(d, 'O-Q-1')}")

    produce(prefix, [cancelled("O-Q-1", T0 + 1000)])
    wait_until(lambda: in_open_transaction(d, 2), 60, "the cancel processed, not committed")
    check(state(d, "O-Q-1") == (200, "ORDER_STATE_ACCEPTED"),
          f"an uncommitted change is served: {state(d, 'O-Q-1')}")
    d.wait_committed(2)
    check(state(d, "O-Q-1") == (200, "ORDER_STATE_CANCELLED"), f"after the commit: {state(d, 'O-Q-1')}")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")

    # Every transaction aborts: nothing is ever committed, nothing is served.
    prefix2 = new_prefix("never")
    make_topics(prefix2)
    produce(prefix2, [placed(f"O-N-{i}", T0 + i) for i in range(8)])
    w = orderd(prefix2, name="orderd-aborting", extra=["--fault.abort.every", "1"]).start()
    seen = []

    def polled_through_aborts():
        seen.extend(state(w, f"O-N-{i}")[0] for i in range(8))
        return w.metric("greenlight_aborts_total") >= 5
    wait_until(polled_through_aborts, 90, "5 aborts while polling")
    check(set(seen) <= {404, 503}, f"an aborting instance served uncommitted state: {sorted(set(seen))}")
    check(404 in seen, "no query reached an owned, restored partition")
    w.kill9()


run(main)
