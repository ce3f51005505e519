"""The clock daemon (SPEC §5).

1. Ticks: greenlight-clockd appends a Tick to every partition of the clock
   topic each round, with increasing occurred_at_ms (the same for every
   partition of a round), the right partition field, key, timestamp and
   headers; /healthz, /readyz and /metrics (with greenlight_build_info)
   answer; SIGHUP is logged and ignored (it keeps ticking); SIGTERM and
   --ticks N both end it with exit code 0; a bad setting (a value out of range, an
   http.host that is not this machine's, with or without --check-config)
   stops it with exit code 2.
2. Starting before the broker or the clock topic (issue 6, defect 5): not a
   bad setting. With no broker it answers /healthz (200, degraded, why) and
   /readyz (503) while it waits, exits 0 at once on SIGTERM, and exits 1
   saying why after startup.timeout.ms, for a supervisor to retry; a busy
   HTTP port exits 1 too. A clock topic that does not exist yet is waited
   for (/readyz says which), and once created it is ticked and /readyz
   turns 200.
3. Expiry without business traffic: an approved order whose approvals lapse
   stays APPROVED while no event arrives, however late the wall clock is;
   once clockd runs, a Tick moves it to EXPIRED.
"""
import subprocess

from harness import *

CLOCKD = os.path.join(BUILD, "services", "clockd", "greenlight-clockd")
ENVELOPE = "greenlight.v1.Envelope"


def clockd(prefix, name="clockd", extra=()):
    args = ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0",
            "--clock.id", "test-clock", "--tick.interval.ms", "200", *extra]
    return Daemon(CLOCKD, name, args)


def clockd_run(args, timeout=60):
    """Runs clockd to completion; returns (exit code, stderr)."""
    r = subprocess.run([CLOCKD, "-b", BOOTSTRAP, "--http.port", "-1", *args],
                       capture_output=True, timeout=timeout)
    check_json_lines(r.stderr, f"clockd {' '.join(args)}: stderr")
    return r.returncode, r.stderr.decode()


def now_ms():
    return int(time.time() * 1000)


def ticks_by_partition(prefix):
    out = {}
    for r in tail(prefix, "greenlight.clock"):
        out.setdefault(r["partition"], []).append(r)
    return out


def check_ticks(prefix, parts, min_rounds):
    """Every partition got at least min_rounds well-formed ticks; returns them."""
    got = ticks_by_partition(prefix)
    check(sorted(got) == list(range(parts)), f"ticks in partitions {sorted(got)}, expected 0..{parts - 1}")
    for p, recs in got.items():
        check(len(recs) >= min_rounds, f"partition {p}: {len(recs)} ticks, expected >= {min_rounds}")
        times = []
        for r in recs:
            v = r.get("value") or fail(f"partition {p}: undecodable tick {r}")
            t = v["occurred_at_ms"]
            check(r["key"] == "tick", f"partition {p}: key {r['key']!r}")
            check(r["headers"] == {"content-type": "application/x-protobuf", "message-type": ENVELOPE},
                  f"partition {p}: headers {r['headers']}")
            check(r["type"] == ENVELOPE, f"partition {p}: type {r.get('type')}")
            check(r["timestamp_ms"] == t, f"partition {p}: timestamp {r['timestamp_ms']} != event time {t}")
            check(v["source"] == "greenlight.clockd", f"partition {p}: source {v.get('source')}")
            check(v["event_id"] == f"test-clock-{p}-{t}", f"partition {p}: event_id {v['event_id']}")
            tick = v.get("tick")
            check(tick is not None, f"partition {p}: no tick payload in {v}")
            # proto3 JSON omits zero values: partition 0 has no partition field.
            check(tick.get("clock_id") == "test-clock" and tick.get("partition", 0) == p,
                  f"partition {p}: tick payload {tick}")
            times.append(t)
        check(all(a < b for a, b in zip(times, times[1:])), f"partition {p}: times not increasing: {times}")
    # One round stamps every partition with the same time.
    rounds = [[r["value"]["occurred_at_ms"] for r in got[p]] for p in sorted(got)]
    n = min(len(x) for x in rounds)
    check(all(x[:n] == rounds[0][:n] for x in rounds), f"rounds differ between partitions: {rounds}")
    return got


def check_sighup_ignored(d, parts):
    """SIGHUP is logged, and clockd keeps running and ticking."""
    this_start = lambda: d.log_text().split(f"--- start {d.starts} ---")[-1]
    before = d.metric("greenlight_ticks_total")
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: '"event":"sighup"' in this_start(), 30, "clockd to log SIGHUP")
    wait_until(lambda: d.metric("greenlight_ticks_total") >= before + 2 * parts, 30,
               "2 more rounds of ticks after SIGHUP")
    check(d.alive(), f"clockd exited on SIGHUP: {this_start()[-1000:]}")
    check('"event":"stopping"' not in this_start(), "clockd began stopping on SIGHUP")


