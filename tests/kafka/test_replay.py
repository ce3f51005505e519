"""`greenlight replay` copies a fixed slice of a topic into another, record
for record. Forty records with known keys, headers and timestamps (two of
them keyless, on a partition of their own choosing) are the source; then:
(a) a time range copied into a fresh topic equals the selected source
records byte for byte (key, value, headers, timestamp, partition); (b) one
key copies only its records; (c) --dry-run sends nothing and prints the
records it would send; (d) 2,000 records at --rate 1000 take at least ~2 s;
(e) --transactional's copy is visible to a read_committed reader; (f) a
SIGINT mid-copy exits 0 and its resume commands copy exactly the rest of
the slice (not the records appended since);
--type copies only one payload's envelopes; (g) DEST = SOURCE copies the slice once (records appended during the
replay are not copied again)."""
import signal

from harness import *
from wire import T0

SRC = "replay.src"
BULK = "replay.bulk"
N_BULK = 2000
KEYS = [f"K-{k}" for k in range(10)]


def records():
    """Record i: key K-(i % 10) (i = 7 and 23: keyless, on partitions 3 and 1),
    stamped T0 + i s, with two headers."""
    out = []
    for i in range(40):
        r = {"topic": SRC, "value_hex": f"{i:04x}00ff", "timestamp_ms": T0 + i * 1000,
             "headers": {"h": f"v-{i}", "trace": f"t{i % 3}"}}
        if i in (7, 23):
            r["partition"] = 3 if i == 7 else 1
        else:
            r["key"] = KEYS[i % 10]
        out.append(r)
    return out


def shape(r):
    """What a copy must keep of a record."""
    return (r["key"] or "", r.get("value_hex"), json.dumps(r["headers"], sort_keys=True),
            r["timestamp_ms"], r["partition"])


