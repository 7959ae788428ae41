"""A real Prometheus (Debian's package) scrapes a real hilo after a real turn."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from hilo.kit.net import bind_socket
from hilo.testing.server import start_server
from tests.conftest import make_settings
from tests.test_deploy import dashboard_queries
from tests.test_metrics import samples, value

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus package is not installed "
                                "(.ci/run installs it: apt-get install prometheus)")
TOKEN = "prometheus-scrapes-hilo"


def free_port() -> int:
    sock = bind_socket("127.0.0.1", 0)
    try:
        return sock.getsockname()[1]
    finally:
        sock.close()


def query(api: str, promql: str) -> list[dict]:
    r = httpx.get(f"{api}/api/v1/query", params={"query": promql}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_a_turn(database_factory, tmp_path: Path, script):
    model, queue = script
    settings = make_settings(database_factory("sqlite"), tmp_path / "data", metrics_token=TOKEN)
    with start_server(settings) as live:
        # metrics are the process's: other tests of this session may have counted already
        before = samples(httpx.get(live.url + "/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text)
        queue({"text": "hola desde el modelo"})
        with OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0) as sdk:
            assistant = sdk.beta.assistants.create(model=model)
            run = sdk.beta.threads.create_and_run_poll(
                assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hola"}]},
                poll_interval_ms=20)
            assert run.status == "completed"
        config = tmp_path / "prometheus.yml"
        # the shape of deploy/prometheus.yml, on this test's port, with the bearer token
        config.write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: hilo-api
    metrics_path: /metrics
    authorization:
      credentials: {TOKEN}
    static_configs:
      - targets: ["127.0.0.1:{live.port}"]
""")
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        log = tmp_path / "prometheus.log"
        with log.open("wb") as out:
            prom = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                     f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            found: list[dict] = []
            while time.monotonic() < deadline:
                assert prom.poll() is None, log.read_text()
                try:
                    found = query(api, 'hilo_runs_finished_total{job="hilo-api",status="completed",assistant="custom"}')
                except httpx.HTTPError:
                    found = []
                if found:
                    break
                time.sleep(0.5)
            assert found, f"Prometheus never had the metric; its log:\n{log.read_text()}"
            assert float(found[0]["value"][1]) == 1 + value(before, "hilo_runs_finished_total", status="completed",
                                                            assistant="custom")
            [up] = query(api, 'up{job="hilo-api"}')
            assert up["value"][1] == "1"
            [calls] = query(api, 'hilo_model_calls_total{job="hilo-api",provider="scripted"}')
            assert float(calls["value"][1]) == 1 + value(before, "hilo_model_calls_total", provider="scripted")
            [turns] = query(api, 'hilo_turn_duration_seconds_count{job="hilo-api",assistant="custom"}')
            assert float(turns["value"][1]) == 1 + value(before, "hilo_turn_duration_seconds_count", assistant="custom")
            # every query of the shipped Grafana dashboard is PromQL this Prometheus accepts
            for expr in dashboard_queries():
                query(api, expr.replace("$__rate_interval", "5s").replace("$job", "hilo-api"))
        finally:
            prom.terminate()
            prom.wait(timeout=30)
