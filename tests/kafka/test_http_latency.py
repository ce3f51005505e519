"""The admin port answers within 100 ms at any time (issue 11, point 6):
during the start (connect, topic checks, restore) and while the daemon
processes a backlog and commits.

A poller process asks /healthz (and every tenth time /metrics) over a new
connection, one request after another, from the daemon's first moment, and
times each answer. What is judged is that time less the time the daemon's
loop thread and the poller waited on a run queue during it (ready to run,
given no CPU: /proc/<pid>/task/<tid>/schedstat): on a machine whose two
cores serve a broker, the daemon, the poller and other work, the kernel
alone can delay an answer by 100 ms, which no code of the daemon can mend;
a loop thread that blocks (a wait, or a long run of work) is still counted
in full. GL_HTTP_LATENCY_STRICT=1 judges the time as measured, for a
machine with cores to spare; both are printed, by phase: /healthz says what
the daemon was doing when it answered (state, committing).

Two runs of orderd: the first starts before its topics exist (it waits for
them on the thread pool), then processes 40,000 events as they are
produced, with commits every 50 ms (answers during commits must be seen);
the second restores the state the first wrote (10,000 orders; its first
answer must come before it is ready, so the polling covered the restore)
and processes the events produced meanwhile."""
import threading

from harness import *

LIMIT_MS = float(os.environ.get("GL_HTTP_LATENCY_LIMIT_MS", "100"))
# Strict: the limit holds for the time as measured, run-queue waits included
# (on a machine with cores to spare).
STRICT = os.environ.get("GL_HTTP_LATENCY_STRICT") == "1"
ORDERS = 10000
T0 = 1767571200000


def events(tag, n):
    out = []
    for i in range(n):
        out += lifecycle_events(tag, i, f"O-{tag}-{i}", 1000 + i, T0 + i * 10, "erp.test",
                                shipments=False)
    return out


def runqueue_ms(pid=None):
    """Milliseconds the thread (the daemon's loop: its main thread; or this
    one) has waited on a run queue, ready to run but given no CPU
    (/proc/.../schedstat, field 2)."""
    path = f"/proc/{pid}/task/{pid}/schedstat" if pid else "/proc/thread-self/schedstat"
    try:
        with open(path) as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def ask(port, pid, path):
    """GET path: (ms, the run-queue waits of the daemon's loop thread and of
    this one meanwhile, status, body). The two mostly come one after the
    other: the poller sleeps in recv() while the daemon works."""
    q0 = runqueue_ms(pid), runqueue_ms()
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    ms = (time.monotonic() - t0) * 1000
    q1 = runqueue_ms(pid), runqueue_ms()
    head, _, body = data.partition(b"\r\n\r\n")
    return ms, (q1[0] - q0[0]) + (q1[1] - q0[1]), int(head.split(b" ")[1]), body


def poll_main(port):
    """The poller process (its own interpreter, so no lock of the test's
    own threads delays it): reads the daemon's pid on stdin, then asks one
    request after another from the daemon's first moment, one JSON line
    per answer, until the daemon exits or a signal ends it."""
    print(json.dumps({"ready": True}), flush=True)
    pid = int(sys.stdin.readline())
    n = 0
    while os.path.exists(f"/proc/{pid}"):
        path = "/metrics" if n % 10 == 9 else "/healthz"
        try:
            ms, queued, status, body = ask(port, pid, path)
        except ConnectionRefusedError:
            if n == 0:
                continue  # Not listening yet.
            print(json.dumps({"error": f"{path}: connection refused"}), flush=True)
            continue
        except OSError as e:
            print(json.dumps({"error": f"{path}: {e}"}), flush=True)
            continue
        n += 1
        h = json.loads(body) if path == "/healthz" else None
        print(json.dumps({"ms": ms, "queued": queued, "path": path, "status": status, "h": h}),
              flush=True)
        time.sleep(0.005)  # pacing: leave the two cores to the daemon and the broker


