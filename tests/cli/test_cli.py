"""The CLI without a broker: `greenlight produce` judges every record with the
daemons' code before it connects, its messages name the input file and
line, and every command keeps the exit-code table of its usage text
(0 done, 1 anything else, 2 bad usage or input known before connecting,
3 no record).

Kafka is never reached: the bootstrap is 127.0.0.1:1 (refused at once) or a
listening socket of this test that never answers, so the test can also see
whether the CLI connected at all. Every subprocess is bounded by a timeout.
Usage: test_cli.py PATH_TO_greenlight"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

CLI = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("GL_BUILD_DIR", "build"), "services", "cli", "greenlight")
UNREACHABLE = "127.0.0.1:1"
TIMEOUT_MS = 1500  # --timeout-ms of the runs that do reach the connection step.
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def run(args, stdin="", timeout=30, out=None):
    """(exit code, stderr, seconds) of one CLI run, killed after timeout;
    out, a list, receives its standard output."""
    t = time.monotonic()
    try:
        r = subprocess.run([CLI, *args], input=stdin.encode(), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return 124, (e.stderr or b"").decode(errors="replace") + f"\n(killed after {timeout}s)", timeout
    if out is not None:
        out.append(r.stdout.decode(errors="replace"))
    err = r.stderr.decode(errors="replace")
    # A sanitizer's report also exits 1, which some runs here expect.
    check(not any(m in err for m in ("Sanitizer", "runtime error:")),
          f"{args}: a sanitizer report:\n{err[-3000:]}")
    return r.returncode, err, time.monotonic() - t


def envelope(eid="E-1", **placed):
    p = {"order_id": "O-1", "buyer_id": "bytedance", "units": 200000,
         "end_use": "COMMERCIAL_CLOUD", **placed}
    return {"event_id": eid, "occurred_at_ms": 1767571200000, "source": "test", "order_placed": p}


def without(d, key):
    return {k: v for k, v in d.items() if k != key}


# (name, record, the reason in the message, a part of its detail). Each is
# refused by the codec (gl_envelope_validate), the code orderd runs.
BAD = [
    ("missing buyer_id",
     {**envelope(), "order_placed": without(envelope()["order_placed"], "buyer_id")},
     "invalid", "OrderPlaced E-1: buyer_id is required"),
    ("units -5", envelope(units=-5), "invalid", "units -5 and domestic_units_committed 0 must be >= 0"),
    ("unknown enum number", envelope(end_use=99), "unknown_enum",
     "OrderPlaced.end_use: unknown enum value 99 (greenlight.v1.EndUse knows 0..6)"),
    ("key mismatch", {**envelope(), "key": "O-2"}, "key_mismatch",
     'record key "O-2" (3 bytes) differs from OrderPlaced.order_id "O-1"'),
]


def usage_example():
    """The envelope produce's help gives as its example, as one JSON line."""
    text = []
    code, _, _ = run(["produce", "--help"], out=text)
    check(code == 0, f"greenlight produce --help: exit {code}")
    out = text[0]
    start = out.index("e.g.\n") + len("e.g.\n")
    lines = out[start:out.index("\noptionally", start)].splitlines()
    return json.loads("".join(l.strip() for l in lines))


