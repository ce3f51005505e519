"""Records that would move time for a whole partition, or whose output cannot
be written (SPEC §3.1, issue 6 defects 1 and 2).

- An OrderPlaced and a Tick (to every partition) stamped INT64_MAX, with
  ordinary record timestamps, go to the DLQ with time_out_of_bounds: a
  closed order is not removed, no order expires, no status is written.
- A valid OrderPlaced whose status would be larger than record.max.bytes
  (set low here, 1024) goes to the DLQ with output_too_large, cut to fit,
  after exactly one abort; every other order is processed.
- A Tick 40 days ahead whose record timestamp vouches for it (as clockd's
  do after an outage) is not bounded: it removes the closed order as the
  retention says, so the bound does not stop real time."""
from harness import *
from wire import T0, placed_envelope, tick_envelope, raw_line

INT64_MAX = (1 << 63) - 1
DAY = 86400000


def placed(i, t, end_use="END_USE_AI_RESEARCH", name="Test"):
    return {"event_id": f"E-B-{i}", "occurred_at_ms": t, "source": "erp.test",
            "order_placed": {"order_id": f"O-B-{i}", "buyer_id": "B-1", "buyer_name": name,
                             "product": "NVIDIA H200", "units": 1000 + i, "end_use": end_use,
                             "domestic_units_committed": 500}}


def dlq_by_reason(prefix):
    out = {}
    for r in tail(prefix, "greenlight.dlq"):
        out.setdefault(r["headers"]["dlq.reason"], []).append(r)
    return out


def main():
    prefix = new_prefix("bounds")
    make_topics(prefix)
    d = orderd(prefix, extra=["--record.max.bytes", "1024"]).start()
    ok = [placed(i, T0 + i * 1000) for i in range(6)]
    rejected = placed(6, T0 + 6000, end_use="END_USE_SENSITIVE_AGENCY")
    big = placed(7, T0 + 7000, name="N" * 1000)  # Valid (<= 1024 bytes), its status is not.
    t_bad = T0 + 20000
    hostile = [raw_line("greenlight.orders", "O-B-8",
                        placed_envelope("E-B-8", INT64_MAX, b"O-B-8", b"Future"), t_bad)]
    hostile += [raw_line("greenlight.clock", f"tick-{p}", tick_envelope(f"E-T-{p}", INT64_MAX),
                         t_bad, partition=p) for p in range(PARTITIONS)]
    after = [placed(9, T0 + 30000)]
    produce(prefix, ok + [rejected, big] + hostile + after, transactional=True)

    n_inputs = len(ok) + 2 + len(hostile) + len(after)
    d.wait_committed(n_inputs)
    dlq = dlq_by_reason(prefix)
    far = dlq.get("time_out_of_bounds", [])
    check(len(far) == 1 + PARTITIONS,
          f"expected {1 + PARTITIONS} time_out_of_bounds DLQ records, got {len(far)}: {sorted(dlq)}")
    check(all("time.max.forward.ms" in r["headers"]["dlq.error"] for r in far),
          f"dlq.error does not name the setting: {far[0]['headers']}")
    big_dlq = dlq.get("output_too_large", [])
    check(len(big_dlq) == 1, f"expected 1 output_too_large record, got {sorted(dlq)}")
    h = big_dlq[0]["headers"]
    check(h["dlq.topic"] == prefix + "greenlight.orders" and "record.max.bytes" in h["dlq.error"],
          f"output_too_large headers: {h}")
    check(int(h.get("dlq.value.truncated", 0)) > len(bytes.fromhex(big_dlq[0]["value_hex"])),
          f"the DLQ copy was not cut to fit: {h}")
    check(d.metric("greenlight_aborts_total") == 1,
          f"expected exactly one abort, got {d.metric('greenlight_aborts_total')}")

    st = by_order(tail(prefix, "greenlight.order-status"))
    check_versions(st)
    want = {f"O-B-{i}" for i in list(range(7)) + [9]}
    check(set(st) == want, f"orders with a status: {sorted(st)}, expected {sorted(want)}")
    check(all(len(v) == 1 for v in st.values()), "an order got more than one status: time moved")
    code, body = d.get("/orders/O-B-6")
    check(code == 200 and "REJECTED" in body, f"the closed order is gone after the far ticks: {code} {body}")
    code, _ = d.get("/orders/O-B-7")
    check(code == 404, f"the order whose status was too large was applied: {code}")

    # Real time moves on: a tick 40 days ahead, vouched for by its record
    # timestamp, removes the closed order (closed retention is 30 days).
    t_late = T0 + 40 * DAY
    produce(prefix, [raw_line("greenlight.clock", f"tick-{p}", tick_envelope(f"E-L-{p}", t_late),
                              t_late, partition=p) for p in range(PARTITIONS)])
    wait_until(lambda: d.get("/orders/O-B-6")[0] == 404, 60,
               "the closed order to be removed by a vouched-for tick")
    check(len(dlq_by_reason(prefix).get("time_out_of_bounds", [])) == 1 + PARTITIONS,
          "a vouched-for tick went to the DLQ")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")


run(main)
