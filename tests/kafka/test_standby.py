"""Standby replicas (issue 10, point 2): two orderd instances with
num.standby.replicas=1. Instance 1 starts alone and owns every partition;
instance 2 joins, takes half, and keeps a standby copy of each partition
instance 1 keeps (it never owned them: its copies are the placement's,
started from the changelog's beginning and following it). Every order
gets its first four events (placed .. APPROVED) while both run. Then
instance 1 is killed with kill -9, and every order gets its two clearances:
the survivor can only publish versions 5 and 6 of an order right if the
state it took over holds versions 4. Checked:
  - the survivor took each of instance 1's partitions from a standby
    (standby_taken with standby 1), and its restore read fewer changelog
    records than the partition holds: only the tail its copy lacked;
  - the status topic is exactly once, versions gapless, every order
    CLEARED in full (also 40 orders placed after the kill);
  - num.standby.replicas without the admin port is refused at start (exit
    2, naming the key), since standbys are placed through the owners topic.
Printed, not asserted: the failover time (kill -9 to the first status of a
taken-over partition) and each taken-over partition's restore."""
import threading

from harness import *

ORDERS = int(os.environ.get("GL_STANDBY_ORDERS", "160"))
LATE = 40  # Orders placed after the kill.
T0 = 1767571200000
LIFECYCLE = ["ORDER_STATE_ACCEPTED", "ORDER_STATE_QUEUED", "ORDER_STATE_QUEUED",
             "ORDER_STATE_APPROVED", "ORDER_STATE_PARTIALLY_CLEARED", "ORDER_STATE_CLEARED"]
BEFORE = 4  # Events per order before the kill: up to APPROVED.


def order_id(i):
    return f"O-SB-{i:05d}"


def events(lo, hi, part):
    """Order i's events: part "before" (the first four), "after" (the two
    clearances) or "all"."""
    cut = {"before": slice(0, BEFORE), "after": slice(BEFORE, None), "all": slice(None)}[part]
    return [e for i in range(lo, hi)
            for e in lifecycle_events("SB", i, order_id(i), 1000 + i, T0 + i * 10, "standby")[cut]]


def owned_partitions(d):
    """How many input partition groups d owns, from its /healthz."""
    code, body = d.get("/healthz")
    return json.loads(body).get("partitions", 0) if code == 200 else 0


def log_events(d, event):
    """The log records of this start of d with the given event."""
    text = d.log_text().split(f"--- start {d.starts} ---")[-1]
    return [json.loads(line) for line in text.splitlines() if f'"event":"{event}"' in line]


