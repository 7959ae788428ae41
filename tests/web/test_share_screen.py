"""Share screen in headless Chromium: getDisplayMedia (the capture picker answered by
``--auto-select-desktop-capture-source``), a frame captured as a PNG, uploaded, and sent with
the next message as an image the model receives."""

from __future__ import annotations

import uuid

from hilo.providers import scripted
from hilo.testing.web import new_key, sign_in
from tests.web.conftest import admin_http


def test_a_frame_of_the_shared_screen_goes_with_the_next_message(page, site):
    name = f"s{uuid.uuid4().hex[:10]}"
    scripted.register(name, [{"text": "Veo tu pantalla."}])
    try:
        with admin_http(site) as admin:
            assistant = admin.post("/v1/assistants", json={"model": f"scripted/{name}", "name": "Pantalla"}).json()
            secret = new_key(admin, "ana-pantalla")
        sign_in(page, site.url, secret, next_page=f"/web/chat?assistant={assistant['id']}")
        page.wait_for_selector("body[data-ready='1']")
        page.click("#share")
        page.wait_for_selector("#share[aria-pressed='true']")
        page.wait_for_function("() => document.querySelector('#screen').videoWidth > 0")
        page.click("#frame")
        page.wait_for_selector("#attachments .attachment")
        assert "pantalla-" in page.inner_text("#attachments") and "Captura adjuntada" in page.inner_text("#notice")
        page.fill("#input", "¿Qué ves en mi pantalla?")
        page.press("#input", "Enter")
        page.wait_for_selector(".msg.assistant.complete")
        request = scripted.requests[name][-1]
        images = [p for m in request.messages if m.get("role") == "user" for p in (m.get("content") or [])
                  if isinstance(p, dict) and p.get("type") == "image_url"]
        assert images and images[0]["image_url"]["url"].startswith("data:image/png;base64,")
        assert len(images[0]["image_url"]["url"]) > 500  # a real frame, not an empty image
        page.click("#share")  # stop sharing
        page.wait_for_selector("#share[aria-pressed='false']")
        assert page.locator("#frame").is_hidden()
    finally:
        scripted.reset(name)
