"""Profiles greenlight-orderd (exactly once) on bench.py's throughput
workload: produces N orders x 4 events under a fresh prefix, starts orderd
on them, and runs `perf record` on it from its first processed record
to the commit of its last, so the profile and the CPU figure leave out the
start (connect, init_transactions), which bench.py's figure includes.

  GL_BUILD_DIR=build-rel python3 tests/bench/profile_orderd.py [--orders N] [--perf-data FILE]
  perf report -i FILE --no-children --sort symbol

Prints orderd's CPU per event over that window (all threads). Asserts
nothing about speed; exits 1 if a step fails. Deletes its topics."""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import (BOOTSTRAP, ORDERD, Daemon, check, make_topics, orderd_args, orderd_topics,  # noqa: E402
                   proc_cpu, proc_rss, produce_stream, register_process, run, wait_until, workload)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=50000)
    p.add_argument("--perf-data", default="/tmp/orderd.perf.data")
    p.add_argument("--no-perf", action="store_true", help="only the CPU figure")
    p.add_argument("--call-graph", default="fp",
                   help="perf's --call-graph: fp (cheap; librdkafka's frames are lost) or dwarf")
    p.add_argument("--daemon-args", default="", help="extra flags for orderd, e.g. '--kafka.linger.ms 20'")
    a = p.parse_args()
    bench.DAEMON_ARGS.extend(a.daemon_args.split())
    prefix, total = bench.bench_prefix("prof"), a.orders * 4
    try:
        make_topics(prefix, extra=orderd_topics("prof"))
        produce_stream(prefix, workload("P", a.orders))
        d = Daemon(ORDERD, "prof-orderd", orderd_args(prefix, "prof")).start()
        wait_until(lambda: d.metric("greenlight_records_processed_total") > 0, 120,
                   "orderd's first record", interval=0.01)
        perf = None if a.no_perf else register_process(subprocess.Popen(
            ["perf", "record", "-q", "--call-graph", a.call_graph, "-p", str(d.proc.pid), "-o", a.perf_data],
            stdout=subprocess.DEVNULL))
        c0, n0 = proc_cpu(d.proc.pid), d.metric("greenlight_records_processed_total")
        wait_until(lambda: d.metric("greenlight_records_processed_total") >= total and
                   d.metric("greenlight_uncommitted_records") == 0, 600,
                   f"orderd to process and commit {total} records", interval=0.02)
        c1, n1 = proc_cpu(d.proc.pid), d.metric("greenlight_records_processed_total")
        rss, peak = proc_rss(d.proc.pid)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        check(d.stop() == 0, "orderd did not exit 0 after SIGTERM")
        print(f"orderd: {n1 - n0:.0f} events after the first, {(c1 - c0) / max(n1 - n0, 1) * 1e6:.2f} "
              f"us CPU/event, RSS {rss / 2**20:.1f} MB (peak {peak / 2**20:.1f})"
              + (f"; profile in {a.perf_data}" if perf else ""), flush=True)
    finally:
        bench._kill_all()
        bench.delete_topics()


run(main)
