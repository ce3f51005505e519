"""systemd's notify protocol (issue 11, point 7): a daemon started with
NOTIFY_SOCKET (as a Type=notify unit starts it) tells the socket

- STATUS= lines that follow /readyz: "starting: ..." while it waits for its
  topics, then "ready";
- READY=1 exactly once, and only when its start is over: never while it
  waits for its topics (not even after several watchdog pings), and when it
  comes /readyz no longer says "starting";
- WATCHDOG=1 at half of WATCHDOG_USEC, from the start on;
- STOPPING=1 when SIGTERM stops it, which still exits 0.
Every line of its log is JSON (harness.run checks every daemon's log)."""
import tempfile

from harness import *


class NotifySocket:
    """The socket systemd would listen on: a unix datagram socket whose
    datagrams are kept with the time they were read, in order."""

    def __init__(self, d):
        self.path = os.path.join(d, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.got = []  # (monotonic time, [lines]) per datagram.

    def read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.got
            self.got.append((time.monotonic(), data.decode().splitlines()))

    def lines(self, prefix):
        return [l for _, ls in self.read() for l in ls if l.startswith(prefix)]

    def close(self):
        self.sock.close()


def main():
    prefix = new_prefix("notify")
    with tempfile.TemporaryDirectory() as tmp:
        ns = NotifySocket(tmp)
        try:
            run_daemon(prefix, ns)
        finally:
            ns.close()


def run_daemon(prefix, ns):
    # The topics do not exist yet: the daemon waits for them, not started.
    d = orderd(prefix, "orderd-notify",
               env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "400000"}).start()
    wait_until(lambda: any("topics missing" in s for s in ns.lines("STATUS=")), 60,
               "STATUS= saying the topics are missing")
    pings = len(ns.lines("WATCHDOG=1"))
    wait_until(lambda: len(ns.lines("WATCHDOG=1")) >= pings + 3, 30, "3 watchdog pings while waiting")
    check(not ns.lines("READY=1"), f"READY=1 while the topics are missing: {ns.read()}")
    code, r = d.get_json("/readyz")
    check(code == 503 and r["why"].startswith("starting"), f"/readyz while waiting: {code} {r}")

    make_topics(prefix)
    wait_until(lambda: ns.lines("READY=1"), 90, "READY=1 once the topics exist")
    code, r = d.get_json("/readyz")
    check(code == 200 or not r["why"].startswith("starting"),
          f"READY=1 came while /readyz still says starting: {code} {r}")
    wait_until(lambda: "STATUS=ready" in ns.lines("STATUS="), 90, "STATUS=ready")
    check(d.get("/readyz")[0] == 200, "STATUS=ready but /readyz is not 200")

    # READY=1 once, after every "starting" status and before "ready".
    flat = [l for _, ls in ns.got for l in ls if l.startswith(("STATUS=", "READY="))]
    ready_at = flat.index("READY=1")
    check(flat.count("READY=1") == 1, f"READY=1 sent {flat.count('READY=1')} times: {flat}")
    check(all(s.startswith("STATUS=starting") for s in flat[:ready_at]),
          f"a status other than starting before READY=1: {flat}")
    check(all(not s.startswith("STATUS=starting") for s in flat[ready_at + 1:]),
          f"starting again after READY=1: {flat}")
    print("notify: " + ", ".join(flat))
    # Watchdog pings every 200 ms (half of WATCHDOG_USEC), never 400 ms apart.
    times = [t for t, ls in ns.got if "WATCHDOG=1" in ls]
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(len(times) >= 5, f"only {len(times)} watchdog pings")
    # The loop is busy at times (ASan, a loaded machine): judge the median, not the worst.
    median = sorted(gaps)[len(gaps) // 2]
    check(0.1 <= median <= 0.35, f"watchdog pings every {median:.3f} s (median), expected 0.2 s")

    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")
    check("STOPPING=1" in ns.lines("STOPPING="), f"no STOPPING=1 on SIGTERM: {ns.got[-5:]}")


run(main)
