"""Forex reference rates from a Frankfurter server (the European Central Bank's daily rates).

``GET {base_url}/latest?from=EUR&to=USD`` answers
``{"amount": 1.0, "base": "EUR", "date": "2026-11-23", "rates": {"USD": 1.05}}``; the ECB
publishes once per working day (about 16:00 CET), so the quote time is that date.
"""

from __future__ import annotations

import re

import httpx

from hilo.packs.trading_mentor.market.base import MarketError, Quote

SOURCE = "Frankfurter (ECB)"

_NAMES = {
    "EURO": "EUR", "EUROS": "EUR", "DOLAR": "USD", "DÓLAR": "USD", "DOLARES": "USD", "DÓLARES": "USD",
    "DOLLAR": "USD", "LIBRA": "GBP", "POUND": "GBP", "YEN": "JPY", "FRANCO": "CHF", "FRANC": "CHF",
    "YUAN": "CNY", "REAL": "BRL", "PESO": "MXN", "RUPIA": "INR", "RUPEE": "INR", "WON": "KRW",
}
_CODE = re.compile(r"^[A-Z]{3}$")


def parse_forex_pair(text: str) -> str:
    """ "eurusd", "EUR-USD", "eur usd", "euro dólar" -> "EUR/USD"."""
    raw = str(text).upper().strip()
    parts = [p for p in re.split(r"[/\-_: ]+", raw) if p]
    if len(parts) == 1 and len(parts[0]) == 6:
        parts = [parts[0][:3], parts[0][3:]]
    parts = [_NAMES.get(p, p) for p in parts]
    if len(parts) != 2 or not all(_CODE.match(p) for p in parts) or parts[0] == parts[1]:
        raise MarketError(
            f"'{text}' no es un par de divisas válido (ejemplos: EUR/USD, GBP/JPY, USD/MXN).", "invalid"
        )
    return f"{parts[0]}/{parts[1]}"


class FrankfurterPrices:
    source = SOURCE

    def __init__(self, base_url: str = "https://api.frankfurter.app", timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def quote(self, symbol: str) -> Quote:
        base, quote = symbol.split("/")
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
                response = await client.get(f"{self.base_url}/latest", params={"from": base, "to": quote})
        except httpx.HTTPError as exc:
            raise MarketError(f"No pude consultar {SOURCE} ({type(exc).__name__}: {exc}).", symbol=symbol) from None
        if response.status_code in (404, 422):
            raise MarketError(f"{SOURCE} no publica el par {symbol}.", "not_found", symbol)
        try:
            response.raise_for_status()
            data = response.json()
            rate = float(data["rates"][quote]) / float(data.get("amount") or 1)
            date = str(data["date"])
        except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as exc:
            raise MarketError(f"{SOURCE} respondió de forma inesperada ({type(exc).__name__}).", symbol=symbol) from None
        return Quote(symbol=symbol, base=base, quote=quote, price=rate, source=SOURCE, quoted_at=date)
