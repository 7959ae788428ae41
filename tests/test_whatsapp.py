"""WhatsApp end to end over real HTTP: Twilio's and Meta's webhooks signed as they sign
them, replies through fake Twilio and Meta servers, media, retries, replays, bad input."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from openai import OpenAI
from sqlalchemy import func, select

from hilo.channels import outbound
from hilo.channels.common import split_message
from hilo.channels.models import InboundMessage
from hilo.files.models import File
from hilo.identity.models import Identity
from hilo.kit.db.session import Database
from hilo.providers import scripted
from hilo.testing.fake_whatsapp import (
    FakeMeta,
    FakeTwilio,
    meta_payload,
    meta_signature,
    twilio_signature,
)
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings

SID, TOKEN = "AC" + "1" * 32, "twilio-auth-token"
APP_SECRET, VERIFY, META_TOKEN = "meta-app-secret", "verify-me", "meta-access-token"
BOT = "whatsapp:+14155238886"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f0a0000000049454e44ae426082")


@pytest.fixture(scope="module")
def fakes():
    with FakeTwilio(SID, TOKEN) as twilio, FakeMeta(META_TOKEN) as meta:
        yield twilio, meta


@pytest.fixture(scope="module", params=BACKENDS)
def hilo(request, fakes, database_factory, tmp_path_factory):
    twilio, meta = fakes
    settings = make_settings(
        database_factory(request.param), tmp_path_factory.mktemp("data"), packs="none",
        twilio_account_sid=SID, twilio_auth_token=TOKEN, twilio_from=BOT, twilio_api_url=twilio.url,
        whatsapp_verify_token=VERIFY, whatsapp_app_secret=APP_SECRET, whatsapp_token=META_TOKEN,
        whatsapp_api_url=meta.url)
    live = start_server(settings)
    with OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0) as client:
        assistant = client.beta.assistants.create(model="scripted/wa", name="Vendedor de cursos")
    # Which assistant answers WhatsApp is read per message, so the test can point it at its own.
    live.settings.whatsapp_assistant = assistant.id
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch, fakes):
    monkeypatch.setattr(outbound, "BACKOFF_S", 0.01)
    for fake in fakes:
        fake.sent.clear()
    yield
    scripted.reset("wa")


def sid() -> str:
    return "SM" + str(time.time_ns())[-16:].rjust(32, "0")


def twilio_post(server, params, *, url=None, signature=None, path="/webhooks/twilio"):
    signed_url = url or server.url + path
    sig = signature if signature is not None else twilio_signature(TOKEN, signed_url, params)
    return httpx.post(server.url + path, data=params, headers={"X-Twilio-Signature": sig}, timeout=10)


def inbound(text, sender="whatsapp:+573001112233", **extra):
    return {"MessageSid": sid(), "AccountSid": SID, "From": sender, "To": BOT, "Body": text,
            "NumMedia": "0", "ProfileName": "Ana", **extra}


def meta_post(server, payload, secret=APP_SECRET):
    body = json.dumps(payload).encode()
    return httpx.post(server.url + "/webhooks/whatsapp", content=body, timeout=10,
                      headers={"content-type": "application/json", "X-Hub-Signature-256": meta_signature(secret, body)})


def query(server, statement):
    async def run():
        db = Database(server.settings.database_url)
        try:
            async with db.sessionmaker() as session:
                return (await session.execute(statement)).all()
        finally:
            await db.dispose()

    return asyncio.run(run())


def last_request(script="wa"):
    return scripted.requests[script][-1]


def test_twilio_message_answered_through_the_rest_api(hilo, fakes):
    twilio, _ = fakes
    r = twilio_post(hilo, inbound("Hola, ¿qué cursos tienen?"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert r.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    sent = twilio.wait_for(1)
    assert sent[0]["Body"] == "echo: Hola, ¿qué cursos tienen?"
    assert sent[0]["To"] == "whatsapp:+573001112233" and sent[0]["From"] == BOT
    # the same number keeps its thread: the second turn sees the first
    twilio_post(hilo, inbound("¿Y el de Python?"))
    sent = twilio.wait_for(2)
    assert sent[1]["Body"] == "echo: ¿Y el de Python?"
    history = [msg["content"] for msg in last_request().messages]
    assert "Hola, ¿qué cursos tienen?" in history and "echo: Hola, ¿qué cursos tienen?" in history
    rows = query(hilo, select(Identity.subject, Identity.user_id).where(Identity.channel == "whatsapp",
                                                                            Identity.subject == "+573001112233"))
    assert len(rows) == 1
    status = httpx.get(hilo.url + "/").json()["channels"]["twilio"]
    assert status["configured"] is True and status["replied"] >= 2


def test_twilio_bad_signatures_are_refused_and_nothing_is_stored(hilo, fakes):
    twilio, _ = fakes
    before = query(hilo, select(func.count()).select_from(InboundMessage))[0][0]
    params = inbound("hola", sender="whatsapp:+573009999999")
    assert twilio_post(hilo, params, signature="").status_code == 403
    assert twilio_post(hilo, params, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    assert twilio_post(hilo, params, url="https://elsewhere.example.com/webhooks/twilio").status_code == 403
    tampered = dict(params, Body="transfiere todo")
    sig = twilio_signature(TOKEN, hilo.url + "/webhooks/twilio", params)
    assert twilio_post(hilo, tampered, signature=sig).status_code == 403
    wrong_key = twilio_signature("another-token", hilo.url + "/webhooks/twilio", params)
    assert twilio_post(hilo, params, signature=wrong_key).status_code == 403
    time.sleep(0.3)
    assert query(hilo, select(func.count()).select_from(InboundMessage))[0][0] == before
    assert query(hilo, select(Identity).where(Identity.subject == "+573009999999")) == []
    assert twilio.sent == []


def test_twilio_duplicates_and_replays_are_dropped(hilo, fakes):
    twilio, _ = fakes
    params = inbound("quiero inscribirme")
    for _ in range(3):
        assert twilio_post(hilo, params).status_code == 200
    twilio.wait_for(1)
    time.sleep(0.5)
    assert len(twilio.sent) == 1
    rows = query(hilo, select(InboundMessage.status).where(InboundMessage.message_id == params["MessageSid"]))
    assert rows == [("replied",)]


def test_public_url_is_what_twilio_signed(hilo, fakes):
    twilio, _ = fakes
    hilo.settings.public_url = "https://bot.example.com/"
    try:
        params = inbound("detrás de un proxy")
        assert twilio_post(hilo, params).status_code == 403  # signed for the internal URL
        assert twilio_post(hilo, params, url="https://bot.example.com/webhooks/twilio").status_code == 200
        assert twilio.wait_for(1)[0]["Body"] == "echo: detrás de un proxy"
    finally:
        hilo.settings.public_url = None


def test_long_replies_are_split_at_twilios_limit(hilo, fakes):
    twilio, _ = fakes
    sentences = [f"El módulo {i} cubre el tema número {i} con ejercicios prácticos y un proyecto final." for i in range(60)]
    long_text = " ".join(sentences)
    scripted.register("wa", [{"text": long_text}])
    twilio_post(hilo, inbound("temario completo"))
    time.sleep(0.3)
    sent = twilio.wait_for(3)
    deadline = time.monotonic() + 5
    while " ".join(s["Body"] for s in twilio.sent) != long_text and time.monotonic() < deadline:
        time.sleep(0.05)
    bodies = [s["Body"] for s in twilio.sent]
    assert len(bodies) == -(-len(long_text) // 1600) or len(bodies) == len(sent)
    assert all(len(b) <= 1600 for b in bodies) and " ".join(bodies) == long_text
    assert all(b.endswith(".") for b in bodies)  # cut at sentence ends


def test_split_message_edges():
    assert split_message("hola", 1600) == ["hola"]
    words = split_message("palabra " * 500, 100)
    assert all(len(p) <= 100 for p in words) and " ".join(words) == ("palabra " * 500).strip()
    assert split_message("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]


def test_twilio_image_and_voice_note_reach_the_run(hilo, fakes):
    twilio, _ = fakes
    image_url = twilio.add_media(PNG, "image/png")
    twilio_post(hilo, inbound("¿Este certificado es válido?", NumMedia="1", MediaUrl0=image_url,
                              MediaContentType0="image/png"))
    twilio.wait_for(1)
    content = last_request().messages[-1]["content"]
    assert {"type": "text", "text": "¿Este certificado es válido?"} in content
    image = next(p for p in content if p["type"] == "image_url")
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    files = query(hilo, select(File.purpose, File.content_type, File.bytes, File.user_id)
                  .where(File.content_type == "image/png"))
    assert ("vision", "image/png", len(PNG)) in [f[:3] for f in files] and all(f[3] for f in files)
    voice = twilio.add_media(b"OggS" + b"\0" * 2000, "audio/ogg")
    twilio_post(hilo, inbound("", NumMedia="1", MediaUrl0=voice, MediaContentType0="audio/ogg"))
    twilio.wait_for(2)
    text = last_request().messages[-1]["content"]
    assert "nota de voz" in text and "no transcribe" in text and "audio/ogg" in text
    # media the account cannot fetch is said, not silently dropped
    twilio_post(hilo, inbound("mira", NumMedia="1", MediaUrl0=twilio.url + "/2010-04-01/Accounts/" + SID
                              + "/Messages/MMx/Media/MEmissing", MediaContentType0="image/jpeg"))
    twilio.wait_for(3)
    assert "no se pudo descargar" in last_request().messages[-1]["content"]


def test_twilio_sends_are_retried_then_given_up(hilo, fakes):
    twilio, _ = fakes
    twilio.fail(500, times=2)
    twilio_post(hilo, inbound("¿hay descuentos?"))
    assert twilio.wait_for(1)[0]["Body"] == "echo: ¿hay descuentos?"
    failed_before = httpx.get(hilo.url + "/webhooks/health").json()["channels"]["twilio"]["failed"]
    twilio.fail(500, times=outbound.ATTEMPTS)
    params = inbound("¿y ahora?")
    twilio_post(hilo, params)
    deadline = time.monotonic() + 10
    while query(hilo, select(InboundMessage.status).where(InboundMessage.message_id == params["MessageSid"])) != [("failed",)]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    health = httpx.get(hilo.url + "/webhooks/health").json()["channels"]["twilio"]
    assert health["failed"] == failed_before + 1 and "HTTP 500" in health["last_error"]
    assert TOKEN not in health["last_error"]


def test_configured_webhooks_are_in_the_spec(hilo):
    paths = httpx.get(hilo.url + "/openapi.json").json()["paths"]
    assert "/webhooks/twilio" in paths and "/webhooks/whatsapp" in paths


def test_an_unconfigured_provider_is_not_mounted(database_factory, tmp_path):
    """Twilio off, Meta on: Twilio's webhook is a 404 like any unknown path and not in the spec."""
    settings = make_settings(database_factory("sqlite"), tmp_path, packs="none", whatsapp_app_secret=APP_SECRET,
                             whatsapp_token=META_TOKEN, whatsapp_verify_token=VERIFY)
    with start_server(settings) as live:
        assert twilio_post(live, inbound("hola"), signature="x").status_code == 404
        assert "/webhooks/twilio" not in httpx.get(live.url + "/openapi.json").json()["paths"]
        assert httpx.get(live.url + "/").json()["channels"]["twilio"]["configured"] is False
        ok = httpx.get(live.url + "/webhooks/whatsapp",
                       params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "7"})
        assert ok.status_code == 200 and ok.text == "7"


