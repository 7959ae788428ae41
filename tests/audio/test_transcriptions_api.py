"""POST /v1/audio/transcriptions through the official openai SDK, against a live hilo on SQLite
and PostgreSQL: on a configured endpoint (a real local fake of OpenAI's), on the in-process
tiny.en model with real English speech, and with nothing configured."""

from __future__ import annotations

import logging

import httpx
import openai
import pytest
from openai import OpenAI

from hilo.testing.fake_transcription import FakeTranscriptionServer
from hilo.testing.server import start_server
from tests.audio.speech import needs_espeak, spanish, speak, tiny_en, tone
from tests.conftest import BACKENDS, make_settings

SECRET = "sk-upstream-transcription-key-42"
ADMIN = "hilo-admin-token"
SPOKEN = "hola, quiero comprar dos camisetas rojas"


@pytest.fixture(scope="module")
def fake():
    with FakeTranscriptionServer(SPOKEN, language="spanish", api_key=SECRET) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def hilo(request, fake, database_factory, tmp_path_factory):
    settings = make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"), packs="none",
                             auth="on", admin_token=ADMIN, transcription_base_url=fake.base_url,
                             transcription_api_key=SECRET, transcription_model="whisper-large-v3",
                             llm_max_retries=0, max_audio_mb=1)
    live = start_server(settings)
    yield live
    live.stop()


@pytest.fixture
def client(hilo, fake):
    fake.requests.clear()
    with OpenAI(base_url=hilo.url + "/v1", api_key=ADMIN, max_retries=0, timeout=60) as c:
        yield c


def post(server, files=None, data=None, key=ADMIN):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(server.url + "/v1/audio/transcriptions", files=files, data=data, headers=headers, timeout=60)


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"]), body
    return body["error"]


