"""The chat page in headless Chromium against a live hilo (auth on, the scripted model): sign-in
refused and accepted, a reply streamed as it is written, a reset, uploads, a citation linking to
its passage, tool activity, the language switch, the keyboard, a phone's screen, two users."""

from __future__ import annotations

import io
import time
import uuid

import httpx
import pytest

from hilo.providers import scripted
from hilo.testing.web import new_key, sign_in
from tests.web.conftest import admin_http

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63"
                    "f8cfc0f01f0005000201a5f0e7c70000000049454e44ae426082")
SMALL = {"type": "static", "static": {"max_chunk_size_tokens": 120, "chunk_overlap_tokens": 30}}


@pytest.fixture
def scripted_assistant(site):
    """A global assistant on a fresh script: (assistant id, register(turns...), script name)."""
    name = f"w{uuid.uuid4().hex[:10]}"
    with admin_http(site) as admin:
        made = admin.post("/v1/assistants", json={"model": f"scripted/{name}", "name": f"Prueba {name}",
                                                  "tools": [{"type": "file_search"}]})
        assert made.status_code == 200, made.text
    yield made.json()["id"], (lambda *turns: scripted.register(name, list(turns))), name
    scripted.reset(name)


def user_key(site, name: str) -> str:
    with admin_http(site) as admin:
        return new_key(admin, name)


def open_chat(page, site, secret: str, assistant_id: str) -> None:
    sign_in(page, site.url, secret, next_page=f"/web/chat?assistant={assistant_id}")
    page.wait_for_selector("body[data-ready='1']")


