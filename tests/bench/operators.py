"""Wall time of each operator command on 100,000 records (issue 9).

  deploy/local/kafka.sh start
  python3 tests/bench/operators.py [--orders 25000] [--json FILE]

25,000 orders x 4 events = 100,000 input records are produced (timed),
processed by orderd and batchd (100,000 status records, 100,000
repartition records), then each command runs once on them, timed from its
start to its exit, with its exit code checked:
  tail        the 100,000 status records to their end, as JSON lines
  show        one order's last status
  replay      the status topic into another topic: plain, --transactional,
              --dry-run (JSON lines, nothing sent), --key (one key's partition)
  dlq         100,000 records copied into the DLQ topic first: summary,
              list (every record as a JSON line), redrive --dry-run
  rebuild     orderd over its 100,000 inputs (equal: exit 0), and batchd
              over its 100,000 repartition records
  reset       orderd, --dry-run and then applied (the daemons stopped)
  topics      check
Output goes to /dev/null, so the figures are the commands' own work plus
writing their output. Not a test: it asserts nothing about speed; it exits 1
if a command fails. Uses the build in $GL_BUILD_DIR (default build-rel if
it exists, else build)."""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (sets GL_BUILD_DIR before the harness is loaded)
from bench import bench_prefix, delete_topics, order_id, produce_stream, workload  # noqa: E402
from harness import (BOOTSTRAP, CLI, BUILD, POLICY, _kill_all, batchd, check, make_topics,  # noqa: E402
                     orderd, run)

ROWS = []


def timed(name, args, want=(0,), what="", summary=False):
    """Runs `greenlight ARGS` with output to /dev/null (summary: keeps its
    last line, a JSON summary whose *_ms figures are added); records its
    wall time."""
    t = time.monotonic()
    with open(os.devnull, "w") as null:
        r = subprocess.run([CLI, *args], stdout=subprocess.PIPE if summary else null,
                           stderr=subprocess.PIPE, timeout=3600)
    secs = time.monotonic() - t
    check(r.returncode in want, f"{name}: exit {r.returncode}: {r.stderr.decode()[-1500:]}")
    if summary:
        s = json.loads(r.stdout.decode().splitlines()[-1])["summary"]
        parts = {k: v for k, v in s.items() if k.endswith("_ms")}
        what += " (" + ", ".join(f"{k[:-3]} {v / 1000:.1f} s" for k, v in parts.items()) + ")"
    ROWS.append(dict(command=name, seconds=round(secs, 2), what=what))
    print(f"  {name:<34} {secs:7.2f} s  {what}", flush=True)
    return secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=25000)
    ap.add_argument("--json", default=os.path.join(BUILD, "operators.json"))
    a = ap.parse_args()
    records = 4 * a.orders
    common = ["-b", BOOTSTRAP]
    prefix = bench_prefix("ops")
    pre = common + ["--prefix", prefix]
    try:
        make_topics(prefix, ["ops.copy", "ops.copy-txn", "ops.copy-key"])
        secs = bench.produce_stream(prefix, workload("OPS", a.orders))
        ROWS.append(dict(command="produce", seconds=round(secs, 2),
                         what=f"{records} input records (JSON lines)"))
        print(f"  {'produce':<34} {secs:7.2f} s  {records} input records", flush=True)
        od = orderd(prefix, extra=["--commit.interval.ms", "100"]).start()
        bd = batchd(prefix, extra=["--commit.interval.ms", "100"]).start()
        od.wait_committed(records, timeout=1800)
        n_rep = sum(1 for _ in bench.tail_stream(prefix, "greenlight-batchd.repartition"))
        bd.wait_committed(n_rep, timeout=1800)
        print(f"  orderd processed {records} records, batchd {n_rep}", flush=True)

        key = order_id("OPS", a.orders // 2)
        timed("tail (status, to the end)", ["tail", "greenlight.order-status", *pre,
                                            "--from-beginning", "--exit-at-end"],
              what=f"{records} records")
        timed("show", ["show", key, *pre], what="one order")
        timed("replay", ["replay", "greenlight.order-status", "--to-topic", "ops.copy", *pre],
              what=f"{records} records copied")
        timed("replay --transactional", ["replay", "greenlight.order-status", "--to-topic",
                                         "ops.copy-txn", "--transactional", *pre],
              what=f"{records} records in one transaction")
        timed("replay --dry-run", ["replay", "greenlight.order-status", "--to-topic", "ops.copy",
                                   "--dry-run", *pre], what=f"{records} JSON lines")
        timed("replay --key", ["replay", "greenlight.order-status", "--to-topic", "ops.copy-key",
                               "--key", key, *pre], what="one key: its partition read")
        timed("replay (into the DLQ topic)", ["replay", "greenlight.order-status", "--to-topic",
                                             "greenlight.dlq", *pre], what="setup for dlq")
        timed("dlq summary", ["dlq", "summary", *pre], what=f"{records} DLQ records")
        timed("dlq list", ["dlq", "list", *pre], what=f"{records} JSON lines")
        timed("dlq redrive --dry-run", ["dlq", "redrive", "--dry-run", *pre], want=(0, 1),
              what="every record refused: no dlq.topic header")
        timed("rebuild orderd", ["rebuild", "orderd", *pre, "--json", "--", "--policy.file",
                                 POLICY], summary=True,
              what=f"{records} inputs, {records} status records compared")
        timed("rebuild batchd", ["rebuild", "batchd", *pre, "--json"], summary=True,
              what=f"{n_rep} repartition records in")
        timed("topics check", ["topics", "check", *pre], what="13 topics")
        if os.path.exists(os.path.join(HERE, "..", "kafka", "test_reset.py")):
            od.stop()
            bd.stop()
            timed("reset orderd --dry-run", ["reset", "orderd", "--dry-run", "--wait", "60", *pre,
                                             "--", "--policy.file", POLICY], what="the plan")
            timed("reset orderd --yes", ["reset", "orderd", "--yes", "--wait", "60", *pre, "--",
                                         "--policy.file", POLICY],
                  what="offsets to earliest, changelog emptied (incl. waiting for the session)")
    finally:
        _kill_all()
        delete_topics()
        with open(a.json, "w") as f:
            json.dump(dict(records=records, build=BUILD, cores=os.cpu_count(), rows=ROWS), f,
                      indent=1)
        print(f"written to {a.json}", flush=True)


if __name__ == "__main__":
    run(main)
