"""``/ws/assistant/``: seed 003's WebSocket protocol, one thread per user across reconnects.

In:  ``{"type": "message", "message": "..."}``, ``{"type": "reset"}``, ``{"type": "ping"}``,
     and ``{"type": "auth", "token": "..."}`` as the first frame when the token is not in
     the ``?token=`` query or the ``Authorization`` header.
Out: ``connection`` on connect, ``delta`` per streamed piece of a reply, ``response`` with
     the whole reply, ``reset``, ``pong``, and ``error`` (the connection stays open, except
     for failed authentication or a missing assistant, which close it).

Frames are handled in order, one at a time: a message sent while a reply streams is
answered next. Heartbeats are WebSocket ping frames every ``HILO_WS_HEARTBEAT_S``
(uvicorn's keepalive; a peer that stops answering is dropped).

Memory: an idle connection must cost little (the bench holds 5,000). A FastAPI WebSocket
route keeps about 12 KB per connection in its wrappers (dependency exit stacks, exception
handlers, telemetry) and permessage-deflate about 37 KB of zlib state, so this endpoint is
a plain ASGI handler that :class:`FastPath` calls before the router, and compression is
off unless ``HILO_WS_COMPRESSION=on``. What stays per connection is one coroutine frame.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from hilo.channels import common
from hilo.channels.conversation import converse
from hilo.identity import Principal
from hilo.identity.users import user_for_identity
from hilo.kit.errors import Forbidden, HiloError, NotFound
from hilo.kit.inputs import text_problem
from hilo.kit.observe import metrics
from hilo.threads.active import reset

log = logging.getLogger("hilo.channels.websocket")

PATHS = frozenset({"/ws/assistant/", "/ws/assistant"})
AUTH_WAIT_S = 10.0
SUBJECT = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,128}$")
POLICY, UNAVAILABLE = 1008, 1011
BAD_FRAME = 'Mensaje inválido: se esperaba JSON como {"type": "message", "message": "..."} o {"type": "reset"}.'
FORBIDDEN_CHARACTER = "contiene un carácter no permitido (NUL o un sustituto UTF-16 suelto)"


class Closed(Exception):
    """The peer went away; stop sending."""


class FastPath:
    """ASGI middleware: ``/ws/assistant/`` goes straight to :func:`serve`, the rest on."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and scope["path"] in PATHS:
            return await serve(scope, receive, send)
        return await self.app(scope, receive, send)


class Socket:
    __slots__ = ("scope", "receive", "_send", "open", "query")

    def __init__(self, scope, receive, send):
        self.scope, self.receive, self._send = scope, receive, send
        self.open = True
        self.query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))

    @property
    def app(self):
        return self.scope["app"]

    def header(self, name: bytes) -> str:
        for key, value in self.scope.get("headers") or ():
            if key == name:
                return value.decode("latin-1")
        return ""

    async def send(self, kind: str, message: str, **extra: Any) -> None:
        if not self.open:
            raise Closed
        text = json.dumps({"type": kind, "message": message, **extra}, ensure_ascii=False)
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (OSError, RuntimeError) as exc:  # uvicorn's ClientDisconnected is an OSError
            self.open = False
            raise Closed from exc

    async def close(self, code: int) -> None:
        if self.open:
            self.open = False
            try:
                await self._send({"type": "websocket.close", "code": code, "reason": ""})
            except (OSError, RuntimeError):
                pass

    async def fail(self, message: str, code: int) -> None:
        try:
            await self.send("error", message)
        except Closed:
            return
        await self.close(code)

    async def frame(self, timeout: float | None = None) -> tuple[Any, bool]:
        """(parsed frame, ok); raises Closed when the peer closes."""
        event = await (asyncio.wait_for(self.receive(), timeout) if timeout else self.receive())
        if event["type"] == "websocket.disconnect":
            self.open = False
            raise Closed
        raw = event.get("text")
        if raw is None and event.get("bytes") is not None:
            try:
                raw = event["bytes"].decode()
            except UnicodeDecodeError:
                return None, False
        try:
            parsed = json.loads(raw)
        except (TypeError, ValueError):
            return None, False
        return parsed, isinstance(parsed, dict)


def _token(sock: Socket) -> str | None:
    token = sock.query.get("token")
    if token:
        return token
    scheme, _, value = sock.header(b"authorization").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _authenticate(sock: Socket) -> Principal | None:
    auth = sock.app.state.auth
    token = _token(sock)
    if token is None and auth.enabled:
        try:
            frame, ok = await sock.frame(AUTH_WAIT_S)
        except TimeoutError:
            frame, ok = None, False
        if not ok or frame.get("type") != "auth" or not isinstance(frame.get("token"), str):
            await sock.fail('Autenticación requerida: envía ?token=... o un primer mensaje '
                            '{"type": "auth", "token": "..."}.', POLICY)
            return None
        token = frame["token"]
    try:
        return await auth.authenticate(sock.app.state.db, f"Bearer {token}" if token else None)
    except HiloError as exc:
        await sock.fail(f"No autorizado: {exc.message}", POLICY)
        return None


