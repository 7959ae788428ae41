"""Seed 002's chat: ``/chat/texto``, ``/chat/imagen``, ``/chat/audio``, ``/chat/historial/{chat_id}``
and ``/chat/health``, each a turn of the shop's assistant (``commerce/vendedor``, or the one
``HILO_COMMERCE_ASSISTANT`` names) on the conversation's own thread.

A ``chat_id`` is the customer's conversation: the user behind the identity ``("shop",
chat_id)``, and that user's active thread with the assistant (the whole history is stored;
the order in progress and the customer's data live on the order, see :mod:`.orders`). With
``HILO_AUTH=on`` a user's key speaks for that user's own chat ids only (they are kept apart
from another user's same chat id); an admin key or ``HILO_AUTH=off`` speaks for any.
"""

from __future__ import annotations

import os
import re
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from hilo.api.deps import PrincipalDep
from hilo.channels.conversation import converse
from hilo.channels.facade import FacadeError, FacadeRoute, clean_message
from hilo.files.service import add_file, store_upload
from hilo.identity import EVERYTHING, Principal, user_principal
from hilo.identity.users import user_entitlements, user_for_identity
from hilo.kit.errors import Forbidden, NotFound
from hilo.kit.ids import new_id
from hilo.packs.commerce import views
from hilo.packs.commerce.models import OPEN_STATES, Order
from hilo.packs.commerce.orders import items_of
from hilo.packs.commerce.settings import shop_for
from hilo.runs.options import RunOptions
from hilo.threads import active

CHANNEL = "shop"
ASSISTANT_KEY = "commerce/vendedor"
_CHAT_ID = re.compile(r"^[\w.:@+\-]{1,128}$")
_IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
                b"GIF89a": "image/gif", b"RIFF": "image/webp"}
NO_VISION = ("Recibí tu imagen y la guardé, pero ahora no tengo un modelo que pueda verla. "
             "¿Me describes el producto que buscas (qué es, color, talla o marca)? Así lo busco en el inventario.")

router = APIRouter(prefix="/chat", tags=["shop chat (seed 002)"], route_class=FacadeRoute)


class TextBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    mensaje: str = Field(default="", max_length=100_000)
    chat_id: str = Field(min_length=1, max_length=128)


def _chat_id(value: str) -> str:
    value = (value or "").strip()
    if not _CHAT_ID.match(value):
        raise FacadeError(400, "chat_id debe tener de 1 a 128 letras, números o . : @ + - _")
    return value


async def _customer(request: Request, principal: Principal, chat_id: str) -> Principal:
    """The shop customer behind this chat id (scoped to the calling user when auth is on)."""
    state = request.app.state
    own = principal.user_id and not principal.is_admin
    subject = f"{principal.user_id}/{chat_id}" if own else chat_id
    user_id = await user_for_identity(state.db, CHANNEL, subject, name=chat_id)
    entitlements = EVERYTHING if principal.via == "off" else await user_entitlements(state.db, user_id)
    caller = user_principal(user_id, entitlements, via=CHANNEL)
    await state.auth.limit(caller)
    return caller


async def _assistant(request: Request, caller: Principal):
    state = request.app.state
    _shop, settings = shop_for(state.db)
    wanted = settings.assistant or ASSISTANT_KEY
    packs = getattr(state, "pack_assistants", None) or {}
    assistant_id = wanted if wanted.startswith("asst_") else packs.get(wanted)
    if assistant_id is None:
        raise FacadeError(503, f"El asistente de la tienda ({wanted}) no está habilitado: revisa HILO_PACKS "
                               "y HILO_COMMERCE_ASSISTANT.")
    try:
        return await state.runs.runnable(caller, assistant_id)
    except NotFound:
        raise FacadeError(503, f"No existe el asistente {wanted}.") from None
    except Forbidden:
        raise FacadeError(403, "Este usuario no puede usar el asistente de la tienda.") from None


async def _order_of(request: Request, thread_id: str) -> dict | None:
    db = request.app.state.db
    async with db.sessionmaker() as session:
        from sqlalchemy import select

        order = await session.scalar(select(Order).where(Order.thread_id == thread_id)
                                     .order_by(Order.id.desc()).limit(1))
        if order is None:
            return None
        items = (await items_of(session, [order.id]))[order.id]
    view = views.order(order, items)
    view["abierto"] = order.state in OPEN_STATES
    return view


