"""The batch daemon end to end: the order daemon re-keys every OrderStatus by
batch onto greenlight-batchd.repartition, and greenlight-batchd publishes a
BatchStatus per change of a batch view to greenlight.batch-status.

Phase 1 plays the seed scenario and checks the final view of CN-2026-B1 and
of the "~waiting" view against expectations computed here from the seed file
and the counting rules written at the top of services/batchd/batch_view.c
(not from the daemon's output); the versions of every batch are 1..n with no
gap; GET /batches/{id} equals the last published record; a poison record on
the repartition topic goes to the DLQ. Phase 2 restarts the batch daemon
(state restored from its changelog), clears the rest of Alibaba's order and
queues a new order in a second batch whose cap it exceeds, and checks that
the versions continue, the over-cap flag, warning and gauge, and that a
second restart counts the over-cap batch again."""
from harness import *

SEED = os.path.join(SRC, "tests", "data", "seed.jsonl")
EXPECTED = os.path.join(SRC, "tests", "data", "seed.expected")
REPARTITION = "greenlight-batchd.repartition"
STATUS = "greenlight.batch-status"
B1, B2, WAITING = "CN-2026-B1", "CN-2026-B2", "~waiting"
GARBAGE_HEX = "ffffffff0f01deadbeef"


def payload(event):
    """The payload object of an Envelope in JSON (its only object-valued field)."""
    return next(v for v in event.values() if isinstance(v, dict))


def members(events, final_states):
    """Each order's final (state, batch, seq, cap, requested, effective, cleared)
    from the events and its known final state."""
    out = {}
    placed, grants = placed_and_grants(events)
    queued, cleared = {}, {}
    for e in events:
        if "batch_queued" in e:
            queued[e["batch_queued"]["order_id"]] = e["batch_queued"]
        elif "shipment_cleared" in e:
            s = e["shipment_cleared"]
            cleared[s["order_id"]] = cleared.get(s["order_id"], 0) + s["units"]
    for oid, state in final_states.items():
        q = queued.get(oid, {})
        approved = state in ("APPROVED", "PARTIALLY_CLEARED", "CLEARED", "EXPIRED")
        out[oid] = {"state": state, "batch": q.get("batch_id", ""), "seq": q.get("batch_seq", 0),
                    "cap": q.get("batch_unit_cap", 0), "requested": placed[oid]["units"],
                    "effective": effective(placed[oid], grants[oid]) if approved else 0,
                    "cleared": cleared.get(oid, 0)}
    return out


def expected_view(key, ms):
    """The counting rules of batch_view.c, applied to the members of one key."""
    if key == WAITING:
        mine = [m for m in ms.values() if m["state"] == "ACCEPTED"]
        seq, cap = 0, 0
    else:
        mine = [m for m in ms.values() if m["batch"] == key]
        caps = {(m["seq"], m["cap"]) for m in mine}
        check(len(caps) == 1, f"test data: batch {key} has several (seq, cap): {caps}")
        seq, cap = caps.pop()
    count = lambda *states: sum(1 for m in mine if m["state"] in states)
    approved = sum(m["effective"] for m in mine
                   if m["state"] in ("APPROVED", "PARTIALLY_CLEARED", "CLEARED"))
    return {"batch_id": "" if key == WAITING else key, "batch_seq": seq, "unit_cap": cap,
            "orders_queued": count("QUEUED"),
            "orders_approved": count("APPROVED", "PARTIALLY_CLEARED"),
            "orders_denied": count("DENIED"), "orders_cleared": count("CLEARED"),
            "units_requested": sum(m["requested"] for m in mine),
            "units_approved": approved, "units_cleared": sum(m["cleared"] for m in mine),
            "over_cap": cap > 0 and approved > cap,
            "orders_waiting": len(mine) if key == WAITING else 0}


