"""ccxt exchange objects built one way for every part of hilo that talks to an exchange
(the trading mentor's prices, the council's market data and broker).

ccxt takes about 1.4 s to import, so :func:`ccxt_module` imports it on first use. An object's
HTTP session is tied to the event loop that opened it, so callers make one per request and
close it; the market list, the costly part, is what they keep (see :class:`MarketsCache`).
``api_url`` replaces the scheme and host of every entry of the exchange's ``urls['api']`` and
keeps their paths, so a local fake server that speaks the exchange's REST format can answer.
"""

from __future__ import annotations

import ssl
import time
from functools import cache
from typing import Any
from urllib.parse import urlsplit

MARKETS_TTL = 3600.0  # new listings show up within the hour


def ccxt_module():
    """``ccxt.async_support``, imported when first needed."""
    import ccxt.async_support as ccxt

    return ccxt


def rehost(urls: Any, base: str) -> Any:
    """Every ``http...`` string inside ``urls`` (nested dicts) moved onto ``base``, paths kept."""
    if isinstance(urls, dict):
        return {k: rehost(v, base) for k, v in urls.items()}
    if isinstance(urls, str) and urls.startswith("http"):
        return base.rstrip("/") + urlsplit(urls).path
    return urls


@cache
def _ssl_context() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())  # building one costs ~40 ms


def new_exchange(exchange_id: str, *, api_url: str | None = None, timeout: float = 10.0,
                 config: dict[str, Any] | None = None):
    """A ccxt async exchange object: spot markets only, no currency list nor margin pairs (on
    Binance those are signed calls, made as soon as keys are set), no rate limiter (objects live
    for one request) and no 250 ms sleep on close (hilo's event loop lives on).

    ``config`` adds ccxt settings (``apiKey``, ``secret``)."""
    ccxt = ccxt_module()
    if exchange_id not in ccxt.exchanges:
        raise ValueError(f"ccxt has no exchange '{exchange_id}'")
    options: dict[str, Any] = {}
    if exchange_id.startswith("binance"):
        options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}
    settings: dict[str, Any] = {"timeout": int(timeout * 1000), "enableRateLimit": False,
                                "timeout_on_exit": 0, "options": options}
    settings.update(config or {})
    exchange = getattr(ccxt, exchange_id)(settings)
    exchange.ssl_context = _ssl_context()
    if api_url:
        exchange.urls["api"] = rehost(exchange.urls["api"], api_url)
    return exchange


class MarketsCache:
    """An exchange's market list, loaded once per :data:`MARKETS_TTL` and handed to new objects."""

    def __init__(self, ttl: float = MARKETS_TTL):
        self.ttl = ttl
        self._markets: tuple[float, dict, dict] | None = None

    async def ensure(self, exchange) -> None:
        if self._markets and time.monotonic() - self._markets[0] < self.ttl:
            exchange.set_markets(self._markets[1], self._markets[2])
            return
        await exchange.load_markets()
        self._markets = (time.monotonic(), exchange.markets, exchange.currencies)
