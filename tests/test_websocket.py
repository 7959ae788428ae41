"""/ws/assistant/ over real sockets with the ``websockets`` client: seed 003's protocol,
streamed deltas, threads that survive reconnects, reset, bad frames, auth, heartbeats."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from contextlib import contextmanager

import httpx
import pytest
from openai import OpenAI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from hilo.providers import scripted
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings


@pytest.fixture(scope="module", params=BACKENDS)
def hilo(request, database_factory, tmp_path_factory):
    live = start_server(make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"),
                                      packs="none", ws_heartbeat_s=0.3))
    with OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0) as client:
        live.assistant = client.beta.assistants.create(model="scripted/ws", name="DIAN")
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def _clean_script():
    yield
    scripted.reset("ws")


def ws_url(server, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return server.url.replace("http://", "ws://") + "/ws/assistant/" + (f"?{query}" if query else "")


def recv(ws, timeout=10):
    return json.loads(ws.recv(timeout=timeout))


@contextmanager
def open_chat(server, **params):
    with connect(ws_url(server, assistant=server.assistant.id, **params), open_timeout=10) as ws:
        hello = recv(ws)
        assert hello["type"] == "connection", hello
        yield ws, hello


def ask(ws, text):
    """Send a message; returns (deltas, final frame)."""
    ws.send(json.dumps({"type": "message", "message": text}))
    deltas = []
    while True:
        frame = recv(ws)
        if frame["type"] == "delta":
            deltas.append(frame["message"])
        else:
            return deltas, frame


def test_seed_protocol_with_streamed_deltas(hilo):
    scripted.register("ws", [{"text": "Para llenar el formulario 210 necesitas tu RUT.", "chunks": 4}])
    with open_chat(hilo) as (ws, hello):
        assert hello["message"] == "Conectado al asistente virtual DIAN"
        assert hello["user"].startswith("ws-") and hello["assistant_id"] == hilo.assistant.id
        deltas, final = ask(ws, "¿Cómo lleno el formulario 210?")
        assert final["type"] == "response" and final["message"] == "Para llenar el formulario 210 necesitas tu RUT."
        assert len(deltas) == 4 and "".join(deltas) == final["message"]
        assert final["thread_id"].startswith("thread_") and final["run_id"].startswith("run_")


def test_thread_survives_reconnects_and_reset_starts_a_new_one(hilo):
    with open_chat(hilo) as (ws, hello):
        user = hello["user"]
        _, first = ask(ws, "me llamo Ana")
    with open_chat(hilo, user=user) as (ws, again):
        assert again["user"] == user
        _, second = ask(ws, "¿cómo me llamo?")
        assert second["thread_id"] == first["thread_id"]
        seen = [msg["content"] for msg in scripted.requests["ws"][-1].messages]
        assert "me llamo Ana" in seen and "echo: me llamo Ana" in seen
        ws.send(json.dumps({"type": "reset"}))
        reset = recv(ws)
        assert reset["type"] == "reset" and reset["message"] == "Conversación reiniciada"
        assert reset["thread_id"] != first["thread_id"]
        _, third = ask(ws, "¿sigues ahí?")
        assert third["thread_id"] == reset["thread_id"]
        assert "me llamo Ana" not in [msg["content"] for msg in scripted.requests["ws"][-1].messages]
    with open_chat(hilo) as (ws, other):  # someone else: another user, another thread
        assert other["user"] != user
        _, theirs = ask(ws, "hola")
        assert theirs["thread_id"] not in (first["thread_id"], third["thread_id"])


def test_malformed_frames_get_error_frames_and_the_connection_stays(hilo):
    with open_chat(hilo) as (ws, _):
        bad = ["no es json", "[1, 2]", "42", json.dumps({"type": "bailar"}), json.dumps({"message": "sin tipo"}),
               json.dumps({"type": "message"}), json.dumps({"type": "message", "message": "   "}),
               json.dumps({"type": "message", "message": ["lista"]}),
               json.dumps({"type": "message", "message": "x" * 4001})]
        for frame in bad:
            ws.send(frame)
            reply = recv(ws)
            assert reply["type"] == "error" and reply["message"], (frame, reply)
        ws.send(b"\xff\xfe binary")
        assert recv(ws)["type"] == "error"
        ws.send(json.dumps({"type": "ping"}))
        assert recv(ws)["type"] == "pong"
        _, final = ask(ws, "¿sigues ahí?")
        assert final == {**final, "type": "response", "message": "echo: ¿sigues ahí?"}


def test_messages_sent_while_a_reply_streams_are_answered_in_order(hilo):
    scripted.register("ws", [{"text": "primera", "delay": 0.3}, {"text": "segunda"}])
    with open_chat(hilo) as (ws, _):
        ws.send(json.dumps({"type": "message", "message": "uno"}))
        ws.send(json.dumps({"type": "message", "message": "dos"}))
        answers = []
        while len(answers) < 2:
            frame = recv(ws)
            if frame["type"] == "response":
                answers.append(frame["message"])
        assert answers == ["primera", "segunda"]


def test_model_failure_is_an_error_frame(hilo):
    scripted.register("ws", [{"error": "upstream down"}])
    with open_chat(hilo) as (ws, _):
        _, final = ask(ws, "hola")
        assert final["type"] == "error" and final["message"]
        _, ok = ask(ws, "¿y ahora?")
        assert ok["type"] == "response"


def test_unknown_or_missing_assistant_closes_with_a_clear_error(hilo):
    with connect(ws_url(hilo, assistant="asst_nope"), open_timeout=10) as ws:
        frame = recv(ws)
        assert frame["type"] == "error" and "asst_nope" in frame["message"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1008
    with connect(ws_url(hilo), open_timeout=10) as ws:  # no ?assistant=, no HILO_WS_ASSISTANT, no packs
        frame = recv(ws)
        assert frame["type"] == "error" and "HILO_WS_ASSISTANT" in frame["message"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1011


def test_health_counts_connections(hilo):
    def count():
        return httpx.get(hilo.url + "/").json()["channels"]["websocket"]["connections"]

    base = count()
    with open_chat(hilo), open_chat(hilo):
        assert count() == base + 2
    deadline = time.monotonic() + 5
    while count() != base:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_server_sends_ping_frames(hilo):
    """A raw socket: the handshake by hand, then a ping frame (opcode 0x9) within the heartbeat."""
    sock = socket.create_connection(("127.0.0.1", hilo.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws/assistant/?assistant={hilo.assistant.id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    assert data.startswith(b"HTTP/1.1 101")
    buffer = data.split(b"\r\n\r\n", 1)[1]
    opcodes = []
    deadline = time.monotonic() + 3
    while 0x9 not in opcodes and time.monotonic() < deadline:
        while len(buffer) >= 2:
            length = buffer[1] & 0x7F
            header = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            if length >= 126:
                if len(buffer) < header:
                    break
                length = int.from_bytes(buffer[2:header], "big")
            if len(buffer) < header + length:
                break
            opcodes.append(buffer[0] & 0x0F)
            buffer = buffer[header + length:]
        if 0x9 not in opcodes:
            buffer += sock.recv(4096)
    sock.close()
    assert opcodes[0] == 0x1 and 0x9 in opcodes  # the connection frame, then a ping


@pytest.fixture(scope="module")
def secured(database_factory, tmp_path_factory):
    live = start_server(make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"), packs="none",
                                      auth="on", admin_token="adm"))
    headers = {"authorization": "Bearer adm"}
    live.assistant = httpx.post(live.url + "/v1/assistants", headers=headers, json={"model": "scripted/ws",
                                "name": "DIAN"}).json()
    premium = httpx.post(live.url + "/v1/assistants", headers=headers, json={
        "model": "scripted/ws", "name": "Premium", "metadata": {"hilo_requires": "premium"}}).json()
    live.premium = premium
    key = httpx.post(live.url + "/admin/keys", headers=headers, json={"user": "ana"}).json()
    live.key = key["secret"]
    live.user_id = key["user_id"]
    yield live
    live.stop()


def test_auth_by_query_token_header_or_first_frame(secured):
    aid = secured.assistant["id"]
    with connect(ws_url(secured, assistant=aid, token=secured.key), open_timeout=10) as ws:
        hello = recv(ws)
        assert hello["type"] == "connection" and hello["user"] == secured.user_id
        _, first = ask(ws, "hola")
    with connect(ws_url(secured, assistant=aid), additional_headers={"Authorization": f"Bearer {secured.key}"},
                 open_timeout=10) as ws:
        assert recv(ws)["type"] == "connection"
        _, second = ask(ws, "otra vez")
        assert second["thread_id"] == first["thread_id"]  # the key's user keeps its thread
    with connect(ws_url(secured, assistant=aid), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": secured.key}))
        assert recv(ws)["type"] == "connection"
        _, third = ask(ws, "y otra")
        assert third["thread_id"] == first["thread_id"]


def test_bad_or_missing_tokens_close_the_socket(secured):
    aid = secured.assistant["id"]
    for url, first in [(ws_url(secured, assistant=aid, token="hilo_sk_wrong"), None),
                       (ws_url(secured, assistant=aid), json.dumps({"type": "message", "message": "hola"})),
                       (ws_url(secured, assistant=aid), "no json")]:
        with connect(url, open_timeout=10) as ws:
            if first:
                ws.send(first)
            frame = recv(ws)
            assert frame["type"] == "error" and ("No autorizado" in frame["message"] or "Autenticación" in frame["message"])
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd.code == 1008


def test_entitlements_are_checked_on_connect(secured):
    with connect(ws_url(secured, assistant=secured.premium["id"], token=secured.key), open_timeout=10) as ws:
        frame = recv(ws)
        assert frame["type"] == "error" and "premium" in frame["message"]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
