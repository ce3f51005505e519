#!/usr/bin/env python3
"""Chaos run of the order daemon: kill -9 cycles, broker stops and broker
pauses (SIGSTOP/SIGCONT) under a steady upstream producer, then an audit of
greenlight.order-status (read_committed) for exactly once.

It runs a broker of its own (deploy/local/kafka.sh with its own ports and
data dir), never the shared one, and stops it at exit whatever happens.

Workload: every order has a known lifecycle of six events (placed, queued in
batch CN-B1, export grant, import grant, two shipments), so six status
records: versions 1..6, ACCEPTED, QUEUED, QUEUED, APPROVED,
PARTIALLY_CLEARED, CLEARED. A producer thread sends the orders at a steady
rate in small upstream transactions (`greenlight produce --transactional`,
all six events of an order in one), retrying a chunk whose transaction
failed (its event ids are the same, so a retried chunk that did commit is
deduplicated by the daemon: rule 10).

Chaos, at seeded random times spread over the production window, one action
at a time:
  kill    kill -9 greenlight-orderd, restart it at once with the same
          instance.id (the new instance fences the old transactional id);
  stop    deploy/local/kafka.sh stop, a random pause, kafka.sh start;
  pause   SIGSTOP the broker process for a few seconds, then SIGCONT;
  cold    kill -9 orderd and stop the broker, start orderd while the
          broker is down, start the broker after a random pause.
The daemon is supervised like systemd's Restart=on-failure: an exit 1 (a
fatal Kafka error, e.g. during a broker outage) is restarted after
--restart-delay and counted. Exit 2, a death by a signal (SIGABRT, SIGSEGV),
a sanitizer report, an exit 1 with no broker disruption in the preceding
--outage-grace seconds, or any other unexpected exit is a FAILURE, reported
with the end of the daemon's log; the daemon is restarted anyway so that
the run goes on measuring.

At the end it waits (bounded by --settle-timeout) until every expected
status record is there, then prints orders, input records, status records,
lost, duplicated, gaps (and the rest of the audit), the chaos done and the
wall time; checks GET /orders/{id} on a sample and the changelog against
the last status; stops the daemon with SIGTERM (exit 0 expected). Exit
status 0 only if all of it is clean, 1 otherwise.
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # No __pycache__ in the source tree.
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kafka"))
import harness  # noqa: E402
from harness import Daemon, PrivateBroker, audit_clean, audit_status, strip_defaults  # noqa: E402

T0 = 1767571200000
EVENTS_PER_ORDER = 6
LIFECYCLE = ["ORDER_STATE_ACCEPTED", "ORDER_STATE_QUEUED", "ORDER_STATE_QUEUED",
             "ORDER_STATE_APPROVED", "ORDER_STATE_PARTIALLY_CLEARED", "ORDER_STATE_CLEARED"]
COUNTERS = ("greenlight_records_processed_total", "greenlight_commits_total", "greenlight_aborts_total",
            "greenlight_merge_idle_expired_total", "greenlight_duplicate_events_total",
            "greenlight_dlq_records_total")
GAUGES = ("greenlight_consumer_lag_records", "greenlight_uncommitted_records")
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|Assertion .* failed|"
                       r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)")


def order_id(i):
    return f"O-X-{i:07d}"


def units_of(i):
    return 100 + (i * 37) % 9000


def final_fields(i):
    """What version 6 of order i must hold: cleared in full, nothing cut."""
    u = units_of(i)
    return dict(order_id=order_id(i), version=len(LIFECYCLE), units_requested=u, units_export_approved=u,
                units_import_approved=u, units_effective=u, units_cleared=u, batch_id="CN-B1")


def order_events(i):
    """The six events of order i, each applicable in turn (one status record each)."""
    return harness.lifecycle_events("X", i, order_id(i), units_of(i), T0 + i * 10, "chaos")


class Run:
    """Shared state of one chaos run: the clock, the output, the counters."""

    def __init__(self, opts, run_dir):
        self.opts, self.run_dir = opts, run_dir
        self.t0 = time.monotonic()
        self.log_file = open(os.path.join(run_dir, "chaos.log"), "a")
        self.lock = threading.Lock()
        self.failures = []       # (kind, text) that make the run fail
        self.disruptions = []    # (start, end or None) of broker stops and pauses, monotonic
        self.actions = []        # [begin, end, action] (run times) of every chaos action
        self.stop_flag = threading.Event()

    def now(self):
        return time.monotonic() - self.t0

    def say(self, msg):
        line = f"[{self.now():7.1f}s] {msg}"
        with self.lock:
            print(line, flush=True)
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def failure(self, kind, text):
        with self.lock:
            self.failures.append((kind, text))
        self.say(f"FAILURE ({kind}): {text}")

    def in_disruption(self, grace):
        """True if the broker is disrupted now or was within the last grace seconds."""
        t = time.monotonic()
        return any(end is None or t - end <= grace for _, end in self.disruptions)


class SupervisedDaemon(Daemon):
    """harness.Daemon whose HTTP helpers never block or raise: a daemon that
    may be dead or restarting is polled, not waited for."""

    def start_log(self):
        try:
            text = self.log_text()
        except OSError:
            return ""
        return text.split(f"--- start {self.starts} ---")[-1]

    def http_port(self, timeout=0):
        if self.port is None:
            m = re.search(r"listening on http://[0-9.]+:(\d+)", self.start_log())
            self.port = int(m.group(1)) if m else None
        return self.port

    def get(self, path, timeout=5):
        if not self.alive() or self.http_port() is None:
            return None, ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, OSError):
            return None, ""

    def metrics(self, names, timeout=5):
        """{name: value summed over labels} of one /metrics answer, or None."""
        code, text = self.get("/metrics", timeout=timeout)
        if code != 200:
            return None
        out = dict.fromkeys(names, 0.0)
        for line in text.splitlines():
            for name in names:
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    out[name] += float(line.rsplit(" ", 1)[1])
        return out

    def metric(self, name):
        m = self.metrics([name])
        return None if m is None else m[name]


def describe_exit(rc, log=""):
    if rc is None:
        return "running"
    if rc > 0 and "AddressSanitizer: ABRT" in log:
        return f"SIGABRT (caught by ASan, exit {rc})"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}"


def log_excerpt(text, n=8):
    """What tells what happened: the last n log lines before the end that are
    not connection noise, the assertion and fatal lines, and a sanitizer
    report from its ERROR line to its SUMMARY (at most 40 lines)."""
    lines = text.rstrip("\n").splitlines()
    report = []
    for i, l in enumerate(lines):
        if re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:", l):
            end = next((k for k in range(i, len(lines)) if "SUMMARY:" in lines[k]), len(lines) - 1)
            report = [l for l in lines[i:end + 1] if not l.startswith("{")][:40]
            break
    keys = [l for l in lines if ("Assertion" in l or '"event":"fatal"' in l) and l not in report]
    noise = ('"event":"kafka_error"', "Connect to ipv4", "Disconnected")
    context = [l for l in lines if l not in keys and l not in report and not any(x in l for x in noise)][-n:]
    last = [l for l in lines if l.startswith("{") and l not in context][-3:]
    return "\n".join("    " + l[:400] for l in context + keys + report +
                     (["  last log lines:"] + last if last else []))


class Supervisor:
    """Runs greenlight-orderd like systemd with Restart=on-failure, and
    classifies every exit it did not cause."""

    def __init__(self, run, daemon):
        self.run, self.d = run, daemon
        self.restart_at = None
        self.restarts = 0           # restarts after an allowed exit 1
        self.forced_restarts = 0    # restarts after a FAILURE exit
        self.exits = []             # (time, start number, description)
        self.scraped = {}           # start number -> last counters seen
        self.scraped_at = 0.0
        self.tick = None            # called at every poll (progress lines)

    def start(self):
        self.d.start()
        self.restart_at = None

    def scrape(self):
        """Keeps the last counters of each start (they restart at 0 with the
        process), so the run's totals are sums over starts: lower bounds,
        since a start's last seconds before a kill or crash are not seen.
        Returns the answer, gauges included, or None."""
        self.scraped_at = time.monotonic()
        m = self.d.metrics(COUNTERS + GAUGES, timeout=1) if self.d.alive() else None
        if m is not None:
            self.scraped[self.d.starts] = {n: m[n] for n in COUNTERS}
        return m

    def totals(self):
        return {n: int(sum(m[n] for m in self.scraped.values())) for n in COUNTERS}

    def poll(self):
        """Notices an exit, schedules the restart, restarts when due."""
        d, run = self.d, self.run
        if d.proc is not None and d.proc.poll() is not None and not d.expect_exit:
            rc = d.proc.returncode
            text = d.start_log()
            what = describe_exit(rc, text)
            self.exits.append((run.now(), d.starts, what))
            fatal = [l for l in text.splitlines() if '"event":"fatal"' in l]
            sanitizer = SANITIZER.search(text)
            outage = run.in_disruption(run.opts.outage_grace)
            if rc == 1 and not sanitizer and outage:
                self.restarts += 1
                run.say(f"orderd (start #{d.starts}) {what} during a broker disruption: "
                        f"{fatal[-1][:300] if fatal else '(no fatal line)'}; restart in "
                        f"{run.opts.restart_delay}s (Restart=on-failure)")
            else:
                why = ("a sanitizer or assertion report" if sanitizer else
                       "exit 1 with no broker disruption in the last "
                       f"{run.opts.outage_grace:g}s" if rc == 1 else
                       "exit 2 (systemd would not restart it)" if rc == 2 else
                       "a crash" if rc < 0 else "an unexpected exit")
                run.failure("daemon", f"orderd (start #{d.starts}) {what}: {why}; its log:\n"
                                      f"{log_excerpt(text)}")
                self.forced_restarts += 1
            d.expect_exit = True  # Handled: not reported again.
            self.restart_at = time.monotonic() + run.opts.restart_delay
        elif d.alive() and time.monotonic() - self.scraped_at >= 2:
            self.scrape()
        if self.restart_at is not None and time.monotonic() >= self.restart_at and not run.stop_flag.is_set():
            self.start()
            run.say(f"orderd restarted (start #{self.d.starts})")
        if self.tick:
            self.tick()

    def alive(self):
        return self.d.alive()


class Producer:
    """Sends the workload in small upstream transactions at a steady rate:
    chunks of whole orders, released at start + first order / rate, taken by
    --producers worker threads (one `greenlight produce --transactional`
    costs about a second whatever its size, as upstream systems are many)."""

    def __init__(self, ctx, broker, prefix, rnd):
        self.ctx, self.broker, self.prefix = ctx, broker, prefix
        opts = ctx.opts
        self.chunks_plan, i = [], 0
        while i < opts.orders:
            n = min(opts.orders - i, rnd.randint(opts.chunk_min, opts.chunk_max))
            self.chunks_plan.append((i, i + n))
            i += n
        self.lock = threading.Lock()
        self.next_chunk = 0
        self.done = []            # (lo, hi) committed
        self.committed_at = {}    # lo -> run time its transaction committed
        self.orders_done = self.records_done = self.chunks = self.retries = 0
        self.latencies = []
        self.gave_up = []
        self.procs = set()
        self.threads = [threading.Thread(target=self.worker, name=f"producer-{k}", daemon=True)
                        for k in range(opts.producers)]

    def start(self):
        self.t_start = time.monotonic()
        for t in self.threads:
            t.start()

    def is_alive(self):
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout):
        for t in self.threads:
            t.join(timeout)

    def kill(self):
        for p in list(self.procs):
            if p.poll() is None:
                p.kill()

    def run_chunk(self, lo, hi):
        lines = [e for i in range(lo, hi) for e in order_events(i)]
        first_fail = None
        while not self.ctx.stop_flag.is_set():
            t = time.monotonic()
            holder = []
            code, err = harness.produce_at(self.broker.bootstrap, self.prefix, lines, transactional=True,
                                           timeout_ms=self.ctx.opts.produce_timeout_ms,
                                           on_start=lambda p: (holder.append(p), self.procs.add(p)))
            for p in holder:
                self.procs.discard(p)
            if code == 0:
                with self.lock:
                    self.latencies.append(time.monotonic() - t)
                return True
            if self.ctx.stop_flag.is_set():  # Killed by the cleanup: not a failure of its own.
                return False
            now = time.monotonic()
            first_fail = first_fail or now
            with self.lock:
                self.retries += 1
            last = [l for l in err.strip().splitlines() if l.strip()][-1:] or ["(no message)"]
            self.ctx.say(f"producer: transaction of orders {lo}..{hi - 1} failed ({code}: {last[0][:200]});"
                         f" retrying the same events")
            if now - first_fail > self.ctx.opts.producer_give_up:
                with self.lock:
                    self.gave_up.append(f"orders {lo}..{hi - 1} could not be produced for "
                                        f"{self.ctx.opts.producer_give_up:g}s: {err.strip()[-500:]}")
                return False
            self.ctx.stop_flag.wait(1.0)  # Back-off before retrying the chunk: workload pacing.
        return False

    def worker(self):
        try:
            while not self.ctx.stop_flag.is_set():
                with self.lock:
                    if self.next_chunk >= len(self.chunks_plan) or self.gave_up:
                        return
                    lo, hi = self.chunks_plan[self.next_chunk]
                    self.next_chunk += 1
                # Pace: a chunk goes when the rate says so (catching up after an outage).
                due = self.t_start + lo / self.ctx.opts.rate
                self.ctx.stop_flag.wait(max(0.0, due - time.monotonic()))
                if self.ctx.stop_flag.is_set() or not self.run_chunk(lo, hi):
                    return
                with self.lock:
                    self.done.append((lo, hi))
                    self.committed_at[lo] = self.ctx.now()
                    self.orders_done += hi - lo
                    self.records_done += (hi - lo) * EVENTS_PER_ORDER
                    self.chunks += 1
        except Exception:
            with self.lock:
                self.gave_up.append("producer thread raised:\n" + traceback.format_exc())

    def report(self):
        for g in self.gave_up:
            self.ctx.failure("producer", g)
        lat = sorted(self.latencies) or [0.0]
        self.ctx.say(f"producer: done, {self.orders_done} orders ({self.records_done} records) in "
                     f"{self.chunks} transactions, {self.retries} retried; transaction time median "
                     f"{lat[len(lat) // 2]:.2f}s, max {lat[-1]:.2f}s")

    def produced_orders(self):
        return sorted(i for lo, hi in self.done for i in range(lo, hi))


def plan_actions(opts, rnd):
    """Seeded chaos plan: (time in s from the start of production, action)."""
    acts = ["kill"] * opts.kills + ["stop"] * opts.broker_stops + ["pause"] * opts.broker_pauses + \
        ["cold"] * opts.cold_starts
    rnd.shuffle(acts)
    window = opts.orders / opts.rate
    slot = window / (len(acts) + 1) if acts else window
    return [(slot * (k + 1) + rnd.uniform(-0.3, 0.3) * slot, a) for k, a in enumerate(acts)]


def supervised_wait(run, sup, cond, timeout, what, interval=0.2):
    """Polls cond() until it is truthy or the deadline passes (returns None),
    supervising the daemon meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        sup.poll()
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            run.say(f"timed out after {timeout:g}s waiting for {what}")
            return None
        time.sleep(interval)  # poll interval of a deadline-bounded wait