def refused_without_http():
    p = subprocess.run([ORDERD, "-b", BOOTSTRAP, "--policy.file", POLICY, "--http.port", "-1",
                        "--num.standby.replicas", "1"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 2, f"num.standby.replicas without HTTP: exit {p.returncode}, want 2: {p.stderr[-600:]}")
    check("num.standby.replicas = 1" in p.stderr and "http.port" in p.stderr,
          f"the refusal names neither the key nor http.port: {p.stderr[-600:]}")


def produce_ok(prefix, evs):
    code, err = produce_at(BOOTSTRAP, prefix, evs, transactional=True)
    check(code == 0, f"produce: {err[-600:]}")


def main():
    refused_without_http()
    prefix = new_prefix("standby")
    make_topics(prefix)
    half = ORDERS // 2
    produce_ok(prefix, events(0, half, "before"))
    mk = lambda i: orderd(prefix, name=f"standby-{i}",
                          extra=["--instance.id", str(i), "--num.standby.replicas", "1"])
    d1 = mk(1).start()
    wait_until(lambda: owned_partitions(d1) == PARTITIONS and d1.get("/readyz")[0] == 200, 120,
               "instance 1 to own every partition")
    d2 = mk(2).start()
    wait_until(lambda: owned_partitions(d1) > 0 and owned_partitions(d2) > 0 and
               owned_partitions(d1) + owned_partitions(d2) == PARTITIONS and
               all(d.get("/readyz")[0] == 200 for d in (d1, d2)), 120,
               "two instances to share the partitions")
    # Orders while both run: the standbys follow the owners' writes.
    produce_ok(prefix, events(half, ORDERS, "before"))
    statuses = lambda: tail(prefix, "greenlight.order-status")
    wait_until(lambda: len(statuses()) >= ORDERS * BEFORE, 180, "every status up to APPROVED")
    wait_until(lambda: d2.metric("greenlight_standby_partitions") == owned_partitions(d1) and
               d2.metric("greenlight_standby_lag_records") == 0, 60,
               "instance 2 to keep a caught-up standby of each of instance 1's partitions")
    check(d2.metric("greenlight_standby_records_total") > 0, "instance 2's standbys applied no record")
    # Instance 1's partitions: those instance 2 does not own; instance 2 never
    # owned them, so its copies of them are the placement's.
    mine = {r["partition"] for r in log_events(d2, "restore_done")}
    victims = set(range(PARTITIONS)) - mine
    started = {r["partition"] for r in log_events(d2, "standby_start")}
    check(victims and victims <= started,
          f"instance 2 started no standby of instance 1's partitions {sorted(victims)}: {sorted(started)}")

    taken_before = len(log_events(d2, "standby_taken"))
    done_before = len(log_events(d2, "restore_done"))
    seen, stop = [], threading.Event()
    known = {(r["partition"], r["offset"]) for r in statuses()}  # Visible before the kill.

    def follow():
        while not stop.is_set():
            for r in statuses():
                if (r["partition"], r["offset"]) not in known:
                    known.add((r["partition"], r["offset"]))
                    seen.append((time.monotonic(), r["partition"]))
            stop.wait(0.2)

    t_kill = time.monotonic()
    d1.kill9()
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    produce_ok(prefix, events(0, ORDERS, "after") + events(ORDERS, ORDERS + LATE, "all"))
    wait_until(lambda: owned_partitions(d2) == PARTITIONS and d2.get("/readyz")[0] == 200, 120,
               "the survivor to take every partition")
    total = (ORDERS + LATE) * len(LIFECYCLE)
    wait_until(lambda: len(statuses()) >= total, 180, "every status")
    stop.set()
    follower.join(timeout=30)

    takes = {r["partition"]: r for r in log_events(d2, "standby_taken")[taken_before:]}
    restores = {r["partition"]: r for r in log_events(d2, "restore_done")[done_before:]}
    per_part = {}
    for r in tail(prefix, "greenlight-orderd.orders.changelog", raw=True):
        per_part[r["partition"]] = per_part.get(r["partition"], 0) + 1
    for p in sorted(victims):
        check(p in takes and takes[p]["standby"] == 1,
              f"partition {p} was not taken from a standby: {takes.get(p)}")
        check(p in restores, f"partition {p}: no restore after the kill")
        records = restores[p]["records"]
        check(records < per_part.get(p, 0),
              f"partition {p} restored {records} of its {per_part.get(p, 0)} changelog records: "
              "not only the tail")
        print(f"partition {p}: taken from its standby at offset {takes[p]['offset']}; restored "
              f"{records} of {per_part.get(p, 0)} changelog records in {restores[p]['duration_ms']} ms",
              flush=True)

    records = statuses()
    expected = {order_id(i): LIFECYCLE for i in range(ORDERS + LATE)}
    final = {order_id(i): dict(order_id=order_id(i), version=len(LIFECYCLE), units_cleared=1000 + i)
             for i in range(ORDERS + LATE)}
    f = audit_status(records, expected, final)
    check(audit_clean(f), f"not exactly once over a failover from standbys: {f}")
    firsts = [t for t, p in seen if p in victims]
    if firsts:
        print(f"failover: kill -9 to the first status of a taken-over partition {min(firsts) - t_kill:.2f} s "
              f"(session.timeout.ms 6000)", flush=True)
    print(f"{f['records']} status records, {ORDERS + LATE} orders, exactly once", flush=True)
    check(d2.stop() == 0, "the survivor did not exit 0 on SIGTERM")


if __name__ == "__main__":
    run(main)
