"""Market prices behind one small interface: crypto via ccxt, forex via ECB reference rates.

    market = market_for(settings)
    quote = await market.crypto("btc")      # Quote(symbol="BTC/USDT", price=..., source="Binance", ...)
    quote = await market.forex("eur/usd")   # Quote(symbol="EUR/USD", ..., quoted_at="2026-11-23")

Both share one TTL cache (``HILO_PRICE_CACHE_S``, default 60 s); a cached answer says so
(``cached=True``) and keeps the source's own quote time. Failures raise :class:`MarketError`.
"""

from __future__ import annotations

from hilo.kit.config import Settings
from hilo.packs.trading_mentor.market.base import MarketError, PriceProvider, Quote, TTLCache
from hilo.packs.trading_mentor.market.crypto import CcxtPrices, parse_crypto_symbol
from hilo.packs.trading_mentor.market.forex import FrankfurterPrices, parse_forex_pair

__all__ = [
    "CcxtPrices", "FrankfurterPrices", "Market", "MarketError", "PriceProvider", "Quote",
    "TTLCache", "market_for", "parse_crypto_symbol", "parse_forex_pair",
]


class Market:
    def __init__(self, crypto: PriceProvider, forex: PriceProvider, cache: TTLCache,
                 crypto_quote: str = "USDT"):
        self.providers = {"crypto": crypto, "forex": forex}
        self.cache = cache
        self.crypto_quote = crypto_quote

    async def crypto(self, symbol: str) -> Quote:
        return await self._quote("crypto", parse_crypto_symbol(symbol, self.crypto_quote))

    async def forex(self, pair: str) -> Quote:
        return await self._quote("forex", parse_forex_pair(pair))

    async def _quote(self, kind: str, symbol: str) -> Quote:
        key = f"{kind}:{symbol}"
        quote = self.cache.get(key)
        if quote is None:
            quote = await self.providers[kind].quote(symbol)
            self.cache.put(key, quote)
        return quote


class _LazyCrypto:
    """Defers ccxt's import (over a second) until the first crypto price is asked for."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._real: CcxtPrices | None = None

    @property
    def source(self) -> str:
        return self._get().source

    def _get(self) -> CcxtPrices:
        if self._real is None:
            s = self.settings
            self._real = CcxtPrices(s.crypto_exchange, s.crypto_api_url, s.market_timeout)
        return self._real

    async def quote(self, symbol: str) -> Quote:
        return await self._get().quote(symbol)


_markets: dict[tuple, Market] = {}


def market_for(settings: Settings) -> Market:
    """One Market (and so one cache) per distinct market configuration in the process."""
    key = (settings.crypto_exchange, settings.crypto_api_url, settings.crypto_quote,
           settings.forex_api_url, settings.price_cache_s, settings.market_timeout)
    if key not in _markets:
        _markets[key] = Market(
            _LazyCrypto(settings),
            FrankfurterPrices(settings.forex_api_url, settings.market_timeout),
            TTLCache(settings.price_cache_s),
            settings.crypto_quote,
        )
    return _markets[key]
