"""Every daemon's /metrics, live (issue 11, points 5 and 8):

- `promtool check metrics` accepts the /metrics of orderd, batchd, clockd
  and pipe, once ready and again after work;
- series of a known label set are there from the start at 0, before any
  record: DLQ by reason (every reason the runtime, the envelope and the
  rules give), transitions by state, batchd's refusals by reason;
- per partition: consumer lag (by topic), restore progress, event time and
  state size, for every partition of the inputs; process_* and
  greenlight_build_info on every daemon;
- after work the counters moved: the garbage record counts as decode_error,
  the orders' transitions are counted, event time and state size are set;
- every metric named in the Grafana dashboard's queries and in the alert
  rules (deploy/) is served by some daemon (up excepted: Prometheus makes it)."""
from harness import *
from wire import ENVELOPE_HEADERS

sys.path.insert(0, os.path.join(SRC, "tests", "deploy"))
sys.dont_write_bytecode = True
import monitoring  # noqa: E402

ORDERS = 8
ENVELOPE_REASONS = ("decode_error", "too_large", "invalid_utf8", "invalid", "unknown_payload",
                    "unknown_enum", "key_mismatch")
RUNTIME_REASONS = ("invalid", "time_out_of_bounds", "output_too_large", "output_rejected")
ORDER_REASONS = ("duplicate_order", "batch_move_refused", "duplicate_grant", "over_clearance",
                 "order_closed", "dedup_capacity", "park_full", "expired_unmatched")
STATES = ("RECEIVED", "ACCEPTED", "REJECTED", "QUEUED", "APPROVED", "PARTIALLY_CLEARED",
          "CLEARED", "DENIED", "EXPIRED", "CANCELLED")