def supervised_call(run, sup, fn, *args, **kw):
    """Runs fn (a blocking broker command) in a thread, supervising the
    daemon until it returns; returns its result or raises its exception."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args, **kw)
        except BaseException as e:  # Handed to the caller.
            box["error"] = e
    t = threading.Thread(target=target, daemon=True)
    t.start()
    while t.is_alive():
        sup.poll()
        t.join(0.2)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def supervised_pause(run, sup, seconds):
    """A deliberate pause of the workload (not a synchronisation), supervising meanwhile."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sup.poll()
        time.sleep(min(0.2, max(0.0, end - time.monotonic())))


def save_broker_log(broker, run_dir, label):
    """kafka.sh rewrites kafka.out at every start: keep each incarnation's."""
    src = os.path.join(broker.data_dir, "kafka.out")
    if os.path.exists(src):
        with open(src, errors="replace") as f, open(os.path.join(run_dir, "broker.log"), "a") as out:
            out.write(f"--- {label} ---\n{f.read()}")


def progress(run, sup, producer, counts):
    d = sup.d
    m = sup.scrape()
    state = (f"up (start #{d.starts}, processed {m['greenlight_records_processed_total']:.0f}, "
             f"lag {m['greenlight_consumer_lag_records']:.0f})" if m is not None
             else f"up (start #{d.starts}, no HTTP answer within 1 s)" if d.alive() else "down")
    run.say(f"progress: produced {producer.orders_done}/{run.opts.orders} orders "
            f"({producer.records_done} records, {producer.retries} retries); orderd {state}; "
            f"kills {counts['kill']}/{run.opts.kills}, "
            f"broker stops {counts['stop']}/{run.opts.broker_stops}, "
            f"pauses {counts['pause']}/{run.opts.broker_pauses}, "
            f"cold starts {counts['cold']}/{run.opts.cold_starts}, "
            f"restarts {sup.restarts}, "
            f"failures {len(run.failures)}")


