"""Seed 000's facade /api/assistant/* on a live server: exact shapes, auth, premium, limits."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from openai import OpenAI

from hilo.testing.jwks import JWKSServer
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings

ADMIN_TOKEN = "admin-" + uuid.uuid4().hex
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63"
                    "f8cfc0f01f0005000201a5f0e7c70000000049454e44ae426082")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UPLOAD_MB = 0.05  # a small HILO_MAX_UPLOAD_MB keeps the oversize tests fast


@pytest.fixture(scope="module")
def idp():
    with JWKSServer() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def site(request, database_factory, tmp_path_factory, idp):
    settings = make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"), auth="on",
                             admin_token=ADMIN_TOKEN, jwt_jwks_url=idp.url, jwt_issuer=idp.issuer,
                             jwt_audience=idp.audience, history_limit=4, max_upload_mb=UPLOAD_MB,
                             packs="trading_mentor")
    live = start_server(settings)
    mentor = live.app.state.pack_assistants["trading_mentor/mentor"]
    with OpenAI(base_url=live.url + "/v1", api_key=ADMIN_TOKEN, max_retries=0) as admin:
        meta = admin.beta.assistants.retrieve(mentor).metadata
        admin.beta.assistants.update(mentor, metadata={**meta, "hilo_requires": "premium"})  # seed 000
    yield live
    live.stop()


def api(server, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url + "/api/assistant", headers=headers, timeout=30)


def premium(idp, sub: str | None = None) -> str:
    return idp.token(sub or f"uid-{uuid.uuid4().hex[:8]}", entitlements=["premium"])


def fails(r: httpx.Response, status: int, text: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"], body
    if text:
        assert text in body["error"], body


def test_chat_needs_a_valid_token_and_premium(site, idp):
    question = {"message": "¿Cuál es el precio actual de Bitcoin?"}
    with api(site, None) as anon:
        fails(anon.post("/chat", json=question), 401)
    for token in ("garbage", idp.token("u", expires_in=-300), idp.token("u", issuer="https://evil.test")):
        with api(site, token) as client:
            fails(client.post("/chat", json=question), 401)
    with api(site, idp.token("free-user")) as free:
        fails(free.post("/chat", json=question), 403, "premium")
        fails(free.get("/history"), 403)
    with api(site, premium(idp)) as client:
        r = client.post("/chat", json=question)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"success", "message", "thread_id", "run_id"}
    assert body["success"] is True and body["message"] == "echo: ¿Cuál es el precio actual de Bitcoin?"
    assert body["thread_id"].startswith("thread_") and body["run_id"].startswith("run_")


def test_thread_per_user_history_and_clear(site, idp):
    token = premium(idp)
    with api(site, token) as client:
        first = client.post("/chat", json={"message": "uno"}).json()
        for word in ("dos", "tres"):
            assert client.post("/chat", json={"message": word}).json()["thread_id"] == first["thread_id"]
        h = client.get("/history").json()
        assert h["success"] is True and h["thread_id"] == first["thread_id"]
        assert [m["content"] for m in h["messages"]] == ["dos", "echo: dos", "tres", "echo: tres"]  # capped at 4
        assert all(set(m) == {"id", "role", "content", "created_at"} for m in h["messages"])
        assert [m["role"] for m in h["messages"]] == ["user", "assistant"] * 2
        assert all(ISO.match(m["created_at"]) for m in h["messages"])
        assert len(client.get("/history", params={"limit": 2}).json()["messages"]) == 2
        fails(client.get("/history", params={"limit": 0}), 400)
        other = api(site, premium(idp))
        assert other.get("/history").json()["messages"] == []  # another user, another thread
        other.close()
        cleared = client.post("/clear").json()
        assert cleared["success"] is True and cleared["thread_id"] != first["thread_id"]
        after = client.get("/history").json()
        assert after["messages"] == [] and after["thread_id"] == cleared["thread_id"]
        again = client.post("/chat", json={"message": "cuatro"}).json()
        assert again["thread_id"] == cleared["thread_id"]
    with OpenAI(base_url=site.url + "/v1", api_key=ADMIN_TOKEN, max_retries=0) as admin:  # never truncated
        assert len(admin.beta.threads.messages.list(thread_id=first["thread_id"]).data) == 6


def test_input_is_sanitised_and_capped(site, idp):
    with api(site, premium(idp)) as client:
        r = client.post("/chat", json={"message": "ho\x01la\x07 \u200bmundo\x1b"})
        assert r.json()["message"] == "echo: hola mundo"
        fails(client.post("/chat", json={"message": "ho\x00la"}), 400, "'message'")  # NUL: refused, as everywhere
        fails(client.post("/chat", json={"message": "x" * 4001}), 400, "4000")
        assert client.post("/chat", json={"message": "x" * 4000}).status_code == 200
        fails(client.post("/chat", json={"message": " \x00 "}), 400)
        fails(client.post("/chat", json={}), 400)
        fails(client.post("/chat", content=b"{not json", headers={"content-type": "application/json"}), 400)
        fails(client.post("/chat", json={"message": "mira", "files": [{"type": "image", "url": "file:///etc/passwd"}]}), 400)
        fails(client.post("/chat", json={"message": "mira", "files": [{"type": "image"}]}), 400)
        fails(client.post("/chat", json={"message": 5}), 400)


def _multipart(data: bytes, name: str = "grafico.png") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_upload_and_chat_with_the_file(site, idp):
    token = premium(idp)
    with api(site, token) as client:
        r = client.post("/upload", files={"file": ("grafico.png", PNG, "image/png")})
        assert r.status_code == 200, r.text
        up = r.json()
        assert set(up) == {"success", "file_id", "filename", "size"}
        assert up["success"] is True and up["filename"] == "grafico.png" and up["size"] == len(PNG)
        r = client.post("/chat", json={"message": "analiza", "files": [{"type": "image", "file_id": up["file_id"]}]})
        assert r.status_code == 200 and r.json()["message"] == "echo: analiza"
        fails(client.post("/upload", files={"file": ("x.png", b"MZ not an image", "image/png")}), 400)
        fails(client.post("/upload"), 400)
        big = PNG + b"\0" * int(UPLOAD_MB * 1024 * 1024 + 1)
        fails(client.post("/upload", files={"file": ("big.png", big, "image/png")}), 413)  # while streaming
        body, ctype = _multipart(big)
        fails(client.post("/upload", content=body, headers={"content-type": ctype}), 413)
        huge, ctype = _multipart(big + b"\0" * 200_000)  # Content-Length alone says too large
        fails(client.post("/upload", content=huge, headers={"content-type": ctype}), 413)
        chunked = client.post("/upload", content=iter([huge[:1000], huge[1000:]]), headers={"content-type": ctype})
        fails(chunked, 413)
    with api(site, premium(idp)) as stranger:  # someone else's file is unknown
        fails(stranger.post("/chat", json={"message": "mira", "files": [{"file_id": up["file_id"]}]}), 400)
        fails(stranger.post("/analyze-image", json={"file_id": up["file_id"]}), 404)


def test_analyze_image(site, idp):
    with api(site, premium(idp)) as client:
        file_id = client.post("/upload", files={"file": ("chart.png", PNG, "image/png")}).json()["file_id"]
        r = client.post("/analyze-image", json={"file_id": file_id, "analysis_type": "complete",
                                                "prompt": "Analiza los patrones de velas"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"] is True and "PNG" in body["message"] and "1×1" in body["message"]
        assert body["analysis"]["width"] == 1 and body["analysis"]["vision"] is False
        fails(client.post("/analyze-image", json={"analysis_type": "complete"}), 400)
        fails(client.post("/analyze-image", json={"file_id": file_id, "image_url": "https://x.test/a.png"}), 400)
        fails(client.post("/analyze-image", json={"file_id": file_id, "analysis_type": "astrology"}), 400)
        fails(client.post("/analyze-image", json={"image_url": "http://127.0.0.1:1/private.png"}), 400)
    with api(site, idp.token("free-2")) as free:
        fails(free.post("/analyze-image", json={"file_id": file_id}), 403)


def test_choosing_the_assistant(site, idp, script):
    model, queue = script
    token = premium(idp, "chooser")
    with OpenAI(base_url=site.url + "/v1", api_key=token, max_retries=0) as mine:
        own = mine.beta.assistants.create(model=model, name="mío")
    with OpenAI(base_url=site.url + "/v1", api_key=premium(idp), max_retries=0) as theirs:
        foreign = theirs.beta.assistants.create(model=model, name="ajeno")
    queue({"text": "respuesta propia"})
    with api(site, token) as client:
        r = client.post("/chat", json={"message": "hola", "assistant": own.id})
        assert r.json()["message"] == "respuesta propia"
        assert client.get("/history", params={"assistant": own.id}).json()["messages"][-1]["content"] == "respuesta propia"
        mentor = client.get("/history").json()["thread_id"]
        assert client.get("/history", params={"assistant": "trading_mentor:mentor"}).json()["thread_id"] == mentor
        assert r.json()["thread_id"] != mentor  # one active thread per assistant
        fails(client.post("/chat", json={"message": "hola", "assistant": foreign.id}), 404)
        fails(client.post("/chat?assistant=nope/nothing", json={"message": "hola"}), 404)
        cleared = client.post("/clear", json={"assistant": own.id}).json()
        assert client.get("/history").json()["thread_id"] == mentor != cleared["thread_id"]


@pytest.fixture(scope="module")
def open_site(database_factory, tmp_path_factory):
    """HILO_AUTH=off, no packs, short timeout: the local quickstart."""
    settings = make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"), packs="none",
                             run_timeout=1.5)
    live = start_server(settings)
    yield live
    live.stop()


def test_auth_off_users_by_header_and_errors(open_site, script):
    model, queue = script
    with OpenAI(base_url=open_site.url + "/v1", api_key="x", max_retries=0) as admin:
        asst = admin.beta.assistants.create(model=model, metadata={"hilo_requires": "premium"}).id
    with api(open_site, None) as client:
        fails(client.post("/chat", json={"message": "hola"}), 503, "HILO_PACKS")  # no pack claims the facade
        ana = client.post("/chat", json={"message": "soy ana", "assistant": asst},
                          headers={"X-Hilo-User": "ana"}).json()
        beto = client.post("/chat", json={"message": "soy beto", "assistant": asst},
                           headers={"X-Hilo-User": "beto"}).json()
        local = client.post(f"/chat?assistant={asst}", json={"message": "local"}).json()
        assert ana["success"] and len({ana["thread_id"], beto["thread_id"], local["thread_id"]}) == 3
        h = client.get("/history", params={"assistant": asst}, headers={"X-Hilo-User": "ana"}).json()
        assert [m["content"] for m in h["messages"]] == ["soy ana", "echo: soy ana"]
        fails(client.get("/history", params={"assistant": asst}, headers={"X-Hilo-User": "x" * 200}), 400)
        queue({"delay": 5, "text": "tarde"})
        r = client.post("/chat", json={"message": "lento", "assistant": asst}, headers={"X-Hilo-User": "ana"})
        fails(r, 504)
        assert r.json()["thread_id"] == ana["thread_id"]
