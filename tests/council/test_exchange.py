"""The council's market data through ccxt against FakeBinance over real HTTP on loopback, and
the fake's signed order endpoints (the proof that no order reaches an exchange unseen)."""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import time
from urllib.parse import urlencode

import httpx
import pytest

from hilo.kit.ccxt_client import new_exchange
from hilo.packs.council.core import CouncilInputError
from hilo.packs.council.exchange import (
    CcxtExchange,
    MarketDataUnavailable,
    UnknownSymbol,
    closed_bars,
)
from hilo.testing.fake_markets import FakeBinance
from tests.council.market_support import HOUR_MS, epoch_ms, same_bars, walk


@pytest.fixture
def binance():
    with FakeBinance() as server:
        yield server


def exchange_for(binance, **kw) -> CcxtExchange:
    return CcxtExchange("binance", api_url=binance.url, timeout=kw.pop("timeout", 5.0), **kw)


def kline_limits(binance) -> list[int]:
    return [int(q["limit"]) for _, p, q in binance.requests if p == "/api/v3/klines"]


async def test_recent_bars_and_bars_since(binance):
    frame = walk(300)
    binance.set_bars("BTC/USDT", "1h", frame)
    ex = exchange_for(binance)
    bars = await ex.fetch_bars("BTC/USDT", "1h", limit=100)
    same_bars(bars, frame.iloc[-100:])
    assert bars.index.name == "timestamp" and str(bars.index.tz) == "UTC"
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    since = await ex.fetch_bars("BTC/USDT", "1h", since_ms=epoch_ms(frame.index[10]), limit=5)
    same_bars(since, frame.iloc[10:15])
    assert kline_limits(binance) == [100, 5] and binance.count("/api/v3/exchangeInfo") == 1


async def test_more_than_1000_bars_are_fetched_page_by_page(binance):
    frame = walk(2_500)
    binance.set_bars("BTC/USDT", "1h", frame)
    ex = exchange_for(binance)
    forward = await ex.fetch_bars("BTC/USDT", "1h", since_ms=epoch_ms(frame.index[0]), limit=2_500)
    same_bars(forward, frame)
    assert kline_limits(binance) == [1000, 1000, 500]
    backward = await ex.fetch_bars("BTC/USDT", "1h", limit=2_300)  # the most recent 2,300
    same_bars(backward, frame.iloc[-2_300:])
    assert kline_limits(binance)[3:] == [1000, 1000, 300]
    # asking for more than the exchange has stops at its first bar, with no empty loop
    everything = await ex.fetch_bars("BTC/USDT", "1h", limit=4_000)
    same_bars(everything, frame)
    assert len(kline_limits(binance)) <= 6 + 3


async def test_no_bars_after_the_last_one_is_an_empty_frame(binance):
    frame = walk(50)
    binance.set_bars("BTC/USDT", "1h", frame)
    bars = await exchange_for(binance).fetch_bars("BTC/USDT", "1h", since_ms=epoch_ms(frame.index[-1]) + 1)
    assert bars.empty and list(bars.columns) == ["open", "high", "low", "close", "volume"]


async def test_bad_timeframe_and_limit_are_input_errors(binance):
    ex = exchange_for(binance)
    with pytest.raises(CouncilInputError, match="timeframe '7m'"):
        await ex.fetch_bars("BTC/USDT", "7m")
    with pytest.raises(CouncilInputError, match="limit"):
        await ex.fetch_bars("BTC/USDT", "1h", limit=0)
    assert binance.count() == 0


async def test_ticker(binance):
    binance.set_price("ETH/USDT", 3500.0, change_pct=-2.5)
    t = await exchange_for(binance).fetch_ticker("ETH/USDT")
    assert t["symbol"] == "ETH/USDT" and t["last"] == 3500.0
    assert t["bid"] < t["last"] < t["ask"]
    assert t["change_pct"] == pytest.approx(-2.5) and t["volume"] == pytest.approx(1234.5)


