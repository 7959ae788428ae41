"""Scaled out: API replicas and run workers as real processes on PostgreSQL and Redis.

The topology of ``compose.yaml`` with plain processes: ``hilo serve --no-execute`` replicas
enqueue, ``hilo worker`` processes execute, the model is a real HTTP server speaking OpenAI's
protocol (:class:`~hilo.testing.fake_openai.FakeOpenAIServer`). Redis is a private server of
this module's, so that the Redis test can restart it without touching the machine's.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import httpx
import pytest
from openai import OpenAI

from hilo.migrations import upgrade
from hilo.testing.cluster import Cluster, PrivatePostgres, PrivateRedis, free_port, wait_for
from hilo.testing.fake_openai import FakeOpenAIServer
from hilo.testing.fake_otlp import FakeCollector
from hilo.testing.webhook_receiver import WebhookReceiver
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="scale-out runs on PostgreSQL: set HILO_TEST_DATABASE_URL")

LEASE_S = 3.0
END = ("completed", "failed", "cancelled", "expired", "incomplete", "requires_action")


@pytest.fixture(scope="module")
def redis():
    server = PrivateRedis().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def model():
    with FakeOpenAIServer(api_key="sk-fake") as server:
        yield server


@pytest.fixture
def cluster(database_factory, redis, model, tmp_path):
    url = database_factory("postgresql")
    upgrade(url)
    model.reset()
    env = {"HILO_LLM_PROVIDER": "openai", "HILO_LLM_BASE_URL": model.base_url, "HILO_LLM_API_KEY": "sk-fake",
           "HILO_LLM_MODEL": "fake-model", "HILO_LLM_MAX_RETRIES": "0", "HILO_PACKS": "none",
           "HILO_RUN_LEASE_S": str(LEASE_S), "HILO_RUN_TIMEOUT": "60", "HILO_WEBHOOK_POLL_S": "0.5",
           "HILO_WEBHOOK_RETRY_BASE_S": "0.5", "HILO_REDIS_PREFIX": f"t{time.monotonic_ns()}"}
    with Cluster(url, redis.url, env, data_dir=tmp_path / "data") as c:
        yield c


_clients: list[OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _clients:
        _clients.pop().close()


def sdk(replica) -> OpenAI:
    client = OpenAI(base_url=replica.url + "/v1", api_key="k", max_retries=0)
    _clients.append(client)
    return client


def assistant(client: OpenAI) -> str:
    return client.beta.assistants.create(model="fake-model", instructions="Responde breve.").id


def final(client: OpenAI, thread_id: str, run_id: str, timeout: float = 30):
    return wait_for(lambda: (r := client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)).status in END and r,
                    timeout, f"run {run_id} to end")


def streamed(client: OpenAI, assistant_id: str, text: str) -> tuple[list[str], str, str]:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    names, pieces = [], []
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id) as stream:
        for event in stream:
            names.append(event.event)
            if event.event == "thread.message.delta":
                pieces.extend(part.text.value for part in event.data.delta.content or [])
    return names, "".join(pieces), thread.id


def test_a_stream_on_a_replica_relays_the_run_a_worker_executes(cluster, model):
    replica = cluster.replica()  # --no-execute: it cannot run the turn itself
    port = free_port()
    cluster.worker(env={"HILO_METRICS_PORT": str(port)})
    client = sdk(replica)
    names, text, _ = streamed(client, assistant(client), "hola desde la réplica")
    assert text == "echo: hola desde la réplica"
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names[-1] == "thread.run.completed"
    assert names.count("thread.message.delta") == len("echo: hola desde la réplica".split(" "))
    assert names.index("thread.message.created") < names.index("thread.message.delta") < names.index("thread.message.completed")
    assert len(model.requests) == 1
    # The worker counted the run it executed, and reports the queue (it has no HTTP API but this).
    scraped = wait_for(lambda: (t := httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
                       and 'hilo_queue_depth{queue="runs"}' in t and t, 10, "the worker's metrics")
    assert re.search(r'hilo_runs_finished_total\{assistant="custom",status="completed"\} 1\.0', scraped), scraped[:2000]
    assert 'hilo_model_calls_total{provider="openai"} 1.0' in scraped


def test_two_replicas_two_workers_answer_every_turn_once(cluster, model):
    replicas = [cluster.replica(), cluster.replica()]
    cluster.worker(), cluster.worker()
    client0 = sdk(replicas[0])
    assistant_id = assistant(client0)
    results: dict[int, tuple] = {}

    def turn(i: int) -> None:
        results[i] = streamed(sdk(replicas[i % 2]), assistant_id, f"pregunta número {i}")

    threads = [threading.Thread(target=turn, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == list(range(16))
    for i, (names, text, thread_id) in results.items():
        run = client0.beta.threads.runs.list(thread_id).data[0]
        assert (run.status, text) == ("completed", f"echo: pregunta número {i}"), (run.last_error, names)
        # Either replica reads what the other's turn stored.
        messages = sdk(replicas[(i + 1) % 2]).beta.threads.messages.list(thread_id, order="asc").data
        assert [m.content[0].text.value for m in messages] == [f"pregunta número {i}", f"echo: pregunta número {i}"]
    assert len(model.requests) == 16  # each turn reached the model once


def _lease_owner_pid(database_url: str, run_id: str) -> int:
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(database_url)

    async def read():
        conn = await asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username, database=u.database)
        try:
            return await conn.fetchval("SELECT owner FROM run_leases WHERE run_id = $1", run_id)
        finally:
            await conn.close()

    owner = wait_for(lambda: asyncio.run(read()), 10, "the run's lease")
    return int(owner.split(":")[-2])


def test_a_worker_killed_mid_run_fails_its_run_within_the_lease_and_nothing_runs_twice(cluster, model):
    replica = cluster.replica()
    workers = {w.pid: w for w in (cluster.worker(), cluster.worker())}
    client = sdk(replica)
    with WebhookReceiver() as receiver, httpx.Client(base_url=replica.url, timeout=10) as http:
        endpoint = http.post("/admin/webhooks", json={"url": receiver.url, "events": ["run.failed"]}).json()
        assert "id" in endpoint, endpoint
        model.queue({"delay": 30, "text": "demasiado tarde"})  # the model hangs: the run is mid-way
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "¿sigues ahí?"}])
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant(client))
        wait_for(lambda: len(model.requests) == 1, 15, "the model call")
        victim = workers[_lease_owner_pid(cluster.database_url, run.id)]
        killed_at = time.monotonic()
        victim.kill()
        ended = final(client, thread.id, run.id, timeout=LEASE_S * 6)
        took = time.monotonic() - killed_at
        assert ended.status == "failed"
        assert ended.last_error.code == "server_error"
        assert "worker executing this run stopped" in ended.last_error.message
        assert took < LEASE_S * 3, f"ended {took:.1f} s after the kill (lease {LEASE_S} s)"
        time.sleep(LEASE_S)  # the surviving worker had time to (wrongly) take the run over
        assert len(model.requests) == 1, "the run was executed again"
        # The thread is free again: the next turn runs on the surviving worker.
        model.reset()
        client.beta.threads.messages.create(thread.id, role="user", content="otra vez")
        again = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=run.assistant_id)
        assert again.status == "completed"
        # The failure reached the webhook endpoint.
        delivered = wait_for(lambda: [json.loads(body) for body, _ in receiver.received], 15, "the run.failed webhook")
        assert [(d["type"], d["data"]["id"]) for d in delivered] == [("run.failed", run.id)]


def test_redis_restarted_loses_no_queued_run(cluster, model, redis):
    replica = cluster.replica()
    client = sdk(replica)
    assistant_id = assistant(client)
    # No worker yet: the runs wait in the queue, then Redis restarts empty (no persistence).
    threads = [client.beta.threads.create(messages=[{"role": "user", "content": f"mensaje {i}"}]) for i in range(3)]
    runs = [client.beta.threads.runs.create(thread_id=t.id, assistant_id=assistant_id) for t in threads]
    redis.restart()
    # And one more while the replica's connections to Redis are still the old ones.
    late_thread = client.beta.threads.create(messages=[{"role": "user", "content": "mensaje tardío"}])
    late = client.beta.threads.runs.create(thread_id=late_thread.id, assistant_id=assistant_id)
    cluster.worker()
    for t, r in [*zip(threads, runs, strict=True), (late_thread, late)]:
        ended = final(client, t.id, r.id, timeout=30)
        assert ended.status == "completed", ended.last_error
    texts = sorted(m["messages"][-1]["content"] for m in model.requests)
    assert texts == ["mensaje 0", "mensaje 1", "mensaje 2", "mensaje tardío"]  # each exactly once


def test_a_replica_restarted_during_a_stream_leaves_a_run_the_client_can_read(cluster, model):
    a, b = cluster.replica(), cluster.replica()
    cluster.worker()
    client = sdk(a)
    assistant_id = assistant(client)
    model.queue({"delay": 2, "text": "la respuesta llega igual"})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "pregunta"}])
    seen: list[str] = []
    run_id = None
    with pytest.raises(Exception):  # noqa: B017 - the connection drops: httpx or the SDK raises
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id) as stream:
            for event in stream:
                seen.append(event.event)
                if event.event == "thread.run.in_progress":
                    run_id = event.data.id
                    a.kill()
    assert run_id is not None and "thread.run.completed" not in seen
    other = sdk(b)
    ended = final(other, thread.id, run_id, timeout=30)
    assert ended.status == "completed"
    messages = other.beta.threads.messages.list(thread.id, order="asc").data
    assert messages[-1].content[0].text.value == "la respuesta llega igual"
    assert messages[-1].run_id == run_id


@pytest.fixture
def private_pg():
    try:
        server = PrivatePostgres().init().start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot run a private PostgreSQL here: {exc}")
    yield server
    server.close()


def test_postgresql_restarted_answers_503_meanwhile_and_recovers_by_itself(private_pg, redis, model, tmp_path):
    upgrade(private_pg.url)
    model.reset()
    env = {"HILO_LLM_PROVIDER": "openai", "HILO_LLM_BASE_URL": model.base_url, "HILO_LLM_API_KEY": "sk-fake",
           "HILO_LLM_MODEL": "fake-model", "HILO_PACKS": "none", "HILO_RUN_LEASE_S": str(LEASE_S),
           "HILO_REDIS_PREFIX": f"t{time.monotonic_ns()}"}
    with Cluster(private_pg.url, redis.url, env, data_dir=tmp_path / "data") as cluster:
        replica = cluster.replica()
        cluster.worker()
        client = sdk(replica)
        assistant_id = assistant(client)
        names, text, _ = streamed(client, assistant_id, "antes")
        assert text == "echo: antes"

        private_pg.stop()
        with httpx.Client(base_url=replica.url, timeout=10) as http:
            down = http.get("/v1/assistants")
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == "2"
            assert down.json()["error"]["code"] == "database_unavailable"
            assert "sk-fake" not in down.text and "postgres" not in down.text.lower()
            for _ in range(4):  # on the same kept-alive connection: each answers, none resets it
                assert http.post("/v1/threads", json={}).status_code == 503
                assert http.get(f"/v1/assistants/{assistant_id}").status_code == 503
        private_pg.start()

        # Every pooled connection died with the server: the first requests after it is back succeed.
        names, text, _ = wait_for(lambda: streamed(client, assistant_id, "después"), 20, "a turn after the restart")
        assert text == "echo: después" and names[-1] == "thread.run.completed"
        for _ in range(5):
            assert client.beta.assistants.retrieve(assistant_id).id == assistant_id


def test_readiness_reports_the_queue_and_its_workers(cluster):
    replica = cluster.replica()
    with httpx.Client(base_url=replica.url, timeout=10) as http:
        alone = http.get("/health/ready")
        assert alone.status_code == 503  # nothing would execute its runs
        assert alone.json()["checks"]["queue"] == {"ok": False, "queued_jobs": 0, "active_jobs": 0,
                                                   "oldest_queued_run_s": 0.0, "workers": 0,
                                                   "detail": "no worker consumes the queue"}
        cluster.worker()
        ready = wait_for(lambda: (r := http.get("/health/ready")).json()["checks"]["queue"]["ok"] and r, 20,
                         "the worker to be seen")
        assert ready.json()["checks"]["queue"]["workers"] == 1


def test_one_trace_follows_a_turn_from_the_replica_to_the_worker(cluster, model):
    with FakeCollector() as collector:
        otel = {"HILO_OTEL_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        replica = cluster.replica(env={**otel, "OTEL_SERVICE_NAME": "hilo-api"})
        cluster.worker(env={**otel, "OTEL_SERVICE_NAME": "hilo-worker"})
        client = sdk(replica)
        assistant_id = assistant(client)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "¿me sigues?"}])
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
        assert final(client, thread.id, run.id).status == "completed"

        def run_span():
            return next((s for s in collector.spans() if s["name"] == "run"
                         and s["attributes"].get("hilo.run_id") == run.id), None)

        span = wait_for(run_span, 15, "the worker's run span")
        assert span["service"] == "hilo-worker"
        def whole_trace():  # both processes export in batches: wait for the request span and the model call
            found = [s for s in collector.spans() if s["trace_id"] == span["trace_id"]]
            ids = {s["span_id"] for s in found}
            return found if span["parent_id"] in ids and any(s["name"] == "model call" for s in found) else None

        trace = wait_for(whole_trace, 15, "the whole trace")
        by_id = {s["span_id"]: s for s in trace}
        request = by_id[span["parent_id"]]  # the run span's parent: the request that created the run
        assert request["service"] == "hilo-api" and request["parent_id"] is None
        assert request["name"].startswith("POST")
        model_call = next(s for s in trace if s["name"] == "model call")
        assert model_call["service"] == "hilo-worker" and by_id[model_call["parent_id"]]["name"] == "run"
        services_with_db = {s["service"] for s in trace if s["name"].startswith("db ")}
        assert services_with_db == {"hilo-api", "hilo-worker"}  # the request's SQL and the run's
