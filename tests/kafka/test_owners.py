"""State queries across instances (issue 3: "answered by the instance that
owns the key, or a clear 'not owned here' with the owner when known").

Two order daemons share the group (instance.id 1 and 2, range assignment:
two partitions each). For every order of the seed, exactly one of them
answers GET /orders/{id} with the order; the other answers 421 and names
the owner's instance and URL, learnt from the owners topic the instances
publish their assignments to, and the "location" it gives serves the same
order. Then the owners follow the group (issue 6: no Admin request in
steady state): instance 2 stops, instance 1 takes every partition and
serves every order; instance 2 comes back on another port and instance 1
names its new URL. A missing input topic is waited for, named by /readyz,
then the start exits 1 (a missing owners topic is created: see
test_startup_topics)."""
import urllib.request

from harness import *

SEED = os.path.join(SRC, "tests", "data", "seed.jsonl")


def get_url(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    with open(SEED) as f:
        events = [json.loads(l) for l in f if l.strip()]
    prefix = new_prefix("owners")
    make_topics(prefix)
    ds = [orderd(prefix, name=f"owners-{i}", extra=["--instance.id", str(i)]).start()
          for i in (1, 2)]
    for d in ds:
        d.url = f"http://127.0.0.1:{d.http_port()}"
    wait_until(lambda: balanced(ds), 90, "both instances to own and restore half of the partitions")
    produce(prefix, events, transactional=True)
    n = count_inputs(prefix)
    wait_until(lambda: sum(d.metric("greenlight_records_processed_total") for d in ds) >= n and
               all(d.metric("greenlight_uncommitted_records") == 0 for d in ds), 90,
               f"the two instances to process {n} records")
    last = {}
    for r in tail(prefix, "greenlight.order-status"):
        last[r["key"]] = r["value"]

    served = check_redirects(ds, last, prefix)
    check(all(served.values()), f"one instance owned every order: {served} (test data too small?)")
    check_claims(prefix, ds)

    # Instance 2 leaves: once the group gives instance 1 every partition
    # (after the static member's session timeout), instance 1 serves all.
    check(ds[1].stop() == 0, f"{ds[1].name} did not exit 0 on SIGTERM")
    wait_until(lambda: all(ds[0].get(f"/orders/{oid}")[0] == 200 for oid in last), 90,
               "instance 1 to serve every order alone")
    # Instance 2 returns on a new port: its new claim supersedes the old one.
    ds[1].start()
    ds[1].url = f"http://127.0.0.1:{ds[1].http_port()}"
    wait_until(lambda: balanced(ds), 90, "the two instances to share the partitions again")
    served = check_redirects(ds, last, prefix)
    check(all(served.values()), f"after the restart one instance owned every order: {served}")
    for d in ds:
        check(d.stop() == 0, f"{d.name} did not exit 0 on SIGTERM")
    check_missing_topic(prefix)
    print(f"owners: {len(last)} orders, served {served}, each redirected by the other instance")


def balanced(ds):
    hs = [json.loads(d.get("/healthz")[1]) for d in ds]
    return all(h["partitions"] == PARTITIONS // 2 and h["restoring"] == 0 for h in hs)


def get_header(d, path, name):
    """One header of d's answer to GET path (an error status included)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.http_port()}{path}", timeout=5) as r:
            return r.headers.get(name)
    except urllib.error.HTTPError as e:
        return e.headers.get(name)


def check_redirects(ds, last, prefix):
    """Every order: one 200 with the last status, one 421 naming the owner."""
    served = {0: 0, 1: 0}
    for oid, want in sorted(last.items()):
        answers = [d.get(f"/orders/{oid}") for d in ds]
        codes = sorted(c for c, _ in answers)
        check(codes == [200, 421], f"{oid}: the instances answered {codes}, expected 200 and 421")
        owner = next(i for i, (c, _) in enumerate(answers) if c == 200)
        other = 1 - owner
        served[owner] += 1
        check(strip_defaults(json.loads(answers[owner][1])) == want,
              f"{oid}: the owner's answer differs from the last published status")

        def named():
            code, body = ds[other].get(f"/orders/{oid}")
            j = json.loads(body)
            return j if code == 421 and j.get("owner", {}).get("url") == ds[owner].url else None
        j = wait_until(named, 30, f"instance {other + 1} to name the owner of {oid} at {ds[owner].url}")
        check(j["owner"] == {"instance": f"{prefix}greenlight-orderd-{owner + 1}",
                             "url": ds[owner].url},
              f"{oid}: 421 names {j['owner']}, expected instance {owner + 1} at {ds[owner].url}")
        # The 421 carries the location as a header too, and a query string
        # or an escaped id names the same order.
        loc = get_header(ds[other], f"/orders/{oid}", "Location")
        check(loc == j["location"], f"{oid}: Location header {loc!r}, body says {j['location']!r}")
        code, body = ds[owner].get(f"/orders/{oid.replace('-', '%2D')}?pretty=1")
        check(code == 200 and strip_defaults(json.loads(body)) == want,
              f"{oid}: GET with an escape and a query string answered {code}")
        code, body = get_url(j["location"])
        check(code == 200 and strip_defaults(json.loads(body)) == want,
              f"{oid}: the location {j['location']} answered {code}")
    return served


def check_claims(prefix, ds):
    """The owners topic: one partition; each instance's latest record names
    its URL and the partitions it owns, together all of them once."""
    recs = tail(prefix, "greenlight-orderd.owners", raw=True)
    check(recs and all(r["partition"] == 0 for r in recs), f"owners records: {recs}")
    latest = {r["key"]: json.loads(bytes.fromhex(r["value_hex"])) for r in recs}
    parts = []
    for i, d in enumerate(ds):
        key = f"{prefix}greenlight-orderd-{i + 1}"
        v = latest.get(key)
        check(v and v["instance"] == key and v["url"] == d.url and
              len(v["partitions"]) == PARTITIONS // 2, f"latest claim of {key}: {v}")
        parts += v["partitions"]
    check(sorted(parts) == list(range(PARTITIONS)), f"claims cover {sorted(parts)}")


def check_missing_topic(prefix):
    """A missing input is waited for (an internal topic, such as the owners
    topic, would be created: test_startup_topics): /readyz names it, and
    after startup.timeout.ms the daemon exits 1 for a supervisor."""
    d = orderd(prefix, name="input-missing", extra=["--app.id", "no-input-app",
                                                   "--input.topics", "greenlight.orders,no-such-input",
                                                   "--startup.timeout.ms", "5000"])
    d.start()
    d.expect_exit = True
    want = f"{prefix}no-such-input"
    wait_until(lambda: want in d.get("/readyz")[1], 30, "/readyz to name the missing input")
    try:
        rc = d.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail("orderd without an input topic did not exit within 60 s")
    check(rc == 1 and want in d.log_text(), f"missing input: exit {rc}, log {d.log_text()[-1500:]}")


run(main)
