"""The exchange edge: paper fills (fees, slippage, partial fills walking a book), balances that
never go negative, every risk limit acting at the edge by name, a live broker that cannot exist
without the operator's switch and stored keys, and keys encrypted at rest."""

from __future__ import annotations

import logging
import os
import random

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from hilo.packs.council import keys as keys_mod
from hilo.packs.council import risk
from hilo.packs.council.broker import (
    FAILED,
    FILLED,
    PARTIALLY_FILLED,
    REJECTED,
    LiveBroker,
    LiveTradingDisabled,
    OrderBook,
    OrderRequest,
    PaperBroker,
    broker_for,
)
from hilo.packs.council.core import BUY, SELL, PortfolioState, RiskLimits
from hilo.packs.council.keys import ExchangeCredentials
from hilo.packs.council.models import ExchangeKey
from hilo.testing.fake_markets import FakeBinance


def fresh(cash: float = 10_000.0, quantity: float = 0.0, avg: float = 0.0) -> PortfolioState:
    return PortfolioState(cash=cash, quantity=quantity, avg_price=avg, peak_equity=cash + quantity * avg,
                          day_start_equity=cash + quantity * avg)


def book(asks=((100.0, 1_000.0),), bids=((100.0, 1_000.0),)) -> OrderBook:
    return OrderBook(bids=[tuple(b) for b in bids], asks=[tuple(a) for a in asks])


# --- paper fills ---------------------------------------------------------------------------

def test_fees_are_bps_of_the_notional_on_both_sides():
    broker = PaperBroker(fee_bps=10, slippage_bps=0)
    pf = fresh()
    buy = broker.execute(OrderRequest("X/USD", BUY, 2.0), pf, book(asks=[(100.0, 10.0)]))
    assert buy.status == FILLED and buy.fee == pytest.approx(0.2)
    assert pf.cash == pytest.approx(10_000 - 200 - 0.2) and pf.quantity == pytest.approx(2.0)
    sell = broker.execute(OrderRequest("X/USD", SELL, 2.0), pf, book(bids=[(110.0, 10.0)]))
    assert sell.status == FILLED and sell.fee == pytest.approx(0.22)
    assert pf.cash == pytest.approx(10_000 - 200.2 + 220 - 0.22) and pf.quantity == 0.0


def test_slippage_moves_the_price_against_the_order():
    broker = PaperBroker(fee_bps=0, slippage_bps=50)
    pf = fresh()
    buy = broker.execute(OrderRequest("X/USD", BUY, 1.0), pf, book(asks=[(100.0, 10.0)]))
    assert buy.average_price == pytest.approx(100.5)
    sell = broker.execute(OrderRequest("X/USD", SELL, 1.0), pf, book(bids=[(100.0, 10.0)]))
    assert sell.average_price == pytest.approx(99.5)
    assert pf.cash == pytest.approx(10_000 - 100.5 + 99.5)


def test_a_market_order_walks_the_levels_and_the_rest_is_cancelled():
    broker = PaperBroker(fee_bps=0, slippage_bps=0)
    pf = fresh()
    r = broker.execute(OrderRequest("X/USD", BUY, 5.0), pf, book(asks=[(100.0, 1.0), (101.0, 2.0)]))
    assert r.status == PARTIALLY_FILLED
    assert [(f.price, f.quantity) for f in r.fills] == [(100.0, 1.0), (101.0, 2.0)]
    assert r.filled_quantity == 3.0 and r.cancelled_quantity == 2.0
    assert r.average_price == pytest.approx((100 + 202) / 3)
    assert "cancela" in r.reason
    assert pf.quantity == 3.0 and pf.cash == pytest.approx(10_000 - 302)
    empty = broker.execute(OrderRequest("X/USD", SELL, 1.0), pf, OrderBook(bids=[], asks=[]))
    assert empty.status == REJECTED and empty.filled_quantity == 0 and pf.quantity == 3.0


def test_a_buy_stops_when_the_cash_is_spent_fee_included():
    broker = PaperBroker(fee_bps=10, slippage_bps=0)
    pf = fresh(cash=150.0)
    r = broker.execute(OrderRequest("X/USD", BUY, 10.0), pf, book(asks=[(100.0, 1.0), (120.0, 5.0)]))
    assert r.status == PARTIALLY_FILLED and r.limit == "cash"
    assert pf.cash >= 0 and pf.cash == pytest.approx(0.0, abs=1e-9)
    assert pf.quantity == pytest.approx(1.0 + (150 - 100.1) / (120 * 1.001))