def do_kill(run, sup, counts):
    d = sup.d
    if not supervised_wait(run, sup, d.alive, 120, "orderd to be running before a kill"):
        run.failure("chaos", "orderd was not running for 120 s: kill skipped")
        return
    sup.scrape()
    processed = sup.scraped.get(d.starts, {}).get("greenlight_records_processed_total")
    pid, start = d.proc.pid, d.starts
    d.kill9()
    counts["kill"] += 1
    sup.start()
    run.say(f"kill -9 orderd (pid {pid}, start #{start}, processed "
            f"{'?' if processed is None else f'{processed:.0f}'}) -> restarted, start #{d.starts} "
            f"[kill {counts['kill']}/{run.opts.kills}]")


def broker_back(run, sup, broker, disruption, counts, kind, what):
    """Starts the private broker again after a disruption of kind (counted),
    ends the disruption's window; the run fails if it does not come back."""
    code, out = supervised_call(run, sup, broker.kafka_sh, "start", timeout=broker.start_timeout + 240)
    disruption[1] = time.monotonic()
    counts[kind] += 1
    if code != 0:
        run.failure("broker", f"kafka.sh start after {what} failed ({code}): {out[-1500:]}")
        raise RuntimeError("the private broker did not come back")


def do_broker_stop(run, sup, broker, rnd, counts):
    down = rnd.uniform(run.opts.down_min, run.opts.down_max)
    disruption = [time.monotonic(), None]
    run.disruptions.append(disruption)
    t = time.monotonic()
    supervised_call(run, sup, broker.stop)  # kafka.sh stop returns once the broker has exited.
    save_broker_log(broker, run.run_dir, f"broker stop {counts['stop'] + 1} at {run.now():.1f}s")
    stop_s = time.monotonic() - t
    run.say(f"broker stopped (kafka.sh stop took {stop_s:.1f}s); down for {down:.1f}s")
    supervised_pause(run, sup, down)
    t = time.monotonic()
    broker_back(run, sup, broker, disruption, counts, "stop", "a stop")
    run.say(f"broker started again (kafka.sh start took {time.monotonic() - t:.1f}s) "
            f"[stop {counts['stop']}/{run.opts.broker_stops}]")


