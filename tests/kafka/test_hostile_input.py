"""Hostile input (SPEC §3.1): in one stream, between valid orders, records
with a buyer_name that is not UTF-8, a NUL inside order_id (keyed with the
full bytes), a key that is not the order_id, a buyer_name one byte over its
limit, a ~900 KB buyer_name and GL_RECORD_MAX + 1 bytes of garbage. Each
lands in the DLQ with its reason and source coordinates; every valid order
(a Chinese buyer name and a name at the limit among them) gets its status,
versions are contiguous, every status record decodes with protoc (which
refuses invalid UTF-8), no hostile record produced a status, and the daemon
never aborted a transaction."""
from harness import *

T0 = 1767571200000
RECORD_MAX = 16 * 1024  # GL_RECORD_MAX
TEXT_MAX = 1024         # GL_TEXT_MAX
PROTO = ["protoc", f"--proto_path={SRC}/proto"]
ENVELOPE_HEADERS = {"content-type": "application/x-protobuf",
                    "message-type": "greenlight.v1.Envelope"}


from wire import _bytes_field, _int_field, placed_envelope


def protoc_decode(msg_type, data):
    """(exit code, text) of `protoc --decode` on data."""
    r = subprocess.run(PROTO + [f"--decode=greenlight.v1.{msg_type}", "greenlight/v1/greenlight.proto"],
                       input=data, capture_output=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def check_oracles():
    """The encoder writes what protoc reads, and protoc does refuse a string
    that is not UTF-8 — else the status check below would prove nothing."""
    rc, text = protoc_decode("Envelope", placed_envelope("E-X", T0, b"O-X", "阿里巴巴".encode()))
    check(rc == 0 and 'order_id: "O-X"' in text and "units: 1000" in text and
          "END_USE_AI_RESEARCH" in text, f"the test's encoder is wrong:\n{text}")
    bad_status = _bytes_field(1, b"O-X") + _bytes_field(20, b"Bad\xc3\x28")
    rc, text = protoc_decode("OrderStatus", bad_status)
    check(rc != 0, f"protoc accepted a status whose buyer_name is not UTF-8:\n{text}")


def valid(i, buyer_name="Test"):
    return {"event_id": f"E-H-{i}", "occurred_at_ms": T0 + i * 1000, "source": "erp.test",
            "order_placed": {"order_id": f"O-H-{i}", "buyer_id": "B-1", "buyer_name": buyer_name,
                             "product": "NVIDIA H200", "units": 1000 + i,
                             "end_use": "END_USE_AI_RESEARCH", "domestic_units_committed": 500}}


def raw(key, value, t, key_bytes=None):
    line = {"topic": "greenlight.orders", "value_hex": value.hex(), "timestamp_ms": t,
            "headers": ENVELOPE_HEADERS}
    if key_bytes is not None:
        line["key_hex"] = key_bytes.hex()
    else:
        line["key"] = key
    return line


def hostile():
    """The hostile records: (raw line, key as `greenlight tail` shows it,
    dlq.reason, a part of dlq.error)."""
    t = T0 + 5000
    nul_id = b"O-BAD-N\x00UL"
    return [
        (raw("O-BAD-UTF8", placed_envelope("E-BAD-1", t, b"O-BAD-UTF8", b"Bad\xc3\x28name"), t),
         "O-BAD-UTF8", "invalid_utf8", "OrderPlaced.buyer_name is not valid UTF-8 at byte 3"),
        (raw(None, placed_envelope("E-BAD-2", t + 1, nul_id, b"Nul"), t + 1, key_bytes=nul_id),
         "0x" + nul_id.hex(), "invalid", "OrderPlaced.order_id contains a NUL byte at byte 7"),
        (raw("O-BAD-KEY-other", placed_envelope("E-BAD-3", t + 2, b"O-BAD-KEY", b"Key"), t + 2),
         "O-BAD-KEY-other", "key_mismatch",
         'record key "O-BAD-KEY-other" (15 bytes) differs from OrderPlaced.order_id "O-BAD-KEY"'),
        (raw("O-BAD-LONG", placed_envelope("E-BAD-4", t + 3, b"O-BAD-LONG", b"n" * (TEXT_MAX + 1)),
             t + 3),
         "O-BAD-LONG", "too_large", "OrderPlaced.buyer_name is 1025 bytes, more than the limit of 1024"),
        (raw("O-BAD-HUGE", placed_envelope("E-BAD-5", t + 4, b"O-BAD-HUGE", b"h" * 900_000), t + 4),
         "O-BAD-HUGE", "too_large", "more than the limit of 16384"),
        (raw("O-BAD-GARBAGE", b"\xff" * (RECORD_MAX + 1), t + 5),
         "O-BAD-GARBAGE", "too_large", "record value is 16385 bytes, more than the limit of 16384"),
    ]


def check_dlq(prefix, bad):
    want = {key: (reason, part) for _, key, reason, part in bad}
    dlq = wait_until(lambda: (lambda r: r if len(r) >= len(bad) else None)(
        tail(prefix, "greenlight.dlq", raw=True)), 120, f"{len(bad)} DLQ records")
    check(len(dlq) == len(bad), f"expected {len(bad)} DLQ records, got {len(dlq)}")
    sources = {(r["partition"], r["offset"]): r for r in tail(prefix, "greenlight.orders", raw=True)}
    seen = set()
    for r in dlq:
        h = r["headers"]
        check(r["key"] in want, f"unexpected DLQ record with key {r['key']!r}: {h}")
        reason, part = want[r["key"]]
        seen.add(r["key"])
        check(h["dlq.reason"] == reason, f"{r['key']}: dlq.reason {h['dlq.reason']}, want {reason}")
        check(part in h["dlq.error"], f"{r['key']}: dlq.error {h['dlq.error']!r} lacks {part!r}")
        check(h["dlq.topic"] == prefix + "greenlight.orders", f"dlq.topic is {h['dlq.topic']}")
        src = sources.get((int(h["dlq.partition"]), int(h["dlq.offset"])))
        check(src is not None and src["key"] == r["key"],
              f"{r['key']}: DLQ coordinates {h['dlq.partition']}@{h['dlq.offset']} are not its source")
        check(r["value_hex"] == src["value_hex"], f"{r['key']}: DLQ value is not the original bytes")
    check(seen == set(want), f"DLQ keys {sorted(seen)}, want {sorted(want)}")


def check_status(prefix, n_valid):
    def all_status():
        st = by_order(tail(prefix, "greenlight.order-status"))
        return st if len(st) >= n_valid else None
    st = wait_until(all_status, 120, f"status of all {n_valid} valid orders")
    check(sorted(st) == sorted(f"O-H-{i}" for i in range(n_valid)),
          f"status for orders {sorted(st)}: a hostile record produced a status")
    for oid, recs in st.items():
        check(recs[0]["state"] == "ORDER_STATE_ACCEPTED", f"{oid}: {recs[0]}")
    check_versions(st)
    check(st["O-H-1"][0].get("buyer_name") == "阿里巴巴", f"O-H-1: {st['O-H-1'][0]}")
    check(st["O-H-2"][0].get("buyer_name") == "é" * (TEXT_MAX // 2), "O-H-2: buyer_name at the limit")
    for r in tail(prefix, "greenlight.order-status", raw=True):
        rc, text = protoc_decode("OrderStatus", bytes.fromhex(r["value_hex"]))
        check(rc == 0, f"protoc refuses the status record of {r['key']}:\n{text}")


def main():
    check_oracles()
    prefix = new_prefix("hostile")
    make_topics(prefix)
    d = orderd(prefix).start()
    bad = hostile()
    lines = [valid(0), valid(1, "阿里巴巴"), valid(2, "é" * (TEXT_MAX // 2))]
    lines += [valid(i) for i in range(3, 5)]
    lines += [b[0] for b in bad]
    lines += [valid(i) for i in range(5, 10)]
    produce(prefix, lines)

    d.wait_committed(len(lines))
    check_dlq(prefix, bad)
    check_status(prefix, 10)
    check(d.metric("greenlight_dlq_records_total") == len(bad), "DLQ metric is not the hostile count")
    check(d.metric("greenlight_aborts_total") == 0,
          f"orderd aborted {d.metric('greenlight_aborts_total')} transactions")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")


run(main)
