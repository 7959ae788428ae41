"""A real local HTTP server that speaks OpenAI's chat-completions protocol.

Tests and benchmarks point hilo (or the ``openai`` SDK) at it instead of the internet::

    with FakeOpenAIServer() as server:
        server.queue({"text": "hola"})
        server.queue({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Bogotá"}}]})
        client = OpenAI(base_url=server.base_url, api_key="x")
        ...
        assert server.requests[0]["messages"][-1]["content"] == "..."

Each ``POST /v1/chat/completions`` consumes one queued *turn* (a dict):

``text``
    the assistant's text, streamed in word-sized deltas (or ``chunk_size`` characters).
``tool_calls``
    ``[{"name": ..., "arguments": dict | str, "id"?: ...}, ...]``; several are parallel
    calls. Ids ``call_...`` are generated when absent.
``status`` / ``body`` / ``headers``
    answer with that HTTP status and JSON body (OpenAI's error shape by default) instead.
``delay``
    seconds to wait before answering (a client timeout shorter than this fires).
``chunk_size``
    characters per text delta (and per tool-argument fragment).
``finish_reason`` / ``usage``
    override the computed ones (``usage`` = ``{"prompt_tokens", "completion_tokens"}``).
``abort_after``
    stream only this many chunks, then drop the connection (a mid-stream failure).

``POST /v1/embeddings`` answers at once, deterministically and without a model: each input's
words (lower-cased runs of word characters) are hashed into ``embedding_dim`` signed buckets (the request's
``dimensions`` when given) and the vector is normalised, so texts sharing words are near;
``encoding_format`` ``"float"`` or ``"base64"`` as OpenAI answers them.

With an empty queue the server answers at once by echoing the last user message as
``"echo: <text>"``, which is what benchmarks rely on; or, when :attr:`FakeOpenAIServer.responder`
is set, with the turn that function returns for the request body (a model that reads its prompt). Every chat-completions request body is
recorded in :attr:`FakeOpenAIServer.requests`; every request (method, path, headers with
lower-case names, body) in :attr:`FakeOpenAIServer.log`.

The server is ``http.server`` with one thread per connection, HTTP/1.1 keep-alive and
``TCP_NODELAY`` set (without it each response on a reused connection waits ~44 ms for
Nagle's algorithm, which would show up in benchmarks as hilo's latency). Streams use chunked
transfer encoding so that connections are reused.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from hilo.testing.http import QuietHandler, QuietServer

__all__ = ["FakeOpenAIServer"]

_WORD = re.compile(r"\s*\S+\s*|\s+")

_DEFAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", None, "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "Not found."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def _error_body(status: int, message: str | None = None) -> dict[str, Any]:
    etype, code, default = _DEFAULT_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "Error.")
    )
    return {"error": {"message": message or default, "type": etype, "param": None, "code": code}}


def _message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def _split_text(text: str, chunk_size: int | None) -> list[str]:
    if not text:
        return []
    if chunk_size and chunk_size > 0:
        return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    return _WORD.findall(text)


class _Server(QuietServer):
    owner: FakeOpenAIServer


class _Handler(QuietHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    # -- plumbing ---------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        key = self.server.owner.api_key
        if key is None:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self._send_json(401, _error_body(401))
        return False

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    # -- routes -----------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        owner = self.server.owner
        owner._log("GET", self.path, dict(self.headers), None)
        if not self._authorized():
            return
        if self._path() in ("/v1/models", "/models"):
            created = int(owner.started_at)
            data = [
                {"id": m, "object": "model", "created": created, "owned_by": "hilo-fake"}
                for m in owner.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, _error_body(404, f"Unknown path {self._path()}"))

    def do_POST(self) -> None:  # noqa: N802
        owner = self.server.owner
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        owner._log("POST", self.path, dict(self.headers), body)
        if not self._authorized():
            return
        if self._path() in ("/v1/embeddings", "/embeddings"):
            self._embeddings(body)
            return
        if self._path() not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, _error_body(404, f"Unknown path {self._path()}"))
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_json(400, _error_body(400, "'messages' is a required property."))
            return
        turn = owner._take(body)
        delay = float(turn.get("delay") or 0)
        if delay > 0 and owner._stopping.wait(delay):
            return
        try:
            if "status" in turn:
                status = int(turn["status"])
                payload = turn.get("body")
                if payload is None:
                    payload = _error_body(status)
                self._send_json(status, payload, turn.get("headers"))
            elif body.get("stream"):
                self._stream(body, turn)
            else:
                self._complete(body, turn)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. timeout)
            self.close_connection = True

    # -- answers ----------------------------------------------------------------------------

    def _embeddings(self, body: Any) -> None:
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
            self._send_json(400, _error_body(400, "'input' must be a non-empty string or array of them."))
            return
        dim = int(body.get("dimensions") or self.server.owner.embedding_dim)
        data = []
        for index, text in enumerate(inputs):
            vector = _hashed_vector(text, dim)
            if body.get("encoding_format") == "base64":
                embedding: Any = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(t.split()) for t in inputs)
        self._send_json(200, {"object": "list", "data": data, "model": body.get("model") or "fake-embedding",
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @staticmethod
    def _tool_calls(turn: dict[str, Any]) -> list[dict[str, Any]]:
        calls = []
        for call in turn.get("tool_calls") or []:
            args = call.get("arguments", {})
            if not isinstance(args, str):
                args = json.dumps(args, ensure_ascii=False)
            calls.append(
                {
                    "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": args},
                }
            )
        return calls

    @staticmethod
    def _usage(body: dict[str, Any], turn: dict[str, Any], text: str, calls: list) -> dict:
        if turn.get("usage"):
            prompt = int(turn["usage"].get("prompt_tokens", 0))
            completion = int(turn["usage"].get("completion_tokens", 0))
        else:
            prompt = sum(
                len(_message_text(m.get("content")).split()) + 3
                for m in body.get("messages", [])
                if isinstance(m, dict)
            )
            completion = len(text.split()) + sum(
                max(1, len(c["function"]["arguments"]) // 4) for c in calls
            )
            completion = max(1, completion)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    @staticmethod
    def _content(body: dict[str, Any], turn: dict[str, Any]) -> str:
        if "text" in turn or "tool_calls" in turn:
            return str(turn.get("text") or "")
        last_user = ""
        for message in body.get("messages", []):
            if isinstance(message, dict) and message.get("role") == "user":
                last_user = _message_text(message.get("content"))
        return f"echo: {last_user}"

    def _complete(self, body: dict[str, Any], turn: dict[str, Any]) -> None:
        text = self._content(body, turn)
        calls = self._tool_calls(turn)
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        finish = turn.get("finish_reason") or ("tool_calls" if calls else "stop")
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or "fake-model",
                "system_fingerprint": "fp_hilo_fake",
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": self._usage(body, turn, text, calls),
            },
        )

    def _stream(self, body: dict[str, Any], turn: dict[str, Any]) -> None:
        text = self._content(body, turn)
        calls = self._tool_calls(turn)
        chunk_size = turn.get("chunk_size")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        finish = turn.get("finish_reason") or ("tool_calls" if calls else "stop")
        abort_after = turn.get("abort_after")
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or "fake-model",
            "system_fingerprint": "fp_hilo_fake",
        }

        deltas: list[tuple[dict[str, Any], str | None]] = [
            ({"role": "assistant", "content": "", "refusal": None}, None)
        ]
        deltas += [({"content": piece}, None) for piece in _split_text(text, chunk_size)]
        for index, call in enumerate(calls):
            first = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            deltas.append(({"tool_calls": [first]}, None))
            for piece in _split_text(call["function"]["arguments"], chunk_size or 10):
                deltas.append(
                    ({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None)
                )
        deltas.append(({}, finish))

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        sent = 0
        for delta, reason in deltas:
            if abort_after is not None and sent >= int(abort_after):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            chunk = dict(base)
            chunk["choices"] = [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            ]
            if include_usage:
                chunk["usage"] = None
            self._event(chunk)
            sent += 1
        if include_usage:
            chunk = dict(base)
            chunk["choices"] = []
            chunk["usage"] = self._usage(body, turn, text, calls)
            self._event(chunk)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _event(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        self._write_chunk(f"data: {data}\n\n".encode())

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _hashed_vector(text: str, dim: int) -> list[float]:
    """A unit vector of ``text``'s words hashed into ``dim`` signed buckets (no words: e0)."""
    vector = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        vector[digest % dim] += 1.0 if (digest >> 63) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


