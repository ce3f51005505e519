"""`greenlight rebuild` (issue 9, point 2): the daemon's own executable run
over its recorded inputs into a shadow app id and shadow topics, its output
diffed with the live output record by record per key.

The inputs are the seed scenario plus a generated day of traffic (orders
with three end uses, each placed, queued, approved twice and cleared), and
both daemons run live over them until they have committed everything.

- rebuild orderd with the live policy: exit 0, every order equal, and the
  shadow topics are gone afterwards;
- rebuild orderd --until the middle of the day: the shadow stops there; the
  live records caused by later input are left out, so still exit 0, with
  those records counted as left out;
- rebuild orderd --policy barring one more end use (CONSUMER_SERVICES):
  exit 1, and the keys reported are exactly the orders with that end use,
  each REJECTED in the shadow and not in live (outcome changed); --keep
  keeps the shadow topics, which then hold that outcome;
- rebuild batchd: exit 0; then one more record appended to the live
  batch-status topic for one batch: exit 1 naming exactly that batch, as
  "different" with one live record more than the shadow;
- a bad daemon name, --policy for batchd and a bad daemon setting are
  refused with exit 2 before anything is created."""
import re

from harness import *

SEED = os.path.join(SRC, "tests", "data", "seed.jsonl")
HOUR = 3600000
DAY = 24 * HOUR
END_USES = ("END_USE_COMMERCIAL_CLOUD", "END_USE_AI_RESEARCH", "END_USE_CONSUMER_SERVICES")
N_ORDERS = 90


def seed_events():
    with open(SEED) as f:
        return [json.loads(l) for l in f if l.strip()]


