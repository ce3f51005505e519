"""`greenlight reset` (SPEC: "Reset: move a daemon's group to a time or offset
and clear its state, refusing while the group has live members").

Orders whose events are spread over about 25 minutes of event time go
through orderd, which commits all of it. While orderd runs, `reset --yes` is
refused (exit 1, naming its static member) and changes nothing. Once it is
stopped, `--dry-run` prints the plan (each input partition to its first
record stamped at or after T) and changes nothing; without --yes the reset
exits 2; with --yes --wait it waits out the stopped member's session and
applies: the group sits at T's offsets and the changelog is empty. A second
identical reset changes nothing more; a --to-offset plan moves the partition
it names and puts the others at T, an offset past the end is refused (exit
2); batchd's plan names its one input (the repartition topic) and its own
changelog. A second app id ("fresh", never run,
its changelog missing) is reset to T the same way, which creates its
changelog. Both then run bounded (stop.at=end) over the same records.

"State matches" means: for every key of the two changelogs, the last value
(a tombstone: no value) is the same bytes, and the two key sets are equal;
the orders whose every event lies before T are in neither (they were in
orderd's changelog before the reset). The order-status records orderd
publishes after the reset equal fresh's, key by key, value bytes in order."""
from harness import *
from wire import T0

N_ORDERS = 24
SPACING_MS = 60_000            # Order i starts at T0 + i * SPACING_MS ...
EVENT_GAP_MS = 40_000          # ... and its events follow each other by this.
T = T0 + 12 * SPACING_MS + 20_000  # Order 12 placed before T, its later events after.
CHANGELOG = "greenlight-orderd.orders.changelog"
STATUS = "greenlight.order-status"
SESSION_MS = 10_000
FRESH = "fresh"
FRESH_OUTPUTS = ["greenlight.order-status.fresh", "greenlight-batchd.repartition.fresh",
                 "greenlight.dlq.fresh"]
FRESH_SETTINGS = [f"--app.id={FRESH}",
                  f"--output.topics=status={FRESH_OUTPUTS[0]},repartition={FRESH_OUTPUTS[1]}",
                  f"--dlq.topic={FRESH_OUTPUTS[2]}"]


def events():
    out = []
    for i in range(N_ORDERS):
        t = T0 + i * SPACING_MS
        for k, e in enumerate(lifecycle_events("RST", i, f"O-RST-{i:02d}", 1000 + i, t, "test")):
            out.append(dict(e, occurred_at_ms=t + k * EVENT_GAP_MS))
    return out


