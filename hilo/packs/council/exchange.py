"""Market data from an exchange for the live path: bars, ticker and order book.

:class:`Exchange` is what the monitor, the analysts and the paper broker read from; tests
and the backtest can hand in anything with these three methods. :class:`CcxtExchange` is
the real one, on ``ccxt.async_support`` (Binance by default). Like the trading mentor's
prices it makes one ccxt object per call (its HTTP session belongs to the event loop that
opened it) and keeps only the market list; ``api_url`` moves every API URL onto a local fake
(:class:`hilo.testing.fake_markets.FakeBinance`). Every ccxt failure becomes one
:class:`MarketDataUnavailable` whose message names the exchange and the reason and never
carries a key, a secret or a signed URL; a pair the exchange does not list is
:class:`UnknownSymbol`. Binance answers at most 1,000 klines a request: longer series are
fetched page by page.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pandas as pd

from hilo.kit.ccxt_client import MarketsCache, ccxt_module, new_exchange
from hilo.packs.council.bars import COLUMNS, from_ccxt
from hilo.packs.council.core import CouncilInputError

PAGE = 1000  # Binance's most klines per request
MAX_BARS = 50_000  # one fetch at most (50 requests): more is a download, not market data

# bar length in ms (a month is not fixed: see bar_close_ms)
TIMEFRAME_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
                "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
                "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000,
                "1w": 604_800_000, "1M": 2_678_400_000}


class MarketDataError(Exception):
    """Market data that could not be had; ``str()`` is a message for the user."""


class MarketDataUnavailable(MarketDataError):
    """The exchange did not answer, or answered with an error."""


class UnknownSymbol(MarketDataError):
    """The exchange does not list the pair."""

    def __init__(self, message: str, symbol: str):
        super().__init__(message)
        self.symbol = symbol


class Exchange(Protocol):
    name: str  # the id stored with bars ("binance")

    async def fetch_bars(self, symbol: str, timeframe: str, since_ms: int | None = None,
                         limit: int = 500) -> pd.DataFrame: ...

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]: ...

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> dict[str, Any]: ...


def timeframe_ms(timeframe: str) -> int:
    """The length of one bar; an unknown timeframe is a :class:`CouncilInputError`."""
    if timeframe not in TIMEFRAME_MS:
        raise CouncilInputError(f"timeframe '{timeframe}' is not supported "
                                f"(supported: {', '.join(TIMEFRAME_MS)})")
    return TIMEFRAME_MS[timeframe]


def bar_close_ms(frame: pd.DataFrame, timeframe: str) -> pd.Series:
    """When each bar of ``frame`` closes (epoch ms): its open plus one bar (a calendar month for 1M)."""
    timeframe_ms(timeframe)
    opens = frame.index
    closes = opens + pd.DateOffset(months=1) if timeframe == "1M" else opens + pd.Timedelta(
        milliseconds=TIMEFRAME_MS[timeframe])
    return pd.Series(_epoch_ms(pd.DatetimeIndex(closes)), index=frame.index)


def closed_bars(frame: pd.DataFrame, timeframe: str, now_ms: int | None = None) -> pd.DataFrame:
    """``frame`` without the bars still open at ``now_ms`` (the exchange's last bar moves until
    it closes: deciding or storing on it would read a price that later changes)."""
    if frame.empty:
        return frame
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return frame[(bar_close_ms(frame, timeframe) <= now).to_numpy()]


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows (nothing new since the last stored bar)."""
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp")
    return pd.DataFrame({c: pd.Series([], dtype=float) for c in COLUMNS}, index=index)


def _epoch_ms(index: pd.DatetimeIndex) -> list[int]:
    return [round(ts.timestamp() * 1000) for ts in index]


_URL_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
_SIGNATURE = re.compile(r"signature=[0-9A-Fa-f]+")


def _clean(text: str, secrets: tuple[str | None, ...]) -> str:
    """An error text safe to show: no query strings (signed URLs), no key or secret, short."""
    text = _SIGNATURE.sub("signature=***", _URL_QUERY.sub(r"\1", text))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:240]


