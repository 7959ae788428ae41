"""hilo.audio.transcribe on its own: real English speech through the in-process tiny.en model,
Spanish through a real local OpenAI-compatible endpoint (faked), every refusal and failure."""

from __future__ import annotations

import logging

import pytest

from hilo import audio
from hilo.audio.base import audio_filename, safe_url, sniff
from hilo.kit.config import Settings
from hilo.kit.errors import InvalidRequest
from hilo.testing.fake_transcription import FakeTranscriptionServer
from tests.audio.speech import encode, heard, needs_espeak, spanish, speak, tiny_en, tone

SECRET = "sk-transcription-secret-0123456789"


def settings(**values) -> Settings:
    return Settings(_env_file=None, llm_max_retries=0, **values)


@pytest.fixture(scope="module")
def fake():
    with FakeTranscriptionServer("hola, quiero dos camisetas rojas", language="spanish", api_key=SECRET) as server:
        yield server


@pytest.fixture(autouse=True)
async def _close_clients():
    yield
    await audio.aclose()  # each test's event loop closes its SDK clients


@pytest.fixture
def endpoint(fake):
    fake.requests.clear()
    return settings(transcription_base_url=fake.base_url, transcription_api_key=SECRET,
                    transcription_model="Systran/faster-whisper-small")


@pytest.fixture(scope="module")
def local():
    return settings(whisper_model=tiny_en(), whisper_threads=2)


@pytest.fixture(scope="module")
def english():
    return speak("the price of bitcoin today")


# ---------------------------------------------------------------------------------- local model
@needs_espeak
async def test_english_speech_in_wav_ogg_opus_and_mp3_is_transcribed_in_process(local, english):
    for data, name, kind in ((english, "precio.wav", "audio/wav"), (encode(english, "ogg"), "nota.ogg", "audio/ogg"),
                             (encode(english, "mp3"), "nota.mp3", "audio/mpeg")):
        transcript = await audio.transcribe(local, data, name, kind)
        words = transcript.text.lower()
        assert heard(words, "price", "bitcoin", "today"), (name, transcript.text)
        assert transcript.backend == "local" and transcript.language == "en"
        assert 1.5 < transcript.duration < 4, transcript.duration
        assert transcript.segments and transcript.segments[-1].end <= transcript.duration + 0.5


@needs_espeak
async def test_local_model_refuses_a_language_it_does_not_know(local, english):
    with pytest.raises(InvalidRequest) as refused:
        await audio.transcribe(local, english, "x.wav", None, language="es")
    assert refused.value.param == "language" and "en" in refused.value.message
    ok = await audio.transcribe(local, english, "x.wav", None, language="EN", prompt="Bitcoin, Ethereum.")
    assert heard(ok.text, "bitcoin")


async def test_local_model_refuses_corrupt_and_silent_audio(local):
    for data in (b"OggS" + b"\0" * 2000, b"RIFF\x24\0\0\0WAVEfmt "):
        with pytest.raises(audio.InvalidAudio) as refused:
            await audio.transcribe(local, data, "nota.ogg", "audio/ogg")
        assert refused.value.status == 400 and refused.value.param == "file"


async def test_decoded_length_is_capped(tmp_path):
    model = tiny_en()
    short = settings(whisper_model=model, max_audio_seconds=0.5)
    with pytest.raises(audio.InvalidAudio) as refused:
        await audio.transcribe(short, tone(2.0), "tono.wav", "audio/wav")
    assert refused.value.code == "audio_too_long" and "HILO_MAX_AUDIO_SECONDS" in refused.value.message


async def test_a_model_name_or_a_missing_directory_is_refused_never_downloaded(tmp_path):
    for value, says in (("tiny", "model name"), ("Systran/faster-whisper-small", "not an existing directory"),
                        (str(tmp_path / "nowhere"), "not an existing directory"), (str(tmp_path), "model.bin")):
        with pytest.raises(audio.TranscriptionUnavailable) as refused:
            await audio.transcribe(settings(whisper_model=value), tone(), "t.wav", None)
        assert refused.value.status == 503 and says in refused.value.message, refused.value.message
        assert "HILO_WHISPER_MODEL" in refused.value.message


