"""Price providers against local servers that speak Binance's and Frankfurter's formats."""

from __future__ import annotations

import json

import pytest

from hilo.kit.config import Settings
from hilo.packs.trading_mentor.market import (
    CcxtPrices,
    FrankfurterPrices,
    Market,
    MarketError,
    TTLCache,
    market_for,
    parse_crypto_symbol,
    parse_forex_pair,
)
from hilo.packs.trading_mentor.tools import get_crypto_price, get_forex_price
from hilo.testing.fake_markets import FakeBinance, FakeFrankfurter
from hilo.tools import AssistantInfo, ToolContext, ToolServices


@pytest.fixture
def binance():
    with FakeBinance() as server:
        yield server


@pytest.fixture
def ecb():
    with FakeFrankfurter(date="2026-11-23") as server:
        yield server


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_market(binance, ecb, ttl=60.0, clock=None, timeout=5.0) -> Market:
    cache = TTLCache(ttl, clock) if clock else TTLCache(ttl)
    return Market(CcxtPrices("binance", binance.url, timeout), FrankfurterPrices(ecb.url, timeout), cache)


def settings_for(binance, ecb, **extra) -> Settings:
    return Settings(_env_file=None, crypto_api_url=binance.url, forex_api_url=ecb.url, **extra)


@pytest.mark.parametrize("text, expected", [
    ("btc", "BTC/USDT"), ("Bitcoin", "BTC/USDT"), ("BTCUSDT", "BTC/USDT"), ("eth-btc", "ETH/BTC"),
    ("ETH/EUR", "ETH/EUR"), (" sol ", "SOL/USDT"), ("WBTC", "WBTC/USDT"),
])
def test_crypto_symbols(text, expected):
    assert parse_crypto_symbol(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("EUR/USD", "EUR/USD"), ("eurusd", "EUR/USD"), ("gbp-jpy", "GBP/JPY"), ("euro dólar", "EUR/USD"),
    ("usd mxn", "USD/MXN"),
])
def test_forex_pairs(text, expected):
    assert parse_forex_pair(text) == expected


@pytest.mark.parametrize("bad", ["", "B", "BTC/BTC", "$$$", "BTC/USDT/EUR", "a very long name"])
def test_bad_crypto_symbols(bad):
    with pytest.raises(MarketError) as err:
        parse_crypto_symbol(bad)
    assert err.value.kind == "invalid" and "BTC/USDT" in str(err.value)


@pytest.mark.parametrize("bad", ["EUR", "EURO/EURO", "EUR/EUR", "12/34", "EURUSDX"])
def test_bad_forex_pairs(bad):
    with pytest.raises(MarketError) as err:
        parse_forex_pair(bad)
    assert err.value.kind == "invalid" and "EUR/USD" in str(err.value)


