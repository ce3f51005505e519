"""Throughput benchmark: the order daemon against a raw transactional
pass-through built from the same engine, on the same broker, in the same
run, over the same input records.

  deploy/local/kafka.sh start
  python3 tests/bench/throughput.py [ORDERS]     # default 100000 orders, 4 events each

Uses the build in $GL_BUILD_DIR (default build/, RelWithDebInfo). Prints one
line per daemon: events, seconds from the first processed record to the
last, events per second, and commits. Not a test: it asserts nothing about
speed."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka"))
from harness import *  # noqa: E402

ORDERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
T0 = 1767571200000


def workload():
    for i in range(ORDERS):
        oid, units, t = f"O-{i:06d}", 1000 + i % 5000, T0 + i * 4
        base = lambda k: {"event_id": f"E-{i:06d}-{k}", "occurred_at_ms": t + k, "source": "bench"}
        yield {**base(0), "order_placed": {"order_id": oid, "buyer_id": f"B-{i % 50}", "units": units,
                                           "end_use": "COMMERCIAL_CLOUD",
                                           "domestic_units_committed": units}}
        yield {**base(1), "batch_queued": {"order_id": oid, "batch_id": "B1", "batch_seq": 1,
                                           "position": i + 1}}
        yield {**base(2), "approval_granted": {"order_id": oid, "approval_id": f"US-{i}",
                                               "authority": "US_EXPORT_LICENSE",
                                               "units_approved": units}}
        yield {**base(3), "approval_granted": {"order_id": oid, "approval_id": f"CN-{i}",
                                               "authority": "CN_IMPORT_APPROVAL",
                                               "units_approved": units, "batch_id": "B1"}}


def measure(daemon, total):
    """Seconds from the first processed record to the last, and commits."""
    daemon.start()
    wait_until(lambda: daemon.metric("greenlight_records_processed_total") > 0, 120, "first record",
               interval=0.01)
    t_first = time.monotonic()
    wait_until(lambda: daemon.metric("greenlight_records_processed_total") >= total, 900,
               f"{total} records", interval=0.05)
    t_last = time.monotonic()
    commits = daemon.metric("greenlight_commits_total")
    with open(f"/proc/{daemon.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    print(f"  {daemon.name}: {cpu:.1f} s CPU in the daemon (all threads), "
          f"{cpu / total * 1e6:.0f} us per event", flush=True)
    lat = daemon.metric("greenlight_commit_latency_seconds_sum") / max(commits, 1)
    print(f"  {daemon.name}: mean commit latency {lat * 1000:.1f} ms", flush=True)
    check(daemon.stop() == 0, f"{daemon.name} did not exit 0")
    return t_last - t_first, commits


def main():
    prefix = new_prefix("bench")
    make_topics(prefix, extra=["greenlight.pipe-out", "greenlight-pipe.owners:compact:1"])
    t = time.monotonic()
    produce(prefix, workload())
    total = ORDERS * 4
    print(f"produced {total} events for {ORDERS} orders in {time.monotonic() - t:.1f}s", flush=True)
    # Extra daemon flags for both, e.g. GL_BENCH_ARGS="--commit.max.records 10000".
    common = ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0",
              *os.environ.get("GL_BENCH_ARGS", "").split()]
    pipe = Daemon(PIPE, "bench-pipe", common + [
        "--input.topics", "greenlight.orders,greenlight.approvals,greenlight.batches,"
                          "greenlight.shipments,greenlight.clock"])
    orderd_ = Daemon(ORDERD, "bench-orderd", common + ["--policy.file", POLICY])
    print(f"{'daemon':<28} {'events':>8} {'seconds':>8} {'events/s':>10} {'commits':>8}")
    for name, d in (("pipe (raw EOS pass-through)", pipe), ("orderd (EOS)", orderd_)):
        secs, commits = measure(d, total)
        print(f"{name:<28} {total:>8} {secs:>8.2f} {total / secs:>10.0f} {commits:>8.0f}", flush=True)


run(main)