# ---------------------------------------------------------------------------------- the endpoint
async def test_spanish_goes_through_the_configured_endpoint(endpoint, fake):
    data = spanish("hola, quiero dos camisetas rojas")
    transcript = await audio.transcribe(endpoint, data, "nota de voz", "audio/wav", language="es",
                                        prompt="camisetas, pantalones", temperature=0.2)
    assert transcript.text == "hola, quiero dos camisetas rojas" and transcript.backend == "endpoint"
    sent = fake.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"
    assert sent["fields"]["model"] == "Systran/faster-whisper-small"  # the configured model
    assert sent["fields"]["language"] == "es" and sent["fields"]["prompt"] == "camisetas, pantalones"
    assert float(sent["fields"]["temperature"]) == 0.2 and sent["fields"]["response_format"] == "json"
    assert sent["file"]["filename"] == "nota de voz.wav"  # the extension the endpoint reads the format from
    assert sent["file"]["data"] == data and sent["file"]["content_type"] == "audio/wav"
    verbose = await audio.transcribe(endpoint, data, "a.wav", None, segments=True)
    assert fake.requests[-1]["fields"]["response_format"] == "verbose_json"
    assert verbose.language == "spanish" and verbose.duration > 0 and verbose.segments[0].end == verbose.duration
    assert "temperature" not in fake.requests[-1]["fields"] and "language" not in fake.requests[-1]["fields"]


async def test_endpoint_failures_are_unavailable_with_safe_messages(endpoint, fake, caplog):
    caplog.set_level(logging.DEBUG)
    data = tone()
    fake.fail(503, message="engine overloaded")
    with pytest.raises(audio.TranscriptionUnavailable) as failed:
        await audio.transcribe(endpoint, data, "a.wav", None)
    assert failed.value.status == 503 and "HTTP 503" in failed.value.message and "engine overloaded" in failed.value.message
    fake.fail(400, message=f"Audio file might be corrupted or unsupported (key {SECRET})")
    with pytest.raises(audio.InvalidAudio) as refused:
        await audio.transcribe(endpoint, data, "a.wav", None)
    assert refused.value.status == 400 and "corrupted" in refused.value.message and SECRET not in refused.value.message
    wrong_key = endpoint.model_copy(update={"transcription_api_key": SECRET + "-wrong"})
    with pytest.raises(audio.TranscriptionUnavailable) as denied:
        await audio.transcribe(wrong_key, data, "a.wav", None)
    assert "HILO_TRANSCRIPTION_API_KEY" in denied.value.message and "HTTP 401" in denied.value.message
    # OpenAI's 401 message echoes the start and end of the key: none of it is passed on
    assert "sk-" not in denied.value.message and "rong" not in denied.value.message
    wrong_path = endpoint.model_copy(update={"transcription_base_url": fake.url + "/nothing/v1"})
    with pytest.raises(audio.TranscriptionUnavailable) as missing:
        await audio.transcribe(wrong_path, data, "a.wav", None)
    assert "404" in missing.value.message and "HILO_TRANSCRIPTION_BASE_URL" in missing.value.message
    closed = endpoint.model_copy(update={"transcription_base_url": "http://user:pa55word@127.0.0.1:9/v1"})
    with pytest.raises(audio.TranscriptionUnavailable) as unreachable:
        await audio.transcribe(closed, data, "a.wav", None)
    assert "could not be reached" in unreachable.value.message and "http://127.0.0.1:9/v1" in unreachable.value.message
    assert "pa55word" not in unreachable.value.message and "user" not in unreachable.value.message
    assert SECRET not in caplog.text and "pa55word" not in caplog.text


