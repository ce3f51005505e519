"""Shared helpers for the tests that run against the real Kafka broker.

Every test works under its own topic prefix, so tests never see each
other's records. Processes a test starts are registered and killed when the
test ends, whether it passes, fails or raises. Waiting is always on a
condition with a deadline, never a bare sleep.
"""
import atexit
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GL_BUILD_DIR", os.path.join(SRC, "build"))
BOOTSTRAP = os.environ.get("GREENLIGHT_BOOTSTRAP", "127.0.0.1:19092")
KAFKA_SH = os.path.join(SRC, "deploy", "local", "kafka.sh")
CLI = os.path.join(BUILD, "services", "cli", "greenlight")
ORDERD = os.path.join(BUILD, "services", "orderd", "greenlight-orderd")
PIPE = os.path.join(BUILD, "services", "pipe", "greenlight-pipe")
BATCHD = os.path.join(BUILD, "services", "batchd", "greenlight-batchd")
CLOCKD = os.path.join(BUILD, "services", "clockd", "greenlight-clockd")
POLICY = os.path.join(SRC, "deploy", "config", "h200.policy")
LOGDIR = os.environ.get("GL_TEST_LOGDIR", os.path.join(BUILD, "test-logs"))
PARTITIONS = int(os.environ.get("GREENLIGHT_PARTITIONS", "4"))  # As kafka.sh creates topics.

_procs = []
_daemons = []  # Daemons expected to be running; a wait fails fast if one died.


def _kill_all():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def fail(msg):
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_until(fn, timeout, what, interval=0.1):
    """Polls fn() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        for d in _daemons:
            if d.proc is not None and d.proc.poll() is not None and not d.expect_exit:
                fail(f"{d.name} exited with {d.proc.returncode} while waiting for {what}:\n"
                     f"{d.log_text()[-3000:]}")
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)  # poll interval of a deadline-bounded wait


def new_prefix(name):
    return f"t{os.getpid()}-{random.randrange(1 << 30):x}-{name}."


def make_topics(prefix, extra=()):
    env = dict(os.environ, GREENLIGHT_TOPIC_PREFIX=prefix)
    subprocess.run([KAFKA_SH, "topics"], env=env, check=True, stdout=subprocess.DEVNULL)
    if extra:
        subprocess.run([KAFKA_SH, "topics", *extra], env=env, check=True,
                       stdout=subprocess.DEVNULL)


def produce(prefix, lines, transactional=False):
    """Produces JSON lines (strings or dicts) through the CLI; transactional:
    in one transaction, so read_committed readers see all of it at once."""
    data = "".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines)
    extra = ["--transactional"] if transactional else []
    r = subprocess.run([CLI, "produce", "-b", BOOTSTRAP, "--prefix", prefix, "--strict", *extra],
                       input=data.encode(), capture_output=True, timeout=120)
    if r.returncode != 0:
        fail(f"greenlight produce failed ({r.returncode}): {r.stderr.decode()[-2000:]}")


def tail(prefix, topic, timeout=60, msg_type=None, raw=False):
    """Reads a whole topic with read_committed through the CLI."""
    extra = (["--type", msg_type] if msg_type else []) + (["--raw"] if raw else [])
    r = subprocess.run([CLI, "tail", topic, "-b", BOOTSTRAP, "--prefix", prefix,
                        "--from-beginning", "--exit-at-end", "--timeout-ms",
                        str(int(timeout * 1000)), *extra], capture_output=True,
                       timeout=timeout + 30)
    if r.returncode != 0:
        fail(f"greenlight tail {prefix}{topic} failed ({r.returncode}): {r.stderr.decode()[-2000:]}")
    return [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]


def show(prefix, key, *extra, timeout=60):
    """`greenlight show KEY`: (exit code, the JSON lines it printed)."""
    r = subprocess.run([CLI, "show", key, "-b", BOOTSTRAP, "--prefix", prefix, "--timeout-ms",
                        str(int(timeout * 1000)), *extra], capture_output=True,
                       timeout=timeout + 30)
    return r.returncode, [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]


class Daemon:
    """A daemon process with its log in LOGDIR; killed at exit no matter what."""

    def __init__(self, binary, name, args):
        os.makedirs(LOGDIR, exist_ok=True)
        self.binary, self.name, self.args = binary, name, args
        self.log_path = os.path.join(LOGDIR, f"{name}.log")
        self.proc = None
        self.port = None
        self.starts = 0
        self.expect_exit = False
        _daemons.append(self)

    def start(self):
        self.starts += 1
        self.expect_exit = False
        log = open(self.log_path, "a")
        log.write(f"--- start {self.starts} ---\n")
        log.flush()
        self.proc = subprocess.Popen([self.binary, *self.args], stdout=log, stderr=log)
        _procs.append(self.proc)
        log.close()
        self.port = None
        return self

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def http_port(self, timeout=30):
        def find():
            if self.proc.poll() is not None:
                fail(f"{self.name} exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            text = self.log_text().split(f"--- start {self.starts} ---")[-1]
            m = re.search(r"listening on http://[0-9.]+:(\d+)", text)
            return int(m.group(1)) if m else None
        if self.port is None:
            self.port = wait_until(find, timeout, f"{self.name} HTTP port")
        return self.port

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port()}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name):
        _, text = self.get("/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_ready(self, timeout=120):
        """Waits until /readyz answers 200: connected, every assigned partition
        restored, commits succeeding. /healthz "ok" is not enough: it answers
        before the assignment arrives."""
        wait_until(lambda: self.get("/readyz")[0] == 200, timeout, f"{self.name} to be ready")

    def wait_committed(self, n_records, timeout=120):
        """Waits until the daemon has processed n_records since it started and
        committed them (nothing processed is left in an open transaction)."""
        wait_until(lambda: self.metric("greenlight_records_processed_total") >= n_records and
                   self.metric("greenlight_uncommitted_records") == 0, timeout,
                   f"{self.name} to process and commit {n_records} records")

    def kill9(self):
        self.expect_exit = True
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=60):
        self.expect_exit = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"{self.name} did not stop within {timeout}s after SIGTERM")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def orderd(prefix, name="orderd", extra=()):
    args = ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--policy.file", POLICY,
            "--http.port", "0", "--commit.interval.ms", "50",
            "--kafka.session.timeout.ms", "6000", *extra]
    return Daemon(ORDERD, name, args)


def count_inputs(prefix):
    """Records in all input topics of the order daemon."""
    return sum(len(tail(prefix, t, msg_type=None)) for t in INPUT_TOPICS)


INPUT_TOPICS = ("greenlight.orders", "greenlight.approvals", "greenlight.batches",
                "greenlight.shipments", "greenlight.clock")


def batchd(prefix, name="batchd", extra=()):
    """The batch daemon under the test's prefix, on a free HTTP port."""
    args = ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0",
            "--commit.interval.ms", "50",
            "--kafka.session.timeout.ms", "6000", *extra]
    return Daemon(BATCHD, name, args)