async def test_crypto_quote_carries_source_and_quote_time(binance, ecb):
    binance.set_price("BTC/USDT", 97123.45, change_pct=-1.5, close_time_ms=1_795_000_000_000)
    quote = await make_market(binance, ecb).crypto("bitcoin")
    assert (quote.symbol, quote.price, quote.source) == ("BTC/USDT", 97123.45, "Binance")
    assert quote.quoted_at == "2026-11-18T11:06:40Z"
    assert quote.change_24h_pct == pytest.approx(-1.5)
    assert quote.low_24h < quote.price < quote.high_24h and not quote.cached
    assert binance.count("/api/v3/exchangeInfo") == 1
    assert binance.requests[-1] == ("GET", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"})


async def test_forex_quote_is_the_ecb_reference_rate(binance, ecb):
    ecb.set_rate("USD", 1.0512)
    market = make_market(binance, ecb)
    quote = await market.forex("EUR/USD")
    assert (quote.price, quote.source, quote.quoted_at) == (1.0512, "Frankfurter (ECB)", "2026-11-23")
    assert ecb.requests[-1] == ("GET", "/latest", {"from": "EUR", "to": "USD"})
    cross = await market.forex("GBP/USD")
    assert cross.price == pytest.approx(1.0512 / 0.83, rel=1e-4)


async def test_cache_serves_within_ttl_and_refreshes_after(binance, ecb):
    clock = Clock()
    market = make_market(binance, ecb, ttl=60, clock=clock)
    first = await market.crypto("BTC")
    binance.set_price("BTC/USDT", 1.0)
    clock.now += 59
    second = await market.crypto("btc/usdt")
    assert second.cached and second.price == first.price and second.quoted_at == first.quoted_at
    assert binance.count("/api/v3/ticker/24hr") == 1
    await market.forex("EUR/USD")
    await market.forex("eurusd")
    assert ecb.count("/latest") == 1
    clock.now += 2
    third = await market.crypto("BTC")
    assert third.price == 1.0 and not third.cached
    assert binance.count("/api/v3/ticker/24hr") == 2
    assert binance.count("/api/v3/exchangeInfo") == 1  # markets are kept longer than prices


async def test_cache_off_fetches_every_time(binance, ecb):
    market = make_market(binance, ecb, ttl=0)
    for _ in range(3):
        await market.forex("EUR/GBP")
    assert ecb.count("/latest") == 3


def test_market_for_shares_one_cache_per_configuration(binance, ecb):
    a = market_for(settings_for(binance, ecb))
    assert market_for(settings_for(binance, ecb)) is a
    assert market_for(settings_for(binance, ecb, price_cache_s=5)) is not a
    assert a.cache.ttl == 60


async def test_unknown_symbol_and_currency(binance, ecb):
    market = make_market(binance, ecb)
    with pytest.raises(MarketError, match="Binance no lista el par XYZ/USDT") as err:
        await market.crypto("XYZ")
    assert err.value.kind == "not_found"
    assert binance.count("/api/v3/ticker/24hr") == 0  # refused from the market list
    with pytest.raises(MarketError, match="no publica el par EUR/COP") as err:
        await market.forex("EUR/COP")
    assert err.value.kind == "not_found"


async def test_exchange_errors_become_market_errors(binance, ecb):
    market = make_market(binance, ecb)
    binance.fail(503, {"code": -1, "msg": "Service unavailable"})
    with pytest.raises(MarketError, match="No pude consultar Binance") as err:
        await market.crypto("BTC")
    assert err.value.kind == "unavailable"
    assert (await market.crypto("BTC")).price == 97000.5  # nothing bad was cached
    binance.fail(400, {"code": -1121, "msg": "Invalid symbol."})
    with pytest.raises(MarketError, match="no lista el par ETH/USDT"):
        await market.crypto("ETH")


async def test_forex_errors_become_market_errors(binance, ecb):
    market = make_market(binance, ecb)
    ecb.fail(500)
    with pytest.raises(MarketError, match="Frankfurter") as err:
        await market.forex("EUR/USD")
    assert err.value.kind == "unavailable"
    ecb.fail(200, {"unexpected": True})
    with pytest.raises(MarketError, match="respondió de forma inesperada"):
        await market.forex("EUR/USD")


async def test_timeouts_and_unreachable_servers(binance, ecb):
    binance.delay = ecb.delay = 1.0
    market = make_market(binance, ecb, timeout=0.3)
    with pytest.raises(MarketError, match="RequestTimeout"):
        await market.crypto("BTC")
    with pytest.raises(MarketError, match="ReadTimeout"):
        await market.forex("EUR/USD")
    dead = Market(CcxtPrices("binance", "http://127.0.0.1:9", 1), FrankfurterPrices("http://127.0.0.1:9", 1),
                  TTLCache(60))
    with pytest.raises(MarketError, match="No pude consultar"):
        await dead.crypto("BTC")
    with pytest.raises(MarketError, match="ConnectError"):
        await dead.forex("EUR/USD")


def test_unknown_exchange_is_a_configuration_error():
    with pytest.raises(ValueError, match="HILO_CRYPTO_EXCHANGE"):
        CcxtPrices("not-an-exchange")


async def test_tools_turn_market_errors_into_tool_output(binance, ecb):
    ctx = ToolContext(run_id="run_x", thread_id="thread_x", assistant=AssistantInfo("asst_x"), services=ToolServices(settings=settings_for(binance, ecb, price_cache_s=0)))
    out = json.loads(await get_crypto_price.invoke('{"symbol": "DOESNOTEXIST"}', ctx))
    assert out == {"error": "No encontré DOESNOTEXIST en Binance. Revisa el nombre o usa su ticker, por ejemplo "
                            "BTC, ETH o SOL."}
    out = json.loads(await get_crypto_price.invoke('{"symbol": "B"}', ctx))
    assert out["error"].startswith("«B» no parece una criptomoneda")
    ecb.fail(502)
    out = json.loads(await get_forex_price.invoke('{"pair": "EUR/USD"}', ctx))
    assert out["error"] == ("No pude consultar el precio ahora; el servicio de precios no responde. "
                            "Intenta de nuevo en unos minutos.")
    out = json.loads(await get_forex_price.invoke('{"pair": "EUR/USD"}', ctx))
    assert out["price"] == 1.05 and out["quoted_at"] == "2026-11-23"
