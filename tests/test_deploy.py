"""The shipped Prometheus scrape config and Grafana dashboard match what hilo exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.metrics import MetricWrapperBase

from hilo.kit.observe import metrics
from hilo.testing.server import start_server
from tests.conftest import make_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "hilo-dashboard.json"
NAME = re.compile(r"\bhilo_[a-z0-9_]+")
BY = re.compile(r"\bby \(([^)]*)\)")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "gauge": ("",), "summary": ("_count", "_sum", "_created")}


def dashboard_queries() -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(json.loads(DASHBOARD.read_text()))
    return found


def exposed_names(text: str) -> set[str]:
    """Every sample name the exposition declares (from its # TYPE lines: a labelled metric with
    no sample yet still declares its family)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            base = family.removesuffix("_total") if kind == "counter" else family
            names.update(base + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


def hilo_labels() -> dict[str, set[str]]:
    """Label names of every hilo metric, by each sample name it produces."""
    out: dict[str, set[str]] = {}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            base = obj._name
            for suffix in SUFFIXES.get(obj._type, ("",)):
                out[base + suffix] = set(obj._labelnames) | ({"le"} if obj._type == "histogram" else set())
    return out


def test_every_metric_the_dashboard_queries_is_exposed(database_factory, tmp_path):
    queries = dashboard_queries()
    assert len(queries) >= 20
    queried = {name for q in queries for name in NAME.findall(q)}
    with start_server(make_settings(database_factory("sqlite"), tmp_path)) as live:
        exposed = exposed_names(httpx.get(live.url + "/metrics").text)
    assert queried - exposed == set(), "the dashboard queries metrics hilo does not expose"
    # and the dashboard covers what the operations guide promises
    for wanted in ("hilo_turn_duration_seconds_bucket", "hilo_time_to_first_token_seconds_bucket",
                   "hilo_model_errors_total", "hilo_tool_errors_total", "hilo_queue_depth",
                   "hilo_queue_oldest_age_seconds", "hilo_webhook_deliveries_total", "hilo_websockets_open",
                   "hilo_council_decisions_total"):
        assert wanted in queried, wanted


def test_the_dashboard_groups_only_by_labels_its_metrics_have():
    labels = hilo_labels()
    for query in dashboard_queries():
        names = NAME.findall(query)
        have = set().union(*(labels[n] for n in names))
        for group in BY.findall(query):
            for label in (g.strip() for g in group.split(",")):
                assert label in have, (query, label)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) is missing")
def test_the_scrape_config_is_valid():
    done = subprocess.run(["promtool", "check", "config", str(DEPLOY / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