def effective(placed, grants):
    """SPEC §4 rule 3, written again here so the tests do not trust the daemon's
    copy: min(requested, every grant, floor(committed * 10000 / R)), R the highest
    required ratio, the last term dropped when R = 0."""
    r = max(g.get("required_domestic_ratio_bp", 0) for g in grants)
    terms = [placed["units"]] + [g["units_approved"] for g in grants]
    if r:
        terms.append(placed.get("domestic_units_committed", 0) * 10000 // r)
    return min(terms)


def placed_and_grants(events):
    """OrderPlaced payloads by order id, and each order's ApprovalGranted payloads."""
    placed, grants = {}, {}
    for e in events:
        if "order_placed" in e:
            placed[e["order_placed"]["order_id"]] = e["order_placed"]
        elif "approval_granted" in e:
            g = e["approval_granted"]
            grants.setdefault(g["order_id"], []).append(g)
    return placed, grants


def by_order(records):
    """Groups status records by order id, in log order."""
    out = {}
    for r in records:
        out.setdefault(r["key"], []).append(r["value"])
    return out


def strip_defaults(v):
    """Drops proto3 zero values, as the CLI's JSON does, so views compare equal."""
    if isinstance(v, dict):
        out = {k: strip_defaults(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (0, "", False, None, {}, [])}
    if isinstance(v, list):
        return [strip_defaults(x) for x in v]
    return v


def check_versions(orders):
    """Every order's versions are exactly 1..n: no loss, no duplicate, no gap."""
    for oid, recs in orders.items():
        versions = [int(v.get("version", 0)) for v in recs]
        check(versions == list(range(1, len(versions) + 1)),
              f"order {oid}: versions {versions} are not 1..{len(versions)}")


def run(main):
    """Runs a test's main(), printing a closing line ctest shows."""
    name = os.path.basename(sys.argv[0])
    t0 = time.monotonic()
    try:
        main()
    except AssertionError as e:
        print(f"FAIL {name}: {e}", flush=True)
        sys.exit(1)
    finally:
        _kill_all()
    print(f"PASS {name} ({time.monotonic() - t0:.1f}s)", flush=True)