class FakeOpenAIServer:
    """A scripted OpenAI chat-completions server on ``127.0.0.1`` and a free port.

    ``api_key``: when given, requests without ``Authorization: Bearer <api_key>`` get a 401
    in OpenAI's error shape. ``models``: the ids ``GET /v1/models`` lists. ``embedding_dim``:
    the width of ``/v1/embeddings`` vectors.
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        models: tuple[str, ...] | list[str] = ("fake-model",),
        embedding_dim: int = 64,
    ) -> None:
        self.api_key = api_key
        self.embedding_dim = int(embedding_dim)
        self.host = host
        self.port = port
        self.models = list(models)
        self.requests: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.started_at = time.time()
        self._turns: deque[dict[str, Any]] = deque()
        self.responder: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Server((self.host, self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fake-openai-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:  # end keep-alive connections so no thread serves after stop
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- script -------------------------------------------------------------------------------

    def queue(self, *turns: dict[str, Any]) -> None:
        """Append turns; each chat-completions request consumes the oldest one."""
        with self._lock:
            self._turns.extend(copy.deepcopy(list(turns)))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._turns)

    def reset(self) -> None:
        """Forget queued turns and recorded requests."""
        with self._lock:
            self._turns.clear()
            self.requests.clear()
            self.log.clear()

    # -- used by the handler ------------------------------------------------------------------

    def _take(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(copy.deepcopy(body))
            if self._turns:
                return self._turns.popleft()
            responder = self.responder
        return responder(body) if responder is not None else {}

    def _log(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        with self._lock:
            headers = {key.lower(): value for key, value in headers.items()}
            self.log.append({"method": method, "path": path, "headers": headers, "body": body})

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
