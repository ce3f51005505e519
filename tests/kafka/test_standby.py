"""Standby replicas (issue 10, point 2): two orderd instances with
num.standby.replicas=1 each keep a warm copy of the other's partitions by
following their changelog partitions. When one is killed with kill -9, the
survivor takes its partitions over from the warm copies: its restore reads
only the changelog records the copies had not applied yet, not the whole
changelog, and the output stays exactly once.

Also checked: num.standby.replicas without the admin port is refused at
start (exit 2, naming the key), since standbys are placed through the
owners topic.

Printed, not asserted: the failover time (kill -9 to the first status of a
taken-over partition becoming visible) and each taken-over partition's
restore (records, ms)."""
import threading

from harness import *

ORDERS = int(os.environ.get("GL_STANDBY_ORDERS", "160"))
LATE = 40  # Orders produced after the kill.
T0 = 1767571200000
LIFECYCLE = ["ORDER_STATE_ACCEPTED", "ORDER_STATE_QUEUED", "ORDER_STATE_QUEUED",
             "ORDER_STATE_APPROVED", "ORDER_STATE_PARTIALLY_CLEARED", "ORDER_STATE_CLEARED"]


def order_id(i):
    return f"O-SB-{i:05d}"


def events(lo, hi):
    return [e for i in range(lo, hi)
            for e in lifecycle_events("SB", i, order_id(i), 1000 + i, T0 + i * 10, "standby")]


def owned_partitions(d):
    """The input partitions d owns, from its latest restore log lines."""
    code, body = d.get("/healthz")
    return json.loads(body).get("partitions", 0) if code == 200 else 0


def log_events(d, event):
    """The log records of this start of d with the given event."""
    text = d.log_text().split(f"--- start {d.starts} ---")[-1]
    out = []
    for line in text.splitlines():
        if f'"event":"{event}"' in line:
            out.append(json.loads(line))
    return out


def refused_without_http():
    p = subprocess.run([ORDERD, "-b", BOOTSTRAP, "--policy.file", POLICY, "--http.port", "-1",
                        "--num.standby.replicas", "1"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 2, f"num.standby.replicas without HTTP: exit {p.returncode}, want 2: {p.stderr[-600:]}")
    check("num.standby.replicas = 1" in p.stderr and "http.port" in p.stderr,
          f"the refusal names neither the key nor http.port: {p.stderr[-600:]}")


def main():
    refused_without_http()
    prefix = new_prefix("standby")
    make_topics(prefix)
    half = ORDERS // 2
    code, err = produce_at(BOOTSTRAP, prefix, events(0, half), transactional=True)
    check(code == 0, f"produce: {err[-600:]}")
    mk = lambda i: orderd(prefix, name=f"standby-{i}",
                          extra=["--instance.id", str(i), "--num.standby.replicas", "1"])
    d1, d2 = mk(1).start(), mk(2).start()
    wait_until(lambda: owned_partitions(d1) + owned_partitions(d2) == PARTITIONS and
               owned_partitions(d1) > 0 and owned_partitions(d2) > 0 and
               all(d.get("/readyz")[0] == 200 for d in (d1, d2)), 120,
               "two instances to share the partitions")
    # Orders while both run: each instance's copies follow the other's writes.
    code, err = produce_at(BOOTSTRAP, prefix, events(half, ORDERS), transactional=True)
    check(code == 0, f"produce: {err[-600:]}")
    statuses = lambda: tail(prefix, "greenlight.order-status")
    wait_until(lambda: len(statuses()) >= ORDERS * len(LIFECYCLE), 180, "every status of the first orders")
    # Each keeps a copy of every partition the other owns, following it.
    for d, other in ((d1, d2), (d2, d1)):
        wait_until(lambda: d.metric("greenlight_standby_partitions") == owned_partitions(other), 60,
                   f"{d.name} to keep a standby of each of {other.name}'s partitions")
    for d in (d1, d2):
        wait_until(lambda: d.metric("greenlight_standby_records_total") > 0, 60,
                   f"{d.name}'s standbys to apply the other's changelog records")

    victim, survivor = (d2, d1)
    taken_before = len(log_events(survivor, "standby_taken"))
    before_kill = len(log_events(survivor, "restore_done"))
    follower_seen = []
    stop = threading.Event()

    def follow():
        seen = set()
        while not stop.is_set():
            for r in statuses():
                k = (r["partition"], r["offset"])
                if k not in seen:
                    seen.add(k)
                    follower_seen.append((time.monotonic(), r))
            stop.wait(0.2)

    t_kill = time.monotonic()
    victim.kill9()
    code, err = produce_at(BOOTSTRAP, prefix, events(ORDERS, ORDERS + LATE), transactional=True)
    check(code == 0, f"produce after the kill: {err[-600:]}")
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    wait_until(lambda: owned_partitions(survivor) == PARTITIONS and
               survivor.get("/readyz")[0] == 200, 120, "the survivor to take every partition")
    wait_until(lambda: len(statuses()) >= (ORDERS + LATE) * len(LIFECYCLE), 180, "every status")
    stop.set()
    follower.join(timeout=30)

    # The taken-over partitions restored from the warm copies: only the tail.
    takes = log_events(survivor, "standby_taken")[taken_before:]
    restores = log_events(survivor, "restore_done")[before_kill:]
    check(takes, f"the survivor took no warm copy over: {restores}")
    # The victim's partitions came from standbys, the survivor's own from
    # the copies its revocation kept.
    victims = {int(r["msg"].split()[1].rstrip(":")) for r in takes if "a standby)" in r["msg"]}
    check(victims and len(victims) < PARTITIONS,
          f"no taken-over partition came from a standby: {[r['msg'] for r in takes]}")
    changelog = tail(prefix, "greenlight-orderd.orders.changelog", raw=True)
    per_part = {}
    for r in changelog:
        per_part[r["partition"]] = per_part.get(r["partition"], 0) + 1
    for r in restores:
        words = r["msg"].split()
        p, records, ms = int(words[1]), int(words[3]), words[-2]
        check(records < per_part.get(p, 0),
              f"partition {p} restored {records} records of {per_part.get(p, 0)}: not from its warm copy")
        print(f"partition {p}: restored {records} of its {per_part.get(p, 0)} changelog records "
              f"in {ms} ms (a warm copy)", flush=True)

    records = statuses()
    expected = {order_id(i): LIFECYCLE for i in range(ORDERS + LATE)}
    final = {order_id(i): dict(order_id=order_id(i), version=len(LIFECYCLE), units_cleared=1000 + i)
             for i in range(ORDERS + LATE)}
    f = audit_status(records, expected, final)
    check(audit_clean(f), f"not exactly once over a failover from standbys: {f}")
    firsts = [t for t, r in follower_seen if r["partition"] in victims]
    if firsts:
        print(f"failover: kill -9 to the first status of a taken-over partition {min(firsts) - t_kill:.2f} s "
              f"(session.timeout.ms 6000)", flush=True)
    print(f"{f['records']} status records, {ORDERS + LATE} orders, exactly once", flush=True)
    survivor.stop()


if __name__ == "__main__":
    run(main)
