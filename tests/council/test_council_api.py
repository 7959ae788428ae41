"""The council end to end through hilo as shipped: market data from a fake Binance over HTTP,
decisions with no model (rules), escalation to the user and approval through the API, the
WebSocket and a signed webhook, paper fills, the audit chain, replay, and bad input."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from hilo.packs.council.bars import load_dataset
from hilo.testing.fake_markets import FakeBinance
from hilo.testing.server import start_server
from hilo.testing.webhook_receiver import WebhookReceiver
from hilo.webhooks import signing
from tests.conftest import BACKENDS, make_settings

ROLES = {"market_monitor", "technical_analyst", "fundamental_analyst", "risk_manager", "strategist",
         "executor", "auditor"}
# only the strategist counts, and a rule that always holds makes it say BUY: a decision to act
STRATEGIST_ONLY = {r: 0.0 for r in ROLES} | {"strategist": 1.0}
ALWAYS_BUY = [{"indicator": "price", "op": ">", "value": 0, "action": "BUY", "note": "comprar siempre (prueba)"}]


APPROVAL_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes, base64


def signed_post(http, event: dict, *, secret: str = APPROVAL_SECRET, at: int | None = None, msg_id: str = "msg_1"):
    body = json.dumps(event).encode()
    return http.post("/council/webhooks/approval", content=body, headers=signing.headers(secret, msg_id, body, at))


@pytest.fixture(scope="module")
def binance():
    with FakeBinance() as fake:
        fake.set_bars("BTC/USDT", "1d", load_dataset("btc-usd-1d"))
        fake.set_order_book("BTC/USDT", bids=[[61000.0, 0.5], [60990.0, 2.0]], asks=[[61010.0, 0.05], [61020.0, 5.0]])
        yield fake


@pytest.fixture(scope="module", params=BACKENDS)
def council(request, binance, database_factory, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HILO_COUNCIL_EXCHANGE_URL", binance.url)
    mp.setenv("HILO_COUNCIL_SCHEDULES", "false")
    mp.setenv("HILO_COUNCIL_TIMEFRAME", "1d")
    mp.setenv("HILO_COUNCIL_APPROVAL_SECRET", APPROVAL_SECRET)
    settings = make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"), packs="council",
                             llm_provider="guided", webhook_poll_s=0.2, webhook_retry_base_s=0.05)
    live = start_server(settings)
    yield live
    live.stop()
    mp.undo()


@pytest.fixture
def http(council):
    with httpx.Client(base_url=council.url, timeout=60) as client:
        client.put("/council/config", json={"assistant_weights": {}, "custom_rules": [],
                                            "auto_execute": True, "threshold": 0.5})
        assert client.post("/council/portfolio/reset").json()["available_balance"] == 10_000
        yield client


def configure(http, **values):
    r = http.put("/council/config", json=values)
    assert r.status_code == 200, r.text
    return r.json()


def decide(http, **body):
    r = http.post("/council/trading/decide", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_decision_with_no_model_has_every_vote_and_its_reasons(http, binance):
    d = decide(http, symbol="BTC/USDT", timeframe="1d")
    assert set(d["votes"]) == ROLES
    assert d["action"] in ("BUY", "SELL", "HOLD") and 0 <= d["confidence"] <= 1
    assert d["status"] in ("executed", "held", "pending_approval")
    assert d["model_calls"] == 0  # no model configured: the rule analysts answered
    first = d["rounds"][0]
    assert {a["assistant_id"] for a in first} == ROLES
    assert all({"assistant_id", "confidence", "reasoning", "recommendation", "supporting_data"} <= set(a) for a in first)
    assert d["reasoning"] and "%" in d["reasoning"]
    again = http.get(f"/council/trading/decisions/{d['id']}").json()
    assert again["votes"] == d["votes"] and again["inputs_hash"] == d["inputs_hash"]
    replay = http.post(f"/council/trading/decisions/{d['id']}/replay").json()
    assert replay["same"] is True and replay["same_inputs"] is True
    assert not binance.orders  # paper: nothing ever reaches the exchange


def test_escalated_decision_waits_for_the_user_then_fills_on_paper(http, binance):
    configure(http, assistant_weights=STRATEGIST_ONLY, custom_rules=ALWAYS_BUY, auto_execute=False)
    before = http.get("/council/portfolio").json()
    d = decide(http, symbol="BTC/USDT")
    assert (d["action"], d["status"]) == ("BUY", "pending_approval")
    pending = http.get("/council/trading/decisions", params={"status": "pending_approval"}).json()["data"]
    assert d["id"] in [p["id"] for p in pending]
    assert http.get("/council/portfolio").json()["available_balance"] == before["available_balance"]
    done = http.post(f"/council/trading/decisions/{d['id']}/approve", json={"note": "adelante"}).json()
    assert done["status"] == "executed", done
    order = done["orders"][0]
    assert order["mode"] == "paper" and order["side"] == "BUY" and order["filled_quantity"] > 0
    assert order["fee"] > 0
    # the book's first ask had only 0.05 BTC: the fill walked to the second level, with slippage
    assert order["price"] > 61010.0
    after = http.get("/council/portfolio").json()
    assert after["available_balance"] < before["available_balance"]
    assert any(p["symbol"] == "BTC/USDT" and p["quantity"] > 0 for p in after["positions"])
    # the position, at its fill price, stays within max_position_pct (25 % by default) of the equity
    position = next(p for p in after["positions"] if p["symbol"] == "BTC/USDT")
    held = sum(p["quantity"] for p in before["positions"] if p["symbol"] == "BTC/USDT")
    equity_at_fill = before["available_balance"] + held * order["price"]
    assert position["quantity"] * order["price"] <= 0.25 * equity_at_fill * 1.001
    again = http.post(f"/council/trading/decisions/{d['id']}/approve")
    assert again.status_code == 400 and "executed" in again.json()["error"]["message"]
    assert not binance.orders


def test_a_rejected_decision_never_trades(http):
    configure(http, assistant_weights=STRATEGIST_ONLY, custom_rules=ALWAYS_BUY, auto_execute=False)
    orders_before = len(http.get("/council/trading/orders").json()["data"])
    d = decide(http)
    r = http.post(f"/council/trading/decisions/{d['id']}/reject", json={"note": "no me convence"}).json()
    assert r["status"] == "rejected" and r["resolution"] == "no me convence"
    assert len(http.get("/council/trading/orders").json()["data"]) == orders_before


def test_a_signed_approval_webhook_resolves_a_pending_decision_once(http):
    configure(http, assistant_weights=STRATEGIST_ONLY, custom_rules=ALWAYS_BUY, auto_execute=False)
    d = decide(http, symbol="BTC/USDT")
    approve = {"type": "council.decision.approve", "data": {"decision_id": d["id"], "note": "ok desde el bot"}}
    forged = signed_post(http, approve, secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_signature"
    stale = signed_post(http, approve, at=int(time.time()) - 3600)
    assert stale.status_code == 401 and "timestamp" in stale.json()["error"]["message"]
    unsigned = http.post("/council/webhooks/approval", json=approve)
    assert unsigned.status_code == 401
    malformed = signed_post(http, {"type": "council.decision.maybe", "data": {"decision_id": d["id"]}})
    assert malformed.status_code == 400
    unknown = signed_post(http, {"type": "council.decision.approve", "data": {"decision_id": "dec_nope"}})
    assert unknown.status_code == 404
    assert http.get(f"/council/trading/decisions/{d['id']}").json()["status"] == "pending_approval"

    done = signed_post(http, approve)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved" and done.json()["decision"]["status"] == "executed"
    assert done.json()["decision"]["orders"][0]["mode"] == "paper"
    retried = signed_post(http, approve)  # the sender retried: nothing happens twice
    assert retried.status_code == 200 and retried.json()["status"] == "already_resolved"
    assert len([o for o in http.get("/council/trading/orders").json()["data"] if o["decision_id"] == d["id"]]) == 1
    late_reject = signed_post(http, {"type": "council.decision.reject", "data": {"decision_id": d["id"]}})
    assert late_reject.status_code == 409

    r = decide(http, symbol="BTC/USDT")
    rejected = signed_post(http, {"type": "council.decision.reject", "data": {"decision_id": r["id"]}}, msg_id="msg_2")
    assert rejected.json()["decision"]["status"] == "rejected"
    assert "webhook msg_2" in rejected.json()["decision"]["resolution"]


def test_escalation_reaches_the_websocket_and_a_signed_webhook(council, http):
    from websockets.sync.client import connect

    with WebhookReceiver() as receiver:
        r = http.post("/admin/webhooks", json={"url": receiver.url, "events": ["council.*"]})
        assert r.status_code == 201, r.text
        endpoint = r.json()
        try:
            configure(http, assistant_weights=STRATEGIST_ONLY, custom_rules=ALWAYS_BUY, auto_execute=False)
            with connect(council.url.replace("http", "ws") + "/council/ws", open_timeout=10) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "connection"
                d = decide(http)
                seen = []
                while "council.decision.pending" not in seen:
                    seen.append(json.loads(ws.recv(timeout=10))["type"])
                ws.send(json.dumps({"type": "approve", "decision_id": d["id"]}))
                kinds = []
                while "approved" not in kinds:
                    frame = json.loads(ws.recv(timeout=10))
                    kinds.append(frame["type"])
                assert frame["data"]["status"] == "executed"
            got = receiver.wait_for(lambda rs: any(b'"council.decision.pending"' in b for b, _ in rs))
            body, headers = next((b, h) for b, h in got if b'"council.decision.pending"' in b)
            payload = Webhook(endpoint["secret"]).verify(body, headers)
            assert payload["type"] == "council.decision.pending" and payload["data"]["id"] == d["id"]
        finally:
            http.delete(f"/admin/webhooks/{endpoint['id']}")


def test_bad_config_is_refused_and_changes_nothing(http):
    before = http.get("/council/config").json()
    for body, word in [({"assistant_weights": {"oracle": 1}}, "oracle"),
                       ({"assistant_weights": {"strategist": -1}}, "strategist"),
                       ({"assistant_weights": {r: 0 for r in ROLES}}, "weight"),
                       ({"risk_limits": {"max_drawdown_pct": 3}}, "max_drawdown_pct"),
                       ({"risk_limits": {"leverage": 0.5}}, "leverage"),
                       ({"threshold": 0}, "threshold"),
                       ({"custom_rules": [{"indicator": "rsi_14", "op": "=>", "value": 3, "action": "BUY"}]}, "op"),
                       ({"custom_rules": [{"indicator": "astrology", "op": "<", "value": 3, "action": "BUY"}]},
                        "astrology"),
                       ({"symbols": ["BTCUSDT"]}, "BTC/USDT"),
                       ({"timeframe": "7m"}, "timeframe"),
                       ({"live_trading": True}, "HILO_COUNCIL_LIVE_TRADING"),
                       ({"threshold": 0.6, "assistant_weights": {"nobody": 1}}, "nobody")]:
        r = http.put("/council/config", json=body)
        assert r.status_code in (400, 422), (body, r.text)
        assert word in r.text, (body, r.text)
    assert http.get("/council/config").json() == before


def test_market_data_errors_are_clear(http, binance):
    r = http.post("/council/trading/decide", json={"symbol": "NOPE/USDT"})
    assert r.status_code in (404, 503) and "NOPE/USDT" in r.text
    r = http.post("/council/trading/decide", json={"symbol": "not a symbol"})
    assert r.status_code == 400
    # the exchange down: the stored bars still serve a decision
    decide(http, symbol="BTC/USDT")
    binance.fail(503, times=50)
    try:
        d = decide(http, symbol="BTC/USDT")
        assert set(d["votes"]) == ROLES
        r = http.post("/council/trading/decide", json={"symbol": "ETH/USDT"})  # nothing stored for it
        assert r.status_code == 503 and r.headers.get("retry-after")
        assert "fake-binance" not in r.text
    finally:
        with binance._lock:
            binance._failures.clear()


def test_assistants_audit_and_reports(http):
    members = http.get("/council/assistants").json()["data"]
    assert {m["role"] for m in members} == ROLES
    assert all(m["assistant_id"].startswith("asst_") and m["mode"] == "rules" for m in members)
    decide(http)
    audit = http.get("/council/reports/audit").json()
    assert audit["ok"] is True and audit["entries"] >= 1
    summary = http.get("/council/reports/summary").json()
    assert summary["decisions"]["decisions"] >= 1 and summary["decisions"]["model_calls_median"] == 0


def test_decisions_are_listed_newest_first_with_paging(http):
    for _ in range(3):
        decide(http)
        time.sleep(0.01)
    page = http.get("/council/trading/decisions", params={"limit": 2}).json()
    assert len(page["data"]) == 2 and page["has_more"] is True
    assert page["data"][0]["created_at"] >= page["data"][1]["created_at"]
    r = http.get("/council/trading/decisions", params={"limit": 1000})
    assert r.status_code in (400, 422)
    assert http.get("/council/trading/decisions/dec_nope").status_code == 404


# --- the model path: the roles' assistants on a model served over real HTTP -----------------

@pytest.fixture(scope="module")
def model_council(binance, database_factory, tmp_path_factory):
    from hilo.testing.fake_openai import FakeOpenAIServer

    mp = pytest.MonkeyPatch()
    mp.setenv("HILO_COUNCIL_EXCHANGE_URL", binance.url)
    mp.setenv("HILO_COUNCIL_SCHEDULES", "false")
    mp.setenv("HILO_COUNCIL_TIMEFRAME", "1d")
    with FakeOpenAIServer() as model:
        settings = make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"), packs="council",
                                 llm_provider="openai", llm_base_url=model.base_url, llm_api_key="sk-test")
        live = start_server(settings)
        yield live, model
        live.stop()
    mp.undo()


def answer(recommendation, confidence, why="Señales claras."):
    return {"text": json.dumps({"recommendation": recommendation, "confidence": confidence, "reasoning": why,
                                "supporting_data": {"k": 1}})}


def test_model_council_is_cheap_and_replays_from_stored_answers(model_council):
    live, model = model_council
    with httpx.Client(base_url=live.url, timeout=60) as http:
        members = {m["role"]: m["mode"] for m in http.get("/council/assistants").json()["data"]}
        assert {r for r, mode in members.items() if mode == "model"} == {
            "technical_analyst", "fundamental_analyst", "strategist"}
        model.reset()
        model.queue(*[answer("HOLD", 0.9, "Sin ventaja: esperar.")] * 3)
        d = decide(http, symbol="BTC/USDT", timeframe="1d")
        assert d["model_calls"] == len(model.requests) <= 4
        by_role = {a["assistant_id"]: a for a in d["rounds"][0]}
        for role in ("technical_analyst", "fundamental_analyst", "strategist"):
            assert by_role[role]["supporting_data"]["source"] == "model"
            assert by_role[role]["reasoning"] == "Sin ventaja: esperar."
        # every request carried the role's own instructions and the rule analysis to start from
        systems = [next(m["content"] for m in r["messages"] if m["role"] == "system") for r in model.requests]
        assert any("analista técnico" in s for s in systems) and any("estratega" in s for s in systems)
        assert all("Análisis por reglas" in r["messages"][-1]["content"] for r in model.requests)
        calls = len(model.requests)
        replay = http.post(f"/council/trading/decisions/{d['id']}/replay").json()
        assert replay["same"] is True and replay["model_calls"] == 0
        assert len(model.requests) == calls  # the stored answers replayed it: no new call


def test_a_model_that_answers_nonsense_or_fails_leaves_the_rules_in_charge(model_council):
    live, model = model_council
    with httpx.Client(base_url=live.url, timeout=60) as http:
        # other limits: other inputs, so the answers stored for the last test do not apply
        configure(http, risk_limits={"max_position_pct": 0.2})
        model.reset()
        model.queue({"text": "no sé, quizás"}, {"status": 500}, {"text": '{"recommendation": "MOON", "confidence": 2}'},
                    *[{"status": 500}] * 6)
        d = decide(http, symbol="BTC/USDT", timeframe="1d")
        assert set(d["votes"]) == ROLES
        sources = {a["assistant_id"]: a["supporting_data"].get("source") for a in d["rounds"][0]}
        assert {sources[r] for r in ("technical_analyst", "fundamental_analyst", "strategist")} == {"rules_fallback"}


def test_scheduled_jobs_run_are_recorded_and_retried(http, binance):
    configure(http, symbols=["BTC/USDT"], timeframe="1d")
    monitor = http.post("/council/reports/jobs/monitor/run").json()
    assert monitor["status"] == "succeeded" and monitor["detail"]["errors"] == []
    learning = http.post("/council/reports/jobs/learning/run").json()
    assert learning["status"] == "succeeded", learning
    model = learning["detail"]["models"][0]
    assert model["symbol"] == "BTC/USDT" and (model["trained"] is True or model["reason"])
    assert "BTC/USDT 1d" in learning["detail"]["outcomes"]
    if model["trained"]:  # the new version and its calibration are reported
        versions = http.get("/council/reports/models", params={"symbol": "BTC/USDT"}).json()["data"]
        assert versions[0]["version"] == model["version"]
        calibration = versions[0]["calibration"]
        assert 0 <= calibration["brier"] <= 1 and sum(b["count"] for b in calibration["bins"]) == calibration["samples"]
    binance.fail(503, times=1000)  # the exchange down: the monitor fails, is retried, and says why
    try:
        failed = http.post("/council/reports/jobs/monitor/run").json()
    finally:
        with binance._lock:
            binance._failures.clear()
    assert failed["status"] == "failed" and failed["attempt"] == 3 and "Binance" in failed["error"]
    runs = http.get("/council/reports/jobs").json()
    assert [r["job"] for r in runs["data"][:3]] == ["monitor"] * 3
    assert set(runs["next"]) == set()  # HILO_COUNCIL_SCHEDULES=false: nothing scheduled in this server
    assert http.post("/council/reports/jobs/astrology/run").status_code == 400
