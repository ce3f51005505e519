"""Bounded runs: the engine stops by itself at given bounds, commits what it
processed and exits 0, and a second bounded run over the same group
processes exactly the rest.

The log holds 40 orders of 4 events each: orders 0-19 stamped before a
cut time, orders 20-39 after it. Run 1 is bounded by the end offsets at
its start and by the cut time: it must process the 80 events before the
cut and no other, and exit 0 without a signal. Run 2, bounded by the end
offsets only, must process exactly the other 80 (so run 1 committed its
offsets exactly at the cut: neither more, which would lose events, nor
less, which would process them twice). At the end every order has
versions 1..4 once each."""
import re

from harness import *

T0 = 1767571200000
CUT = T0 + 10_000_000
ORDERS = 40
STATES = ["ORDER_STATE_ACCEPTED", "ORDER_STATE_QUEUED", "ORDER_STATE_QUEUED",
          "ORDER_STATE_APPROVED"]


def events(i):
    """Order i's four events up to APPROVED, stamped before the cut (i < 20) or after it."""
    t = (T0 if i < ORDERS // 2 else CUT) + i * 10
    return lifecycle_events("BD", i, f"O-BD-{i:03d}", 1000 + i, t, "bounded-test", shipments=False)


def bounded_run(prefix, name, extra, min_aborts=0):
    """Starts orderd bounded, waits for it to exit by itself; returns the
    number of records it says it processed."""
    d = orderd(prefix, name=name, extra=["--stop.at", "end", *extra]).start()
    d.expect_exit = True
    rc = d.proc.wait(timeout=120)
    log = d.log_text().split(f"--- start {d.starts} ---")[-1]  # This run's lines only.
    check(rc == 0, f"{name}: a bounded run exited {rc}, expected 0")
    aborts = log.count('"event":"abort"')
    check(aborts >= min_aborts, f"{name}: {aborts} aborts, expected at least {min_aborts}")
    m = re.search(r"bounded run: every input partition reached its bound; (\d+) records processed", log)
    check(m is not None, f"{name}: no bounded-run line in its log")
    return int(m.group(1))


def audit(recs, orders):
    f = audit_status(recs, {f"O-BD-{i:03d}": STATES for i in range(orders)})
    for k in ("lost_orders", "lost_versions", "duplicated", "gaps", "extra", "wrong_final"):
        check(f[k] == 0, f"{k} = {f[k]}: {f.get('examples')}")
    check(f["records"] == orders * 4, f"{f['records']} status records, expected {orders * 4}")


def two_runs(name, faults):
    """Run 1 bounded by the cut (with faults: aborting every other
    transaction), then run 2 to the end. faults make run 1 process records
    again after each abort, so only its output is checked, not its count."""
    prefix = new_prefix(name)
    make_topics(prefix)
    produce(prefix, [e for i in range(ORDERS) for e in events(i)], transactional=True)

    first = bounded_run(prefix, f"orderd-{name}-1", ["--stop.at.time.ms", str(CUT), *faults],
                        min_aborts=1 if faults else 0)
    if not faults:
        check(first == ORDERS // 2 * 4, f"run 1 processed {first} records, expected {ORDERS // 2 * 4}")
    # Exactly the orders before the cut, each once, all of it committed.
    audit(tail(prefix, "greenlight.order-status"), ORDERS // 2)

    second = bounded_run(prefix, f"orderd-{name}-2", [])
    check(second == ORDERS // 2 * 4, f"run 2 processed {second} records, expected {ORDERS // 2 * 4} "
          "(run 1 must have committed exactly up to the cut)")
    audit(tail(prefix, "greenlight.order-status"), ORDERS)
    return prefix


def main():
    prefix = two_runs("bounded", [])
    # A third run finds nothing left and still stops by itself.
    third = bounded_run(prefix, "orderd-bounded-3", [])
    check(third == 0, f"run 3 processed {third} records over a finished log, expected 0")
    # Aborts in a bounded run: it must not stop with its last records
    # uncommitted (an abort un-reaches the bounds; processing goes on).
    two_runs("bounded-abort", ["--fault.abort.every", "2", "--commit.max.records", "10"])


run(main)