SHORT_MEMORY = 10  # the seed's short-term memory: the last 10 messages reach the model


async def _memory(request: Request, caller: Principal, assistant_id: str) -> RunOptions:
    """The seed's memory: the last messages, and the order in progress with the customer's data
    (the medium-term memory) told to the model with the turn; the whole history stays stored."""
    state = request.app.state
    thread_id = await active.active_thread(state.db, caller.user_id, assistant_id, create=False)
    order = await _order_of(request, thread_id) if thread_id else None
    note = None
    if order and order["abierto"]:
        lines = "; ".join(f"{i['cantidad']} x {i['nombre']} (#{i['producto_id']})" for i in order["items"]) or "vacío"
        customer = {k: v for k, v in order["cliente"].items() if v}
        note = (f"Pedido en curso #{order['id']} ({order['estado']}): {lines}; total {order['total_texto']}. "
                f"Datos del cliente ya dados: {customer or 'ninguno'}.")
    return RunOptions(truncation_strategy={"type": "last_messages", "last_messages": SHORT_MEMORY},
                      additional_instructions=note)


async def _turn(request: Request, principal: Principal, chat_id: str, content) -> dict:
    state = request.app.state
    caller = await _customer(request, principal, chat_id)
    assistant = await _assistant(request, caller)
    reply = await converse(state.runs, caller, assistant.id, content, timeout=state.settings.run_timeout,
                           options=await _memory(request, caller, assistant.id))
    if not reply.ok:
        status = 504 if reply.status == "expired" else 502
        raise FacadeError(status, reply.error or "El asistente no pudo responder.", chat_id=chat_id,
                          thread_id=reply.thread_id)
    return {"success": True, "chat_id": chat_id, "respuesta": reply.text, "thread_id": reply.thread_id,
            "run_id": reply.run_id, "pedido": await _order_of(request, reply.thread_id)}


@router.post("/texto")
async def text(request: Request, body: TextBody, principal: PrincipalDep):
    """One message of the customer: ``{"mensaje": "...", "chat_id": "..."}``."""
    chat_id = _chat_id(body.chat_id)
    message = clean_message(body.mensaje, request.app.state.settings.max_message_chars, required=True)
    return await _turn(request, principal, chat_id, message)


def _vision(request: Request, assistant) -> bool:
    """Can the assistant's model see images? The guided, local and scripted providers cannot."""
    try:
        provider, _model = request.app.state.providers.resolve(assistant.model)
    except Exception:  # noqa: BLE001 - an unknown model answers the turn's own error later
        return False
    return getattr(provider, "name", "") not in ("guided", "local", "scripted")


@router.post("/imagen")
async def image(request: Request, principal: PrincipalDep, imagen: Annotated[UploadFile, File()],
                chat_id: Annotated[str, Form(max_length=128)], mensaje: Annotated[str, Form(max_length=4000)] = ""):
    """A picture of what the customer wants (PNG, JPEG, GIF or WebP, up to HILO_MAX_UPLOAD_MB)."""
    state = request.app.state
    chat_id = _chat_id(chat_id)
    caller = await _customer(request, principal, chat_id)
    assistant = await _assistant(request, caller)
    file_id = new_id("file")
    size = await store_upload(imagen, state.settings, file_id)
    path = state.settings.files_dir / file_id
    with open(path, "rb") as fh:
        head = fh.read(16)
    kind = next((k for magic, k in _IMAGE_MAGIC.items() if head.startswith(magic)), None)
    if kind is None or size == 0 or (kind == "image/webp" and head[8:12] != b"WEBP"):
        path.unlink(missing_ok=True)
        raise FacadeError(400, "Solo se aceptan imágenes PNG, JPEG, GIF o WebP.")
    name = os.path.basename(imagen.filename or "imagen")[:255] or "imagen"
    async with state.db.sessionmaker() as session:
        await add_file(session, state.settings, file_id, size, name, "vision", kind, caller.user_id)
    text_part = clean_message(mensaje, state.settings.max_message_chars, required=False)
    if _vision(request, assistant):
        ask = text_part or ("Busca en el inventario productos como el de esta imagen: describe lo que ves y usa "
                            "buscar_producto con esa descripción.")
        parts = [{"type": "image_file", "image_file": {"file_id": file_id}}, {"type": "text", "text": ask}]
        result = await _turn(request, principal, chat_id, parts)
        return {**result, "file_id": file_id, "vision": True}
    if text_part:  # no eyes, but words: search from them, the picture kept in the thread
        parts = [{"type": "image_file", "image_file": {"file_id": file_id}}, {"type": "text", "text": text_part}]
        result = await _turn(request, principal, chat_id, parts)
        return {**result, "file_id": file_id, "vision": False}
    return {"success": True, "chat_id": chat_id, "respuesta": NO_VISION, "file_id": file_id, "vision": False,
            "pedido": None}


