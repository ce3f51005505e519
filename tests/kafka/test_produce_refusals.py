"""greenlight produce refuses what orderd refuses, in orderd's words. Each
record the CLI refuses before connecting (its message `stdin:1: REASON:
DETAIL`, exit 2) is then sent unvalidated (--no-validate) to a running
orderd, which dead-letters it with dlq.reason REASON and dlq.error DETAIL;
the record the CLI's help gives as its example is accepted by both (orderd
publishes its status). So the CLI judges with the daemon's code, not a copy
that could drift."""
import re

from harness import *

T0 = 1767571200000


def envelope(n, key=None, **placed):
    p = {"order_id": f"O-R-{n}", "buyer_id": "bytedance", "units": 200000,
         "end_use": "COMMERCIAL_CLOUD", **placed}
    e = {"event_id": f"E-R-{n}", "occurred_at_ms": T0 + n, "source": "test", "order_placed": p}
    if key:
        e["key"] = key
    return e


def refused():
    """Records the daemon refuses, each with its own key (as the DLQ shows it)."""
    no_buyer = envelope(1)
    del no_buyer["order_placed"]["buyer_id"]
    return {
        "O-R-1": no_buyer,
        "O-R-2": envelope(2, units=-5),
        "O-R-3": envelope(3, end_use=99),
        "O-R-4-other": envelope(4, key="O-R-4-other"),
        "O-R-5": envelope(5, domestic_units_committed=-1),
    }


def cli_verdict(record):
    """(exit code, reason, detail) of `greenlight produce` on one record,
    against a bootstrap that cannot be reached."""
    r = subprocess.run([CLI, "produce", "-b", "127.0.0.1:1", "--timeout-ms", "1000"],
                       input=(json.dumps(record) + "\n").encode(), capture_output=True, timeout=60)
    err = r.stderr.decode(errors="replace")
    # The CLI's hint after orderd's own text is not part of the verdict.
    m = re.search(r"greenlight: produce: stdin:1: (\w+): (.*?)(?: \(--no-validate sends it anyway\))?$",
                  err, re.M)
    return r.returncode, m.group(1) if m else None, m.group(2) if m else err


def usage_example():
    out = subprocess.run([CLI, "produce", "--help"], capture_output=True, timeout=30).stdout.decode()
    start = out.index("e.g.\n") + len("e.g.\n")
    return json.loads("".join(l.strip() for l in out[start:out.index("\noptionally", start)].splitlines()))


def main():
    bad = refused()
    said = {}
    for key, record in bad.items():
        code, reason, detail = cli_verdict(record)
        check(code == 2 and reason, f"{key}: the CLI did not refuse it: exit {code}, {detail}")
        said[key] = (reason, detail)
    example = usage_example()
    check(cli_verdict(example)[0] == 1, "the CLI refused its own help's example")

    prefix = new_prefix("refusals")
    make_topics(prefix)
    d = orderd(prefix).start()
    data = "".join(json.dumps(r) + "\n" for r in bad.values())
    r = subprocess.run([CLI, "produce", "-b", BOOTSTRAP, "--prefix", prefix, "--no-validate"],
                       input=data.encode(), capture_output=True, timeout=120)
    check(r.returncode == 0, f"produce --no-validate: exit {r.returncode}: {r.stderr.decode()}")
    produce(prefix, [example])
    dlq = wait_until(lambda: (lambda x: x if len(x) >= len(bad) else None)(
        tail(prefix, "greenlight.dlq", raw=True)), 120, f"{len(bad)} DLQ records")
    check(sorted(x["key"] for x in dlq) == sorted(bad), f"DLQ keys {[x['key'] for x in dlq]}")
    for x in dlq:
        h, (reason, detail) = x["headers"], said.get(x["key"], (None, None))
        check(h.get("dlq.reason") == reason and h.get("dlq.error") == detail,
              f"{x['key']}: orderd says {h.get('dlq.reason')}: {h.get('dlq.error')!r}, "
              f"the CLI said {reason}: {detail!r}")
    oid = example["order_placed"]["order_id"]
    code, lines = wait_until(lambda: (lambda s: s if s[0] == 0 else None)(show(prefix, oid)), 120,
                             f"the status of {oid}")
    check(code == 0 and lines, f"orderd published no status for the CLI's example {oid}")
    d.stop()


if __name__ == "__main__":
    run(main)