class CcxtExchange:
    """An exchange through ccxt. ``api_key``/``secret`` are only for the broker's signed calls
    (:meth:`session`); market data needs none."""

    def __init__(self, exchange_id: str = "binance", *, api_url: str | None = None,
                 timeout: float = 10.0, api_key: str | None = None, secret: str | None = None):
        ccxt = ccxt_module()  # about 1.4 s the first time: only when an exchange is configured
        if exchange_id not in ccxt.exchanges:
            raise CouncilInputError(f"exchange '{exchange_id}' is not known to ccxt")
        self._ccxt = ccxt
        self.name = exchange_id
        self.api_url = api_url
        self.timeout = timeout
        self._credentials = {"apiKey": api_key, "secret": secret} if api_key and secret else {}
        self._markets = MarketsCache()
        self.source = getattr(ccxt, exchange_id)().name  # "Binance"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        """A ccxt object with its markets loaded, closed on exit; ccxt errors raised inside the
        block come out as :class:`MarketDataUnavailable` / :class:`UnknownSymbol`."""
        ccxt = self._ccxt
        client = new_exchange(self.name, api_url=self.api_url, timeout=self.timeout,
                              config=self._credentials)
        try:
            await self._markets.ensure(client)
            yield client
        except ccxt.BadSymbol as exc:
            raise UnknownSymbol(f"{self.source} no lista ese par ({self._safe(exc)}).", "") from None
        except ccxt.RequestTimeout:
            raise MarketDataUnavailable(
                f"{self.source} no respondió en {self.timeout:g} s; inténtalo de nuevo en un momento.") from None
        except ccxt.AuthenticationError as exc:
            raise MarketDataUnavailable(
                f"{self.source} rechazó las credenciales configuradas ({self._safe(exc)}).") from None
        except ccxt.BaseError as exc:
            raise MarketDataUnavailable(
                f"No pude consultar {self.source} ({type(exc).__name__}: {self._safe(exc)}); "
                "inténtalo de nuevo en un momento.") from None
        finally:
            await client.close()

    def _safe(self, exc: Exception) -> str:
        return _clean(str(exc), (self._credentials.get("apiKey"), self._credentials.get("secret")))

    def _market(self, client: Any, symbol: str) -> str:
        """The unified symbol (``BTC/USDT``; ``btcusdt`` is accepted) or :class:`UnknownSymbol`."""
        wanted = str(symbol).strip().upper()
        if wanted in client.markets:
            return wanted
        by_id = client.markets_by_id.get(wanted.replace("/", "").replace("-", "")) if client.markets_by_id else None
        if by_id:
            return by_id[0]["symbol"]
        raise UnknownSymbol(f"{self.source} no lista el par {symbol}.", str(symbol))

    async def fetch_bars(self, symbol: str, timeframe: str, since_ms: int | None = None,
                         limit: int = 500) -> pd.DataFrame:
        """Up to ``limit`` bars: from ``since_ms`` on, or else the most recent ones (the last may
        still be open: see :func:`closed_bars`). An empty frame when there are none."""
        timeframe_ms(timeframe)
        if not 1 <= int(limit) <= MAX_BARS:
            raise CouncilInputError(f"limit must be between 1 and {MAX_BARS}")
        limit = int(limit)
        rows: dict[int, list[float]] = {}
        async with self.session() as client:
            market = self._market(client, symbol)
            if timeframe not in (client.timeframes or TIMEFRAME_MS):
                raise CouncilInputError(f"{self.source} has no timeframe '{timeframe}'")
            if since_ms is not None:
                since = int(since_ms)
                while len(rows) < limit:  # forward from since, page by page
                    want = min(PAGE, limit - len(rows))
                    page = await client.fetch_ohlcv(market, timeframe, since=since, limit=want)
                    rows.update((int(r[0]), r) for r in page)
                    if len(page) < want or int(page[-1][0]) < since:
                        break  # the present reached (or an exchange going backwards)
                    since = int(page[-1][0]) + 1
            else:
                until = None
                while len(rows) < limit:  # backward from now: each page ends before the last one
                    want = min(PAGE, limit - len(rows))
                    params = {"until": until} if until is not None else {}
                    page = await client.fetch_ohlcv(market, timeframe, limit=want, params=params)
                    fresh = [r for r in page if until is None or int(r[0]) <= until]
                    rows.update((int(r[0]), r) for r in fresh)
                    if len(fresh) < want:
                        break  # the start of the exchange's history
                    until = int(fresh[0][0]) - 1
        if not rows:
            return empty_bars()
        ordered = [rows[k] for k in sorted(rows)]
        ordered = ordered[:limit] if since_ms is not None else ordered[-limit:]
        return from_ccxt(ordered, source=f"{self.source} {market} {timeframe}")

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        async with self.session() as client:
            market = self._market(client, symbol)
            t = await client.fetch_ticker(market)
        last = t.get("last") or t.get("close")
        if last is None:
            raise MarketDataUnavailable(f"{self.source} no devolvió precio para {market}.")
        return {"symbol": market, "last": float(last), "bid": _num(t.get("bid")), "ask": _num(t.get("ask")),
                "change_pct": _num(t.get("percentage")), "volume": _num(t.get("baseVolume")),
                "timestamp": t.get("timestamp") or int(time.time() * 1000)}

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> dict[str, Any]:
        if not 1 <= int(depth) <= 5000:
            raise CouncilInputError("depth must be between 1 and 5000")
        async with self.session() as client:
            market = self._market(client, symbol)
            book = await client.fetch_order_book(market, limit=_book_limit(int(depth)))
        return {"symbol": market,
                "bids": [[float(p), float(q)] for p, q, *_ in book["bids"][:depth]],
                "asks": [[float(p), float(q)] for p, q, *_ in book["asks"][:depth]],
                "timestamp": book.get("timestamp") or int(time.time() * 1000)}


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _book_limit(depth: int) -> int:
    """Binance accepts only some depths (5, 10, 20, 50, 100, 500, 1000, 5000): the next one up."""
    return next(n for n in (5, 10, 20, 50, 100, 500, 1000, 5000) if n >= depth)
