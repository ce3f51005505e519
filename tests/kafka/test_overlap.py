"""Processing while a commit runs (commit.overlap.max.records): the outputs
of records processed during a commit are held and written in the next
transaction. On the real broker, with frequent commits over a backlog:

- Orders whose status is over record.max.bytes (refusals held during a
  commit among them) go to the DLQ with output_too_large, each exactly
  once, and every other order gets exactly one status: no output is lost or
  written twice, held or not, across the aborts they cause.
- A SIGTERM in the middle of a backlog (a commit, and records held for the
  next, in flight) drains cleanly; a second run finishes the backlog; the
  status topic then holds every order exactly once."""
from harness import *
from wire import T0

ORDERS = 400
BIG = {37, 111, 222, 333}  # Valid orders whose status is over record.max.bytes.


def placed(tag, i):
    return {"event_id": f"E-{tag}-{i}", "occurred_at_ms": T0 + i * 10, "source": "erp.test",
            "order_placed": {"order_id": f"O-{tag}-{i}", "buyer_id": "B-1",
                             "buyer_name": "N" * 900 if i in BIG else "Test",
                             "product": "NVIDIA H200", "units": 1000 + i,
                             "end_use": "END_USE_AI_RESEARCH", "domestic_units_committed": 500}}


def statuses(prefix, tag):
    return {k: v for k, v in by_order(tail(prefix, "greenlight.order-status")).items()
            if k.startswith(f"O-{tag}-")}


def main():
    prefix = new_prefix("overlap")
    make_topics(prefix)
    args = ["--record.max.bytes", "1024", "--commit.max.records", "25"]
    produce(prefix, [placed("A", i) for i in range(ORDERS)])
    d = orderd(prefix, extra=args).start()
    d.wait_committed(ORDERS)
    held = d.metric("greenlight_records_processed_during_commit_total")
    check(held > 0, "no record was processed while a commit ran")
    too_large = [r for r in tail(prefix, "greenlight.dlq")
                 if r["headers"]["dlq.reason"] == "output_too_large"]
    check(sorted(r["key"] for r in too_large) == sorted(f"O-A-{i}" for i in BIG),
          f"output_too_large DLQ records: {sorted(r['key'] for r in too_large)}")
    aborts = d.metric("greenlight_aborts_total")
    check(1 <= aborts <= len(BIG), f"{aborts} aborts for {len(BIG)} refused records")
    st = statuses(prefix, "A")
    check_versions(st)
    check(set(st) == {f"O-A-{i}" for i in range(ORDERS) if i not in BIG},
          f"{len(st)} orders with a status, expected {ORDERS - len(BIG)}")
    check(all(len(v) == 1 for v in st.values()), "an order got more than one status")

    # SIGTERM while a backlog is processed: the drain commits what is open
    # (the held outputs included), a second run does the rest.
    produce(prefix, [placed("B", i) for i in range(ORDERS)])
    wait_until(lambda: d.metric("greenlight_records_processed_total") >= ORDERS + 50, 60,
               "the second backlog to start")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM in the middle of a backlog")
    d2 = orderd(prefix, name="orderd-2", extra=args).start()
    wait_until(lambda: len(statuses(prefix, "B")) == ORDERS - len(BIG), 120,
               "every order of the second backlog")
    st = statuses(prefix, "B")
    check_versions(st)
    check(all(len(v) == 1 for v in st.values()), "an order got a status twice across the restart")
    check(d2.stop() == 0, "the second orderd did not exit 0")
    print(f"overlap: {ORDERS} orders, {int(held)} records processed during commits, "
          f"{int(aborts)} aborts for {len(BIG)} refused records; a SIGTERM mid-backlog and a "
          f"restart: every order exactly once")


run(main)
