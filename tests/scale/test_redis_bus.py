"""The Redis event bus between processes: two buses on one Redis stand for two processes."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from hilo.kit.redis_bus import RedisBus

REDIS_URL = os.environ.get("HILO_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs Redis: set HILO_TEST_REDIS_URL")


@pytest.fixture
async def buses():
    prefix = f"bus-test-{uuid.uuid4().hex[:8]}"
    a, b = RedisBus(REDIS_URL, prefix), RedisBus(REDIS_URL, prefix)
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def _take(queue, n, timeout=5.0):
    return [await asyncio.wait_for(queue.get(), timeout) for _ in range(n)]


async def test_events_published_in_one_process_arrive_in_order_in_another(buses):
    worker, api = buses
    queue = await api.subscribe("run_1", fresh=True)
    for i in range(300):
        worker.publish("run_1", "thread.message.delta", {"i": i, "text": f"pieza {i} ñ"})
    worker.publish("run_1", "thread.run.completed", {"id": "run_1"})
    got = await _take(queue, 301)
    assert [p["i"] for _, p in got[:300]] == list(range(300))
    assert got[0][1]["text"] == "pieza 0 ñ"
    assert got[-1] == ("thread.run.completed", {"id": "run_1"})
    api.unsubscribe("run_1", queue)


async def test_a_fresh_subscriber_gets_what_was_published_before_it_subscribed(buses):
    worker, api = buses
    worker.publish("run_2", "thread.run.created", {"id": "run_2"})
    await worker.flush()
    queue = await api.subscribe("run_2", fresh=True)
    assert await _take(queue, 1) == [("thread.run.created", {"id": "run_2"})]


async def test_a_later_subscriber_gets_only_what_comes_after(buses):
    worker, api = buses
    worker.publish("run_3", "thread.run.requires_action", {"n": 1})
    await worker.flush()
    queue = await api.subscribe("run_3")  # e.g. tool outputs submitted: the next segment only
    worker.publish("run_3", "thread.run.queued", {"n": 2})
    assert await _take(queue, 1) == [("thread.run.queued", {"n": 2})]
    with pytest.raises(TimeoutError):
        await _take(queue, 1, timeout=0.3)


async def test_listeners_hear_only_their_own_process_and_every_subscriber_gets_each_event(buses):
    worker, api = buses
    heard_worker, heard_api = [], []
    worker.add_listener(lambda run_id, event, payload: heard_worker.append(event))
    api.add_listener(lambda run_id, event, payload: heard_api.append(event))
    first, second = await api.subscribe("run_4", fresh=True), await worker.subscribe("run_4", fresh=True)
    worker.publish("run_4", "thread.run.in_progress", {})
    assert await _take(first, 1) == await _take(second, 1) == [("thread.run.in_progress", {})]
    assert heard_worker == ["thread.run.in_progress"] and heard_api == []  # each event once, where published


async def test_flush_returns_after_the_events_are_in_redis(buses):
    worker, _ = buses
    for i in range(50):
        worker.publish("run_5", "e", {"i": i})
    await worker.flush()
    assert await worker.redis.xlen(worker.key("run_5")) == 50
    assert 0 < await worker.redis.ttl(worker.key("run_5")) <= 3600
