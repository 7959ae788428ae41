"""Readiness names every configured model endpoint: the default and each of HILO_PROVIDERS."""

from __future__ import annotations

import httpx

from hilo.testing.cluster import free_port
from hilo.testing.fake_openai import FakeOpenAIServer
from hilo.testing.server import start_server
from tests.conftest import make_settings


def test_readiness_checks_each_named_provider(database_factory, tmp_path):
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with FakeOpenAIServer(api_key="sk-backup") as backup:
        providers = {"backup": {"base_url": backup.base_url, "api_key": "sk-backup"},
                     "offline": {"base_url": down, "api_key": "sk-offline-secret"}}
        settings = make_settings(database_factory("sqlite"), tmp_path, providers=providers, packs="none")
        with start_server(settings) as live:
            ready = httpx.get(live.url + "/health/ready", timeout=30)
    assert ready.status_code == 503  # an assistant naming "offline/..." would fail
    named = ready.json()["checks"]["providers"]["named"]
    assert named["backup"]["ok"] is True
    assert named["offline"]["ok"] is False and named["offline"]["detail"]
    assert "sk-offline-secret" not in ready.text and "sk-backup" not in ready.text
