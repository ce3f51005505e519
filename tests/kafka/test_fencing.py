"""Fencing: a second instance started with the same instance.id (the
successor of an instance that hangs, or an operator's mistake) takes over
its partitions and its transactional id. The first instance must stop with
a clear message naming the fencing and a non-zero exit status, not go on
writing, and the output stays exactly once: one status record per applied
event, versions gapless."""
from harness import *
from test_crash import check_workload_output, workload_for

ORDERS = 2000


def main():
    prefix = new_prefix("fence")
    make_topics(prefix)
    produce(prefix, workload_for(ORDERS))
    extra = ["--commit.max.records", "200"]
    a = orderd(prefix, name="fence-a", extra=extra).start()
    wait_until(lambda: a.metric("greenlight_records_processed_total") >= 1000, 120,
               "the first instance to process 1000 records")
    a.expect_exit = True  # From here on, its exit is the point of the test.
    b = orderd(prefix, name="fence-b", extra=extra).start()
    try:
        code = a.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        fail("the first instance is still running 90 s after a second one took its instance.id")
    check(code == 1, f"the fenced instance exited {code}, expected 1")
    this_run = a.log_text().split(f"--- start {a.starts} ---")[-1]  # The file keeps earlier runs.
    fatal = [l for l in this_run.splitlines() if '"event":"fatal"' in l]
    check(fatal and "fenced" in fatal[0].lower(),
          f"the fenced instance's fatal message does not say it was fenced: {fatal}")
    check_workload_output(prefix, ORDERS)
    check(b.stop() == 0, "the second instance did not exit 0 on SIGTERM")
    print(f"fencing: first instance exited {code}: {fatal[0][:200]}")


run(main)