def generated_day(t0):
    """N_ORDERS orders spread over a day from t0, each with one end use."""
    events, end_use = [], {}
    for i in range(N_ORDERS):
        oid = f"O-RB-{i:03d}"
        evs = lifecycle_events("RB", i, oid, 1000 + 10 * i, t0 + i * (DAY // N_ORDERS), "test")
        evs[0]["order_placed"]["end_use"] = END_USES[i % len(END_USES)]
        end_use[oid] = END_USES[i % len(END_USES)]
        events += evs
    return events, end_use


def rebuild(prefix, *args, timeout=300):
    """(exit code, JSON lines printed, stderr) of `greenlight rebuild ... --json`."""
    r = subprocess.run([CLI, "rebuild", "-b", BOOTSTRAP, "--prefix", prefix, "--json", *args],
                       capture_output=True, timeout=timeout)
    lines = [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]
    return r.returncode, lines, r.stderr.decode()


def summary_of(lines, err):
    check(lines and "summary" in lines[-1], f"no summary line: {lines[-3:]} {err[-1500:]}")
    return lines[-1]["summary"], [l for l in lines[:-1]]


def topic_exists(prefix, topic):
    r = subprocess.run([CLI, "tail", topic, "-b", BOOTSTRAP, "--prefix", prefix,
                        "--from-beginning", "--exit-at-end", "--timeout-ms", "20000"],
                       capture_output=True, timeout=60)
    if r.returncode == 0:
        return True
    check("does not exist" in r.stderr.decode(), f"tail {topic}: {r.stderr.decode()[-500:]}")
    return False


def shadow_of(err):
    m = re.search(r"as \S+\.(rebuild-\S+) \(log", err)
    check(m, f"rebuild did not name its shadow: {err[-800:]}")
    return m.group(1)


def state_of(record):
    return (record or {}).get("value", {}).get("state")


def main():
    prefix = new_prefix("rebuild")
    make_topics(prefix)
    od = orderd(prefix).start()
    bd = batchd(prefix).start()
    od.wait_ready(120)
    bd.wait_ready(120)

    seed = seed_events()
    t0 = max(e["occurred_at_ms"] for e in seed) + HOUR
    day, end_use = generated_day(t0)
    # Each in one transaction, as a replay reads them: the live merge then
    # sees every input of a batch at once. (Produced record by record across
    # topics, the live daemon can apply an approval before the BatchQueued
    # stamped earlier reaches it, and rebuild rightly reports the order.)
    produce(prefix, seed, transactional=True)
    produce(prefix, day, transactional=True)
    od.wait_committed(count_inputs(prefix))
    bd.wait_committed(len(tail(prefix, "greenlight-batchd.repartition")))
    orders = {r["key"] for r in tail(prefix, "greenlight.order-status")}
    check(len(orders) == N_ORDERS + 6, f"{len(orders)} orders in the status topic")

    # The live policy: equal.
    code, lines, err = rebuild(prefix, "orderd", "--", "--policy.file", POLICY)
    s, diffs = summary_of(lines, err)
    check(code == 0 and s["same"] and not diffs, f"rebuild orderd: exit {code}, {diffs[:2]}, {s}")
    check(s["keys"] == len(orders) == s["equal"] and s["live_records"] == s["shadow_records"] > 0
          and s["live_records_left_out"] == 0, f"rebuild orderd summary {s}")
    check(not topic_exists(prefix, f"greenlight.order-status.{shadow_of(err)}"),
          "the shadow status topic is still there without --keep")

    # Up to the middle of the day: the live records caused later are left out.
    mid = t0 + DAY // 2
    code, lines, err = rebuild(prefix, "orderd", "--until", str(mid), "--", "--policy.file", POLICY)
    s, diffs = summary_of(lines, err)
    later = [e for e in day if e["occurred_at_ms"] >= mid]
    check(code == 0 and s["same"] and not diffs, f"rebuild --until: exit {code}, {diffs[:2]}, {s}")
    check(s["live_records_left_out"] == len(later) and
          s["shadow_records"] + len(later) == s["live_records"] + len(later) and
          s["live_records"] + s["live_records_left_out"] == s["shadow_records"] + len(later),
          f"--until {mid}: {s}; want {len(later)} live records left out (one status per "
          f"later event)")

    # Another end use barred: exactly those orders change, all to REJECTED.
    policy = os.path.join(LOGDIR, "bar-consumer-services.policy")
    with open(POLICY) as f:
        text = f.read()
    text = re.sub(r"(?m)^barred_end_uses\s*=.*$",
                  "barred_end_uses = SENSITIVE_AGENCY, CRITICAL_INFRASTRUCTURE, CONSUMER_SERVICES",
                  text)
    with open(policy, "w") as f:
        f.write(text)
    code, lines, err = rebuild(prefix, "orderd", "--policy", policy, "--limit", "0", "--keep",
                               "--shadow", "bar")
    s, diffs = summary_of(lines, err)
    want = {o for o, u in end_use.items() if u == "END_USE_CONSUMER_SERVICES"} | {"O-TC-1"}
    got = {d["key"] for d in diffs}
    check(code == 1 and not s["same"], f"rebuild --policy: exit {code} (want 1), {s}")
    check(got == want, f"changed orders: {sorted(got ^ want)} differ from the expected set")
    check(s["different"] == len(want) and s["only_live"] == s["only_shadow"] == 0,
          f"--policy summary {s}")
    for d in diffs:
        check(d["result"] == "different" and d["record"] == 1 and "state" in d["fields"],
              f"{d['key']}: first difference {d.get('record')} {d.get('fields')}")
        check(state_of(d["shadow_last"]) == "ORDER_STATE_REJECTED" !=
              state_of(d["live_last"]), f"{d['key']}: live {state_of(d['live_last'])}, "
              f"shadow {state_of(d['shadow_last'])}")
        check(d["shadow"]["value"]["reason_code"] == "end_use_barred",
              f"{d['key']}: shadow reason {d['shadow']['value'].get('reason_code')}")
    kept = tail(prefix, "greenlight.order-status.bar")
    check({r["key"] for r in kept if state_of(r) == "ORDER_STATE_REJECTED"} >= want,
          "--keep: the kept shadow topic lacks the rejections")

    # batchd over the repartition topic: equal; then one extra live record.
    code, lines, err = rebuild(prefix, "batchd")
    s, diffs = summary_of(lines, err)
    check(code == 0 and s["same"] and s["keys"] >= 2 and not diffs,
          f"rebuild batchd: exit {code}, {diffs[:2]}, {s}")
    last = [r for r in tail(prefix, "greenlight.batch-status", raw=True) if r["key"] == "CN-B1"][-1]
    produce(prefix, [last])
    code, lines, err = rebuild(prefix, "batchd")
    s, diffs = summary_of(lines, err)
    check(code == 1 and [d["key"] for d in diffs] == ["CN-B1"] and s["different"] == 1,
          f"rebuild batchd after an extra live record: exit {code}, {diffs[:2]}, {s}")
    d = diffs[0]
    check(d["result"] == "different" and d["live_records"] == d["shadow_records"] + 1 and
          d["shadow"] is None and d["record"] == d["live_records"],
          f"CN-B1: {d['result']} live {d['live_records']} shadow {d['shadow_records']} "
          f"at record {d.get('record')}")

    # Refusals before anything is created.
    for args, what in ((["pipe"], "unknown daemon"), (["batchd", "--policy", policy], "only orderd"),
                       (["orderd", "--", "--max.idle.ms=-5"], "refused its settings")):
        code, lines, err = rebuild(prefix, *args, timeout=60)
        check(code == 2 and what in err and not lines, f"rebuild {args}: exit {code}, {err[-600:]}")
    od.stop()
    bd.stop()


if __name__ == "__main__":
    run(main)