def test_ticks():
    prefix = new_prefix("clock")
    make_topics(prefix)

    # Start-up errors: a bad value (exit 2, naming key, value and range), a missing topic.
    rc, err = clockd_run(["--topic.prefix", prefix, "--tick.interval.ms", "0"])
    check(rc == 2 and "tick.interval.ms = '0'" in err and "1..3600000" in err,
          f"bad tick.interval.ms: exit {rc}, stderr {err[-500:]}")
    # A missing clock topic is waited for, then exit 1 (retry), saying which.
    rc, err = clockd_run(["--topic.prefix", prefix, "--clock.topic", "no-such-topic",
                          "--startup.timeout.ms", "1000"])
    check(rc == 1 and f"could not start: clock topic {prefix}no-such-topic does not exist" in err,
          f"missing clock topic: exit {rc}, stderr {err[-500:]}")
    if host_is_local("10.255.255.1"):
        print("test_clock.py: 10.255.255.1 is local here; http.host check skipped")
    else:
        for extra in (["--check-config"], []):
            rc, err = clockd_run(["--topic.prefix", prefix, "--http.port", "0",
                                  "--http.host", "10.255.255.1", *extra])
            check(rc == 2 and "config: http.host = '10.255.255.1': expected an address of this "
                  "machine" in err, f"bad http.host {extra}: exit {rc}, stderr {err[-500:]}")

    d = clockd(prefix).start()
    wait_until(lambda: d.metric("greenlight_clock_partitions") > 0, 30, "clockd partition count")
    parts = int(d.metric("greenlight_clock_partitions"))
    wait_until(lambda: d.metric("greenlight_ticks_total") >= 5 * parts, 60, "5 rounds of ticks")
    # Healthy while every partition had a delivery within 3 intervals (600 ms
    # here): waited for, since a loaded machine may stall one.
    health = wait_until(lambda: (lambda r: r if r[0] == 200 and r[1]["status"] == "ok" else None)(
        d.get_json("/healthz")), 30, "/healthz 200 ok")
    check(health[1]["partitions"] == parts and health[1]["stale_partitions"] == 0, f"/healthz: {health}")
    wait_until(lambda: d.get("/readyz")[0] == 200, 30, "/readyz 200 while ticking")
    wait_until(lambda: d.metric("greenlight_ready") == 1, 10, "greenlight_ready 1")
    check(d.metric("greenlight_tick_delivery_failures_total") == 0, "delivery failures reported")
    check(d.metric("greenlight_build_info") == 1, "no greenlight_build_info in /metrics")
    check_sighup_ignored(d, parts)
    check(d.stop() == 0, "clockd did not exit 0 on SIGTERM")
    got = check_ticks(prefix, parts, 5)
    total = sum(len(r) for r in got.values())
    # The log file is appended to by every run: read this run's part.
    m = re.search(r"(\d+) ticks delivered, 0 failed", d.log_text().split("--- start ")[-1])
    check(m and int(m.group(1)) == total, f"clockd counted {m and m.group(1)} deliveries, the topic has {total}")

    # A bounded run appends exactly N rounds after the others, then exits 0.
    rc, err = clockd_run(["--topic.prefix", prefix, "--clock.id", "test-clock",
                          "--tick.interval.ms", "200", "--ticks", "3"])
    check(rc == 0, f"clockd --ticks 3 exited {rc}: {err[-1000:]}")
    check_ticks(prefix, parts, 8)
    again = sum(len(r) for r in ticks_by_partition(prefix).values())
    check(again == total + 3 * parts, f"--ticks 3 appended {again - total} ticks, expected {3 * parts}")


def starting_why(d, path, want):
    """/healthz or /readyz once its why contains want: (code, body)."""
    return wait_until(lambda: (lambda r: r if want in (r[1].get("why") or "") else None)(
        d.get_json(path)), 30, f"{d.name} {path} to say {want!r}")


def test_no_broker():
    """No broker: health answers while waiting, SIGTERM exits 0 at once,
    startup.timeout.ms exits 1 saying why."""
    dead = f"127.0.0.1:{free_ports(1)[0]}"
    d = Daemon(CLOCKD, "clockd-nobroker", ["-b", dead, "--http.port", "0", "--clock.id", "test-clock",
                                           "--startup.timeout.ms", "3000"]).start()
    d.expect_exit = True  # It is meant to give up.
    code, h = starting_why(d, "/healthz", "starting: ")
    check(code == 200 and h["status"] == "degraded" and h["service"] == "clockd",
          f"/healthz without a broker: {code} {h}")
    code, r = d.get_json("/readyz")
    check(code == 503 and r["status"] == "not_ready" and r["why"].startswith("starting: "),
          f"/readyz without a broker: {code} {r}")
    check(d.metric("greenlight_ready") == 0, "greenlight_ready is not 0 without a broker")
    rc = d.proc.wait(timeout=60)
    check(rc == 1, f"without a broker clockd exited {rc}, expected 1 (retry), not 2 (bad setting)")
    log = d.log_text()
    check("could not start: broker unreachable" in log, f"the exit does not say why: {log[-2000:]}")

    # SIGTERM while waiting (default startup.timeout.ms: 120 s) ends it at once, with 0.
    d = Daemon(CLOCKD, "clockd-nobroker-term", ["-b", dead, "--http.port", "0"]).start()
    starting_why(d, "/readyz", "broker unreachable")
    d.expect_exit = True
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        fail("clockd waiting for the broker did not exit within 3 s of SIGTERM")
    check(rc == 0, f"SIGTERM while waiting for the broker: exit {rc}, expected 0")
    print(f"test_clock.py: SIGTERM while waiting: exit after {time.monotonic() - t0:.2f} s")


