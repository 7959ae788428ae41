"""Assistants CRUD, pagination, metadata limits and error shapes through the official SDK."""

import httpx
import openai
import pytest


def test_crud(client):
    a = client.beta.assistants.create(
        model="gpt-4o", name="Mentor", description="d", instructions="Eres un mentor.",
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}],
        metadata={"tier": "premium"}, temperature=0.3, top_p=0.9,
        response_format={"type": "json_object"},
    )
    assert a.id.startswith("asst_") and a.object == "assistant"
    assert a.tools[0].function.name == "f"
    got = client.beta.assistants.retrieve(a.id)
    assert got.model_dump() == a.model_dump()
    upd = client.beta.assistants.update(a.id, name="Mentor 2", metadata={"tier": "free"})
    assert upd.name == "Mentor 2" and upd.metadata == {"tier": "free"}
    assert upd.instructions == "Eres un mentor."  # untouched fields stay
    deleted = client.beta.assistants.delete(a.id)
    assert deleted.deleted and deleted.id == a.id
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(a.id)


def test_pagination(client):
    ids = [client.beta.assistants.create(model="m", name=f"p{i}", metadata={"set": "pag"}).id for i in range(7)]
    first = client.beta.assistants.list(limit=3, order="asc", after=ids[0])
    assert [x.id for x in first.data] == ids[1:4] and first.has_more
    assert first.first_id == ids[1] and first.last_id == ids[3]
    desc = client.beta.assistants.list(limit=2, order="desc")
    assert [x.id for x in desc.data] == [ids[6], ids[5]]
    before = client.beta.assistants.list(limit=2, order="asc", before=ids[6])
    assert [x.id for x in before.data] == [ids[4], ids[5]]
    # auto-pagination walks every page, newest first
    seen = [x.id for x in client.beta.assistants.list(limit=2, order="desc")]
    assert seen[:7] == ids[::-1]
    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.list(limit=101)


def test_metadata_limits(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.assistants.create(model="m", metadata={f"k{i}": "v" for i in range(17)})
    assert "16" in exc.value.message
    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.create(model="m", metadata={"k" * 65: "v"})
    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.create(model="m", metadata={"k": "v" * 513})
    ok = client.beta.assistants.create(model="m", metadata={f"k{i}": "v" * 512 for i in range(16)})
    assert len(ok.metadata) == 16


def test_invalid_bodies(server):
    url = server.url + "/v1/assistants"
    r = httpx.post(url, json={"name": "no model"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == "model"
    r = httpx.post(url, json={"model": "m", "bogus": 1})
    assert r.status_code == 400 and "bogus" in r.json()["error"]["message"]
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = httpx.post(url, json={"model": "m", "tools": [{"type": "function", "function": {"name": "bad name!"}}]})
    assert r.status_code == 400
    r = httpx.post(url, json={"model": "m", "temperature": 3})
    assert r.status_code == 400
    r = httpx.get(server.url + "/v1/assistants/asst_nope")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "No assistant found with id 'asst_nope'."
    r = httpx.get(server.url + "/v1/no-such-route")
    assert r.status_code == 404 and "error" in r.json()
