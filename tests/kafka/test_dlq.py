"""`greenlight dlq` against a running orderd (issue 9, point 4): a garbage
value lands in the DLQ as decode_error, and an approval for an order not
placed yet waits parked until a tick past the park TTL sends it there as
expired_unmatched. summary counts both; list --reason lists exactly the
expired one; redrive refuses the garbage (its bytes are the problem: exit 1,
nothing sent); --dry-run sends nothing; once the order is placed, redrive
sends the approval back to its source topic and the order applies it; a
second redrive changes nothing (the daemon drops an event id it applied)."""
from harness import *
from wire import T0, ENVELOPE_HEADERS

DAY = 86400000
ORDER = "O-DLQ-LATE"


def ev(i, t, body):
    return {"event_id": f"E-DLQ-{i}", "occurred_at_ms": t, "source": "test", **body}


def dlq(prefix, *args, timeout=60):
    """(exit code, stdout lines as JSON, stderr) of `greenlight dlq ...`."""
    r = subprocess.run([CLI, "dlq", *args, "-b", BOOTSTRAP, "--prefix", prefix],
                       capture_output=True, timeout=timeout)
    out = [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]
    return r.returncode, out, r.stderr.decode()


def records_in(prefix, topic):
    return len(tail(prefix, topic, raw=True))


def main():
    prefix = new_prefix("dlq")
    make_topics(prefix)
    d = orderd(prefix).start()
    d.wait_ready(120)
    garbage = {"topic": "greenlight.orders", "key": "O-JUNK", "value_hex": "ffffffff0f",
               "timestamp_ms": T0, "headers": ENVELOPE_HEADERS}
    produce(prefix, [
        garbage,
        ev(1, T0, {"approval_granted": {"order_id": ORDER, "approval_id": "US-LATE",
                                        "units_approved": 500,
                                        "authority": "US_EXPORT_LICENSE"}}),
        ev(2, T0 + 8 * DAY, {"tick": {"clock_id": "test"}}),  # Past the 7-day park TTL.
    ], transactional=True)  # All at once: the tick must not be applied before the approval.
    d.wait_committed(count_inputs(prefix))
    wait_until(lambda: records_in(prefix, "greenlight.dlq") >= 2, 60, "two DLQ records")

    code, out, err = dlq(prefix, "summary")
    check(code == 0 and len(out) == 1, f"summary: exit {code}, {out}, {err}")
    s = out[0]
    check(s["total"] == 2, f"summary total {s['total']}")
    check(s["by_reason"] == {"decode_error": 1, "expired_unmatched": 1}, f"by_reason {s['by_reason']}")
    check(s["by_source_topic"] == {prefix + "greenlight.orders": 1,
                                   prefix + "greenlight.approvals": 1},
          f"by_source_topic {s['by_source_topic']}")
    check(sum(s["per_hour"].values()) == 2 and s["first_timestamp_ms"] <= s["last_timestamp_ms"],
          f"per_hour / first / last: {s}")
    code, out, err = dlq(prefix, "summary", "--from", str(s["last_timestamp_ms"] + 1))
    check(code == 0 and out[0]["total"] == 0, f"summary --from after the last: {out} {err}")

    code, out, err = dlq(prefix, "list", "--reason", "expired_unmatched")
    check(code == 0 and len(out) == 1 and out[0]["key"] == ORDER and
          out[0]["headers"]["dlq.reason"] == "expired_unmatched" and "value_hex" in out[0],
          f"list --reason expired_unmatched: exit {code}, {out}, {err}")

    orders_before = records_in(prefix, "greenlight.orders")
    code, out, err = dlq(prefix, "redrive", "--reason", "decode_error", "--yes")
    check(code == 1 and "refused" in err and "redrove 0 records" in err,
          f"redrive decode_error: exit {code} (want 1), {err}")
    check(records_in(prefix, "greenlight.orders") == orders_before,
          "redrive of a decode_error sent something")

    # The order arrives; the approval is still in the DLQ only.
    produce(prefix, [ev(3, T0 + 9 * DAY, {"order_placed": {
        "order_id": ORDER, "buyer_id": "bytedance", "units": 500, "product": "NVIDIA H200",
        "end_use": "COMMERCIAL_CLOUD", "domestic_units_committed": 500}})])
    d.wait_committed(count_inputs(prefix))
    code, placed = show(prefix, ORDER)
    check(code == 0, f"show {ORDER} after OrderPlaced: exit {code}")

    approvals_before = records_in(prefix, "greenlight.approvals")
    code, out, err = dlq(prefix, "redrive", "--reason", "expired_unmatched", "--dry-run")
    check(code == 0 and len(out) == 1 and out[0]["topic"] == prefix + "greenlight.approvals" and
          out[0]["key"] == ORDER and "redriven-from" in out[0]["headers"] and
          not any(h.startswith("dlq.") for h in out[0]["headers"]),
          f"redrive --dry-run: exit {code}, {out}, {err}")
    check(records_in(prefix, "greenlight.approvals") == approvals_before, "--dry-run sent something")

    code, out, err = dlq(prefix, "redrive", "--reason", "expired_unmatched", "--yes")
    check(code == 0 and "redrove 1 records" in err, f"redrive: exit {code}, {err}")
    redriven = tail(prefix, "greenlight.approvals", raw=True)
    check(len(redriven) == approvals_before + 1 and
          redriven[-1]["headers"].get("redriven-from", "").startswith(prefix + "greenlight.dlq:"),
          f"the re-driven approval: {redriven[-1:]}")
    d.wait_committed(count_inputs(prefix))
    code, after = show(prefix, ORDER)
    check(code == 0 and after[-1]["value"]["version"] == placed[-1]["value"]["version"] + 1,
          f"the re-driven approval was not applied: {placed} -> {after}")

    code, out, err = dlq(prefix, "redrive", "--reason", "expired_unmatched", "--yes")
    check(code == 0, f"second redrive: exit {code}, {err}")
    d.wait_committed(count_inputs(prefix))
    code, again = show(prefix, ORDER)
    check(again[-1]["value"]["version"] == after[-1]["value"]["version"],
          f"the second re-drive changed the order: {after} -> {again}")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")
    d.check_no_bug()
    print("dlq: summary and list matched, a decode_error was refused, --dry-run sent nothing, "
          "the expired approval was re-driven and applied once")


run(main)
