"""Channel conversations: identities -> users -> one active thread per assistant, and converse()
(hilo.identity.users, hilo.threads.active, hilo.channels.conversation)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from hilo.app import create_app
from hilo.assistants.models import Assistant
from hilo.channels.conversation import converse
from hilo.files.models import File
from hilo.identity import user_principal
from hilo.identity.models import User
from hilo.identity.users import user_entitlements, user_for_identity
from hilo.kit.errors import HiloError
from hilo.kit.ids import new_id, now
from hilo.migrations import upgrade
from hilo.runs.models import Run
from hilo.threads.active import active_thread, history, reset
from hilo.threads.models import Message, Thread
from tests.conftest import BACKENDS, make_settings

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture(params=BACKENDS)
async def state(request, database_factory, tmp_path):
    url = await asyncio.to_thread(database_factory, request.param)  # it runs its own loop
    await asyncio.to_thread(upgrade, url)
    app = create_app(make_settings(url, tmp_path, history_limit=4), packs=[])
    async with app.router.lifespan_context(app):
        yield app.state


async def talk(state, user: str, assistant: str, content, entitlements=None, **options):
    """One channel turn for ``user`` (with the user record's entitlements unless given)."""
    if entitlements is None:
        entitlements = await user_entitlements(state.db, user)
    return await converse(state.runs, user_principal(user, entitlements), assistant, content, **options)


async def add_assistant(state, model: str, **fields) -> str:
    async with state.db.sessionmaker() as session:
        a = Assistant(id=new_id("asst"), created_at=now(), model=model, instructions="Eres útil.",
                      tools=fields.pop("tools", []), metadata_=fields.pop("metadata", {}), **fields)
        session.add(a)
        await session.commit()
        return a.id


async def test_identity_maps_to_one_user(state):
    a = await user_for_identity(state.db, "whatsapp", "+573001112233", name="Ana")
    b = await user_for_identity(state.db, "whatsapp", "+573001112233")
    c = await user_for_identity(state.db, "websocket", "+573001112233")
    assert a == b != c and a.startswith("user_")
    assert await user_for_identity(state.db, "jwt", "nobody", create=False) is None
    # many first messages at once still make one user
    ids = await asyncio.gather(*[user_for_identity(state.db, "api", "race") for _ in range(8)])
    assert len(set(ids)) == 1


async def test_active_thread_found_created_and_reset(state):
    user = await user_for_identity(state.db, "api", "u1")
    asst = await add_assistant(state, "scripted/none")
    other = await add_assistant(state, "scripted/none")
    assert await active_thread(state.db, user, asst, create=False) is None
    threads = await asyncio.gather(*[active_thread(state.db, user, asst) for _ in range(6)])
    assert len(set(threads)) == 1
    first = threads[0]
    assert await active_thread(state.db, user, other) != first  # one per assistant
    async with state.db.sessionmaker() as session:
        assert (await session.get(Thread, first)).user_id == user
    new = await reset(state.db, user, asst)
    assert new != first and await active_thread(state.db, user, asst) == new
    async with state.db.sessionmaker() as session:
        assert await session.get(Thread, first) is not None  # the old thread stays stored


async def test_converse_streams_and_history_is_capped(state, script):
    model, queue = script
    queue({"text": "Hola, soy tu mentor.", "chunks": 4})
    user = await user_for_identity(state.db, "api", "u2")
    asst = await add_assistant(state, model)
    deltas: list[str] = []
    reply = await talk(state, user, asst, "hola", on_delta=deltas.append)
    assert reply.ok and reply.text == "Hola, soy tu mentor." and reply.status == "completed"
    assert "".join(deltas) == reply.text and len(deltas) > 1
    assert reply.thread_id == await active_thread(state.db, user, asst)

    async def collect(text):  # async callbacks work too
        deltas.append(text)

    for i in range(3):  # no turns left: the script echoes
        r = await talk(state, user, asst, f"mensaje {i}", on_delta=collect)
        assert r.text == f"echo: mensaje {i}" and r.thread_id == reply.thread_id
    items = await history(state.db, user, asst, state.settings.history_limit)
    assert [i["content"] for i in items] == ["mensaje 1", "echo: mensaje 1", "mensaje 2", "echo: mensaje 2"]
    assert [i["role"] for i in items] == ["user", "assistant"] * 2
    async with state.db.sessionmaker() as session:  # the cap never truncates the stored thread
        stored = await session.scalar(select(func.count()).select_from(Message)
                                      .where(Message.thread_id == reply.thread_id))
    assert stored == 8
    await reset(state.db, user, asst)
    assert await history(state.db, user, asst, 50) == []


async def test_converse_content_parts_and_file_ownership(state, script):
    model, queue = script
    user = await user_for_identity(state.db, "api", "u3")
    stranger = await user_for_identity(state.db, "api", "u4")
    asst = await add_assistant(state, model)
    async with state.db.sessionmaker() as session:
        session.add(File(id="file_theirs", created_at=now(), bytes=1, filename="x.png", purpose="vision",
                           storage_path="file_theirs", user_id=stranger))
        await session.commit()
    parts = [{"type": "text", "text": "mira"}, {"type": "image_url", "image_url": {"url": "https://x.test/c.png"}}]
    r = await talk(state, user, asst, parts)
    assert r.ok and r.text == "echo: mira"
    with pytest.raises(HiloError) as err:
        await talk(state, user, asst, [{"type": "image_file", "image_file": {"file_id": "file_theirs"}}])
    assert err.value.status == 400 and "file_theirs" in err.value.message  # like /v1: an invalid file id
    with pytest.raises(HiloError) as err:
        await talk(state, user, asst, "   ")
    assert err.value.status == 400
    with pytest.raises(HiloError) as err:
        await talk(state, user, "asst_missing", "hola")
    assert err.value.status == 404


async def test_converse_entitlements(state, script):
    model, _ = script
    user = await user_for_identity(state.db, "api", "u5")
    asst = await add_assistant(state, model, metadata={"hilo_requires": "premium"})
    with pytest.raises(HiloError) as err:
        await talk(state, user, asst, "hola")
    assert err.value.status == 403 and "premium" in err.value.message
    r = await talk(state, user, asst, "hola", entitlements={"premium"})
    assert r.ok
    async with state.db.sessionmaker() as session:
        (await session.get(User, user)).entitlements = ["premium"]
        await session.commit()
    assert (await talk(state, user, asst, "otra")).ok


async def test_fast_typing_waits_for_the_previous_run(state, script):
    model, queue = script
    queue({"delay": 0.4, "text": "primera"}, {"text": "segunda"})
    user = await user_for_identity(state.db, "api", "u6")
    asst = await add_assistant(state, model)
    first = asyncio.create_task(talk(state, user, asst, "uno"))
    await asyncio.sleep(0.1)
    second = await talk(state, user, asst, "dos")
    assert (await first).text == "primera" and second.text == "segunda"
    items = await history(state.db, user, asst, 10)
    assert [i["content"] for i in items] == ["uno", "primera", "dos", "segunda"]


async def test_requires_action_failure_and_timeout(state, script):
    model, queue = script
    queue({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lima"}}]},
          {"error": "boom", "code": "server_error"},
          {"delay": 5, "text": "tarde"})
    user = await user_for_identity(state.db, "api", "u7")
    asst = await add_assistant(state, model, tools=[WEATHER])
    r = await talk(state, user, asst, "clima")
    assert r.status == "requires_action" and "client-side tool" in r.error and not r.ok
    async with state.db.sessionmaker() as session:
        run = await session.get(Run, r.run_id)
        assert run.status in ("cancelled", "cancelling")
    r = await talk(state, user, asst, "otra vez")
    assert r.status == "failed" and "boom" in r.error
    r = await talk(state, user, asst, "lento", timeout=0.5)
    assert r.status == "expired" and r.error
    # the thread is free again for the next message
    r = await talk(state, user, asst, "ya")
    assert r.ok and r.text == "echo: ya"
