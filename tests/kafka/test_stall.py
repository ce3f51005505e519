"""A stalled instance (issue 10, point 3): orderd is stopped with SIGSTOP
while a transaction of its is open, for longer than its
transaction.timeout.ms (the daemons' 10 s; the test broker looks for timed
out transactions every second) but well within its session (45 s, the
daemons' own, so the group keeps it as a member). The broker aborts the
transaction and fences the producer (a new epoch); after SIGCONT the
daemon's next transactional call is refused, which librdkafka makes fatal.
The daemon must replace its producer (the same transactional.id), process
the aborted transaction's records again and go on in the same process:
greenlight_producer_recreations_total counts it, the log says
producer_recreated, and the status topic is exactly once (no transition
lost or duplicated, versions gapless, every order CLEARED in full) while a
producer keeps sending.

If a stall found no transaction of the daemon's open at the broker (the
daemon committed just before SIGSTOP), it is tried again, up to three
times. A producer fenced while its transaction was younger than the
timeout (a newer instance took the transactional id) still ends the
process: kafka.fencing."""
import sys

sys.dont_write_bytecode = True  # No __pycache__ in the source tree for the modules imported here.
from harness import *  # noqa: E402
from test_scale import Follower, Producer, audit  # noqa: E402

ORDERS = int(os.environ.get("GL_STALL_ORDERS", "160"))
STALL_S = 16  # Over transaction.timeout.ms (10 s) plus the broker's check interval (1 s).
RECREATIONS = "greenlight_producer_recreations_total"


def stall(od):
    """Stops the daemon for STALL_S with a transaction open (records processed
    since its last commit, commit.interval.ms being 2 s), then resumes it.
    Returns True if that cost it its producer, False if its next commit
    went through (nothing was open at the broker)."""
    recreated, commits = od.metric(RECREATIONS), od.metric("greenlight_commits_total")
    wait_until(lambda: od.metric("greenlight_uncommitted_records") > 0, 60, "a transaction open")
    os.kill(od.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(STALL_S)  # The stall is the stimulus, not a wait for something.
    finally:
        os.kill(od.proc.pid, signal.SIGCONT)
    wait_until(lambda: od.metric(RECREATIONS) > recreated or
               od.metric("greenlight_commits_total") > commits + 1, 90,
               "the daemon to replace its producer or commit after the stall")
    return od.metric(RECREATIONS) > recreated


def main():
    prefix = new_prefix("stall")
    make_topics(prefix)
    od = orderd(prefix, name="stall-orderd",
                extra=["--kafka.session.timeout.ms", "45000", "--commit.interval.ms", "2000"]).start()
    od.wait_ready(120)
    pid = od.proc.pid
    follower = Follower(prefix)
    producer = Producer(prefix, orders=ORDERS, timeout_ms=60000)
    wait_until(lambda: producer.sent >= ORDERS // 4 or producer.error, 180, f"{ORDERS // 4} orders sent")
    check(not producer.error, producer.error)
    attempts = 0
    while attempts < 3:
        attempts += 1
        if stall(od):
            break
    check(od.metric(RECREATIONS) >= 1,
          f"{attempts} stalls of {STALL_S} s never fenced the producer (no transaction open at the broker?)")
    producer.t.join(timeout=300)
    check(not producer.error and producer.sent == ORDERS, producer.error or "producer unfinished")
    wait_until(lambda: follower.count() >= ORDERS * 6, 180, "every status")
    od.wait_committed(0)
    follower.stop()
    f = audit(follower, ORDERS)
    check(audit_clean(f), f"not exactly once across the stall: {f}")
    check(od.alive() and od.proc.pid == pid and od.starts == 1, f"orderd was restarted or died (pid {pid})")
    lines = [l for l in od.log_text().splitlines()
             if '"event":"producer_recreated"' in l or '"event":"producer_fenced"' in l]
    check(any('"event":"producer_recreated"' in l for l in lines), "no producer_recreated in the log")
    recreations = int(od.metric(RECREATIONS))
    check(od.stop() == 0, "orderd did not exit 0 on SIGTERM")
    print(f"stalled {attempts} time(s) for {STALL_S} s; producers replaced: {recreations}", flush=True)
    for l in lines:
        print("    " + l[:400], flush=True)
    print(f"{f['records']} status records of {ORDERS} orders exactly once; orderd never restarted "
          f"(pid {pid})", flush=True)


run(main)