async def test_the_endpoint_wins_when_both_are_configured(fake, endpoint):
    both = endpoint.model_copy(update={"whisper_model": "tiny"})
    assert audio.configured(both) == "endpoint"
    assert (await audio.transcribe(both, tone(), "t.wav", None)).backend == "endpoint"


# ---------------------------------------------------------------------------------- input checks
async def test_nothing_configured_says_what_to_set():
    nothing = settings()
    assert audio.configured(nothing) is None
    with pytest.raises(audio.TranscriptionUnavailable) as unavailable:
        await audio.transcribe(nothing, tone(), "t.wav", "audio/wav")
    message = unavailable.value.message
    assert unavailable.value.status == 503 and unavailable.value.code == "transcription_unavailable"
    assert "HILO_TRANSCRIPTION_BASE_URL" in message and "HILO_WHISPER_MODEL" in message
    # bad input is a 400 whatever is configured
    with pytest.raises(audio.InvalidAudio):
        await audio.transcribe(nothing, b"", "t.wav", None)


async def test_empty_unknown_and_oversized_audio_are_refused(endpoint, fake):
    with pytest.raises(audio.InvalidAudio) as empty:
        await audio.transcribe(endpoint, b"", "a.wav", None)
    assert "empty" in empty.value.message and empty.value.status == 400
    for junk in (b"hello, I am not audio", b"%PDF-1.7\n" + b"\0" * 100, bytes(1000)):
        with pytest.raises(audio.InvalidAudio) as unknown:
            await audio.transcribe(endpoint, junk, "a.ogg", "audio/ogg")
        assert unknown.value.code == "unsupported_audio" and "Supported formats" in unknown.value.message
    small = endpoint.model_copy(update={"max_audio_mb": 0.01})
    with pytest.raises(audio.AudioTooLarge) as large:
        await audio.transcribe(small, tone(1.0), "a.wav", None)
    assert large.value.status == 413 and "HILO_MAX_AUDIO_MB" in large.value.message
    for bad in ({"language": "español!"}, {"temperature": 1.5}, {"temperature": float("nan")},
                {"prompt": "x" * 5000}):
        with pytest.raises(InvalidRequest) as invalid:
            await audio.transcribe(endpoint, tone(), "a.wav", None, **bad)
        assert invalid.value.param == next(iter(bad))
    assert fake.requests == []  # nothing refused here reached the endpoint


def test_containers_file_names_and_urls():
    assert sniff(b"RIFF\0\0\0\0WAVEfmt ") == "wav" and sniff(b"OggS\0\2") == "ogg" and sniff(b"ID3\4") == "mp3"
    assert sniff(b"\xff\xfb\x90\x64") == "mp3" and sniff(b"\xff\xf1\x50\x80") == "mp3"  # MP3 frame, ADTS
    assert sniff(b"\xff\xff\xff\xff") is None and sniff(b"\xff\xfb\xf0\x00") is None  # reserved bitrate
    assert sniff(b"\0\0\0\x20ftypM4A ") == "mp4" and sniff(b"fLaC") == "flac"
    assert sniff(b"\x1a\x45\xdf\xa3\x9f") == "webm" and sniff(b"#!AMR\n") == "amr" and sniff(b"GIF89a") is None
    assert audio_filename("nota.ogg", "ogg") == "nota.ogg" and audio_filename("voice.opus", "ogg") == "voice.opus"
    assert audio_filename("whatsapp-1.mpeg", "mp3") == "whatsapp-1.mpeg"
    assert audio_filename("blob.bin", "wav") == "blob.wav" and audio_filename(None, "mp4") == "audio.m4a"
    assert audio_filename("../../etc/passwd", "ogg") == "passwd.ogg"
    assert safe_url("https://u:p@api.example.com:8443/v1?key=1#x") == "https://api.example.com:8443/v1"
    assert safe_url("http://[::1]:8001/v1") == "http://[::1]:8001/v1"
