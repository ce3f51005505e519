"""Poison records: a garbage value and a valid Envelope with a payload case
this build does not know, in the middle of a stream, land in the DLQ with
their reasons and source coordinates, and every record after them is
processed."""
from harness import *

T0 = 1767571200000


def placed(i):
    return {"event_id": f"E-P-{i}", "occurred_at_ms": T0 + i * 1000, "source": "erp.test",
            "order_placed": {"order_id": f"O-P-{i}", "buyer_id": "B-1", "buyer_name": "Test",
                             "product": "NVIDIA H200", "units": 1000 + i,
                             "end_use": "END_USE_AI_RESEARCH", "domestic_units_committed": 500}}


# Field 1 (event_id "E"), field 2 (occurred_at_ms 1), then field 99: a
# payload from a newer version of the contract.
UNKNOWN_PAYLOAD_HEX = "0a014510019a06020801"
GARBAGE_HEX = "ffffffff0f01deadbeef"


def main():
    prefix = new_prefix("poison")
    make_topics(prefix)
    d = orderd(prefix).start()
    lines = [placed(i) for i in range(5)]
    lines.append({"topic": "greenlight.orders", "key": "O-P-2", "value_hex": GARBAGE_HEX})
    lines.append({"topic": "greenlight.orders", "key": "O-P-3", "value_hex": UNKNOWN_PAYLOAD_HEX})
    lines += [placed(i) for i in range(5, 10)]
    produce(prefix, lines)

    dlq = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(tail(prefix, "greenlight.dlq")),
                     90, "two DLQ records")
    check(len(dlq) == 2, f"expected 2 DLQ records, got {len(dlq)}")
    inputs = {r["key"]: r for r in tail(prefix, "greenlight.orders")
              if r.get("value_hex") in (GARBAGE_HEX, UNKNOWN_PAYLOAD_HEX)}
    reasons = {}
    for r in dlq:
        h = r["headers"]
        reasons[h["dlq.reason"]] = r
        src = inputs[r["key"]]
        check(h["dlq.topic"] == prefix + "greenlight.orders", f"dlq.topic is {h['dlq.topic']}")
        check(int(h["dlq.partition"]) == src["partition"] and int(h["dlq.offset"]) == src["offset"],
              f"DLQ record {h} does not point at its source {src['partition']}@{src['offset']}")
        check(r["value_hex"] == src["value_hex"], "DLQ value is not the original bytes")
        check(h.get("dlq.error"), "dlq.error is empty")
    check(set(reasons) == {"decode_error", "unknown_payload"}, f"DLQ reasons {sorted(reasons)}")

    # Every valid order, those after the poison included, got its status.
    def all_status():
        st = by_order(tail(prefix, "greenlight.order-status"))
        return st if len(st) == 10 else None
    st = wait_until(all_status, 90, "status of all 10 valid orders")
    for i in range(10):
        recs = st[f"O-P-{i}"]
        check(recs[0]["state"] == "ORDER_STATE_ACCEPTED", f"O-P-{i}: {recs[0]}")
    check_versions(st)
    check(d.metric("greenlight_dlq_records_total") == 2, "DLQ metric is not 2")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")


run(main)