def do_cold_start(run, sup, broker, rnd, counts):
    """Both down, the daemon first up: kill -9 orderd, stop the broker, start
    orderd while the broker is down, start the broker after a pause (a host
    that reboots, a daemon that comes up before its cluster)."""
    down = rnd.uniform(run.opts.down_min, run.opts.down_max)
    d = sup.d
    if not supervised_wait(run, sup, d.alive, 120, "orderd to be running before a cold start"):
        run.failure("chaos", "orderd was not running for 120 s: cold start skipped")
        return
    disruption = [time.monotonic(), None]
    run.disruptions.append(disruption)
    pid, start = d.proc.pid, d.starts
    d.kill9()
    supervised_call(run, sup, broker.stop)
    save_broker_log(broker, run.run_dir, f"cold start {counts['cold'] + 1} at {run.now():.1f}s")
    sup.start()
    run.say(f"cold start: kill -9 orderd (pid {pid}, start #{start}), broker stopped, orderd started "
            f"(start #{d.starts}) with the broker down for {down:.1f}s")
    supervised_pause(run, sup, down)
    broker_back(run, sup, broker, disruption, counts, "cold", "a cold start")
    run.say(f"cold start: broker started again [cold start {counts['cold']}/{run.opts.cold_starts}]")


def do_broker_pause(run, sup, broker, rnd, counts):
    secs = rnd.uniform(run.opts.pause_min, run.opts.pause_max)
    disruption = [time.monotonic(), None]
    run.disruptions.append(disruption)
    pid = broker.pause()
    run.say(f"broker paused (SIGSTOP pid {pid}) for {secs:.1f}s")
    try:
        supervised_pause(run, sup, secs)
    finally:
        broker.resume()
        disruption[1] = time.monotonic()
    counts["pause"] += 1
    run.say(f"broker resumed (SIGCONT) [pause {counts['pause']}/{run.opts.broker_pauses}]")


def wait_complete(run, sup, broker, prefix, expected):
    """Polls the status topic (read_committed) until every expected (order,
    version) is there or the settle deadline passes. Returns the last records."""
    deadline = time.monotonic() + run.opts.settle_timeout
    records, last_say = None, 0.0
    interval = min(10.0, 1.0 + len(expected) * EVENTS_PER_ORDER / 20000)
    while True:
        sup.poll()
        got = harness.tail_at(broker.bootstrap, prefix, "greenlight.order-status", timeout=120, must=False)
        if got is not None:
            records = got
            f = audit_status(records, expected)
            if f["lost_versions"] == 0:
                return records
            if time.monotonic() - last_say >= 10:
                last_say = time.monotonic()
                run.say(f"waiting for the status topic: {len(records)}/{f['expected_records']} records, "
                        f"{f['lost_versions']} expected versions still missing")
        if time.monotonic() >= deadline:
            run.say(f"settle deadline ({run.opts.settle_timeout:g}s) passed with the status incomplete")
            if records is None:
                run.failure("audit", "greenlight tail could not read the status topic")
            return records or []
        time.sleep(interval)  # poll interval of a deadline-bounded wait


