"""Threads and messages, including image parts and the run_id filter."""

import httpx
import openai
import pytest


def test_thread_crud(client):
    t = client.beta.threads.create(
        messages=[{"role": "user", "content": "hola"}, {"role": "assistant", "content": "¿en qué te ayudo?"}],
        metadata={"user": "u1"},
    )
    assert t.id.startswith("thread_") and t.metadata == {"user": "u1"}
    msgs = client.beta.threads.messages.list(thread_id=t.id, order="asc")
    assert [m.role for m in msgs.data] == ["user", "assistant"]
    assert msgs.data[0].content[0].text.value == "hola"
    t2 = client.beta.threads.update(t.id, metadata={"user": "u2"})
    assert t2.metadata == {"user": "u2"}
    assert client.beta.threads.retrieve(t.id).metadata == {"user": "u2"}
    assert client.beta.threads.delete(t.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(t.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.list(thread_id=t.id)


def test_message_crud(client):
    t = client.beta.threads.create()
    m = client.beta.threads.messages.create(thread_id=t.id, role="user", content="uno", metadata={"a": "1"})
    assert m.id.startswith("msg_") and m.thread_id == t.id and m.status == "completed"
    assert client.beta.threads.messages.retrieve(message_id=m.id, thread_id=t.id).content[0].text.value == "uno"
    m2 = client.beta.threads.messages.update(message_id=m.id, thread_id=t.id, metadata={"a": "2"})
    assert m2.metadata == {"a": "2"}
    assert client.beta.threads.messages.delete(message_id=m.id, thread_id=t.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message_id=m.id, thread_id=t.id)
    other = client.beta.threads.create()
    m3 = client.beta.threads.messages.create(thread_id=t.id, role="user", content="dos")
    with pytest.raises(openai.NotFoundError):  # a message is only found under its own thread
        client.beta.threads.messages.retrieve(message_id=m3.id, thread_id=other.id)


def test_image_parts_reach_the_model(client, script, server):
    from hilo.providers import scripted

    model, queue = script
    queue({"text": "veo un gráfico"})
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    f = client.files.create(file=("chart.png", png, "image/png"), purpose="vision")
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": [
        {"type": "text", "text": "¿qué ves?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/chart.png", "detail": "high"}},
        {"type": "image_file", "image_file": {"file_id": f.id}},
    ]}])
    stored = client.beta.threads.messages.list(thread_id=t.id).data[0]
    assert [p.type for p in stored.content] == ["text", "image_url", "image_file"]
    assert stored.content[2].image_file.file_id == f.id
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
    assert run.status == "completed"
    sent = scripted.requests[model.split("/", 1)[1]][0].messages[-1]["content"]
    assert sent[0] == {"type": "text", "text": "¿qué ves?"}
    assert sent[1]["image_url"]["url"] == "https://example.com/chart.png"
    assert sent[2]["image_url"]["url"].startswith("data:image/png;base64,")


def test_bad_message_input(client, server):
    t = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(thread_id=t.id, role="user", content=[
            {"type": "image_file", "image_file": {"file_id": "file_missing"}}])
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(thread_id=t.id, role="system", content="x")
    r = httpx.post(f"{server.url}/v1/threads/{t.id}/messages",
                   json={"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]})
    assert r.status_code == 400
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.create(thread_id="thread_nope", role="user", content="x")
    assert client.beta.threads.messages.list(thread_id=t.id).data == []  # nothing half-stored
