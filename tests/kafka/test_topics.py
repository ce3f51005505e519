"""`greenlight topics`: (a) `create` on a fresh prefix creates every topic
kafka.sh's ensure_topics creates, with its partition counts and cleanup
policies (read back through `topics check`'s metadata and DescribeConfigs),
and `check` then exits 0; (b) a second `create` changes nothing and exits
0; (c) `create --dry-run` on a fresh prefix creates nothing; (d) a
deployment whose greenlight.approvals has another partition count: kafka.sh
topics (which runs `create`) over it prints the listing, creates the rest
and fails with one "kafka.sh:" line naming the wrong count, `check` fails
with exit 1, naming the co-partitioning problem, and `create` over it
reports the wrong count (exit 1)."""
from harness import *

# cli_topics.c's topics_defaults: name -> (partitions, compacted).
WANT = {
    "greenlight.orders": (PARTITIONS, False),
    "greenlight.approvals": (PARTITIONS, False),
    "greenlight.batches": (PARTITIONS, False),
    "greenlight.shipments": (PARTITIONS, False),
    "greenlight.clock": (PARTITIONS, False),
    "greenlight.order-status": (PARTITIONS, False),
    "greenlight.batch-status": (PARTITIONS, False),
    "greenlight.dlq": (PARTITIONS, False),
    "greenlight-orderd.orders.changelog": (PARTITIONS, True),
    "greenlight-batchd.batches.changelog": (PARTITIONS, True),
    "greenlight-batchd.repartition": (PARTITIONS, False),
    "greenlight-orderd.owners": (1, True),
    "greenlight-batchd.owners": (1, True),
}


def topics(prefix, *args):
    """(exit code, stdout lines, the JSON summary, stderr) of one run."""
    r = subprocess.run([CLI, "topics", *args, "-b", BOOTSTRAP, "--prefix", prefix],
                       capture_output=True, timeout=120)
    out, err = r.stdout.decode(), r.stderr.decode()
    check("Sanitizer" not in err and "runtime error:" not in err, f"sanitizer report: {err[-3000:]}")
    lines = out.splitlines()
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    check(summary is not None, f"topics {args}: no JSON summary in {out!r} ({err})")
    return r.returncode, lines, summary, err


def main():
    p = new_prefix("topics")
    code, lines, s, err = topics(p, "create")
    check(code == 0 and s["created"] == len(WANT) and s["existing"] == 0,
          f"create: exit {code}, {s}, {err}")
    code, lines, s, err = topics(p, "check")
    check(code == 0 and s["ok"] and s["problems"] == [], f"check after create: exit {code}, {lines}, {err}")
    got = {name[len(p):]: (t["partitions"], t["cleanup.policy"] == "compact")
           for name, t in s["topics"].items()}
    check(got == WANT, f"created topics differ from kafka.sh's: {got}")

    code, lines, s, err = topics(p, "create")
    check(code == 0 and s["created"] == 0 and s["existing"] == len(WANT) and s["problems"] == [],
          f"second create: exit {code}, {s}, {err}")

    q = new_prefix("topics-dry")
    code, lines, s, err = topics(q, "create", "--dry-run")
    check(code == 0 and s["would_create"] == len(WANT) and s["created"] == 0,
          f"dry run: exit {code}, {s}, {err}")
    check(any("would be created" in l for l in lines), f"dry run prints no plan: {lines}")
    code, lines, s, err = topics(q, "check")
    check(code == 1 and len(s["problems"]) == len(WANT) and not s["topics"],
          f"the dry run created topics: exit {code}, {s}")

    # `create` always makes a whole deployment: the extra topic x.greenlight.approvals
    # of the deployment under base is, by name, the approvals topic of the one under r.
    base = new_prefix("topics-bad")
    r = base + "x."
    make_topics(base, extra=["x.greenlight.approvals:2"])
    k = subprocess.run([KAFKA_SH, "topics"], env=kafka_sh_env(GREENLIGHT_TOPIC_PREFIX=r),
                       capture_output=True, timeout=120)
    out, err = k.stdout.decode(), k.stderr.decode()
    want = f"{r}greenlight.approvals has 2 partitions, {PARTITIONS} wanted"
    check(k.returncode == 1 and err.startswith("kafka.sh: ") and err.count("\n") == 1
          and err.rstrip().endswith(want),
          f"kafka.sh topics over a mismatch: exit {k.returncode}, stderr {err!r}")
    check(sum(l.startswith(f"    {r}") for l in out.splitlines()) == len(WANT)
          and not any(l.startswith("{") for l in out.splitlines()),
          f"kafka.sh topics prints no listing of the {len(WANT)} topics: {out!r}")
    code, lines, s, err = topics(r, "check")
    problems = [l for l in lines if l.startswith("problem:")]
    check(code == 1 and len(problems) == 1 and "not co-partitioned (orderd" in problems[0]
          and f"{r}greenlight.approvals=2" in problems[0], f"mismatched check: exit {code}, {lines}")
    code, lines, s, err = topics(r, "create")
    check(code == 1 and s["created"] == 0
          and s["problems"] == [want],
          f"create over a mismatch: exit {code}, {s}, {err}")


if __name__ == "__main__":
    run(main)
