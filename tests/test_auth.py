"""Auth on a live server: API keys, JWT against a local JWKS, per-user isolation on every
/v1 route, entitlements, admin endpoints, the CLI and rate limits."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

import httpx
import jwt
import openai
import pytest
from openai import OpenAI
from typer.testing import CliRunner

from hilo.app import create_app
from hilo.identity.tokens import claim_entitlements
from hilo.kit.config import Settings, get_settings
from hilo.testing.jwks import JWKSServer
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings

ADMIN_TOKEN = "admin-" + uuid.uuid4().hex
REDIS_URL = os.environ.get("HILO_TEST_REDIS_URL")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63"
                    "f8cfc0f01f0005000201a5f0e7c70000000049454e44ae426082")


@pytest.fixture(scope="module")
def idp():
    with JWKSServer() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def authed(request, database_factory, tmp_path_factory, idp):
    settings = make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"), auth="on",
                             admin_token=ADMIN_TOKEN, jwt_jwks_url=idp.url, jwt_issuer=idp.issuer,
                             jwt_audience=idp.audience, auth_cache_s=0.5, jwt_jwks_cooldown_s=0,
                             packs="none")
    live = start_server(settings)
    yield live
    live.stop()


def http(server, token: str | None = ADMIN_TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


_clients: list[OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _clients:
        _clients.pop().close()


def sdk(server, token: str) -> OpenAI:
    client = OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0, timeout=30)
    _clients.append(client)  # closed after the test
    return client


def new_key(server, user: str, scope: str = "user") -> str:
    with http(server) as admin:
        r = admin.post("/admin/keys", json={"user": user, "scope": scope, "name": "test"})
    assert r.status_code == 200, r.text
    return r.json()["secret"]


# ---------------------------------------------------------------- authentication


def test_missing_and_bad_credentials(authed):
    with http(authed, None) as anon:
        r = anon.get("/v1/assistants")
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
        assert anon.get("/health").status_code == 200  # probes stay open
    for token in ("nonsense", "hilo_sk_" + "x" * 43, "a.b.c"):
        with pytest.raises(openai.AuthenticationError):
            sdk(authed, token).beta.assistants.list()


def test_api_keys_and_revocation(authed, caplog):
    caplog.set_level(logging.DEBUG)
    secret = new_key(authed, "keyuser")
    assert secret.startswith("hilo_sk_") and len(secret) >= 8 + 43
    client = sdk(authed, secret)
    assert client.beta.assistants.list().data is not None
    with http(authed) as admin:
        listing = admin.get("/admin/keys").json()["data"]
        mine = next(k for k in listing if secret.startswith(k["prefix"].rstrip(".")))
        assert "secret" not in mine and "hash" not in mine and secret not in str(listing)
        assert mine["last_used_at"] is not None
        assert admin.delete(f"/admin/keys/{mine['id']}").json()["revoked"] is True
    with pytest.raises(openai.AuthenticationError):
        client.beta.assistants.list()
    assert secret not in caplog.text


def test_user_keys_cannot_use_admin_endpoints(authed):
    with http(authed, new_key(authed, "plain")) as user:
        assert user.get("/admin/keys").status_code == 403
        assert user.post("/admin/users", json={"name": "x"}).status_code == 403
    admin_key = new_key(authed, "boss", scope="admin")
    with http(authed, admin_key) as admin:
        assert admin.get("/admin/users").status_code == 200


def test_jwt_tokens(authed, idp):
    ok = idp.token("firebase-uid-1", name="Ana", email="ana@example.com")
    assert sdk(authed, ok).beta.assistants.list() is not None
    bad = {
        "expired": idp.token("u", expires_in=-120),
        "wrong issuer": idp.token("u", issuer="https://securetoken.google.com/other"),
        "wrong audience": idp.token("u", audience="other"),
        "forged signature": idp.token("u", key=idp.rogue),
        "unknown kid": idp.token("u", kid="nope", key=idp.rogue),
        "alg none": jwt.encode({"iss": idp.issuer, "aud": idp.audience, "sub": "u", "exp": time.time() + 60},
                               None, algorithm="none", headers={"kid": "k1"}),
        "no subject": idp.token(""),
    }
    for why, token in bad.items():
        with http(authed, token) as client:
            r = client.get("/v1/assistants")
        assert r.status_code == 401, why
        assert r.json()["error"]["message"], why
    with http(authed, bad["expired"]) as client:
        assert "expired" in client.get("/v1/assistants").json()["error"]["message"]
    kid = f"k-{uuid.uuid4().hex[:6]}"
    idp.rotate(kid)  # a new signing key is fetched on first sight of its kid
    with sdk(authed, idp.token("firebase-uid-1", kid=kid)) as client:
        assert client.beta.assistants.list() is not None


def test_jwt_subject_is_one_user(authed, idp):
    a = sdk(authed, idp.token("same-subject"))
    t = a.beta.threads.create()
    b = sdk(authed, idp.token("same-subject", kid="k1"))
    assert b.beta.threads.retrieve(t.id).id == t.id
    with pytest.raises(openai.NotFoundError):
        sdk(authed, idp.token("other-subject")).beta.threads.retrieve(t.id)


def test_entitlement_claims():
    assert claim_entitlements({"entitlements": ["premium", "beta"]}, "entitlements") == {"premium", "beta"}
    assert claim_entitlements({"premium": True}, "premium") == {"premium"}
    assert claim_entitlements({"premium": False}, "premium") == set()
    assert claim_entitlements({"plan": "premium gold"}, "plan") == {"premium", "gold"}
    assert claim_entitlements({"flags": {"premium": True, "x": False}}, "flags") == {"premium"}
    assert claim_entitlements({}, "entitlements") == set()


def test_auth_off_is_loud(caplog, tmp_path):
    caplog.set_level(logging.WARNING)
    create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path), packs=[])
    assert "AUTHENTICATION IS DISABLED" in caplog.text
    with pytest.raises(ValueError):
        create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path, auth="maybe"), packs=[])
    with pytest.raises(ValueError):  # a JWKS without issuer and audience would accept any issuer
        create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path, auth="on",
                                 jwt_jwks_url="http://127.0.0.1:9/jwks.json"), packs=[])


# ---------------------------------------------------------------- isolation on every /v1 route


def _v1_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(_env_file=None, packs="none"), packs=[])
    paths = app.openapi()["paths"]  # the public route table
    return sorted((method.upper(), path) for path, ops in paths.items() if path.startswith("/v1") for method in ops)


V1_ROUTES = _v1_routes()

# Request bodies for routes that need one (every other route is sent without a body).
BODIES = {
    ("POST", "/v1/assistants/{assistant_id}"): {"metadata": {"x": "y"}},
    ("POST", "/v1/threads/{thread_id}"): {"metadata": {"x": "y"}},
    ("POST", "/v1/threads/{thread_id}/messages"): {"role": "user", "content": "hola"},
    ("POST", "/v1/threads/{thread_id}/messages/{message_id}"): {"metadata": {"x": "y"}},
    ("POST", "/v1/threads/{thread_id}/runs"): {"assistant_id": "{global_assistant}"},
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}"): {"metadata": {"x": "y"}},
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"):
        {"tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]},
    ("POST", "/v1/vector_stores/{vector_store_id}"): {"metadata": {"x": "y"}},
    ("POST", "/v1/vector_stores/{vector_store_id}/search"): {"query": "hola"},
    ("POST", "/v1/vector_stores/{vector_store_id}/files"): {"file_id": "{file_id}"},
    ("POST", "/v1/vector_stores/{vector_store_id}/files/{file_id}"): {"attributes": {"x": "y"}},
    ("POST", "/v1/vector_stores/{vector_store_id}/file_batches"): {"file_ids": ["{file_id}"]},
}
KINDS = {"assistant_id": "assistant", "thread_id": "thread", "file_id": "file", "message_id": "message",
         "run_id": "run", "step_id": "run step", "vector_store_id": "vector store", "batch_id": "vector store file batch"}


@pytest.fixture(scope="module")
def world(authed):
    """User A's objects (assistant, thread, message, run, step, file) and user B's key."""
    a_key, b_key = new_key(authed, "alice"), new_key(authed, "bob")
    a = sdk(authed, a_key)
    with sdk(authed, ADMIN_TOKEN) as admin:
        shared = admin.beta.assistants.create(model="scripted/shared", name="shared")
    asst = a.beta.assistants.create(model="scripted/alice", name="private")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "hola"}])
    run = a.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20)
    assert run.status == "completed", run.last_error
    step = a.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data[0]
    message = a.beta.threads.messages.list(thread_id=thread.id).data[0]
    file = a.files.create(file=("chart.png", PNG, "image/png"), purpose="vision")
    store = a.vector_stores.create(name="private", file_ids=[file.id])
    batch = a.vector_stores.file_batches.create(store.id, file_ids=[file.id])
    ids = {"assistant_id": asst.id, "thread_id": thread.id, "run_id": run.id, "step_id": step.id,
           "message_id": message.id, "file_id": file.id, "global_assistant": shared.id,
           "vector_store_id": store.id, "batch_id": batch.id}
    return {"a": a_key, "b": b_key, "ids": ids}


def _fill(text: str, ids: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], text)


def _body(route, ids):
    body = BODIES.get(route)
    if body is None:
        return None
    import json

    return json.loads(_fill(json.dumps(body), ids))


@pytest.mark.parametrize("route", [r for r in V1_ROUTES if "{" in r[1]], ids=lambda r: f"{r[0]} {r[1]}")
def test_other_users_objects_are_404_on_every_route(authed, world, route):
    method, path = route
    params = re.findall(r"\{(\w+)\}", path)
    ids = world["ids"]
    unknown = {**ids, **{p: ids[p][: ids[p].index("_") + 1] + "0" * 24 for p in params}}
    with http(authed, world["b"]) as bob:
        theirs = bob.request(method, _fill(path, ids), json=_body(route, ids))
        missing = bob.request(method, _fill(path, unknown), json=_body(route, unknown))
    assert theirs.status_code == 404, theirs.text
    assert missing.status_code == 404, missing.text
    # exactly like an unknown id: same answer with the ids swapped
    first = params[0]
    assert theirs.json()["error"]["message"].replace(ids[first], "ID") == \
        missing.json()["error"]["message"].replace(unknown[first], "ID")
    with http(authed, world["a"]) as alice:  # and nothing of A's changed
        assert alice.get(_fill(path.split("/{")[0] + "/{" + params[0] + "}", ids)).status_code == 200
        if "thread_id" in params:
            assert alice.get(_fill("/v1/threads/{thread_id}/messages", ids)).json()["data"][0]["metadata"] == {}


def test_routes_without_ids_only_show_own_objects(authed, world):
    covered = {("GET", "/v1/assistants"), ("POST", "/v1/assistants"), ("POST", "/v1/threads"),
               ("POST", "/v1/threads/runs"), ("GET", "/v1/files"), ("POST", "/v1/files"),
               ("GET", "/v1/vector_stores"), ("POST", "/v1/vector_stores"), ("POST", "/v1/audio/transcriptions")}
    assert {r for r in V1_ROUTES if "{" not in r[1]} == covered, "a new /v1 route needs an isolation check"
    ids = world["ids"]
    a, b = sdk(authed, world["a"]), sdk(authed, world["b"])
    listed = {x.id for x in b.beta.assistants.list(limit=100).data}
    assert ids["global_assistant"] in listed and ids["assistant_id"] not in listed
    assert ids["file_id"] not in {f.id for f in b.files.list().data}
    assert ids["vector_store_id"] not in {s.id for s in b.vector_stores.list(limit=100).data}
    bob_store = b.vector_stores.create(name="bob's")
    with pytest.raises(openai.NotFoundError):
        a.vector_stores.retrieve(bob_store.id)
    with pytest.raises(openai.NotFoundError, match="No file found"):  # someone else's file in one's own store
        b.vector_stores.files.create(vector_store_id=bob_store.id, file_id=ids["file_id"])
    mine = b.beta.assistants.create(model="scripted/bob")
    with pytest.raises(openai.NotFoundError):
        a.beta.assistants.retrieve(mine.id)
    bob_thread = b.beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        a.beta.threads.retrieve(bob_thread.id)
    bob_file = b.files.create(file=("b.png", PNG, "image/png"), purpose="vision")
    with pytest.raises(openai.NotFoundError):
        a.files.retrieve(bob_file.id)
    with pytest.raises(openai.NotFoundError):  # running someone else's assistant
        b.beta.threads.create_and_run(assistant_id=ids["assistant_id"])
    with pytest.raises(openai.BadRequestError, match="No such file"):  # attaching someone else's file
        b.beta.threads.create(messages=[{"role": "user", "content": [
            {"type": "image_file", "image_file": {"file_id": ids["file_id"]}}]}])
    with pytest.raises(openai.BadRequestError, match="No such file"):
        b.beta.threads.messages.create(thread_id=bob_thread.id, role="user", content=[
            {"type": "image_file", "image_file": {"file_id": ids["file_id"]}}])
    # a transcription keeps nothing (no file, no thread): there is nothing of anyone's to see
    files_before = {f.id for f in b.files.list().data}
    with pytest.raises(openai.BadRequestError, match="empty"):
        b.audio.transcriptions.create(file=("nota.ogg", b""), model="whisper-1")
    assert {f.id for f in b.files.list().data} == files_before
    # the global assistant: readable and runnable, not changeable
    assert b.beta.assistants.retrieve(ids["global_assistant"]).name == "shared"
    with pytest.raises(openai.PermissionDeniedError):
        b.beta.assistants.update(ids["global_assistant"], name="mine now")
    with pytest.raises(openai.PermissionDeniedError):
        b.beta.assistants.delete(ids["global_assistant"])
    run = b.beta.threads.create_and_run_poll(assistant_id=ids["global_assistant"], poll_interval_ms=20,
                                             thread={"messages": [{"role": "user", "content": "hola"}]})
    assert run.status == "completed"
    # admins see everything
    admin = sdk(authed, ADMIN_TOKEN)
    assert admin.beta.threads.retrieve(ids["thread_id"]).id == ids["thread_id"]
    assert admin.beta.threads.retrieve(bob_thread.id).id == bob_thread.id


# ---------------------------------------------------------------- entitlements


def test_premium_assistant(authed, idp):
    admin = sdk(authed, ADMIN_TOKEN)
    premium = admin.beta.assistants.create(model="scripted/premium", name="Mentor",
                                           metadata={"hilo_requires": "premium"})
    free_user = sdk(authed, new_key(authed, "free"))
    thread = free_user.beta.threads.create(messages=[{"role": "user", "content": "hola"}])
    with pytest.raises(openai.PermissionDeniedError, match="premium"):
        free_user.beta.threads.runs.create(thread_id=thread.id, assistant_id=premium.id)
    with pytest.raises(openai.PermissionDeniedError):
        free_user.beta.threads.create_and_run(assistant_id=premium.id)
    # entitlement from the token's claim
    paying = sdk(authed, idp.token("paying-uid", entitlements=["premium"]))
    run = paying.beta.threads.create_and_run_poll(assistant_id=premium.id, poll_interval_ms=20,
                                                  thread={"messages": [{"role": "user", "content": "hola"}]})
    assert run.status == "completed"
    # entitlement from the user record (PATCH /admin/users), merged with the token's
    token = idp.token("upgraded-uid")
    with pytest.raises(openai.PermissionDeniedError):
        sdk(authed, token).beta.threads.create_and_run(assistant_id=premium.id)
    with http(authed) as client:
        users = client.get("/admin/users", params={"limit": 100}).json()["data"]
        user = next(u for u in users if u["name"] == "upgraded-uid")
        r = client.patch(f"/admin/users/{user['id']}", json={"entitlements": ["premium"]})
        assert r.status_code == 200 and r.json()["entitlements"] == ["premium"]
        assert client.patch("/admin/users/user_missing", json={"entitlements": []}).status_code == 404
        assert client.patch(f"/admin/users/{user['id']}", json={"entitlements": "premium"}).status_code == 400
    run = sdk(authed, token).beta.threads.create_and_run_poll(assistant_id=premium.id, poll_interval_ms=20)
    assert run.status == "completed"


def test_admin_users_endpoints(authed):
    with http(authed) as admin:
        r = admin.post("/admin/users", json={"name": "carla", "entitlements": ["premium", "premium"]})
        assert r.status_code == 200 and r.json()["entitlements"] == ["premium"]
        assert admin.post("/admin/users", json={"name": "carla"}).status_code == 409
        assert admin.post("/admin/users", json={"name": ""}).status_code == 400
        user = r.json()
        assert admin.get(f"/admin/users/{user['id']}").json()["name"] == "carla"
        key = admin.post("/admin/keys", json={"user_id": user["id"]}).json()
        assert key["user_id"] == user["id"] and key["scope"] == "user"
        assert admin.post("/admin/keys", json={"user_id": "user_nope"}).status_code == 404
        assert admin.post("/admin/keys", json={"user": "x", "scope": "root"}).status_code == 400
        assert admin.delete("/admin/keys/key_nope").status_code == 404
    # the premium user's key carries the entitlement
    with http(authed, key["secret"]) as carla:
        assert carla.get("/v1/assistants").status_code == 200


def test_cli_keys(authed, monkeypatch):
    from hilo.cli import app as cli

    monkeypatch.setenv("HILO_DATABASE_URL", authed.settings.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(cli, ["keys", "create", "--user", "cli-user", "--scope", "user", "--name", "laptop"])
        assert out.exit_code == 0, out.output
        secret = out.output.strip().splitlines()[-1]
        key_id = re.search(r"created (key_\w+)", out.output).group(1)
        assert sdk(authed, secret).beta.assistants.list() is not None
        listing = runner.invoke(cli, ["keys", "list"])
        assert key_id in listing.output and secret not in listing.output and "laptop" in listing.output
        assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
        assert runner.invoke(cli, ["keys", "revoke", "key_nope"]).exit_code == 1
        assert runner.invoke(cli, ["keys", "create", "--user", "x", "--scope", "root"]).exit_code != 0
    finally:
        get_settings.cache_clear()
    time.sleep(authed.settings.auth_cache_s + 0.1)  # another process revoked it: the cache expires
    with pytest.raises(openai.AuthenticationError):
        sdk(authed, secret).beta.assistants.list()


# ---------------------------------------------------------------- rate limits


@pytest.fixture(params=["memory"] + (["redis"] if REDIS_URL else []))
def limited(request, database_factory, tmp_path):
    extra = {"redis_url": REDIS_URL, "redis_prefix": f"hilo-test-{uuid.uuid4().hex[:8]}"} \
        if request.param == "redis" else {}
    settings = make_settings(database_factory("sqlite"), tmp_path, auth="on", admin_token=ADMIN_TOKEN,
                             rate_limit="3/minute", packs="none", **extra)
    live = start_server(settings)
    yield live
    live.stop()


def test_rate_limit_per_user(limited):
    one, two = new_key(limited, "one"), new_key(limited, "two")
    with http(limited, one) as client:
        assert [client.get("/v1/assistants").status_code for _ in range(3)] == [200, 200, 200]
        r = client.get("/v1/assistants")
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.json()["error"]["code"] == "rate_limit_exceeded" and r.json()["error"]["type"] == "requests"
    with pytest.raises(openai.RateLimitError):
        sdk(limited, one).beta.assistants.list()
    with http(limited, two) as client:  # another user has their own budget
        assert client.get("/v1/assistants").status_code == 200


@pytest.mark.parametrize("route", V1_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_every_v1_route_needs_credentials(authed, route):
    method, path = route
    with http(authed, None) as anon:
        r = anon.request(method, re.sub(r"\{(\w+)\}", "x_1", path))
    assert r.status_code == 401, r.text
