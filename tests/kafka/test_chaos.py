"""Chaos, the short CI version of tests/chaos/chaos.py: a few hundred orders
produced steadily in small upstream transactions while the order daemon is
killed with kill -9 three times, its broker (a private one, on ports of its
own: the shared test broker is never touched) is stopped and started once
and frozen with SIGSTOP once. The status topic must be exactly once (no
loss, no duplicate, no gap, every order CLEARED in full), the daemon must
never crash or exit other than with 1 during a broker disruption, and its
queries and changelog must match the last status.

GL_CHAOS_ORDERS, GL_CHAOS_KILLS, GL_CHAOS_SEED change the numbers;
tests/chaos/chaos.py --help runs longer versions."""
import sys

sys.dont_write_bytecode = True  # No __pycache__ in the source tree for the modules imported here.
from harness import *  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tests", "chaos"))
import chaos  # noqa: E402


def self_check_audit():
    """The audit can fail: a clean log passes, and each fault is counted."""
    states = {"A": ["S1", "S2", "S3"], "B": ["S1", "S2", "S3"]}
    rec = lambda k, v, st: {"key": k, "value": {"order_id": k, "version": v, "state": st}}
    clean = [rec(k, v, f"S{v}") for k in "AB" for v in (1, 2, 3)]
    check(audit_clean(audit_status(clean, states)), "the audit refuses a clean log")
    faults = {
        "lost_orders": clean[:-1],
        "gaps": [r for r in clean if not (r["key"] == "A" and r["value"]["version"] == 2)],
        "duplicated": clean + [clean[1]],
        "dup_conflicting": clean + [rec("A", 2, "S9")],
        "extra": clean + [rec("A", 4, "S4")],
        "reordered": [clean[0], clean[2], clean[1]] + clean[3:],
        "wrong_final": clean[:2] + [rec("A", 3, "S2")] + clean[3:],
    }
    for kind, log in faults.items():
        f = audit_status(log, states)
        check(f[kind] > 0 and not audit_clean(f), f"the audit misses {kind}: {f}")
    f = audit_status(clean, states, {"A": {"units_cleared": 5}})
    check(f["wrong_final"] == 1 and not audit_clean(f), "the audit misses a wrong final field")


def main():
    self_check_audit()
    opts = chaos.parse_args([
        "--orders", os.environ.get("GL_CHAOS_ORDERS", "400"), "--rate", "10",
        "--kills", os.environ.get("GL_CHAOS_KILLS", "3"), "--broker-stops", "1", "--broker-pauses", "1",
        "--cold-starts", "0",
        "--seed", os.environ.get("GL_CHAOS_SEED", "1"), "--build", BUILD, "--free-ports",
        "--down-max", "5", "--pause-max", "4", "--settle-timeout", "180", "--sample", "100",
        "--progress", "10", "--workdir", os.path.join(LOGDIR, f"chaos-{os.getpid()}")])
    s = chaos.chaos(opts)
    failures = "\n".join(s["failures"])
    check(s["ok"], f"chaos run not clean (logs in {s['run_dir']}):\n{failures}")
    check(s["lost_versions"] == 0 and s["duplicated"] == 0 and s["gaps"] == 0
          and s["kills"] == opts.kills and s["broker_stops"] == 1 and s["broker_pauses"] == 1,
          f"summary: {s}")


run(main)