@router.post("/audio")
async def audio(request: Request, principal: PrincipalDep, audio: Annotated[UploadFile, File()],
                chat_id: Annotated[str, Form(max_length=128)]):
    """A voice message: transcribed (HILO_TRANSCRIPTION_* or HILO_WHISPER_MODEL), then a turn."""
    from hilo.audio import InvalidAudio, TranscriptionUnavailable, transcribe

    state = request.app.state
    chat_id = _chat_id(chat_id)
    limit = int(state.settings.max_upload_mb * 1024 * 1024)
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise FacadeError(413, f"El audio supera el máximo de {state.settings.max_upload_mb:g} MB.")
    if not data:
        raise FacadeError(400, "El audio está vacío.")
    try:
        heard = await transcribe(state.settings, data, audio.filename or "audio", audio.content_type, language="es")
    except InvalidAudio as exc:
        raise FacadeError(400, str(exc)) from None
    except TranscriptionUnavailable as exc:
        raise FacadeError(503, f"No puedo transcribir audio en este servidor: {exc}. Escríbeme tu mensaje, "
                               "por favor.") from None
    said = (heard.text or "").strip()
    if not said:
        raise FacadeError(422, "No entendí nada en el audio. ¿Puedes repetirlo o escribirlo?")
    result = await _turn(request, principal, chat_id, said)
    return {**result, "transcripcion": said}


@router.get("/historial/{chat_id}")
async def history(request: Request, principal: PrincipalDep, chat_id: Annotated[str, Path(max_length=128)],
                  limit: int = 50):
    """The conversation's messages (oldest first, up to ``limit``, at most HILO_HISTORY_LIMIT) and its order."""
    state = request.app.state
    chat_id = _chat_id(chat_id)
    if not 1 <= limit <= state.settings.history_limit:
        raise FacadeError(400, f"limit debe estar entre 1 y {state.settings.history_limit}.")
    caller = await _customer(request, principal, chat_id)
    assistant = await _assistant(request, caller)
    thread_id = await active.active_thread(state.db, caller.user_id, assistant.id, create=False)
    items = await active.history(state.db, caller.user_id, assistant.id, limit) if thread_id else []
    return {"success": True, "chat_id": chat_id, "thread_id": thread_id,
            "mensajes": [{"id": i["id"], "rol": i["role"], "contenido": i["content"], "fecha": views.iso(i["created_at"])}
                         for i in items],
            "pedido": await _order_of(request, thread_id) if thread_id else None}


@router.post("/reiniciar/{chat_id}")
async def reset(request: Request, principal: PrincipalDep, chat_id: Annotated[str, Path(max_length=128)]):
    """Start a new conversation for this chat id (the old one stays stored)."""
    state = request.app.state
    chat_id = _chat_id(chat_id)
    caller = await _customer(request, principal, chat_id)
    assistant = await _assistant(request, caller)
    thread_id = await active.reset(state.db, caller.user_id, assistant.id)
    return {"success": True, "chat_id": chat_id, "thread_id": thread_id}


@router.get("/health")
async def health(request: Request):
    state = request.app.state
    packs = getattr(state, "pack_assistants", None) or {}
    _shop, settings = shop_for(state.db)
    wanted = settings.assistant or ASSISTANT_KEY
    ok = wanted.startswith("asst_") or wanted in packs
    from hilo.audio import configured

    return {"success": ok, "status": "ok" if ok else "sin asistente", "asistente": wanted,
            "transcripcion": configured(state.settings) or "no configurada"}
