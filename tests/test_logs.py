"""Logs: HILO_LOG_FORMAT=json lines with request/thread/run ids, X-Request-ID, no secrets or bodies."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from openai import OpenAI
from websockets.sync.client import connect

from hilo.kit.net import bind_socket
from hilo.kit.observe import logs
from hilo.kit.observe.asgi import request_id
from hilo.testing.server import start_server
from tests.conftest import make_settings

ADMIN = "admin-token-do-not-log-4821"
SECRET_TEXT = "zanahoria-violeta-contraseña-9137"  # a message body nobody may log


@contextmanager
def serve(tmp_path: Path, database_url: str, **env_extra: str):
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HILO_", "PROMETHEUS_"))}
    env.update(HILO_DATABASE_URL=database_url, HILO_DATA_DIR=str(tmp_path / "data"), HILO_LLM_PROVIDER="scripted",
               HILO_PACKS="none", HILO_PORT=str(port), HILO_LOG_LEVEL="info", HILO_AUTH="on", HILO_ADMIN_TOKEN=ADMIN,
               PYTHONPATH=str(Path(__file__).resolve().parents[1]), **env_extra)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hilo.cli", "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
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
            assert time.monotonic() < deadline, "hilo serve did not start"
            time.sleep(0.2)
        yield url, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def a_turn_and_a_websocket_chat(url: str, rid: str) -> tuple[str, str, str]:
    admin = {"authorization": f"Bearer {ADMIN}"}
    key = httpx.post(url + "/admin/keys", headers=admin, json={"user": "ana"}).json()["secret"]
    assistant = httpx.post(url + "/v1/assistants", headers=admin, json={"model": "scripted/logs"}).json()
    with OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, default_headers={"X-Request-ID": rid}) as sdk:
        thread = sdk.beta.threads.create(messages=[{"role": "user", "content": SECRET_TEXT}])
        with sdk.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant["id"]) as stream:
            stream.until_done()
            run = stream.get_final_run()
        assert run.status == "completed"
    ws = url.replace("http://", "ws://") + f"/ws/assistant/?assistant={assistant['id']}&token={key}"
    with connect(ws, open_timeout=10) as sock:
        assert json.loads(sock.recv(timeout=10))["type"] == "connection"
        sock.send(json.dumps({"type": "message", "message": SECRET_TEXT}))
        while json.loads(sock.recv(timeout=10))["type"] != "response":
            pass
    return key, thread.id, run.id


def test_json_lines_carry_the_ids_and_no_secret_or_message(database_factory, tmp_path):
    rid = "req-test-0042"
    with serve(tmp_path, database_factory("sqlite"), HILO_LOG_FORMAT="json") as (url, log):
        key, thread_id, run_id = a_turn_and_a_websocket_chat(url, rid)
        echoed = httpx.get(url + "/health", headers={"X-Request-ID": "mine.1:2-3"})
        assert echoed.headers["x-request-id"] == "mine.1:2-3"
        time.sleep(0.3)  # the last access lines
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"] == "hilo" and "ready" in line["message"] for line in lines)
    # the streamed run's request: its access line names the request, the thread and the run
    mine = [line for line in lines if line.get("request_id") == rid]
    assert any(line.get("run_id") == run_id and line.get("thread_id") == thread_id
               and line["logger"] == "uvicorn.access" for line in mine), mine
    # uvicorn logs the WebSocket's path with its query: the token in it is masked
    assert any(line["message"].find("token=***") >= 0 for line in lines), text
    for secret in (key, ADMIN, SECRET_TEXT):
        assert secret not in text


def test_text_stays_the_default_format(database_factory, tmp_path):
    with serve(tmp_path, database_factory("sqlite")) as (url, log):
        assert httpx.get(url + "/health").status_code == 200
        time.sleep(0.3)
    text = log.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO hilo: hilo .* ready", text, re.M), text
    assert '"GET /health HTTP/1.1" 200' in text
    assert not text.lstrip().startswith("{")


def test_request_ids_are_kept_only_when_sane(database_factory, tmp_path):
    with start_server(make_settings(database_factory("sqlite"), tmp_path)) as live:
        made = httpx.get(live.url + "/health").headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{24}", made)
        assert httpx.get(live.url + "/health").headers["x-request-id"] != made
        for bad in ("a b", "x" * 129, "ünï", "a\tb", ""):
            got = httpx.get(live.url + "/health", headers={"X-Request-ID": bad.encode("utf-8")}).headers["x-request-id"]
            assert got != bad and re.fullmatch(r"[0-9a-f]{24}", got), (bad, got)
        ok = "x" * 128
        assert httpx.get(live.url + "/health", headers={"X-Request-ID": ok}).headers["x-request-id"] == ok
        # an error response carries it too (the body cap answers before any route)
        big = httpx.post(live.url + "/v1/threads", content=b"x" * (33 * 1024 * 1024),
                         headers={"content-type": "application/json", "X-Request-ID": "big-1"})
        assert big.status_code == 413 and big.headers["x-request-id"] == "big-1"
    assert request_id([(b"x-request-id", b"ok-1")]) == "ok-1"


def test_the_formatter_and_the_redaction():
    record = logging.LogRecord("hilo.engine", logging.INFO, __file__, 1, "run %s done", ("run_1",), None)
    token = logs.RUN_ID.set("run_1")
    try:
        line = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.RUN_ID.reset(token)
    assert line["level"] == "info" and line["logger"] == "hilo.engine" and line["message"] == "run run_1 done"
    assert line["run_id"] == "run_1" and "request_id" not in line
    assert logs.redact('GET /ws/assistant/?assistant=a&token=sk-123 "Bearer abc.def"') == \
        'GET /ws/assistant/?assistant=a&token=*** "Bearer ***"'
    assert logs.redact("hub.verify_token=xyz&api_key=k1") == "hub.verify_token=***&api_key=***"
