"""The deployment files agree with each other and with the topology the scale-out tests run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from hilo.testing.cluster import REPLICA, WORKER

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
HILO = {name: s for name, s in SERVICES.items() if s.get("image") == "hilo:latest" and name != "migrate"}


def test_the_api_replicas_and_workers_run_what_the_tests_run():
    apis = sorted(n for n, s in HILO.items() if s["command"][:2] == ["hilo", "serve"])
    workers = sorted(n for n, s in HILO.items() if s["command"][:2] == ["hilo", "worker"])
    assert apis == ["api-1", "api-2"] and workers == ["worker-1", "worker-2"]
    for name in apis:
        assert HILO[name]["command"] == ["hilo", *REPLICA]
    for name in workers:
        assert HILO[name]["command"] == ["hilo", *WORKER]
    assert SERVICES["migrate"]["command"] == ["hilo", "migrate"]


def test_every_hilo_process_shares_one_database_one_redis_and_the_data_volume():
    envs = [s["environment"] for s in HILO.values()] + [SERVICES["migrate"]["environment"]]
    assert {e["HILO_DATABASE_URL"] for e in envs} == {"postgresql+asyncpg://hilo:hilo@postgres:5432/hilo"}
    assert {e["HILO_REDIS_URL"] for e in envs} == {"redis://redis:6379/0"}
    for s in HILO.values():
        assert "hilo-data:/data" in s["volumes"] and s["environment"]["HILO_HOST"] == "0.0.0.0"
        assert s["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_prometheus_scrapes_every_replica_and_worker_on_their_ports():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {job["job_name"]: sorted(t for sc in job["static_configs"] for t in sc["targets"])
               for job in config["scrape_configs"]}
    assert targets["hilo-api"] == ["api-1:8000", "api-2:8000"]
    ports = {HILO[n]["environment"]["HILO_METRICS_PORT"] for n in ("worker-1", "worker-2")}
    assert targets["hilo-workers"] == sorted(f"{n}:{p}" for n in ("worker-1", "worker-2") for p in ports)


def test_the_load_balancer_spreads_over_the_replicas_without_buffering_streams():
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert sorted(re.findall(r"server (api-\d+):8000;", nginx)) == ["api-1", "api-2"]
    assert "proxy_buffering off;" in nginx and "proxy_set_header Upgrade" in nginx


def test_grafana_is_provisioned_with_the_dashboard():
    grafana = SERVICES["grafana"]["volumes"]
    assert "./deploy/grafana/hilo-dashboard.json:/var/lib/grafana/dashboards/hilo-dashboard.json:ro" in grafana
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/hilo.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for source in grafana:
        assert (ROOT / source.split(":")[0]).exists(), source


def test_the_image_installs_without_a_compiler_and_serves_by_default():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "RUN pip install . " in dockerfile  # the default install: no hilo[local] (llama.cpp compiles)
    assert 'CMD ["hilo", "serve"]' in dockerfile and "USER hilo" in dockerfile