class Poller:
    """Times GET /healthz (and /metrics) answers of a daemon, one after
    another, in a process of its own (poll_main)."""

    def __init__(self, daemon, port):
        self.d, self.port = daemon, port
        # (ms less run-queue wait, path, status, healthz JSON or None, ms as measured)
        self.samples = []
        self.errors = []
        self.thread = threading.Thread(target=self.read, daemon=True)

    def read(self):
        for line in self.proc.stdout:
            x = json.loads(line)
            if "error" in x:
                if self.d.proc.poll() is None:
                    self.errors.append(x["error"])
                continue
            self.samples.append((max(x["ms"] - x["queued"], 0), x["path"], x["status"], x["h"],
                                 x["ms"]))

    def start(self):
        """Starts the poller and then the daemon, whose pid it waits for."""
        self.proc = register_process(subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--poll", str(self.port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        check(json.loads(self.proc.stdout.readline()).get("ready"), "the poller did not start")
        self.d.start()
        self.proc.stdin.write(f"{self.d.proc.pid}\n")
        self.proc.stdin.close()
        self.thread.start()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.thread.join(timeout=30)


def phase(samples, pred):
    return [s[0] for s in samples if s[3] is not None and pred(s[3])]


def report(name, samples):
    """Prints the maxima by phase and returns the phases' answer times; fails
    if any answer was late."""
    starting = phase(samples, lambda h: h["state"] == "starting")
    restoring = phase(samples, lambda h: h["state"] == "restoring" or h.get("restoring", 0) > 0)
    committing = phase(samples, lambda h: h["committing"])
    running = phase(samples, lambda h: h["state"] == "running")
    allms = [s[0] for s in samples]
    raw = max(s[4] for s in samples)
    top = sorted(samples, key=lambda s: -s[0])[:5]
    print(f"{name}: {len(allms)} answers, max {max(allms):.1f} ms less run-queue waits "
          f"({raw:.1f} ms as measured); starting {len(starting)} "
          f"(max {max(starting, default=0):.1f}), restoring {len(restoring)} "
          f"(max {max(restoring, default=0):.1f}), committing {len(committing)} "
          f"(max {max(committing, default=0):.1f}), running {len(running)} "
          f"(max {max(running, default=0):.1f}); slowest: "
          + ", ".join(f"{s[0]:.1f} ({s[4]:.1f}) ms {s[1]} "
                      f"{s[3] and (s[3]['state'], s[3]['committing'])}" for s in top), flush=True)
    late = [s for s in samples if (s[4] if STRICT else s[0]) > LIMIT_MS]
    check(not late, f"{name}: {len(late)} of {len(samples)} answers took over {LIMIT_MS} ms: "
                    f"{[(round(s[0], 1), round(s[4], 1), s[1], s[3] and s[3]['state']) for s in late[:10]]}")
    return starting, restoring, committing


def main():
    prefix = new_prefix("latency")
    port = free_ports(1)[0]
    d = orderd(prefix, name="orderd-latency", extra=["--http.port", str(port)])
    with Poller(d, port) as p:  # Starts d.
        # It starts before its topics exist: it waits for them on the thread pool.
        wait_until(lambda: len(phase(p.samples, lambda h: h["state"] == "starting")) >= 20, 60,
                   "20 answers while starting")
        make_topics(prefix)
        produce(prefix, events("A", ORDERS))
        d.wait_committed(4 * ORDERS, timeout=300)
    check(not p.errors, f"requests failed: {p.errors[:5]}")
    starting, _, committing = report("first run", p.samples)
    check(len(committing) >= 5, f"only {len(committing)} answers were seen during a commit")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")

    # The second start restores the 10,000 orders the first one wrote. The
    # restore may be over between two answers; what matters is that the
    # polling covered it: its first answer came before the daemon was
    # ready (it is ready once every partition is restored).
    produce(prefix, events("B", ORDERS // 10))
    with Poller(d, port) as p:  # Starts d.
        d.wait_committed(4 * (ORDERS // 10), timeout=300)
    check(not p.errors, f"requests failed: {p.errors[:5]}")
    report("second run (restore)", p.samples)
    first = next(s[3] for s in p.samples if s[3] is not None)
    check(first["why"], f"the first answer came once the daemon was ready already: {first}")
    check(d.metric("greenlight_restore_records_total") >= ORDERS,
          f"the restore read {d.metric('greenlight_restore_records_total')} changelog records")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")


if len(sys.argv) == 3 and sys.argv[1] == "--poll":
    poll_main(int(sys.argv[2]))
else:
    run(main)
