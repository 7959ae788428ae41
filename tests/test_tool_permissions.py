"""Tool kinds, who may use a server-side tool, what a tool sees of its caller, and annotations
from tool results to the stored message: per route (/v1 assistants, runs) and channel (facade)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from hilo.packs import Pack
from hilo.testing.server import start_server
from hilo.tools import ToolContext, ToolResult
from hilo.tools.function import tool
from tests.conftest import BACKENDS, make_settings

ADMIN = "admin-" + uuid.uuid4().hex
MARK = "【0:0†pedidos.csv】"


@tool
async def order_count(ctx: ToolContext) -> dict:
    """How many orders the shop has (restricted: the shop's own data)."""
    return {"orders": 42}


@tool(access="public")
async def whoami(ctx: ToolContext) -> dict:
    """Who is calling, for which assistant."""
    return {"user_id": ctx.caller.user_id, "scope": ctx.caller.scope, "assistant": ctx.assistant.id,
            "owner": ctx.assistant.owner, "run": ctx.run_id}


@tool(access="public")
async def cite(ctx: ToolContext) -> ToolResult:
    """A quote with its source."""
    return ToolResult(json.dumps({"quote": "42 pedidos", "source": MARK}),
                      ({"type": "file_citation", "text": MARK, "file_citation": {"file_id": "file_orders"}},))


PACK = Pack(name="perm_test", tools=[order_count, whoami, cite],
            assistants=[Path(__file__).parent / "data" / "perm_pack" / "shop.toml"])


@pytest.fixture(scope="module", params=BACKENDS)
def site(request, database_factory, tmp_path_factory):
    settings = make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"), auth="on",
                             admin_token=ADMIN, auth_cache_s=0.2)
    live = start_server(settings, packs=[PACK])
    yield live
    live.stop()


def http(site, token=ADMIN) -> httpx.Client:
    return httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def user(site, name: str) -> tuple[str, str]:
    """(key secret, user id) of a new user."""
    with http(site) as admin:
        key = admin.post("/admin/keys", json={"user": name, "scope": "user"}).json()
    return key["secret"], key["user_id"]


def named(*names: str) -> list[dict]:
    return [{"type": "function", "function": {"name": n}} for n in names]


def run_to_end(client: httpx.Client, thread_id: str, body: dict) -> dict:
    body = {**body, "stream": True}
    with client.stream("POST", f"/v1/threads/{thread_id}/runs", json=body) as response:
        assert response.status_code == 200, response.read()
        text = "".join(response.iter_text())
    run_id = next(json.loads(line[6:])["id"] for line in text.splitlines() if line.startswith('data: {"id":"run_'))
    return client.get(f"/v1/threads/{thread_id}/runs/{run_id}").json()


def tool_outputs(client: httpx.Client, run: dict) -> list[dict]:
    steps = client.get(f"/v1/threads/{run['thread_id']}/runs/{run['id']}/steps", params={"order": "asc"}).json()
    return [json.loads(c["function"]["output"]) for s in steps["data"] if s["type"] == "tool_calls"
            for c in s["step_details"]["tool_calls"]]


def test_unsupported_tool_kinds_are_refused(site):
    secret, _ = user(site, "kinds")
    with http(site, secret) as client:
        for kind in ("code_interpreter",):  # file_search runs (hilo.tools.file_search)
            r = client.post("/v1/assistants", json={"model": "gpt-4o", "tools": [{"type": kind}]})
            assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_tool", r.text
            assert kind in r.json()["error"]["message"]


