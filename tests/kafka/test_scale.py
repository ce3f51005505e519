"""Many instances under load (issue 10, point 1): orderd runs as 1 -> 3 -> 1
instances while a producer keeps sending orders in small upstream
transactions:
  1. instance 1 alone;
  2. instances 2 and 3 join (a rebalance);
  3. instance 2 is killed with kill -9 (its partitions move once its
     session, 6 s here, runs out);
  4. instance 3 stops with SIGTERM (a static member does not leave the
     group: the same wait);
  5. instance 1 alone again, until every order is done.
At the end the status topic is exactly once: no transition lost or
duplicated, versions gapless, every order CLEARED in full.

The longest processing pause any partition saw during each rebalance is
measured and printed, not asserted (a figure, not a timed test): a
follower (`greenlight tail`, read_committed) notes when each status record
becomes visible, and a partition's pause in a window is its longest gap
between two visible records that spans part of the window."""
import threading

from harness import *

LIFECYCLE = ["ORDER_STATE_ACCEPTED", "ORDER_STATE_QUEUED", "ORDER_STATE_QUEUED",
             "ORDER_STATE_APPROVED", "ORDER_STATE_PARTIALLY_CLEARED", "ORDER_STATE_CLEARED"]
ORDERS = int(os.environ.get("GL_SCALE_ORDERS", "240"))
BATCH = 4  # Orders per upstream transaction.
T0 = 1767571200000


def order_id(i):
    return f"O-SC-{i:05d}"


class Follower:
    """`greenlight tail` of the status topic, following: (monotonic time,
    partition, key, value) of every record as it becomes visible."""

    def __init__(self, prefix, bootstrap=BOOTSTRAP):
        self.seen = []
        self.lock = threading.Lock()
        self.p = register_process(subprocess.Popen(
            [CLI, "tail", "greenlight.order-status", "-b", bootstrap, "--prefix", prefix,
             "--from-beginning"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        self.t = threading.Thread(target=self.read, daemon=True)
        self.t.start()

    def read(self):
        for line in self.p.stdout:
            if line.strip():
                r = json.loads(line)
                with self.lock:
                    self.seen.append((time.monotonic(), r["partition"], r))

    def count(self):
        with self.lock:
            return len(self.seen)

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)
        self.t.join(timeout=30)


class Producer:
    """Sends BATCH orders' events per upstream transaction until all `orders`
    are sent, each transaction given timeout_ms; notes (start, end) of each
    transaction in self.txns (monotonic times)."""

    def __init__(self, prefix, bootstrap=BOOTSTRAP, orders=ORDERS, timeout_ms=30000):
        self.prefix, self.bootstrap, self.orders, self.timeout_ms = prefix, bootstrap, orders, timeout_ms
        self.sent, self.error, self.txns = 0, None, []
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        for start in range(0, self.orders, BATCH):
            events = [e for i in range(start, min(start + BATCH, self.orders))
                      for e in lifecycle_events("SC", i, order_id(i), 1000 + i, T0 + i * 10, "scale")]
            t = time.monotonic()
            code, err = produce_at(self.bootstrap, self.prefix, events, transactional=True,
                                   timeout_ms=self.timeout_ms)
            if code != 0:
                self.error = f"produce exit {code}: {err[-800:]}"
                return
            self.txns.append((t, time.monotonic()))
            self.sent = min(start + BATCH, self.orders)


def audit(follower, orders):
    """audit_status() of what the follower saw against the Producer's first
    `orders` orders: each CLEARED in full at version 6."""
    expected = {order_id(i): LIFECYCLE for i in range(orders)}
    final = {order_id(i): dict(order_id=order_id(i), version=len(LIFECYCLE), units_cleared=1000 + i)
             for i in range(orders)}
    return audit_status([r for _, _, r in follower.seen], expected, final)


def owned(ds):
    """Partitions owned by the live instances, from /healthz."""
    total = 0
    for d in ds:
        if d.alive():
            code, body = d.get("/healthz")
            total += json.loads(body).get("partitions", 0) if code == 200 else 0
    return total


def pauses(seen, windows):
    """For each (name, start, end): the longest gap between two visible
    records of one partition that spans part of [start, end], and its
    partition; and each partition's longest such gap (a partition that
    kept its owner pauses little when the rebalance is incremental)."""
    by_part = {}
    for t, p, _ in seen:
        by_part.setdefault(p, []).append(t)
    out = []
    for name, start, end in windows:
        each = {p: max([b - a for a, b in zip(ts, ts[1:]) if b > start and a < end], default=0.0)
                for p, ts in sorted(by_part.items())}
        part = max(each, key=each.get) if each else None
        out.append((name, each.get(part, 0.0), part, end - start, each))
    return out


def main():
    prefix = new_prefix("scale")
    make_topics(prefix)
    mk = lambda i: orderd(prefix, name=f"scale-{i}", extra=["--instance.id", str(i)])
    d1 = mk(1).start()
    d1.wait_ready(120)
    follower = Follower(prefix)
    producer = Producer(prefix)
    wait_until(lambda: follower.count() >= 100 or producer.error, 120, "the first 100 statuses")
    check(not producer.error, producer.error)

    windows = []
    t = time.monotonic()
    d2, d3 = mk(2).start(), mk(3).start()
    wait_until(lambda: d2.alive() and d3.alive() and owned([d1, d2, d3]) == PARTITIONS and
               all(d.get("/readyz")[0] == 200 for d in (d1, d2, d3)), 120,
               "three instances to share the partitions")
    windows.append(("1 -> 3 (two join)", t, time.monotonic()))
    check(all(json.loads(d.get("/healthz")[1])["partitions"] > 0 for d in (d1, d2, d3)),
          "an instance of three owns no partition")

    n = follower.count()
    wait_until(lambda: follower.count() >= n + 100 or producer.error, 120, "100 statuses on three")
    t = time.monotonic()
    d2.kill9()
    wait_until(lambda: owned([d1, d3]) == PARTITIONS and
               all(d.get("/readyz")[0] == 200 for d in (d1, d3)), 120,
               "the two left to take instance 2's partitions")
    windows.append(("3 -> 2 (kill -9)", t, time.monotonic()))

    n = follower.count()
    wait_until(lambda: follower.count() >= n + 100 or producer.sent == ORDERS or producer.error,
               120, "100 statuses on two")
    t = time.monotonic()
    check(d3.stop() == 0, "instance 3 did not exit 0 on SIGTERM")
    wait_until(lambda: owned([d1]) == PARTITIONS and d1.get("/readyz")[0] == 200, 120,
               "instance 1 to take every partition")
    windows.append(("2 -> 1 (SIGTERM)", t, time.monotonic()))

    producer.t.join(timeout=600)
    check(not producer.error and producer.sent == ORDERS, producer.error or "producer unfinished")
    wait_until(lambda: follower.count() >= ORDERS * len(LIFECYCLE), 300, "every status")
    d1.wait_committed(0)
    follower.stop()
    f = audit(follower, ORDERS)
    check(audit_clean(f), f"not exactly once over 1 -> 3 -> 1: {f}")
    for name, gap, part, length, each in pauses(follower.seen, windows):
        print(f"rebalance {name}, group.protocol={GROUP_PROTOCOL}: took {length:.1f} s; "
              f"longest pause of a partition {gap:.2f} s (partition {part}); by partition "
              + ", ".join(f"{p}: {g:.2f} s" for p, g in each.items()), flush=True)
    print(f"{f['records']} status records, {ORDERS} orders, exactly once "
          f"(other path: {f['other_path']})", flush=True)
    d1.stop()


if __name__ == "__main__":
    run(main)
