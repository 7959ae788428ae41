"""Seed 000's REST facade: ``/api/assistant/*`` with the seed's exact shapes.

Every answer is ``{"success": true, ...}`` or ``{"success": false, "error": "..."}`` with
the right status. Callers authenticate like on ``/v1`` (API key or JWT, e.g. a Firebase
ID token); with ``HILO_AUTH=off`` (or an admin key) the header ``X-Hilo-User`` names the
user, else the user ``local``. The assistant is the ``assistant`` query or body field (an
``asst_...`` id or a pack key such as ``trading_mentor/mentor``), by default the trading
mentor. A turn is :func:`hilo.conversations.converse`; ``analyze-image`` calls the pack's
``analyze_image`` tool directly through the engine's tool registry (no model needed).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hilo import conversations as conv
from hilo.api.errors import APIError
from hilo.api.files import store_upload
from hilo.auth import EVERYTHING, Principal
from hilo.auth.deps import PrincipalDep
from hilo.auth.service import auth_of
from hilo.db import models as m
from hilo.ids import new_id
from hilo.store import now
from hilo.tools import ToolContext

PREFIX = "/api/assistant"
DEFAULT_ASSISTANT = "trading_mentor/mentor"
USER_HEADER = "x-hilo-user"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
                b"GIF89a": "image/gif"}


class FacadeError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers, extra


def _fail(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": False, "error": message, **extra}, status_code=status, headers=headers)


class FacadeRoute(APIRoute):
    """Turns every error into the seed's ``{"success": false, "error": ...}`` envelope."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def envelope(request: Request):
            try:
                return await handler(request)
            except FacadeError as exc:
                return _fail(exc.status, exc.message, exc.headers, **exc.extra)
            except conv.ConversationError as exc:
                return _fail(exc.status, exc.message)
            except APIError as exc:
                return _fail(exc.status, exc.message, exc.headers)
            except RequestValidationError as exc:
                first = (exc.errors() or [{}])[0]
                where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
                return _fail(400, f"Solicitud inválida: {where or 'cuerpo'}: {first.get('msg', 'valor inválido')}.")
            except StarletteHTTPException as exc:
                return _fail(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

        return envelope


router = APIRouter(prefix=PREFIX, tags=["seed 000 facade"], route_class=FacadeRoute)


# ---------------------------------------------------------------- who and which assistant


@dataclass(slots=True)
class Caller:
    user_id: str
    entitlements: Container[str] | None  # None: the user record's


async def _caller(request: Request, principal: PrincipalDep) -> Caller:
    state = request.app.state
    if principal.user_id and not (principal.is_admin and request.headers.get(USER_HEADER)):
        caller = Caller(principal.user_id, principal.entitlements)
    else:  # HILO_AUTH=off, HILO_ADMIN_TOKEN, or an admin key acting for a user
        name = _sanitize(request.headers.get(USER_HEADER) or "local").strip()
        if not name or len(name) > 128:
            raise FacadeError(400, "La cabecera X-Hilo-User debe tener entre 1 y 128 caracteres.")
        user_id = await conv.user_for_identity(state.db, "api", name)
        caller = Caller(user_id, EVERYTHING if principal.via == "off" else None)
    await auth_of(request.app).limit(Principal(user_id=caller.user_id, scope="user"))
    return caller


CallerDep = Annotated[Caller, Depends(_caller)]


async def _assistant(request: Request, caller: Caller, ref: str | None) -> m.Assistant:
    state = request.app.state
    ref = (ref or "").strip() or DEFAULT_ASSISTANT
    if ref.startswith("asst_"):
        assistant_id = ref
    else:
        known: dict[str, str] = getattr(state, "pack_assistants", None) or {}
        key = ref.replace(":", "/")
        assistant_id = known.get(key) or next((v for k, v in known.items() if k.split("/")[0] == key), None)
        if assistant_id is None:
            if ref == DEFAULT_ASSISTANT:
                raise FacadeError(503, "El asistente por defecto (pack trading_mentor) no está habilitado "
                                       "(HILO_PACKS); indica 'assistant'.")
            raise FacadeError(404, f"No existe el asistente '{ref}'.")
    async with state.db.sessionmaker() as session:
        assistant = await session.get(m.Assistant, assistant_id)
        entitlements = caller.entitlements
        if entitlements is None:
            user = await session.get(m.User, caller.user_id)
            entitlements = caller.entitlements = frozenset(user.entitlements or ()) if user else frozenset()
    if assistant is None or assistant.user_id not in (None, caller.user_id):
        raise FacadeError(404, f"No existe el asistente '{ref}'.")
    missing = conv.missing_entitlements(assistant, entitlements)
    if missing:
        raise FacadeError(403, f"Este asistente es solo para usuarios {', '.join(missing)}.")
    return assistant


# ---------------------------------------------------------------- input


def _sanitize(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _clean_message(text: str, limit: int, required: bool) -> str:
    text = _sanitize(text or "").strip()
    if len(text) > limit:
        raise FacadeError(400, f"El mensaje supera el máximo de {limit} caracteres.")
    if required and not text:
        raise FacadeError(400, "El mensaje es obligatorio.")
    return text


def _http_url(url: str) -> str:
    url = _sanitize(url or "").strip()
    if not re.match(r"^https?://[^\s/]+", url, re.I) or len(url) > 2048:
        raise FacadeError(400, "La URL de la imagen debe ser http(s).")
    return url


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FileRef(_Body):
    type: str = "image"
    url: str | None = None
    file_id: str | None = None


class ChatBody(_Body):
    message: str = Field(default="", max_length=100_000)
    files: list[FileRef] = Field(default_factory=list, max_length=10)
    assistant: str | None = None


class ClearBody(_Body):
    assistant: str | None = None


class AnalyzeBody(_Body):
    image_url: str | None = None
    file_id: str | None = None
    analysis_type: str = "complete"
    prompt: str | None = Field(default=None, max_length=100_000)
    assistant: str | None = None


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- endpoints


@router.post("/chat")
async def chat(request: Request, body: ChatBody, caller: CallerDep, assistant: str | None = None):
    state = request.app.state
    settings = state.settings
    target = await _assistant(request, caller, body.assistant or assistant)
    text = _clean_message(body.message, settings.max_message_chars, required=not body.files)
    parts: list[dict] = [{"type": "text", "text": text}] if text else []
    for ref in body.files:
        if ref.file_id:
            parts.append({"type": "image_file", "image_file": {"file_id": ref.file_id.strip()}})
        elif ref.url:
            parts.append({"type": "image_url", "image_url": {"url": _http_url(ref.url)}})
        else:
            raise FacadeError(400, "Cada archivo necesita 'url' o 'file_id'.")
    reply = await conv.converse(state, user_id=caller.user_id, assistant_id=target.id,
                                content=text if not body.files else parts, timeout=settings.run_timeout,
                                entitlements=caller.entitlements)
    if not reply.ok:
        status = 504 if reply.status == "expired" else 502
        raise FacadeError(status, reply.error or "El asistente no pudo responder.", thread_id=reply.thread_id,
                          run_id=reply.run_id)
    return {"success": True, "message": reply.text, "thread_id": reply.thread_id, "run_id": reply.run_id}


def _sniff(head: bytes) -> str | None:
    for magic, kind in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.post("/upload")
async def upload(request: Request, file: UploadFile, caller: CallerDep, assistant: str | None = None):
    state = request.app.state
    settings = state.settings
    await _assistant(request, caller, assistant)
    file_id = new_id("file")
    size = await store_upload(file, settings, file_id)  # 413 beyond HILO_MAX_UPLOAD_MB
    path = settings.files_dir / file_id
    with open(path, "rb") as fh:
        kind = _sniff(fh.read(16))
    if kind is None or size == 0:
        path.unlink(missing_ok=True)
        raise FacadeError(400, "Solo se aceptan imágenes PNG, JPEG, GIF o WebP.")
    name = _sanitize(os.path.basename(file.filename or "imagen")).strip()[:255] or "imagen"
    async with state.db.sessionmaker() as session:
        session.add(m.File(id=file_id, created_at=now(), bytes=size, filename=name, purpose="vision",
                           content_type=kind, storage_path=file_id, user_id=caller.user_id))
        try:
            await session.commit()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return {"success": True, "file_id": file_id, "filename": name, "size": size}


@router.get("/history")
async def history(request: Request, caller: CallerDep, assistant: str | None = None,
                  limit: Annotated[int | None, Query(ge=1)] = None):
    state = request.app.state
    target = await _assistant(request, caller, assistant)
    cap = state.settings.history_limit
    thread_id = await conv.active_thread(state.db, caller.user_id, target.id)
    items = await conv.history(state.db, caller.user_id, target.id, min(limit or cap, cap))
    messages = [{"id": i["id"], "role": i["role"], "content": i["content"], "created_at": _iso(i["created_at"])}
                for i in items]
    return {"success": True, "messages": messages, "thread_id": thread_id}


@router.post("/clear")
async def clear(request: Request, caller: CallerDep, assistant: str | None = None, body: ClearBody | None = None):
    state = request.app.state
    target = await _assistant(request, caller, (body.assistant if body else None) or assistant)
    thread_id = await conv.reset(state.db, caller.user_id, target.id)
    return {"success": True, "message": "Historial eliminado. Empezamos una conversación nueva.",
            "thread_id": thread_id}


@router.post("/analyze-image")
async def analyze_image(request: Request, body: AnalyzeBody, caller: CallerDep, assistant: str | None = None):
    from hilo.nlu.render import render
    from hilo.tools.function import ToolError

    state = request.app.state
    target = await _assistant(request, caller, body.assistant or assistant)
    tool = state.engine.tools.get("analyze_image")
    if tool is None:
        raise FacadeError(503, "El análisis de imágenes no está disponible (pack trading_mentor no habilitado).")
    if bool(body.image_url) == bool(body.file_id):
        raise FacadeError(400, "Envía 'image_url' o 'file_id' (uno de los dos).")
    args: dict[str, Any] = {"analysis_type": body.analysis_type}
    if body.image_url:
        args["image_url"] = _http_url(body.image_url)
    else:
        async with state.db.sessionmaker() as session:
            row = await session.get(m.File, body.file_id)
        if row is None or row.user_id != caller.user_id:
            raise FacadeError(404, f"No existe el archivo '{body.file_id}'.")
        args["file_id"] = row.id
    prompt = _clean_message(body.prompt or "", state.settings.max_message_chars, required=False)
    thread_id = await conv.active_thread(state.db, caller.user_id, target.id)
    context = ToolContext(run_id="", thread_id=thread_id, assistant_id=target.id, services=state.engine.services)
    try:
        async with asyncio.timeout(state.settings.run_timeout):
            result = await tool.call(args, context)
    except ToolError as exc:
        raise FacadeError(400, str(exc)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise FacadeError(400, f"Parámetro inválido '{where}': {first.get('msg')}.") from None
    except TimeoutError:
        raise FacadeError(504, "El análisis de la imagen tardó demasiado.") from None
    if not isinstance(result, dict):
        result = {"analysis": str(result)}
    message = result.get("analysis") if result.get("vision") else None
    message = message or render(getattr(tool, "template", {}).get("es", ""), result) or result.get("nota") or ""
    analysis = {k: v for k, v in result.items() if k not in ("nota", "note")}
    return {"success": True, "message": message, "analysis_type": body.analysis_type, "prompt": prompt or None,
            "analysis": analysis}