class Listener:
    """A TCP port that accepts connections and never answers: a broker that
    cannot be reached in Kafka's terms, which tells whether anyone came."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.bootstrap = "127.0.0.1:%d" % self.sock.getsockname()[1]

    def connected(self):
        """True if a connection was made since the last call (the backlog
        keeps a finished connection even after its client closed it)."""
        came = False
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return came
            conn.close()
            came = True


def test_usage_example_validates():
    ex = usage_example()
    check(ex["order_placed"].get("buyer_id"), f"the usage example has no buyer_id: {ex}")
    code, err, secs = run(["produce", "-b", UNREACHABLE, "--strict", "--timeout-ms", str(TIMEOUT_MS)],
                          json.dumps(ex) + "\n")
    # Valid: it reaches the connection step, which fails (1), and nothing was refused.
    check(code == 1 and "stdin:1: delivery to greenlight.orders failed" in err and
          "--no-validate" not in err, f"usage example: exit {code}, {err}")


def test_refused_before_connecting(listener):
    with tempfile.TemporaryDirectory() as tmp:
        for name, record, reason, detail in BAD:
            path = os.path.join(tmp, name.replace(" ", "_") + ".jsonl")
            with open(path, "w") as f:
                f.write("\n" + json.dumps(record) + "\n")  # Line 2: the blank line counts.
            for bootstrap in (UNREACHABLE, listener.bootstrap):
                code, err, secs = run(["produce", "-b", bootstrap, "--strict", "--file", path,
                                       "--timeout-ms", str(TIMEOUT_MS)])
                want = f"greenlight: produce: {path}:2: {reason}: "
                check(code == 2 and want in err and detail in err,
                      f"{name} via {bootstrap}: exit {code} (want 2), want {want!r} and {detail!r} in:\n{err}")
            check(not listener.connected(), f"{name}: the CLI connected before refusing the record")
    # Standard input is named "stdin".
    name, record, reason, detail = BAD[0]
    code, err, _ = run(["produce", "-b", UNREACHABLE, "--timeout-ms", str(TIMEOUT_MS)],
                       json.dumps(record) + "\n")
    check(code == 2 and f"greenlight: produce: stdin:1: {reason}: {detail}" in err,
          f"{name} on stdin: exit {code}, {err}")


def test_bad_enum_name_lists_values():
    code, err, _ = run(["produce", "-b", UNREACHABLE, "--timeout-ms", str(TIMEOUT_MS)],
                       json.dumps(envelope(end_use="BOGUS")) + "\n")
    check(code == 2 and "stdin:1: field 'order_placed.end_use': unknown value \"BOGUS\"" in err and
          "allowed: UNSPECIFIED, COMMERCIAL_CLOUD, AI_RESEARCH" in err,
          f"bad enum name: exit {code}, {err}")


def test_no_validate_reaches_the_connection(listener):
    lines = "".join(json.dumps(r) + "\n" for _, r, _, _ in BAD)
    code, err, secs = run(["produce", "-b", UNREACHABLE, "--no-validate", "--timeout-ms",
                           str(TIMEOUT_MS)], lines, timeout=TIMEOUT_MS / 1000 + 30)
    check(code == 1 and "produced 0 records (4 failed)" in err and
          not any(r in err for _, _, r, _ in BAD),
          f"--no-validate: exit {code} (want 1, 4 failed, no refusal): {err}")
    # librdkafka flushes for the timeout plus its 5 s grace, at most.
    check(secs < TIMEOUT_MS / 1000 + 10, f"--no-validate took {secs:.1f}s")
    # The control of the listener check above: now the CLI does connect.
    code, err, _ = run(["produce", "-b", listener.bootstrap, "--no-validate", "--timeout-ms",
                        str(TIMEOUT_MS)], json.dumps(BAD[0][1]) + "\n", timeout=TIMEOUT_MS / 1000 + 30)
    check(code == 1, f"--no-validate against a silent broker: exit {code}, {err}")
    check(listener.connected(), "--no-validate: the CLI never connected, so the check that it "
                                "does not connect before refusing proves nothing")


def test_usage_errors():
    cases = [
        (["produce", "--bogus"], "greenlight: produce: unknown option '--bogus'"),
        (["tail", "T", "--bogus"], "greenlight: tail: unknown option '--bogus'"),
        (["show", "O-1", "--bogus"], "greenlight: show: unknown option '--bogus'"),
        (["tail", "T", "--offset", "x"], "greenlight: tail: --offset: expected N (an offset), -N"),
        (["tail", "T", "--offset", "-0"], "greenlight: tail: --offset: expected"),
        (["tail", "T", "--from", "2026-02-30T00:00:00Z"], "greenlight: tail: --from: expected epoch"),
        (["tail", "T", "--from", "2026-01-05T00:00:00"], "greenlight: tail: --from: expected epoch"),
        (["tail", "T", "--from", "yesterday"], "greenlight: tail: --from: expected epoch"),
        (["tail", "T", "--partition", "-1"], "greenlight: tail: --partition: expected a partition"),
        (["tail", "T", "--offset", "3", "--from", "5"], "greenlight: tail: give one start"),
        (["tail", "T", "--from-beginning", "--offset", "end"], "greenlight: tail: give one start"),
        (["tail", "T", "--key", "K", "--partition", "1"], "greenlight: tail: --key and --partition"),
        (["show", "O-1", "--partition", "1"], "greenlight: show: --partition: show reads"),
        (["show", "O-1", "--offset", "x"], "greenlight: show: --offset: expected"),
        (["replay", "T"], "greenlight: replay: --to-topic: where to?"),
        (["replay"], "greenlight: replay: which topic?"),
        (["replay", "T", "--to-topic", "D", "--rate", "0"], "greenlight: replay: --rate: expected"),
        (["replay", "T", "--to-topic", "D", "--rate", "fast"], "greenlight: replay: --rate: expected"),
        (["replay", "T", "--to-topic", "D", "--from", "yesterday"],
         "greenlight: replay: --from: expected epoch"),
        (["replay", "T", "--to-topic", "D", "--until", "2026-02-30T00:00:00Z"],
         "greenlight: replay: --until: expected epoch"),
        (["replay", "T", "--to-topic", "D", "--from", "2000", "--until", "1000"],
         "greenlight: replay: --until must be later than --from"),
        (["replay", "T", "--to-topic", "D", "--offset", "-3"], "greenlight: replay: --offset: expected"),
        (["replay", "T", "--to-topic", "D", "--offset", "3", "--from", "5"],
         "greenlight: replay: give one start"),
        (["replay", "T", "--to-topic", "D", "--key", "K", "--partition", "1"],
         "greenlight: replay: --key and --partition"),
        (["replay", "T", "--to-topic", "D", "--type", "OrderStatus"],
         "greenlight: replay: --type: 'OrderStatus' is not an Envelope payload"),
        (["replay", "T", "--to-topic", "D", "--end-offset", "5"],
         "greenlight: replay: --end-offset needs --partition or --key"),
        (["show"], "greenlight: show: which order?"),
        (["show", "O-1", "O-2"], "greenlight: show: unexpected argument 'O-2'"),
        (["show", "O-1", "--timeout-ms", "x"], "greenlight: show: --timeout-ms: expected"),
        (["produce", "--timeout-ms", "0"], "greenlight: produce: --timeout-ms: expected"),
        (["produce", "-X", "no.such.property=1"], "no.such.property"),
        (["produce", "--file", "/nonexistent/in.jsonl"], "cannot open /nonexistent/in.jsonl"),
        (["nope"], "unknown command 'nope'"),
        ([], "usage: greenlight"),
    ]
    for args, want in cases:
        code, err, _ = run(args)
        check(code == 2 and want in err, f"{args}: exit {code} (want 2), {want!r} not in: {err}")
        check("greenlight: tail:" not in err or args[:1] == ["tail"], f"{args}: names tail: {err}")


def test_dlq_usage():
    """`greenlight dlq`: usage errors exit 2 before connecting; --help exits 0."""
    cases = [
        (["dlq"], "greenlight: dlq: which subcommand?"),
        (["dlq", "purge"], "greenlight: dlq: unknown subcommand 'purge'"),
        (["dlq", "list", "--bogus"], "greenlight: dlq: unknown option '--bogus'"),
        (["dlq", "list", "--from", "yesterday"], "greenlight: dlq: --from: expected epoch"),
        (["dlq", "summary", "--to", "2026-02-30T00:00:00Z"], "greenlight: dlq: --to: expected epoch"),
        (["dlq", "list", "--from", "2000", "--to", "1000"], "--from is later than --to"),
        (["dlq", "list", "--count", "0"], "greenlight: dlq: --count: expected a positive"),
        (["dlq", "list", "--yes"], "--dry-run and --yes belong to redrive"),
        (["dlq", "redrive", "--reason", "expired_unmatched"], "add --yes to do it"),
        (["dlq", "list", "extra"], "greenlight: dlq: unexpected argument 'extra'"),
    ]
    for args, want in cases:
        code, err, _ = run([*args, "-b", UNREACHABLE])
        check(code == 2 and want in err, f"{args}: exit {code} (want 2), {want!r} not in: {err}")
    out = []
    code, err, _ = run(["dlq", "--help"], out=out)
    check(code == 0 and "redrive" in out[0] and "Exit codes" in out[0] and "decode_error" in out[0],
          f"dlq --help: exit {code}, {out[0][:300]!r} {err}")
    code, err, _ = run(["dlq", "summary", "-b", UNREACHABLE, "--timeout-ms", "1000"])
    check(code == 1, f"dlq summary with no broker: exit {code} (want 1), {err}")


def test_topics_usage():
    """`greenlight topics`: usage errors exit 2 before connecting; --help exits 0."""
    cases = [
        (["topics"], "greenlight: topics: which subcommand?"),
        (["topics", "drop"], "greenlight: topics: unknown subcommand 'drop'"),
        (["topics", "create", "--partitions", "0"], "greenlight: topics: --partitions: expected 1 to"),
        (["topics", "create", "--partitions", "many"], "greenlight: topics: --partitions: expected"),
        (["topics", "create", "--replication-factor", "0"],
         "greenlight: topics: --replication-factor: expected"),
        (["topics", "create", "audit:compactt"], "greenlight: topics: bad topic spec 'audit:compactt'"),
        (["topics", "create", "a/b:3"], "greenlight: topics: bad topic spec 'a/b:3'"),
        (["topics", "create", ":compact"], "greenlight: topics: bad topic spec ':compact'"),
        (["topics", "create", "audit:0"], "greenlight: topics: topic spec 'audit:0': PARTITIONS"),
        (["topics", "create", "greenlight.orders:8"], "is a topic of the deployment already"),
        (["topics", "check", "extra"], "greenlight: topics: unexpected argument 'extra'"),
        (["topics", "check", "--dry-run"], "--dry-run belong to create"),
        (["topics", "create", "--bogus"], "greenlight: topics: unknown option '--bogus'"),
    ]
    for args, want in cases:
        code, err, _ = run([*args, "-b", UNREACHABLE])
        check(code == 2 and want in err, f"{args}: exit {code} (want 2), {want!r} not in: {err}")
    out = []
    code, err, _ = run(["topics", "--help"], out=out)
    check(code == 0 and "Examples" in out[0] and "Exit codes" in out[0] and "check" in out[0],
          f"topics --help: exit {code}, {out[0][:300]!r} {err}")
    code, err, _ = run(["topics", "check", "-b", UNREACHABLE, "--timeout-ms", "1000"])
    check(code == 1 and "cannot read the metadata" in err,
          f"topics check with no broker: exit {code} (want 1), {err}")


def test_reset_usage():
    """`greenlight reset`: usage errors exit 2 (before connecting, or once the
    daemon's --check-config knows its inputs); --help exits 0; no broker: 1."""
    cases = [
        (["reset"], "greenlight: reset: which daemon?"),
        (["reset", "clockd"], "greenlight: reset: unknown daemon 'clockd'"),
        (["reset", "orderd", "--to-earliest", "--to-time", "1"], "give one of them"),
        (["reset", "orderd", "--dry-run", "--yes"], "give one of them"),
        (["reset", "orderd", "--to-time", "yesterday"], "greenlight: reset: --to-time: expected"),
        (["reset", "orderd", "--to-offset", "greenlight.orders:1"], "expected TOPIC:PARTITION:OFFSET"),
        (["reset", "orderd", "--to-offset", "greenlight.orders:a:1"], "expected TOPIC:PARTITION"),
        (["reset", "orderd", "--to-offset", "greenlight.orders:0:-1"], "expected TOPIC:PARTITION"),
        (["reset", "orderd", "--wait", "-1"], "greenlight: reset: --wait '-1': expected"),
        (["reset", "orderd", "--to-offset", "greenlight.order-status:0:1"],
         "greenlight.order-status is not an input of orderd"),
        (["reset", "orderd", "--to-offset", "greenlight.orders:0:1", "--to-offset",
          "greenlight.orders:0:2"], "greenlight.orders [0] is already given"),
        (["reset", "batchd", "--to-offset", "greenlight.orders:0:1"], "not an input of batchd"),
        (["reset", "orderd", "--", "--no.such.setting=1"], "refused its settings"),
    ]
    for args, want in cases:
        code, err, _ = run([*args, "-b", UNREACHABLE])
        check(code == 2 and want in err, f"{args}: exit {code} (want 2), {want!r} not in: {err}")
    out = []
    code, err, _ = run(["reset", "--help"], out=out)
    check(code == 0 and "Examples" in out[0] and "Exit codes" in out[0] and "--wait" in out[0],
          f"reset --help: exit {code}, {out[0][:300]!r} {err}")
    code, err, _ = run(["reset", "orderd", "--dry-run", "-b", UNREACHABLE, "--timeout", "1"])
    check(code == 1, f"reset --dry-run with no broker: exit {code} (want 1), {err}")


def test_version():
    """greenlight --version / version and every executable's --version: exit
    0, "<name> <version> (git <describe>)", then each library's version."""
    bins = os.path.dirname(os.path.dirname(os.path.abspath(CLI)))
    exes = [[CLI, "--version"], [CLI, "version"]] + [
        [os.path.join(bins, d, f"greenlight-{d}"), "--version"]
        for d in ("orderd", "batchd", "clockd", "pipe")]
    for cmd in exes:
        r = subprocess.run(cmd, capture_output=True, timeout=30)
        lines = r.stdout.decode().splitlines()
        name = os.path.basename(cmd[0])
        check(r.returncode == 0 and len(lines) == 5, f"{cmd}: exit {r.returncode}, {lines}")
        if len(lines) != 5:
            continue
        first = lines[0].split(" ")
        check(first[0] == name and first[1].count(".") == 2 and lines[0].endswith(")")
              and "(git " in lines[0], f"{cmd}: first line {lines[0]!r}")
        for line, lib in zip(lines[1:], ("librdkafka", "protobuf-c", "libuv", "jansson")):
            word, _, ver = line.partition(" ")
            check(word == lib and ver[:1].isdigit() and "." in ver, f"{cmd}: {line!r} for {lib}")


def test_group_protocol():
    """group.protocol: classic|consumer. consumer (KIP-848) is refused at start (exit 2,
    naming the key, the value and what was expected) when the librdkafka the daemon runs
    with lacks it (Debian bookworm's 2.0.2), and with it, so is a client setting the broker
    decides for such a group (kafka.session.timeout.ms)."""
    orderd = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(CLI))), "orderd",
                          "greenlight-orderd")

    def daemon(*args):
        r = subprocess.run([orderd, "-b", UNREACHABLE, "--check-config", *args],
                           capture_output=True, timeout=30)
        return r.returncode, r.stderr.decode(errors="replace")

    version = subprocess.run([orderd, "--version"], capture_output=True,
                             timeout=30).stdout.decode().splitlines()[1].split(" ")[1]
    has_848 = tuple(int(x) for x in version.split(".")[:2]) >= (2, 12)
    code, err = daemon("--group.protocol", "eager")
    check(code == 2 and "group.protocol" in err and "classic|consumer" in err,
          f"group.protocol=eager: exit {code} (want 2), {err[-600:]}")
    code, err = daemon("--group.protocol", "classic")
    check(code == 0, f"group.protocol=classic: exit {code} (want 0), {err[-600:]}")
    code, err = daemon("--group.protocol", "consumer")
    if has_848:
        check(code == 0, f"group.protocol=consumer on librdkafka {version}: exit {code}, {err[-600:]}")
        code, err = daemon("--group.protocol", "consumer", "--kafka.session.timeout.ms", "6000")
        check(code == 2 and "kafka.session.timeout.ms = '6000'" in err and "expected unset" in err,
              f"group.protocol=consumer with a session: exit {code} (want 2), {err[-600:]}")
    else:
        check(code == 2 and "group.protocol = 'consumer'" in err and "expected classic" in err
              and version in err,
              f"group.protocol=consumer on librdkafka {version}: exit {code} (want 2), {err[-600:]}")