def check_queries(run, sup, rnd, last_status):
    """GET /orders/{id} on a sample: the daemon's state equals the last status."""
    d = sup.d
    n = min(run.opts.sample, len(last_status))
    if n == 0:
        return 0, 0

    def ready():
        code, body = d.get("/healthz")
        if code != 200:
            return False
        h = json.loads(body)
        return h.get("restoring") == 0 and h.get("partitions") == harness.PARTITIONS
    if not supervised_wait(run, sup, ready, 120, "orderd to own and restore every partition"):
        run.failure("query", f"orderd never reported all {harness.PARTITIONS} partitions restored; "
                             f"GET /healthz: {d.get('/healthz')}")
        return 0, n
    mismatches = 0
    for oid in rnd.sample(sorted(last_status), n):
        answer = supervised_wait(run, sup, lambda: (lambda r: r if r[0] in (200, 404) else None)(
            d.get(f"/orders/{oid}")), 30, f"GET /orders/{oid}")
        if answer is None or answer[0] != 200:
            mismatches += 1
            run.failure("query", f"GET /orders/{oid}: {answer}")
            continue
        got, want = strip_defaults(json.loads(answer[1])), last_status[oid]
        if got != want:
            mismatches += 1
            if mismatches <= 3:
                run.failure("query", f"GET /orders/{oid} = {got}\n    != last status {want}")
    return n, mismatches


def check_changelog(run, broker, prefix, last_status):
    recs = harness.tail_at(broker.bootstrap, prefix, "greenlight-orderd.orders.changelog",
                           timeout=120, msg_type="greenlight.v1.OrderRecord", must=False)
    if recs is None:
        run.failure("changelog", "greenlight tail could not read the changelog")
        return None
    last = {}
    for r in recs:
        if r["key"].startswith("\u0000") or "value" not in r:
            continue
        last[r["key"]] = r["value"]
    bad = [oid for oid, st in last_status.items() if last.get(oid, {}).get("status") != st]
    if bad:
        run.failure("changelog", f"{len(bad)} orders' changelog state differs from their last status,"
                                 f" e.g. {bad[:3]}")
    return len(bad)


def count_inputs(run, broker, prefix):
    total = 0
    for t in harness.INPUT_TOPICS:
        recs = harness.tail_at(broker.bootstrap, prefix, t, timeout=120, raw=True, must=False)
        if recs is None:
            return None
        total += len(recs)
    return total


def other_path_timeline(run, producer, ids):
    """Groups orders by the run time their upstream transaction committed,
    each group with the chaos actions under way within 20 s before it."""
    starts = sorted(producer.committed_at)
    groups = {}
    for oid in ids:
        i = int(oid.rsplit("-", 1)[1])
        lo = max(x for x in starts if x <= i)
        t = producer.committed_at[lo]
        groups[round(t)] = groups.get(round(t), 0) + 1
    out = []
    for t, n in sorted(groups.items()):
        near = [f"{a}@{b:.0f}-{e if e is not None else run.now():.0f}s" for b, e, a in run.actions
                if b <= t + 1 and (e is None or e >= t - 20)]
        out.append(f"{t}s: {n} ({', '.join(near) or 'no chaos action in the 20 s before'})")
    return "; ".join(out)


def replay_check(run, broker, prefix, orderd_bin, live_records, inputs):
    """Replays the recorded input log, with no fault, into a fresh group and
    shadow topics, and compares each order's status versions (state and
    cause) with the live run's: a live run with crashes, restarts and broker
    outages must write what a replay writes (SPEC §6). Returns the orders
    whose histories differ, and examples."""
    app = "greenlight-orderd-replay"
    broker.make_topics(prefix, ["replay.order-status", "replay.repartition", "replay.dlq",
                                f"{app}.orders.changelog:compact", f"{app}.owners:compact:1"])
    d = harness.Daemon(orderd_bin, "orderd-replay", [
        "-b", broker.bootstrap, "--topic.prefix", prefix, "--policy.file", harness.POLICY,
        "--app.id", app, "--output.topics", "replay.order-status,replay.repartition",
        "--dlq.topic", "replay.dlq", "--http.port", "0", "--commit.interval.ms", "50"])
    d.log_path = os.path.join(run.run_dir, "orderd-replay.log")
    d.start()
    harness.wait_until(lambda: d.metric("greenlight_records_processed_total") >= inputs and
                       d.metric("greenlight_uncommitted_records") == 0, 600,
                       f"the replay to process the {inputs} input records")
    d.stop()
    replay = harness.tail_at(broker.bootstrap, prefix, "replay.order-status", timeout=120)

    def histories(records):
        out = {}
        for r in records:
            v = r.get("value") or {}
            out.setdefault(r.get("key"), []).append(
                (v.get("version"), v.get("state"), (v.get("cause") or {}).get("event_id")))
        return out
    live, again = histories(live_records), histories(replay)
    differ = sorted(k for k in set(live) | set(again) if live.get(k) != again.get(k))
    examples = [f"{k}: live {[h[1:] for h in live.get(k, [])][:4]} replay "
                f"{[h[1:] for h in again.get(k, [])][:4]}" for k in differ[:3]]
    return differ, examples


