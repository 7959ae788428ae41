"""Users, their active threads, and one conversational turn: the service every channel calls.

A channel (REST facade, WebSocket, WhatsApp, ...) knows a person by an identity
(``channel``, ``subject``); :func:`user_for_identity` turns it into a user id, and
:func:`converse` appends the user's message to that user's active thread with an
assistant, runs it through :func:`hilo.runs.new_run` / :func:`hilo.runs.launch` and waits
for the reply. The functions take the :class:`~hilo.db.session.Database` (``app.state.db``)
and commit themselves: for a channel, this module is the transaction boundary.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Container, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.api.errors import APIError
from hilo.api.messages import build_messages
from hilo.api.schemas import MessageCreate, RunCreate
from hilo.db import models as m
from hilo.db.session import Database
from hilo.engine.events import TERMINAL_EVENTS
from hilo.ids import new_id
from hilo.runs import launch, new_run
from hilo.store import now

log = logging.getLogger("hilo.conversations")

Content = str | list[dict[str, Any]]
OnDelta = Callable[[str], Awaitable[None] | None]

REQUIRES_KEY = "hilo_requires"  # assistant metadata: comma list of entitlements a user needs


class ConversationError(Exception):
    """Bad input or a refusal, with the HTTP status a channel should answer with."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(slots=True)
class Reply:
    text: str
    thread_id: str
    run_id: str | None
    status: str  # the run's final status: completed, failed, expired, cancelled, incomplete, ...
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "completed" and self.error is None


# ---------------------------------------------------------------- users and identities


async def user_for_identity(db: Database, channel: str, subject: str, *, name: str | None = None,
                            create: bool = True) -> str | None:
    """The user behind (channel, subject), created on first sight (None if not and not ``create``)."""
    async with db.sessionmaker() as session:
        found = await session.get(m.Identity, (channel, subject))
        if found is not None or not create:
            return found.user_id if found else None
        user = m.User(id=new_id("user"), created_at=now(), name=name or subject, entitlements=[], metadata_={})
        session.add(user)
        session.add(m.Identity(channel=channel, subject=subject, user_id=user.id, created_at=user.created_at))
        try:
            await session.commit()
            return user.id
        except IntegrityError:  # another request created it first: theirs wins
            await session.rollback()
    async with db.sessionmaker() as session:
        return (await session.get(m.Identity, (channel, subject))).user_id


async def user_entitlements(db: Database, user_id: str) -> set[str]:
    async with db.sessionmaker() as session:
        user = await session.get(m.User, user_id)
    return set(user.entitlements or ()) if user else set()


def required_entitlements(assistant: m.Assistant) -> set[str]:
    value = (assistant.metadata_ or {}).get(REQUIRES_KEY) or ""
    return {v.strip() for v in str(value).replace(";", ",").split(",") if v.strip()}


def missing_entitlements(assistant: m.Assistant, entitlements: Container[str]) -> list[str]:
    return sorted(e for e in required_entitlements(assistant) if e not in entitlements)


def entitlement_error(assistant: m.Assistant, missing: Iterable[str]) -> str:
    names = ", ".join(missing)
    return f"The assistant '{assistant.name or assistant.id}' requires the entitlement '{names}', which this user does not have."


# ---------------------------------------------------------------- active threads


async def _new_thread(session: AsyncSession, user_id: str, assistant_id: str) -> m.Thread:
    thread = m.Thread(id=new_id("thread"), created_at=now(), metadata_={"hilo_assistant_id": assistant_id},
                      user_id=user_id)
    session.add(thread)
    return thread


async def active_thread(db: Database, user_id: str, assistant_id: str, *, create: bool = True) -> str | None:
    """The user's current thread with the assistant; found, or created and remembered."""
    for _attempt in range(3):
        async with db.sessionmaker() as session:
            link = await session.get(m.UserThread, (user_id, assistant_id))
            if link is not None and await session.get(m.Thread, link.thread_id) is not None:
                return link.thread_id
            if not create:
                return None
            thread = await _new_thread(session, user_id, assistant_id)
            if link is None:
                session.add(m.UserThread(user_id=user_id, assistant_id=assistant_id, thread_id=thread.id,
                                         updated_at=now()))
            else:  # the mapped thread was deleted through /v1: start again
                link.thread_id, link.updated_at = thread.id, now()
            try:
                await session.commit()
                return thread.id
            except IntegrityError:  # a concurrent first message created the mapping
                await session.rollback()
    raise RuntimeError(f"could not create the active thread of {user_id} with {assistant_id}")


