"""Real local HTTP servers that speak Binance's spot REST API and Frankfurter's rates API.

    with FakeBinance() as binance, FakeFrankfurter() as ecb:
        binance.set_price("BTC/USDT", 97000.5, change_pct=1.25)
        binance.set_bars("BTC/USDT", "1h", frame)      # a bar frame (hilo.packs.council.bars)
        ecb.set_rate("USD", 1.05)                      # EUR-based, like the ECB publishes
        settings = Settings(crypto_api_url=binance.url, forex_api_url=ecb.url, ...)
        ...
        assert binance.count("/api/v3/ticker/24hr") == 1
        assert binance.orders == []                    # no order ever reached the exchange
        binance.fail(500, times=2)                     # the next two requests answer HTTP 500

Binance, public: ``GET /api/v3/exchangeInfo`` (what ccxt loads its markets from),
``/api/v3/ticker/24hr``, ``/api/v3/ticker/price``, ``/api/v3/ping``, ``/api/v3/time``,
``/api/v3/klines`` (the bars given to :meth:`FakeBinance.set_bars`, with Binance's
``startTime``/``endTime``/``limit`` rules: default 500, at most 1000 a request) and
``/api/v3/depth`` (the book given to :meth:`FakeBinance.set_order_book`, or one generated around
the last price); an unknown symbol answers HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}``
as Binance does.
Binance, signed: ``POST /api/v3/order`` (and ``/order/test``), ``GET``/``DELETE /api/v3/order``
and ``GET /api/v3/account`` check what the real exchange checks: the ``X-MBX-APIKEY`` header,
the HMAC-SHA256 ``signature`` of the query string followed by the body, keyed with the secret,
and a ``timestamp`` inside ``recvWindow``. Market orders fill at the ticker's ask (buy) or bid
(sell) against :attr:`FakeBinance.balances`; every order attempt, refused or not, is kept in
:attr:`FakeBinance.orders`, so that a test can prove none was sent.
Frankfurter: ``GET /latest?from=EUR&to=USD`` and ``/currencies``; cross rates are computed
from the EUR table; an unknown currency answers HTTP 404 ``{"message": "not found"}``.
Every request is recorded in ``requests`` as ``(method, path, query dict)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hilo.testing.http import QuietHandler, QuietServer

__all__ = ["FakeBinance", "FakeFrankfurter"]


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]  # the query string's parameters
    raw_query: str = ""
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    @property
    def params(self) -> dict[str, str]:
        """Query and form body together; the query string wins, as on Binance."""
        return {**dict(parse_qsl(self.body, keep_blank_values=True)), **self.query}


class _Handler(QuietHandler):
    def _serve(self) -> None:
        owner: _FakeServer = self.server.owner  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        request = _Request(self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                           parts.query, body, {k.lower(): v for k, v in self.headers.items()})
        status, payload = owner._handle(request)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve  # noqa: N815


class _FakeServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._failures: list[tuple[int, Any]] = []
        self.delay = 0.0
        self._lock = threading.RLock()
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

    def _handle(self, request: _Request) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((request.method, request.path, request.query))
            failure = self._failures.pop(0) if self._failures else None
        if self.delay:
            time.sleep(self.delay)
        if failure:
            return failure
        with self._lock:
            return self.route(request)

    def route(self, request: _Request) -> tuple[int, Any]:
        raise NotImplementedError

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# Binance's kline intervals (1M: months are not fixed, the fake uses 30 days)
_INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                 "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                 "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
                 "3d": 259_200_000, "1w": 604_800_000, "1M": 2_592_000_000}
_STEP = 0.00001  # LOT_SIZE stepSize and minQty of every fake market
_FEE = 0.001  # taker commission, charged in the asset received


def _f(x: float) -> str:
    return f"{x:.8f}"


def _error(status: int, code: int, msg: str) -> tuple[int, Any]:
    return status, {"code": code, "msg": msg}


class FakeBinance(_FakeServer):
    """Binance spot on loopback. ``api_key`` and ``secret`` are the only credentials it accepts."""

    def __init__(self, api_key: str = "fake-binance-key", secret: str = "fake-binance-secret") -> None:
        super().__init__()
        self.api_key, self.secret = api_key, secret
        self.tickers: dict[str, dict[str, Any]] = {}
        self.klines: dict[tuple[str, str], list[list[Any]]] = {}  # (BTCUSDT, 1h) -> kline rows
        self.books: dict[str, dict[str, list[list[float]]]] = {}
        self.balances: dict[str, list[float]] = {"USDT": [10_000.0, 0.0]}  # asset -> [free, locked]
        self.orders: list[dict[str, Any]] = []  # every order attempt, in arrival order
        self._book_id = 1_000
        for symbol, price in {"BTC/USDT": 97000.5, "ETH/USDT": 3400.25, "SOL/USDT": 182.4,
                              "ETH/BTC": 0.03505, "BTC/EUR": 92500.0}.items():
            self.set_price(symbol, price)

    # --- what a test sets ------------------------------------------------------------------

    def set_price(self, symbol: str, price: float, change_pct: float = 0.0,
                  close_time_ms: int | None = None) -> None:
        base, quote = symbol.upper().split("/")
        with self._lock:
            self.tickers[base + quote] = {"base": base, "quote": quote, "price": price,
                                          "change_pct": change_pct, "close_time": close_time_ms}

    def set_bars(self, symbol: str, interval: str, frame: Any) -> None:
        """Serve ``frame`` (a bar frame: UTC DatetimeIndex, open/high/low/close/volume) as the
        klines of ``symbol`` at ``interval``; the symbol is listed and its price is the last close."""
        if interval not in _INTERVALS_MS:
            raise ValueError(f"Binance has no interval {interval!r}")
        step = _INTERVALS_MS[interval]
        rows = []
        for ts, o, h, low, c, v in zip(frame.index, frame["open"], frame["high"], frame["low"],
                                       frame["close"], frame["volume"], strict=True):
            start = round(ts.timestamp() * 1000)
            rows.append([start, _f(o), _f(h), _f(low), _f(c), _f(v), start + step - 1, _f(v * c),
                         100, _f(v / 2), _f(v * c / 2), "0"])
        sid = symbol.upper().replace("/", "")
        if sid not in self.tickers or rows:
            self.set_price(symbol, float(frame["close"].iloc[-1]) if rows else 1.0)
        with self._lock:
            self.klines[(sid, interval)] = rows

    def set_order_book(self, symbol: str, bids: list[list[float]], asks: list[list[float]]) -> None:
        """``bids`` and ``asks`` as ``[[price, quantity], ...]``, best first."""
        with self._lock:
            self.books[symbol.upper().replace("/", "")] = {"bids": [list(b) for b in bids],
                                                          "asks": [list(a) for a in asks]}

    def set_balance(self, asset: str, free: float, locked: float = 0.0) -> None:
        with self._lock:
            self.balances[asset.upper()] = [float(free), float(locked)]

    # --- public endpoints ------------------------------------------------------------------

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
                {"filterType": "LOT_SIZE", "minQty": _f(_STEP), "maxQty": "9000.00000000", "stepSize": _f(_STEP)},
            ],
            "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def _ticker(self, sid: str, t: dict[str, Any]) -> dict[str, Any]:
        price, pct = t["price"], t["change_pct"]
        close = t["close_time"] or int(time.time() * 1000)
        open_price = price / (1 + pct / 100)
        return {
            "symbol": sid, "priceChange": _f(price - open_price), "priceChangePercent": f"{pct:.3f}",
            "weightedAvgPrice": _f(price), "prevClosePrice": _f(open_price), "lastPrice": _f(price),
            "lastQty": "0.01000000", "bidPrice": _f(price * 0.9999), "bidQty": "1.00000000",
            "askPrice": _f(price * 1.0001), "askQty": "1.00000000", "openPrice": _f(open_price),
            "highPrice": _f(max(price, open_price) * 1.01), "lowPrice": _f(min(price, open_price) * 0.99),
            "volume": "1234.50000000", "quoteVolume": _f(1234.5 * price), "openTime": close - 86_400_000,
            "closeTime": close, "firstId": 1, "lastId": 1000, "count": 1000,
        }

    def _klines(self, q: dict[str, str]) -> tuple[int, Any]:
        interval = q.get("interval", "")
        if interval not in _INTERVALS_MS:
            return _error(400, -1120, "Invalid interval.")
        try:
            limit = min(max(int(q.get("limit", 500)), 1), 1000)
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
        except ValueError:
            return _error(400, -1100, "Illegal characters found in a parameter.")
        rows = self.klines.get((q["symbol"], interval), [])
        rows = [r for r in rows if (start is None or r[0] >= start) and (end is None or r[0] <= end)]
        # with startTime: the oldest from it; otherwise the most recent (up to endTime)
        return 200, rows[:limit] if start is not None else rows[-limit:]

    def _book(self, sid: str, t: dict[str, Any], depth: int) -> dict[str, list[list[float]]]:
        if sid in self.books:
            return self.books[sid]
        price = t["price"]  # a generated book: 1 bp steps around the last price, growing sizes
        return {"bids": [[price * (1 - 0.0001 * (i + 1)), 0.5 + 0.25 * i] for i in range(depth)],
                "asks": [[price * (1 + 0.0001 * (i + 1)), 0.5 + 0.25 * i] for i in range(depth)]}

    def _depth(self, sid: str, t: dict[str, Any], q: dict[str, str]) -> tuple[int, Any]:
        try:
            depth = min(max(int(q.get("limit", 100)), 1), 5000)
        except ValueError:
            return _error(400, -1100, "Illegal characters found in a parameter.")
        book = self._book(sid, t, depth)
        self._book_id += 1
        return 200, {"lastUpdateId": self._book_id,
                     "bids": [[_f(p), _f(v)] for p, v in book["bids"][:depth]],
                     "asks": [[_f(p), _f(v)] for p, v in book["asks"][:depth]]}

    # --- signed endpoints ------------------------------------------------------------------

    def _check_signed(self, r: _Request) -> tuple[int, Any] | None:
        """Binance's checks: the key header, then the signature over query + body, then time."""
        key = r.headers.get("x-mbx-apikey")
        if not key:
            return _error(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key, self.api_key):
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature, unsigned = None, []
        for part in (r.raw_query, r.body):
            pieces = [p for p in part.split("&") if p]
            kept = [p for p in pieces if not p.startswith("signature=")]
            if len(kept) != len(pieces):
                signature = next(p for p in pieces if p.startswith("signature="))[len("signature="):]
            unsigned.append("&".join(kept))
        if not signature:
            return _error(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        expected = hmac.new(self.secret.encode(), "".join(unsigned).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.lower(), expected):
            return _error(400, -1022, "Signature for this request is not valid.")
        params = r.params
        try:
            stamp = int(params["timestamp"])
            window = int(params.get("recvWindow", 5000))
        except (KeyError, ValueError):
            return _error(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        now = int(time.time() * 1000)
        if not 0 < window <= 60_000:
            return _error(400, -1131, "recvWindow must be less than 60000")
        if stamp > now + 1000 or now - stamp > window:
            return _error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    def _account(self) -> dict[str, Any]:
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False,
                "updateTime": int(time.time() * 1000), "accountType": "SPOT", "permissions": ["SPOT"],
                "balances": [{"asset": a, "free": _f(f), "locked": _f(lk)} for a, (f, lk) in self.balances.items()],
                "uid": 1}

    def _new_order(self, r: _Request, test: bool) -> tuple[int, Any]:
        p = r.params
        sid = p.get("symbol", "")
        t = self.tickers.get(sid)
        if t is None:
            return _error(400, -1121, "Invalid symbol.")
        side, kind = p.get("side", "").upper(), p.get("type", "").upper()
        if side not in ("BUY", "SELL"):
            return _error(400, -1100, "Illegal characters found in parameter 'side'.")
        if kind not in ("MARKET", "LIMIT"):
            return _error(400, -1116, "Invalid orderType.")
        ask, bid = t["price"] * 1.0001, t["price"] * 0.9999
        fill_price = ask if side == "BUY" else bid
        try:
            if kind == "MARKET" and "quoteOrderQty" in p and "quantity" not in p:
                qty = float(p["quoteOrderQty"]) / fill_price
            else:
                qty = float(p["quantity"])
            limit = float(p["price"]) if kind == "LIMIT" else None
        except (KeyError, ValueError):
            return _error(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        qty = math.floor(qty / _STEP + 1e-9) * _STEP
        if qty < _STEP:
            return _error(400, -1013, "Filter failure: LOT_SIZE")
        if test:
            return 200, {}
        marketable = limit is None or (limit >= ask if side == "BUY" else limit <= bid)
        base, quote = self.balances.setdefault(t["base"], [0.0, 0.0]), self.balances.setdefault(t["quote"], [0.0, 0.0])
        need = qty * (fill_price if marketable else limit) if side == "BUY" else qty
        if (quote if side == "BUY" else base)[0] + 1e-12 < need:
            return _error(400, -2010, "Account has insufficient balance for requested action.")
        now = int(time.time() * 1000)
        order = {"symbol": sid, "orderId": len(self.orders), "orderListId": -1,
                 "clientOrderId": p.get("newClientOrderId") or f"fake{len(self.orders)}", "transactTime": now,
                 "price": _f(limit or 0.0), "origQty": _f(qty), "executedQty": _f(0.0),
                 "cummulativeQuoteQty": _f(0.0), "status": "NEW", "timeInForce": p.get("timeInForce", "GTC"),
                 "type": kind, "side": side, "workingTime": now, "fills": [], "selfTradePreventionMode": "NONE"}
        if not marketable:  # rests on the book: the funds are locked until it is cancelled
            (quote if side == "BUY" else base)[0] -= need
            (quote if side == "BUY" else base)[1] += need
            return 200, order
        cost = qty * fill_price
        if side == "BUY":
            quote[0] -= cost
            fee, fee_asset = qty * _FEE, t["base"]
            base[0] += qty - fee
        else:
            base[0] -= qty
            fee, fee_asset = cost * _FEE, t["quote"]
            quote[0] += cost - fee
        order.update(executedQty=_f(qty), cummulativeQuoteQty=_f(cost), status="FILLED",
                     fills=[{"price": _f(fill_price), "qty": _f(qty), "commission": _f(fee),
                             "commissionAsset": fee_asset, "tradeId": len(self.orders)}])
        return 200, order

    def _order(self, r: _Request) -> tuple[int, Any]:
        """The order endpoints; every attempt is recorded whatever the answer."""
        attempt: dict[str, Any] = {"method": r.method, "path": r.path,
                                   "params": {k: v for k, v in r.params.items() if k != "signature"},
                                   "time": time.time()}
        if r.method == "POST":
            self.orders.append(attempt)
        answer = self._check_signed(r)
        if answer is None:
            if r.method == "POST":
                answer = self._new_order(r, test=r.path.endswith("/test"))
            else:
                answer = self._existing_order(r)
        attempt.update(status=answer[0], accepted=answer[0] == 200, response=answer[1])
        return answer

    def _existing_order(self, r: _Request) -> tuple[int, Any]:
        p = r.params
        placed = [o["response"] for o in self.orders if o.get("accepted") and "orderId" in o.get("response", {})]
        match = next((o for o in placed if o["symbol"] == p.get("symbol")
                      and (str(o["orderId"]) == p.get("orderId") or o["clientOrderId"] == p.get("origClientOrderId"))),
                     None)
        if match is None:
            return _error(400, -2013 if r.method == "GET" else -2011,
                          "Order does not exist." if r.method == "GET" else "Unknown order sent.")
        if r.method == "DELETE":
            if match["status"] != "NEW":
                return _error(400, -2011, "Unknown order sent.")
            t = self.tickers[match["symbol"]]
            held = float(match["origQty"]) * (float(match["price"]) if match["side"] == "BUY" else 1.0)
            wallet = self.balances[t["quote"] if match["side"] == "BUY" else t["base"]]
            wallet[0], wallet[1] = wallet[0] + held, wallet[1] - held
            match["status"] = "CANCELED"
        return 200, {k: v for k, v in match.items() if k != "fills"}

    def route(self, r: _Request) -> tuple[int, Any]:
        path, q = r.path, r.query
        now = int(time.time() * 1000)
        if path in ("/api/v3/order", "/api/v3/order/test"):
            return self._order(r)
        if path == "/api/v3/account":
            return self._check_signed(r) or (200, self._account())
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": now}
        if path == "/api/v3/exchangeInfo":
            return 200, {"timezone": "UTC", "serverTime": now, "rateLimits": [], "exchangeFilters": [],
                         "symbols": [self._symbol_info(s, t) for s, t in self.tickers.items()]}
        if path in ("/api/v3/ticker/24hr", "/api/v3/ticker/price", "/api/v3/klines", "/api/v3/depth"):
            sid = q.get("symbol", "")
            t = self.tickers.get(sid)
            if t is None:
                return _error(400, -1121, "Invalid symbol.")
            if path.endswith("klines"):
                return self._klines(q)
            if path.endswith("depth"):
                return self._depth(sid, t, q)
            if path.endswith("price"):
                return 200, {"symbol": sid, "price": _f(t["price"])}
            return 200, self._ticker(sid, t)
        return _error(404, -1, "Not found.")


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

    def route(self, request: _Request) -> tuple[int, Any]:
        path, query = request.path, request.query
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
