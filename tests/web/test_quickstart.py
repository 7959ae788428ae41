"""``make serve`` and one click: with nothing configured (HILO_AUTH=off, no model: the guided
provider), a browser opening the server's root finds the way to the chat, and the chat answers."""

from __future__ import annotations

import pytest

from hilo.testing.server import start_server
from hilo.testing.web import off_loop
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def quickstart(database_factory, tmp_path_factory):
    settings = make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"), llm_provider="auto")
    live = off_loop(start_server, settings)
    yield live
    live.stop()


def test_the_root_page_links_to_a_chat_that_answers_with_no_set_up(page, quickstart):
    page.goto(quickstart.url + "/")
    assert "Servidor funcionando" in page.inner_text("main")
    page.click("text=Abrir el chat")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#assistant option").count() >= 1
    assert page.locator("#signout").is_hidden()  # nobody signs in when auth is off
    page.fill("#input", "hola, ¿qué puedes hacer?")
    page.press("#input", "Enter")
    page.wait_for_selector(".msg.assistant.complete", timeout=60_000)
    reply = page.locator(".msg.assistant .text").last.inner_text()
    assert len(reply) > 20 and not page.locator(".msg.assistant .error").count(), reply
    page.goto(quickstart.url + "/web/admin")  # the local admin sees the console too
    page.wait_for_selector("body[data-ready='resumen']")
    assert not page.locator("#view .error").count()
