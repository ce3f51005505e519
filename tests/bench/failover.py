"""Failover time with and without a standby replica (issue 10, point 2).

  deploy/local/kafka.sh start
  python3 tests/bench/failover.py [--orders 1000000] [--replicas 0,1] [--json FILE]

N orders (OrderPlaced only: N keys of state, one changelog record each)
are produced once. Then one round per num.standby.replicas value (0, then
1), each under an app id of its own (its own group, changelog and outputs)
on that same input:
  1. instance 1 starts alone and processes every order;
  2. instance 2 joins; the range assignment gives it half the partitions,
     which it restores from the changelog; with a standby, it also keeps a
     copy of instance 1's partitions, and the round waits for the copies'
     lag (greenlight_standby_lag_records) to reach 0;
  3. instance 1 is killed with kill -9, and one new order per partition is
     produced at once.
Figures per round, from a read_committed follower of the status topic
(`greenlight tail --offset end`) and the survivor's log:
  failover   kill -9 to the status of the new order of each of instance 1's
             former partitions (the slowest of them)
  detected   kill -9 to the survivor's revocation (the group noticed: with
             static membership, when session.timeout.ms, 6 s here, runs out)
  restore    the survivor's restore of instance 1's partitions: changelog
             records read, and the time from its assignment to the last
             restore_done (the whole changelog without a standby, only the
             tail with one)
Not a test: it asserts nothing about speed; it exits 1 if a step fails.
Uses the build in $GL_BUILD_DIR (default build-rel if it exists, else
build) and the broker at $GREENLIGHT_BOOTSTRAP (default 127.0.0.1:19092)."""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402,F401  (sets GL_BUILD_DIR before the harness is loaded)
from bench import bench_prefix, delete_topics, orderd_args, orderd_topics, produce_stream  # noqa: E402
from bench import T0  # noqa: E402
from harness import (BOOTSTRAP, CLI, ORDERD, PARTITIONS, Daemon, _kill_all, check,  # noqa: E402
                     make_topics, register_process, run, wait_until)


def placed(tag, lo, hi):
    for i in range(lo, hi):
        oid = f"O-{tag}-{i:07d}"
        yield dict(event_id=f"E-{tag}-{i:07d}", occurred_at_ms=T0 + i, source="bench",
                   order_placed={"order_id": oid, "buyer_id": f"B-{i % 17}", "units": 1000,
                                 "product": "NVIDIA H200", "end_use": "END_USE_COMMERCIAL_CLOUD",
                                 "domestic_units_committed": 1000})


