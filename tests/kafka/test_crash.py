"""Crash: kill -9 the order daemon repeatedly while it works through a few
thousand orders, restarting it each time. At the end every order has
exactly one status record per applied event (versions 1..n, no loss, no
duplicate), and the state a fresh instance restores from the changelog
matches the last published status of every order. Under KIP-848's group
protocol a restart is refused until the killed member's session runs out
(harness: restart_after_kill restarts it, as a supervisor would)."""
import random

from harness import *

ORDERS = int(os.environ.get("GL_CRASH_ORDERS", "3000"))
KILLS = int(os.environ.get("GL_CRASH_KILLS", "5"))
T0 = 1767571200000
EXPECTED_STATES = ["ORDER_STATE_ACCEPTED", "ORDER_STATE_QUEUED", "ORDER_STATE_QUEUED",
                   "ORDER_STATE_APPROVED", "ORDER_STATE_PARTIALLY_CLEARED",
                   "ORDER_STATE_CLEARED"]


def workload_for(n):
    """Six events per order; each applies, so each yields one status record."""
    return [e for i in range(n)
            for e in lifecycle_events("C", i, f"O-C-{i:05d}", 100 + (i * 37) % 9000, T0 + i * 10,
                                      "crash-test")]


def check_workload_output(prefix, n_orders, timeout=300):
    """Waits for the status records of workload_for(n_orders) and checks them
    (read_committed): one per event, so exactly 6 per order (no loss, no
    duplicate), versions 1..6, the expected states. Returns them by order."""
    total = n_orders * 6

    def complete():
        recs = tail(prefix, "greenlight.order-status")
        return recs if len(recs) >= total else None
    recs = wait_until(complete, timeout, f"{total} status records", interval=1)
    check(len(recs) == total, f"expected {total} status records, got {len(recs)} (duplicates?)")
    orders = by_order(recs)
    check(len(orders) == n_orders, f"expected {n_orders} orders, got {len(orders)}")
    check_versions(orders)
    for oid, rs in orders.items():
        states = [r["state"] for r in rs]
        check(states == EXPECTED_STATES, f"order {oid}: states {states}")
    return orders


def main():
    rnd = random.Random(os.environ.get("GL_CRASH_SEED", "7"))
    prefix = new_prefix("crash")
    make_topics(prefix)
    produce(prefix, workload_for(ORDERS))
    total = ORDERS * 6
    d = orderd(prefix, extra=["--commit.max.records", "200"])
    for k in range(KILLS):
        d.start() if k == 0 else d.restart_after_kill()
        threshold = rnd.randrange(300, 2500)
        wait_until(lambda: d.metric("greenlight_records_processed_total") >= threshold, 120,
                   f"run {k + 1} to process {threshold} records")
        d.kill9()
    d.restart_after_kill()
    orders = check_workload_output(prefix, ORDERS)
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")

    # The changelog's last record per order is the last published status.
    last = {}
    for r in tail(prefix, "greenlight-orderd.orders.changelog", msg_type="greenlight.v1.OrderRecord"):
        if r["key"].startswith("\u0000") or "value" not in r:
            continue
        last[r["key"]] = r["value"]
    for oid, rs in orders.items():
        check(last.get(oid, {}).get("status") == rs[-1],
              f"order {oid}: changelog state {last.get(oid)} != last status {rs[-1]}")

    # A fresh instance restores the same state and serves it.
    d.start()
    d.wait_ready()
    for oid in rnd.sample(sorted(orders), 200):
        code, body = d.get(f"/orders/{oid}")
        check(code == 200, f"GET /orders/{oid}: {code} {body}")
        got, want = strip_defaults(json.loads(body)), orders[oid][-1]
        check(got == want, f"GET /orders/{oid}: {got} != last status {want}")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")
    print(f"crash: {ORDERS} orders, {total} status records, {KILLS} kill -9 restarts")


if __name__ == "__main__":
    run(main)
