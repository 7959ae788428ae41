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
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, bindparam, select

from hilo.db import models as m
from hilo.db.hot import HotSQL
from hilo.db.session import Database
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


# (id, role, content parts, chat message when text-only, its token estimate)
Row = tuple[str, str, list, ChatMessage | None, int]


def _row(r) -> Row:
    msg_id, role, content = r
    if all(p.get("type") == "text" for p in content):
        chat = {"role": role, "content": "\n".join(p["text"]["value"] for p in content)}
        return (msg_id, role, content, chat, message_tokens(chat))
    return (msg_id, role, content, None, 0)


_MSG = m.Message.__table__
_THREADS = m.Thread.__table__
_COLS = (_MSG.c.id, _MSG.c.role, _MSG.c.content)
# The thread's history version and the messages newer than the newest cached, in one query.
NEWER = (
    select(_THREADS.c.history_version, *_COLS)
    .select_from(_THREADS.outerjoin(_MSG, (_MSG.c.thread_id == _THREADS.c.id) & (_MSG.c.id > bindparam("after"))))
    .where(_THREADS.c.id == bindparam("t"))
    .order_by(_MSG.c.id)
)
_NEWEST = (select(*_COLS).where(_MSG.c.thread_id == bindparam("t"))
           .order_by(_MSG.c.id.desc()).limit(bindparam("n", type_=Integer)))
_VERSION = select(_THREADS.c.history_version).where(_THREADS.c.id == bindparam("t"))


@dataclass(slots=True)
class _Entry:
    version: int
    rows: deque  # of Row, oldest first
    primed_for: str | None = None  # a run whose turn already read what is new (see prime)


class HistoryCache:
    """The recent messages of recently active threads, kept in memory.

    A turn then reads only what changed since the last one, in one query: the messages
    newer than the newest cached (usually the one the user just sent) and the thread's
    ``history_version``, which every message deletion bumps (a change forces a reload).
    Other replicas' writes are seen the same way, so the cache is never stale, and a
    turn on a 1,000-message thread costs what a turn on a new one does.
    """

    def __init__(self, max_threads: int = 512, max_messages: int = 200):
        self.max_threads = max_threads
        self.max_messages = max_messages
        self._threads: OrderedDict[str, _Entry] = OrderedDict()

    def forget(self, thread_id: str) -> None:
        self._threads.pop(thread_id, None)

    def cursor(self, thread_id: str) -> tuple[int, str] | None:
        """(history version, newest cached message id) of a cached thread, else None."""
        entry = self._threads.get(thread_id)
        if entry is None or not entry.rows:
            return None
        return entry.version, entry.rows[-1][0]

    def prime(self, thread_id: str, version: int, messages: list[tuple[str, str, list]], run_id: str) -> None:
        """What the statement that started ``run_id`` read past :meth:`cursor` (plus the
        messages it added): that run's :meth:`recent` then needs no query of its own."""
        entry = self._threads.get(thread_id)
        if entry is None or entry.version != version or not entry.rows:
            return  # a deletion happened (or the entry left the cache): the run reads itself
        newest = entry.rows[-1][0]
        entry.rows.extend(_row(r) for r in sorted(messages) if r[0] > newest)
        entry.primed_for = run_id

    async def recent(self, hot: HotSQL, thread_id: str, limit: int, run_id: str | None = None) -> list[Row]:
        """The newest ``limit`` messages of the thread, oldest first (read through :mod:`hilo.db.hot`)."""
        entry = self._threads.get(thread_id)
        if entry is not None and run_id is not None and entry.primed_for == run_id:
            entry.primed_for = None  # read when the run started (prime)
        elif entry is not None and entry.rows:
            result = await hot.fetch(NEWER, {"t": thread_id, "after": entry.rows[-1][0]})
            if result and result[0][0] == entry.version:
                entry.rows.extend(_row(r[1:]) for r in result if r[1] is not None)
            else:  # deleted messages (or the thread): read again
                entry = None
        else:
            entry = None
        if entry is None:
            found = await hot.fetch(_VERSION, {"t": thread_id})
            version = (found[0][0] if found else 0) or 0
            rows = await hot.fetch(_NEWEST, {"t": thread_id, "n": self.max_messages})
            entry = _Entry(version, deque((_row(r) for r in reversed(rows)), maxlen=self.max_messages))
            self._threads[thread_id] = entry
        self._threads.move_to_end(thread_id)
        while len(self._threads) > self.max_threads:
            self._threads.popitem(last=False)
        rows = entry.rows
        if limit >= len(rows):
            return list(rows)
        return list(rows)[-limit:]


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
    db: Database,
    run: m.Run,
    *,
    context_tokens: int,
    supports_images: bool,
    tools: list[dict[str, Any]],
    history: HistoryCache,
    files_dir: Path,
    with_steps: bool = True,
) -> Context:
    truncation = run.truncation_strategy or {"type": "auto"}
    limit = history.max_messages
    if truncation.get("type") == "last_messages":
        limit = min(limit, int(truncation["last_messages"]))
    rows = await history.recent(db.hot, run.thread_id, limit, run.id)
    steps: list[m.RunStep] = []
    file_ids = {p["image_file"]["file_id"] for _id, _role, content, chat, _t in rows if chat is None
                for p in content if p.get("type") == "image_file"}
    files: dict[str, m.File] = {}
    if with_steps or (file_ids and supports_images):
        async with db.sessionmaker() as session:
            if with_steps:
                steps = list((
                    await session.scalars(
                        select(m.RunStep)
                        .where(m.RunStep.run_id == run.id, m.RunStep.type == "tool_calls")
                        .order_by(m.RunStep.id)
                    )
                ).all())
            if file_ids and supports_images:
                files = {f.id: f for f in (await session.scalars(select(m.File).where(m.File.id.in_(file_ids)))).all()}

    system: list[ChatMessage] = []
    if run.instructions:
        system.append({"role": "system", "content": run.instructions})
    fixed = sum(message_tokens(x) for x in system) + (estimate_tokens(tools) if tools else 0)
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
