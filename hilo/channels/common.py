"""What every channel shares: which assistant answers, dedupe of inbound messages, media kept
as files, splitting long replies."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from hilo.assistants.models import Assistant
from hilo.channels.models import InboundMessage
from hilo.files.service import store_bytes
from hilo.kit.ids import now

log = logging.getLogger("hilo.channels")


@dataclass(frozen=True)
class AssistantRef:
    id: str
    name: str


def assistant_ids(state, wanted: str | None, channel: str) -> list[str]:
    """The assistants a channel should try, best first. ``wanted``: an assistant id, a pack key
    (``courses/asesor``) or a pack name. Without it: the assistants that claim the channel in
    their pack definition (``channels = [...]``), then any pack's."""
    packs: dict[str, str] = getattr(state, "pack_assistants", None) or {}
    if wanted:
        if wanted in packs:
            return [packs[wanted]]
        by_pack = [v for k, v in packs.items() if k.split("/", 1)[0] == wanted]
        return by_pack[:1] or [wanted]
    claimed = (getattr(state, "channel_assistants", None) or {}).get(channel, [])
    return list(dict.fromkeys([*claimed, *packs.values()]))


async def resolve_assistant(state, wanted: str | None, channel: str) -> AssistantRef | None:
    """The first of :func:`assistant_ids` that exists."""
    async with state.db.sessionmaker() as session:
        for assistant_id in assistant_ids(state, wanted, channel):
            row = await session.get(Assistant, assistant_id)
            if row is not None:
                return AssistantRef(row.id, row.name or row.id)
    return None


async def claim_inbound(db, channel: str, message_id: str, sender: str | None) -> bool:
    """Record an inbound message; False when it was seen before (a retry or a replay)."""
    async with db.sessionmaker() as session:
        session.add(InboundMessage(channel=channel, message_id=message_id[:128], sender=(sender or "")[:64],
                                   received_at=now(), status="received"))
        try:
            await session.commit()
            return True
        except IntegrityError:
            await session.rollback()
            return False


async def mark_inbound(db, channel: str, message_id: str, status: str) -> None:
    async with db.sessionmaker() as session:
        await session.execute(update(InboundMessage).where(
            InboundMessage.channel == channel, InboundMessage.message_id == message_id[:128]).values(status=status))
        await session.commit()


async def store_file(state, user_id: str, data: bytes, filename: str, content_type: str | None,
                     purpose: str = "vision") -> str:
    """Keep channel media as a file the user owns (the run can read it); returns its id."""
    return await store_bytes(state.db, state.settings, user_id, data, filename, content_type, purpose)


_SENTENCE_END = re.compile(r"(?<=[.!?…:;])\s+|\n+")


def split_message(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, preferring paragraph and
    sentence ends, then spaces; a word longer than the limit is cut where it must be."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for match in _SENTENCE_END.finditer(window):
            if 0 < match.start() <= limit:
                cut = match.start()
        if cut < limit // 3:  # a sentence end too early wastes a message: try a space
            space = window.rfind(" ", 0, limit + 1)
            cut = space if space > limit // 3 else (cut if cut > 0 else limit)
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


class Background:
    """Tasks that outlive the request that started them (a webhook answers before the reply)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("channel task %s failed: %r", task.get_name(), task.exception())

    async def drain(self, timeout: float) -> None:
        if not self.tasks:
            return
        _done, pending = await asyncio.wait(list(self.tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