def test_cash_and_quantity_never_go_negative_over_random_orders():
    rng = random.Random(13)
    broker = PaperBroker(fee_bps=25, slippage_bps=10)
    pf = fresh(cash=1_000.0)
    for _ in range(2_000):
        mid = rng.uniform(10, 200)
        levels = rng.randint(0, 4)
        b = OrderBook(bids=[(mid * (1 - 0.001 * k), rng.uniform(0, 5)) for k in range(levels)],
                      asks=[(mid * (1 + 0.001 * k), rng.uniform(0, 5)) for k in range(levels)])
        side = rng.choice([BUY, SELL])
        before = pf.cash + pf.quantity * mid
        r = broker.execute(OrderRequest("X/USD", side, rng.uniform(0.01, 20)), pf, b,
                           rng.choice([None, RiskLimits()]))
        assert pf.cash >= 0 and pf.quantity >= 0
        assert r.filled_quantity <= r.request.quantity + 1e-12
        # a trade never creates value: fees and slippage only take
        assert pf.cash + pf.quantity * mid <= before + 1e-6 * max(1.0, before) + r.filled_quantity * mid * 0.005


def test_a_sell_is_capped_at_what_is_held_no_short_selling():
    broker = PaperBroker(fee_bps=0, slippage_bps=0)
    pf = fresh(quantity=2.0, avg=100.0)
    r = broker.execute(OrderRequest("X/USD", SELL, 5.0), pf, book())
    assert r.filled_quantity == 2.0 and r.limit == "quantity" and pf.quantity == 0.0
    again = broker.execute(OrderRequest("X/USD", SELL, 1.0), pf, book())
    assert again.status == REJECTED and again.limit == "quantity" and pf.quantity == 0.0


def test_bad_requests_are_refused_before_anything_moves():
    from hilo.packs.council.broker import BrokerError

    broker = PaperBroker()
    pf = fresh()
    for req in (OrderRequest("X/USD", "SHORT", 1.0), OrderRequest("X/USD", BUY, -1.0),
                OrderRequest("X/USD", BUY, float("nan")), OrderRequest("X/USD", BUY, 1.0, type="limit")):
        with pytest.raises(BrokerError):
            broker.execute(req, pf, book())
    assert pf.cash == 10_000.0 and pf.quantity == 0.0


def test_synthetic_book_offers_a_share_of_the_bar_volume():
    b = OrderBook.synthetic_for_bar(100.0, 1_000.0, participation=0.1, levels=5, step_bps=1.0)
    assert sum(q for _, q in b.asks) == pytest.approx(100.0) and len(b.asks) == 5
    assert b.asks[0][0] == 100.0 and b.asks[-1][0] == pytest.approx(100.04)
    assert b.bids[-1][0] == pytest.approx(99.96)
    quote = OrderBook.synthetic_for_bar(100.0, 1_000.0, volume_in_quote=True)
    assert sum(q for _, q in quote.asks) == pytest.approx(1.0)
    assert OrderBook.synthetic_for_bar(100.0, 0.0, zero_volume_fills=False).asks == []
    assert OrderBook.synthetic_for_bar(100.0, 0.0).asks[0][1] == float("inf")
    r = PaperBroker(fee_bps=0, slippage_bps=0).execute(OrderRequest("X/USD", BUY, 150.0), fresh(1e9), b)
    assert r.status == PARTIALLY_FILLED and r.filled_quantity == pytest.approx(100.0)


def test_ccxt_books_are_read_best_first():
    b = OrderBook.from_ccxt({"bids": [[99, 1], [100, 2], [98, 0]], "asks": [[102, 1], [101, 3]]})
    assert b.bids == [(100.0, 2.0), (99.0, 1.0)] and b.asks == [(101.0, 3.0), (102.0, 1.0)]


# --- risk limits at the edge ---------------------------------------------------------------

def test_max_position_pct_reduces_a_buy_at_the_edge():
    pf = fresh()
    r = PaperBroker(fee_bps=0, slippage_bps=0).execute(OrderRequest("X/USD", BUY, 50.0), pf, book(),
                                                       RiskLimits(max_position_pct=0.25))
    assert r.limit == "max_position_pct" and r.allowed_quantity == pytest.approx(25.0)
    assert r.status == PARTIALLY_FILLED and pf.quantity == pytest.approx(25.0)
    again = PaperBroker().execute(OrderRequest("X/USD", BUY, 1.0), pf, book(), RiskLimits(max_position_pct=0.25))
    assert again.status == REJECTED and again.limit == "max_position_pct" and pf.quantity == pytest.approx(25.0)


def test_max_exposure_pct_counts_the_other_positions():
    v = risk.check_order(fresh(cash=6_000), 100.0, BUY, 50.0,
                         RiskLimits(max_position_pct=0.9, max_exposure_pct=0.5), other_positions_value=4_000.0)
    assert v.limit == "max_exposure_pct" and v.quantity == pytest.approx(10.0) and v.reduced


