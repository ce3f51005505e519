"""The seed scenario (SPEC §9) end to end: produce tests/data/seed.jsonl
through the CLI, read the status topic with read_committed, and check each
order's sequence of states (tests/data/seed.expected), its versions 1..n,
the effective units against an independent copy of the rule 3 formula,
and that every record names its cause."""
from harness import *

SEED = os.path.join(SRC, "tests", "data", "seed.jsonl")
EXPECTED = os.path.join(SRC, "tests", "data", "seed.expected")


def expected_effective(events):
    """Each granted order's effective units by harness.effective (rule 3)."""
    placed, grants = placed_and_grants(events)
    return {oid: effective(placed[oid], gs) for oid, gs in grants.items()}


def main():
    with open(SEED) as f:
        events = [json.loads(l) for l in f if l.strip()]
    with open(EXPECTED) as f:
        expected = {l.split()[0]: l.split()[1:] for l in f if l.strip()}
    prefix = new_prefix("scenario")
    make_topics(prefix)
    d = orderd(prefix).start()
    # One upstream transaction, as the README recommends: the daemon sees
    # the whole seed at once, so its merge orders it by event time even
    # though it is already running (SPEC §6: "present in time").
    produce(prefix, events, transactional=True)

    want = sum(len(s) for s in expected.values())
    def complete():
        recs = tail(prefix, "greenlight.order-status")
        return recs if len(recs) >= want else None
    recs = wait_until(complete, 90, f"{want} status records")
    orders = by_order(recs)
    check(len(recs) == want, f"expected {want} status records, got {len(recs)}")
    check_versions(orders)
    for oid, states in expected.items():
        got = [r["state"] for r in orders.get(oid, [])]
        check(got == states, f"{oid}: states {got}, expected {states}")

    eff = expected_effective(events)
    for oid, rs in orders.items():
        approved = [r for r in rs if r["state"] == "ORDER_STATE_APPROVED"]
        if approved:
            check(int(approved[0]["units_effective"]) == eff[oid],
                  f"{oid}: effective {approved[0]['units_effective']}, formula gives {eff[oid]}")
        for r in rs:
            c = r.get("cause", {})
            check(c.get("event_id") and c.get("topic", "").startswith(prefix) and c.get("event_type"),
                  f"{oid} v{r['version']}: incomplete cause {c}")
            check(r.get("reason_code") and r.get("reason"), f"{oid} v{r['version']}: no reason")
    # The domestic-ratio cut and the rejections explain themselves with numbers.
    tc = [r for r in orders["O-TC-1"] if r["state"] == "ORDER_STATE_APPROVED"][0]
    check(int(tc["units_effective"]) < int(tc["units_requested"]), "Tencent's units were not cut")
    sec = orders["O-SEC-1"][0]
    check(sec["reason_code"] == "end_use_barred" and "SENSITIVE_AGENCY" in sec["reason"],
          f"O-SEC-1 reason: {sec['reason_code']}: {sec['reason']}")
    grid = orders["O-GRID-1"][0]
    check(grid["reason_code"] == "end_use_barred" and "CRITICAL_INFRASTRUCTURE" in grid["reason"],
          f"O-GRID-1 reason: {grid['reason_code']}: {grid['reason']}")
    exp = orders["O-TC-1"][-1]
    check(exp["cause"]["event_type"] == "Tick", f"Tencent expired by {exp['cause']}, not a Tick")
    check(tail(prefix, "greenlight.dlq") == [], "the seed scenario sent records to the DLQ")

    # `greenlight show` reads one order's partition: its last record, or
    # with --history all of them, exactly as the full tail has them.
    for oid in ("O-BD-1", "O-TC-1", "O-SEC-1"):
        mine = [r for r in recs if r["key"] == oid]
        rc, out = show(prefix, oid)
        check(rc == 0 and out == mine[-1:], f"show {oid}: exit {rc}, {out}\n tail: {mine[-1]}")
        rc, out = show(prefix, oid, "--history")
        check(rc == 0 and out == mine, f"show {oid} --history: exit {rc}, {len(out)} records, "
              f"expected {len(mine)}")
    rc, out = show(prefix, "O-NO-SUCH-ORDER")
    check(rc == 3 and out == [], f"show of an unknown order: exit {rc}, {out}")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")


run(main)