class Follower:
    """`greenlight tail --offset end` of a status topic: the first time each
    partition showed a status of an order whose id starts with key_prefix."""

    def __init__(self, prefix, topic, key_prefix):
        self.first, self.key_prefix = {}, key_prefix
        self.p = register_process(subprocess.Popen(
            [CLI, "tail", topic, "-b", BOOTSTRAP, "--prefix", prefix, "--offset", "end"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        self.t = threading.Thread(target=self.read, daemon=True)
        self.t.start()

    def read(self):
        for line in self.p.stdout:
            r = json.loads(line) if line.strip() else {}
            if str(r.get("key", "")).startswith(self.key_prefix):
                self.first.setdefault(r["partition"], time.monotonic())

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)


def log_records(d, *events):
    text = d.log_text().split(f"--- start {d.starts} ---")[-1]
    return [json.loads(line) for line in text.splitlines()
            if any(f'"event":"{e}"' in line for e in events)]


def wall(rec):
    return datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def owned(d):
    code, body = d.get("/healthz")
    return json.loads(body).get("partitions", 0) if code == 200 else 0


def one_round(prefix, n, replicas, probe_tag):
    app = f"fo{replicas}"
    args = orderd_args(prefix, app) + ["--num.standby.replicas", str(replicas),
                                       "--kafka.session.timeout.ms", "6000"]
    mk = lambda i: Daemon(ORDERD, f"failover-{app}-{i}", args + ["--instance.id", str(i)])
    d1 = mk(1).start()
    d1.wait_committed(n, timeout=max(900, n / 1000))
    # Started long before the kill (the join and restores take seconds): it
    # follows from the end it found, and only the new orders count.
    follower = Follower(prefix, f"bench-{app}.order-status", f"O-{probe_tag}-")
    d2 = mk(2).start()
    wait_until(lambda: owned(d1) > 0 and owned(d2) > 0 and owned(d1) + owned(d2) == PARTITIONS and
               all(d.get("/readyz")[0] == 200 for d in (d1, d2)), max(300, n / 5000),
               "two instances to share the partitions")
    if replicas:
        wait_until(lambda: d2.metric("greenlight_standby_partitions") == owned(d1) and
                   d2.metric("greenlight_standby_lag_records") == 0, max(300, n / 5000),
                   "instance 2's standbys to catch up")
    # Which partitions instance 1 owns: those instance 2 does not restore.
    mine2 = {int(r["msg"].split()[1]) for r in log_records(d2, "restore_done")}
    gone = sorted(set(range(PARTITIONS)) - mine2)
    before = len(log_records(d2, "restore_done", "restore_start", "revoked", "assigned"))
    t_kill, w_kill = time.monotonic(), time.time()
    d1.kill9()
    produce_stream(prefix, placed(probe_tag, 0, 16 * PARTITIONS))
    wait_until(lambda: all(p in follower.first for p in gone), 300,
               "the new orders' statuses on every partition instance 1 had")
    follower.stop()
    after = log_records(d2, "restore_done", "restore_start", "revoked", "assigned")[before:]
    revoked = [r for r in after if r["event"] == "revoked"]
    assigned = [r for r in after if r["event"] == "assigned"]
    dones = [r for r in after if r["event"] == "restore_done" and int(r["msg"].split()[1]) in gone]
    check(revoked and assigned and len(dones) == len(gone),
          f"the survivor's log lacks the takeover: {[r['msg'] for r in after]}")
    records = sum(int(r["msg"].split()[3]) for r in dones)
    out = dict(standby_replicas=replicas, orders=n, partitions_taken=gone,
               failover_seconds=max(follower.first[p] for p in gone) - t_kill,
               detected_seconds=wall(revoked[0]) - w_kill,
               restore_records=records,
               restore_seconds=max(wall(r) for r in dones) - wall(assigned[0]))
    print(f"  standby replicas {replicas}: {out}", flush=True)
    check(d2.stop() == 0, f"{d2.name} did not exit 0 after SIGTERM")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--json", default=os.path.join(bench.BUILD, "failover.json"))
    ap.add_argument("--replicas", default="0,1", help="the num.standby.replicas of each round")
    ap.add_argument("--keep-topics", action="store_true")
    a = ap.parse_args()
    results = dict(orders=a.orders, rounds=[])
    try:
        prefix = bench_prefix("failover")
        make_topics(prefix, extra=[t for app in ("fo0", "fo1") for t in orderd_topics(app)])
        secs = produce_stream(prefix, placed("F", 0, a.orders))
        print(f"produced {a.orders} orders in {secs:.1f} s", flush=True)
        for replicas in (int(r) for r in a.replicas.split(",")):
            results["rounds"].append(one_round(prefix, a.orders, replicas, f"P{replicas}"))
    finally:
        _kill_all()
        if not a.keep_topics:
            delete_topics()
    with open(a.json, "w") as f:
        json.dump(results, f, indent=1)
    print("\nreplicas  failover s  detected s  restore records  restore s", flush=True)
    for r in results["rounds"]:
        print(f"{r['standby_replicas']:>8}  {r['failover_seconds']:>10.2f}  {r['detected_seconds']:>10.2f}  "
              f"{r['restore_records']:>15}  {r['restore_seconds']:>9.2f}", flush=True)
    print(f"written to {a.json}", flush=True)


if __name__ == "__main__":
    run(main)
