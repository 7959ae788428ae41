"""A fast fake OpenAI chat-completions upstream for the benches, in its own process.

    python bench/fake_upstream.py --port P [--delay-ms D] [--impl asgi|fake_openai]

``--impl asgi`` (default): a plain ASGI app (no framework) on uvicorn (uvloop, httptools),
on a socket bound with ``IPPROTO_TCP`` + ``TCP_NODELAY`` (``bare_app.bind_socket``), HTTP/1.1
keep-alive (75 s). ``POST /v1/chat/completions`` echoes the last user message as
``"echo: <text>"``; with ``stream: true`` it answers as OpenAI does: SSE lines
``data: {chat.completion.chunk}`` (a role chunk, the text in up to ``CHUNKS`` word-sized
content chunks, a chunk with ``finish_reason``, a usage chunk when
``stream_options.include_usage``) and ``data: [DONE]``, chunked transfer encoding, each
chunk its own write. ``--delay-ms`` sleeps before each content chunk (default 0: answers at
once). ``GET /v1/models`` lists ``bench-model``; ``GET /stats`` counts the completions served.

``--impl fake_openai`` serves ``hilo.testing.fake_openai.FakeOpenAIServer`` instead (the
tests' ``http.server`` upstream, one thread per connection; it has no per-chunk delay), to
compare the two.

This module must not import hilo (except for ``--impl fake_openai``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
import uuid

import orjson

CHUNKS = 8
_WORD = re.compile(r"\s*\S+\s*|\s+")
STATS = {"completions": 0, "streamed": 0}


def split(text: str, chunks: int = CHUNKS) -> list[str]:
    """The text in at most ``chunks`` pieces, cut at word boundaries (concatenation = text)."""
    words = _WORD.findall(text) or [text]
    if len(words) <= chunks:
        return words
    per, extra = divmod(len(words), chunks)
    out, i = [], 0
    for k in range(chunks):
        n = per + (k < extra)
        out.append("".join(words[i:i + n]))
        i += n
    return out


def last_user_text(body: dict) -> str:
    text = ""
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
            text = content if isinstance(content, str) else ""
    return text


def usage(body: dict, text: str) -> dict:
    prompt = sum(len(str(m.get("content") or "").split()) + 3 for m in body.get("messages") or () if isinstance(m, dict))
    completion = max(1, len(text.split()))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def make_app(delay_s: float):
    json_headers = [(b"content-type", b"application/json")]
    sse_headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]

    async def respond_json(send, status: int, payload: dict) -> None:
        data = orjson.dumps(payload)
        await send({"type": "http.response.start", "status": status,
                    "headers": json_headers + [(b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/")
        if scope["method"] == "GET":
            if path in ("/v1/models", "/models"):
                return await respond_json(send, 200, {"object": "list", "data": [
                    {"id": "bench-model", "object": "model", "created": 0, "owned_by": "bench"}]})
            if path == "/stats":
                return await respond_json(send, 200, STATS)
            return await respond_json(send, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        chunks, more = [], True
        while more:
            event = await receive()
            chunks.append(event.get("body", b""))
            more = event.get("more_body", False)
        try:
            body = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            body = None
        if path not in ("/v1/chat/completions", "/chat/completions") or not isinstance(body, dict):
            return await respond_json(send, 400, {"error": {"message": "bad request", "type": "invalid_request_error"}})
        STATS["completions"] += 1
        text = "echo: " + last_user_text(body)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        model = body.get("model") or "bench-model"
        if not body.get("stream"):
            return await respond_json(send, 200, {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage(body, text)})
        STATS["streamed"] += 1
        head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_bench"}

        def event(choices: list, **extra) -> bytes:
            return b"data: " + orjson.dumps({**head, "choices": choices, **extra}) + b"\n\n"

        await send({"type": "http.response.start", "status": 200, "headers": sse_headers})
        await send({"type": "http.response.body", "more_body": True, "body": event(
            [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None,
              "finish_reason": None}])})
        for piece in split(text):
            if delay_s:
                await asyncio.sleep(delay_s)
            await send({"type": "http.response.body", "more_body": True, "body": event(
                [{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])})
        tail = event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            tail += event([], usage=usage(body, text))
        await send({"type": "http.response.body", "more_body": True, "body": tail})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    return app


def serve_asgi(host: str, port: int, delay_ms: float) -> None:
    import uvicorn

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bare_app import bind_socket  # the reference app's socket: IPPROTO_TCP + TCP_NODELAY

    config = uvicorn.Config(make_app(delay_ms / 1000), log_level="warning", timeout_keep_alive=75,
                            access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[bind_socket(host, port)])


def serve_fake_openai(host: str, port: int) -> None:
    from hilo.testing.fake_openai import FakeOpenAIServer

    server = FakeOpenAIServer(host=host, port=port, models=("bench-model",)).start()
    try:
        while True:
            time.sleep(5)
            server.reset()  # it records every request; keep memory flat during long loads
    except KeyboardInterrupt:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0, help="sleep before each content chunk (asgi only)")
    parser.add_argument("--impl", choices=["asgi", "fake_openai"], default="asgi")
    args = parser.parse_args()
    if args.impl == "asgi":
        serve_asgi(args.host, args.port, args.delay_ms)
    else:
        serve_fake_openai(args.host, args.port)


if __name__ == "__main__":
    main()
