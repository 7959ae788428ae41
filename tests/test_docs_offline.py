"""``/docs`` and ``/redoc`` work on a machine with no network: every script, style sheet and
icon they load is served by hilo itself (from the ``fastapi-offline`` package's files)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from hilo.testing.server import start_server
from tests.conftest import make_settings

ASSET = re.compile(r"""\b(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl\s*:\s*["']([^"']+)["']""")
EXPECTED = {"/docs": {".js": "javascript", ".css": "css"}, "/redoc": {".js": "javascript"}}


@pytest.fixture(scope="module")
def site(database_factory, tmp_path_factory):
    live = start_server(make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("docs")))
    yield live
    live.stop()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(site, page):
    html = httpx.get(site.url + page).text
    assert "cdn." not in html and "googleapis" not in html and "unpkg" not in html
    urls = [a or b for a, b in ASSET.findall(html)]
    assert urls, html
    seen: dict[str, str] = {}
    for url in urls:
        absolute = urljoin(site.url + page, url)
        assert urlsplit(absolute).netloc == urlsplit(site.url).netloc, f"{page} loads {url} from elsewhere"
        r = httpx.get(absolute)
        assert r.status_code == 200, (url, r.status_code)
        seen[urlsplit(absolute).path] = r.headers["content-type"]
    for suffix, kind in EXPECTED[page].items():
        served = [ct for path, ct in seen.items() if path.endswith(suffix)]
        assert served and all(kind in ct for ct in served), seen
    assert any(path == "/openapi.json" for path in seen)  # the spec they render


def test_swagger_ui_has_no_online_validator(site):
    html = httpx.get(site.url + "/docs").text
    assert '"validatorUrl": null' in html
    bundle = httpx.get(site.url + "/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 500_000  # the real Swagger UI bundle
    redoc = httpx.get(site.url + "/docs/assets/redoc.standalone.js")
    assert redoc.status_code == 200 and len(redoc.content) > 500_000
