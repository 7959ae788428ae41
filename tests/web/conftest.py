"""The web pages in a real browser: headless Chromium from Debian's package, driven by Playwright
for Python (``executable_path``: Playwright's own browser download is not used). The browser
tests skip, saying why, only when chromium or Playwright is missing; ``.ci/run`` installs chromium."""

from __future__ import annotations

import uuid

import httpx
import pytest

from hilo.testing.server import start_server
from hilo.testing.web import CHROMIUM, launch, off_loop
from tests.conftest import make_settings

ADMIN_TOKEN = "web-admin-" + uuid.uuid4().hex


def needs_browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run installs it): "
                    "the browser tests need it")
    return pytest.importorskip("playwright.sync_api", reason="playwright (a test extra of hilo[dev]) drives chromium")


@pytest.fixture(scope="module")
def playwright():
    api = needs_browser()
    with api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = launch(playwright)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="es-CO")
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.set_default_timeout(30_000)
    yield p
    context.close()
    assert not errors, f"the page's script failed: {errors}"


def admin_http(live) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)


@pytest.fixture(scope="module")
def site(database_factory, tmp_path_factory):
    """hilo with auth on, no pack (a page of a pack says it is not installed), the scripted model."""
    settings = make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"), auth="on",
                             admin_token=ADMIN_TOKEN, packs="none", auth_cache_s=0.2)
    live = off_loop(start_server, settings)
    yield live
    live.stop()
