"""Crypto prices from any ccxt exchange (Binance by default), public endpoints only.

One ccxt exchange object is made per request and closed after it (its HTTP session is
tied to the event loop that opened it); the exchange's market list, the costly part, is
loaded once and handed to the next objects. Objects are built by
:func:`hilo.kit.ccxt_client.new_exchange`, whose ``api_url`` moves every API URL onto a
local fake server that speaks the exchange's REST format (tests).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hilo.kit.ccxt_client import MARKETS_TTL, MarketsCache, ccxt_module, new_exchange
from hilo.packs.trading_mentor.market.base import MarketError, Quote

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


class CcxtPrices:
    def __init__(self, exchange: str = "binance", api_url: str | None = None, timeout: float = 10.0):
        ccxt = ccxt_module()  # 1.4 s to import: only when prices are asked for
        if exchange not in ccxt.exchanges:
            raise ValueError(f"HILO_CRYPTO_EXCHANGE: ccxt has no exchange '{exchange}'")
        self._ccxt = ccxt
        self.exchange_id = exchange
        self.api_url = api_url
        self.timeout = timeout
        self._markets = MarketsCache(MARKETS_TTL)
        self.source = getattr(ccxt, exchange)().name

    def _new_exchange(self):
        # Its rate limiter is per object and objects live for one request: the price cache is
        # what keeps the request rate low.
        return new_exchange(self.exchange_id, api_url=self.api_url, timeout=self.timeout)

    async def _ensure_markets(self, exchange) -> None:
        await self._markets.ensure(exchange)

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
