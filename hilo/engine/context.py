"""What a run sends to the model: instructions, the kept history, this run's tool calls.

History is read newest-first with a bound (``HILO_CONTEXT_MAX_MESSAGES``), so the
cost of a turn does not grow with the thread. Then ``truncation_strategy`` and the
token budget (``max_prompt_tokens`` and the model's context window) drop the oldest
turns first.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.db import models as m
from hilo.providers.base import ChatMessage

IMAGE_TOKENS = 255  # a rough, deliberately generous figure per image part
MESSAGE_OVERHEAD = 4


def estimate_tokens(value: Any) -> int:
    """~4 characters per token; good enough for budgeting, never for billing."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value) // 4 + 1
    if isinstance(value, list):
        total = 0
        for part in value:
            if part.get("type") == "text":
                total += len(part.get("text", "")) // 4 + 1
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


def chat_content(content: list[dict[str, Any]], images: bool, files: dict[str, m.File], files_dir: Path):
    """Stored message parts -> chat-completions content (a string when text only)."""
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part["text"]["value"]})
        elif kind == "image_url":
            if images:
                parts.append({"type": "image_url", "image_url": part["image_url"]})
            else:
                parts.append({"type": "text", "text": "[image omitted: this model does not accept images]"})
        elif kind == "image_file":
            file_id = part["image_file"]["file_id"]
            url = _image_file_url(files_dir, file_id) if images and file_id in files else None
            if url:
                image = {"url": url}
                if part["image_file"].get("detail"):
                    image["detail"] = part["image_file"]["detail"]
                parts.append({"type": "image_url", "image_url": image})
            else:
                parts.append({"type": "text", "text": "[image omitted]"})
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _step_messages(step: m.RunStep) -> list[ChatMessage]:
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


async def build(
    session: AsyncSession,
    run: m.Run,
    *,
    context_tokens: int,
    supports_images: bool,
    tools: list[dict[str, Any]],
    max_messages: int,
    files_dir: Path,
) -> Context:
    truncation = run.truncation_strategy or {"type": "auto"}
    limit = max_messages
    if truncation.get("type") == "last_messages":
        limit = min(limit, int(truncation["last_messages"]))
    rows = (
        await session.scalars(
            select(m.Message)
            .where(m.Message.thread_id == run.thread_id)
            .order_by(m.Message.id.desc())
            .limit(limit)
        )
    ).all()
    steps = (
        await session.scalars(
            select(m.RunStep)
            .where(m.RunStep.run_id == run.id, m.RunStep.type == "tool_calls")
            .order_by(m.RunStep.id)
        )
    ).all()
    file_ids = {
        p["image_file"]["file_id"] for r in rows for p in r.content if p.get("type") == "image_file"
    }
    files: dict[str, m.File] = {}
    if file_ids and supports_images:
        files = {f.id: f for f in (await session.scalars(select(m.File).where(m.File.id.in_(file_ids)))).all()}

    # Newest first: this run's tool exchanges are always kept (the model needs them).
    items: list[tuple[str, list[ChatMessage]]] = [(s.id, _step_messages(s)) for s in steps]
    items += [
        (r.id, [{"role": r.role, "content": chat_content(r.content, supports_images, files, files_dir)}])
        for r in rows
    ]
    items.sort(key=lambda item: item[0], reverse=True)

    system: list[ChatMessage] = []
    if run.instructions:
        system.append({"role": "system", "content": run.instructions})
    fixed = sum(message_tokens(x) for x in system) + (estimate_tokens(tools) if tools else 0)
    reserve = run.max_completion_tokens or min(1024, context_tokens // 4)
    budget = context_tokens - reserve
    if run.max_prompt_tokens:
        budget = min(budget, run.max_prompt_tokens)

    kept: list[list[ChatMessage]] = []
    used = fixed
    step_ids = {s.id for s in steps}
    for item_id, msgs in items:
        cost = sum(message_tokens(x) for x in msgs)
        if used + cost > budget and item_id not in step_ids:
            if not kept:
                raise PromptTooLong(
                    f"the newest message needs about {cost} tokens; the prompt budget is {budget - fixed}"
                )
            break
        kept.append(msgs)
        used += cost
    history = [x for msgs in reversed(kept) for x in msgs]
    # A history must not open with a tool result or an assistant turn cut from its call.
    while history and history[0]["role"] == "tool":
        history.pop(0)
    return Context(system + history, used)
