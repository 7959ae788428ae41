"""A cancel that reaches a process not executing the run still ends it ``cancelled``, promptly.

Real processes: two `hilo serve` replicas sharing one database (the run starts on one, the
cancel goes to the other), and `hilo serve --workers 2` with every cancel on a new connection
(the issue's case: two of six runs stayed `cancelling` for 15 s, then ended `expired`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from hilo.migrations import upgrade
from tests.conftest import BACKENDS
from tests.test_lifecycle import _free_port, _wait

# Each answer streams for 4 s: 40 pieces, 0.1 s apart.
SLOW = {"text": " ".join(f"palabra{i}" for i in range(40)), "chunks": 40, "chunk_delay": 0.1}
PROMPT_S = 2.0  # a cancel must end the run within this (the answer would take 4 s)


@pytest.fixture(params=BACKENDS)
def env(request, database_factory, tmp_path):
    url = database_factory(request.param)
    upgrade(url)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"slow": [SLOW] * 30}))
    return {**os.environ, "HILO_DATABASE_URL": url, "HILO_DATA_DIR": str(tmp_path / "data"),
            "HILO_LLM_PROVIDER": "scripted", "HILO_SCRIPTED_FILE": str(script), "HILO_PACKS": "none",
            "HILO_LOG_LEVEL": "warning", "HILO_RUN_TIMEOUT": "30", "HILO_LLM_BASE_URL": "", "HILO_LLM_API_KEY": ""}


def _serve(env, *args):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hilo.cli", "serve", "--port", str(port), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait(proc, port)
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # never block on a full pipe
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


class Stream(threading.Thread):
    """A streamed turn read to its end; ``first_delta`` is set once the answer is flowing."""

    def __init__(self, base: str, assistant: str):
        super().__init__(daemon=True)
        self.base, self.assistant = base, assistant
        self.first_delta = threading.Event()
        self.thread_id = self.run_id = None
        self.events: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            self.thread_id = http.post("/v1/threads", json={}).json()["id"]
            body = {"assistant_id": self.assistant, "stream": True,
                    "additional_messages": [{"role": "user", "content": "cuéntame algo largo"}]}
            with http.stream("POST", f"/v1/threads/{self.thread_id}/runs", json=body) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        self.events.append(line[7:])
                    elif line.startswith("data: {") and self.run_id is None and '"thread.run"' in line:
                        self.run_id = json.loads(line[6:])["id"]
                    if self.events and self.events[-1] == "thread.message.delta":
                        self.first_delta.set()


def _cancel_and_wait(base: str, stream: Stream) -> tuple[str, float]:
    """Cancel on a new connection; (the final status, seconds it took)."""
    assert stream.first_delta.wait(10), stream.events
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=10, headers={"connection": "close"}) as http:
        answer = http.post(f"/v1/threads/{stream.thread_id}/runs/{stream.run_id}/cancel")
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] in ("cancelling", "cancelled")
        while True:
            status = http.get(f"/v1/threads/{stream.thread_id}/runs/{stream.run_id}").json()["status"]
            if status not in ("cancelling", "in_progress", "queued"):
                return status, time.monotonic() - started
            if time.monotonic() - started > 10:
                return status, time.monotonic() - started
            time.sleep(0.05)


def test_a_cancel_sent_to_another_replica(env):
    (a, base_a), (b, base_b) = _serve(env), _serve(env)
    try:
        assistant = httpx.post(base_a + "/v1/assistants", json={"model": "scripted/slow"}).json()["id"]
        for _ in range(2):
            stream = Stream(base_a, assistant)
            stream.start()
            status, took = _cancel_and_wait(base_b, stream)  # B does not execute it
            assert status == "cancelled" and took < PROMPT_S, (status, took)
            stream.join(10)
            assert stream.events[-2:] == ["thread.run.cancelled", "done"], stream.events[-4:]
        # the thread is free again: the next turn on it completes
        with httpx.Client(base_url=base_b, timeout=30) as http:
            run = http.post(f"/v1/threads/{stream.thread_id}/runs",
                            json={"assistant_id": assistant, "model": "scripted/quick"}).json()
            deadline = time.monotonic() + 10
            while run["status"] in ("queued", "in_progress"):
                assert time.monotonic() < deadline
                time.sleep(0.05)
                run = http.get(f"/v1/threads/{stream.thread_id}/runs/{run['id']}").json()
            assert run["status"] == "completed"
    finally:
        _stop(a)
        _stop(b)


def test_cancels_on_new_connections_with_two_workers(env):
    proc, base = _serve(env, "--workers", "2")
    try:
        assistant = httpx.post(base + "/v1/assistants", json={"model": "scripted/slow"}).json()["id"]
        streams = [Stream(base, assistant) for _ in range(6)]
        for stream in streams:
            stream.start()
        results = [_cancel_and_wait(base, stream) for stream in streams]
        assert all(status == "cancelled" and took < PROMPT_S for status, took in results), results
        for stream in streams:
            stream.join(10)
            assert "thread.run.cancelled" in stream.events, stream.events[-4:]
    finally:
        _stop(proc)
