"""A three-broker cluster (issue 10, point 3): deploy/local/kafka.sh starts
three KRaft nodes of the test's own (GREENLIGHT_BROKERS=3, on free ports:
the shared test broker is never touched), every topic at replication 3 and
min.insync.replicas 2. orderd and batchd run on it while a producer keeps
sending orders in small upstream transactions; the test kills with kill -9
the broker that leads partitions of both the input (greenlight.orders) and
the status topic (the group coordinator of orderd when it is such a
leader), keeps producing, then starts the killed broker again. The daemons
must ride through without a restart (same processes, never exited) and the
status topic must be exactly once (no transition lost or duplicated,
versions gapless, every order CLEARED in full); batchd's versions gapless.

Printed, not asserted (figures, not a timed test): how long each status
partition paused around the kill as a follower (`greenlight tail`,
read_committed) saw it, the longest upstream transaction then, when the
dead broker's partitions had new leaders, and what the daemons logged after
the kill. GL_CLUSTER_ORDERS changes the number of orders."""
import socket
import struct
import sys

sys.dont_write_bytecode = True  # No __pycache__ in the source tree for the modules imported here.
from harness import *  # noqa: E402
from test_scale import Follower, Producer, audit, pauses  # noqa: E402

ORDERS = int(os.environ.get("GL_CLUSTER_ORDERS", "160"))
NODES = 3
INPUT, STATUS = "greenlight.orders", "greenlight.order-status"


class Cluster(PrivateBroker):
    """Three nodes run by kafka.sh with GREENLIGHT_BROKERS=3: node k listens
    on port + 3(k-1) (controller and SASL the next two) and keeps its data
    in data_dir/node<k>. close() stops all three, whatever state they are in."""

    def __init__(self, data_dir, port):
        super().__init__(data_dir, port, port + 1, port + 2, heap="-Xms128m -Xmx384m",
                         start_timeout=180, version=os.environ.get("GREENLIGHT_BROKER_VERSION"))
        check(not set(range(port, port + 3 * NODES)) & set(SHARED_BROKER_PORTS),
              f"the cluster's ports {port}..{port + 3 * NODES - 1} include a shared broker's")
        self.ports = {k: port + 3 * (k - 1) for k in range(1, NODES + 1)}
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports.values())

    def env(self, **extra):
        return super().env(GREENLIGHT_BROKERS=str(NODES), **extra)

    def node_pid(self, k):
        """Node k's broker pid if it runs, else None."""
        return broker_pid(os.path.join(self.data_dir, f"node{k}"))

    def kill9(self, k):
        pid = self.node_pid(k)
        check(pid is not None, f"node {k} is not running")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: self.node_pid(k) is None, 30, f"node {k} (pid {pid}) to die")

    def close(self, clean=True):
        super().close(clean)
        for k in self.ports:
            pid = self.node_pid(k)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)

    def request(self, api_key, version, body, nodes=None):
        """One request to the first node of `nodes` (default: all) that
        answers: the response body after the correlation id."""
        for k in nodes or self.ports:
            try:
                return kafka_request(self.ports[k], api_key, version, body)
            except OSError:
                continue
        fail(f"no node of {self.bootstrap} answers")

    def metadata(self, topics, nodes=None):
        """{topic: {partition: (error, leader, replicas, isr)}} (Metadata v4,
        which every 3.x and 4.x broker answers)."""
        r = Reader(self.request(3, 4, array([kstring(t) for t in topics]) + b"\0", nodes))
        r.take(">i")  # throttle_time_ms
        r.array(lambda: (r.take(">i"), r.string(), r.take(">i"), r.string()))  # brokers
        r.string()  # cluster id
        r.take(">i")  # controller id

        def partition():
            err, index, leader = r.take(">h"), r.take(">i"), r.take(">i")
            return index, (err, leader, r.array(lambda: r.take(">i")), r.array(lambda: r.take(">i")))
        out = {}
        for _ in range(r.take(">i")):
            err, name, _internal = r.take(">h"), r.string(), r.take(">?")
            parts = dict(r.array(partition))  # Read even with an error: the next topic follows.
            out[name] = parts if err == 0 else {}
        return out

    def coordinator(self, key, key_type):
        """The node id of the coordinator of a group (key_type 0) or of a
        transactional id (1), by FindCoordinator v1; None if not known."""
        r = Reader(self.request(10, 1, kstring(key) + struct.pack(">b", key_type)))
        r.take(">i")  # throttle_time_ms
        err, _msg, node = r.take(">h"), r.string(), r.take(">i")
        return node if err == 0 else None


