"""The start-up check of a daemon's topics (issue 10, point 4), as Kafka
Streams checks its internal topics:

- orderd and batchd under app ids whose changelog and owners topic do not
  exist, and orderd writing a repartition topic that does not exist,
  create them (the changelog and the repartition topic with the inputs'
  partition count; changelog and owners compacted, the repartition topic
  not), become ready and process; `greenlight topics create --dry-run`
  then finds each exactly as wanted;
- each refusal stops the daemon at once with exit 2 (well before its
  startup.timeout.ms) and a message naming the topic, what it has and
  what is needed:
  - a changelog with another partition count than the inputs;
  - a changelog that is not compacted (cleanup.policy=delete);
  - an owners topic that is not compacted;
  - inputs that are not co-partitioned;
- a missing input is still waited for, not refused: the daemon stays up
  and says which topic it waits for."""
from harness import *

STARTUP_MS = 120000


def topics_json(prefix, *args):
    r = subprocess.run([CLI, "topics", "create", "-b", BOOTSTRAP, "--prefix", prefix, *args],
                       capture_output=True, timeout=120)
    lines = r.stdout.decode().splitlines()
    return r.returncode, json.loads(lines[-1]) if lines else {}, r.stderr.decode()


def refused(d, *needles):
    """d exits 2 within 60 s (its startup timeout is 120 s) naming needles."""
    d.start()
    try:
        code = d.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail(f"{d.name} still running after 60 s: it waits instead of refusing")
    d.expect_exit = True
    log = d.log_text()
    check(code == 2, f"{d.name}: exit {code}, want 2: {log[-1500:]}")
    for n in needles:
        check(n in log, f"{d.name}: {n!r} not in its log: {log[-1500:]}")


def main():
    prefix = new_prefix("startup")
    make_topics(prefix)
    extra = ["--startup.timeout.ms", str(STARTUP_MS)]

    # Missing internal topics are created, and right.
    od = orderd(prefix, name="orderd-fresh",
                extra=["--app.id", "fresh-orderd", "--output.topics",
                       "status=greenlight.order-status,repartition=fresh.repartition",
                       *extra]).start()
    bd = batchd(prefix, name="batchd-fresh",
                extra=["--app.id", "fresh-batchd", "--input.topics", "fresh.repartition",
                       *extra]).start()
    od.wait_ready(120)
    bd.wait_ready(120)
    produce(prefix, lifecycle_events("ST", 1, "O-ST-1", 1000, 1767571200000, "test"),
            transactional=True)
    od.wait_committed(count_inputs(prefix))
    bd.wait_committed(len(tail(prefix, "fresh.repartition")))
    check(len(tail(prefix, "fresh.repartition")) > 0, "nothing in the created repartition topic")
    code, s, err = topics_json(prefix, "--dry-run", "fresh-orderd.orders.changelog:compact",
                               "fresh-orderd.owners:compact:1",
                               "fresh-batchd.batches.changelog:compact",
                               "fresh-batchd.owners:compact:1", "fresh.repartition")
    check(code == 0 and s.get("would_create") == 0 and not s.get("problems"),
          f"the created internal topics are not as wanted: exit {code}, {s}, {err[-800:]}")
    for name in ("orderd-fresh", "batchd-fresh"):
        text = (od if name.startswith("orderd") else bd).log_text()
        check('"event":"topic_created"' in text, f"{name} logged no topic_created")
    od.stop()
    bd.stop()

    # A changelog with 2 partitions, the inputs 4.
    make_topics(prefix, ["bad-parts.orders.changelog:compact:2"])
    refused(orderd(prefix, name="orderd-parts", extra=["--app.id", "bad-parts", *extra]),
            "bad-parts.orders.changelog has 2 partitions, the inputs 4")
    # A changelog that is not compacted.
    make_topics(prefix, ["bad-policy.orders.changelog"])
    refused(orderd(prefix, name="orderd-policy", extra=["--app.id", "bad-policy", *extra]),
            "bad-policy.orders.changelog has cleanup.policy=delete")
    # An owners topic that is not compacted (batchd).
    make_topics(prefix, ["bad-owners.owners:1"])
    refused(batchd(prefix, name="batchd-owners", extra=["--app.id", "bad-owners", *extra]),
            "bad-owners.owners has cleanup.policy=delete")

    # Inputs not co-partitioned: approvals has 2 partitions.
    base = new_prefix("startup-cp")
    r = base + "x."
    make_topics(base, extra=["x.greenlight.approvals:2"])
    subprocess.run([CLI, "topics", "create", "-b", BOOTSTRAP, "--prefix", r],
                   capture_output=True, timeout=120)  # Exit 1 (the mismatch), the rest created.
    refused(orderd(r, name="orderd-copart", extra=extra),
            f"input {r}greenlight.approvals has 2 partitions and input {r}greenlight.orders has 4")

    # A missing input is waited for.
    w = orderd(prefix, name="orderd-wait",
               extra=["--app.id", "wait", "--input.topics", "greenlight.orders,not-yet", *extra])
    w.start()
    wait_until(lambda: "not-yet" in w.get("/healthz")[1], 60, "orderd-wait to name the missing topic")
    check(w.alive(), "orderd-wait exited instead of waiting for a missing input")
    w.stop()


if __name__ == "__main__":
    run(main)
