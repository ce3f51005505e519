"""The queries of the Grafana dashboard (deploy/grafana/greenlight.json) and
the Prometheus rules (deploy/prometheus/greenlight.rules.yml), and the metric
names they use; for tests/deploy/test_monitoring.py and
tests/kafka/test_metrics.py."""
import json
import os
import re

import yaml

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(SRC, "deploy", "grafana", "greenlight.json")
RULES = os.path.join(SRC, "deploy", "prometheus", "greenlight.rules.yml")
RULES_TEST = os.path.join(SRC, "deploy", "prometheus", "greenlight.rules.test.yml")
PROMETHEUS = os.path.join(SRC, "deploy", "prometheus", "prometheus.yml")

# Series Prometheus makes itself for every scrape: no daemon serves them.
SCRAPE_SERIES = {"up"}


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def panels(d=None):
    """Every panel, rows' nested panels included."""
    out = []
    for p in (d or dashboard())["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def dashboard_exprs(d=None):
    """(panel title, expr) of every query of the dashboard, its variables' included."""
    d = d or dashboard()
    out = [(p["title"], t["expr"]) for p in panels(d) for t in p.get("targets", [])]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            out.append((f"${v['name']}", v["query"]["query"]))
    return out


def rules_exprs():
    """(alert or record name, expr) of every rule."""
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [(r.get("alert") or r.get("record"), r["expr"]) for g in doc["groups"] for r in g["rules"]]


def promql(expr):
    """A dashboard expr as plain PromQL: Grafana's variables replaced, and a
    variable's label_values(SELECTOR, LABEL) as its selector."""
    m = re.fullmatch(r"label_values\((.*),\s*\w+\)", expr.strip())
    if m:
        expr = m.group(1)
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            .replace('"$job"', '".*"').replace('"$instance"', '".*"'))


def metric_names(expr):
    """The metric names an expr reads: the identifiers outside strings that
    name a greenlight_* or process_* series, or a scrape's own (up)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    names = set()
    for m in re.finditer(r"(?<![\w:.$])([A-Za-z_:][A-Za-z0-9_:]*)", bare):
        name = m.group(1)
        if name.startswith(("greenlight_", "process_")) or name in SCRAPE_SERIES:
            names.add(name)
    return names


def all_metric_names():
    """{name: [where it is used]} over the dashboard and the rules."""
    out = {}
    for where, expr in dashboard_exprs() + rules_exprs():
        for n in metric_names(expr):
            out.setdefault(n, []).append(where)
    return out


def exposed_names(text):
    """The sample names of a Prometheus text exposition."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names