def test_waits_for_topic():
    """A clock topic created after the start is waited for, then ticked."""
    prefix = new_prefix("clock-late")
    d = clockd(prefix, name="clockd-late").start()
    topic = f"{prefix}greenlight.clock"
    code, r = starting_why(d, "/readyz", f"clock topic {topic} does not exist")
    check(code == 503 and r["why"].startswith("starting: "), f"/readyz without the topic: {code} {r}")
    code, h = d.get_json("/healthz")
    check(code == 200 and h["status"] == "degraded" and topic in h["why"],
          f"/healthz without the topic: {code} {h}")
    make_topics(prefix)
    wait_until(lambda: d.get("/readyz")[0] == 200, 60, "/readyz 200 once the topic exists")
    wait_until(lambda: d.metric("greenlight_ticks_total") >= 3 * PARTITIONS, 30, "3 rounds of ticks")
    code, h = d.get_json("/healthz")
    check(code == 200 and h["status"] == "ok" and h["partitions"] == PARTITIONS,
          f"/healthz once ticking: {code} {h}")
    check(d.stop() == 0, "clockd did not exit 0 on SIGTERM")
    check_ticks(prefix, PARTITIONS, 3)
    check("waiting" in d.log_text(), "clockd did not log that it was waiting for the topic")
    return prefix


def status_of(prefix, oid):
    return by_order(tail(prefix, "greenlight.order-status")).get(oid, [])


def test_expiry():
    prefix = new_prefix("clock-expiry")
    make_topics(prefix)
    oid, batch = "O-CLK-1", "CN-CLK-B1"
    now = now_ms()
    t0, until = now - 10000, now + 3000

    def env(i, **payload):
        return {"event_id": f"E-CLK-{i}", "occurred_at_ms": t0 + i * 1000, "source": "test", **payload}

    grant = {"order_id": oid, "units_approved": 1000, "valid_until_ms": until}
    produce(prefix, [
        env(0, order_placed={"order_id": oid, "buyer_id": "B-1", "buyer_name": "Test",
                             "product": "NVIDIA H200", "units": 1000,
                             "end_use": "END_USE_AI_RESEARCH", "domestic_units_committed": 500}),
        env(1, batch_queued={"order_id": oid, "batch_id": batch, "batch_seq": 1, "position": 1}),
        env(2, approval_granted={**grant, "approval_id": "EX-1",
                                 "authority": "AUTHORITY_US_EXPORT_LICENSE"}),
        env(3, approval_granted={**grant, "approval_id": "IM-1", "batch_id": batch,
                                 "authority": "AUTHORITY_CN_IMPORT_APPROVAL"}),
    ])
    o = orderd(prefix, name="orderd-clock").start()

    def last_state(want):
        recs = status_of(prefix, oid)
        return recs if recs and recs[-1]["state"] == want else None

    recs = wait_until(lambda: last_state("ORDER_STATE_APPROVED"), 90, f"{oid} APPROVED")
    check(int(recs[-1]["valid_until_ms"]) == until, f"valid_until_ms {recs[-1].get('valid_until_ms')}")

    # Without events, event time stands still: the wall clock passing
    # valid_until expires nothing.
    wait_until(lambda: now_ms() > until + 500, 30, "the wall clock to pass valid_until")
    recs = status_of(prefix, oid)
    check(recs[-1]["state"] == "ORDER_STATE_APPROVED",
          f"{oid} left APPROVED without any event: {recs[-1]}")

    c = clockd(prefix, name="clockd-expiry").start()
    recs = wait_until(lambda: last_state("ORDER_STATE_EXPIRED"), 90, f"{oid} EXPIRED by a Tick")
    last = recs[-1]
    cause = last.get("cause", {})
    check(cause.get("event_type") == "Tick", f"expired by {cause}, not by a Tick")
    check(cause.get("topic") == prefix + "greenlight.clock", f"cause topic {cause.get('topic')}")
    check(int(cause.get("occurred_at_ms", 0)) > until, f"tick time {cause.get('occurred_at_ms')} <= {until}")
    check(cause.get("event_id", "").startswith("test-clock-"), f"cause event_id {cause.get('event_id')}")
    check(last.get("previous_state") == "ORDER_STATE_APPROVED", f"previous_state {last.get('previous_state')}")
    check_versions({oid: recs})
    check(c.stop() == 0, "clockd did not exit 0 on SIGTERM")
    check(o.stop() == 0, "orderd did not exit 0 on SIGTERM")


def main():
    test_ticks()
    test_no_broker()
    prefix = test_waits_for_topic()
    check_busy_port_exits_1(CLOCKD, "clockd-busy", ["-b", BOOTSTRAP, "--topic.prefix", prefix])
    test_expiry()


run(main)