def series(text):
    """{'name{labels}': value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def scrape(d):
    code, text = d.get("/metrics")
    check(code == 200, f"{d.name} /metrics answered {code}")
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0, f"{d.name}: promtool check metrics refuses its /metrics:\n"
                             f"{p.stdout}{p.stderr}")
    return text


def check_common(d, text, service):
    s = series(text)
    info = [k for k in s if k.startswith("greenlight_build_info{")]
    check(len(info) == 1 and f'service="{service}"' in info[0] and s[info[0]] == 1,
          f"{d.name}: build_info {info}")
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "process_max_fds", "process_start_time_seconds"):
        check(s.get(name, 0) > 0, f"{d.name}: {name} is {s.get(name)}")


def check_from_start(orderd_text, batchd_text):
    """Before any record, every series of a known label set is there at 0."""
    s = series(orderd_text)
    for r in set(ENVELOPE_REASONS + RUNTIME_REASONS + ORDER_REASONS):
        check(s.get(f'greenlight_dlq_records_total{{reason="{r}"}}') == 0,
              f"orderd: no greenlight_dlq_records_total for reason {r} at 0 from the start")
    for st in STATES:
        check(s.get(f'greenlight_order_transitions_total{{state="ORDER_STATE_{st}"}}') == 0,
              f"orderd: no transitions series for {st} at 0 from the start")
    check(s.get("greenlight_duplicate_events_total") == 0, "orderd: no duplicates counter at 0")
    b = series(batchd_text)
    for r in ("invalid", "decode_error", "unknown_enum"):
        check(b.get(f'greenlight_batchd_refused_total{{reason="{r}"}}') == 0 and
              b.get(f'greenlight_dlq_records_total{{reason="{r}"}}') == 0,
              f"batchd: refusals by reason {r} not at 0 from the start")
    check(b.get("greenlight_batches_over_cap") == 0, "batchd: no over-cap gauge at 0")


def check_partitions(d, text, prefix, inputs, stateful):
    s = series(text)
    for p in range(PARTITIONS):
        for t in inputs:
            key = f'greenlight_consumer_lag_records{{topic="{prefix}{t}",partition="{p}"}}'
            check(key in s, f"{d.name}: no {key}")
        names = ["greenlight_stream_time_seconds", "greenlight_partition_assigned"]
        if stateful:
            names += ["greenlight_restore_remaining_records", "greenlight_partition_restoring",
                      "greenlight_restore_restored_records", "greenlight_state_keys"]
        for n in names:
            check(f'{n}{{partition="{p}"}}' in s, f"{d.name}: no {n} for partition {p}")
        check(s[f'greenlight_partition_assigned{{partition="{p}"}}'] == 1,
              f"{d.name}: partition {p} is not assigned to the only instance")


def main():
    prefix = new_prefix("metrics")
    make_topics(prefix, extra=["greenlight.pipe-out"])
    ds = {
        "orderd": orderd(prefix),
        "batchd": batchd(prefix),
        "clockd": Daemon(CLOCKD, "clockd", ["-b", BOOTSTRAP, "--topic.prefix", prefix,
                                            "--http.port", "0", "--clock.id", "test-clock",
                                            "--tick.interval.ms", "200"]),
        "pipe": Daemon(PIPE, "pipe", ["-b", BOOTSTRAP, "--topic.prefix", prefix, "--http.port", "0",
                                      "--commit.interval.ms", "50"]),
    }
    for d in ds.values():
        d.start()
    for d in ds.values():
        d.wait_ready()
    texts = {name: scrape(d) for name, d in ds.items()}
    check_from_start(texts["orderd"], texts["batchd"])

    # Event times of now: clockd ticks the same clock topic with the wall clock.
    t0 = int(time.time() * 1000)
    garbage = {"topic": "greenlight.orders", "key": "O-JUNK", "value_hex": "ffffffff0f",
               "timestamp_ms": t0, "headers": ENVELOPE_HEADERS}
    events = [garbage]
    for i in range(ORDERS):
        events += lifecycle_events("MX", i, f"O-MX-{i}", 1000 + i, t0 + i * 10, "erp.test")
    produce(prefix, events)
    d = ds["orderd"]
    wait_until(lambda: d.metric("greenlight_records_processed_total") >= len(events) and
               d.metric('greenlight_dlq_records_total{reason="decode_error"}') == 1, 120,
               "orderd to process the events and dead-letter the garbage")
    wait_until(lambda: ds["batchd"].metric("greenlight_batch_status_published_total") > 0, 120,
               "batchd to publish a batch view")
    # The per-partition gauges are set once a second.
    wait_until(lambda: d.metric("greenlight_state_keys") >= ORDERS, 10, "state keys to count the orders")
    texts = {name: scrape(x) for name, x in ds.items()}
    s = series(texts["orderd"])
    cleared = s['greenlight_order_transitions_total{state="ORDER_STATE_CLEARED"}']
    check(cleared == ORDERS, f"orderd: {cleared} CLEARED transitions, expected {ORDERS}")
    check(max(v for k, v in s.items() if k.startswith("greenlight_stream_time_seconds{")) >= t0 / 1000,
          "orderd: no partition's event time reached the events'")
    for name, x in ds.items():
        check_common(x, texts[name], name)
    check_partitions(d, texts["orderd"], prefix, INPUT_TOPICS, True)
    check_partitions(ds["batchd"], texts["batchd"], prefix, ("greenlight-batchd.repartition",), True)
    check_partitions(ds["pipe"], texts["pipe"], prefix, ("greenlight.orders",), False)
    check(series(texts["clockd"]).get("greenlight_clock_last_tick_timestamp_seconds", 0) > 1e9,
          "clockd: no last tick time in seconds")

    # Every name the dashboard and the rules use is served.
    served = set()
    for text in texts.values():
        served |= monitoring.exposed_names(text)
    used = monitoring.all_metric_names()
    missing = {n: w for n, w in used.items() if n not in served and n not in monitoring.SCRAPE_SERIES}
    check(not missing, f"named in deploy/ but served by no daemon: {missing}")
    print(f"{len(used)} metric names in the dashboard and rules, all served; "
          f"{len(served)} served in all", flush=True)
    for d in ds.values():
        check(d.stop() == 0, f"{d.name} did not exit 0 on SIGTERM")


run(main)
