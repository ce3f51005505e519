"""State queries across instances (issue 3: "answered by the instance that
owns the key, or a clear 'not owned here' with the owner when known").

Two order daemons share the group (instance.id 1 and 2, range assignment:
two partitions each). For every order of the seed, exactly one of them
answers GET /orders/{id} with the order; the other answers 421 and names
the owner's instance and URL, learnt from the owners topic the instances
publish their assignments to, and the "location" it gives serves the same
order."""
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

    def balanced():
        hs = [json.loads(d.get("/healthz")[1]) for d in ds]
        return all(h["partitions"] == PARTITIONS // 2 and h["restoring"] == 0 for h in hs)
    wait_until(balanced, 90, "both instances to own and restore half of the partitions")
    produce(prefix, events, transactional=True)
    n = count_inputs(prefix)
    wait_until(lambda: sum(d.metric("greenlight_records_processed_total") for d in ds) >= n and
               all(d.metric("greenlight_uncommitted_records") == 0 for d in ds), 90,
               f"the two instances to process {n} records")
    last = {}
    for r in tail(prefix, "greenlight.order-status"):
        last[r["key"]] = r["value"]

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
            return j if code == 421 and "owner" in j else None
        j = wait_until(named, 30, f"instance {other + 1} to name the owner of {oid}")
        check(j["owner"] == {"instance": f"{prefix}greenlight-orderd-{owner + 1}",
                             "url": ds[owner].url},
              f"{oid}: 421 names {j['owner']}, expected instance {owner + 1} at {ds[owner].url}")
        code, body = get_url(j["location"])
        check(code == 200 and strip_defaults(json.loads(body)) == want,
              f"{oid}: the location {j['location']} answered {code}")
    check(all(served.values()), f"one instance owned every order: {served} (test data too small?)")
    for d in ds:
        check(d.stop() == 0, f"{d.name} did not exit 0 on SIGTERM")
    print(f"owners: {len(last)} orders, served {served}, each redirected by the other instance")


run(main)