def test_the_sdk_transcribes_spanish_through_the_configured_endpoint(client, fake):
    audio = spanish(SPOKEN)
    result = client.audio.transcriptions.create(file=("nota.wav", audio, "audio/wav"), model="whisper-1",
                                                language="es", prompt="camisetas", temperature=0)
    assert result.text == SPOKEN
    sent = fake.requests[-1]
    assert sent["fields"]["model"] == "whisper-large-v3"  # hilo's configured model, whatever the caller named
    assert sent["fields"]["language"] == "es" and sent["fields"]["prompt"] == "camisetas"
    assert sent["file"]["filename"] == "nota.wav" and sent["file"]["data"] == audio
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"  # hilo's key upstream, not the caller's

    text = client.audio.transcriptions.create(file=("nota.wav", audio), model="whisper-1", response_format="text")
    assert text == SPOKEN
    verbose = client.audio.transcriptions.create(file=("nota.wav", audio), model="whisper-1",
                                                 response_format="verbose_json",
                                                 timestamp_granularities=["segment"])
    assert verbose.text == SPOKEN and verbose.language == "spanish" and verbose.duration > 0
    assert verbose.segments[0].text.strip() == SPOKEN and verbose.segments[0].end == verbose.duration
    srt = client.audio.transcriptions.create(file=("nota.wav", audio), model="whisper-1", response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and SPOKEN in srt
    vtt = client.audio.transcriptions.create(file=("nota.wav", audio), model="whisper-1", response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ") and SPOKEN in vtt


def test_bad_input_is_a_400_in_openais_shape(hilo, client, fake):
    for name, audio, says in (("vacio.wav", b"", "empty"), ("nota.ogg", b"not audio at all", "Supported formats"),
                              ("nota.ogg", b"\0" * 4096, "Supported formats")):
        with pytest.raises(openai.BadRequestError) as refused:
            client.audio.transcriptions.create(file=(name, audio), model="whisper-1")
        assert says in refused.value.body["message"] and refused.value.body["param"] == "file"
    wav = tone(0.5)
    for fields, param in (({"response_format": "xml"}, "response_format"), ({"temperature": "3"}, "temperature"),
                          ({"temperature": "nan"}, "temperature"), ({"language": "klingon!"}, "language"),
                          ({"stream": "true"}, "stream"), ({"timestamp_granularities[]": "word",
                                                           "response_format": "verbose_json"},
                                                          "timestamp_granularities[]"),
                          ({"prompt": "p" * 5000}, "prompt")):
        r = post(hilo, files={"file": ("a.wav", wav, "audio/wav")}, data={"model": "whisper-1", **fields})
        assert r.status_code == 400, (fields, r.text)
        assert error_of(r)["param"] == param and error_of(r)["type"] == "invalid_request_error", r.text
    missing_file = post(hilo, data={"model": "whisper-1"})
    assert missing_file.status_code == 400 and error_of(missing_file)["param"] == "file"
    missing_model = post(hilo, files={"file": ("a.wav", wav, "audio/wav")})
    assert missing_model.status_code == 400 and error_of(missing_model)["param"] == "model"
    assert fake.requests == []  # nothing refused here reached the endpoint


def test_audio_over_hilo_max_audio_mb_is_a_413(hilo, fake):
    big = b"RIFF\0\0\0\0WAVEfmt " + bytes(1024 * 1024 + 200 * 1024)  # over 1 MB + the multipart slack
    r = post(hilo, files={"file": ("big.wav", big, "audio/wav")}, data={"model": "whisper-1"})
    assert r.status_code == 413 and "HILO_MAX_AUDIO_MB" in error_of(r)["message"]
    assert error_of(r)["code"] == "audio_too_large"
    just_over = b"RIFF\0\0\0\0WAVEfmt " + bytes(1024 * 1024)  # within the slack: the route measures it
    r = post(hilo, files={"file": ("big.wav", just_over, "audio/wav")}, data={"model": "whisper-1"})
    assert r.status_code == 413 and error_of(r)["code"] == "audio_too_large"
    # 1 MB is under HILO_MAX_UPLOAD_MB's 10 MB, and audio has its own limit, both ways
    assert hilo.settings.max_upload_mb > 1
    assert fake.requests == []


def test_upstream_failures_are_503s_and_the_key_never_shows(hilo, client, fake, caplog):
    caplog.set_level(logging.INFO)
    wav = tone(0.5)
    fake.fail(502, message="bad gateway upstream")
    with pytest.raises(openai.InternalServerError) as failed:
        client.audio.transcriptions.create(file=("a.wav", wav), model="whisper-1")
    assert failed.value.status_code == 503 and "HTTP 502" in failed.value.body["message"]
    assert failed.value.body["code"] == "transcription_unavailable"
    hilo.settings.transcription_api_key = SECRET + "-revoked"  # read per request, like the other channel settings
    try:
        r = post(hilo, files={"file": ("a.wav", wav, "audio/wav")}, data={"model": "whisper-1"})
    finally:
        hilo.settings.transcription_api_key = SECRET
    assert r.status_code == 503 and "HILO_TRANSCRIPTION_API_KEY" in error_of(r)["message"]
    assert "sk-" not in r.text and "Incorrect API key" not in r.text
    seen = [r.text] + [httpx.get(hilo.url + path, timeout=10).text for path in ("/", "/webhooks/health", "/openapi.json",
                                                                               "/health/ready")]
    assert not [text for text in seen if SECRET in text]
    assert SECRET not in caplog.text and "sk-upstream" not in caplog.text


def test_the_route_is_behind_the_v1_auth(hilo):
    wav = tone(0.5)
    for key in (None, "not-a-key"):
        r = post(hilo, files={"file": ("a.wav", wav, "audio/wav")}, data={"model": "whisper-1"}, key=key)
        assert r.status_code == 401 and error_of(r)["message"]
    spec = httpx.get(hilo.url + "/openapi.json").json()
    operation = spec["paths"]["/v1/audio/transcriptions"]["post"]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/plain"}


def test_nothing_configured_is_a_503_saying_what_to_set(server):
    with OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as unavailable:
            client.audio.transcriptions.create(file=("a.wav", tone(0.5)), model="whisper-1")
        # bad audio is still a 400: the input is checked first
        with pytest.raises(openai.BadRequestError):
            client.audio.transcriptions.create(file=("a.wav", b""), model="whisper-1")
    error = unavailable.value.body
    assert unavailable.value.status_code == 503 and error["code"] == "transcription_unavailable"
    assert "HILO_TRANSCRIPTION_BASE_URL" in error["message"] and "HILO_WHISPER_MODEL" in error["message"]


@pytest.fixture(scope="module", params=BACKENDS)
def local_hilo(request, database_factory, tmp_path_factory):
    settings = make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"), packs="none",
                             whisper_model=tiny_en(), whisper_threads=2)
    live = start_server(settings)
    yield live
    live.stop()


@needs_espeak
def test_the_sdk_transcribes_english_speech_with_the_local_model(local_hilo):
    speech = speak("the price of bitcoin today")
    with OpenAI(base_url=local_hilo.url + "/v1", api_key="k", max_retries=0, timeout=120) as client:
        result = client.audio.transcriptions.create(file=("price.wav", speech, "audio/wav"), model="whisper-1")
        words = result.text.lower()
        assert "price" in words and "bitcoin" in words and "today" in words, result.text
        assert result.usage.type == "duration" and result.usage.seconds >= 2
        verbose = client.audio.transcriptions.create(file=("price.wav", speech), model="whisper-1",
                                                     response_format="verbose_json")
        assert verbose.language == "english" and 1.5 < verbose.duration < 4
        assert "bitcoin" in " ".join(s.text for s in verbose.segments).lower()
        with pytest.raises(openai.BadRequestError) as refused:
            client.audio.transcriptions.create(file=("price.wav", speech), model="whisper-1", language="es")
        assert refused.value.body["param"] == "language"
        with pytest.raises(openai.BadRequestError) as corrupt:
            client.audio.transcriptions.create(file=("nota.ogg", b"OggS" + bytes(3000)), model="whisper-1")
        assert "could not be decoded" in corrupt.value.body["message"]
