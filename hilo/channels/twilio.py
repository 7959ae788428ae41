"""WhatsApp through Twilio: ``POST /webhooks/twilio``.

Twilio signs each webhook (``X-Twilio-Signature``: HMAC-SHA1 of the URL it called plus the
sorted form fields, keyed with the account's Auth Token); the twilio SDK's
``RequestValidator`` checks it against ``HILO_PUBLIC_URL`` + path when set (behind a proxy
the URL hilo sees is not the one Twilio signed). A valid, new ``MessageSid`` gets an empty
TwiML answer at once; the reply goes out later through the Messages REST API. The route is
mounted only when Twilio is :func:`configured` (:func:`hilo.channels.install`).
"""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from twilio.request_validator import RequestValidator

from hilo.channels import common, outbound, whatsapp
from hilo.kit.config import Settings

log = logging.getLogger("hilo.channels.twilio")
router = APIRouter(tags=["channels: whatsapp"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
LIMIT = 1600  # characters in one Twilio message body
MAX_MEDIA = 10


def configured(settings: Settings) -> bool:
    return bool(settings.twilio_account_sid and settings.twilio_auth_token)


def signed_url(request: Request, settings: Settings) -> str:
    if settings.public_url:
        url = settings.public_url.rstrip("/") + request.url.path
        return url + ("?" + request.url.query if request.url.query else "")
    return str(request.url)


class TwilioTransport:
    name = "twilio"
    limit = LIMIT

    def __init__(self, settings: Settings, client: httpx.AsyncClient):
        self.settings, self.client = settings, client
        self.api = settings.twilio_api_url.rstrip("/")

    @property
    def auth(self) -> tuple[str, str]:
        return (self.settings.twilio_account_sid or "", self.settings.twilio_auth_token or "")

    async def fetch_media(self, media: whatsapp.Media) -> tuple[bytes, str]:
        # Credentials go only to Twilio's own API host; its redirect to the media CDN drops them.
        auth = self.auth if media.ref.startswith(self.api + "/") else None
        response = await outbound.request(self.client, "GET", media.ref, what="twilio media download", auth=auth,
                                          follow_redirects=True)
        return response.content, response.headers.get("content-type", media.content_type)

    async def send(self, inbound: whatsapp.Inbound, text: str) -> None:
        sender = self.settings.twilio_from or inbound.via
        url = f"{self.api}/2010-04-01/Accounts/{self.settings.twilio_account_sid}/Messages.json"
        await outbound.request(self.client, "POST", url, what="twilio send", auth=self.auth,
                               data={"From": sender, "To": inbound.reply_to, "Body": text})


def parse(form) -> whatsapp.Inbound | None:
    sid = form.get("MessageSid") or form.get("SmsMessageSid")
    sender = form.get("From")
    if not sid or not sender:
        return None
    media = []
    try:
        count = min(int(form.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    for i in range(count):
        url = form.get(f"MediaUrl{i}")
        if url:
            kind = form.get(f"MediaContentType{i}") or "application/octet-stream"
            media.append(whatsapp.Media(url, kind, voice=kind.startswith("audio/")))
    return whatsapp.Inbound(provider="twilio", message_id=sid, number=whatsapp.e164(sender), reply_to=sender,
                            via=form.get("To"), text=form.get("Body") or "", name=form.get("ProfileName") or None,
                            media=media)


@router.post("/webhooks/twilio")
async def twilio_webhook(request: Request):
    state = request.app.state
    settings: Settings = state.settings
    if not configured(settings):  # switched off since start-up: as if it were not mounted
        return JSONResponse({"error": {"type": "not_found", "message": "Not Found"}}, status_code=404)
    form = await request.form()
    signature = request.headers.get("x-twilio-signature", "")
    validator = RequestValidator(settings.twilio_auth_token)
    if not signature or not validator.validate(signed_url(request, settings), form, signature):
        log.warning("twilio webhook with a bad signature from %s", request.client.host if request.client else "?")
        return JSONResponse({"error": {"type": "invalid_signature", "message": "Invalid X-Twilio-Signature."}},
                            status_code=403)
    inbound = parse(form)
    channels = state.channels
    if inbound is not None:
        if await common.claim_inbound(state.db, "twilio", inbound.message_id, inbound.number):
            channels.twilio_stats.received += 1
            channels.background.spawn(whatsapp.handle(state, inbound, channels.twilio, channels.twilio_stats),
                                      name=f"twilio:{inbound.message_id}")
        else:
            channels.twilio_stats.duplicates += 1
    return Response(EMPTY_TWIML, media_type="text/xml")