def test_max_daily_loss_pct_blocks_buys_but_not_sells():
    pf = PortfolioState(cash=5_000, quantity=44.0, avg_price=110, peak_equity=10_000, day_start_equity=10_000)
    limits = RiskLimits(max_daily_loss_pct=0.05, max_drawdown_pct=0.5)  # equity 9,400 at 100: -6 % today
    v = risk.check_order(pf, 100.0, BUY, 1.0, limits)
    assert v.rejected and v.limit == "max_daily_loss_pct"
    assert not risk.check_order(pf, 100.0, SELL, 10.0, limits).rejected
    r = PaperBroker().execute(OrderRequest("X/USD", BUY, 1.0), pf, book(), limits)
    assert r.status == REJECTED and r.limit == "max_daily_loss_pct" and pf.quantity == 44.0


def test_max_drawdown_pct_blocks_buys():
    pf = PortfolioState(cash=10_000, quantity=0.0, peak_equity=13_000, day_start_equity=10_000)
    v = risk.check_order(pf, 100.0, BUY, 1.0, RiskLimits(max_drawdown_pct=0.2))
    assert v.rejected and v.limit == "max_drawdown_pct" and "caída" in v.reason
    assert not risk.check_order(pf, 100.0, BUY, 1.0, RiskLimits(max_drawdown_pct=0.3)).rejected


def test_the_edge_and_the_risk_manager_read_the_same_rule():
    """The risk manager's room to buy (its analysis) is what the edge allows, limit for limit."""
    from datetime import UTC, datetime

    from hilo.packs.council.analysts import risk_manager
    from hilo.packs.council.core import Snapshot

    rng = random.Random(4)
    for _ in range(300):
        pf = PortfolioState(cash=rng.uniform(0, 10_000), quantity=rng.uniform(0, 50), avg_price=100,
                            peak_equity=rng.uniform(5_000, 15_000), day_start_equity=rng.uniform(5_000, 12_000))
        limits = RiskLimits(max_position_pct=rng.uniform(0.05, 1), max_daily_loss_pct=rng.uniform(0.01, 0.3),
                            max_drawdown_pct=rng.uniform(0.05, 0.5), max_exposure_pct=rng.uniform(0.05, 1))
        price = rng.uniform(50, 150)
        snap = Snapshot("X/USD", "1d", 0, datetime(2024, 1, 1, tzinfo=UTC), price, {}, portfolio=pf, limits=limits)
        analysis = risk_manager(snap)
        edge = risk.check_order(pf, price, BUY, 1e9, limits)
        equity = pf.equity(price)
        assert analysis.supporting_data["max_buy_pct"] == pytest.approx(edge.quantity * price / equity, abs=1e-5)
        if edge.rejected:
            assert analysis.supporting_data.get("veto_buy") or analysis.recommendation == SELL
            assert analysis.supporting_data["binding_limit"] == edge.limit


# --- the live broker ---------------------------------------------------------------------------

CREDS = ExchangeCredentials("binance", "fake-binance-key", "fake-binance-secret")


def test_no_live_broker_without_the_switch_or_without_keys():
    with FakeBinance() as binance:
        for kwargs in ({"live_enabled": False, "keys": CREDS}, {"live_enabled": True, "keys": None},
                       {"live_enabled": True, "keys": ExchangeCredentials("binance", "", "")},
                       {"live_enabled": False, "keys": None}):
            with pytest.raises(LiveTradingDisabled) as err:
                broker_for("live", api_url=binance.url, **kwargs)
            assert "HILO_COUNCIL_LIVE_TRADING" in str(err.value) or "claves" in str(err.value)
            with pytest.raises(LiveTradingDisabled):
                LiveBroker(api_url=binance.url, **kwargs)
        # paper is paper whatever the switch says
        assert isinstance(broker_for("paper", live_enabled=True, keys=CREDS), PaperBroker)
        assert binance.orders == []


async def test_with_the_switch_and_keys_an_order_reaches_the_exchange_after_the_edge():
    with FakeBinance() as binance:
        broker = broker_for("live", live_enabled=True, keys=CREDS, api_url=binance.url, fee_bps=10)
        assert isinstance(broker, LiveBroker) and "secret" not in repr(broker)
        pf = fresh()
        quote = OrderBook.from_ccxt({"bids": [[96_990.0, 1.0]], "asks": [[97_010.0, 1.0]]})
        r = await broker.aexecute(OrderRequest("BTC/USDT", BUY, 0.01), pf, quote, RiskLimits())
        assert r.status == FILLED and r.mode == "live" and r.exchange_order_id is not None
        assert len(binance.orders) == 1 and binance.orders[0]["accepted"]
        # Binance takes the buy's fee in BTC: the portfolio holds what the exchange credited
        assert pf.quantity == pytest.approx(0.01 * 0.999)
        assert pf.cash == pytest.approx(10_000 - 0.01 * 97000.5 * 1.0001, rel=1e-9)
        # the limit at the edge shrinks what is sent: 25 % of equity at most
        r = await broker.aexecute(OrderRequest("BTC/USDT", BUY, 1.0), pf, quote, RiskLimits(max_position_pct=0.25))
        sent = float(binance.orders[-1]["params"]["quantity"])
        assert r.limit == "max_position_pct" and sent < 0.0258 and r.status == PARTIALLY_FILLED
        # refused at the edge (already 30 % of equity in BTC): nothing is sent
        n = len(binance.orders)
        full = PortfolioState(cash=7_000, quantity=3_000 / 97_000, avg_price=97_000, peak_equity=10_000,
                              day_start_equity=10_000)
        r = await broker.aexecute(OrderRequest("BTC/USDT", BUY, 1.0), full, quote, RiskLimits(max_position_pct=0.25))
        assert r.status == REJECTED and r.limit == "max_position_pct" and len(binance.orders) == n