async def reset(db: Database, user_id: str, assistant_id: str) -> str:
    """Start a new thread for the user with the assistant; the old one stays stored."""
    for _attempt in range(3):
        async with db.sessionmaker() as session:
            thread = await _new_thread(session, user_id, assistant_id)
            link = await session.get(m.UserThread, (user_id, assistant_id))
            if link is None:
                session.add(m.UserThread(user_id=user_id, assistant_id=assistant_id, thread_id=thread.id,
                                         updated_at=now()))
            else:
                link.thread_id, link.updated_at = thread.id, now()
            try:
                await session.commit()
                return thread.id
            except IntegrityError:  # raced with a first message: update the mapping it made
                await session.rollback()
    raise RuntimeError(f"could not reset the thread of {user_id} with {assistant_id}")


def message_text(content: list[dict[str, Any]] | None) -> str:
    parts = []
    for part in content or ():
        if part.get("type") == "text":
            parts.append(part["text"]["value"])
    return "\n".join(parts)


async def history(db: Database, user_id: str, assistant_id: str, limit: int = 50) -> list[dict]:
    """The newest ``limit`` messages of the active thread, oldest first.

    Each item: ``id``, ``role``, ``content`` (text), ``created_at`` (unix seconds), ``parts``
    (the stored content parts, images included), ``run_id``. The thread itself is never cut;
    channels pass ``settings.history_limit`` (HILO_HISTORY_LIMIT).
    """
    thread_id = await active_thread(db, user_id, assistant_id, create=False)
    if thread_id is None:
        return []
    async with db.sessionmaker() as session:
        rows = (await session.scalars(
            select(m.Message).where(m.Message.thread_id == thread_id).order_by(m.Message.id.desc()).limit(limit)
        )).all()
    return [{"id": r.id, "role": r.role, "content": message_text(r.content), "created_at": r.created_at,
             "parts": r.content, "run_id": r.run_id} for r in reversed(rows)]


# ---------------------------------------------------------------- one turn


def _message_body(content: Content) -> MessageCreate:
    if isinstance(content, str) and not content.strip():
        raise ConversationError(400, "The message is empty.")
    try:
        return MessageCreate(role="user", content=content)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConversationError(400, f"Invalid message content: {first.get('msg')}.") from None


async def _check_files(session: AsyncSession, user_id: str, body) -> None:
    if isinstance(body.content, str):
        return
    ids = {p.image_file.file_id for p in body.content if p.type == "image_file"}
    if not ids:
        return
    owned = set((await session.scalars(
        select(m.File.id).where(m.File.id.in_(ids), m.File.user_id == user_id))).all())
    for file_id in sorted(ids - owned):
        raise ConversationError(404, f"No file found with id '{file_id}'.", code="file_not_found")


async def _wait_for_run(bus, run_id: str, seconds: float) -> None:
    """Wait (at most ``seconds``) for another run on the thread to end."""
    queue = bus.subscribe(run_id)
    try:
        async with asyncio.timeout(seconds):
            while True:
                event, _ = await queue.get()
                if event in TERMINAL_EVENTS:
                    return
    except TimeoutError:
        return
    finally:
        bus.unsubscribe(run_id, queue)


async def _start_turn(state, user_id: str, assistant_id: str, body, deadline: float,
                      entitlements: Container[str] | None):
    """Add the message and a queued run in one transaction; waits while the thread is busy."""
    db = state.db
    while True:
        thread_id = await active_thread(db, user_id, assistant_id)
        async with db.sessionmaker() as session:
            assistant = await session.get(m.Assistant, assistant_id)
            if assistant is None or assistant.user_id not in (None, user_id):
                raise ConversationError(404, f"No assistant found with id '{assistant_id}'.", code="assistant_not_found")
            if entitlements is None:
                user = await session.get(m.User, user_id)
                entitlements = set(user.entitlements or ()) if user else set()
            missing = missing_entitlements(assistant, entitlements)
            if missing:
                raise ConversationError(403, entitlement_error(assistant, missing), code="entitlement_required")
            await _check_files(session, user_id, body)
            thread = await session.get(m.Thread, thread_id)
            busy = thread.active_run_id
            if busy is None:
                try:
                    run = await new_run(session, state.engine, thread_id, assistant_id, RunCreate(assistant_id=assistant_id))
                    await build_messages(session, thread_id, [body])
                    await session.commit()
                    return thread_id, run
                except APIError as exc:
                    await session.rollback()
                    if "already has an active run" not in exc.message:
                        raise ConversationError(exc.status, exc.message, exc.code) from None
                    busy = (await session.get(m.Thread, thread_id, populate_existing=True)).active_run_id or ""
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConversationError(409, "The previous message is still being answered; try again in a moment.",
                                    code="thread_busy")
        # An answer in progress (the user typed fast): wait for it, then go on.
        await _wait_for_run(state.bus, busy, min(left, 1.0))


