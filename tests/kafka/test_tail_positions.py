"""`greenlight tail` starts where an operator asks, as kcat's -o does:
--offset N | -N | beginning | end, --from TIME (epoch ms or RFC 3339, by
offsets-for-times) and --partition P. Twelve records with known
partitions, offsets and timestamps; each position must print exactly the
records it selects, and a partition the topic does not have is a usage
error (exit 2). Its --raw lines are `greenlight produce` input. `show`
takes --offset and --from over its id's partition."""
from harness import *
from wire import T0

TOPIC = "greenlight.dlq"  # Any topic: the records are raw bytes.
PER_PARTITION = 6


def records():
    """Partition p, index i: key K-p-i, stamped T0 + (i * 2 + p) * 1000."""
    return [{"topic": TOPIC, "key": f"K-{p}-{i}", "value_hex": f"{p:02x}{i:02x}", "partition": p,
             "timestamp_ms": T0 + (i * 2 + p) * 1000}
            for i in range(PER_PARTITION) for p in (0, 1)]


def tail_keys(prefix, *args):
    """(exit code, sorted keys printed, stderr) of a tail to the end."""
    r = subprocess.run([CLI, "tail", TOPIC, "-b", BOOTSTRAP, "--prefix", prefix, "--raw",
                        "--exit-at-end", "--timeout-ms", "60000", *args],
                       capture_output=True, timeout=90)
    keys = sorted(json.loads(l)["key"] for l in r.stdout.decode().splitlines() if l.strip())
    return r.returncode, keys, r.stderr.decode()


def expect(prefix, args, want):
    code, keys, err = tail_keys(prefix, *args)
    check(code == 0, f"tail {' '.join(args)}: exit {code}: {err[-500:]}")
    check(keys == sorted(want), f"tail {' '.join(args)} printed {keys}, expected {sorted(want)}")


def main():
    prefix = new_prefix("tailpos")
    make_topics(prefix)
    produce(prefix, records())
    every = [f"K-{p}-{i}" for p in (0, 1) for i in range(PER_PARTITION)]
    expect(prefix, ["--offset", "beginning"], every)
    expect(prefix, ["--from-beginning"], every)
    expect(prefix, ["--offset", "end"], [])
    expect(prefix, ["--offset", "4", "--partition", "0"], ["K-0-4", "K-0-5"])
    expect(prefix, ["--offset", "-2"], ["K-0-4", "K-0-5", "K-1-4", "K-1-5"])
    expect(prefix, ["--offset", "-1", "--partition", "1"], ["K-1-5"])
    expect(prefix, ["--partition", "1", "--offset", "beginning"],
           [f"K-1-{i}" for i in range(PER_PARTITION)])
    # Stamped at or after T0 + 7 s: partition 0 from i = 4 (8 s), 1 from i = 3 (7 s).
    after = ["K-0-4", "K-0-5", "K-1-3", "K-1-4", "K-1-5"]
    expect(prefix, ["--from", str(T0 + 7000)], after)
    expect(prefix, ["--from", "2026-01-05T00:00:07Z"], after)  # T0 is 2026-01-05T00:00:00Z.
    expect(prefix, ["--from", "2026-01-05T01:00:06.5+01:00"], after)
    expect(prefix, ["--from", str(T0 + 60000)], [])  # Later than every record: at the end.
    code, keys, err = tail_keys(prefix, "--partition", "99")
    check(code == 2 and f"has {PARTITIONS} partitions" in err and not keys,
          f"--partition 99: exit {code}, {err.strip()}")
    # tail --raw output is produce input: each record comes back once more,
    # with the same key, value, headers, timestamp and partition.
    r = subprocess.run([CLI, "tail", TOPIC, "-b", BOOTSTRAP, "--prefix", prefix, "--raw",
                        "--offset", "beginning", "--exit-at-end", "--timeout-ms", "60000"],
                       capture_output=True, timeout=90)
    lines = r.stdout.decode()
    check(r.returncode == 0 and len(lines.splitlines()) == len(every), f"tail --raw: {r.stderr}")
    r = subprocess.run([CLI, "produce", "-b", BOOTSTRAP, "--prefix", prefix, "--strict"],
                       input=r.stdout, capture_output=True, timeout=90)
    check(r.returncode == 0, f"produce of tail --raw lines: exit {r.returncode}: {r.stderr}")
    same = lambda x: (x["partition"], x["key"], x["timestamp_ms"], x["value_hex"],
                      sorted(x["headers"].items()))
    again = [same(x) for x in tail(prefix, TOPIC, raw=True)]
    once = sorted(same(json.loads(l)) for l in lines.splitlines())
    check(sorted(again) == sorted(once + once),
          f"after producing tail's lines: {len(again)} records, not each of {len(once)} twice")
    # show takes the same positions over its id's partition.
    produce(prefix, [{"topic": "greenlight.order-status", "key": "O-SHOW-1", "value_hex": f"{i:02x}",
                      "timestamp_ms": T0 + i * 1000} for i in range(4)])
    code, out = show(prefix, "O-SHOW-1", "--history", "--raw", "--from", str(T0 + 2000))
    check(code == 0 and [x["value_hex"] for x in out] == ["02", "03"],
          f"show --history --from: exit {code}, {out}")
    code, out = show(prefix, "O-SHOW-1", "--raw", "--offset", "-1")
    check(code == 0 and [x["value_hex"] for x in out] == ["03"], f"show --offset -1: {code} {out}")
    code, out = show(prefix, "O-SHOW-1", "--from", str(T0 + 60000))
    check(code == 3 and not out, f"show --from after every version: exit {code} (want 3), {out}")
    print("tail positions: --offset N / -N / beginning / end, --from (epoch ms, RFC 3339 with "
          "Z and an offset) and --partition each printed exactly their records; tail --raw "
          "lines produced back came back byte for byte")


run(main)
