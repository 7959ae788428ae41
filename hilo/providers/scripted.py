"""A test double that replays scripted turns: text, tool calls, delays and errors.

Select it with a model name ``scripted/<script>``. Scripts are registered in-process
(:func:`register`) or loaded from a JSON file (``HILO_SCRIPTED_FILE``: ``{"<script>":
[turn, ...]}``). A turn is a dict::

    {"text": "Hola", "chunks": 3}                      # streamed in 3 deltas
    {"tool_calls": [{"name": "f", "arguments": {...}}]}  # several = parallel calls
    {"delay": 0.5}                                      # seconds before answering
    {"error": "boom", "code": "server_error"}           # the provider fails
    {"finish": "length"}                                # finish reason override
    {"text": "Dato {marker}.", "cite": 0}               # {marker}: the marker of result 0 of the
                                                        # last tool output (file_search)

With no turn left, the script echoes the last user message (``echo: ...``) at zero
latency: the benchmark's model.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hilo.kit.ids import new_id
from hilo.providers.base import (
    Finish,
    ModelEvent,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCallDelta,
)

_lock = threading.Lock()
_scripts: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
requests: dict[str, list[ModelRequest]] = defaultdict(list)


def register(script: str, turns: list[dict[str, Any]]) -> None:
    """Queue turns for ``scripted/<script>`` (appends to what is already queued)."""
    with _lock:
        _scripts[script].extend(turns)


def reset(script: str | None = None) -> None:
    with _lock:
        if script is None:
            _scripts.clear()
            requests.clear()
        else:
            _scripts.pop(script, None)
            requests.pop(script, None)


def load_file(path: Path) -> None:
    for script, turns in json.loads(Path(path).read_text()).items():
        register(script, turns)


def _last_user_text(request: ModelRequest) -> str:
    for msg in reversed(request.messages):
        if msg["role"] == "user":
            content = msg["content"]
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


def _marker(request: ModelRequest, index: int) -> str:
    """The citation marker of result ``index`` in the newest tool output that lists results."""
    for msg in reversed(request.messages):
        if msg.get("role") == "tool":
            try:
                results = json.loads(msg.get("content") or "{}").get("results") or []
            except (ValueError, AttributeError):
                continue
            if len(results) > index:
                return str(results[index].get("marker", ""))
    return ""


def _split(text: str, chunks: int) -> list[str]:
    if chunks <= 1 or len(text) <= 1:
        return [text]
    size = max(1, -(-len(text) // chunks))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _estimate(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedProvider:
    name = "scripted"
    supports_images = True
    context_tokens = 8192

    def __init__(self, file: Path | None = None):
        if file:
            load_file(file)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        script = request.model.split("/", 1)[1] if "/" in request.model else request.model
        with _lock:
            requests[script].append(request)
            turn = _scripts[script].popleft() if _scripts.get(script) else None
        prompt_tokens = sum(_estimate(m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]))
                            for m in request.messages if m.get("content"))
        if turn is None:
            text = "echo: " + _last_user_text(request)
            yield TextDelta(text)
            yield Finish("stop", prompt_tokens, _estimate(text))
            return
        if turn.get("delay"):
            await asyncio.sleep(turn["delay"])
        if turn.get("error"):
            raise ProviderError(turn["error"], code=turn.get("code", "server_error"))
        completion = 0
        text = turn.get("text")
        if text and "cite" in turn:
            text = text.replace("{marker}", _marker(request, int(turn["cite"])))
        if text:
            for piece in _split(text, int(turn.get("chunks", 1))):
                yield TextDelta(piece)
                if turn.get("chunk_delay"):
                    await asyncio.sleep(turn["chunk_delay"])
            completion += _estimate(text)
        calls = turn.get("tool_calls") or []
        for index, call in enumerate(calls):
            args = call.get("arguments", {})
            args = args if isinstance(args, str) else json.dumps(args)
            yield ToolCallDelta(index, call.get("id") or new_id("call"), call["name"], "")
            half = len(args) // 2
            yield ToolCallDelta(index, arguments=args[:half])
            yield ToolCallDelta(index, arguments=args[half:])
            completion += _estimate(args)
        reason = turn.get("finish") or ("tool_calls" if calls else "stop")
        yield Finish(reason, prompt_tokens, completion)

    async def check(self) -> tuple[bool, str]:
        return True, "scripted test double"

    async def aclose(self) -> None:
        return None
