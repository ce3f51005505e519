"""Starting without the broker or the topics, and health that tells the
truth (issue 6, defects 5 and 11).

- A daemon whose topics do not exist yet answers /healthz (200, degraded,
  why) and /readyz (503, "topics missing") while it waits, and starts
  processing once the topics are created: not a bad setting.
- With no broker at all it exits 1 (a supervisor retries) once
  startup.timeout.ms has passed, answering /healthz meanwhile.
- An HTTP port in use exits 1, not 2.
- /readyz is 200 only when every partition is assigned and restored.
- An instance whose every transaction aborts is not ready ("aborting
  repeatedly"), its consecutive-aborts gauge climbs, /healthz turns 503
  (wedged) and consumer lag counts what is not committed."""

from harness import *

T0 = 1767571200000


def placed(i):
    return {"event_id": f"E-HL-{i}", "occurred_at_ms": T0 + i, "source": "erp.test",
            "order_placed": {"order_id": f"O-HL-{i}", "buyer_id": "B-1", "buyer_name": "Test",
                             "product": "NVIDIA H200", "units": 1000 + i,
                             "end_use": "END_USE_AI_RESEARCH", "domestic_units_committed": 500}}


def waits_for_topics():
    prefix = new_prefix("health")
    d = orderd(prefix).start()
    code, body = wait_until(lambda: (lambda r: r if "topics missing" in r[1].get("why", "") else None)(
        d.get_json("/readyz")), 60, "/readyz to say the topics are missing")
    check(code == 503, f"/readyz answered {code} while topics are missing")
    code, h = d.get_json("/healthz")
    check(code == 200 and h["status"] == "degraded" and "starting" in h["why"],
          f"/healthz while waiting for topics: {code} {h}")
    check(h.get("state") == "starting" and h.get("txn") == "idle",
          f"/healthz state while waiting for topics: {h}")
    check(d.metric('greenlight_engine_state{state="starting"}') == 1, "the starting gauge is not 1")
    make_topics(prefix)
    wait_until(lambda: d.get("/readyz")[0] == 200, 90, "/readyz 200 once the topics exist")
    code, h = d.get_json("/healthz")
    check(code == 200 and h["status"] == "ok" and h["partitions"] == PARTITIONS, f"/healthz: {h}")
    check(h.get("state") == "running", f"/healthz state once ready: {h}")
    # One-hot: exactly one state's gauge is 1.
    check(d.metric('greenlight_engine_state{state="running"}') == 1 and
          d.metric("greenlight_engine_state") == 1, "greenlight_engine_state is not one-hot on running")
    produce(prefix, [placed(i) for i in range(4)])
    wait_until(lambda: len(tail(prefix, "greenlight.order-status")) == 4, 60, "4 status records")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")
    return prefix


def no_broker_exits_1():
    dead = f"127.0.0.1:{free_ports(1)[0]}"
    d = Daemon(ORDERD, "orderd-nobroker", ["-b", dead, "--http.port", "0",
                                           "--startup.timeout.ms", "4000"]).start()
    d.expect_exit = True
    code, h = d.get_json("/healthz")
    check(code == 200 and "starting" in h.get("why", "") and h.get("state") == "starting",
          f"/healthz without a broker: {code} {h}")
    check(d.get("/readyz")[0] == 503, "/readyz is not 503 without a broker")
    rc = d.proc.wait(timeout=60)
    check(rc == 1, f"without a broker the daemon exited {rc}, expected 1 (retry), not 2 (bad setting)")
    check("could not start: broker unreachable" in d.log_text(), "the exit does not say why")


def abort_loop_is_not_ready():
    prefix = new_prefix("wedged")
    make_topics(prefix)
    produce(prefix, [placed(i) for i in range(20)])
    d = orderd(prefix, name="orderd-wedged", extra=["--fault.abort.every", "1"]).start()
    wait_until(lambda: d.metric("greenlight_consecutive_aborts") >= 3, 90, "3 aborts in a row")
    code, r = d.get_json("/readyz")
    check(code == 503 and "aborting repeatedly" in r["why"], f"/readyz in an abort loop: {code} {r}")
    # The gauge is refreshed once a second.
    wait_until(lambda: d.metric("greenlight_ready") == 0, 10, "greenlight_ready 0 in an abort loop")
    check(d.metric("greenlight_commits_total") == 0, "a transaction committed with fault.abort.every=1")
    wait_until(lambda: d.metric("greenlight_consumer_lag_records") == 20, 30,
               "lag to count the 20 uncommitted records")
    wait_until(lambda: d.get("/healthz")[0] == 503, 120, "/healthz 503 once wedged")
    check(d.get_json("/healthz")[1]["status"] == "failing", "/healthz status is not failing")
    d.kill9()


def main():
    prefix = waits_for_topics()
    no_broker_exits_1()
    check_busy_port_exits_1(ORDERD, "orderd-busy", ["-b", BOOTSTRAP, "--topic.prefix", prefix])
    abort_loop_is_not_ready()


run(main)