def view_of(value):
    """The fields of a published BatchStatus that expected_view() predicts."""
    v = dict(value)
    out = {k: v.get(k, 0) for k in ("batch_seq", "unit_cap", "orders_queued", "orders_approved",
                                     "orders_denied", "orders_cleared", "units_requested",
                                     "units_approved", "units_cleared", "orders_waiting")}
    out = {k: int(x) for k, x in out.items()}
    out["batch_id"] = v.get("batch_id", "")
    out["over_cap"] = bool(v.get("over_cap", False))
    return out


def batch_records(prefix):
    recs = tail(prefix, STATUS)
    for r in recs:
        check(r.get("type") == "greenlight.v1.BatchStatus" and "value" in r,
              f"batch-status record not a decodable BatchStatus: {r}")
    return recs


def wait_views(prefix, want, what):
    """Waits until the last record of each key in want shows the wanted view."""
    def ready():
        last = {}
        for r in batch_records(prefix):
            last[r["key"]] = r
        ok = all(k in last and view_of(last[k]["value"]) == v for k, v in want.items())
        return last if ok else None
    try:
        return wait_until(ready, 90, what)
    except AssertionError:
        last = {r["key"]: view_of(r["value"]) for r in batch_records(prefix)}
        fail(f"{what}: expected {want}\n got {last}")


def wait_quiet(prefix, od, bd, n_orderd, bd_base):
    """Waits until orderd committed its inputs and batchd every repartition
    record after the bd_base ones it had committed before its last start."""
    od.wait_committed(n_orderd)
    bd.wait_committed(len(tail(prefix, REPARTITION)) - bd_base)


def check_stamps(prefix, topic):
    """Every OrderStatus on topic is stamped with the event time of its cause."""
    recs = [r for r in tail(prefix, topic) if r.get("value_hex") != GARBAGE_HEX]
    for r in recs:
        check("cause" in r.get("value", {}), f"{topic}: not an OrderStatus with a cause: {r}")
        t = int(r["value"]["cause"]["occurred_at_ms"])
        check(r["timestamp_ms"] == t, f"{topic} {r['key']} v{r['value']['version']}: timestamp "
              f"{r['timestamp_ms']} is not its cause's event time {t}")
    return recs


def check_log(prefix):
    """Versions 1..n per batch, and each record stamped with its event time."""
    check_stamps(prefix, "greenlight.order-status")
    check_stamps(prefix, REPARTITION)
    recs = batch_records(prefix)
    check_versions(by_order(recs))
    for r in recs:
        check(r["timestamp_ms"] == int(r["value"].get("updated_at_ms", 0)),
              f"{r['key']} v{r['value'].get('version')}: timestamp {r['timestamp_ms']} is not "
              f"updated_at_ms {r['value'].get('updated_at_ms')}")
    return recs


def check_get(bd, key, last):
    """GET /batches/{key} returns exactly the last published record."""
    code, body = bd.get(f"/batches/{key}")
    check(code == 200, f"GET /batches/{key}: {code} {body}")
    got = json.loads(body)
    check(got.get("version") is not None and "orders_waiting" in got,
          f"GET /batches/{key} does not emit defaults: {got}")
    check(strip_defaults(got) == strip_defaults(last["value"]),
          f"GET /batches/{key} = {got}\n last published = {last['value']}")


