"""The benchmark of issue 8: greenlight against a bare librdkafka
transactional pass-through, side by side in one run on one broker.

  deploy/local/kafka.sh start
  python3 tests/bench/bench.py [--quick] [--orders N] [--rate R] [--memory-orders N]

1. Throughput: N orders x 4 events, produced once, then run one after the
   other on that same input: the bare pass-through (bench_bare_passthrough)
   committing as the daemons do, the same committing on time only (the
   limit), greenlight-pipe, greenlight-orderd (defaults, exactly once) and
   orderd at least once. Each variant's output is checked after it (orderd:
   every order APPROVED with versions 1..4 exactly once; pipe and bare: as
   many records as inputs, no (key, value) twice).
2. Latency: orderd exactly once, then at least once, each on fresh topics,
   fed at a fixed offered rate by bench_rate_latency: from an input's
   append to its status being visible to a read_committed consumer.
3. Memory: orderd fed --memory-orders orders; its RSS once all are
   processed and committed. Restore: orderd restarted on that changelog;
   changelog records per second from its restore_start/restore_done logs.

Prints one table and writes it as JSON (--json, default build/bench.json),
then deletes the run's topics (bench_delete_topics; --keep-topics keeps them).
tests/bench/README.md explains the columns.
Uses the build in $GL_BUILD_DIR (default build-rel if it exists, else
build). Not a test: it asserts nothing about speed; it exits 1 if an output
check failed or a step could not run."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_DIR = os.path.dirname(os.path.dirname(HERE))
if "GL_BUILD_DIR" not in os.environ:
    rel = os.path.join(SRC_DIR, "build-rel")
    os.environ["GL_BUILD_DIR"] = rel if os.path.isdir(rel) else os.path.join(SRC_DIR, "build")
sys.path.insert(0, os.path.join(HERE, "..", "kafka"))
from harness import *  # noqa: E402,F401,F403
from harness import BUILD, BOOTSTRAP, CLI, ORDERD, PIPE, POLICY, LOGDIR, INPUT_TOPICS, _kill_all  # noqa: E402

BARE = os.path.join(BUILD, "tests", "bench", "bench_bare_passthrough")
RATE = os.path.join(BUILD, "tests", "bench", "bench_rate_latency")
DELETE = os.path.join(BUILD, "tests", "bench", "bench_delete_topics")
T0 = 1767571200000
STATES = ["ORDER_STATE_ACCEPTED", "ORDER_STATE_QUEUED", "ORDER_STATE_QUEUED", "ORDER_STATE_APPROVED"]
TOPIC_OF = {"order_placed": "greenlight.orders", "batch_queued": "greenlight.batches",
            "approval_granted": "greenlight.approvals"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
DAEMON_ARGS = []  # --daemon-args: appended to every daemon's flags.
PREFIXES = []     # Every topic prefix of this run, deleted at its end.


def bench_prefix(name):
    """A fresh topic prefix, remembered so that its topics are deleted at the end."""
    PREFIXES.append(new_prefix(name))
    return PREFIXES[-1]


def delete_topics():
    """Deletes this run's topics: a benchmark makes hundreds of partitions,
    and a long-lived broker with thousands runs out of file handles."""
    if PREFIXES:
        r = subprocess.run([DELETE, "-b", BOOTSTRAP, *PREFIXES], capture_output=True, timeout=300)
        print(f"{r.stdout.decode().strip()} of this run{r.stderr.decode()[-1000:]}", flush=True)


def order_id(tag, i):
    return f"O-{tag}-{i:07d}"


def workload(tag, orders):
    """Each order's four events up to APPROVED, order after order."""
    for i in range(orders):
        yield from lifecycle_events(tag, i, order_id(tag, i), 1000 + i % 5000, T0 + i * 4, "bench",
                                    shipments=False)


# ---- Processes and their figures ------------------------------------------

def proc_cpu(pid):
    """utime + stime of the process, all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss(pid):
    """(VmRSS, VmHWM) in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out["VmRSS"], out["VmHWM"]