async def test_order_book_set_and_generated(binance):
    ex = exchange_for(binance)
    binance.set_order_book("BTC/USDT", bids=[[99.5, 1.0], [99.0, 2.0]], asks=[[100.5, 0.5], [101.0, 3.0]])
    book = await ex.fetch_order_book("BTC/USDT", depth=2)
    assert book["bids"] == [[99.5, 1.0], [99.0, 2.0]] and book["asks"] == [[100.5, 0.5], [101.0, 3.0]]
    assert abs(book["timestamp"] - time.time() * 1000) < 60_000
    generated = await ex.fetch_order_book("ETH/USDT", depth=20)
    bids, asks = generated["bids"], generated["asks"]
    assert len(bids) == len(asks) == 20
    assert all(a[0] > 3400.25 > b[0] for a, b in zip(asks, bids, strict=True))
    assert [b[0] for b in bids] == sorted((b[0] for b in bids), reverse=True)
    assert [a[0] for a in asks] == sorted(a[0] for a in asks)
    assert binance.requests[-1][2]["limit"] == "20"


async def test_unknown_symbol(binance):
    ex = exchange_for(binance)
    with pytest.raises(UnknownSymbol, match="Binance no lista el par DOGE/XYZ") as err:
        await ex.fetch_bars("DOGE/XYZ", "1h")
    assert err.value.symbol == "DOGE/XYZ"
    assert binance.count("/api/v3/klines") == 0  # refused from the market list
    assert (await ex.fetch_ticker("btcusdt"))["symbol"] == "BTC/USDT"  # exchange ids are accepted
    binance.fail(400, {"code": -1121, "msg": "Invalid symbol."})  # delisted since the list was read
    with pytest.raises(UnknownSymbol):
        await ex.fetch_ticker("BTC/USDT")


async def test_exchange_errors_become_market_data_unavailable(binance):
    ex = exchange_for(binance)
    binance.fail(503, {"code": -1, "msg": "Service unavailable"})
    with pytest.raises(MarketDataUnavailable, match="No pude consultar Binance"):
        await ex.fetch_ticker("BTC/USDT")
    assert (await ex.fetch_ticker("BTC/USDT"))["last"] == 97000.5  # the next call works
    binance.delay = 1.0
    slow = exchange_for(binance, timeout=0.3)
    with pytest.raises(MarketDataUnavailable, match="no respondió en 0.3 s"):
        await slow.fetch_order_book("BTC/USDT")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_exchange_down_message_carries_no_secret(binance):
    key, secret = binance.api_key, binance.secret
    ex = exchange_for(binance, api_key=key, secret=secret)
    async with ex.session() as client:  # markets loaded while the exchange was up
        assert (await client.fetch_balance())["free"]["USDT"] == 10_000.0
    ex.api_url = f"http://127.0.0.1:{_closed_port()}"  # now nothing listens there
    with pytest.raises(MarketDataUnavailable) as err:
        async with ex.session() as client:
            await client.fetch_balance()  # a signed GET: its URL carries the signature
    message = str(err.value)
    assert "Binance" in message and key not in message and secret not in message
    assert not re.search(r"[0-9a-f]{32,}", message) and "timestamp=" not in message
    dead = CcxtExchange("binance", api_url=ex.api_url, timeout=2, api_key=key, secret=secret)
    with pytest.raises(MarketDataUnavailable, match="No pude consultar Binance") as err:
        await dead.fetch_bars("BTC/USDT", "1h")
    assert key not in str(err.value) and secret not in str(err.value)


async def test_wrong_secret_is_refused_and_not_shown(binance):
    ex = exchange_for(binance, api_key=binance.api_key, secret="not-the-secret-0123456789")
    with pytest.raises(MarketDataUnavailable, match="rechazó las credenciales") as err:
        async with ex.session() as client:
            await client.fetch_balance()
    assert "not-the-secret" not in str(err.value) and binance.api_key not in str(err.value)