def replay(prefix, *args, timeout=120):
    """(exit code, stdout, stderr, seconds) of one replay."""
    t = time.monotonic()
    r = subprocess.run([CLI, "replay", "-b", BOOTSTRAP, "--prefix", prefix, *args],
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode(), time.monotonic() - t


def replay_ok(prefix, *args):
    code, out, err, secs = replay(prefix, *args)
    check(code == 0, f"replay {' '.join(args)}: exit {code}: {err[-1500:]}")
    check("Sanitizer" not in err and "runtime error:" not in err, f"sanitizer report: {err[-3000:]}")
    return out, err, secs


def same(prefix, dest, want, what):
    got = sorted(shape(r) for r in tail(prefix, dest, raw=True))
    want = sorted(shape(r) for r in want)
    check(got == want, f"{what}: {dest} holds {len(got)} records, expected {len(want)}:\n"
                       f"got  {got[:5]}...\nwant {want[:5]}...")


def test_range_key_dry_txn(prefix, source):
    # (a) [T0 + 10 s, T0 + 30 s): records 10..29, keyless 23 included.
    rng = [r for r in source if T0 + 10000 <= r["timestamp_ms"] < T0 + 30000]
    check(len(rng) == 20, f"the range selects {len(rng)} records")
    _, err, _ = replay_ok(prefix, SRC, "--to-topic", "replay.range", "--from", str(T0 + 10000),
                          "--until", "2026-01-05T00:00:30Z")
    check("copied 20 records" in err, f"summary: {err}")
    same(prefix, "replay.range", rng, "time range")
    # (b) One key.
    _, err, _ = replay_ok(prefix, SRC, "--to-topic", "replay.key", "--key", "K-3")
    same(prefix, "replay.key", [r for r in source if r["key"] == "K-3"], "--key K-3")
    # (c) Dry run: prints the range's records as tail --raw would, sends nothing.
    out, err, _ = replay_ok(prefix, SRC, "--to-topic", "replay.dry", "--dry-run",
                            "--from", str(T0 + 10000), "--until", str(T0 + 30000))
    printed = [json.loads(l) for l in out.splitlines() if l.strip()]
    check(sorted(shape(r) for r in printed) == sorted(shape(r) for r in rng),
          f"--dry-run printed {len(printed)} records, not the range's 20")
    check("would copy 20 records" in err, f"--dry-run summary: {err}")
    check(tail(prefix, "replay.dry", raw=True) == [], "--dry-run sent records")
    # --type: none of these raw records is an envelope; all are skipped and counted.
    out, err, _ = replay_ok(prefix, SRC, "--to-topic", "replay.dry", "--dry-run",
                            "--type", "order_placed")
    check(out.strip() == "" and "would copy 0 records, skipped 40" in err
          and "40 records are not valid envelopes" in err, f"--type: {err}")
    # (e) One transaction, seen by a read_committed reader.
    _, err, _ = replay_ok(prefix, SRC, "--to-topic", "replay.txn", "--transactional")
    same(prefix, "replay.txn", source, "--transactional")


def test_rate(prefix, bulk):
    _, err, secs = replay_ok(prefix, BULK, "--to-topic", "replay.rate", "--rate", "1000")
    check(f"copied {N_BULK} records" in err, f"rate summary: {err}")
    check(secs >= 1.9, f"{N_BULK} records at --rate 1000 took {secs:.2f} s (< 1.9 s)")
    check(len(tail(prefix, "replay.rate", raw=True)) == N_BULK, "--rate: not every record copied")
    print(f"rate-limited replay: {N_BULK} records at --rate 1000 in {secs:.2f} s", flush=True)


def test_interrupt_and_resume(prefix, bulk):
    p = subprocess.Popen([CLI, "replay", "-b", BOOTSTRAP, "--prefix", prefix, BULK,
                          "--to-topic", "replay.resume", "--rate", "50"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    register_process(p)
    # Interrupted once it is under way: some records copied, not all (2,000
    # at 50/s take 40 s, room for a loaded machine; a tail to see the first
    # ones takes well under one; the resume is run at full speed).
    # Each look is short and needs one record only (a look that waits for
    # the end of partitions still being written, or for a topic not there
    # yet, could outlast the whole copy).
    def copied_one():
        r = subprocess.run([CLI, "tail", "replay.resume", "-b", BOOTSTRAP, "--prefix", prefix,
                            "--from-beginning", "--count", "1", "--timeout-ms", "3000", "--raw"],
                           capture_output=True, timeout=60)
        return r.returncode == 0 and r.stdout.strip()
    wait_until(lambda: p.poll() is not None or copied_one(), 30,
               "the interrupted replay to copy its first records", interval=0.1)
    check(p.poll() is None, "the replay ended before it could be interrupted")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=90)
    err = err.decode()
    check(p.returncode == 0, f"SIGINT: exit {p.returncode}: {err[-1500:]}")
    cmds = [l.split()[2:] for l in err.splitlines() if l.startswith("  greenlight replay ")]
    check(cmds, f"SIGINT: no resume command in: {err[-1500:]}")
    # Records appended since are not part of the slice the resume finishes.
    produce(prefix, [{"topic": BULK, "key": f"late-{i}", "value_hex": "00"} for i in range(8)])
    for args in cmds:
        # The hint keeps --rate 50; the slice it names is what is checked, at
        # full speed.
        check("--rate" in args, f"the resume command drops --rate: {args}")
        i = args.index("--rate")
        args = args[:i] + args[i + 2:]
        r = subprocess.run([CLI, "replay", *args], capture_output=True, timeout=120)
        check(r.returncode == 0, f"resume {args}: exit {r.returncode}: {r.stderr.decode()[-800:]}")
    same(prefix, "replay.resume", bulk, "interrupted, then resumed")


def test_type(prefix):
    """--type order_placed, on greenlight.orders: three placed orders, one
    cancellation and one record that is no envelope."""
    events = [e for i in range(3) for e in lifecycle_events("rp", i, f"O-rp-{i}", 1000, T0, "test")
              if "order_placed" in e]
    events.append({"event_id": "E-rp-c", "occurred_at_ms": T0 + 9, "source": "test",
                   "order_cancelled": {"order_id": "O-rp-0", "reason": "test"}})
    events.append({"topic": "greenlight.orders", "key": "O-rp-9", "value_hex": "ffff"})
    produce(prefix, events)
    out, err, _ = replay_ok(prefix, "greenlight.orders", "--to-topic", "replay.type",
                            "--type", "order_placed")
    check("copied 3 records, skipped 2" in err and "1 records are not valid envelopes" in err,
          f"--type order_placed: {err}")
    got = tail(prefix, "replay.type", msg_type="greenlight.v1.Envelope")
    check(sorted(r["value"]["order_placed"]["order_id"] for r in got) ==
          ["O-rp-0", "O-rp-1", "O-rp-2"], f"--type order_placed copied {got}")


def test_into_itself(prefix, source):
    before = [r for r in source if r["key"] == "K-5"]
    _, err, _ = replay_ok(prefix, SRC, "--to-topic", SRC, "--key", "K-5")
    after = [r for r in tail(prefix, SRC, raw=True) if r["key"] == "K-5"]
    check(sorted(shape(r) for r in after) == sorted(shape(r) for r in before * 2),
          f"DEST = SOURCE: {len(after)} K-5 records, expected {2 * len(before)}")


def main():
    prefix = new_prefix("replay")
    dests = ["replay.range", "replay.key", "replay.dry", "replay.txn", "replay.rate",
             "replay.resume", "replay.type"]
    make_topics(prefix, extra=[f"{SRC}:4", f"{BULK}:4", *[f"{d}:4" for d in dests]])
    produce(prefix, records())
    produce(prefix, [{"topic": BULK, "key": f"B-{i}", "value_hex": f"{i:08x}",
                      "timestamp_ms": T0 + i} for i in range(N_BULK)])
    source = tail(prefix, SRC, raw=True)
    check(len(source) == 40, f"source holds {len(source)} records")
    bulk = tail(prefix, BULK, raw=True)
    test_range_key_dry_txn(prefix, source)
    test_rate(prefix, bulk)
    test_interrupt_and_resume(prefix, bulk)
    test_type(prefix)
    test_into_itself(prefix, source)
    print("replay: a time range, a key, --dry-run, --type, --rate, --transactional, "
          "SIGINT and resume, and DEST = SOURCE each copied exactly their records")


run(main)
