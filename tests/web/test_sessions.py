"""Sign-in, the session cookie and CSRF over plain HTTP, on SQLite and PostgreSQL: what a browser
sends, checked at the byte level (the browser tests drive the same through the pages)."""

from __future__ import annotations

import httpx
import pytest

from hilo.identity import sessions
from hilo.testing.jwks import JWKSServer
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings
from tests.web.conftest import ADMIN_TOKEN, admin_http


@pytest.fixture(scope="module")
def idp():
    with JWKSServer() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, database_factory, tmp_path_factory, idp):
    settings = make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"), auth="on",
                             admin_token=ADMIN_TOKEN, packs="none", auth_cache_s=0.2, jwt_jwks_url=idp.url,
                             jwt_issuer=idp.issuer, jwt_audience=idp.audience, jwt_jwks_cooldown_s=0)
    server = start_server(settings)
    yield server
    server.stop()


def browser_like(live, **headers) -> httpx.Client:
    host = live.url.removeprefix("http://")
    return httpx.Client(base_url=live.url, timeout=30, headers={"Origin": live.url, "Host": host, **headers})


def sign_in(client: httpx.Client, credential: str) -> httpx.Response:
    return client.post("/web/api/session", json={"credential": credential})


def key(live, user: str, scope: str = "user") -> tuple[str, str]:
    with admin_http(live) as admin:
        made = admin.post("/admin/keys", json={"user": user, "scope": scope}).json()
    return made["id"], made["secret"]


def test_a_bad_key_is_refused_with_a_spanish_message_and_no_cookie(live):
    with browser_like(live) as web:
        r = sign_in(web, "hilo_sk_" + "x" * 40)
        assert r.status_code == 401
        assert r.json()["error"]["message"].startswith("La clave o el token no es válido")
        assert r.json()["error"]["message_en"].startswith("The key or token is not valid")
        assert "set-cookie" not in r.headers
        assert sign_in(web, "   ").status_code == 400


def test_the_session_cookie_is_httponly_lax_and_opaque(live):
    _, secret = key(live, "ana-cookie")
    with browser_like(live) as web:
        r = sign_in(web, secret)
        assert r.status_code == 200, r.text
        cookies = r.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith(sessions.COOKIE + "="))
        csrf = next(c for c in cookies if c.startswith(sessions.CSRF_COOKIE + "="))
        assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/" in session
        assert "Secure" not in session  # plain http here; https below
        assert "HttpOnly" not in csrf and "SameSite=strict" in csrf
        token = web.cookies[sessions.COOKIE]
        assert secret not in r.text and secret not in token and len(token) >= 40
        me = web.get("/web/api/me").json()
        assert me["signed_in"] and me["scope"] == "user" and me["name"] == "ana-cookie"
    with browser_like(live, **{"X-Forwarded-Proto": "https"}) as web:
        session = next(c for c in sign_in(web, secret).headers.get_list("set-cookie") if c.startswith("hilo_session="))
        assert "Secure" in session


def test_writes_with_the_cookie_need_the_csrf_header(live):
    _, secret = key(live, "ana-csrf")
    with browser_like(live) as web:
        sign_in(web, secret)
        assert web.get("/v1/assistants").status_code == 200  # reads need no header
        refused = web.post("/v1/threads", json={})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        wrong = web.post("/v1/threads", json={}, headers={"X-Hilo-CSRF": "0" * 64})
        assert wrong.status_code == 403
        made = web.post("/v1/threads", json={}, headers={"X-Hilo-CSRF": web.cookies[sessions.CSRF_COOKIE]})
        assert made.status_code == 200, made.text
        # the thread belongs to the session's user: another user's key cannot see it
        _, other = key(live, "luis-csrf")
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {other}"}) as luis:
            assert luis.get(f"/v1/threads/{made.json()['id']}").status_code == 404


def test_sign_in_and_out_come_from_the_page_itself(live):
    _, secret = key(live, "ana-origin")
    with httpx.Client(base_url=live.url, headers={"Origin": "https://evil.example"}) as evil:
        r = sign_in(evil, secret)
        assert r.status_code == 403 and "set-cookie" not in r.headers
    with httpx.Client(base_url=live.url) as no_origin:
        assert sign_in(no_origin, secret).status_code == 403
    with browser_like(live) as web:
        sign_in(web, secret)
        assert web.post("/web/api/logout").status_code == 403  # no CSRF token: a cross-site form cannot sign out
        assert web.get("/web/api/me").json()["signed_in"]


def test_sign_out_ends_the_session_on_the_server(live):
    _, secret = key(live, "ana-out")
    with browser_like(live) as web:
        sign_in(web, secret)
        token = web.cookies[sessions.COOKIE]
        out = web.post("/web/api/logout", headers={"X-Hilo-CSRF": web.cookies[sessions.CSRF_COOKIE]})
        assert out.status_code == 200
        assert not web.get("/web/api/me").json()["signed_in"]
    with httpx.Client(base_url=live.url, cookies={sessions.COOKIE: token}) as replay:  # the old cookie, replayed
        r = replay.get("/v1/assistants")
        assert r.status_code == 401 and r.json()["error"]["code"] == "session_expired"


def test_revoking_the_key_ends_its_sessions(live):
    key_id, secret = key(live, "ana-revoked")
    with browser_like(live) as web:
        sign_in(web, secret)
        assert web.get("/v1/assistants").status_code == 200
        with admin_http(live) as admin:
            assert admin.delete(f"/admin/keys/{key_id}").status_code == 200
        assert web.get("/v1/assistants").status_code == 401
        assert not web.get("/web/api/me").json()["signed_in"]


def test_a_jwt_opens_a_session_that_ends_with_the_token(live, idp):
    with browser_like(live) as web:
        r = sign_in(web, idp.token("firebase-uid-7", expires_in=120, name="Marta", entitlements=["premium"]))
        assert r.status_code == 200, r.text
        session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("hilo_session="))
        max_age = int(session.split("Max-Age=")[1].split(";")[0])
        assert 60 <= max_age <= 120  # the token's expiry, not the 12 hours of a key's session
        me = web.get("/web/api/me").json()
        assert me["via"] == "jwt" and me["name"] == "Marta" and me["entitlements"] == ["premium"]
        forged = idp.token("firebase-uid-7", issuer="https://someone-else.example")
        assert sign_in(web, forged).status_code == 401


def test_an_admin_token_session_sees_the_console_api_and_a_user_does_not(live):
    _, secret = key(live, "ana-console")
    with browser_like(live) as web:
        sign_in(web, secret)
        assert web.get("/web/api/admin/conversations").status_code == 403
        assert web.get("/admin/keys").status_code == 403
    with browser_like(live) as web:
        sign_in(web, ADMIN_TOKEN)
        page = web.get("/web/api/admin/conversations").json()
        assert {"data", "has_more"} <= set(page)


def test_the_root_is_a_page_for_browsers_and_json_for_everyone_else(live):
    with httpx.Client(base_url=live.url) as http:
        assert http.get("/").json()["service"] == "hilo"
        page = http.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert page.headers["content-type"].startswith("text/html")
        assert 'href="/web/chat"' in page.text and 'href="/web/admin"' in page.text
        chat = http.get("/web/chat")
        assert chat.status_code == 200 and "script-src 'self'" in chat.headers["content-security-policy"]
        assert http.get("/web", follow_redirects=False).headers["location"] == "/web/chat"
        assert http.get("/web/static/chat.js").status_code == 200
