"""One WhatsApp message, whichever provider brought it: the sender's user, the media kept
as files, one turn through :func:`hilo.channels.conversation.converse`, and the reply sent back.

A voice note is kept as a file and, when speech to text is configured (:mod:`hilo.audio`), its
transcript is the user's message; when nothing is configured, or the transcription fails, the
message says a voice note came (kind, size, file id) so the assistant can ask for it in writing.

The identity is (``whatsapp``, the sender's E.164 number), so a person reaching the same
assistant through Twilio or through Meta's Cloud API has one user and one thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from hilo import audio
from hilo.channels import common
from hilo.channels.conversation import converse
from hilo.identity import user_principal
from hilo.identity.users import user_entitlements, user_for_identity
from hilo.kit.errors import HiloError

log = logging.getLogger("hilo.channels.whatsapp")

FALLBACK = "Lo siento, no pude procesar tu mensaje en este momento. Por favor, inténtalo de nuevo en unos minutos."
NO_ASSISTANT = "Este número todavía no tiene un asistente configurado."
NO_TRANSCRIPTION = ("[El usuario envió una nota de voz ({kind}, {size} KB, guardada como {file_id}). "
                    "Este servidor no transcribe audio: si la respuesta depende de lo que dijo, "
                    "pídele amablemente que lo escriba.]")
NOT_TRANSCRIBED = ("[El usuario envió una nota de voz ({kind}, {size} KB, guardada como {file_id}) "
                   "que no se pudo transcribir: si la respuesta depende de lo que dijo, "
                   "pídele amablemente que lo escriba.]")
OTHER_MEDIA = "[El usuario envió un archivo {kind} ({size} KB, guardado como {file_id}).]"
MEDIA_FAILED = "[El usuario envió un archivo ({kind}) que no se pudo descargar.]"


@dataclass
class Media:
    ref: str  # Twilio: the MediaUrl; Meta: the media id
    content_type: str = "application/octet-stream"
    voice: bool = False


@dataclass
class Inbound:
    provider: str  # "twilio" | "meta": the dedupe namespace
    message_id: str
    number: str  # E.164, "+573001234567": the identity subject
    reply_to: str  # the address the provider sends back to
    via: str | None  # Twilio: our number (To); Meta: the phone_number_id it arrived on
    text: str = ""
    name: str | None = None
    media: list[Media] = field(default_factory=list)


class Transport(Protocol):
    name: str
    limit: int  # characters per message

    async def fetch_media(self, media: Media) -> tuple[bytes, str]: ...

    async def send(self, inbound: Inbound, text: str) -> None: ...


def e164(number: str) -> str:
    number = number.strip().removeprefix("whatsapp:").strip()
    digits = "".join(c for c in number if c.isdigit())
    return "+" + digits if digits else number


@dataclass
class Stats:
    received: int = 0
    replied: int = 0
    failed: int = 0
    duplicates: int = 0
    last_error: str | None = None
    last_error_at: float | None = None

    def as_dict(self) -> dict:
        return {"received": self.received, "replied": self.replied, "failed": self.failed,
                "duplicates": self.duplicates, "last_error": self.last_error}


async def _content(state, user_id: str, inbound: Inbound, transport: Transport) -> list[dict] | str:
    parts: list[dict] = []
    notes: list[str] = []
    limit = state.settings.max_upload_bytes
    for index, media in enumerate(inbound.media):
        kind = media.content_type.split(";", 1)[0].strip() or "application/octet-stream"
        try:
            data, content_type = await transport.fetch_media(media)
            if len(data) > limit:
                raise ValueError(f"{len(data)} bytes over the upload limit")
        except Exception as exc:
            log.warning("%s media %d of %s could not be fetched: %s", transport.name, index, inbound.message_id,
                        type(exc).__name__)
            notes.append(MEDIA_FAILED.format(kind=kind))
            continue
        kind = content_type.split(";", 1)[0].strip() or kind
        ext = kind.rsplit("/", 1)[-1].replace("+", ".")[:8]
        filename = f"whatsapp-{inbound.message_id[-16:]}-{index}.{ext}"
        is_image = kind.startswith("image/")
        file_id = await common.store_file(state, user_id, data, filename, kind,
                                          purpose="vision" if is_image else "user_data")
        size = max(1, round(len(data) / 1024))
        if is_image:
            parts.append({"type": "image_file", "image_file": {"file_id": file_id}})
        elif kind.startswith("audio/"):
            notes.append(await _voice_note(state.settings, inbound, data, filename, kind, size, file_id))
        else:
            notes.append(OTHER_MEDIA.format(kind=kind, size=size, file_id=file_id))
    text = "\n".join(t for t in (inbound.text.strip(), *notes) if t)
    if not parts:
        return text
    return ([{"type": "text", "text": text}] if text else []) + parts


async def _voice_note(settings, inbound: Inbound, data: bytes, filename: str, kind: str, size: int,
                      file_id: str) -> str:
    """What the user said in a voice note, or the note that says one came."""
    if audio.configured(settings) is None:
        return NO_TRANSCRIPTION.format(kind=kind, size=size, file_id=file_id)
    try:
        transcript = await audio.transcribe(settings, data, filename, kind)
    except Exception as exc:  # unavailable, refused, corrupt: the note below, never a lost message
        log.warning("voice note of %s (%s) was not transcribed: %s", inbound.message_id, file_id,
                    getattr(exc, "message", type(exc).__name__))
        return NOT_TRANSCRIBED.format(kind=kind, size=size, file_id=file_id)
    if not transcript.text.strip():
        return NOT_TRANSCRIBED.format(kind=kind, size=size, file_id=file_id)
    log.info("voice note of %s (%s) transcribed by the %s backend: %d characters", inbound.message_id, file_id,
             transcript.backend, len(transcript.text))
    return transcript.text.strip()


async def handle(state, inbound: Inbound, transport: Transport, stats: Stats) -> None:
    """Answer one inbound message (runs in the background, after the webhook answered)."""
    status = "failed"
    try:
        reply_text = await _answer(state, inbound, transport)
        if reply_text:
            for piece in common.split_message(reply_text, transport.limit):
                await transport.send(inbound, piece)
        status = "replied"
        stats.replied += 1
    except Exception as exc:
        stats.failed += 1
        stats.last_error, stats.last_error_at = f"{type(exc).__name__}: {exc}"[:300], time.time()
        log.warning("%s message %s was not answered: %s", transport.name, inbound.message_id, stats.last_error)
    finally:
        try:
            await common.mark_inbound(state.db, inbound.provider, inbound.message_id, status)
        except Exception:
            log.exception("could not record the outcome of %s", inbound.message_id)


async def _answer(state, inbound: Inbound, transport: Transport) -> str:
    settings = state.settings
    assistant = await common.resolve_assistant(state, settings.whatsapp_assistant, "whatsapp")
    if assistant is None:
        log.error("no assistant answers WhatsApp: set HILO_WHATSAPP_ASSISTANT or enable a pack")
        return NO_ASSISTANT
    user_id = await user_for_identity(state.db, "whatsapp", inbound.number, name=inbound.name)
    content = await _content(state, user_id, inbound, transport)
    if not content:
        return ""
    caller = user_principal(user_id, await user_entitlements(state.db, user_id), via="whatsapp")
    try:
        reply = await converse(state.runs, caller, assistant.id, content)
    except HiloError as exc:
        log.warning("whatsapp turn refused for %s: %s", inbound.message_id, exc.message)
        return FALLBACK
    if reply.text.strip():
        return reply.text
    log.warning("whatsapp turn %s ended %s: %s", reply.run_id, reply.status, reply.error)
    return FALLBACK
