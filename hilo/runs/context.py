"""What a run sends to the model: instructions, the kept history, this run's tool calls.

Pure: the engine reads the rows (through the run store's history cache, newest first and only
as deep as ``truncation_strategy`` and ``HILO_CONTEXT_MAX_MESSAGES`` allow), this run's tool
steps and its image files, and :func:`build` keeps what fits: the token budget
(``max_prompt_tokens`` and the model's context window minus the completion reserve) drops the
oldest turns first; this run's tool exchanges always stay.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hilo.providers.base import ChatMessage
from hilo.runs.history import MESSAGE_OVERHEAD, Row, text_tokens

IMAGE_TOKENS = 255  # a rough, deliberately generous figure per image part


def estimate_tokens(value: Any) -> int:
    """~4 characters per token; good enough for budgeting, never for billing."""
    if value is None:
        return 0
    if isinstance(value, str):
        return text_tokens(value)
    if isinstance(value, list):
        total = 0
        for part in value:
            if part.get("type") == "text":
                total += text_tokens(part.get("text", ""))
            else:
                total += IMAGE_TOKENS
        return total
    return len(json.dumps(value)) // 4 + 1


def message_tokens(msg: ChatMessage) -> int:
    total = MESSAGE_OVERHEAD + estimate_tokens(msg.get("content"))
    if msg.get("tool_calls"):
        total += estimate_tokens(msg["tool_calls"])
    return total


class PromptTooLong(Exception):
    """Even the newest message does not fit ``max_prompt_tokens``."""


@dataclass(slots=True)
class Context:
    messages: list[ChatMessage]
    prompt_tokens: int


def _image_file_url(files_dir: Path, file_id: str) -> str | None:
    path = files_dir / file_id
    if not path.is_file():
        return None
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def chat_content(content: list[dict[str, Any]], images: bool, files: Mapping[str, Any], files_dir: Path):
    """Stored message parts -> chat-completions content (a string when text only)."""
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part["text"]["value"]})
        elif kind == "image_url":
            if images:
                parts.append({"type": "image_url", "image_url": part["image_url"]})
            else:  # the reference stays, so tools (e.g. analyze_image) can still be pointed at it
                url = part["image_url"]["url"]
                ref = "an inline image" if url.startswith("data:") else url[:2048]
                parts.append({"type": "text", "text": f"[image not shown to this model: {ref}]"})
        elif kind == "image_file":
            file_id = part["image_file"]["file_id"]
            url = _image_file_url(files_dir, file_id) if images and file_id in files else None
            if url:
                image = {"url": url}
                if part["image_file"].get("detail"):
                    image["detail"] = part["image_file"]["detail"]
                parts.append({"type": "image_url", "image_url": image})
            else:
                parts.append({"type": "text", "text": f"[image not shown to this model: {file_id}]"})
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _step_messages(step: Any) -> list[ChatMessage]:
    calls = step.step_details.get("tool_calls", [])
    out: list[ChatMessage] = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
                for c in calls
            ],
        }
    ]
    for c in calls:
        output = c["function"].get("output")
        out.append({"role": "tool", "tool_call_id": c["id"], "content": output if output is not None else ""})
    return out


def history_limit(truncation: Mapping[str, Any] | None, max_messages: int) -> int:
    """How many of the newest messages a run may keep (``truncation_strategy``)."""
    if truncation and truncation.get("type") == "last_messages" and truncation.get("last_messages"):
        return min(max_messages, int(truncation["last_messages"]))
    return max_messages


def image_file_ids(rows: Sequence[Row]) -> set[str]:
    return {p["image_file"]["file_id"] for _id, _role, content, chat, _t in rows if chat is None
            for p in content if p.get("type") == "image_file"}


def build(
    run: Any,
    rows: Sequence[Row],
    steps: Sequence[Any] = (),
    files: Mapping[str, Any] | None = None,
    *,
    context_tokens: int,
    supports_images: bool,
    tools: list[dict[str, Any]],
    tools_tokens: int | None = None,
    files_dir: Path,
) -> Context:
    """``rows``: the newest messages, oldest first; ``steps``: this run's tool-call steps;
    ``files``: the image files the rows name (by id), read only for models that see images."""
    files = files or {}
    system: list[ChatMessage] = []
    if run.instructions:
        system.append({"role": "system", "content": run.instructions})
    if tools_tokens is None:
        tools_tokens = estimate_tokens(tools) if tools else 0
    fixed = sum(message_tokens(x) for x in system) + tools_tokens
    reserve = run.max_completion_tokens or min(1024, context_tokens // 4)
    budget = context_tokens - reserve
    if run.max_prompt_tokens:
        budget = min(budget, run.max_prompt_tokens)

    # Newest first: this run's tool exchanges are always kept (the model needs them).
    # (id, cached row or step messages, cost); rows are already in id order.
    items: list[tuple[str, Any, int]] = [(r[0], r, r[4]) for r in reversed(rows)]
    if steps:
        items += [(s.id, msgs, sum(message_tokens(x) for x in msgs)) for s in steps if (msgs := _step_messages(s))]
        items.sort(key=lambda item: item[0], reverse=True)
    kept: list[list[ChatMessage]] = []
    used = fixed
    step_ids = {s.id for s in steps}
    for item_id, item, cost in items:
        if isinstance(item, tuple):  # a history row: its chat message, built only if kept
            _id, role, content, chat, cost = item
            if chat is None:
                chat = {"role": role, "content": chat_content(content, supports_images, files, files_dir)}
                cost = message_tokens(chat)
            else:
                chat = dict(chat)  # providers may adapt messages; the cached one stays intact
            item = [chat]
        if used + cost > budget and item_id not in step_ids:
            if not kept:
                raise PromptTooLong(
                    f"the newest message needs about {cost} tokens; the prompt budget is {budget - fixed}"
                )
            break
        kept.append(item)
        used += cost
    history = [x for msgs in reversed(kept) for x in msgs]
    # A history must not open with a tool result or an assistant turn cut from its call.
    while history and history[0]["role"] == "tool":
        history.pop(0)
    return Context(system + history, used)
