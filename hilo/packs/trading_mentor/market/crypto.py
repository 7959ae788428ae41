"""Crypto prices from any ccxt exchange (Binance by default), public endpoints only.

One ccxt exchange object is made per request and closed after it (its HTTP session is
tied to the event loop that opened it); the exchange's market list, the costly part, is
loaded once and handed to the next objects. ``api_url`` replaces the scheme and host of
every entry of the exchange's ``urls['api']`` and keeps their paths, so a local fake
server that speaks the exchange's REST format can answer in tests.
"""

from __future__ import annotations

import re
import ssl
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import certifi

from hilo.packs.trading_mentor.market.base import MarketError, Quote

MARKETS_TTL = 3600.0  # new listings show up within the hour

_NAMES = {
    "BITCOIN": "BTC", "ETHEREUM": "ETH", "ETHER": "ETH", "SOLANA": "SOL", "CARDANO": "ADA",
    "RIPPLE": "XRP", "DOGECOIN": "DOGE", "LITECOIN": "LTC", "POLKADOT": "DOT", "TRON": "TRX",
    "AVALANCHE": "AVAX", "CHAINLINK": "LINK", "SHIBA": "SHIB", "TONCOIN": "TON", "BINANCE COIN": "BNB",
    "TETHER": "USDT", "POLYGON": "POL", "STELLAR": "XLM", "MONERO": "XMR", "UNISWAP": "UNI",
}
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "BTC", "ETH", "BNB", "EUR", "USD", "TRY", "BRL")
_CODE = re.compile(r"^[A-Z0-9]{2,12}$")


def parse_crypto_symbol(text: str, default_quote: str = "USDT") -> str:
    """ "btc", "Bitcoin", "BTCUSDT", "btc-usdt", "BTC/EUR" -> "BTC/USDT" style symbols."""
    raw = " ".join(str(text).upper().split())
    raw = _NAMES.get(raw, raw)
    parts = [p for p in re.split(r"[/\-_: ]+", raw) if p]
    if len(parts) == 1:
        (code,) = parts
        quote = next((q for q in _QUOTES if code.endswith(q) and len(code) - len(q) >= 3), None)
        parts = [code[: -len(quote)], quote] if quote else [code, default_quote.upper()]
    parts = [_NAMES.get(p, p) for p in parts]
    if len(parts) != 2 or not all(_CODE.match(p) for p in parts) or parts[0] == parts[1]:
        raise MarketError(
            f"'{text}' no es un símbolo de criptomoneda válido (ejemplos: BTC, ETH, BTC/USDT).", "invalid"
        )
    return f"{parts[0]}/{parts[1]}"


def _rehost(urls: Any, base: str) -> Any:
    if isinstance(urls, dict):
        return {k: _rehost(v, base) for k, v in urls.items()}
    if isinstance(urls, str) and urls.startswith("http"):
        return base.rstrip("/") + urlsplit(urls).path
    return urls


class CcxtPrices:
    def __init__(self, exchange: str = "binance", api_url: str | None = None, timeout: float = 10.0):
        import ccxt.async_support as ccxt  # 1.4 s to import: only when prices are asked for

        if exchange not in ccxt.exchanges:
            raise ValueError(f"HILO_CRYPTO_EXCHANGE: ccxt has no exchange '{exchange}'")
        self._ccxt = ccxt
        self.exchange_id = exchange
        self.api_url = api_url
        self.timeout = timeout
        self._markets: tuple[float, dict, dict] | None = None
        self.source = getattr(ccxt, exchange)().name
        self._ssl = ssl.create_default_context(cafile=certifi.where())

    def _new_exchange(self):
        options = {"fetchMarkets": {"types": ["spot"]}} if self.exchange_id.startswith("binance") else {}
        exchange = getattr(self._ccxt, self.exchange_id)(
            # Its rate limiter is per object and objects live for one request: the price cache is
            # what keeps the request rate low. ccxt sleeps timeout_on_exit (250 ms) in close() so
            # that a closing event loop does not cut TLS shutdowns short; hilo's loop lives on.
            {"timeout": int(self.timeout * 1000), "enableRateLimit": False, "timeout_on_exit": 0,
             "options": options}
        )
        exchange.ssl_context = self._ssl  # building one costs ~40 ms
        if self.api_url:
            exchange.urls["api"] = _rehost(exchange.urls["api"], self.api_url)
        return exchange

    async def _ensure_markets(self, exchange) -> None:
        if self._markets and time.monotonic() - self._markets[0] < MARKETS_TTL:
            exchange.set_markets(self._markets[1], self._markets[2])
            return
        await exchange.load_markets()
        self._markets = (time.monotonic(), exchange.markets, exchange.currencies)

    async def quote(self, symbol: str) -> Quote:
        ccxt = self._ccxt
        exchange = self._new_exchange()
        try:
            await self._ensure_markets(exchange)
            if symbol not in exchange.markets:
                raise MarketError(f"{self.source} no lista el par {symbol}.", "not_found", symbol)
            ticker = await exchange.fetch_ticker(symbol)
        except ccxt.BadSymbol:
            raise MarketError(f"{self.source} no lista el par {symbol}.", "not_found", symbol) from None
        except ccxt.BaseError as exc:
            raise MarketError(
                f"No pude consultar {self.source} ({type(exc).__name__}: {exc}); inténtalo de nuevo en un momento.",
                symbol=symbol,
            ) from None
        finally:
            await exchange.close()
        price = ticker.get("last") or ticker.get("close")
        if price is None:
            raise MarketError(f"{self.source} no devolvió precio para {symbol}.", symbol=symbol)
        stamp = ticker.get("timestamp")
        when = datetime.fromtimestamp(stamp / 1000, UTC) if stamp else datetime.now(UTC)
        base, quote = symbol.split("/")
        return Quote(
            symbol=symbol, base=base, quote=quote, price=float(price), source=self.source,
            quoted_at=when.isoformat(timespec="seconds").replace("+00:00", "Z"),
            change_24h_pct=ticker.get("percentage"), high_24h=ticker.get("high"), low_24h=ticker.get("low"),
        )
