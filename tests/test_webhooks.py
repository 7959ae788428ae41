"""Signed event webhooks: Standard Webhooks signatures (checked with the reference library),
retries with backoff, giving up, surviving a restart, two replicas, the admin API."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from openai import OpenAI
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hilo.testing.server import start_server
from hilo.testing.webhook_receiver import WebhookReceiver
from tests.conftest import BACKENDS, make_settings
from tests.test_metrics import scrape, value

FAST = dict(packs="none", webhook_retry_base_s=0.05, webhook_poll_s=0.2, webhook_max_attempts=4)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def db_url(backend, database_factory):
    return database_factory(backend)


@pytest.fixture(scope="module")
def hilo(db_url, tmp_path_factory):
    live = start_server(make_settings(db_url, tmp_path_factory.mktemp("data"), **FAST))
    yield live
    live.stop()


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


def admin(server, method, path, **kw):
    return httpx.request(method, server.url + path, timeout=10, **kw)


def register(server, url, events=None, **extra):
    body = {"url": url, **({"events": events} if events is not None else {}), **extra}
    r = admin(server, "POST", "/admin/webhooks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def one_run(server, text="hola"):
    with OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        a = client.beta.assistants.create(model="scripted/webhooks")
        run = client.beta.threads.create_and_run_poll(
            assistant_id=a.id, thread={"messages": [{"role": "user", "content": text}]}, poll_interval_ms=20)
        assert run.status == "completed"
        return run


def deliveries(server, endpoint_id, **params):
    r = admin(server, "GET", f"/admin/webhooks/{endpoint_id}/deliveries", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def wait_deliveries(server, endpoint_id, predicate, timeout=15, **params):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = deliveries(server, endpoint_id, **params)
        if predicate(rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"deliveries never matched: {rows}")


def events_of(received, run_id):
    return [json.loads(body)["type"] for body, _ in received if json.loads(body)["data"].get("run_id", json.loads(body)["data"]["id"]) == run_id]


def test_signed_with_the_standard_webhooks_reference(hilo, receiver):
    ep = register(hilo, receiver.url, ["run.*", "message.completed"])
    assert ep["secret"].startswith("whsec_") and ep["events"] == ["run.*", "message.completed"]
    run = one_run(hilo, "¿cuánto cuesta el curso?")
    # deliveries leave in parallel batches: wait for every event the assertions below read
    wanted = {"run.created", "run.in_progress", "message.completed", "run.completed"}
    got = receiver.wait_for(lambda r: wanted <= set(events_of(r, run.id)))
    verifier = Webhook(ep["secret"])
    seen = {}
    for body, headers in got:
        payload = verifier.verify(body, headers)  # raises on a bad signature
        assert headers["webhook-id"].startswith("evt_") and headers["content-type"] == "application/json"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert payload["timestamp"].endswith("Z")
        if payload["data"].get("run_id", payload["data"]["id"]) == run.id:
            seen[payload["type"]] = payload["timestamp"]
    # deliveries run in parallel, so arrival order is not event order; the timestamps are
    assert seen["run.created"] <= seen["run.in_progress"] <= seen["message.completed"] <= seen["run.completed"]
    assert not any(s.startswith("run.step.") or s == "message.created" for s in seen)  # not subscribed
    completed = next(json.loads(b) for b, _ in got if json.loads(b)["type"] == "message.completed"
                     and json.loads(b)["data"]["run_id"] == run.id)
    assert completed["data"]["content"][0]["text"]["value"] == "echo: ¿cuánto cuesta el curso?"
    # a tampered body or another secret does not verify
    body, headers = got[0]
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body.replace(b"run", b"RUN", 1), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    rows = wait_deliveries(hilo, ep["id"], lambda rows: rows and all(d["status"] == "delivered" for d in rows))
    assert all(d["attempts"] == 1 and d["last_status_code"] == 200 and d["delivered_at"] for d in rows)
    admin(hilo, "DELETE", f"/admin/webhooks/{ep['id']}")


def test_retried_with_backoff_until_accepted(hilo, receiver):
    ep = register(hilo, receiver.url, ["run.completed"])
    receiver.fail(500, times=2)
    before = scrape(hilo.url)
    run = one_run(hilo)
    got = receiver.wait_for(lambda r: len(r) >= 1)
    assert json.loads(got[0][0])["data"]["id"] == run.id
    assert len(receiver.attempts) == 3
    ids = {h["webhook-id"] for _, h in receiver.attempts}
    assert len(ids) == 1  # the same message id on every attempt, as the spec asks
    rows = wait_deliveries(hilo, ep["id"], lambda rows: rows and rows[0]["status"] == "delivered")
    assert rows[0]["attempts"] == 3 and rows[0]["last_status_code"] == 200 and rows[0]["last_error"] is None
    after = scrape(hilo.url)  # GET /metrics: two attempts to retry, one delivered
    for outcome, added in (("retry", 2), ("delivered", 1), ("failed", 0)):
        assert value(after, "hilo_webhook_deliveries_total", outcome=outcome) == \
            value(before, "hilo_webhook_deliveries_total", outcome=outcome) + added, outcome
    admin(hilo, "DELETE", f"/admin/webhooks/{ep['id']}")


def test_gives_up_after_max_attempts_and_lists_the_outcome(hilo, receiver):
    receiver.always = 503
    ep = register(hilo, receiver.url, ["run.completed"])
    one_run(hilo)
    rows = wait_deliveries(hilo, ep["id"], lambda rows: rows and rows[0]["status"] == "failed")
    assert rows[0]["attempts"] == 4 == len(receiver.attempts)
    assert rows[0]["last_status_code"] == 503 and rows[0]["last_error"].startswith("HTTP 503")
    assert rows[0]["next_attempt_at"] is None and rows[0]["delivered_at"] is None
    assert deliveries(hilo, ep["id"], status="delivered") == []
    health = admin(hilo, "GET", "/webhooks/health").json()
    assert health["channels"]["webhooks"]["failed"] >= 1
    # an operator sends it again once the receiver is fixed
    receiver.always = None
    r = admin(hilo, "POST", f"/admin/webhooks/{ep['id']}/deliveries/{rows[0]['id']}/retry")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    rows = wait_deliveries(hilo, ep["id"], lambda rows: rows[0]["status"] == "delivered")
    assert rows[0]["attempts"] == 1
    admin(hilo, "DELETE", f"/admin/webhooks/{ep['id']}")


def test_pending_deliveries_survive_a_restart(backend, database_factory, tmp_path_factory, receiver):
    db_url = database_factory(backend)  # no other replica on it
    data = tmp_path_factory.mktemp("data")
    slow = dict(FAST, webhook_retry_base_s=3.0)
    first = start_server(make_settings(db_url, data, **slow))
    try:
        ep = register(first, receiver.url, ["run.completed"])
        receiver.always = 500
        run = one_run(first)
        wait_deliveries(first, ep["id"], lambda rows: rows and rows[0]["attempts"] == 1 and rows[0]["last_status_code"] == 500)
    finally:
        first.stop()  # before the retry is due
    assert len(receiver.attempts) == 1
    receiver.always = None
    second = start_server(make_settings(db_url, data, **slow), migrate=False)
    try:
        got = receiver.wait_for(lambda r: len(r) >= 1, timeout=20)
        assert json.loads(got[0][0])["data"]["id"] == run.id
        rows = wait_deliveries(second, ep["id"], lambda rows: rows[0]["status"] == "delivered")
        assert rows[0]["attempts"] == 2
        admin(second, "DELETE", f"/admin/webhooks/{ep['id']}")
    finally:
        second.stop()


def test_two_replicas_never_send_an_attempt_twice(backend, database_factory, tmp_path_factory, receiver):
    db_url = database_factory(backend)
    data = tmp_path_factory.mktemp("data")
    a = start_server(make_settings(db_url, data, **FAST))
    b = start_server(make_settings(db_url, data, **FAST), migrate=False)
    try:
        ep = register(a, receiver.url, ["*"])
        time.sleep(0.5)  # b's dispatcher sees the endpoint on its next poll
        runs = [one_run(server) for server in (a, b, a, b)]
        per_run = 10  # run created, queued, in_progress, completed; step x3; message x3
        rows = wait_deliveries(a, ep["id"], lambda rows: len(rows) == 4 * per_run
                               and all(d["status"] == "delivered" for d in rows), timeout=30, limit=100)
        assert all(d["attempts"] == 1 for d in rows)
        ids = [h["webhook-id"] for _, h in receiver.attempts]
        assert len(ids) == len(set(ids)) == 4 * per_run  # each attempt sent by one replica only
        completed = [json.loads(b)["data"]["id"] for b, _ in receiver.received if json.loads(b)["type"] == "run.completed"]
        assert sorted(completed) == sorted(r.id for r in runs)
        admin(a, "DELETE", f"/admin/webhooks/{ep['id']}")
    finally:
        b.stop()
        a.stop()


def test_admin_api_validation(hilo):
    bad = [{"url": "ftp://example.com/x"}, {"url": "http://127.0.0.1:1/x", "events": ["run.exploded"]},
           {"url": "http://127.0.0.1:1/x", "events": []}, {"url": "http://127.0.0.1:1/x", "secret": "nope"},
           {"url": "http://127.0.0.1:1/x", "colour": "blue"}]
    for body in bad:
        r = admin(hilo, "POST", "/admin/webhooks", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["message"]
    ep = register(hilo, "http://127.0.0.1:1/x", description="crm")
    assert ep["events"] == ["*"] and ep["enabled"] is True
    listed = admin(hilo, "GET", "/admin/webhooks").json()["data"]
    mine = next(e for e in listed if e["id"] == ep["id"])
    assert "secret" not in mine and mine["description"] == "crm"
    assert admin(hilo, "GET", f"/admin/webhooks/{ep['id']}").json()["secret"] == ep["secret"]
    assert admin(hilo, "DELETE", f"/admin/webhooks/{ep['id']}").json()["deleted"] is True
    for method, path in [("GET", f"/admin/webhooks/{ep['id']}"), ("DELETE", f"/admin/webhooks/{ep['id']}"),
                         ("GET", f"/admin/webhooks/{ep['id']}/deliveries")]:
        assert admin(hilo, method, path).status_code == 404


def test_admin_api_needs_an_admin(db_url, tmp_path_factory):
    live = start_server(make_settings(db_url, tmp_path_factory.mktemp("data"), auth="on", admin_token="adm-secret",
                                      **FAST), migrate=False)
    try:
        assert admin(live, "GET", "/admin/webhooks").status_code == 401
        assert admin(live, "GET", "/admin/webhooks", headers={"authorization": "Bearer wrong"}).status_code == 401
        r = admin(live, "GET", "/admin/webhooks", headers={"authorization": "Bearer adm-secret"})
        assert r.status_code == 200
    finally:
        live.stop()
