"""Real local HTTP servers that speak Binance's spot REST API and Frankfurter's rates API.

    with FakeBinance() as binance, FakeFrankfurter() as ecb:
        binance.set_price("BTC/USDT", 97000.5, change_pct=1.25)
        ecb.set_rate("USD", 1.05)                      # EUR-based, like the ECB publishes
        settings = Settings(crypto_api_url=binance.url, forex_api_url=ecb.url, ...)
        ...
        assert binance.count("/api/v3/ticker/24hr") == 1
        binance.fail(500, times=2)                     # the next two requests answer HTTP 500

Binance: ``GET /api/v3/exchangeInfo`` (what ccxt loads its markets from), ``/api/v3/ticker/24hr``,
``/api/v3/ticker/price``, ``/api/v3/ping``, ``/api/v3/time``; an unknown symbol answers
HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}`` as Binance does.
Frankfurter: ``GET /latest?from=EUR&to=USD`` and ``/currencies``; cross rates are computed
from the EUR table; an unknown currency answers HTTP 404 ``{"message": "not found"}``.
Every request is recorded in ``requests`` as ``(method, path, query dict)``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hilo.testing.http import QuietHandler, QuietServer

__all__ = ["FakeBinance", "FakeFrankfurter"]


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        owner: _FakeServer = self.server.owner  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, body = owner._handle(parts.path, query)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _FakeServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._failures: list[tuple[int, Any]] = []
        self.delay = 0.0
        self._lock = threading.Lock()
        self._httpd = QuietServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def count(self, path: str | None = None) -> int:
        """Requests received (to ``path`` only, when given)."""
        return sum(1 for _, p, _ in self.requests if path is None or p == path)

    def fail(self, status: int = 500, body: Any = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` and ``body``."""
        with self._lock:
            self._failures.extend([(status, body if body is not None else {"msg": "error"})] * times)

    def _handle(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(("GET", path, query))
            failure = self._failures.pop(0) if self._failures else None
        if self.delay:
            time.sleep(self.delay)
        if failure:
            return failure
        return self.route(path, query)

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        raise NotImplementedError

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeBinance(_FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.tickers: dict[str, dict[str, Any]] = {}
        for symbol, price in {"BTC/USDT": 97000.5, "ETH/USDT": 3400.25, "SOL/USDT": 182.4,
                              "ETH/BTC": 0.03505, "BTC/EUR": 92500.0}.items():
            self.set_price(symbol, price)

    def set_price(self, symbol: str, price: float, change_pct: float = 0.0,
                  close_time_ms: int | None = None) -> None:
        base, quote = symbol.upper().split("/")
        self.tickers[base + quote] = {"base": base, "quote": quote, "price": price,
                                      "change_pct": change_pct, "close_time": close_time_ms}

    def _symbol_info(self, sid: str, t: dict[str, Any]) -> dict[str, Any]:
        return {
            "symbol": sid, "status": "TRADING", "baseAsset": t["base"], "baseAssetPrecision": 8,
            "quoteAsset": t["quote"], "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000000.00000000",
                 "tickSize": "0.00000001"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
                 "stepSize": "0.00001000"},
            ],
            "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def _ticker(self, sid: str, t: dict[str, Any]) -> dict[str, Any]:
        price, pct = t["price"], t["change_pct"]
        close = t["close_time"] or int(time.time() * 1000)
        open_price = price / (1 + pct / 100)
        f = "{:.8f}".format
        return {
            "symbol": sid, "priceChange": f(price - open_price), "priceChangePercent": f"{pct:.3f}",
            "weightedAvgPrice": f(price), "prevClosePrice": f(open_price), "lastPrice": f(price),
            "lastQty": "0.01000000", "bidPrice": f(price * 0.9999), "bidQty": "1.00000000",
            "askPrice": f(price * 1.0001), "askQty": "1.00000000", "openPrice": f(open_price),
            "highPrice": f(max(price, open_price) * 1.01), "lowPrice": f(min(price, open_price) * 0.99),
            "volume": "1234.50000000", "quoteVolume": f(1234.5 * price), "openTime": close - 86_400_000,
            "closeTime": close, "firstId": 1, "lastId": 1000, "count": 1000,
        }

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        now = int(time.time() * 1000)
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": now}
        if path == "/api/v3/exchangeInfo":
            return 200, {"timezone": "UTC", "serverTime": now, "rateLimits": [], "exchangeFilters": [],
                         "symbols": [self._symbol_info(s, t) for s, t in self.tickers.items()]}
        if path in ("/api/v3/ticker/24hr", "/api/v3/ticker/price"):
            sid = query.get("symbol", "")
            t = self.tickers.get(sid)
            if t is None:
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            if path.endswith("price"):
                return 200, {"symbol": sid, "price": f"{t['price']:.8f}"}
            return 200, self._ticker(sid, t)
        return 404, {"code": -1, "msg": "Not found."}


class FakeFrankfurter(_FakeServer):
    def __init__(self, date: str = "2026-11-23") -> None:
        super().__init__()
        self.date = date
        self.rates: dict[str, float] = {
            "USD": 1.05, "GBP": 0.83, "JPY": 161.5, "CHF": 0.94, "MXN": 21.3, "BRL": 6.1,
            "CAD": 1.47, "AUD": 1.61, "CNY": 7.6, "INR": 88.7,
        }

    def set_rate(self, currency: str, per_euro: float) -> None:
        self.rates[currency.upper()] = per_euro

    def _rate(self, code: str) -> float | None:
        return 1.0 if code == "EUR" else self.rates.get(code)

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == "/currencies":
            return 200, {code: code for code in sorted({"EUR", *self.rates})}
        if path != "/latest":
            return 404, {"message": "not found"}
        base = query.get("from", "EUR").upper()
        targets = [c for c in query.get("to", ",".join(self.rates)).upper().split(",") if c]
        amount = float(query.get("amount", 1))
        if self._rate(base) is None or any(self._rate(c) is None for c in targets):
            return 404, {"message": "not found"}
        rates = {c: round(amount * self._rate(c) / self._rate(base), 5) for c in targets if c != base}
        return 200, {"amount": amount, "base": base, "date": self.date, "rates": rates}