def test_restricted_tools_need_a_grant(site, script):
    model, queue = script
    secret, user_id = user(site, "shopper")
    with http(site, secret) as client, http(site) as admin:
        r = client.post("/v1/assistants", json={"model": model, "tools": named("order_count")})
        assert r.status_code == 400 and r.json()["error"]["code"] == "tool_not_permitted", r.text
        assert "order_count" in r.json()["error"]["message"] and r.json()["error"]["param"] == "tools"
        listed = client.get("/v1/assistants").json()["data"]
        assert not [a for a in listed if a["tools"] == named("order_count")]  # nothing was stored
        mine = client.post("/v1/assistants", json={"model": model, "tools": named("whoami")})  # public
        assert mine.status_code == 200, mine.text
        mine = mine.json()
        thread = client.post("/v1/threads", json={}).json()
        # a run's own tools are checked against the caller
        r = client.post(f"/v1/threads/{thread['id']}/runs", json={"assistant_id": mine["id"],
                                                                  "tools": named("order_count")})
        assert r.status_code == 400 and r.json()["error"]["code"] == "tool_not_permitted"
        r = client.post(f"/v1/assistants/{mine['id']}", json={"tools": named("whoami", "order_count")})
        assert r.status_code == 400  # changing the tools is checked too
        # the pack's own assistant (the operator's) may use it, for any user
        shop = site.app.state.pack_assistants["perm_test/shop"]
        queue({"tool_calls": [{"name": "order_count", "arguments": {}}]}, {"text": "hay 42"})
        run = run_to_end(client, thread["id"], {"assistant_id": shop, "model": model})
        assert run["status"] == "completed" and tool_outputs(client, run) == [{"orders": 42}]
        # an admin grants it to this user: their own assistants may use it now
        listing = {t["name"]: t for t in admin.get("/admin/tools").json()["data"]}
        assert listing["order_count"]["access"] == "restricted" and listing["whoami"]["access"] == "public"
        assert listing["order_count"]["pack"] == "perm_test" and listing["order_count"]["grants"] == []
        granted = admin.put(f"/admin/tools/order_count/grants/{user_id}").json()
        assert granted["grants"] == [user_id]
        assert client.put(f"/admin/tools/order_count/grants/{user_id}").status_code == 403  # admins only
        assert admin.put("/admin/tools/order_count/grants/user_nobody").status_code == 404
        assert admin.put("/admin/tools/nope/grants/*").status_code == 404
        r = client.post(f"/v1/assistants/{mine['id']}", json={"tools": named("whoami", "order_count")})
        assert r.status_code == 200, r.text
        queue({"tool_calls": [{"name": "order_count", "arguments": {}}]}, {"text": "hay 42"})
        run = run_to_end(client, thread["id"], {"assistant_id": mine["id"], "model": model})
        assert run["status"] == "completed" and tool_outputs(client, run) == [{"orders": 42}]
        # revoked: the assistant still lists it, but the call answers a refusal instead of the data
        assert admin.delete(f"/admin/tools/order_count/grants/{user_id}").status_code == 200
        assert admin.delete(f"/admin/tools/order_count/grants/{user_id}").status_code == 404
        queue({"tool_calls": [{"name": "order_count", "arguments": {}}]}, {"text": "sin datos"})
        run = run_to_end(client, thread["id"], {"assistant_id": mine["id"], "model": model})
        [output] = tool_outputs(client, run)
        assert "orders" not in output and "restricted" in output["error"]


def test_a_tool_sees_its_caller_on_every_route(site, script):
    model, queue = script
    secret, user_id = user(site, "caller")
    with http(site, secret) as client, http(site) as admin:
        mine = client.post("/v1/assistants", json={"model": model, "tools": named("whoami")}).json()
        thread = client.post("/v1/threads", json={}).json()
        queue({"tool_calls": [{"name": "whoami", "arguments": {}}]}, {"text": "listo"})
        run = run_to_end(client, thread["id"], {"assistant_id": mine["id"]})
        [seen] = tool_outputs(client, run)
        assert seen == {"user_id": user_id, "scope": "user", "assistant": mine["id"], "owner": user_id,
                        "run": run["id"]}
        # create-and-run: the same caller
        queue({"tool_calls": [{"name": "whoami", "arguments": {}}]}, {"text": "listo"})
        r = client.post("/v1/threads/runs", json={"assistant_id": mine["id"], "thread": {
            "messages": [{"role": "user", "content": "¿quién soy?"}]}}).json()
        for _ in range(200):
            r = client.get(f"/v1/threads/{r['thread_id']}/runs/{r['id']}").json()
            if r["status"] not in ("queued", "in_progress"):
                break
        assert tool_outputs(client, r)[0]["user_id"] == user_id
        # an admin's run on the same assistant: the admin is the caller
        queue({"tool_calls": [{"name": "whoami", "arguments": {}}]}, {"text": "listo"})
        athread = admin.post("/v1/threads", json={}).json()
        run = run_to_end(admin, athread["id"], {"assistant_id": mine["id"]})
        assert tool_outputs(admin, run)[0] | {"run": None} == {"user_id": None, "scope": "admin",
                                                               "assistant": mine["id"], "owner": user_id,
                                                               "run": None}
        # the seed facade (a channel): the key's user, on the assistant that claims the facade
        shop = site.app.state.pack_assistants["perm_test/shop"]
        assert admin.post(f"/v1/assistants/{shop}", json={"model": model}).status_code == 200
        queue({"tool_calls": [{"name": "whoami", "arguments": {}}]}, {"text": "listo"})
        reply = client.post("/api/assistant/chat", json={"message": "¿quién soy?"})
        assert reply.status_code == 200, reply.text
        run = client.get(f"/v1/threads/{reply.json()['thread_id']}/runs/{reply.json()['run_id']}")
        assert run.status_code == 200  # the channel's thread is the user's own
        assert tool_outputs(client, run.json())[0]["user_id"] == user_id


def test_annotations_flow_from_a_tool_result_to_the_message(site, script):
    model, queue = script
    with http(site) as admin:
        asst = admin.post("/v1/assistants", json={"model": model, "tools": named("cite")}).json()
        thread = admin.post("/v1/threads", json={}).json()
        queue({"tool_calls": [{"name": "cite", "arguments": {}}]}, {"text": f"Hay 42 pedidos {MARK}."})
        run = run_to_end(admin, thread["id"], {"assistant_id": asst["id"]})
        assert run["status"] == "completed"
        [message] = admin.get(f"/v1/threads/{thread['id']}/messages", params={"run_id": run["id"]}).json()["data"]
        text = message["content"][0]["text"]
        [annotation] = text["annotations"]
        assert annotation["type"] == "file_citation" and annotation["file_citation"] == {"file_id": "file_orders"}
        assert text["value"][annotation["start_index"]:annotation["end_index"]] == MARK
