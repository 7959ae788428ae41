"""The price-provider interface, the quote every answer carries, and the shared TTL cache."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

ErrorKind = Literal["invalid", "not_found", "unavailable"]


class MarketError(Exception):
    """A price could not be given; ``kind`` says whether retrying can help, ``symbol`` which
    normalised symbol was asked for (when known). The message is the detail for the log: the
    tools tell the user in their own words (:mod:`hilo.packs.trading_mentor.tools`)."""

    def __init__(self, message: str, kind: ErrorKind = "unavailable", symbol: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.symbol = symbol


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str  # "BTC/USDT", "EUR/USD"
    base: str
    quote: str
    price: float
    source: str  # who published the price: "Binance", "Frankfurter (BCE)"
    quoted_at: str  # when the source quoted it: ISO 8601 UTC time, or a date for daily rates
    change_24h_pct: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    cached: bool = False  # served from the cache, not fetched for this request

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PriceProvider(Protocol):
    source: str

    async def quote(self, symbol: str) -> Quote:
        """The latest price of a normalised symbol ("BTC/USDT", "EUR/USD"); raises MarketError."""
        ...


class TTLCache:
    """Quotes kept ``ttl`` seconds. Plain data only, so one cache serves every event loop."""

    def __init__(self, ttl: float, clock=time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._items: dict[str, tuple[float, Quote]] = {}

    def get(self, key: str) -> Quote | None:
        hit = self._items.get(key)
        if hit is None or self.clock() - hit[0] >= self.ttl:
            return None
        return replace(hit[1], cached=True)

    def put(self, key: str, quote: Quote) -> None:
        if self.ttl > 0:
            self._items[key] = (self.clock(), quote)

    def clear(self) -> None:
        self._items.clear()