def test_closed_bars_drops_the_bar_still_open():
    now = int(time.time() * 1000)
    frame = walk(5, end_ms=now - 20 * 60_000)  # the last bar opened 20 minutes ago
    assert len(closed_bars(frame, "1h", now)) == 4
    assert len(closed_bars(frame, "1h", now + HOUR_MS)) == 5
    assert len(closed_bars(frame, "15m", now)) == 5


# --- FakeBinance's signed endpoints: what the real exchange checks, and every attempt recorded


def _ccxt(binance, secret=None):
    return new_exchange("binance", api_url=binance.url, timeout=5,
                        config={"apiKey": binance.api_key, "secret": secret or binance.secret})


async def test_signed_market_order_fills_and_is_recorded(binance):
    client = _ccxt(binance)
    try:
        order = await client.create_order("BTC/USDT", "market", "buy", 0.01)
        balance = await client.fetch_balance()
    finally:
        await client.close()
    assert order["status"] == "closed" and order["filled"] == pytest.approx(0.01)
    assert order["average"] == pytest.approx(97000.5 * 1.0001)
    assert balance["free"]["BTC"] == pytest.approx(0.01 * 0.999)
    assert balance["free"]["USDT"] == pytest.approx(10_000 - 0.01 * 97000.5 * 1.0001)
    (attempt,) = binance.orders
    assert attempt["accepted"] and attempt["params"]["side"] == "BUY" and attempt["params"]["type"] == "MARKET"
    assert "signature" not in attempt["params"]


async def test_limit_order_rests_and_cancels(binance):
    client = _ccxt(binance)
    try:
        order = await client.create_order("BTC/USDT", "limit", "buy", 0.02, 50_000)
        assert order["status"] == "open"
        assert (await client.fetch_balance())["used"]["USDT"] == pytest.approx(1_000)
        cancelled = await client.cancel_order(order["id"], "BTC/USDT")
        assert cancelled["status"] == "canceled"
        assert (await client.fetch_balance())["free"]["USDT"] == pytest.approx(10_000)
    finally:
        await client.close()


async def test_a_bad_signature_is_refused_but_recorded(binance):
    client = _ccxt(binance, secret="someone-elses-secret")
    try:
        with pytest.raises(Exception, match="-1022"):
            await client.create_order("BTC/USDT", "market", "sell", 0.01)
    finally:
        await client.close()
    (attempt,) = binance.orders
    assert not attempt["accepted"] and attempt["response"]["code"] == -1022
    assert binance.balances["USDT"] == [10_000.0, 0.0]


def _signed(binance, params: dict, secret: str | None = None) -> str:
    query = urlencode(params)
    sig = hmac.new((secret or binance.secret).encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={sig}"


def test_raw_requests_missing_key_stale_time_and_query_plus_body(binance):
    now = int(time.time() * 1000)
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001", "timestamp": now}
    with httpx.Client(base_url=binance.url, timeout=5) as http:
        r = http.post("/api/v3/order", content=_signed(binance, order),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 401 and r.json()["code"] == -2014  # no X-MBX-APIKEY
        key = {"X-MBX-APIKEY": binance.api_key, "Content-Type": "application/x-www-form-urlencoded"}
        r = http.post("/api/v3/order", content=_signed(binance, {**order, "timestamp": now - 60_000}), headers=key)
        assert r.status_code == 400 and r.json()["code"] == -1021  # outside recvWindow
        r = http.get("/api/v3/account", params={"timestamp": now}, headers=key)
        assert r.status_code == 400 and r.json()["code"] == -1102  # unsigned
        # Binance signs the query string followed by the body: parameters may be split
        query = "symbol=BTCUSDT&side=BUY"
        body = f"type=MARKET&quantity=0.001&timestamp={now}"
        sig = hmac.new(binance.secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        r = http.post(f"/api/v3/order?{query}", content=f"{body}&signature={sig}", headers=key)
        assert r.status_code == 200 and r.json()["status"] == "FILLED"
    assert [o["status"] for o in binance.orders] == [401, 400, 200]  # the GET is not an order
