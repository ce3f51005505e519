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
import socket
import subprocess
import sys
import time
import urllib.request

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GL_BUILD_DIR", os.path.join(SRC, "build"))
# The test broker (the ctest fixture's, or a developer's): kafka.sh's port unless moved, as
# deploy/local/test.sh moves it for a second Kafka version.
BOOTSTRAP = os.environ.get("GREENLIGHT_BOOTSTRAP",
                           "127.0.0.1:" + os.environ.get("GREENLIGHT_BROKER_PORT", "19092"))
KAFKA_SH = os.path.join(SRC, "deploy", "local", "kafka.sh")
CLI = os.path.join(BUILD, "services", "cli", "greenlight")
ORDERD = os.path.join(BUILD, "services", "orderd", "greenlight-orderd")
PIPE = os.path.join(BUILD, "services", "pipe", "greenlight-pipe")
BATCHD = os.path.join(BUILD, "services", "batchd", "greenlight-batchd")
CLOCKD = os.path.join(BUILD, "services", "clockd", "greenlight-clockd")
POLICY = os.path.join(SRC, "deploy", "config", "h200.policy")
LOGDIR = os.environ.get("GL_TEST_LOGDIR", os.path.join(BUILD, "test-logs"))
PARTITIONS = int(os.environ.get("GREENLIGHT_PARTITIONS", "4"))  # As kafka.sh creates topics.
# The consumer group protocol the daemons run with (their group.protocol): deploy/local/test.sh
# runs some tests again with "consumer" (KIP-848) on a build against a newer librdkafka.
GROUP_PROTOCOL = os.environ.get("GREENLIGHT_TEST_GROUP_PROTOCOL", "classic")


def group_settings(session_ms=6000):
    """The daemons' group settings: the protocol, and under the classic one a short session
    (for tests that kill a static member; Kafka's default is 45 s). A KIP-848 group's session
    is the broker's (kafka.sh sets it to 6 s on 4.x), and the client may not set one."""
    if GROUP_PROTOCOL == "classic":
        return ["--kafka.session.timeout.ms", str(session_ms)]
    return ["--group.protocol", GROUP_PROTOCOL]

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


def host_is_local(host):
    """True if host is an address of this machine (a socket binds there)."""
    with socket.socket() as s:
        try:
            s.bind((host, 0))
            return True
        except OSError:
            return False


