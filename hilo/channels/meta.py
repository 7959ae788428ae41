"""WhatsApp through Meta's Cloud API: ``GET|POST /webhooks/whatsapp``.

``GET`` answers Meta's subscription check (``hub.mode=subscribe``, ``hub.verify_token``,
``hub.challenge``). ``POST`` carries ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
raw body, keyed with the app secret>``; each new message id is answered in the background
through ``POST {HILO_WHATSAPP_API_URL}/{phone_number_id}/messages``. Both routes are mounted
only when the Cloud API is :func:`configured` (:func:`hilo.channels.install`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from hilo.channels import common, outbound, whatsapp
from hilo.kit.config import Settings

log = logging.getLogger("hilo.channels.meta")
router = APIRouter(tags=["channels: whatsapp"])

LIMIT = 4096  # characters in one Cloud API text body
MEDIA_TYPES = ("image", "audio", "voice", "video", "document", "sticker")


def configured(settings: Settings) -> bool:
    return bool(settings.whatsapp_app_secret and settings.whatsapp_token)


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


class MetaTransport:
    name = "meta"
    limit = LIMIT

    def __init__(self, settings: Settings, client: httpx.AsyncClient):
        self.settings, self.client = settings, client
        self.api = settings.whatsapp_api_url.rstrip("/")

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.settings.whatsapp_token or ''}"}

    async def fetch_media(self, media: whatsapp.Media) -> tuple[bytes, str]:
        meta = await outbound.request(self.client, "GET", f"{self.api}/{media.ref}", what="whatsapp media lookup",
                                      headers=self.headers)
        info = meta.json()
        response = await outbound.request(self.client, "GET", info["url"], what="whatsapp media download",
                                          headers=self.headers, follow_redirects=True)
        return response.content, info.get("mime_type") or response.headers.get("content-type", media.content_type)

    async def send(self, inbound: whatsapp.Inbound, text: str) -> None:
        number_id = inbound.via or self.settings.whatsapp_phone_number_id
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": inbound.reply_to,
                "type": "text", "text": {"preview_url": False, "body": text}}
        await outbound.request(self.client, "POST", f"{self.api}/{number_id}/messages", what="whatsapp send",
                               headers=self.headers, json=body)


def _dicts(value) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _field(message: dict, name: str) -> dict:
    value = message.get(name)
    return value if isinstance(value, dict) else {}


def _text(message: dict) -> str:
    kind = message.get("type")
    if kind == "text":
        text = _field(message, "text").get("body")
    elif kind == "button":
        text = _field(message, "button").get("text")
    elif kind == "interactive":
        reply = _field(message, "interactive")
        chosen = _field(reply, "button_reply") or _field(reply, "list_reply")
        text = chosen.get("title")
    elif kind in MEDIA_TYPES:
        text = _field(message, kind).get("caption")
    elif kind == "location":
        loc = _field(message, "location")
        text = f"[Ubicación: {loc.get('latitude')}, {loc.get('longitude')} {loc.get('name') or ''}]".strip()
    else:
        text = None
    return text if isinstance(text, str) else ""


def parse(payload: dict, default_number_id: str | None) -> list[whatsapp.Inbound]:
    """Every user message in a webhook payload (status updates and other fields are skipped)."""
    found: list[whatsapp.Inbound] = []
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            number_id = metadata.get("phone_number_id") or default_number_id
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name") if isinstance(c.get("profile"), dict)
                     else None for c in _dicts(value.get("contacts"))}
            for message in _dicts(value.get("messages")):
                if not message.get("id") or not message.get("from"):
                    continue
                kind = message.get("type")
                media = []
                if kind in MEDIA_TYPES and isinstance(message.get(kind), dict) and message[kind].get("id"):
                    part = message[kind]
                    media.append(whatsapp.Media(part["id"], part.get("mime_type") or "application/octet-stream",
                                                voice=kind in ("audio", "voice")))
                sender = str(message["from"])
                found.append(whatsapp.Inbound(provider="meta", message_id=str(message["id"]),
                                              number=whatsapp.e164(sender), reply_to=sender, via=number_id,
                                              text=_text(message), name=names.get(sender), media=media))
    return found


@router.get("/webhooks/whatsapp")
async def verify_subscription(request: Request):
    settings: Settings = request.app.state.settings
    q = request.query_params
    token = settings.whatsapp_verify_token
    if token and q.get("hub.mode") == "subscribe" and hmac.compare_digest(q.get("hub.verify_token", "").encode(), token.encode()):
        return PlainTextResponse(q.get("hub.challenge", ""))
    return JSONResponse({"error": {"type": "forbidden", "message": "Verification failed."}}, status_code=403)


@router.post("/webhooks/whatsapp")
async def whatsapp_webhook(request: Request):
    state = request.app.state
    settings: Settings = state.settings
    body = await request.body()
    if not signature_ok(settings.whatsapp_app_secret, body, request.headers.get("x-hub-signature-256", "")):
        log.warning("whatsapp webhook with a bad signature from %s", request.client.host if request.client else "?")
        return JSONResponse({"error": {"type": "invalid_signature", "message": "Invalid X-Hub-Signature-256."}},
                            status_code=403)
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError:
        return JSONResponse({"error": {"type": "invalid_request_error", "message": "The body is not a JSON object."}},
                            status_code=400)
    channels = state.channels
    for inbound in parse(payload, settings.whatsapp_phone_number_id):
        if await common.claim_inbound(state.db, "meta", inbound.message_id, inbound.number):
            channels.meta_stats.received += 1
            channels.background.spawn(whatsapp.handle(state, inbound, channels.meta, channels.meta_stats),
                                      name=f"meta:{inbound.message_id}")
        else:
            channels.meta_stats.duplicates += 1
    return {"status": "ok"}