def broker_pid():
    """The pid of the local broker kafka.sh runs on the bootstrap's data dir,
    or None (a remote broker, or none of kafka.sh's): its CPU is then not
    reported."""
    data_dir = os.environ.get("GREENLIGHT_BROKER_DIR") or os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "greenlight-kafka")
    try:
        with open(os.path.join(data_dir, "kafka.pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return pid if b"kafka.Kafka" in f.read() else None
    except (OSError, ValueError):
        return None


def broker_cpu():
    pid = broker_pid()
    try:
        return proc_cpu(pid) if pid else None
    except OSError:
        return None


def wait_broker_calm(limit=0.3, timeout=30):
    """Waits until the broker used less than limit cores over a second (it
    is still writing the last variant's commits, or compacting), at most
    timeout seconds, so that a variant does not pay for the one before it.
    Returns the broker's last one-second CPU figure, or None."""
    if broker_cpu() is None:
        return None
    last = [None, broker_cpu(), time.monotonic()]

    def calm():
        cpu, now = broker_cpu(), time.monotonic()
        if cpu is None or now - last[2] < 1:
            return cpu is None
        last[0] = (cpu - last[1]) / (now - last[2])
        last[1:] = [cpu, now]
        return last[0] < limit
    deadline = time.monotonic() + timeout
    while not calm() and time.monotonic() < deadline:
        time.sleep(0.1)  # Polls a deadline-bounded condition.
    return last[0]


def produce_stream(prefix, events, timeout=3600):
    """Produces events (dicts) through `greenlight produce`, streamed, so a
    million orders never sit in memory as one string. Returns seconds."""
    t = time.monotonic()
    with tempfile.TemporaryFile() as err:
        p = register_process(subprocess.Popen(
            [CLI, "produce", "-b", BOOTSTRAP, "--prefix", prefix, "--strict"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err))
        chunk = []
        for e in events:
            chunk.append(json.dumps(e))
            if len(chunk) == 20000:
                p.stdin.write(("\n".join(chunk) + "\n").encode())
                chunk = []
        p.stdin.write(("\n".join(chunk) + "\n").encode() if chunk else b"")
        p.stdin.close()
        rc = p.wait(timeout=timeout)
        err.seek(0)
        check(rc == 0, f"greenlight produce failed ({rc}): {err.read().decode()[-2000:]}")
    return time.monotonic() - t


def tail_stream(prefix, topic, raw=False, timeout=600):
    """Yields every record of a topic (read_committed) as `greenlight tail`
    prints it, without holding its whole output."""
    with tempfile.TemporaryFile() as err:
        p = register_process(subprocess.Popen(
            [CLI, "tail", topic, "-b", BOOTSTRAP, "--prefix", prefix, "--from-beginning",
             "--exit-at-end", "--timeout-ms", str(timeout * 1000)] + (["--raw"] if raw else []),
            stdout=subprocess.PIPE, stderr=err))
        for line in p.stdout:
            if line.strip():
                yield json.loads(line)
        rc = p.wait(timeout=60)
        err.seek(0)
        check(rc == 0, f"greenlight tail {prefix}{topic} failed ({rc}): {err.read().decode()[-2000:]}")


def check_passthrough(prefix, topic, total):
    """The output holds every input once: total records, no (key, value) twice."""
    n, seen = 0, set()
    for r in tail_stream(prefix, topic, raw=True):
        n += 1
        seen.add((r.get("key"), r.get("value_hex")))
    if n != total or len(seen) != total:
        return f"{topic}: {n} records, {len(seen)} distinct (key, value), expected {total}"
    return "ok"


def check_orders(prefix, topic, tag, orders):
    """Every order APPROVED with versions 1..4, exactly once (harness audit)."""
    slim = [{"key": r.get("key"), "partition": r.get("partition"), "offset": r.get("offset"),
             "value": {k: (r.get("value") or {}).get(k) for k in ("order_id", "version", "state")}}
            for r in tail_stream(prefix, topic)]
    f = audit_status(slim, {order_id(tag, i): STATES for i in range(orders)})
    if audit_clean(f):
        return "ok"
    return "; ".join(f"{k} {v}" for k, v in f.items() if k not in ("examples", "other_path_ids")
                     and v and k != "orders") + f" examples {f['examples']}"


# ---- The throughput variants ----------------------------------------------

def engine_commit_policy():
    """commit.interval.ms and commit.max.records the daemons run with (their
    defaults plus --daemon-args), from greenlight-pipe --check-config, so
    that the bare pass-through commits as they do."""
    r = subprocess.run([PIPE, "--check-config", *DAEMON_ARGS], capture_output=True, timeout=60)
    conf = dict(l.split(" = ", 1) for l in r.stdout.decode().splitlines() if " = " in l)
    check(r.returncode == 0 and "commit.interval.ms" in conf,
          f"greenlight-pipe --check-config failed: {r.stderr.decode()[-1000:]}")
    return conf["commit.interval.ms"], conf.get("commit.max.records", "0")


def run_bare(prefix, total, name, extra=()):
    """The bare pass-through as group and transactional id <prefix>name,
    writing to the topic name.out."""
    log = os.path.join(LOGDIR, "bench-bare.log")
    with open(log, "a") as lf:
        p = register_process(subprocess.Popen(
            [BARE, "-b", BOOTSTRAP, "-g", prefix + name, "-t", prefix + name + "-0",
             "-o", f"{prefix}{name}.out", "--expect", str(total), *extra,
             *[prefix + t for t in INPUT_TOPICS]], stdout=subprocess.PIPE, stderr=lf))
        out, _ = p.communicate(timeout=1800)
    check(p.returncode == 0, f"bench_bare_passthrough exited {p.returncode}; see {log}")
    r = json.loads(out)
    return dict(events=r["records"], seconds=r["seconds_to_commit"],
                seconds_to_last_record=r["seconds"], commits=r["commits"],
                commit_ms_mean=r["commit_ms_mean"],
                cpu_seconds=r["cpu_seconds"], rss=r["max_rss_kb"] * 1024, rss_is_peak=True)


PERF_DIR = None  # --perf: where each daemon variant's profile goes.


def perf_start(d):
    """perf record -g of d's process, all its threads, until perf_stop."""
    if not PERF_DIR:
        return None
    os.makedirs(PERF_DIR, exist_ok=True)
    out = os.path.join(PERF_DIR, d.name + ".perf.data")
    p = register_process(subprocess.Popen(
        ["perf", "record", "-g", "-F", "999", "-o", out, "-p", str(d.proc.pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return p, out


def perf_stop(rec):
    """Stops the recording and returns its top 10 symbols (self time, all
    threads) as (percent, symbol, object) rows."""
    if not rec:
        return None
    p, out = rec
    p.send_signal(signal.SIGINT)
    p.wait(timeout=60)
    r = subprocess.run(["perf", "report", "-i", out, "--no-children", "--sort", "symbol,dso",
                        "--stdio", "-g", "none"], capture_output=True, text=True, timeout=300)
    # librdkafka has no symbols here: its addresses add up to one row.
    total = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].endswith("%") and parts[1] in ("[.]", "[k]"):
            sym, obj = parts[2], parts[3]
            if re.fullmatch(r"0x[0-9a-f]+", sym):
                sym = "(no symbols)"
            total[(sym, obj)] = total.get((sym, obj), 0.0) + float(parts[0][:-1])
    by_obj = {}
    for (_, obj), pct in total.items():
        by_obj[obj] = by_obj.get(obj, 0.0) + pct
    top = sorted(((round(pct, 2), sym, obj) for (sym, obj), pct in total.items()), reverse=True)
    objs = sorted(((round(pct, 1), obj) for obj, pct in by_obj.items()), reverse=True)
    return dict(top=top[:10], by_object=objs[:8])


def run_daemon(d, total, timeout):
    """Starts d, times it from its first processed record to the commit of
    its total-th (as the bare pass-through is timed), reads CPU and RSS just
    before it stops it."""
    d.start()
    rec = perf_start(d)
    wait_until(lambda: d.metric("greenlight_records_processed_total") > 0, 120,
               f"{d.name}'s first record", interval=0.01)
    t_first = time.monotonic()
    wait_until(lambda: d.metric("greenlight_records_processed_total") >= total, timeout,
               f"{d.name} to process {total} records", interval=0.05)
    t_last = time.monotonic()
    wait_until(lambda: d.metric("greenlight_uncommitted_records") == 0, 120,
               f"{d.name} to commit {total} records", interval=0.02)
    t_commit = time.monotonic()
    out = dict(events=int(d.metric("greenlight_records_processed_total")), seconds=t_commit - t_first,
               seconds_to_last_record=t_last - t_first,
               commits=int(d.metric("greenlight_commits_total")),
               aborts=int(d.metric("greenlight_aborts_total")),
               commit_ms_mean=d.metric("greenlight_commit_latency_seconds_sum") * 1000 /
               max(d.metric("greenlight_commit_latency_seconds_count"), 1),
               dlq=int(d.metric("greenlight_dlq_records_total")),
               merge_idle_expired=int(d.metric("greenlight_merge_idle_expired_total")),
               during_commit=int(d.metric("greenlight_records_processed_during_commit_total")),
               cpu_seconds=proc_cpu(d.proc.pid))
    out["rss"], out["rss_peak"] = proc_rss(d.proc.pid)
    out["profile"] = perf_stop(rec)
    if out["profile"]:
        print(f"  {d.name} top 10 (self %, symbol, object):", flush=True)
        for pct, sym, obj in out["profile"]["top"]:
            print(f"    {pct:5.2f}  {sym}  {obj}", flush=True)
        print("  by object: " + ", ".join(f"{obj} {pct}%" for pct, obj in out["profile"]["by_object"]),
              flush=True)
    check(d.stop() == 0, f"{d.name} did not exit 0 after SIGTERM")
    return out


def orderd_args(prefix, app, guarantee="exactly_once"):
    """orderd under its own app id and output topics, so that several
    variants read the same input."""
    return ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0", "--policy.file", POLICY,
            "--app.id", f"bench-{app}", "--output.topics", f"bench-{app}.order-status,bench-{app}.repartition",
            "--dlq.topic", f"bench-{app}.dlq", "--processing.guarantee", guarantee, *DAEMON_ARGS]


def orderd_topics(app):
    return [f"bench-{app}.order-status", f"bench-{app}.repartition", f"bench-{app}.dlq",
            f"bench-{app}.orders.changelog:compact", f"bench-{app}.owners:compact:1"]


def throughput(a, results):
    prefix, tag, total = bench_prefix("bench"), "T", a.orders * 4
    make_topics(prefix, extra=["bench-bare.out", "bench-bare-time.out", "bench.pipe-out", "bench-pipe.owners:compact:1",
                               "bench.pipe-out2", "bench-pipe2.owners:compact:1",
                               *orderd_topics("eos"), *orderd_topics("eos2"), *orderd_topics("alo")])
    secs = produce_stream(prefix, workload(tag, a.orders))
    print(f"produced {total} events ({a.orders} orders) in {secs:.1f} s under {prefix}", flush=True)
    timeout = max(600, total / 500)
    pipe = Daemon(PIPE, "bench-pipe", [
        "-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0", "--app.id", "bench-pipe",
        "--input.topics", ",".join(INPUT_TOPICS), "--output.topics", "bench.pipe-out", *DAEMON_ARGS])
    pipe_no_overlap = Daemon(PIPE, "bench-pipe2", [
        "-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0", "--app.id", "bench-pipe2",
        "--input.topics", ",".join(INPUT_TOPICS), "--output.topics", "bench.pipe-out2", *DAEMON_ARGS,
        "--commit.overlap.max.records", "0"])
    interval, cap = engine_commit_policy()
    cap = cap if int(cap) > 0 else "100000000"
    variants = [
        ("bare", lambda: run_bare(prefix, total, "bench-bare",
                                  ["--interval-ms", interval, "--max-records", cap]),
         lambda: check_passthrough(prefix, "bench-bare.out", total)),
        # The limit: the bare cycle committing on time only (no record cap),
        # the pass-through issue 8 measured at 128k-182k events/s.
        ("bare, no record cap", lambda: run_bare(prefix, total, "bench-bare-time",
                                                 ["--interval-ms", interval,
                                                  "--max-records", "100000000"]),
         lambda: check_passthrough(prefix, "bench-bare-time.out", total)),
        ("greenlight-pipe", lambda: run_daemon(pipe, total, timeout),
         lambda: check_passthrough(prefix, "bench.pipe-out", total)),
        ("orderd exactly_once", lambda: run_daemon(
            Daemon(ORDERD, "bench-orderd-eos", orderd_args(prefix, "eos")), total, timeout),
         lambda: check_orders(prefix, "bench-eos.order-status", tag, a.orders)),
        # The same two with processing waiting for every commit, as before
        # commit.overlap.max.records: what the overlap is worth here.
        ("pipe, no overlap", lambda: run_daemon(pipe_no_overlap, total, timeout),
         lambda: check_passthrough(prefix, "bench.pipe-out2", total)),
        ("orderd eos, no overlap", lambda: run_daemon(
            Daemon(ORDERD, "bench-orderd-eos2", orderd_args(prefix, "eos2") +
                   ["--commit.overlap.max.records", "0"]), total, timeout),
         lambda: check_orders(prefix, "bench-eos2.order-status", tag, a.orders)),
        ("orderd at_least_once", lambda: run_daemon(
            Daemon(ORDERD, "bench-orderd-alo", orderd_args(prefix, "alo", "at_least_once")), total,
            timeout),
         lambda: check_orders(prefix, "bench-alo.order-status", tag, a.orders)),
    ]
    for name, run_it, check_it in variants:
        calm = wait_broker_calm()
        b0 = broker_cpu()
        r = run_it()
        b1 = broker_cpu()
        r["broker_cpu_before"] = calm
        r["broker_cpu_seconds"] = b1 - b0 if b0 is not None and b1 is not None else None
        r["check"] = check_it()
        r["events_per_s"] = r["events"] / r["seconds"] if r["seconds"] > 0 else 0
        r["cpu_us_per_event"] = r["cpu_seconds"] / max(r["events"], 1) * 1e6
        r["broker_us_per_event"] = (r["broker_cpu_seconds"] / max(r["events"], 1) * 1e6
                                    if r["broker_cpu_seconds"] is not None else None)
        results["throughput"][name] = r
        print(f"  {name}: {r['events']} events in {r['seconds']:.2f} s = {r['events_per_s']:.0f}/s, "
              f"{r['cpu_us_per_event']:.1f} us CPU/event (broker {r['broker_us_per_event'] or 0:.1f}), "
              f"{r['commits']} commits "
              f"({r['commit_ms_mean']:.1f} ms mean), "
              + (f"{r['during_commit']} processed during commits, " if "during_commit" in r else "") +
              f"check {r['check']}", flush=True)


# ---- Latency at a fixed offered rate --------------------------------------

def latency(a, results, events_file):
    for guarantee in ("exactly_once", "at_least_once"):
        prefix = bench_prefix("benchlat")
        make_topics(prefix)
        d = Daemon(ORDERD, f"bench-latency-{guarantee}", [
            "-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0", "--policy.file", POLICY,
            "--processing.guarantee", guarantee, *DAEMON_ARGS]).start()
        d.wait_ready()
        with open(os.path.join(LOGDIR, "bench-rate-latency.log"), "a") as lf:
            p = register_process(subprocess.Popen(
                [RATE, "-b", BOOTSTRAP, "--prefix", prefix, "--events", events_file, "--rate",
                 str(a.rate), "--status", "greenlight.order-status", "--timeout-s", "120",
                 "--warmup-s", str(a.warmup_seconds)],
                stdout=subprocess.PIPE, stderr=lf))
            out, _ = p.communicate(timeout=a.latency_seconds + 300)
        r = json.loads(out) if out.strip() else {}
        r["exit"] = p.returncode
        r["commits"] = int(d.metric("greenlight_commits_total"))
        r["merge_idle_expired"] = int(d.metric("greenlight_merge_idle_expired_total"))
        r["cpu_seconds"] = proc_cpu(d.proc.pid)
        check(d.stop() == 0, f"{d.name} did not exit 0 after SIGTERM")
        results["latency"][guarantee] = r
        print(f"  latency {guarantee}: {r.get('seen')}/{r.get('events')} statuses seen, sent at "
              f"{r.get('sent_rate')}/s; after {a.warmup_seconds:g} s warm-up p50 {r.get('p50_ms')} "
              f"p99 {r.get('p99_ms')} max {r.get('max_ms')} ms (all: p99 {r.get('p99_all_ms')}); "
              f"per second [events, p50, p99, max]: {r.get('per_second')}", flush=True)
        check(p.returncode == 0, f"bench_rate_latency exited {p.returncode} for {guarantee}")


# ---- Memory and restore ---------------------------------------------------

def restore_figures(d):
    """From the latest start's restore_start/restore_done log lines:
    records, keys and seconds from the first start to the last done."""
    text = d.log_text().split(f"--- start {d.starts} ---")[-1]
    starts, dones, records, keys = [], [], 0, 0
    for line in text.splitlines():
        if '"restore_' not in line:
            continue
        j = json.loads(line)
        ts = datetime.strptime(j["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        if j["event"] == "restore_start":
            starts.append(ts)
        elif j["event"] == "restore_done":
            dones.append(ts)
            m = re.search(r"restored: (\d+) changelog records, (\d+) keys", j["msg"])
            records, keys = records + int(m.group(1)), keys + int(m.group(2))
    check(starts and len(dones) == len(starts), f"{d.name}: restore log lines missing or unfinished")
    return records, keys, max(dones) - min(starts)


def memory_and_restore(a, results):
    prefix, tag, total = bench_prefix("benchmem"), "M", a.memory_orders * 4
    make_topics(prefix)
    d = Daemon(ORDERD, "bench-memory", ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0",
                                        "--policy.file", POLICY, *DAEMON_ARGS]).start()
    d.wait_ready()
    rss0, _ = proc_rss(d.proc.pid)
    t = time.monotonic()
    produce_secs = produce_stream(prefix, workload(tag, a.memory_orders))
    d.wait_committed(total, timeout=max(900, total / 1000))
    secs = time.monotonic() - t
    rss, peak = proc_rss(d.proc.pid)
    m = dict(orders=a.memory_orders, events=total, rss_idle=rss0, rss=rss, rss_peak=peak,
             bytes_per_order=(rss - rss0) / a.memory_orders, produce_seconds=produce_secs,
             seconds=secs, commits=int(d.metric("greenlight_commits_total")),
             cpu_seconds=proc_cpu(d.proc.pid), dlq=int(d.metric("greenlight_dlq_records_total")))
    check(d.stop() == 0, f"{d.name} did not exit 0 after SIGTERM")
    results["memory"] = m
    print(f"  memory: {m}", flush=True)
    d.start()
    t = time.monotonic()
    d.wait_ready(timeout=max(300, total / 5000))
    ready = time.monotonic() - t
    records, keys, rsecs = restore_figures(d)
    rss_r, _ = proc_rss(d.proc.pid)
    r = dict(records=records, metric_records=int(d.metric("greenlight_restore_records_total")),
             keys=keys, seconds=rsecs, records_per_s=records / rsecs if rsecs > 0 else 0,
             start_to_ready_seconds=ready, rss=rss_r, bytes_per_order=(rss_r - rss0) / a.memory_orders)
    check(d.stop() == 0, f"{d.name} did not exit 0 after SIGTERM")
    results["restore"] = r
    print(f"  restore: {r}", flush=True)


# ---- The table ------------------------------------------------------------

def table(results):
    """One row per variant, then the memory and restore row: the columns
    of issue 8."""
    tp, lat = results["throughput"], results["latency"]
    bare = tp.get("bare", {}).get("events_per_s") or 0
    limit = tp.get("bare, no record cap", {}).get("events_per_s") or 0
    rows = []
    for name, r in tp.items():
        g = {"orderd exactly_once": "exactly_once", "orderd at_least_once": "at_least_once"}.get(name)
        l = lat.get(g, {}) if g else {}
        rows.append(dict(variant=name, events_per_s=round(r["events_per_s"]),
                         x_bare=round(r["events_per_s"] / bare, 2) if bare else None,
                         x_limit=round(r["events_per_s"] / limit, 2) if limit else None,
                         cpu_us_per_event=round(r["cpu_us_per_event"], 1),
                         broker_us_per_event=round(r["broker_us_per_event"], 1)
                         if r.get("broker_us_per_event") is not None else None,
                         commits=r["commits"],
                         p50_ms=l.get("p50_ms"), p99_ms=l.get("p99_ms"),
                         p99_all_ms=l.get("p99_all_ms"), rss_mb=round(r["rss"] / 2**20, 1),
                         restore_per_s=None, check=r["check"]))
    m, rs = results.get("memory"), results.get("restore")
    if m:
        rows.append(dict(variant=f"orderd {m['orders']} orders", events_per_s=None, x_bare=None,
                         cpu_us_per_event=round(m["cpu_seconds"] / m["events"] * 1e6, 1),
                         commits=m["commits"], p50_ms=None, p99_ms=None, p99_all_ms=None,
                         rss_mb=round(m["rss"] / 2**20, 1),
                         bytes_per_order=round(m["bytes_per_order"]),
                         restore_per_s=round(rs["records_per_s"]) if rs else None,
                         check=f"dlq {m['dlq']}"))
    cols = [("variant", 24), ("events/s", 8), ("x bare", 6), ("x limit", 7), ("CPU us/ev", 9),
            ("broker us/ev", 12), ("commits", 7),
            ("p50 ms", 7), ("p99 ms", 7), ("p99 all", 7), ("RSS MB", 7), ("B/order", 7), ("restore/s", 9),
            ("check", 5)]
    keys = ["variant", "events_per_s", "x_bare", "x_limit", "cpu_us_per_event", "broker_us_per_event",
            "commits", "p50_ms", "p99_ms",
            "p99_all_ms", "rss_mb", "bytes_per_order", "restore_per_s", "check"]
    lines = ["  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(cols))]
    for row in rows:
        cells = []
        for i, (k, (_, w)) in enumerate(zip(keys, cols)):
            v = row.get(k)
            v = "-" if v is None else str(v)
            cells.append(f"{v:<{w}}" if i == 0 or k == "check" else f"{v:>{w}}")
        lines.append("  ".join(cells))
    return rows, "\n".join(lines)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=100000, help="orders (x 4 events) of the throughput run")
    p.add_argument("--rate", type=int, default=10000, help="offered events/s of the latency run")
    p.add_argument("--latency-seconds", type=float, default=20, help="length of the latency run")
    p.add_argument("--warmup-seconds", type=float, default=5,
                   help="first seconds of the latency run left out of its percentiles")
    p.add_argument("--memory-orders", type=int, default=1000000, help="orders of the memory run")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test: 10k orders, 5 s latency run, 100k memory orders")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: "
                                              "throughput, latency, memory")
    p.add_argument("--daemon-args", default=os.environ.get("GL_BENCH_ARGS", ""),
                   help="extra flags for every greenlight daemon started, e.g. "
                        "'--commit.max.records 10000' (default: $GL_BENCH_ARGS)")
    p.add_argument("--perf", metavar="DIR", default=None,
                   help="record each daemon variant of the throughput run with perf record -g "
                        "into DIR and print its top 10 symbols")
    p.add_argument("--keep-topics", action="store_true",
                   help="leave the run's topics on the broker (they are deleted at the end)")
    p.add_argument("--json", default=os.path.join(SRC_DIR, "build", "bench.json"))
    a = p.parse_args()
    if a.quick:
        a.orders, a.latency_seconds, a.memory_orders, a.warmup_seconds = 10000, 5, 100000, 1
    a.skip = set(filter(None, a.skip.split(",")))
    DAEMON_ARGS.extend(a.daemon_args.split())
    return a


def main():
    global PERF_DIR
    a = parse_args()
    PERF_DIR = a.perf
    for exe in (BARE, RATE, DELETE, ORDERD, PIPE, CLI):
        check(os.access(exe, os.X_OK), f"{exe} is missing: build {BUILD} first")
    results = dict(when=datetime.now().isoformat(timespec="seconds"), build=BUILD,
                   bootstrap=BOOTSTRAP, orders=a.orders, rate=a.rate,
                   latency_seconds=a.latency_seconds, warmup_seconds=a.warmup_seconds,
                   memory_orders=a.memory_orders,
                   daemon_args=DAEMON_ARGS, cores=os.cpu_count(), loadavg_start=os.getloadavg(),
                   throughput={}, latency={}, memory=None, restore=None)
    try:
        if "throughput" not in a.skip:
            throughput(a, results)
        if "latency" not in a.skip:
            n = int(a.rate * a.latency_seconds) // 4
            with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
                for e in workload("L", n):
                    key = next(k for k in TOPIC_OF if k in e)
                    f.write(json.dumps({"topic": TOPIC_OF[key], **e}) + "\n")
                f.flush()
                latency(a, results, f.name)
        if "memory" not in a.skip:
            memory_and_restore(a, results)
    finally:
        _kill_all()  # Nothing may still use the topics when they go.
        if not a.keep_topics:
            delete_topics()
        results["loadavg_end"] = os.getloadavg()
        rows, text = table(results)
        results["table"] = rows
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
        print(text, flush=True)
        print(f"written to {a.json}", flush=True)
    bad = [n for n, r in results["throughput"].items() if r["check"] != "ok"]
    check(not bad, f"output check failed for {', '.join(bad)}")


if __name__ == "__main__":  # profile_orderd.py imports the helpers.
    run(main)