def test_runtime_failures_exit_1():
    # Timed out (2 before the exit-code rule, now 1), and every line says show.
    code, err, _ = run(["show", "O-1", "-b", UNREACHABLE, "--timeout-ms", "1000"])
    lines = [l for l in err.splitlines() if l.strip()]
    check(code == 1 and "timed out after 1000 ms" in err, f"show timed out: exit {code}, {err}")
    check(lines and all(l.startswith("greenlight: show: ") for l in lines),
          f"show's messages must say show: {lines}")
    code, err, _ = run(["tail", "T", "-b", UNREACHABLE, "--timeout-ms", "1000", "--exit-at-end"])
    check(code == 1 and "greenlight: tail: timed out after 1000 ms" in err,
          f"tail timed out: exit {code}, {err}")


def main():
    check(os.access(CLI, os.X_OK), f"no CLI at {CLI}")
    if FAILURES:
        return 1
    listener = Listener()
    test_usage_example_validates()
    test_refused_before_connecting(listener)
    test_bad_enum_name_lists_values()
    test_no_validate_reaches_the_connection(listener)
    test_usage_errors()
    test_runtime_failures_exit_1()
    test_dlq_usage()
    test_topics_usage()
    test_reset_usage()
    test_version()
    test_group_protocol()
    print(f"cli: {len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