def chaos(opts):
    """One chaos run. Returns the summary (a dict; summary["ok"] is the verdict)."""
    rnd = random.Random(opts.seed)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.realpath(opts.workdir or
                               os.path.join(opts.build, "chaos-runs", f"{stamp}-seed{opts.seed}"))
    os.makedirs(run_dir, exist_ok=True)
    run = Run(opts, run_dir)
    # With ASan, an abort (a failed assertion) prints the stack that reached it.
    asan = os.environ.get("ASAN_OPTIONS", "")
    if "handle_abort" not in asan:
        os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "handle_abort=1"
    harness.CLI = os.path.join(opts.build, "services", "cli", "greenlight")
    orderd_bin = os.path.join(opts.build, "services", "orderd", "greenlight-orderd")
    for b in (harness.CLI, orderd_bin):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"chaos: {b} is missing: build first (--build names the build dir)")
    broker = PrivateBroker(os.path.join(run_dir, "broker"), opts.broker_port, opts.controller_port,
                           opts.sasl_port, heap=opts.broker_heap, version=opts.broker_version)
    prefix = f"chaos{opts.seed}."
    summary = dict(seed=opts.seed, run_dir=run_dir, bootstrap=broker.bootstrap,
                   broker_version=opts.broker_version, ok=False)
    counts = dict(kill=0, stop=0, pause=0, cold=0)
    sup = producer = None
    run.say(f"chaos: {opts.orders} orders at {opts.rate:g}/s, {opts.kills} kills, {opts.broker_stops} broker "
            f"stops, {opts.broker_pauses} broker pauses, {opts.cold_starts} cold starts, seed {opts.seed}; "
            f"private broker {broker.bootstrap} (Kafka {opts.broker_version}) "
            f"(controller {opts.controller_port}, SASL {opts.sasl_port}); run dir {run_dir}")
    try:
        if broker.pid() is not None:  # A leftover of an earlier run on this data dir.
            broker.stop()
        t = time.monotonic()
        broker.kafka_sh("clean", timeout=120)
        broker.start()
        broker.make_topics(prefix)
        run.say(f"private broker up, topics under prefix {prefix!r} ({time.monotonic() - t:.1f}s)")

        args = ["-b", broker.bootstrap, "--topic.prefix", prefix, "--policy.file", harness.POLICY,
                "--instance.id", "1", "--http.port", "0", "--commit.interval.ms", "50",
                "--commit.max.records", "200", "--kafka.session.timeout.ms", "6000", *opts.orderd_arg]
        d = SupervisedDaemon(orderd_bin, "orderd", args)
        d.log_path = os.path.join(run_dir, "orderd.log")
        sup = Supervisor(run, d)
        sup.start()
        if not supervised_wait(run, sup, lambda: d.get("/healthz")[0] == 200, 60, "orderd's /healthz"):
            run.failure("daemon", "orderd did not answer /healthz within 60 s:\n" + log_excerpt(d.start_log()))

        producer = Producer(run, broker, prefix, random.Random(rnd.random()))
        plan = plan_actions(opts, rnd)
        run.say("plan: " + ", ".join(f"{a}@{t:.0f}s" for t, a in plan))
        t_prod = time.monotonic()
        producer.start()
        next_progress = [time.monotonic() + opts.progress]

        def tick():
            if time.monotonic() >= next_progress[0] and not run.stop_flag.is_set():
                next_progress[0] = time.monotonic() + opts.progress
                progress(run, sup, producer, counts)
        sup.tick = tick
        for when, action in plan:
            while time.monotonic() < t_prod + when:
                sup.poll()
                time.sleep(0.1)  # waiting for the planned time of the next action
            if opts.fail_fast and run.failures:
                break
            run.actions.append([run.now(), None, action])
            if action == "kill":
                do_kill(run, sup, counts)
            elif action == "stop":
                do_broker_stop(run, sup, broker, rnd, counts)
            elif action == "cold":
                do_cold_start(run, sup, broker, rnd, counts)
            else:
                do_broker_pause(run, sup, broker, rnd, counts)
            run.actions[-1][1] = run.now()
        while producer.is_alive():
            sup.poll()
            producer.join(0.1)
        sup.tick = None
        producer.report()
        run.say("chaos done; waiting for the status topic to complete (read_committed)")

        n = producer.orders_done
        expected = {order_id(i): LIFECYCLE for i in producer.produced_orders()}
        records = wait_complete(run, sup, broker, prefix, expected)
        audit = audit_status(records, expected, {order_id(i): final_fields(i)
                                                 for i in producer.produced_orders()})
        by_version = {}
        for r in records:
            v = r.get("value") or {}
            key = r.get("key")
            if int(v.get("version", 0)) >= by_version.get(key, (0, None))[0]:
                by_version[key] = (int(v.get("version", 0)), v)
        last_status = {k: v for k, (_, v) in by_version.items()}
        sampled, q_bad = check_queries(run, sup, random.Random(rnd.random()), last_status)
        cl_bad = check_changelog(run, broker, prefix, last_status)
        inputs = count_inputs(run, broker, prefix)

        run.stop_flag.set()  # No more restarts.
        sup.poll()  # An exit not seen yet is reported.
        sup.scrape()
        if d.alive():
            code = d.stop(timeout=60)
            text = d.start_log()
            final_stop = describe_exit(code, text)
            if code != 0 or SANITIZER.search(text):
                run.failure("daemon", f"orderd's final SIGTERM stop: {final_stop}"
                                      f"{' (sanitizer report)' if SANITIZER.search(text) else ''}; its log:\n"
                                      f"{log_excerpt(text)}")
        else:
            final_stop = "not running at the end"
            run.failure("daemon", "orderd was not running at the end of the run")
        differ, differ_examples = replay_check(run, broker, prefix, orderd_bin, records, inputs)
        summary.update(replay_differs=len(differ), replay_examples=differ_examples)
        if differ:
            run.failure("replay", f"{len(differ)} orders' histories differ from a replay of the same "
                                  f"input log, e.g. {differ_examples[0]}")
        summary.update(
            input_records_in_topics=inputs, status_records=audit["records"],
            expected_status_records=audit["expected_records"], lost_orders=audit["lost_orders"],
            lost_versions=audit["lost_versions"], duplicated=audit["duplicated"],
            dup_identical=audit["dup_identical"], dup_conflicting=audit["dup_conflicting"],
            gaps=audit["gaps"], reordered=audit["reordered"], extra=audit["extra"],
            wrong_final=audit["wrong_final"], other_path=audit["other_path"],
            key_mismatch=audit["key_mismatch"],
            examples=audit["examples"], queries_sampled=sampled, query_mismatches=q_bad,
            changelog_mismatches=cl_bad, final_stop=final_stop)
        if n < opts.orders:
            run.failure("producer", f"only {n} of {opts.orders} orders were produced")
        if not audit_clean(audit):
            run.failure("audit", "the status topic is not exactly once: " +
                        "; ".join(f"{k}: {', '.join(v)}" for k, v in audit["examples"].items()
                                  if k != "other_path"))
        if audit["other_path"] and opts.strict_order:
            run.failure("order", f"{audit['other_path']} orders' intermediate versions are out of their "
                                 f"events' time order, e.g. {audit['examples']['other_path'][0]}")
        if audit["other_path"]:
            run.say("orders that took another path, e.g. " + "; ".join(audit["examples"]["other_path"][:3]))
            run.say("  by the time their upstream transaction committed: " +
                    other_path_timeline(run, producer, audit["other_path_ids"]))
    except (KeyboardInterrupt, SystemExit) as e:  # Ctrl-C; SIGTERM (harness makes it SystemExit)
        run.failure("script", f"interrupted ({type(e).__name__})")
    except Exception as e:
        run.failure("script", f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    finally:
        run.stop_flag.set()
        if producer is not None:
            producer.kill()
        if sup is not None and sup.d.alive():
            sup.d.kill9()
        harness._kill_all()
        broker.resume()
        save_broker_log(broker, run_dir, f"final broker at {run.now():.1f}s")
        broker.close(clean=not opts.keep)
        if broker.pid() is not None:
            run.failure("cleanup", f"the private broker on {broker.data_dir} still runs")
    try:  # Every line the daemons wrote is JSON (gl_log.h); read before the run dir goes.
        harness.check_daemon_logs()
    except AssertionError as e:
        run.failure("log", str(e))
    summary.update(
        orders=opts.orders, orders_produced=producer.orders_done if producer else 0,
        producer_transactions=producer.chunks if producer else 0,
        producer_retries=producer.retries if producer else 0,
        input_records_produced=producer.records_done if producer else 0,
        kills=counts["kill"], broker_stops=counts["stop"], broker_pauses=counts["pause"],
        cold_starts=counts["cold"],
        daemon_restarts=sup.restarts if sup else 0, daemon_failure_restarts=sup.forced_restarts if sup else 0,
        daemon_exits=[f"{t:.1f}s start#{s}: {w}" for t, s, w in (sup.exits if sup else [])],
        daemon_starts=sup.d.starts if sup else 0, orderd_counters=sup.totals() if sup else {},
        failures=[f"{k}: {t}" for k, t in run.failures], wall_time_s=round(run.now(), 1))
    summary["ok"] = not run.failures
    print_summary(run, summary)
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if summary["ok"] and not opts.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return summary


def print_summary(run, s):
    g = s.get
    lines = [
        f"chaos summary (seed {g('seed')})",
        f"  orders            {g('orders_produced', 0)} of {g('orders', '?')} produced "
        f"({g('producer_transactions', 0)} upstream transactions, {g('producer_retries', 0)} retried)",
        f"  input records     {g('input_records_produced', 0)} produced, "
        f"{g('input_records_in_topics', '?')} in the input topics (read_committed)",
        f"  status records    {g('status_records', '?')} (expected {g('expected_status_records', '?')})",
        f"  lost              {g('lost_orders', '?')} orders without their final version, "
        f"{g('lost_versions', '?')} expected versions missing",
        f"  duplicated        {g('duplicated', '?')} (identical {g('dup_identical', '?')}, "
        f"conflicting {g('dup_conflicting', '?')})",
        f"  gaps              {g('gaps', '?')}",
        f"  final state       {g('wrong_final', '?')} orders not CLEARED in full at version {len(LIFECYCLE)}",
        f"  other             reordered {g('reordered', '?')}, extra {g('extra', '?')}, key mismatch "
        f"{g('key_mismatch', '?')}",
        f"  other path        {g('other_path', '?')} orders reached CLEARED through intermediate states "
        f"out of their events' time order "
        f"({'a failure: --strict-order' if run.opts.strict_order else 'allowed'})",
        f"  replay            {g('replay_differs', '?')} orders whose history differs from a replay of "
        f"the same input log (fresh group, no fault)",
        f"  kills             {g('kills')}/{run.opts.kills}",
        f"  broker stops      {g('broker_stops')}/{run.opts.broker_stops}",
        f"  broker pauses     {g('broker_pauses')}/{run.opts.broker_pauses}",
        f"  cold starts       {g('cold_starts')}/{run.opts.cold_starts}",
        f"  daemon restarts   {g('daemon_restarts')} after exit 1 in a broker disruption, "
        f"{g('daemon_failure_restarts')} after a FAILURE",
        f"  daemon exits      {'; '.join(g('daemon_exits') or []) or 'none'} ({g('daemon_starts')} starts)",
        "  orderd counters   " + ", ".join(f"{k.replace('greenlight_', '').replace('_total', '')} {v}"
                                           for k, v in (g('orderd_counters') or {}).items())
        + " (sums over starts, lower bounds)",
        f"  GET /orders       {g('queries_sampled', '?')} sampled, {g('query_mismatches', '?')} wrong",
        f"  changelog         {g('changelog_mismatches', '?')} orders differ from their last status",
        f"  final SIGTERM     {g('final_stop', '?')}",
        f"  wall time         {g('wall_time_s')}s",
    ]
    for f in g("failures") or []:
        lines.append("  FAILURE " + f.split("\n", 1)[0][:300])
    lines.append(f"RESULT: {'PASS' if g('ok') else 'FAIL'}"
                 f"{'' if g('ok') else '  (logs: ' + g('run_dir') + ')'}")
    for l in lines:
        run.say(l)


def parse_args(argv=None):
    src = os.path.dirname(os.path.dirname(HERE))
    p = argparse.ArgumentParser(
        prog="chaos.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--orders", type=int, default=2000, help="orders in the workload (6 events each)")
    p.add_argument("--rate", type=float, default=20.0, help="orders per second the producer sends")
    p.add_argument("--duration", type=float, help="production time in s (sets --rate = orders/duration)")
    p.add_argument("--kills", type=int, default=5, help="kill -9 cycles of orderd")
    p.add_argument("--broker-stops", type=int, default=2, help="kafka.sh stop/start cycles")
    p.add_argument("--broker-pauses", type=int, default=1, help="SIGSTOP/SIGCONT pauses of the broker")
    p.add_argument("--cold-starts", type=int, default=1,
                   help="kill -9 orderd and stop the broker, start orderd first, the broker after a pause")
    p.add_argument("--seed", type=int, default=int(time.time()) % 100000, help="seed of every random choice")
    p.add_argument("--build", default=os.environ.get("GL_BUILD_DIR", os.path.join(src, "build")),
                   help="build dir with services/orderd/greenlight-orderd and services/cli/greenlight")
    p.add_argument("--workdir", help="run dir (logs, broker data); default BUILD/chaos-runs/DATE-seedN")
    p.add_argument("--keep", action="store_true",
                   help="keep the run dir and the broker's data (logs are kept on failure anyway)")
    p.add_argument("--broker-port", type=int, default=19192)
    p.add_argument("--controller-port", type=int, default=19193)
    p.add_argument("--sasl-port", type=int, default=19194)
    p.add_argument("--free-ports", action="store_true", help="pick three free ports instead")
    p.add_argument("--broker-heap", default="-Xms128m -Xmx512m")
    p.add_argument("--broker-version", default=os.environ.get("GREENLIGHT_BROKER_VERSION"),
                   help="Kafka release of the private broker, e.g. 3.9.2 or 4.4.0 (default: "
                        "$GREENLIGHT_BROKER_VERSION, else kafka.sh's default)")
    p.add_argument("--producers", type=int, default=3,
                   help="upstream producer threads (one greenlight produce each at a time)")
    p.add_argument("--chunk-min", type=int, default=2, help="fewest orders per upstream transaction")
    p.add_argument("--chunk-max", type=int, default=20, help="most orders per upstream transaction")
    p.add_argument("--down-min", type=float, default=2.0, help="shortest broker stop, s")
    p.add_argument("--down-max", type=float, default=8.0, help="longest broker stop, s")
    p.add_argument("--pause-min", type=float, default=2.0, help="shortest SIGSTOP, s")
    p.add_argument("--pause-max", type=float, default=6.0, help="longest SIGSTOP, s")
    p.add_argument("--restart-delay", type=float, default=2.0,
                   help="delay before restarting an exited orderd (systemd RestartSec)")
    p.add_argument("--outage-grace", type=float, default=60.0,
                   help="an exit 1 this long after a broker disruption still counts as caused by it")
    p.add_argument("--settle-timeout", type=float, default=300.0,
                   help="at most this long for the status topic to complete after the chaos")
    p.add_argument("--produce-timeout-ms", type=int, default=30000, help="greenlight produce --timeout-ms")
    p.add_argument("--producer-give-up", type=float, default=300.0,
                   help="give up on a chunk that keeps failing for this long, s")
    p.add_argument("--sample", type=int, default=200, help="orders checked with GET /orders/{id}")
    p.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument("--strict-order", action="store_true",
                   help="fail when an order's intermediate states are out of its events' time order "
                        "(the merge is meant to follow event time; max.idle.ms allows exceptions)")
    p.add_argument("--fail-fast", action="store_true", help="no further chaos after the first failure")
    p.add_argument("--orderd-arg", action="append", default=[],
                   help="extra orderd flag (repeatable), e.g. --orderd-arg=--commit.max.records=1000")
    opts = p.parse_args(argv)
    if opts.duration:
        opts.rate = opts.orders / opts.duration
    counts = (opts.kills, opts.broker_stops, opts.broker_pauses, opts.cold_starts)
    if opts.orders < 1 or opts.rate <= 0 or min(counts) < 0 or opts.producers < 1 \
            or not 1 <= opts.chunk_min <= opts.chunk_max or opts.down_min > opts.down_max \
            or opts.pause_min > opts.pause_max:
        p.error("bad numbers: need orders >= 1, rate > 0, counts >= 0, 1 <= chunk-min <= chunk-max, "
                "min <= max")
    if opts.free_ports:
        opts.broker_port, opts.controller_port, opts.sasl_port = harness.free_ports(3)
    # kafka.sh checks the version and knows the default.
    v = subprocess.run([harness.KAFKA_SH, "version"], capture_output=True, text=True,
                       env=dict(os.environ, GREENLIGHT_BROKER_VERSION=opts.broker_version or ""))
    if v.returncode != 0:
        p.error(v.stderr.strip())
    opts.broker_version = v.stdout.strip()
    opts.build = os.path.realpath(opts.build)
    return opts


def main():
    opts = parse_args()
    s = chaos(opts)
    sys.exit(0 if s["ok"] else 1)


if __name__ == "__main__":
    main()
