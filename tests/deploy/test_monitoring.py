"""The monitoring files under deploy/ are sound, without a broker:
- promtool accepts the example configuration (check config), which scrapes
  each daemon on the port of its shipped config;
- promtool accepts the alert rules (check rules) and their unit tests pass
  (test rules: each alert fires on the series that should raise it, with
  its labels and text, and stays quiet on healthy ones);
- the Grafana dashboard is a dashboard: unique panel ids, every panel on
  the grid with a Prometheus query through the datasource variable, and
  every query valid PromQL (promtool checks each as a recording rule);
- the dashboard and the rules name only greenlight_*, process_* and up
  series (tests/kafka/test_metrics.py checks that a live daemon serves each).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.dont_write_bytecode = True  # No __pycache__ in the source tree.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import monitoring  # noqa: E402


def fail(msg):
    print(f"FAIL test_monitoring.py: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def promtool(*args, cwd=None):
    p = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    return p.returncode, p.stdout + p.stderr


def test_rules():
    code, out = promtool("check", "rules", monitoring.RULES)
    check(code == 0, f"promtool check rules:\n{out}")
    code, out = promtool("test", "rules", os.path.basename(monitoring.RULES_TEST),
                         cwd=os.path.dirname(monitoring.RULES_TEST))
    check(code == 0, f"promtool test rules:\n{out}")
    # The unit tests cover the alerts that matter most.
    with open(monitoring.RULES_TEST) as f:
        tested = {a["alertname"] for t in yaml.safe_load(f)["tests"] for a in t["alert_rule_test"]}
    for must in ("GreenlightDown", "GreenlightNotReady", "GreenlightAbortLoop", "GreenlightDeadLetters",
                 "GreenlightConsumerLag", "GreenlightBatchOverCap", "GreenlightClockStalled"):
        check(must in tested, f"{must} has no unit test in {monitoring.RULES_TEST}")


def test_config():
    """The example Prometheus configuration is valid, loads the rules, and
    scrapes each daemon on the port its shipped config gives it."""
    code, out = promtool("check", "config", monitoring.PROMETHEUS)
    check(code == 0 and "1 rule files found" in out, f"promtool check config:\n{out}")
    with open(monitoring.PROMETHEUS) as f:
        jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in yaml.safe_load(f)["scrape_configs"]}
    for daemon in ("orderd", "batchd", "clockd"):
        with open(os.path.join(monitoring.SRC, "deploy", "config", f"{daemon}.conf")) as f:
            port = re.search(r"^http\.port\s*=\s*(\d+)", f.read(), re.M).group(1)
        check(jobs.get(f"greenlight-{daemon}") == [f"127.0.0.1:{port}"],
              f"prometheus.yml scrapes greenlight-{daemon} at {jobs.get(f'greenlight-{daemon}')}, "
              f"its config listens on {port}")


def test_dashboard():
    d = monitoring.dashboard()
    ps = monitoring.panels(d)
    ids = [p["id"] for p in ps]
    check(len(ids) == len(set(ids)), f"panel ids repeat: {sorted(ids)}")
    names = [v["name"] for v in d["templating"]["list"]]
    check(names[:1] == ["datasource"] and {"job", "instance"} <= set(names),
          f"templating variables: {names}")
    for p in ps:
        g = p["gridPos"]
        check(0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, f"panel {p['title']}: {g}")
        if p["type"] == "row":
            continue
        check(p["datasource"]["uid"] == "${datasource}", f"panel {p['title']}: {p['datasource']}")
        check(p.get("targets") and all(t.get("expr") for t in p["targets"]),
              f"panel {p['title']} has no query")
    # Every query is valid PromQL: promtool checks them as recording rules.
    exprs = monitoring.dashboard_exprs(d)
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query:{i}", "expr": monitoring.promql(e)} for i, (_, e) in enumerate(exprs)]}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dashboard.rules.yml")
        with open(path, "w") as f:
            yaml.safe_dump(rules, f)
        code, out = promtool("check", "rules", path)
    check(code == 0, f"a dashboard query is no valid PromQL:\n{out}")
    check(len(exprs) >= 25, f"only {len(exprs)} queries in the dashboard")


def test_names():
    used = monitoring.all_metric_names()
    check(len(used) >= 25, f"only {len(used)} metric names found in the dashboard and rules: {used}")
    for must in ("greenlight_dlq_records_total", "greenlight_consumer_lag_records", "greenlight_ready",
                 "greenlight_consecutive_aborts", "greenlight_batches_over_cap",
                 "greenlight_restore_remaining_records", "greenlight_stream_time_seconds",
                 "greenlight_state_keys", "process_resident_memory_bytes", "greenlight_build_info"):
        check(must in used, f"{must} is in neither the dashboard nor the rules")
    # The name extraction itself: strings and labels are no names.
    got = monitoring.metric_names('sum by (job) (rate(greenlight_x_total{job=~"greenlight_y"}[5m]))'
                                  ' / on(instance) process_max_fds and up')
    check(got == {"greenlight_x_total", "process_max_fds", "up"}, f"metric_names: {got}")


def main():
    if not shutil.which("promtool"):
        fail("promtool is missing: deploy/local/setup.sh installs it (Debian package prometheus)")
    test_rules()
    test_config()
    test_dashboard()
    test_names()
    print("PASS test_monitoring.py")


main()
