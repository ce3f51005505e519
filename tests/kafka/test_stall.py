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
times.

Then the same instance is stalled again, and a newer instance with the
same instance.id starts meanwhile, takes the group membership and the
transactional id (which fences the stalled one's producer) and processes.
The stalled one's transaction outlived the timeout too, but it is a real
zombie now: once resumed it must not take the transactional id back
(which would fence its successor) but exit 1 saying it was fenced, while
the successor goes on; the status topic stays exactly once. (A producer
fenced while its transaction was younger than the timeout is never
replaced: kafka.fencing.)"""
import sys

sys.dont_write_bytecode = True  # No __pycache__ in the source tree for the modules imported here.
from harness import *  # noqa: E402
from test_scale import Follower, Producer, audit  # noqa: E402

ORDERS = int(os.environ.get("GL_STALL_ORDERS", "320"))
STALL_S = 16  # Over transaction.timeout.ms (10 s) plus the broker's check interval (1 s).
RECREATIONS = "greenlight_producer_recreations_total"


def this_run(d):
    """The lines d logged since it started (its log file keeps earlier runs)."""
    return d.log_text().split(f"--- start {d.starts} ---")[-1].splitlines()


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


def zombie(prefix, od, extra):
    """Stalls od again while a newer instance with its instance.id starts
    and gets ready; od, resumed after STALL_S, must exit 1 (fenced) and the
    newer one go on. Returns the newer one and od's fatal line."""
    wait_until(lambda: od.metric("greenlight_uncommitted_records") > 0, 60, "a transaction open")
    os.kill(od.proc.pid, signal.SIGSTOP)
    t = time.monotonic()
    try:
        nd = orderd(prefix, name="stall-orderd-successor", extra=extra).start()
        nd.wait_ready(120)
        wait_until(lambda: nd.metric("greenlight_commits_total") > 0, 60, "the successor to commit")
        time.sleep(max(0.0, STALL_S - (time.monotonic() - t)))  # The stall outlives the timeout.
    finally:
        od.expect_exit = True  # From here on, its exit is the point.
        os.kill(od.proc.pid, signal.SIGCONT)
    try:
        code = od.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        fail("the stalled instance is still running 90 s after its successor took its instance.id")
    fatal = [l for l in this_run(od) if '"event":"fatal"' in l]
    check(code == 1 and fatal and "fenced" in fatal[0].lower(),
          f"the replaced stalled instance exited {code}, expected 1 with a message saying it was "
          f"fenced: {fatal}")
    check(nd.alive(), "the successor died")
    return nd, fatal[0]


def main():
    prefix = new_prefix("stall")
    make_topics(prefix)
    extra = ["--kafka.session.timeout.ms", "45000", "--commit.interval.ms", "2000"]
    od = orderd(prefix, name="stall-orderd", extra=extra).start()
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
    check(od.alive() and od.proc.pid == pid and od.starts == 1, f"orderd was restarted or died (pid {pid})")
    recreations = int(od.metric(RECREATIONS))
    lines = [l for l in this_run(od)
             if '"event":"producer_recreated"' in l or '"event":"producer_fenced"' in l]
    check(any('"event":"producer_recreated"' in l for l in lines), "no producer_recreated in the log")

    nd, fatal = zombie(prefix, od, extra)
    producer.t.join(timeout=300)
    check(not producer.error and producer.sent == ORDERS, producer.error or "producer unfinished")
    wait_until(lambda: follower.count() >= ORDERS * 6, 180, "every status")
    nd.wait_committed(0)
    follower.stop()
    f = audit(follower, ORDERS)
    check(audit_clean(f), f"not exactly once across the stalls: {f}")
    check(nd.metric(RECREATIONS) == 0, "the successor replaced its producer: the zombie took the id back")
    check(nd.stop() == 0, "the successor did not exit 0 on SIGTERM")
    print(f"stalled {attempts} time(s) for {STALL_S} s; producers replaced: {recreations}", flush=True)
    for l in lines:
        print("    " + l[:400], flush=True)
    print(f"stalled again while a successor took its instance.id: exited 1: {fatal[:400]}", flush=True)
    print(f"{f['records']} status records of {ORDERS} orders exactly once", flush=True)


run(main)