async def _caller(sock: Socket, principal: Principal) -> tuple[Principal, str]:
    """(who the session's turns run for, the subject to reconnect with). An authenticated user
    is itself; otherwise (HILO_AUTH=off, or an admin token) the session is ``?user=`` or a new
    random id, acting with the principal's scope and entitlements."""
    if principal.user_id is not None:
        return principal, principal.user_id
    subject = sock.query.get("user") or ""
    if not SUBJECT.match(subject):
        subject = "ws-" + uuid.uuid4().hex
    user_id = await user_for_identity(sock.app.state.db, "websocket", subject)
    return replace(principal, user_id=user_id, via="websocket"), subject


async def _assistant(sock: Socket, caller: Principal) -> common.AssistantRef | None:
    state = sock.app.state
    wanted = sock.query.get("assistant") or state.settings.ws_assistant
    ref = await common.resolve_assistant(state, wanted, "websocket")
    if ref is not None:
        try:
            await state.runs.runnable(caller, ref.id)
        except NotFound:
            ref = None
        except Forbidden as exc:
            await sock.fail(exc.message, POLICY)
            return None
    if ref is None:
        if wanted:
            await sock.fail(f"Asistente no encontrado: {wanted}.", POLICY)
        else:
            await sock.fail("No hay ningún asistente configurado para este canal: indica ?assistant=<id> "
                            "o configura HILO_WS_ASSISTANT.", UNAVAILABLE)
    return ref


async def serve(scope, receive, send) -> None:
    event = await receive()
    if event["type"] != "websocket.connect":
        return
    sock = Socket(scope, receive, send)
    await send({"type": "websocket.accept"})
    runtime = sock.app.state.channels
    runtime.ws_connections += 1
    metrics.websocket_opened()
    try:
        bad = next((key for key, value in sock.query.items() if text_problem(key) or text_problem(value)), None)
        if bad is not None:  # as on every HTTP route: a NUL or lone surrogate is refused, not looked up
            name = "" if text_problem(bad) else f" '{bad}'"
            await sock.fail(f"Parámetro inválido{name}: {FORBIDDEN_CHARACTER}.", POLICY)
            return
        principal = await _authenticate(sock)
        if principal is None:
            return
        caller, subject = await _caller(sock, principal)
        assistant = await _assistant(sock, caller)
        if assistant is None:
            return
        await sock.send("connection", f"Conectado al asistente virtual {assistant.name}",
                        user=subject, assistant_id=assistant.id)
        while True:
            frame, ok = await sock.frame()
            await _handle(sock, caller, assistant, frame if ok else None)
    except Closed:
        pass
    except Exception:
        log.exception("websocket session failed")
        await sock.close(UNAVAILABLE)
    finally:
        runtime.ws_connections -= 1
        metrics.websocket_closed()


async def _handle(sock: Socket, caller: Principal, assistant: common.AssistantRef, frame: dict | None) -> None:
    state = sock.app.state
    kind = frame.get("type") if frame else None
    if kind == "message":
        text = frame.get("message")
        limit = state.settings.max_message_chars
        if not isinstance(text, str) or not text.strip():
            await sock.send("error", 'El campo "message" debe ser un texto no vacío.')
        elif len(text) > limit:
            await sock.send("error", f"El mensaje es demasiado largo (máximo {limit} caracteres).")
        elif text_problem(text):
            await sock.send("error", f'El campo "message" no es válido: {FORBIDDEN_CHARACTER}.')
        else:
            await _reply(sock, caller, assistant, text)
    elif kind == "reset":
        thread_id = await reset(state.db, caller.user_id, assistant.id)
        await sock.send("reset", "Conversación reiniciada", thread_id=thread_id)
    elif kind == "ping":
        await sock.send("pong", "")
    elif kind == "auth":
        await sock.send("error", "La sesión ya está autenticada.")
    elif frame is None:
        await sock.send("error", BAD_FRAME)
    else:
        await sock.send("error", f"Tipo de mensaje desconocido: {str(kind)[:40]!r}. {BAD_FRAME}")


async def _reply(sock: Socket, caller: Principal, assistant: common.AssistantRef, text: str) -> None:
    async def on_delta(chunk: str) -> None:
        if sock.open and chunk:
            try:
                await sock.send("delta", chunk)
            except Closed:
                pass  # the run goes on; its reply is in the thread for the next connection

    try:
        await sock.app.state.auth.limit(caller)
        reply = await converse(sock.app.state.runs, caller, assistant.id, text, on_delta=on_delta)
    except HiloError as exc:  # a refusal or the rate limit
        await sock.send("error", exc.message)
        return
    if reply.text:
        await sock.send("response", reply.text, thread_id=reply.thread_id, run_id=reply.run_id)
    else:
        await sock.send("error", reply.error or "El asistente no respondió.", thread_id=reply.thread_id,
                        run_id=reply.run_id)