def main():
    with open(SEED) as f:
        events = [json.loads(l) for l in f if l.strip()]
    with open(EXPECTED) as f:
        final = {l.split()[0]: l.split()[-1].replace("ORDER_STATE_", "") for l in f if l.strip()}
    prefix = new_prefix("batch")
    make_topics(prefix)
    od = orderd(prefix, name="batch-orderd").start()
    bd = batchd(prefix, name="batch-batchd").start()
    # In one transaction, as the README asks of upstream systems that need
    # the live order across topics: produced record by record, a later
    # topic's batch can be appended after another's later-stamped records,
    # and nothing can wait for a record not appended yet.
    produce(prefix, events, transactional=True)

    # Phase 1: the seed. Baidu waits; B1 holds ByteDance (CLEARED), Alibaba
    # (PARTIALLY_CLEARED) and Tencent (EXPIRED: a member in no order count).
    ms = members(events, final)
    want = {B1: expected_view(B1, ms), WAITING: expected_view(WAITING, ms)}
    check(want[B1]["batch_seq"] == 1 and want[B1]["unit_cap"] == 450000 and
          want[WAITING]["orders_waiting"] == 1, f"test data: unexpected seed views {want}")
    wait_views(prefix, want, "the seed's batch views")
    wait_quiet(prefix, od, bd, count_inputs(prefix), 0)
    recs = check_log(prefix)
    last = {}
    for r in recs:
        last[r["key"]] = r
    check(set(last) == {B1, WAITING}, f"batch-status keys {sorted(last)}")
    for k, v in want.items():
        check(view_of(last[k]["value"]) == v, f"{k}: final view {last[k]['value']}, expected {v}")
    # updated_at_ms is the event time of the change's cause: an event of one
    # of B1's orders or the tick. Which one comes last is not fixed: each
    # partition of the order daemon writes the repartition topic on its own.
    b1_orders = {oid for oid, m in ms.items() if m["batch"] == B1}
    b1_times = {e["occurred_at_ms"] for e in events
                if "tick" in e or payload(e).get("order_id") in b1_orders}
    for r in recs:
        if r["key"] == B1:
            check(int(r["value"]["updated_at_ms"]) in b1_times,
                  f"B1 v{r['value']['version']}: updated_at_ms {r['value']['updated_at_ms']} is "
                  f"the time of no event of its orders")
    v1 = {k: int(r["value"]["version"]) for k, r in last.items()}
    check_get(bd, B1, last[B1])
    check_get(bd, WAITING, last[WAITING])
    check_get(bd, "%7Ewaiting", last[WAITING])
    code, body = bd.get("/batches/CN-2099-NONE")
    check(code == 404 and "no such batch" in body, f"GET of an unknown batch: {code} {body}")
    check(bd.metric("greenlight_batches_over_cap") == 0, "a seed batch counted as over cap")

    # A record that is not an OrderStatus goes to the DLQ and stalls nothing.
    produce(prefix, [{"topic": REPARTITION, "key": B1, "value_hex": GARBAGE_HEX}])
    dlq = wait_until(lambda: tail(prefix, "greenlight.dlq"), 60, "the poison record in the DLQ")
    h = dlq[0]["headers"]
    check(len(dlq) == 1 and h["dlq.reason"] == "decode_error" and
          h["dlq.topic"] == prefix + REPARTITION and dlq[0]["value_hex"] == GARBAGE_HEX,
          f"DLQ: {dlq}")

    # Phase 2: a restart restores the views; new changes continue the versions.
    check(bd.stop() == 0, "batchd did not exit 0 on SIGTERM")
    bd_base = len(tail(prefix, REPARTITION))  # All processed and committed by the stop.
    bd.start()
    wait_until(lambda: bd.get(f"/batches/{B1}")[0] == 200, 60, "batchd to restore B1")
    check_get(bd, B1, last[B1])
    t = max(e["occurred_at_ms"] for e in events) + 60000
    more = [
        {"event_id": "E-B-1", "occurred_at_ms": t, "source": "customs.shenzhen",
         "shipment_cleared": {"order_id": "O-ALI-1", "shipment_id": "CUS-SZ-2026-050001",
                              "units": 70000, "customs_office": "Shenzhen Qianhai"}},
        {"event_id": "E-B-2", "occurred_at_ms": t + 1000, "source": "erp.kuaishou",
         "order_placed": {"order_id": "O-KS-1", "buyer_id": "kuaishou", "buyer_name": "Kuaishou",
                          "product": "NVIDIA H200", "units": 1000, "end_use": "END_USE_AI_RESEARCH",
                          "domestic_units_committed": 1000}},
        {"event_id": "E-B-3", "occurred_at_ms": t + 2000, "source": "mofcom.import-approval",
         "batch_queued": {"order_id": "O-KS-1", "batch_id": B2, "batch_seq": 2, "position": 1,
                          "batch_unit_cap": 500}},
        {"event_id": "E-B-4", "occurred_at_ms": t + 3000, "source": "bis.export-licensing",
         "approval_granted": {"order_id": "O-KS-1", "approval_id": "BIS-L-2026-00400",
                              "authority": "AUTHORITY_US_EXPORT_LICENSE", "units_approved": 1000}},
        {"event_id": "E-B-5", "occurred_at_ms": t + 4000, "source": "mofcom.import-approval",
         "approval_granted": {"order_id": "O-KS-1", "approval_id": "MOFCOM-IA-2026-B2-001",
                              "authority": "AUTHORITY_CN_IMPORT_APPROVAL", "units_approved": 1000,
                              "batch_id": B2}},
    ]
    # Kuaishou's import approval arrives before its order is queued, in a
    # record of its own, and waits parked: the BatchQueued that frees it is
    # processed after it, though its event time is earlier. The approval is
    # then applied with its own event time (t + 4000) as cause and timestamp.
    early = [e for e in more if e["event_id"] != "E-B-3"]
    produce(prefix, early)
    od.wait_committed(count_inputs(prefix))
    produce(prefix, [e for e in more if e["event_id"] == "E-B-3"])
    final2 = dict(final, **{"O-ALI-1": "CLEARED", "O-KS-1": "APPROVED"})
    ms2 = members(events + more, final2)
    want2 = {k: expected_view(k, ms2) for k in (B1, B2, WAITING)}
    check(want2[B2]["over_cap"] and not want2[B1]["over_cap"],
          f"test data: B2 should be over its cap: {want2}")
    wait_views(prefix, want2, "the views after phase 2")
    wait_quiet(prefix, od, bd, count_inputs(prefix), bd_base)
    recs = check_log(prefix)
    for r in recs:
        last[r["key"]] = r
    ks = [r["value"] for r in tail(prefix, "greenlight.order-status") if r["key"] == "O-KS-1"]
    check([(s["state"], s["cause"]["event_id"]) for s in ks[-2:]] ==
          [("ORDER_STATE_QUEUED", "E-B-3"), ("ORDER_STATE_APPROVED", "E-B-5")],
          f"Kuaishou's parked approval was not applied after its BatchQueued: {ks}")
    # One change for B1 (Alibaba cleared), two for ~waiting (Kuaishou in, then out).
    check(int(last[B1]["value"]["version"]) == v1[B1] + 1 and
          int(last[WAITING]["value"]["version"]) == v1[WAITING] + 2,
          f"versions after phase 2: B1 {last[B1]['value']['version']} (expected {v1[B1]} + 1), "
          f"~waiting {last[WAITING]['value']['version']} (expected {v1[WAITING]} + 2)")
    for k in (B1, B2, WAITING):
        check_get(bd, k, last[k])
        rc, out = show(prefix, k, "--batch")
        check(rc == 0 and out == [last[k]], f"show {k} --batch: exit {rc}, {out}")
    check(bd.metric("greenlight_batches_over_cap") == 1, "B2 is not counted as over cap")
    check('"event":"batch_over_cap"' in bd.log_text() and B2 in bd.log_text(),
          "no batch_over_cap warning for B2 in the batchd log")

    # A second restart counts the over-cap batch again from the changelog.
    check(bd.stop() == 0, "batchd did not exit 0 on SIGTERM")
    bd.start()
    wait_until(lambda: bd.get(f"/batches/{B2}")[0] == 200, 60, "batchd to restore B2")
    wait_until(lambda: bd.metric("greenlight_batches_over_cap") == 1, 30,
               "the over-cap gauge to be restored")
    check_get(bd, B2, last[B2])
    check(len(tail(prefix, "greenlight.dlq")) == 1, "unexpected DLQ records")
    check(bd.stop() == 0, "batchd did not exit 0 on SIGTERM")
    check(od.stop() == 0, "orderd did not exit 0 on SIGTERM")


run(main)
