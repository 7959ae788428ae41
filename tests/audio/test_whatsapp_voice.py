"""WhatsApp voice notes become the user's words: through Meta's Cloud API and Twilio (real local
fakes of both, signed webhooks), transcribed by the configured endpoint (Spanish) or in-process
by the tiny.en model (real English speech in Ogg/Opus, as WhatsApp records it); the note is kept
as a file either way, and a failed transcription falls back to the note that says one came."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx
import pytest
from openai import OpenAI
from sqlalchemy import select

from hilo.files.models import File
from hilo.kit.db.session import Database
from hilo.providers import scripted
from hilo.testing.fake_transcription import FakeTranscriptionServer
from hilo.testing.fake_whatsapp import (
    FakeMeta,
    FakeTwilio,
    meta_payload,
    meta_signature,
    twilio_signature,
)
from hilo.testing.server import start_server
from tests.audio.speech import encode, heard, needs_espeak, spanish, speak, tiny_en
from tests.conftest import BACKENDS, make_settings

SID, TOKEN = "AC" + "7" * 32, "twilio-voice-token"
APP_SECRET, META_TOKEN = "meta-voice-secret", "meta-voice-token"
BOT = "whatsapp:+14155238886"
KEY = "sk-voice-transcription-key"
SPOKEN = "quiero comprar dos camisetas rojas talla m"
SCRIPT = "voz"


@pytest.fixture(scope="module")
def fakes():
    with FakeTwilio(SID, TOKEN) as twilio, FakeMeta(META_TOKEN) as meta, \
            FakeTranscriptionServer(SPOKEN, language="spanish", api_key=KEY) as stt:
        yield twilio, meta, stt


@pytest.fixture(scope="module", params=BACKENDS)
def hilo(request, fakes, database_factory, tmp_path_factory):
    twilio, meta, stt = fakes
    settings = make_settings(
        database_factory(request.param), tmp_path_factory.mktemp("data"), packs="none",
        twilio_account_sid=SID, twilio_auth_token=TOKEN, twilio_from=BOT, twilio_api_url=twilio.url,
        whatsapp_app_secret=APP_SECRET, whatsapp_token=META_TOKEN, whatsapp_verify_token="v", whatsapp_api_url=meta.url,
        transcription_base_url=stt.base_url, transcription_api_key=KEY, llm_max_retries=0)
    live = start_server(settings)
    with OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0) as client:
        live.settings.whatsapp_assistant = client.beta.assistants.create(model=f"scripted/{SCRIPT}", name="Tienda").id
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def _clean(fakes):
    for fake in fakes:
        fake.requests.clear()
    fakes[0].sent.clear()
    fakes[1].sent.clear()
    yield
    scripted.reset(SCRIPT)


def meta_voice_note(server, meta, data: bytes, sender: str) -> None:
    media_id = meta.add_media(data, "audio/ogg; codecs=opus")
    payload = meta_payload(sender, media={"type": "audio", "audio": {"id": media_id, "mime_type": "audio/ogg; codecs=opus",
                                                                     "voice": True}})
    body = json.dumps(payload).encode()
    r = httpx.post(server.url + "/webhooks/whatsapp", content=body, timeout=10,
                   headers={"content-type": "application/json", "X-Hub-Signature-256": meta_signature(APP_SECRET, body)})
    assert r.status_code == 200


def twilio_voice_note(server, twilio, data: bytes, sender: str) -> None:
    url = twilio.add_media(data, "audio/ogg")
    params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": SID, "From": sender, "To": BOT, "Body": "",
              "NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "audio/ogg", "ProfileName": "Ana"}
    signed = server.url + "/webhooks/twilio"
    r = httpx.post(signed, data=params, headers={"X-Twilio-Signature": twilio_signature(TOKEN, signed, params)},
                   timeout=10)
    assert r.status_code == 200


def user_said() -> str:
    return scripted.requests[SCRIPT][-1].messages[-1]["content"]


def stored_audio(server) -> list[tuple]:
    async def run():
        db = Database(server.settings.database_url)
        try:
            async with db.sessionmaker() as session:
                rows = await session.execute(select(File.id, File.bytes, File.purpose, File.user_id)
                                             .where(File.content_type == "audio/ogg"))
                return rows.all()
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_a_meta_voice_note_is_transcribed_by_the_endpoint(hilo, fakes):
    _, meta, stt = fakes
    note = encode(spanish(SPOKEN), "ogg")
    meta_voice_note(hilo, meta, note, "573001230001")
    sent = meta.wait_for(1, timeout=30)
    assert user_said() == SPOKEN  # the transcript is the user's message, nothing else
    assert sent[0]["body"] == f"echo: {SPOKEN}" and sent[0]["to"] == "573001230001"
    upstream = stt.requests[-1]
    assert upstream["file"]["data"] == note and upstream["file"]["filename"].endswith(".ogg")
    assert upstream["headers"]["authorization"] == f"Bearer {KEY}"
    assert (len(note), "user_data") in [row[1:3] for row in stored_audio(hilo)]  # the note is kept too


def test_a_failed_transcription_falls_back_to_the_note(hilo, fakes):
    twilio, _, stt = fakes
    stt.fail(503, times=1)
    note = encode(spanish("hola"), "ogg")
    twilio_voice_note(hilo, twilio, note, "whatsapp:+573001230002")
    twilio.wait_for(1, timeout=30)
    said = user_said()
    assert "nota de voz" in said and "no se pudo transcribir" in said and "audio/ogg" in said
    file_id = said.split("guardada como ", 1)[1].split(")", 1)[0]
    assert file_id in [row[0] for row in stored_audio(hilo)]
    assert KEY not in said


@needs_espeak
def test_a_twilio_voice_note_is_transcribed_in_process(hilo, fakes, monkeypatch):
    twilio, _, stt = fakes
    monkeypatch.setattr(hilo.settings, "transcription_base_url", None)
    monkeypatch.setattr(hilo.settings, "whisper_model", tiny_en())
    note = encode(speak("the price of bitcoin today"), "ogg")  # Opus in Ogg, as WhatsApp records
    twilio_voice_note(hilo, twilio, note, "whatsapp:+573001230003")
    sent = twilio.wait_for(1, timeout=60)
    said = user_said().lower()
    assert heard(said, "price", "bitcoin", "today") and "nota de voz" not in said, said
    assert sent[0]["Body"].lower().startswith("echo: the price") and heard(sent[0]["Body"], "bitcoin")
    assert stt.requests == []  # the endpoint was not asked
    # a note the local model cannot decode falls back to the note that says one came
    twilio_voice_note(hilo, twilio, b"OggS" + bytes(2500), "whatsapp:+573001230003")
    twilio.wait_for(2, timeout=30)
    assert "no se pudo transcribir" in user_said()


def test_with_nothing_configured_the_note_says_so(hilo, fakes, monkeypatch):
    _, meta, stt = fakes
    monkeypatch.setattr(hilo.settings, "transcription_base_url", None)
    meta_voice_note(hilo, meta, encode(spanish("hola"), "ogg"), "573001230004")
    meta.wait_for(1, timeout=30)
    said = user_said()
    assert "nota de voz" in said and "no transcribe" in said and stt.requests == []
