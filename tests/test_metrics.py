"""GET /metrics: what real turns count, bounded labels, the token, multiprocess aggregation."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from hilo.kit.net import bind_socket
from hilo.kit.observe import metrics
from hilo.testing.server import start_server
from tests.conftest import make_settings

ID_LIKE = re.compile(r"^(asst|thread|run|msg|call|step|file|vs|user|key|req)_[0-9a-z]{12,}$")  # hilo's ids


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(snapshot: dict, name: str, **labels) -> float:
    return snapshot.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(url: str, token: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(url + "/metrics", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def test_a_turn_with_a_server_tool_and_one_with_a_client_tool_are_counted(server, client: OpenAI, script):
    model, queue = script
    asesor = server.app.state.pack_assistants["courses/asesor"]
    before = scrape(server.url)
    queue({"tool_calls": [{"name": "buscar_curso", "arguments": {"query": "excel"}}]}, {"text": "Hay cursos de Excel."})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "cursos de excel"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asesor, model=model,
                                                   poll_interval_ms=20)
    assert run.status == "completed"
    # a custom assistant whose function tool the caller runs
    custom = client.beta.assistants.create(model=model, tools=[{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object", "properties": {}}}}])
    queue({"tool_calls": [{"name": "lookup", "arguments": {}}]}, {"text": "gracias"})
    thread2 = client.beta.threads.create(messages=[{"role": "user", "content": "busca"}])
    run2 = client.beta.threads.runs.create_and_poll(thread_id=thread2.id, assistant_id=custom.id, poll_interval_ms=20)
    assert run2.status == "requires_action"
    call = run2.required_action.submit_tool_outputs.tool_calls[0]
    run2 = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread2.id, run_id=run2.id, tool_outputs=[{"tool_call_id": call.id, "output": "{}"}],
        poll_interval_ms=20)
    assert run2.status == "completed"
    after = scrape(server.url)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("hilo_runs_finished_total", status="completed", assistant="courses/asesor") == 1
    assert delta("hilo_runs_finished_total", status="completed", assistant="custom") == 1
    assert delta("hilo_tool_calls_total", tool="buscar_curso") == 1
    assert delta("hilo_tool_calls_total", tool="client") == 1
    assert delta("hilo_tool_call_duration_seconds_count", tool="buscar_curso") == 1
    assert delta("hilo_tool_errors_total", tool="buscar_curso", kind="error") == 0
    # four model calls: tool call + answer, twice
    assert delta("hilo_model_calls_total", provider="scripted") == 4
    assert delta("hilo_model_call_duration_seconds_count", provider="scripted") == 4
    assert delta("hilo_model_tokens_total", provider="scripted", kind="completion") > 0
    assert delta("hilo_model_tokens_total", provider="scripted", kind="prompt") > 0
    # three turns (the client tool's run is two), two first tokens
    assert delta("hilo_turn_duration_seconds_count", assistant="courses/asesor") == 1
    assert delta("hilo_turn_duration_seconds_count", assistant="custom") == 2
    assert delta("hilo_time_to_first_token_seconds_count", assistant="courses/asesor") == 1
    assert delta("hilo_time_to_first_token_seconds_count", assistant="custom") == 1
    ttft = delta("hilo_time_to_first_token_seconds_sum", assistant="courses/asesor")
    assert 0 < ttft <= delta("hilo_turn_duration_seconds_sum", assistant="courses/asesor")
    # bounded labels: no id anywhere
    for (name, labels), _ in after.items():
        for key, label in labels:
            assert not ID_LIKE.match(label), (name, key, label)


def test_model_failures_are_counted_by_provider_and_code(server, client: OpenAI, script):
    model, queue = script
    before = scrape(server.url)
    queue({"error": "upstream said no", "code": "rate_limit_exceeded"})
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hola"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20)
    assert run.status == "failed" and run.last_error.code == "rate_limit_exceeded"
    after = scrape(server.url)
    labels = {"provider": "scripted", "code": "rate_limit_exceeded"}
    assert value(after, "hilo_model_errors_total", **labels) - value(before, "hilo_model_errors_total", **labels) == 1
    failed = {"status": "failed", "assistant": "custom"}
    assert value(after, "hilo_runs_finished_total", **failed) - value(before, "hilo_runs_finished_total", **failed) == 1


def test_the_metrics_token_guards_the_route(database_factory, tmp_path):
    settings = make_settings(database_factory("sqlite"), tmp_path, metrics_token="scrape-me-please")
    with start_server(settings) as live:
        assert httpx.get(live.url + "/metrics").status_code == 401
        wrong = httpx.get(live.url + "/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        ok = httpx.get(live.url + "/metrics", headers={"authorization": "Bearer scrape-me-please"})
        assert ok.status_code == 200 and "# TYPE hilo_runs_finished_total counter" in ok.text


def test_metrics_can_be_switched_off(database_factory, tmp_path):
    with start_server(make_settings(database_factory("sqlite"), tmp_path, metrics=False)) as live:
        assert httpx.get(live.url + "/metrics").status_code == 404


def test_the_metrics_server_of_a_process_without_http():
    server = metrics.start_metrics_server(0, token="worker-token")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 401
        refused.value.close()
        metrics.set_queue("runs", 7, 1.5)
        request = urllib.request.Request(url, headers={"Authorization": "Bearer worker-token"})
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read().decode()
        found = samples(body)
        assert value(found, "hilo_queue_depth", queue="runs") == 7
        assert value(found, "hilo_queue_oldest_age_seconds", queue="runs") == 1.5
    finally:
        server.shutdown()
        server.server_close()


def test_serve_with_two_workers_exposes_the_sum_of_both(database_factory, tmp_path):
    """``hilo serve --workers 2`` (no PROMETHEUS_MULTIPROC_DIR set): every scrape, whichever
    worker answers it, counts the turns both workers ran."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HILO_", "PROMETHEUS_"))}
    env.update(HILO_DATABASE_URL=database_factory("sqlite"), HILO_DATA_DIR=str(tmp_path / "data"),
               HILO_LLM_PROVIDER="scripted", HILO_PACKS="none", HILO_PORT=str(port), HILO_LOG_LEVEL="warning",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hilo.cli", "serve", "--workers", "2"], env=env,
                                stdout=subprocess.DEVNULL, stderr=out, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "hilo serve --workers 2 did not start"
            time.sleep(0.2)
        turns = 12
        with OpenAI(base_url=url + "/v1", api_key="k", max_retries=0) as sdk:
            assistant = sdk.beta.assistants.create(model="scripted/echo")
            for i in range(turns):  # new connections: the kernel spreads them over both workers
                with OpenAI(base_url=url + "/v1", api_key="k", max_retries=0) as one:
                    run = one.beta.threads.create_and_run_poll(
                        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": f"hola {i}"}]},
                        poll_interval_ms=20)
                    assert run.status == "completed"
        seen = set()
        for _ in range(6):
            with httpx.Client() as fresh:
                snapshot = samples(fresh.get(url + "/metrics").text)
            seen.add(value(snapshot, "hilo_runs_finished_total", status="completed", assistant="custom"))
            assert value(snapshot, "hilo_model_calls_total", provider="scripted") == turns
        assert seen == {turns}
        assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_open_websockets_are_a_gauge(server, client: OpenAI):
    from websockets.sync.client import connect

    assistant = client.beta.assistants.create(model="scripted/ws-metrics")
    url = server.url.replace("http://", "ws://") + f"/ws/assistant/?assistant={assistant.id}"
    before = value(scrape(server.url), "hilo_websockets_open")
    with connect(url, open_timeout=10) as one, connect(url, open_timeout=10) as two:
        for ws in (one, two):
            ws.recv(timeout=10)  # the connection frame
        assert value(scrape(server.url), "hilo_websockets_open") == before + 2
    deadline = time.monotonic() + 10
    while value(scrape(server.url), "hilo_websockets_open") != before:
        assert time.monotonic() < deadline, "closed WebSockets still counted"
        time.sleep(0.05)