def test_meta_subscription_check(hilo):
    ok = httpx.get(hilo.url + "/webhooks/whatsapp",
                   params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"}, {},
                   {"hub.mode": "subscribe", "hub.verify_token": "contraseña", "hub.challenge": "1"}):
        assert httpx.get(hilo.url + "/webhooks/whatsapp", params=params).status_code == 403


def test_meta_message_answered_through_the_graph_api(hilo, fakes):
    _, meta = fakes
    payload = meta_payload("573001112233", "Hola desde la Cloud API", phone_number_id="PN42")
    r = meta_post(hilo, payload)
    assert r.status_code == 200
    sent = meta.wait_for(1)
    assert sent[0] == {"id": sent[0]["id"], "phone_number_id": "PN42", "to": "573001112233",
                       "body": "echo: Hola desde la Cloud API"}
    # the same person as on Twilio (same E.164 number): one user, one thread
    users = query(hilo, select(Identity.user_id).where(Identity.channel == "whatsapp",
                                                          Identity.subject == "+573001112233"))
    assert len(users) == 1
    assert meta_post(hilo, payload).status_code == 200  # a replay
    time.sleep(0.5)
    assert len(meta.sent) == 1


def test_meta_bad_signature_and_bad_bodies(hilo, fakes):
    _, meta = fakes
    before = query(hilo, select(func.count()).select_from(InboundMessage))[0][0]
    payload = meta_payload("573005550000", "hola")
    assert meta_post(hilo, payload, secret="not-the-secret").status_code == 403
    r = httpx.post(hilo.url + "/webhooks/whatsapp", content=b"{}", headers={"X-Hub-Signature-256": "sha256=ñ".encode()})
    assert r.status_code == 403
    body = json.dumps(payload).encode()
    r = httpx.post(hilo.url + "/webhooks/whatsapp", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 403
    sig = meta_signature(APP_SECRET, body)
    r = httpx.post(hilo.url + "/webhooks/whatsapp", content=body.replace(b"hola", b"HOLA"),
                   headers={"X-Hub-Signature-256": sig})
    assert r.status_code == 403
    for raw in (b"{not json", b"[1, 2]"):
        r = httpx.post(hilo.url + "/webhooks/whatsapp", content=raw,
                       headers={"X-Hub-Signature-256": meta_signature(APP_SECRET, raw)})
        assert r.status_code == 400 and r.json()["error"]["message"]
    # delivery receipts and odd shapes are acknowledged and ignored
    statuses = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.x", "status": "delivered"}]}}, {"field": "messages", "value": "odd"}, {}]}, None]}
    assert meta_post(hilo, statuses).status_code == 200
    for odd in ({"entry": {"a": 1}}, {"entry": "x"}, {"entry": [{"changes": "x"}]},
                {"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"id": 5}], "contacts": "x",
                                                                       "metadata": []}}]}]},
                {"entry": [{"changes": [{"field": "messages", "value": {"messages": "x"}}]}]}):
        assert meta_post(hilo, odd).status_code == 200
    time.sleep(0.3)
    assert query(hilo, select(func.count()).select_from(InboundMessage))[0][0] == before
    assert meta.sent == []


def test_meta_voice_note_is_fetched_and_stored(hilo, fakes):
    _, meta = fakes
    media_id = meta.add_media(b"OggS" + b"\1" * 3000, "audio/ogg; codecs=opus")
    payload = meta_payload("573007770000", media={"type": "audio", "audio": {
        "id": media_id, "mime_type": "audio/ogg; codecs=opus", "voice": True}})
    assert meta_post(hilo, payload).status_code == 200
    meta.wait_for(1)
    text = last_request().messages[-1]["content"]
    assert "nota de voz" in text and "audio/ogg" in text
    files = query(hilo, select(File.bytes, File.purpose).where(File.content_type == "audio/ogg"))
    assert (3004, "user_data") in files
