"""Voice in the chat, in headless Chromium: the microphone is a WAV file spoken by espeak-ng
(``--use-file-for-fake-audio-capture``); the page records it with MediaRecorder (the fallback
when the browser has no speech recognition service), sends it to ``/v1/audio/transcriptions``
(faster-whisper in hilo's process, the English tiny.en model) and sends the words it heard."""

from __future__ import annotations

import uuid

import pytest

from hilo.providers import scripted
from hilo.testing.server import start_server
from hilo.testing.web import launch, new_key, off_loop, sign_in
from tests.audio.speech import heard, speak, tiny_en
from tests.conftest import make_settings
from tests.web.conftest import ADMIN_TOKEN, admin_http


@pytest.fixture(scope="module")
def voice_site(database_factory, tmp_path_factory):
    settings = make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"), auth="on",
                             admin_token=ADMIN_TOKEN, packs="none", whisper_model=tiny_en(), whisper_threads=2)
    live = off_loop(start_server, settings)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def microphone(tmp_path_factory):
    wav = tmp_path_factory.mktemp("voice") / "pregunta.wav"
    wav.write_bytes(speak("What is the price of bitcoin today?", speed=140))
    return wav


@pytest.fixture(scope="module")
def voice_browser(playwright, microphone):
    browser = launch(playwright, fake_audio=microphone)
    yield browser
    browser.close()


@pytest.fixture
def assistant(voice_site):
    name = f"v{uuid.uuid4().hex[:10]}"
    scripted.register(name, [{"text": "The price of bitcoin is in the mentor's tools."}])
    with admin_http(voice_site) as admin:
        made = admin.post("/v1/assistants", json={"model": f"scripted/{name}", "name": "Voz"}).json()
        secret = new_key(admin, f"ana-voz-{name}")
    yield made["id"], secret
    scripted.reset(name)


def record_and_send(page, notice: str | None = None) -> str:
    page.click("#mic")
    page.wait_for_selector("#mic[aria-pressed='true']")
    page.wait_for_function("() => document.querySelector('#activity').textContent.startsWith('Grabando')")
    if notice is not None:
        assert notice in page.inner_text("#notice")
    page.wait_for_timeout(3500)  # the file plays into the microphone meanwhile
    page.click("#mic")
    page.wait_for_selector(".msg.user", timeout=90_000)
    page.wait_for_selector(".msg.assistant.complete", timeout=90_000)
    return page.locator(".msg.user .text").last.inner_text()


def test_a_recorded_question_is_transcribed_and_sent(voice_browser, voice_site, assistant):
    assistant_id, secret = assistant
    context = voice_browser.new_context()
    page = context.new_page()
    sign_in(page, voice_site.url, secret, next_page=f"/web/chat?assistant={assistant_id}&voz=grabar")
    page.wait_for_selector("body[data-ready='1']")
    said = record_and_send(page)
    assert heard(said, "price", "bitcoin"), said
    assert "bitcoin" in page.locator(".msg.assistant").last.inner_text()
    context.close()


def test_without_a_recognition_service_the_microphone_falls_back_to_recording(voice_browser, voice_site, assistant):
    """Headless Chromium has no speech recognition service: the button records instead, saying so."""
    assistant_id, secret = assistant
    context = voice_browser.new_context()
    page = context.new_page()
    sign_in(page, voice_site.url, secret, next_page=f"/web/chat?assistant={assistant_id}")
    page.wait_for_selector("body[data-ready='1']")
    said = record_and_send(page, notice="reconocimiento de voz del navegador no está disponible")
    assert heard(said, "bitcoin"), said
    context.close()
