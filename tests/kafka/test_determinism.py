"""Determinism (SPEC §6, §8): a recorded input log, ticks included, fed to a
fresh consumer group and fresh output topics twice, yields two status logs
that are byte-identical — values, keys, partitions, order and timestamps —
and identical to the log of the live run that first processed it. The same
holds for the dead-letter topic and the batch repartition topic.

The log is the seed scenario plus events that exercise the deadline paths:
a parked approval for an order never placed (expires after the park TTL),
a duplicate event id, a cancellation, and ticks weeks later (tombstones)."""
from harness import *

SEED = os.path.join(SRC, "tests", "data", "seed.jsonl")
DAY = 86400000


def extra_events(t_end):
    ev = lambda i, t, body: {"event_id": f"E-D-{i}", "occurred_at_ms": t, "source": "test", **body}
    return [
        ev(1, t_end - 20 * DAY, {"approval_granted": {
            "order_id": "O-GHOST-1", "approval_id": "US-GHOST", "units_approved": 5,
            "authority": "US_EXPORT_LICENSE"}}),
        # A duplicate of the seed's first event (same event_id): a no-op.
        None,
        ev(2, t_end + 1 * DAY, {"order_cancelled": {"order_id": "O-BAIDU-1", "reason": "budget"}}),
        ev(3, t_end + 9 * DAY, {"tick": {"clock_id": "test"}}),
        ev(4, t_end + 45 * DAY, {"tick": {"clock_id": "test"}}),
    ]


def snapshot(prefix, topic):
    """Every record of topic as (partition, index in partition, key, timestamp,
    value bytes, headers). The index replaces the offset: transaction commit
    markers take offsets too, and where a run commits depends on timing, not
    on the input, so offsets may differ while the records do not. tail
    interleaves partitions as they arrive, so records are sorted first."""
    recs = sorted((r["partition"], r["offset"], r["key"], r["timestamp_ms"], r.get("value_hex"),
                   sorted(r.get("headers", {}).items())) for r in tail(prefix, topic, raw=True))
    index = {}
    out = []
    for p, _, *rest in recs:
        index[p] = index.get(p, -1) + 1
        out.append((p, index[p], *rest))
    return out


def order_id_of(value_hex):
    """OrderStatus.order_id (field 1, the first field written) of a record value."""
    b = bytes.fromhex(value_hex)
    check(b[0] == 0x0a and b[1] < 0x80, "OrderStatus does not start with order_id")
    return b[2:2 + b[1]].decode()


def run_orderd(prefix, name, suffix, n_inputs):
    extra = []
    if suffix:
        extra = ["--app.id", f"greenlight-orderd{suffix}",
                 # By name, in the other order: a mix-up of the outputs
                 # would show as a difference from the first run.
                 "--output.topics", f"repartition=greenlight-batchd.repartition{suffix},"
                                    f"status=greenlight.order-status{suffix}",
                 "--dlq.topic", f"greenlight.dlq{suffix}"]
    d = orderd(prefix, name=name, extra=extra).start()
    d.wait_committed(n_inputs)
    check(d.stop() == 0, f"{name} did not exit 0 on SIGTERM")
    return {t: snapshot(prefix, f"{t}{suffix}")
            for t in ("greenlight.order-status", "greenlight.dlq", "greenlight-batchd.repartition")}


def main():
    with open(SEED) as f:
        events = [json.loads(l) for l in f if l.strip()]
    t_end = max(e["occurred_at_ms"] for e in events)
    log = events[:10] + [e if e else events[0] for e in extra_events(t_end)[:2]] + events[10:] + \
        extra_events(t_end)[2:]
    prefix = new_prefix("determinism")
    replays = ("-replay-1", "-replay-2")
    make_topics(prefix, extra=[t for s in replays for t in (
        f"greenlight.order-status{s}", f"greenlight.dlq{s}", f"greenlight-batchd.repartition{s}",
        f"greenlight-orderd{s}.orders.changelog:compact", f"greenlight-orderd{s}.owners:compact:1")])

    # The live run: the daemon is already running, with every partition
    # assigned, restored and at its end, when the recorded log arrives in
    # one upstream transaction. The commit markers land partition by
    # partition and each wakes a fetch, so the inputs' records arrive in
    # separate fetches; the merge must still take them in event-time order
    # (an input whose high watermark moved past its end is not caught up).
    live = orderd(prefix, name="orderd-live").start()
    live.wait_ready(60)
    produce(prefix, log, transactional=True)
    n_inputs = count_inputs(prefix)
    live.wait_committed(n_inputs)
    check(live.stop() == 0, "the live orderd did not exit 0 on SIGTERM")
    live_out = {t: snapshot(prefix, t)
                for t in ("greenlight.order-status", "greenlight.dlq", "greenlight-batchd.repartition")}

    reasons = sorted(dict(h)["dlq.reason"] for *_, h in live_out["greenlight.dlq"])
    check("expired_unmatched" in reasons, f"the parked approval did not expire: DLQ reasons {reasons}")
    states = {r[2]: r for r in live_out["greenlight.order-status"]}
    # The seed's records (tests/data/seed.expected) plus Baidu's cancellation.
    with open(os.path.join(SRC, "tests", "data", "seed.expected")) as f:
        want_status = sum(len(l.split()) - 1 for l in f if l.strip()) + 1
    n_status = len(live_out["greenlight.order-status"])
    check(n_status == want_status, f"live run: {n_status} status records, expected {want_status}")

    outs = [run_orderd(prefix, f"orderd{s}", s, n_inputs) for s in replays]
    # The repartition topic is keyed by batch: one of its partitions gathers
    # records from several order partitions, interleaved by scheduling. What
    # must be identical there is each order partition's subsequence, and the
    # cause's input partition (in the value) identifies it: compare records
    # grouped by (partition, key, order key of the input) in their order.
    for o in [live_out] + outs:
        o["greenlight-batchd.repartition"] = sorted(
            o["greenlight-batchd.repartition"],
            key=lambda r: (r[0], r[2], order_id_of(r[4]), r[1]))
        o["greenlight-batchd.repartition"] = [(r[0], 0, *r[2:]) for r in o["greenlight-batchd.repartition"]]
    for topic, want in live_out.items():
        for s, out in zip(replays, outs):
            got = out[topic]
            if got != want and os.environ.get("GL_DEBUG_DIR"):
                for name, recs in (("live", want), ("replay", got)):
                    with open(os.path.join(os.environ["GL_DEBUG_DIR"], f"{topic}{s}.{name}"), "w") as f:
                        for r in recs:
                            f.write(f"{r[0]} {r[1]} {r[2]} {r[3]} {r[4][:400]}\n")
            check(len(got) == len(want), f"{topic}{s}: {len(got)} records, live had {len(want)}")
            for a, b in zip(got, want):
                check(a == b, f"{topic}{s}: first difference at partition {a[0]}, record {a[1]}:\n"
                              f"  replay {a}\n  live   {b}")
    print(f"determinism: {n_inputs} input records; "
          + ", ".join(f"{t} {len(v)} records" for t, v in live_out.items())
          + f"; identical in 2 replays ({len(states)} keys)")


run(main)