async def test_an_exchange_refusal_is_reported_without_the_secret():
    with FakeBinance() as binance:
        wrong = ExchangeCredentials("binance", "fake-binance-key", "not-the-secret-123")
        broker = broker_for("live", live_enabled=True, keys=wrong, api_url=binance.url)
        pf = fresh()
        quote = OrderBook.from_ccxt({"bids": [[96_990.0, 1.0]], "asks": [[97_010.0, 1.0]]})
        r = await broker.aexecute(OrderRequest("BTC/USDT", BUY, 0.01), pf, quote)
        assert r.status == FAILED and r.filled_quantity == 0 and pf.cash == 10_000
        assert "not-the-secret-123" not in r.reason and "fake-binance-key" not in r.reason
        assert binance.orders and not binance.orders[0]["accepted"]


# --- keys at rest ------------------------------------------------------------------------------

def _backends():
    out = ["sqlite"]
    if os.environ.get("HILO_TEST_DATABASE_URL"):
        out.append("postgresql")
    return out


@pytest.fixture(params=_backends())
def keys_db_url(request, tmp_path, database_factory):
    """A fresh database (made outside the event loop: the factory runs its own)."""
    if request.param == "postgresql":
        return database_factory("postgresql")
    return f"sqlite+aiosqlite:///{tmp_path}/k.db"


@pytest.fixture
async def session_maker(keys_db_url):
    url = keys_db_url
    engine = create_async_engine(url, echo=True)  # SQL and parameters logged: the test reads them
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: ExchangeKey.__table__.create(c))
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def test_keys_are_encrypted_at_rest_and_never_shown(session_maker, caplog):
    secret_key = keys_mod.generate_secret_key()
    api_key, secret = "AKIA-plain-api-key-777", "sEcReT-plain-value-999"
    caplog.set_level(logging.DEBUG)
    async with session_maker() as session:
        await keys_mod.store_keys(session, exchange="binance", api_key=api_key, secret=secret,
                                  secret_key=secret_key, user_id="u1")
        await session.commit()
    async with session_maker() as session:
        row = (await session.execute(select(ExchangeKey))).scalar_one()
        stored = bytes(row.api_key) + bytes(row.secret)
        assert api_key.encode() not in stored and secret.encode() not in stored
        assert Fernet(secret_key.encode()).decrypt(bytes(row.secret)).decode() == secret
        creds = await keys_mod.load_keys(session, exchange="binance", secret_key=secret_key, user_id="u1")
        assert (creds.api_key, creds.secret) == (api_key, secret)
        assert await keys_mod.has_keys(session, exchange="binance", user_id="u1")
        assert await keys_mod.load_keys(session, exchange="kraken", secret_key=secret_key, user_id="u1") is None
        # another configuration key cannot open them, and says so without the values
        with pytest.raises(keys_mod.KeysError) as err:
            await keys_mod.load_keys(session, exchange="binance", secret_key=keys_mod.generate_secret_key(),
                                     user_id="u1")
        assert secret not in str(err.value)
    for text in (repr(creds), str(creds), caplog.text):
        assert api_key not in text and secret not in text
    assert "sqlalchemy" in caplog.text.lower() or "INSERT" in caplog.text  # the log was really captured


def test_a_missing_or_invalid_configuration_key_is_a_clear_error():
    with pytest.raises(keys_mod.SecretKeyError) as err:
        keys_mod.cipher(None)
    assert "HILO_COUNCIL_SECRET_KEY" in str(err.value)
    with pytest.raises(keys_mod.SecretKeyError) as err:
        keys_mod.cipher("not-a-fernet-key-but-secret-ish")
    assert "HILO_COUNCIL_SECRET_KEY" in str(err.value) and "secret-ish" not in str(err.value)
    from pydantic import SecretStr

    good = keys_mod.generate_secret_key()
    token = keys_mod.encrypt(SecretStr(good), "abc")
    assert keys_mod.decrypt(good, token) == "abc"