def reset(prefix, *args, settings=(), daemon="orderd", timeout=120):
    """(exit code, stdout, stderr) of `greenlight reset orderd ...`, with the
    daemon's settings as they are given to it (so the CLI knows its session)."""
    r = subprocess.run([CLI, "reset", daemon, "-b", BOOTSTRAP, "--prefix", prefix, *args, "--",
                        f"--kafka.session.timeout.ms={SESSION_MS}", *settings],
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def plan(prefix, *args, daemon="orderd", inputs=INPUT_TOPICS):
    """The --dry-run --json plan: (partitions by (topic, partition), changelog, group)."""
    code, out, err = reset(prefix, "--dry-run", "--json", *args, daemon=daemon)
    check(code == 0, f"reset {daemon} --dry-run: exit {code}: {err}")
    lines = [json.loads(l) for l in out.splitlines() if l.strip()]
    check(lines and lines[-1] == {"result": "dry_run"}, f"dry run's last line: {lines[-1:]}")
    parts = {(l["topic"], l["partition"]): l for l in lines if "partition" in l}
    cl = [l["changelog"] for l in lines if "changelog" in l]
    group = [l["group"] for l in lines if "group" in l]
    check(set(parts) == {(prefix + t, p) for t in inputs for p in range(PARTITIONS)} and
          len(cl) == 1 and len(group) == 1,
          f"the plan has partitions {sorted(parts)}, {len(cl)} changelog and {len(group)} group "
          f"lines")
    return parts, cl[0], group[0]


def check_given_offsets(prefix, want):
    """--to-offset moves the partition it names, the others go to T's offsets;
    an offset outside the partition is refused (exit 2)."""
    key = next(k for k in sorted(want) if k[0] == prefix + "greenlight.orders" and want[k] > 0)
    spec = f"greenlight.orders:{key[1]}:{want[key] - 1}"
    parts, _, _ = plan(prefix, "--to-time", str(T), "--to-offset", spec)
    got = {k: p["new"] for k, p in parts.items()}
    check(got == {**want, key: want[key] - 1} and parts[key]["how"] == "given",
          f"--to-offset {spec}: {parts[key]}, others {got}")
    spec = f"{prefix}greenlight.orders:{key[1]}:{parts[key]['end'] + 1}"
    code, _, err = reset(prefix, "--dry-run", "--to-offset", spec)
    check(code == 2 and "is outside" in err, f"--to-offset past the end: exit {code}: {err}")


def check_batchd_plan(prefix):
    """batchd's plan: its one input, the repartition topic, and its own changelog."""
    _, cl, group = plan(prefix, daemon="batchd", inputs=["greenlight-batchd.repartition"])
    check(cl["topic"] == prefix + "greenlight-batchd.batches.changelog" and cl["exists"] and
          group["id"] == prefix + "greenlight-batchd", f"batchd's plan: {cl} {group}")


def at_end(p):
    """A plan line's partition is processed to its end: committed there, or
    nothing committed on a partition that is empty (its start is its end)."""
    return (p["committed"] if p["committed"] is not None else p["low"]) == p["end"]


def expected_targets(prefix):
    """Each input partition's first offset stamped at or after T, else its end."""
    want = {}
    for topic in INPUT_TOPICS:
        for p in range(PARTITIONS):
            want[(prefix + topic, p)] = None
        ends = {}
        for r in tail(prefix, topic, raw=True):
            key = (r["topic"], r["partition"])
            ends[key] = r["offset"] + 1
            if r["timestamp_ms"] >= T and want[key] is None:
                want[key] = r["offset"]
        for key in want:
            if want[key] is None and key[0] == prefix + topic:
                want[key] = ends.get(key, 0)
    return want


def last_values(prefix, topic):
    """(partition, key) -> the last value's hex of a topic, tombstoned keys
    left out. By partition: the engine keeps per-partition entries under one
    key (its stream time)."""
    last = {}
    for r in tail(prefix, topic, raw=True):
        last[(r["partition"], r["key"])] = r.get("value_hex")
    return {k: v for k, v in last.items() if v is not None}


def orders_in(state):
    return {key for _, key in state}


def same_state(prefix, before, what):
    now = last_values(prefix, CHANGELOG)
    differ = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
    check(not differ, f"{what} changed the changelog: {len(differ)} keys, e.g. "
          f"{[(k, before.get(k), now.get(k)) for k in differ[:2]]}")


def statuses(records):
    """Key -> value hex of each status record, in log order."""
    out = {}
    for r in records:
        out.setdefault(r["key"], []).append(r["value_hex"])
    return out


def bounded(prefix, name, extra=()):
    """orderd run to its end offsets (stop.at=end), no HTTP: waits for exit 0."""
    d = orderd(prefix, name, ["--stop.at", "end", "--http.port", "-1",
                              f"--kafka.session.timeout.ms={SESSION_MS}", *extra])
    d.start()
    d.expect_exit = True
    return d


def main():
    prefix = new_prefix("reset")
    make_topics(prefix, FRESH_OUTPUTS)
    evs = events()
    produce(prefix, evs)
    before_t = {f"O-RST-{i:02d}" for i in range(N_ORDERS)
                if T0 + i * SPACING_MS + 5 * EVENT_GAP_MS < T}
    after_t = {e["order_placed"]["order_id"] for e in evs
               if "order_placed" in e and e["occurred_at_ms"] >= T}
    check(len(before_t) >= 5 and len(after_t) >= 5, f"workload: {before_t} / {after_t}")

    # A session of 10 s: the stopped member stays long enough for the checks
    # below to find it there (a static member does not leave on close).
    d = orderd(prefix, extra=[f"--kafka.session.timeout.ms={SESSION_MS}"]).start()
    d.wait_ready()
    d.wait_committed(len(evs))
    state_before = last_values(prefix, CHANGELOG)
    check(before_t <= orders_in(state_before), f"orderd's changelog lacks orders before T: "
          f"{sorted(before_t - orders_in(state_before))}")
    want = expected_targets(prefix)

    # Refused while it runs, even with --yes; nothing moves.
    member = prefix + "greenlight-orderd-0"
    code, out, err = reset(prefix, "--to-time", str(T), "--yes")
    check(code == 1 and "live member" in err and member in err and "nothing was changed" in err,
          f"reset --yes while orderd runs: exit {code} (want 1, naming {member}): {err}")
    parts, cl, group = plan(prefix, "--to-time", str(T))
    check(group["state"] == "Stable" and [m["instance_id"] for m in group["members"]] == [member],
          f"the running group: {group}")
    check(all(at_end(p) for p in parts.values()),
          f"orderd has not committed to the end: {[p for p in parts.values() if not at_end(p)]}")
    committed_before = {k: p["committed"] for k, p in parts.items()}
    same_state(prefix, state_before, "the reset refused while orderd runs")
    check(d.alive(), "orderd died during the refused reset")

    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")
    stopped = time.monotonic()

    # --dry-run: the plan, nothing changed; the stopped member is still there.
    parts, cl, group = plan(prefix, "--to-time", str(T))
    check([m["instance_id"] for m in group["members"]] == [member],
          f"the stopped static member left at once: {group}")
    got = {k: p["new"] for k, p in parts.items()}
    check(got == want, f"the plan's offsets for T: {got}, expected {want}")
    check(any(want[k] < (committed_before[k] or 0) for k in want), "T moves no partition back")
    check(cl["exists"] and cl["partitions"] == PARTITIONS and cl["compact"] and cl["records"] > 0,
          f"the changelog in the plan: {cl}")
    check({k: p["committed"] for k, p in parts.items()} == committed_before,
          "--dry-run moved the committed offsets")
    same_state(prefix, state_before, "--dry-run")

    # Neither --yes nor --dry-run: the plan, exit 2.
    code, out, err = reset(prefix, "--to-time", str(T))
    check(code == 2 and "add --yes" in err and "changelog" in out,
          f"reset without --yes: exit {code} (want 2): {err}")

    # --yes without --wait while the stopped member's session runs: refused.
    code, out, err = reset(prefix, "--to-time", str(T), "--yes")
    check(code == 1 and member in err and "--wait" in err and f"{SESSION_MS} ms" in err,
          f"reset --yes after the stop: exit {code} (want 1, pointing at --wait): {err}")
    check(time.monotonic() - stopped < SESSION_MS / 1000 - 3,
          "the checks after the stop took too long to be sure the member was still there")
    same_state(prefix, state_before, "the reset refused after the stop")

    # --yes --wait: waits out the session, then applies.
    t0 = time.monotonic()
    code, out, err = reset(prefix, "--to-time", str(T), "--yes", "--wait", "60")
    waited = time.monotonic() - t0
    check(code == 0 and "waiting up to 60 s" in err, f"reset --yes --wait 60: exit {code}: {err}")
    parts, cl, group = plan(prefix, "--to-time", str(T))
    check({k: p["committed"] for k, p in parts.items()} == want,
          f"after the reset the group is at {[(k, p['committed']) for k, p in parts.items()]}, "
          f"expected {want}")
    check(cl["exists"] and cl["records"] == 0 and cl["partitions"] == PARTITIONS and cl["compact"],
          f"the changelog after the reset: {cl}")
    check(not group["members"], f"members after the reset: {group}")
    check(last_values(prefix, CHANGELOG) == {}, "the changelog still holds records")
    r = subprocess.run([CLI, "topics", "check", "-b", BOOTSTRAP, "--prefix", prefix],
                       capture_output=True, timeout=60)
    check(r.returncode == 0, f"topics check after the reset: {r.stdout.decode()[-1500:]}")

    # The same reset again: nothing more changes.
    code, out, err = reset(prefix, "--to-time", str(T), "--yes")
    check(code == 0, f"the second reset: exit {code}: {err}")
    parts, cl, _ = plan(prefix, "--to-time", str(T))
    check({k: p["committed"] for k, p in parts.items()} == want and cl["records"] == 0,
          "the second reset moved something")

    check_given_offsets(prefix, want)
    check_batchd_plan(prefix)

    # The fresh app id: its group never ran, its changelog does not exist.
    code, out, err = reset(prefix, "--to-time", str(T), "--yes", "--json", settings=FRESH_SETTINGS)
    lines = [json.loads(l) for l in out.splitlines() if l.strip()]
    check(code == 0 and lines[-1] == {"result": "done"}, f"reset of {FRESH}: exit {code}: {err}")
    fresh_cl = [l["changelog"] for l in lines if "changelog" in l][0]
    check(not fresh_cl["exists"] and fresh_cl["topic"] == f"{prefix}{FRESH}.orders.changelog",
          f"{FRESH}'s changelog in the plan: {fresh_cl}")

    status_end = {}
    for rec in tail(prefix, STATUS, raw=True):
        status_end[rec["partition"]] = rec["offset"]
    again = bounded(prefix, "orderd-after-reset")
    fresh = bounded(prefix, "orderd-fresh", FRESH_SETTINGS)
    wait_until(lambda: not again.alive() and not fresh.alive(), 180, "both bounded runs to end")
    check(again.proc.returncode == 0 and fresh.proc.returncode == 0,
          f"bounded runs exited {again.proc.returncode} and {fresh.proc.returncode}:\n"
          f"{again.log_text()[-1500:]}\n{fresh.log_text()[-1500:]}")
    again.check_no_bug()
    fresh.check_no_bug()

    state_again = last_values(prefix, CHANGELOG)
    state_fresh = last_values(prefix, f"{FRESH}.orders.changelog")
    check(state_again, "orderd reprocessed nothing after the reset")
    check(set(state_again) == set(state_fresh),
          f"keys differ: only after the reset {sorted(set(state_again) - set(state_fresh))}, "
          f"only fresh {sorted(set(state_fresh) - set(state_again))}")
    differ = sorted(k for k in state_again if state_again[k] != state_fresh[k])
    check(not differ, f"{len(differ)} keys hold other bytes, e.g. {differ[:3]}")
    check(not before_t & orders_in(state_again), f"orders wholly before T are still in the "
          f"state: {sorted(before_t & orders_in(state_again))}")
    check(after_t <= orders_in(state_again),
          f"orders after T missing: {sorted(after_t - orders_in(state_again))}")

    new_status = [rec for rec in tail(prefix, STATUS, raw=True)
                  if rec["offset"] > status_end.get(rec["partition"], -1)]
    fresh_status = tail(prefix, FRESH_OUTPUTS[0], raw=True)
    check(new_status and statuses(new_status) == statuses(fresh_status),
          f"order status after the reset ({len(new_status)} records) differs from fresh's "
          f"({len(fresh_status)})")
    parts, _, _ = plan(prefix)
    check(all(at_end(p) for p in parts.values()),
          f"orderd did not commit to the end after the reset: "
          f"{[p for p in parts.values() if not at_end(p)]}")
    print(f"reset: refused while orderd ran; the reset to T waited {waited:.1f}s for the member; "
          f"{len(state_again)} keys of state and {len(new_status)} status records after it equal "
          f"a fresh run from T ({len(before_t)} orders before T gone)")


run(main)
