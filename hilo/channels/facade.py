"""Seed 000's REST facade: ``/api/assistant/*`` with the seed's exact shapes.

Every answer is ``{"success": true, ...}`` or ``{"success": false, "error": "..."}`` with
the right status. Callers authenticate like on ``/v1`` (API key or JWT, e.g. a Firebase
ID token); with ``HILO_AUTH=off`` (or an admin key) the header ``X-Hilo-User`` names the
user, else the user ``local``. The assistant is the ``assistant`` query or body field (an
``asst_...`` id or a pack key such as ``trading_mentor/mentor``), by default the one whose
definition claims the ``facade`` channel (the trading mentor's). A turn is
:func:`hilo.channels.conversation.converse`. ``/analyze-image`` belongs to the trading mentor
pack, which adds it to this router's prefix with the same envelope (:class:`FacadeRoute`).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hilo.api.deps import PrincipalDep
from hilo.channels import common
from hilo.channels.conversation import converse
from hilo.files.service import add_file, store_upload
from hilo.identity import EVERYTHING, Principal, user_principal
from hilo.identity.users import user_entitlements, user_for_identity
from hilo.kit.errors import Forbidden, HiloError, NotFound
from hilo.kit.ids import new_id
from hilo.threads import active

PREFIX = "/api/assistant"
CHANNEL = "facade"
USER_HEADER = "x-hilo-user"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
                b"GIF89a": "image/gif"}


class FacadeError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers, extra


# The seed's error body, for the OpenAPI spec (hilo.api.openapi).
ENVELOPE_SCHEMA = {"type": "object", "required": ["success", "error"],
                   "properties": {"success": {"const": False}, "error": {"type": "string"}}}


def envelope(error: HiloError) -> dict:
    """The seed's error body for an error hilo answers before a route runs."""
    return {"success": False, "error": error.message}


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
            except HiloError as exc:
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


async def _caller(request: Request, principal: PrincipalDep) -> Principal:
    """The user the facade acts for (a user, never an admin: it runs what that user may run)."""
    state = request.app.state
    if principal.user_id and not (principal.is_admin and request.headers.get(USER_HEADER)):
        caller = user_principal(principal.user_id, principal.entitlements, via=principal.via)
    else:  # HILO_AUTH=off, HILO_ADMIN_TOKEN, or an admin key acting for a user
        name = _sanitize(request.headers.get(USER_HEADER) or "local").strip()
        if not name or len(name) > 128:
            raise FacadeError(400, "La cabecera X-Hilo-User debe tener entre 1 y 128 caracteres.")
        user_id = await user_for_identity(state.db, "api", name)
        entitlements = EVERYTHING if principal.via == "off" else await user_entitlements(state.db, user_id)
        caller = user_principal(user_id, entitlements, via="facade")
    await state.auth.limit(caller)
    return caller


CallerDep = Annotated[Principal, Depends(_caller)]


async def assistant_for(request: Request, caller: Principal, ref: str | None):
    state = request.app.state
    ref = (ref or "").strip()
    if ref.startswith("asst_"):
        candidates = [ref]
    else:
        candidates = common.assistant_ids(state, ref.replace(":", "/") if ref else None, CHANNEL)
        if ref and candidates == [ref.replace(":", "/")]:
            raise FacadeError(404, f"No existe el asistente '{ref}'.")
        if not candidates:
            raise FacadeError(503, "Ningún asistente atiende esta API: indica 'assistant' o habilita un pack "
                                   "cuyo asistente declare channels = [\"facade\"] (HILO_PACKS).")
    try:
        return await state.runs.runnable(caller, candidates[0])
    except NotFound:
        raise FacadeError(404, f"No existe el asistente '{ref or candidates[0]}'.") from None
    except Forbidden as exc:
        missing = getattr(exc, "missing", None) or ["autorizados"]
        raise FacadeError(403, f"Este asistente es solo para usuarios {', '.join(missing)}.") from None


# ---------------------------------------------------------------- input


def _sanitize(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def clean_message(text: str, limit: int, required: bool) -> str:
    text = _sanitize(text or "").strip()
    if len(text) > limit:
        raise FacadeError(400, f"El mensaje supera el máximo de {limit} caracteres.")
    if required and not text:
        raise FacadeError(400, "El mensaje es obligatorio.")
    return text


def http_url(url: str) -> str:
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


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- endpoints


@router.post("/chat")
async def chat(request: Request, body: ChatBody, caller: CallerDep, assistant: str | None = None):
    state = request.app.state
    settings = state.settings
    target = await assistant_for(request, caller, body.assistant or assistant)
    text = clean_message(body.message, settings.max_message_chars, required=not body.files)
    parts: list[dict] = [{"type": "text", "text": text}] if text else []
    for ref in body.files:
        if ref.file_id:
            parts.append({"type": "image_file", "image_file": {"file_id": ref.file_id.strip()}})
        elif ref.url:
            parts.append({"type": "image_url", "image_url": {"url": http_url(ref.url)}})
        else:
            raise FacadeError(400, "Cada archivo necesita 'url' o 'file_id'.")
    reply = await converse(state.runs, caller, target.id, text if not body.files else parts,
                           timeout=settings.run_timeout)
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
    await assistant_for(request, caller, assistant)
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
        await add_file(session, settings, file_id, size, name, "vision", kind, caller.user_id)
    return {"success": True, "file_id": file_id, "filename": name, "size": size}


@router.get("/history")
async def history(request: Request, caller: CallerDep, assistant: str | None = None,
                  limit: Annotated[int | None, Query(ge=1)] = None):
    state = request.app.state
    target = await assistant_for(request, caller, assistant)
    cap = state.settings.history_limit
    thread_id = await active.active_thread(state.db, caller.user_id, target.id)
    items = await active.history(state.db, caller.user_id, target.id, min(limit or cap, cap))
    messages = [{"id": i["id"], "role": i["role"], "content": i["content"], "created_at": _iso(i["created_at"])}
                for i in items]
    return {"success": True, "messages": messages, "thread_id": thread_id}


@router.post("/clear")
async def clear(request: Request, caller: CallerDep, assistant: str | None = None, body: ClearBody | None = None):
    state = request.app.state
    target = await assistant_for(request, caller, (body.assistant if body else None) or assistant)
    thread_id = await active.reset(state.db, caller.user_id, target.id)
    return {"success": True, "message": "Historial eliminado. Empezamos una conversación nueva.",
            "thread_id": thread_id}