def say(page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def last_reply(page):
    return page.locator(".msg.assistant").last


def test_sign_in_refuses_a_bad_key_in_spanish(page, site):
    page.goto(site.url + "/web/chat")
    page.wait_for_url("**/web/login*")  # not signed in: the chat sends you to sign in
    page.fill("#credential", "hilo_sk_not-a-real-key")
    page.press("#credential", "Enter")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert "no es válido" in error.inner_text()
    assert page.get_attribute("#credential", "aria-invalid") == "true"
    assert not [c for c in page.context.cookies() if c["name"] == "hilo_session"]
    assert "/web/login" in page.url


def test_a_reply_streams_into_the_page_as_it_is_written(page, site, scripted_assistant):
    assistant_id, register, _ = scripted_assistant
    final = "Para declarar renta necesitas el formulario 210, tu RUT y los certificados de ingresos."
    register({"text": final, "chunks": 8, "chunk_delay": 0.25})
    secret = user_key(site, "ana-stream")
    open_chat(page, site, secret, assistant_id)
    assert page.evaluate("document.cookie").find("hilo_session") == -1  # HttpOnly: the script cannot read it
    say(page, "¿Qué necesito para declarar?")
    seen = []
    deadline = time.time() + 20
    while time.time() < deadline:
        text = page.locator(".msg.assistant .streaming").all_inner_texts()
        if text and text[-1]:
            seen.append(text[-1])
        if page.locator(".msg.assistant.complete").count():
            break
        time.sleep(0.05)
    partial = [s for s in seen if s and s != final]
    assert partial and all(final.startswith(s.rstrip()) for s in partial), seen  # prefixes, shown before the end
    assert last_reply(page).locator(".text").first.inner_text() == final
    assert page.get_attribute("#log", "aria-live") == "polite"
    # history: a reload shows the same conversation, from the server
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator(".msg.user").last.inner_text().endswith("¿Qué necesito para declarar?")
    assert final in last_reply(page).inner_text()


def test_a_new_conversation_starts_empty_and_keeps_the_old_one(page, site, scripted_assistant):
    assistant_id, register, _ = scripted_assistant
    register({"text": "Hola, soy la primera conversación."})
    open_chat(page, site, user_key(site, "ana-reset"), assistant_id)
    say(page, "hola")
    page.wait_for_selector(".msg.assistant.complete")
    old = page.get_attribute("#log", "data-thread")
    page.click("#reset")
    page.wait_for_selector(f"#log:not([data-thread='{old}'])")
    assert page.locator(".msg").count() == 0 and page.locator("#log .empty").count() == 1
    assert "Conversación nueva" in page.inner_text("#notice")
    with admin_http(site) as admin:  # the old thread stays stored, with its messages
        kept = admin.get(f"/v1/threads/{old}/messages").json()["data"]
        assert [m["role"] for m in kept] == ["assistant", "user"]
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.get_attribute("#log", "data-thread") != old and page.locator(".msg").count() == 0


def test_an_uploaded_image_goes_with_the_message(page, site, scripted_assistant):
    assistant_id, register, name = scripted_assistant
    register({"text": "Veo tu imagen."})
    open_chat(page, site, user_key(site, "ana-upload"), assistant_id)
    page.set_input_files("#file", files=[{"name": "grafico.png", "mimeType": "image/png", "buffer": PNG}])
    page.wait_for_selector(".attachment")
    assert "grafico.png" in page.inner_text("#attachments")
    say(page, "¿Qué ves en esta imagen?")
    page.wait_for_selector(".msg.assistant.complete")
    assert page.locator(".msg.user img.thumb").count() == 1
    assert page.locator("#attachments .attachment").count() == 0  # sent: the tray is empty again
    request = scripted.requests[name][-1]
    parts = [p for m in request.messages if m.get("role") == "user" for p in (m.get("content") or [])
             if isinstance(p, dict)]
    assert any(p.get("type") == "image_url" for p in parts), request.messages
    # the upload belongs to the user who made it
    thread = page.get_attribute("#log", "data-thread")
    with admin_http(site) as admin:
        sent = admin.get(f"/v1/threads/{thread}/messages").json()["data"][1]
        file_id = next(p["image_file"]["file_id"] for p in sent["content"] if p["type"] == "image_file")
        assert admin.get(f"/v1/files/{file_id}").json()["filename"] == "grafico.png"
    page.reload()
    page.wait_for_selector(".msg.user img.thumb")


def test_a_citation_links_to_its_source_passage_and_tool_activity_shows(page, site, scripted_assistant):
    assistant_id, register, _ = scripted_assistant
    with admin_http(site) as admin:
        text = ("Los plazos para presentar la declaración de renta de personas naturales van de agosto a octubre, "
                "según los dos últimos dígitos del NIT.")
        uploaded = admin.post("/v1/files", data={"purpose": "assistants"},
                              files={"file": ("plazos.txt", io.BytesIO(text.encode()), "text/plain")}).json()
        store = admin.post("/v1/vector_stores", json={"name": "renta", "file_ids": [uploaded["id"]],
                                                      "chunking_strategy": SMALL}).json()
        deadline = time.time() + 120
        while admin.get(f"/v1/vector_stores/{store['id']}").json()["file_counts"]["completed"] < 1:
            assert time.time() < deadline, "ingestion did not finish"
            time.sleep(0.2)
        r = admin.post(f"/v1/assistants/{assistant_id}",
                       json={"tool_resources": {"file_search": {"vector_store_ids": [store["id"]]}}})
        assert r.status_code == 200, r.text
    register({"delay": 0.6, "tool_calls": [{"name": "file_search", "arguments": {"query": "plazo declarar renta NIT"}}]},
             {"delay": 0.6, "text": "Depende de los dos últimos dígitos del NIT {marker}.", "cite": 0})
    open_chat(page, site, user_key(site, "ana-cites"), assistant_id)
    say(page, "¿Hasta cuándo puedo declarar?")
    page.wait_for_selector(".msg.assistant .tools .tool")  # shown while the run is still going
    assert "documentos" in page.inner_text(".msg.assistant .tools")
    assert not page.locator(".msg.assistant.complete").count()
    page.wait_for_selector(".msg.assistant.complete")
    reply = last_reply(page)
    assert "【" not in reply.inner_text()  # the marker became a link
    link = reply.locator("a.cite").first
    assert link.inner_text() == "[1]"
    target = link.get_attribute("href").lstrip("#")
    source = page.locator(f"[id='{target}']")
    assert "plazos.txt" in source.inner_text()
    link.click()
    assert source.evaluate("n => document.activeElement === n")
    assert "dos últimos dígitos del NIT" in source.locator("blockquote").inner_text()  # the passage itself
    assert "Búsqueda en los documentos: lista" in reply.locator(".tools").inner_text()
    page.reload()  # from history: the link and its passage come back from the run's steps
    page.wait_for_selector(".msg.assistant a.cite")
    page.locator(".msg.assistant a.cite").last.click()
    assert "dos últimos dígitos" in page.locator(".source blockquote").last.inner_text()


def test_two_users_never_see_each_others_conversations(browser, site, scripted_assistant):
    assistant_id, register, _ = scripted_assistant
    register({"text": "Respuesta para Ana."}, {"text": "Respuesta para Luis."})
    pages = {}
    for who in ("ana-two", "luis-two"):
        context = browser.new_context()
        pages[who] = context.new_page()
        open_chat(pages[who], site, user_key(site, who), assistant_id)
    ana, luis = pages["ana-two"], pages["luis-two"]
    say(ana, "Mi secreto es el número 4417")
    ana.wait_for_selector(".msg.assistant.complete")
    say(luis, "Hola, soy Luis")
    luis.wait_for_selector(".msg.assistant.complete")
    luis.reload()
    luis.wait_for_selector("body[data-ready='1']")
    assert "4417" not in luis.inner_text("#log") and "Respuesta para Ana" not in luis.inner_text("#log")
    ana_thread = ana.get_attribute("#log", "data-thread")
    assert luis.get_attribute("#log", "data-thread") != ana_thread
    # Luis's session asking for Ana's thread directly: 404, as for an unknown id
    status = luis.evaluate("async (id) => (await fetch(`/v1/threads/${id}/messages`)).status", ana_thread)
    assert status == 404
    assert luis.evaluate("async () => (await fetch('/web/api/admin/conversations')).status") == 403
    for p in pages.values():
        p.context.close()


def test_english_keyboard_only_and_a_phone_screen(browser, site, scripted_assistant):
    assistant_id, register, _ = scripted_assistant
    register({"text": "Hello!"})
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    open_chat(page, site, user_key(site, "ana-phone"), assistant_id)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390  # nothing wider than the phone
    send = page.locator("#send").bounding_box()
    assert send["x"] + send["width"] <= 390 and send["y"] + send["height"] <= 844
    page.click("#lang")
    assert page.inner_text("#reset") == "New conversation" and page.get_attribute("html", "lang") == "en"
    # every control has a name a screen reader reads
    for selector in ("#input", "#mic", "#file", "#assistant"):
        label = page.evaluate("""(s) => { const n = document.querySelector(s);
            return n.getAttribute('aria-label') || (n.labels && n.labels[0] && n.labels[0].innerText) || ''; }""", selector)
        assert label.strip(), selector
    # keyboard alone: Tab reaches the message box, Enter sends
    page.focus("#reset")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "input":
            break
    assert page.evaluate("document.activeElement.id") == "input"
    page.keyboard.type("Hi there")
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg.assistant.complete")
    assert last_reply(page).locator(".text").first.inner_text() == "Hello!"
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#reset") == "New conversation"  # the choice is remembered
    context.close()


def test_a_page_never_holds_the_key(page, site, scripted_assistant):
    assistant_id, _, _ = scripted_assistant
    secret = user_key(site, "ana-nokey")
    open_chat(page, site, secret, assistant_id)
    stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage, sessionStorage))")
    assert secret not in stored and secret not in page.content() and secret not in page.evaluate("document.cookie")
    with httpx.Client(base_url=site.url) as http:
        assert http.get("/web/api/me").json() == {**http.get("/web/api/me").json(), "signed_in": False}