def lifecycle_events(tag, i, oid, units, t, source, shipments=True):
    """The events of order oid (number i) that each apply in turn, so each
    yields one status record: placed, queued in batch CN-B1, the export and
    the import approval (APPROVED), and with shipments two clearances of
    half the units each (CLEARED). Event ids E-<tag>-<i>-<k>, occurred at
    t + k."""
    def ev(k, body):
        return dict(event_id=f"E-{tag}-{i:07d}-{k}", occurred_at_ms=t + k, source=source, **body)
    events = [
        ev(0, {"order_placed": {"order_id": oid, "buyer_id": f"B-{i % 17}", "units": units,
                                "product": "NVIDIA H200", "end_use": "END_USE_COMMERCIAL_CLOUD",
                                "domestic_units_committed": units}}),
        ev(1, {"batch_queued": {"order_id": oid, "batch_id": "CN-B1", "batch_seq": 1,
                                "position": i + 1}}),
        ev(2, {"approval_granted": {"order_id": oid, "approval_id": f"US-{i}", "units_approved": units,
                                    "authority": "AUTHORITY_US_EXPORT_LICENSE"}}),
        ev(3, {"approval_granted": {"order_id": oid, "approval_id": f"CN-{i}", "units_approved": units,
                                    "authority": "AUTHORITY_CN_IMPORT_APPROVAL", "batch_id": "CN-B1"}}),
    ]
    if shipments:
        events += [
            ev(4, {"shipment_cleared": {"order_id": oid, "shipment_id": f"S-{i}-1", "units": units // 2}}),
            ev(5, {"shipment_cleared": {"order_id": oid, "shipment_id": f"S-{i}-2",
                                        "units": units - units // 2}}),
        ]
    return events


def kafka_sh_env(**extra):
    """The environment for kafka.sh: it creates topics with the CLI under
    test (CLI, which tests/chaos points at its --build)."""
    return dict(os.environ, GREENLIGHT_CLI=CLI, **extra)


def make_topics(prefix, extra=()):
    """kafka.sh topics under prefix: the default topics, plus any extra ones."""
    subprocess.run([KAFKA_SH, "topics", *extra], env=kafka_sh_env(GREENLIGHT_TOPIC_PREFIX=prefix),
                   check=True, stdout=subprocess.DEVNULL)


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

    def __init__(self, binary, name, args, env=None):
        os.makedirs(LOGDIR, exist_ok=True)
        self.binary, self.name, self.args = binary, name, args
        self.env = env  # Added to the test's environment, e.g. NOTIFY_SOCKET.
        self.log_path = os.path.join(LOGDIR, f"{name}.log")
        self.proc = None
        self.port = None
        self.starts = 0
        self.expect_exit = False
        self.log_from = None  # Where this test's lines begin in the log file.
        _daemons.append(self)

    def start(self):
        self.starts += 1
        self.expect_exit = False
        if self.log_from is None:
            self.log_from = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        log = open(self.log_path, "a")
        log.write(f"--- start {self.starts} ---\n")
        log.flush()
        self.proc = subprocess.Popen([self.binary, *self.args], stdout=log, stderr=log,
                                     env={**os.environ, **self.env} if self.env else None)
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

    def get_json(self, path):
        """(status, decoded JSON body) of GET path."""
        code, body = self.get(path)
        return code, json.loads(body)

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

    def restart_after_kill(self, timeout=60):
        """Starts the daemon again after a kill -9, as its supervisor would, and waits until
        it is ready. Under KIP-848's protocol the broker refuses a static member's instance
        id until the killed member's session runs out (6 s on the test broker): the start
        exits 1 ("instance ID is still used") and is started again, until the deadline.
        Under the classic protocol the first start takes the member over at once."""
        deadline = time.monotonic() + timeout

        def settled():
            if not self.alive():
                return True
            try:
                return self.get("/readyz")[0] == 200
            except Exception:  # It exited while asked.
                return not self.alive()
        while True:
            self.start()
            self.expect_exit = True  # Judged here.
            wait_until(settled, max(1, deadline - time.monotonic()), f"{self.name} to start again")
            if self.alive():
                self.expect_exit = False
                return self
            text = self.log_text().split(f"--- start {self.starts} ---")[-1]
            check(GROUP_PROTOCOL == "consumer" and self.proc.returncode == 1 and
                  "instance ID is still used" in text,
                  f"{self.name} exited with {self.proc.returncode} after a restart:\n{text[-3000:]}")
            check(time.monotonic() < deadline,
                  f"{self.name}'s instance id still refused {timeout}s after the kill")

    def kill9(self):
        self.expect_exit = True
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=60):
        self.expect_exit = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"{self.name} did not stop within {timeout}s after SIGTERM")
        self.check_no_bug()
        return code

    def check_no_bug(self):
        """A daemon logs a refused state transition (or any other broken
        invariant it catches) as event "bug": always a test failure."""
        text = self.log_text().split(f"--- start {self.starts} ---")[-1]
        bugs = [l for l in text.splitlines() if '"event":"bug"' in l]
        check(not bugs, f"{self.name} logged a bug: {bugs[:3]}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def orderd(prefix, name="orderd", extra=(), env=None):
    args = ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--policy.file", POLICY,
            "--http.port", "0", "--commit.interval.ms", "50",
            *group_settings(), *extra]
    return Daemon(ORDERD, name, args, env)


def count_inputs(prefix):
    """Records in all input topics of the order daemon."""
    return sum(len(tail(prefix, t, msg_type=None)) for t in INPUT_TOPICS)


INPUT_TOPICS = ("greenlight.orders", "greenlight.approvals", "greenlight.batches",
                "greenlight.shipments", "greenlight.clock")


def batchd(prefix, name="batchd", extra=()):
    """The batch daemon under the test's prefix, on a free HTTP port."""
    args = ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0",
            "--commit.interval.ms", "50",
            *group_settings(), *extra]
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


LOG_KEYS = ("ts", "level", "service", "event", "msg")
START_MARK = re.compile(rb"--- start \d+ ---")


def check_json_lines(data, what):
    """Every line of a daemon's log (bytes) is one JSON object in valid UTF-8
    with the keys every line has (gl_log.h); the harness's own start marks
    are skipped. Fails naming the first bad line."""
    for i, line in enumerate(data.split(b"\n"), 1):
        if not line or START_MARK.fullmatch(line):
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except ValueError as e:  # UnicodeDecodeError is a ValueError too.
            fail(f"{what} line {i} is not a JSON line in UTF-8 ({e}): {line[:500]!r}")
        missing = [k for k in LOG_KEYS if not isinstance(obj, dict) or k not in obj]
        check(not missing, f"{what} line {i} lacks {missing}: {line[:500]!r}")


def check_daemon_logs():
    """check_json_lines over what every daemon of this test wrote (its log
    file from where the file stood at its first start). A log a test removed
    is skipped: chaos removes its run's on a pass, after checking it."""
    for d in _daemons:
        if d.log_from is None or not os.path.exists(d.log_path):
            continue
        with open(d.log_path, "rb") as f:
            f.seek(d.log_from)
            check_json_lines(f.read(), f"{d.name}'s log {d.log_path}")


def run(main):
    """Runs a test's main(), printing a closing line ctest shows. Once it
    passes, every line every daemon wrote must be JSON (check_daemon_logs)."""
    name = os.path.basename(sys.argv[0])
    t0 = time.monotonic()
    try:
        main()
        _kill_all()  # No line is half written while the logs are read.
        check_daemon_logs()
    except AssertionError as e:
        print(f"FAIL {name}: {e}", flush=True)
        sys.exit(1)
    finally:
        _kill_all()
    print(f"PASS {name} ({time.monotonic() - t0:.1f}s)", flush=True)


# ---- A broker of a test's own, and helpers that take its bootstrap --------
#
# For tests that stop, start or pause a broker (tests/chaos): they must never
# touch the shared broker (127.0.0.1:19092, controller 19093, SASL 19094,
# data dir ${TMPDIR:-/tmp}/greenlight-kafka; or the ports GREENLIGHT_BROKER_PORT,
# _CONTROLLER_PORT and _SASL_PORT move the test broker to), so they run one of their own
# through deploy/local/kafka.sh on other ports and another data dir, and pass
# its bootstrap explicitly (the BOOTSTRAP above is the shared broker's).

SHARED_BROKER_PORTS = tuple(sorted({19092, 19093, 19094} | {
    int(os.environ[v]) for v in ("GREENLIGHT_BROKER_PORT", "GREENLIGHT_BROKER_CONTROLLER_PORT",
                                 "GREENLIGHT_BROKER_SASL_PORT") if os.environ.get(v, "").isdigit()}))


def register_process(proc):
    """Registers a subprocess.Popen to be killed when the test ends."""
    _procs.append(proc)
    return proc


def check_busy_port_exits_1(binary, name, args):
    """Starts binary with its HTTP port taken by another socket: a busy port
    is no bad setting, so it must exit 1 (a supervisor retries), saying so."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        d = Daemon(binary, name, [*args, "--http.port", str(s.getsockname()[1])]).start()
        d.expect_exit = True
        rc = d.proc.wait(timeout=60)
    check(rc == 1, f"{name}: a busy HTTP port exited {rc}, expected 1")
    check("in use" in d.log_text(), f"{name}: the exit does not say the port is in use")


def free_ports(n, lo=20000, hi=32000, rnd=None):
    """n distinct TCP ports on 127.0.0.1 that nothing listens on now, below the
    kernel's ephemeral range (a client's outgoing connection cannot take one
    while a broker that listens there is down), never the shared broker's."""
    import socket
    rnd = rnd or random.Random()
    ports = []
    for _ in range(2000):
        if len(ports) == n:
            break
        p = rnd.randrange(lo, hi)
        if p in ports or p in SHARED_BROKER_PORTS:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
        ports.append(p)
    check(len(ports) == n, f"cannot find {n} free ports in {lo}..{hi}")
    return ports


def broker_pid(node_dir):
    """The pid of the broker kafka.sh runs on node_dir (a data dir, or a
    cluster's node dir), else None: the same test as kafka.sh's, the pid's
    command line names its server.properties."""
    try:
        with open(os.path.join(node_dir, "kafka.pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if f"kafka.Kafka {node_dir}/server.properties" in cmd else None


class PrivateBroker:
    """A single-node broker of the caller's own, run by deploy/local/kafka.sh
    with GREENLIGHT_BROKER_DIR/PORT/CONTROLLER_PORT/SASL_PORT, so that start,
    stop, topics and clean act only on its data dir and pid file. Refuses the
    shared broker's ports and data dir."""

    def __init__(self, data_dir, port, controller_port, sasl_port,
                 heap="-Xms128m -Xmx512m", start_timeout=120, version=None):
        ports = (int(port), int(controller_port), int(sasl_port))
        check(not set(ports) & set(SHARED_BROKER_PORTS) and len(set(ports)) == 3,
              f"a private broker needs three distinct ports other than {SHARED_BROKER_PORTS}, got {ports}")
        shared_dir = os.path.realpath(os.path.join(os.environ.get("TMPDIR", "/tmp"), "greenlight-kafka"))
        self.data_dir = os.path.realpath(data_dir)
        check(self.data_dir != shared_dir, f"{data_dir} is the shared broker's data dir")
        self.port, self.controller_port, self.sasl_port = ports
        self.heap, self.start_timeout = heap, start_timeout
        # The Kafka release (kafka.sh's GREENLIGHT_BROKER_VERSION); None: the caller's environment's.
        self.version = version
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.paused = False

    def env(self, **extra):
        env = kafka_sh_env(GREENLIGHT_BROKER_DIR=self.data_dir,
                           GREENLIGHT_BROKER_PORT=str(self.port),
                           GREENLIGHT_BROKER_CONTROLLER_PORT=str(self.controller_port),
                           GREENLIGHT_BROKER_SASL_PORT=str(self.sasl_port),
                           GREENLIGHT_BROKER_HEAP_OPTS=self.heap,
                           GREENLIGHT_BROKER_TIMEOUT=str(self.start_timeout),
                           GREENLIGHT_PARTITIONS=str(PARTITIONS))
        env.pop("GREENLIGHT_TOPIC_PREFIX", None)
        if self.version:
            env["GREENLIGHT_BROKER_VERSION"] = self.version
        env.update(extra)
        return env

    def kafka_sh(self, *args, timeout=300, **env):
        """Runs kafka.sh on this broker: (exit code, stdout + stderr)."""
        try:
            r = subprocess.run([KAFKA_SH, *args], env=self.env(**env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return 124, (e.stdout or b"").decode(errors="replace") + f"\n(timed out after {timeout}s)"
        return r.returncode, r.stdout.decode(errors="replace")

    def pid(self):
        """The broker's pid if it runs on this data dir, else None."""
        return broker_pid(self.data_dir)

    def start(self):
        """kafka.sh start: returns when the port accepts connections and the
        default topics exist; fails with the end of kafka.sh's output."""
        code, out = self.kafka_sh("start", timeout=self.start_timeout + 240)
        check(code == 0, f"kafka.sh start ({self.bootstrap}, {self.data_dir}) failed ({code}):\n"
                         f"{out[-2000:]}\n{self.log_tail()}")
        self.paused = False

    def stop(self):
        """kafka.sh stop (SIGTERM, SIGKILL after 30 s); resumes a paused broker first."""
        self.resume()
        code, out = self.kafka_sh("stop", timeout=120)
        check(code == 0, f"kafka.sh stop ({self.data_dir}) failed ({code}): {out[-2000:]}")

    def pause(self):
        """SIGSTOP: the broker freezes with its connections open."""
        pid = self.pid()
        check(pid is not None, f"no broker runs on {self.data_dir} to pause")
        os.kill(pid, signal.SIGSTOP)
        self.paused = True
        return pid

    def resume(self):
        pid = self.pid()
        if self.paused and pid is not None:
            os.kill(pid, signal.SIGCONT)
        self.paused = False

    def make_topics(self, prefix, extra=()):
        """kafka.sh topics under prefix: the default topics, plus any extra ones."""
        code, out = self.kafka_sh("topics", *extra, GREENLIGHT_TOPIC_PREFIX=prefix)
        check(code == 0, f"kafka.sh topics on {self.bootstrap} failed ({code}): {out[-2000:]}")

    def log_tail(self, n=20):
        try:
            with open(os.path.join(self.data_dir, "kafka.out"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def close(self, clean=True):
        """Stops the broker, whatever state it is in, and deletes its data dir
        (kafka.sh clean) unless clean is False. Never raises."""
        try:
            self.resume()
            self.kafka_sh("clean" if clean else "stop", timeout=120)
        except Exception as e:  # Cleanup must go on: at least kill what runs on our data dir.
            print(f"warning: stopping the private broker: {e}", file=sys.stderr)
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


def produce_at(bootstrap, prefix, lines, transactional=False, timeout_ms=30000, on_start=None):
    """Like produce(), against the given bootstrap, returning (exit code,
    stderr) instead of failing; on_start(proc) sees the CLI's process."""
    data = "".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines)
    cmd = [CLI, "produce", "-b", bootstrap, "--prefix", prefix, "--strict",
           "--timeout-ms", str(timeout_ms)] + (["--transactional"] if transactional else [])
    p = register_process(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE))
    if on_start:
        on_start(p)
    try:
        _, err = p.communicate(data.encode(), timeout=timeout_ms / 1000 + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return 124, err.decode(errors="replace") + "\n(killed: no exit within its timeout + 60 s)"
    return p.returncode, err.decode(errors="replace")


def tail_at(bootstrap, prefix, topic, timeout=60, msg_type=None, raw=False, must=True):
    """Like tail(), against the given bootstrap. With must=False a failure
    returns None instead of failing (to poll while a broker recovers)."""
    extra = (["--type", msg_type] if msg_type else []) + (["--raw"] if raw else [])
    try:
        r = subprocess.run([CLI, "tail", topic, "-b", bootstrap, "--prefix", prefix,
                            "--from-beginning", "--exit-at-end", "--timeout-ms",
                            str(int(timeout * 1000)), *extra], capture_output=True,
                           timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        if must:
            fail(f"greenlight tail {prefix}{topic} did not exit within {timeout + 30}s")
        return None
    if r.returncode != 0:
        if must:
            fail(f"greenlight tail {prefix}{topic} failed ({r.returncode}): {r.stderr.decode()[-2000:]}")
        return None
    return [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]


def audit_status(records, expected_states, expected_final=None):
    """Exactly-once figures of an order-status log (tail records, log order)
    against the known lifecycle of every order (expected_states: order id ->
    the states of versions 1..n, the last one its final state;
    expected_final: order id -> fields its version n must hold). Returns a dict:
      orders, records, expected_records;
      lost_orders: orders whose final expected version is missing;
      lost_versions: expected (order, version) pairs missing;
      duplicated: records whose (order, version) came before (extra copies),
        of which dup_identical have the same value and dup_conflicting not;
      gaps: missing versions below an order's highest version;
      reordered: records whose version is below an earlier one of the order;
      extra: records of unknown orders or beyond an order's lifecycle;
      wrong_final: orders whose version n lacks the final state or fields;
      other_path: orders whose versions 1..n-1 went through other states
        than expected_states (the merge may take a lagging input's record
        later after max.idle.ms: not a loss; reported, not an error), and
        other_path_ids the orders;
      key_mismatch: records whose value's order_id is not the key;
      examples: a few lines naming orders, for each figure that is not 0."""
    seen = {}      # (order, version) -> value first seen
    highest = {}   # order -> highest version seen
    other_path_ids = []
    f = dict(orders=len(expected_states), records=len(records),
             expected_records=sum(len(s) for s in expected_states.values()),
             lost_orders=0, lost_versions=0, duplicated=0, dup_identical=0, dup_conflicting=0,
             gaps=0, reordered=0, extra=0, wrong_final=0, other_path=0, key_mismatch=0)
    ex = {}

    def note(kind, text):
        ex.setdefault(kind, [])
        if len(ex[kind]) < 5:
            ex[kind].append(text)

    for r in records:
        oid, v = r.get("key"), r.get("value") or {}
        ver = int(v.get("version", 0))
        if v.get("order_id") != oid:
            f["key_mismatch"] += 1
            note("key_mismatch", f"key {oid!r} holds order_id {v.get('order_id')!r}")
        if (oid, ver) in seen:
            f["duplicated"] += 1
            same = seen[(oid, ver)] == v
            f["dup_identical" if same else "dup_conflicting"] += 1
            note("duplicated", f"{oid} v{ver} again at {r.get('partition')}/{r.get('offset')}"
                               f" ({'identical' if same else 'different content'})")
            continue
        seen[(oid, ver)] = v
        if ver < highest.get(oid, 0):
            f["reordered"] += 1
            note("reordered", f"{oid} v{ver} after v{highest[oid]}")
        highest[oid] = max(highest.get(oid, 0), ver)
        states = expected_states.get(oid)
        if states is None or not 1 <= ver <= len(states):
            f["extra"] += 1
            note("extra", f"{oid} v{ver} ({v.get('state')}) is not in the workload's lifecycle")
    for oid, states in expected_states.items():
        n = len(states)
        missing = [k for k in range(1, n + 1) if (oid, k) not in seen]
        f["lost_versions"] += len(missing)
        if n in missing:
            f["lost_orders"] += 1
        if missing:
            note("lost", f"{oid}: versions {missing} missing (highest seen {highest.get(oid, 0)})")
        final = seen.get((oid, n))
        if final is not None:
            want = dict((expected_final or {}).get(oid, {}), state=states[-1])
            wrong = {k: final.get(k) for k, x in want.items() if final.get(k) != x}
            if wrong:
                f["wrong_final"] += 1
                note("wrong_final", f"{oid} v{n} has {wrong}, expected {want}")
        path = [seen[(oid, k)].get("state") if (oid, k) in seen else None for k in range(1, n)]
        if None not in path and path != list(states[:-1]):
            f["other_path"] += 1
            other_path_ids.append(oid)
            causes = [seen[(oid, k)].get("cause", {}).get("event_type", "?") for k in range(1, n + 1)]
            note("other_path", f"{oid}: {' > '.join(s.replace('ORDER_STATE_', '') for s in path)}"
                               f" (causes {' > '.join(causes)})")
    for oid, top in highest.items():
        holes = [k for k in range(1, top) if (oid, k) not in seen]
        f["gaps"] += len(holes)
        if holes:
            note("gaps", f"{oid}: versions {holes} missing below v{top}")
    f["examples"] = ex
    f["other_path_ids"] = other_path_ids
    return f


def audit_clean(f):
    """True when an audit_status() result shows exactly once: nothing lost,
    duplicated, out of place or unexpected, every order in its final state
    (other_path is allowed)."""
    return all(f[k] == 0 for k in ("lost_orders", "lost_versions", "duplicated", "gaps", "reordered",
                                   "extra", "wrong_final", "key_mismatch")) \
        and f["records"] == f["expected_records"]
