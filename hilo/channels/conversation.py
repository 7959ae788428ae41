"""One channel turn: a user's message to their active thread, and the assistant's reply.

Channels know a user, not a thread. :func:`converse` starts the turn through the one turn
service (:meth:`hilo.runs.service.RunService.start`) on the user's active thread with the
assistant, streams the reply's text to ``on_delta`` as it is written, and returns the whole
reply. A message sent while the previous answer is still being written waits for it (the user
typed fast); a run that stops for a client-side tool is cancelled, since nobody on a channel can
answer it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hilo.identity import Principal
from hilo.kit.errors import Conflict
from hilo.runs.options import DEFAULT, RunOptions
from hilo.runs.service import ActiveThread, RunService, ThreadBusy
from hilo.runs.states import TERMINAL_EVENTS
from hilo.threads.active import reply_text
from hilo.threads.messages import Content, user_message

log = logging.getLogger("hilo.channels")

OnDelta = Callable[[str], Awaitable[None] | None]


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


async def _call(on_delta: OnDelta | None, text: str) -> None:
    if on_delta is None:
        return
    result = on_delta(text)
    if inspect.isawaitable(result):
        await result


def _error_text(payload: Any, status: str) -> str:
    error = (payload or {}).get("last_error") if isinstance(payload, dict) else None
    if error and error.get("message"):
        return error["message"]
    return {"expired": "The answer took too long.", "cancelled": "The run was cancelled.",
            "incomplete": "The answer was cut short."}.get(status, f"The run ended with status {status}.")


async def converse(runs: RunService, caller: Principal, assistant_id: str, content: Content, *,
                   on_delta: OnDelta | None = None, timeout: float | None = None,
                   options: RunOptions = DEFAULT) -> Reply:
    """Append ``content`` (text or content parts) to the caller's active thread with the
    assistant, run it, and return its reply.

    Raises :class:`~hilo.kit.errors.HiloError` for refusals (unknown assistant or file: 404/400,
    a missing entitlement: 403, the thread still busy after the timeout: 409); a run that fails,
    expires or needs a client-side tool comes back as a :class:`Reply` with ``error``."""
    timeout = runs.settings.run_timeout if timeout is None else timeout
    deadline = time.monotonic() + timeout
    message = user_message(content)
    thread = ActiveThread(caller.user_id)
    while True:
        try:
            turn = await runs.start(caller, assistant_id, thread, [message], options, watch=True)
            break
        except ThreadBusy as busy:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Conflict("The previous message is still being answered; try again in a moment.",
                               code="thread_busy") from None
            await runs.wait_until_free(busy, min(left, 1.0))
    run, queue = turn.run, turn.events
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
        await runs.engine.cancel(run.id)
        return Reply(await reply_text(runs.db, run.id), run.thread_id, run.id, "expired", "The answer took too long.")
    finally:
        runs.bus.unsubscribe(run.id, queue)
    if status == "requires_action":  # client-side tools: nobody on a channel can answer them
        await runs.engine.cancel(run.id)
        return Reply("", run.thread_id, run.id, "requires_action",
                     "The assistant asked for a client-side tool, which this channel cannot run.")
    text = await reply_text(runs.db, run.id)
    error = None if status == "completed" else _error_text(payload, status)
    return Reply(text, run.thread_id, run.id, status, error)


__all__ = ["OnDelta", "Reply", "converse"]
