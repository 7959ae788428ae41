"""Expiry, restart recovery and the CLI: each test owns its server."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from openai import OpenAI

from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings


@pytest.fixture(params=BACKENDS)
def db_url(request, database_factory):
    return database_factory(request.param)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sdk(live):
    return OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0)


def test_run_expires(db_url, tmp_path, script):
    model, queue = script
    queue({"delay": 10, "text": "too late"})
    with start_server(make_settings(db_url, tmp_path, run_timeout=1)) as live:
        client = sdk(live)
        a = client.beta.assistants.create(model=model)
        t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=50)
        assert run.status == "expired"
        assert "expired" in run.last_error.message
        # a run waiting for tool outputs expires too (the sweeper)
        queue({"tool_calls": [{"name": "f", "arguments": {}}]})
        a2 = client.beta.assistants.create(model=model, tools=[{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {}}}}])
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a2.id, poll_interval_ms=20)
        assert run.status == "requires_action"
        # expires_at is a whole second rounded up, and the sweeper looks once a second
        deadline = time.monotonic() + 6
        while client.beta.threads.runs.retrieve(run.id, thread_id=t.id).status != "expired":
            assert time.monotonic() < deadline, "the run waiting for tool outputs never expired"
            time.sleep(0.1)
        client.beta.threads.messages.create(thread_id=t.id, role="user", content="thread is free")


def _serve(env, port):
    proc = subprocess.Popen([sys.executable, "-m", "hilo.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return _wait(proc, port)


def _wait(proc, port):
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)


def test_restart_recovers_runs_left_in_progress(db_url, tmp_path):
    """SIGKILL the server mid-run: the next start fails that run clearly and frees the thread."""
    script = tmp_path / "script.json"
    script.write_text('{"slow": [{"delay": 60, "text": "never"}]}')
    env = {**os.environ, "HILO_DATABASE_URL": db_url, "HILO_DATA_DIR": str(tmp_path / "data"),
           "HILO_LLM_PROVIDER": "scripted", "HILO_SCRIPTED_FILE": str(script)}
    port = _free_port()
    proc = _serve(env, port)
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        a = client.beta.assistants.create(model="scripted/slow")
        t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
        run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
        for _ in range(200):
            if client.beta.threads.runs.retrieve(run.id, thread_id=t.id).status == "in_progress":
                break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    script.write_text("{}")
    proc = _serve(env, port)
    try:
        r = client.beta.threads.runs.retrieve(run.id, thread_id=t.id)
        assert r.status == "failed" and "restarted" in r.last_error.message
        r2 = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
        assert r2.status == "completed"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.stdout.close()


def test_graceful_shutdown_fails_running_runs(db_url, tmp_path, script):
    model, queue = script
    queue({"delay": 30, "text": "never"})
    settings = make_settings(db_url, tmp_path)
    live = start_server(settings)
    client = sdk(live)
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    time.sleep(0.3)
    live.stop()
    with start_server(settings) as live2:
        r = sdk(live2).beta.threads.runs.retrieve(run.id, thread_id=t.id)
        assert r.status == "failed" and "shut down" in r.last_error.message


def _serve_workers(env, port):
    proc = subprocess.Popen([sys.executable, "-m", "hilo.cli", "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return _wait(proc, port)


def test_cli(tmp_path):
    env = {**os.environ, "HILO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
           "HILO_DATA_DIR": str(tmp_path / "data"), "HILO_LLM_PROVIDER": "scripted"}
    out = subprocess.run([sys.executable, "-m", "hilo.cli", "version"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip()
    out = subprocess.run([sys.executable, "-m", "hilo.cli", "migrate"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "revision" in out.stdout
    port = _free_port()
    proc = _serve_workers(env, port)
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        a = client.beta.assistants.create(model="bench")
        t = client.beta.threads.create(messages=[{"role": "user", "content": "hola"}])
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
        assert run.status == "completed"
        # keep-alive requests are not delayed by Nagle on the multi-worker socket
        with httpx.Client() as http:
            http.get(f"http://127.0.0.1:{port}/health")
            start = time.perf_counter()
            for _ in range(10):
                http.get(f"http://127.0.0.1:{port}/health")
            assert (time.perf_counter() - start) / 10 < 0.03
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.stdout.close()