async def _call(on_delta: OnDelta | None, text: str) -> None:
    if on_delta is None:
        return
    result = on_delta(text)
    if inspect.isawaitable(result):
        await result


async def _cancel_waiting(engine, run_id: str) -> None:
    """Cancel a run stopped for client-side tool outputs: nobody on a channel can give them."""
    await engine.cancel(run_id)


def _error_text(payload: Any, status: str) -> str:
    error = (payload or {}).get("last_error") if isinstance(payload, dict) else None
    if error and error.get("message"):
        return error["message"]
    return {"expired": "The answer took too long.", "cancelled": "The run was cancelled.",
            "incomplete": "The answer was cut short."}.get(status, f"The run ended with status {status}.")


async def _reply_text(db: Database, run_id: str) -> str:
    async with db.sessionmaker() as session:
        rows = (await session.scalars(
            select(m.Message).where(m.Message.run_id == run_id, m.Message.role == "assistant").order_by(m.Message.id)
        )).all()
    return "\n\n".join(t for t in (message_text(r.content) for r in rows) if t)


async def converse(state, *, user_id: str, assistant_id: str, content: Content, on_delta: OnDelta | None = None,
                   timeout: float | None = None, entitlements: Container[str] | None = None) -> Reply:
    """Append ``content`` to the user's active thread, run the assistant and return its reply.

    ``state`` is ``app.state`` (db, engine, bus, settings). ``content`` is a string or a list
    of content parts (``text``, ``image_url``, ``image_file``). ``on_delta(text)`` (sync or
    async) receives the reply as it streams. ``entitlements``: what the caller may use (None:
    the user record's). Raises :class:`ConversationError` for bad input (unknown assistant or
    file: 404, missing entitlement: 403, thread still busy after the timeout: 409); a run
    that fails, expires or needs a client-side tool comes back as a Reply with ``error``.
    """
    settings = state.settings
    timeout = settings.run_timeout if timeout is None else timeout
    deadline = time.monotonic() + timeout
    body = _message_body(content)
    thread_id, run = await _start_turn(state, user_id, assistant_id, body, deadline, entitlements)
    bus = state.bus
    queue = bus.subscribe(run.id)
    try:
        launch(state.engine, bus, run)
        status, payload = "expired", None
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                while True:
                    event, payload = await queue.get()
                    if event == "thread.message.delta":
                        for part in payload["delta"].get("content") or ():
                            if part.get("type") == "text":
                                await _call(on_delta, part["text"]["value"])
                    elif event in TERMINAL_EVENTS:
                        status = event.rsplit(".", 1)[1]
                        break
        except TimeoutError:
            await state.engine.cancel(run.id)
            return Reply(await _reply_text(state.db, run.id), thread_id, run.id, "expired", "The answer took too long.")
    finally:
        bus.unsubscribe(run.id, queue)
    if status == "requires_action":
        # Client-side tools: nobody on a channel can answer them.
        await _cancel_waiting(state.engine, run.id)
        return Reply("", thread_id, run.id, "requires_action",
                     "The assistant asked for a client-side tool, which this channel cannot run.")
    text = await _reply_text(state.db, run.id)
    error = None if status == "completed" else _error_text(payload, status)
    return Reply(text, thread_id, run.id, status, error)


__all__ = ["ConversationError", "Reply", "active_thread", "converse", "history", "reset", "user_for_identity",
           "user_entitlements", "required_entitlements", "missing_entitlements", "REQUIRES_KEY"]