def kstring(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def array(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def kafka_request(port, api_key, version, body, timeout=10):
    """Sends one request (header v1) to 127.0.0.1:port; returns the response
    after its correlation id. Raises OSError if the node does not answer."""
    req = struct.pack(">hhi", api_key, version, 1) + kstring("greenlight-test-cluster") + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack_from(">i", buf)[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError(f"127.0.0.1:{port} closed the connection")
            buf += chunk
    return buf[8:]


class Reader:
    """Reads big-endian fields of a Kafka response in order."""

    def __init__(self, data):
        self.d, self.i = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.i)[0]
        self.i += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take(">h")
        s = self.d[self.i:self.i + max(n, 0)].decode()
        self.i += max(n, 0)
        return None if n < 0 else s

    def array(self, item):
        return [item() for _ in range(self.take(">i"))]


def free_run(n):
    """A base port b with b..b+n-1 all free on 127.0.0.1 (below the ephemeral
    range, never a shared broker's), as harness.free_ports picks single ones."""
    rnd = random.Random()
    for _ in range(500):
        base = rnd.randrange(20000, 32000 - n)
        if set(range(base, base + n)) & set(SHARED_BROKER_PORTS):
            continue
        try:
            for p in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return base
    fail(f"no run of {n} free ports in 20000..32000")


def leaders(md, topic):
    return {p: v[1] for p, v in md.get(topic, {}).items()}


def replication_problems(cluster, topics):
    """What keeps a partition of topics from three replicas all in sync, if anything."""
    md = cluster.metadata(topics)
    out = [f"{t}: no metadata" for t in topics if not md.get(t)]
    for t in topics:
        out += [f"{t}[{p}]: replicas {replicas}, ISR {isr}"
                for p, (_, _, replicas, isr) in md.get(t, {}).items()
                if len(replicas) != NODES or len(isr) != NODES]
    return out


def check_replication(cluster, topics):
    problems = replication_problems(cluster, topics)
    check(not problems, f"expected {NODES} replicas, all in sync: {problems}")


def pick_victim(cluster, prefix):
    """The node to kill: one that leads a partition of INPUT and one of STATUS
    (with three nodes and four partitions each node leads some of every
    topic), preferring the transaction coordinator of orderd, then its group
    coordinator. Returns (node, its partitions of INPUT and of STATUS, the
    roles it has for orderd)."""
    md = cluster.metadata([prefix + INPUT, prefix + STATUS])
    led = {k: ([p for p, l in leaders(md, prefix + INPUT).items() if l == k],
               [p for p, l in leaders(md, prefix + STATUS).items() if l == k]) for k in cluster.ports}
    both = [k for k, (a, b) in led.items() if a and b]
    check(both, f"no node leads partitions of both {INPUT} and {STATUS}: {led}")
    roles = {"transaction coordinator": cluster.coordinator(prefix + "greenlight-orderd-0", 1),
             "group coordinator": cluster.coordinator(prefix + "greenlight-orderd", 0)}
    node = next((k for k in roles.values() if k in both), both[0])
    return node, led[node], [r for r, k in roles.items() if k == node]


def logged_since(d, offset, n=10):
    """What the daemon logged after byte `offset` of its log: the count of
    each event, and its last n lines but librdkafka's (connection errors,
    which the counts show) and the periodic progress."""
    with open(d.log_path) as f:
        f.seek(offset)
        lines = [l.rstrip() for l in f if l.startswith("{")]
    counts = {}
    for l in lines:
        event = json.loads(l).get("event", "?")
        counts[event] = counts.get(event, 0) + 1
    noise = ('"event":"progress"', '"event":"librdkafka"', '"event":"kafka_error"')
    return counts, [l for l in lines if not any(x in l for x in noise)][-n:]


def check_batches(cluster, prefix):
    """batchd's output: versions 1..n per batch, no duplicate or gap, and the
    batch every order went to counts them all CLEARED."""
    recs = tail_at(cluster.bootstrap, prefix, "greenlight.batch-status")
    batches = by_order(recs)
    check_versions(batches)
    last = batches.get("CN-B1", [{}])[-1]
    want = dict(orders_cleared=ORDERS, units_cleared=sum(1000 + i for i in range(ORDERS)))
    got = {k: int(last.get(k, 0)) for k in want}
    check(got == want, f"batch CN-B1 ends with {got}, expected {want}")
    return len(recs)


def run_cluster(cluster):
    prefix = new_prefix("cluster")
    t0 = time.monotonic()
    cluster.start()
    t_up = time.monotonic()
    cluster.make_topics(prefix)
    # Just created: their leaders may not be known yet (LEADER_NOT_AVAILABLE).
    wait_until(lambda: not replication_problems(cluster, [prefix + INPUT, prefix + STATUS]), 60,
               "the topics to have three replicas, all in sync")
    # The daemons' own session timeout (45 s), not the harness's 6 s (for tests that kill a
    # daemon): a member must outlive the move of its group coordinator. Their own transaction
    # timeout too (10 s, below the failover): when the killed node held a daemon's transaction,
    # the new coordinator aborts it and fences the producer, and the daemon replaces its
    # producer (README, "A three-broker cluster").
    b = ["-b", cluster.bootstrap, "--kafka.session.timeout.ms", "45000"]
    od = orderd(prefix, name="cluster-orderd", extra=b).start()
    bd = batchd(prefix, name="cluster-batchd", extra=b).start()
    od.wait_ready(120)
    bd.wait_ready(120)
    pids = (od.proc.pid, bd.proc.pid)
    follower = Follower(prefix, cluster.bootstrap)
    # 60 s per upstream transaction (the CLI's transaction.timeout.ms): the producer rides through the kill too.
    producer = Producer(prefix, cluster.bootstrap, ORDERS, timeout_ms=60000)
    wait_until(lambda: producer.sent >= ORDERS // 4 or producer.error, 180, f"{ORDERS // 4} orders sent")
    check(not producer.error, producer.error)
    # The internal topics exist by now (a group and transactions ran): three replicas, all in sync.
    check_replication(cluster, ["__consumer_offsets", "__transaction_state"])

    node, (in_parts, st_parts), roles = pick_victim(cluster, prefix)
    marks = {d.name: os.path.getsize(d.log_path) for d in (od, bd)}
    seen_before = follower.count()
    t_kill = time.monotonic()
    cluster.kill9(node)
    others = [k for k in cluster.ports if k != node]
    topics = [prefix + INPUT, prefix + STATUS]

    def moved():
        md = cluster.metadata(topics, others)
        return all(l not in (node, -1) for t in topics for l in leaders(md, t).values())
    wait_until(moved, 60, f"new leaders for node {node}'s partitions", interval=0.2)
    t_moved = time.monotonic()

    def resumed():
        with follower.lock:
            return {p for t, p, _ in follower.seen if t > t_kill} >= set(range(PARTITIONS))
    wait_until(lambda: resumed() or producer.error, 120, "every status partition to move again")
    check(not producer.error, producer.error)
    t_resumed = time.monotonic()
    logs = {d.name: logged_since(d, marks[d.name]) for d in (od, bd)}

    cluster.start()  # Starts the killed node again; the others run on.
    wait_until(lambda: not replication_problems(cluster, topics), 120, f"node {node} back in every ISR")
    t_back = time.monotonic()

    producer.t.join(timeout=300)
    check(not producer.error and producer.sent == ORDERS, producer.error or "producer unfinished")
    wait_until(lambda: follower.count() >= ORDERS * 6, 180, "every status")
    od.wait_committed(0)
    follower.stop()
    f = audit(follower, ORDERS)
    check(audit_clean(f), f"not exactly once across the kill of node {node}: {f}")
    check(od.alive() and bd.alive() and (od.proc.pid, bd.proc.pid) == pids and
          od.starts == bd.starts == 1, f"a daemon was restarted or died: pids {pids}")
    batch_records = check_batches(cluster, prefix)
    recreated = {d.name: int(d.metric("greenlight_producer_recreations_total")) for d in (od, bd)}
    check(od.stop() == 0 and bd.stop() == 0, "a daemon did not exit 0 on SIGTERM")
    t_end = time.monotonic()

    (gap, part), = [x[1:3] for x in pauses(follower.seen, [("kill", t_kill, t_kill)])]
    print(f"cluster up after {t_up - t0:.1f} s, kill at {t_kill - t0:.1f} s, done at {t_end - t0:.1f} s",
          flush=True)
    print(f"killed node {node} (leader of {INPUT} {in_parts} and {STATUS} {st_parts}"
          f"{''.join(', ' + r + ' of orderd' for r in roles)}) with {seen_before} statuses seen", flush=True)
    print(f"new leaders after {t_moved - t_kill:.1f} s; every status partition moving again after "
          f"{t_resumed - t_kill:.1f} s; node {node} back in sync after {t_back - t_kill:.1f} s", flush=True)
    for p in range(PARTITIONS):
        (g,), = [x[1:2] for x in pauses([s for s in follower.seen if s[1] == p],
                                             [("kill", t_kill, t_kill)])]
        print(f"  status partition {p}{' (led by the killed node)' if p in st_parts else ''}: "
              f"paused {g:.2f} s across the kill", flush=True)
    around = [b - a for a, b in producer.txns if b > t_kill and a < t_resumed]
    print(f"longest pause {gap:.2f} s (partition {part}); longest upstream transaction around the kill "
          f"{max(around, default=0):.2f} s", flush=True)
    for name, (counts, lines) in logs.items():
        print(f"{name} logged until every partition moved again: {counts}; "
              f"{'the last lines but' if lines else 'nothing but'} librdkafka's and progress", flush=True)
        for l in lines:
            print("    " + l[:300], flush=True)
    print(f"producers replaced after a fence (greenlight_producer_recreations_total): {recreated}"
          f"{'' if any(recreated.values()) else ' (this kill fenced no producer)'}", flush=True)
    print(f"{f['records']} status records of {ORDERS} orders exactly once, {batch_records} batch "
          f"records gapless; orderd and batchd never restarted (pids {pids[0]}, {pids[1]})", flush=True)


def main():
    cluster = Cluster(os.path.join(LOGDIR, f"cluster-{os.getpid()}"), free_run(3 * NODES))
    try:
        run_cluster(cluster)
    finally:
        cluster.close()


if __name__ == "__main__":
    run(main)
