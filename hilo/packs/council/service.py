"""The council on the live path: one service behind the routes, the WebSocket and the schedules.

A decision: read the closed bars (stored ones, topped up from the exchange), build the frame
(indicators, the stored ensemble's prediction), take the user's portfolio, limits, weights,
threshold and rules, and let the council decide (on models where the roles' assistants have
one, on rules otherwise). The decision is stored with its votes, rounds, reasoning and the
exact inputs it saw, audited, and then executed on the paper broker, held, or left pending
for the user, who approves or rejects it. Every step is published on the bus (the WebSocket
and the webhooks read it) under the key ``council:<user>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.kit.errors import bad_request, not_found
from hilo.kit.ids import new_id, now
from hilo.kit.observe import metrics
from hilo.packs.council import audit, market_store
from hilo.packs.council.broker import (
    FILLED,
    LIVE,
    PAPER,
    PARTIALLY_FILLED,
    LiveTradingDisabled,
    OrderBook,
    OrderRequest,
    broker_for,
)
from hilo.packs.council.consensus import ESCALATE, EXECUTE, DeterministicCouncil, check_threshold
from hilo.packs.council.core import (
    BUY,
    ROLES,
    CouncilInputError,
    Decision,
    PortfolioState,
    RiskLimits,
    Snapshot,
    validate_weights,
)
from hilo.packs.council.exchange import CcxtExchange, MarketDataError
from hilo.packs.council.frame import MarketFrame
from hilo.packs.council.members import MODEL_ROLES, ModelCouncil, RoleAssistant
from hilo.packs.council.models import (
    APPROVED,
    EXECUTED,
    EXPIRED,
    FAILED,
    HELD,
    LOCAL_USER,
    PENDING,
    REJECTED,
    DecisionRow,
    OrderRow,
    Portfolio,
    Position,
    UserConfig,
)
from hilo.packs.council.sentiment import sentiment_source
from hilo.packs.council.settings import CouncilSettings

log = logging.getLogger("hilo.council")

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")
RULE_OPS = ("<", "<=", ">", ">=")
RULE_ACTIONS = ("BUY", "SELL", "HOLD", "ESCALATE")
MAX_RULES = 20
MAX_SYMBOLS = 10


def user_key(user_id: str | None) -> str:
    return user_id or LOCAL_USER


def bus_key(user: str) -> str:
    return f"council:{user}"


def _d(x: float) -> Decimal:
    return Decimal(repr(round(float(x), 10)))


# --- validation of the user's config -------------------------------------------------------

def check_symbol(value: Any) -> str:
    text = str(value or "").strip().upper()
    base, sep, quote = text.partition("/")
    if not sep or not base.isalnum() or not quote.isalnum() or len(text) > 20:
        raise CouncilInputError(f"symbol {str(value)[:40]!r} must look like BTC/USDT (base/quote)")
    return text


def check_timeframe(value: Any) -> str:
    if value not in TIMEFRAMES:
        raise CouncilInputError(f"timeframe must be one of {', '.join(TIMEFRAMES)}")
    return str(value)


def check_rules(rules: Any) -> list[dict[str, Any]]:
    """``custom_rules``: ``[{"indicator": "rsi_14", "op": "<", "value": 25, "action": "BUY",
    "note": "..."}]``; the first rule that holds leads the strategist (ESCALATE asks the user)."""
    from hilo.packs.council.indicators import NAMES

    if rules is None:
        return []
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise CouncilInputError(f"custom_rules must be a list of at most {MAX_RULES} rules")
    out = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise CouncilInputError(f"custom_rules[{i}] must be an object")
        name = rule.get("indicator")
        if name != "price" and name not in NAMES:
            raise CouncilInputError(f"custom_rules[{i}].indicator {str(name)[:40]!r} is not known "
                                    f"(price or one of: {', '.join(NAMES)})")
        if rule.get("op") not in RULE_OPS:
            raise CouncilInputError(f"custom_rules[{i}].op must be one of {' '.join(RULE_OPS)}")
        try:
            value = float(rule.get("value"))
        except (TypeError, ValueError):
            raise CouncilInputError(f"custom_rules[{i}].value must be a number") from None
        if not math.isfinite(value):
            raise CouncilInputError(f"custom_rules[{i}].value must be a finite number")
        action = str(rule.get("action", "")).upper()
        if action not in RULE_ACTIONS:
            raise CouncilInputError(f"custom_rules[{i}].action must be one of {', '.join(RULE_ACTIONS)}")
        note = rule.get("note")
        out.append({"indicator": name, "op": rule["op"], "value": value, "action": action,
                    **({"note": str(note)[:200]} if note else {})})
    return out


# --- JSON views ----------------------------------------------------------------------------

def config_json(row: UserConfig) -> dict[str, Any]:
    return {"user_id": row.user_id, "assistant_weights": validate_weights(row.assistant_weights),
            "custom_rules": row.custom_rules, "risk_limits": RiskLimits.from_dict(row.risk_limits).to_dict(),
            "threshold": row.threshold, "symbols": row.symbols, "timeframe": row.timeframe,
            "auto_execute": row.auto_execute, "live_trading": row.live_trading,
            "created_at": row.created_at, "updated_at": row.updated_at}


def decision_json(row: DecisionRow, orders: list[OrderRow] | None = None) -> dict[str, Any]:
    out = {"id": row.id, "object": "council.decision", "user_id": row.user_id, "symbol": row.symbol,
           "timeframe": row.timeframe, "bar_time": row.bar_time, "action": row.action,
           "confidence": row.confidence, "consensus_reached": row.consensus_reached, "outcome": row.outcome,
           "status": row.status, "size_pct": row.size_pct, "votes": row.votes, "scores": row.scores,
           "rounds": row.rounds, "reasoning": row.reasoning.get("summary"), "model_calls": row.model_calls,
           "inputs_hash": row.inputs_hash, "created_at": row.created_at, "resolved_at": row.resolved_at,
           "resolution": row.resolution}
    if orders is not None:
        out["orders"] = [order_json(o) for o in orders]
    return out


def order_json(row: OrderRow) -> dict[str, Any]:
    return {"id": row.id, "object": "council.order", "decision_id": row.decision_id, "mode": row.mode,
            "exchange": row.exchange, "exchange_order_id": row.exchange_order_id, "symbol": row.symbol,
            "side": row.side, "type": row.type, "quantity": float(row.quantity),
            "filled_quantity": float(row.filled_quantity), "price": None if row.price is None else float(row.price),
            "fee": float(row.fee), "status": row.status, "detail": row.detail, "created_at": row.created_at,
            "executed_at": row.executed_at}


# --- snapshots stored with decisions (replay) ----------------------------------------------

def snapshot_json(s: Snapshot) -> dict[str, Any]:
    p = s.portfolio
    return {"symbol": s.symbol, "timeframe": s.timeframe, "index": s.index, "time": s.time.isoformat(),
            "price": s.price, "values": {k: (None if math.isnan(v) else v) for k, v in s.values.items()},
            "prediction": None if s.prediction is None else
            {k: (None if math.isnan(v) else v) for k, v in s.prediction.items()},
            "sentiment": s.sentiment, "limits": s.limits.to_dict(), "rules": s.rules,
            "portfolio": None if p is None else {"cash": p.cash, "quantity": p.quantity, "avg_price": p.avg_price,
                                                 "peak_equity": p.peak_equity,
                                                 "day_start_equity": p.day_start_equity}}


def snapshot_from_json(d: dict[str, Any]) -> Snapshot:
    nan = float("nan")
    p = d.get("portfolio")
    return Snapshot(symbol=d["symbol"], timeframe=d["timeframe"], index=int(d["index"]),
                    time=datetime.fromisoformat(d["time"]), price=float(d["price"]),
                    values={k: (nan if v is None else float(v)) for k, v in d["values"].items()},
                    prediction=None if d.get("prediction") is None else
                    {k: (nan if v is None else float(v)) for k, v in d["prediction"].items()},
                    sentiment=d.get("sentiment") or {}, limits=RiskLimits.from_dict(d.get("limits")),
                    rules=list(d.get("rules") or []),
                    portfolio=None if p is None else PortfolioState(**p))


def inputs_hash(snapshot_data: dict[str, Any], weights: dict[str, float], threshold: float,
                roles: dict[str, RoleAssistant]) -> str:
    models = {r: (a.model, a.uses_model, hashlib.sha256(a.instructions.encode()).hexdigest()[:16])
              for r, a in sorted(roles.items())}
    blob = json.dumps([snapshot_data, weights, threshold, models], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(slots=True)
class Prepared:
    frame: MarketFrame
    snapshot: Snapshot
    config: UserConfig
    model_version: int | None


class CouncilService:
    def __init__(self, state: Any, settings: CouncilSettings | None = None, exchange: Any = None):
        self.state = state
        self.db = state.db
        self.settings = settings or CouncilSettings()
        self._exchange = exchange
        self._sentiment = sentiment_source(self.settings.news_url)
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ parts
    @property
    def exchange(self):
        if self._exchange is None:
            s = self.settings
            self._exchange = CcxtExchange(s.exchange, api_url=s.exchange_url, timeout=s.exchange_timeout_s)
        return self._exchange

    @property
    def exchange_name(self) -> str:
        return getattr(self._exchange, "name", None) or self.settings.exchange

    def _lock(self, user: str) -> asyncio.Lock:
        return self._locks.setdefault(user, asyncio.Lock())

    async def roles(self) -> dict[str, RoleAssistant]:
        """Each role's assistant as it is now (an operator may have edited it through /v1)."""
        from hilo.assistants.models import Assistant

        ids = {role: self.state.pack_assistants.get(f"council/{role}") for role in ROLES}
        providers = self.state.providers
        out: dict[str, RoleAssistant] = {}
        async with self.db.sessionmaker() as session:
            rows = (await session.execute(select(Assistant).where(
                Assistant.id.in_([i for i in ids.values() if i])))).scalars().all()
        by_id = {r.id: r for r in rows}
        for role, assistant_id in ids.items():
            row = by_id.get(assistant_id)
            if row is None:
                continue
            mode = (row.metadata_ or {}).get("council_mode", "model" if role in MODEL_ROLES else "rules")
            provider, _name = providers.resolve(row.model)
            real = provider is not providers.guided  # the guided provider is "no model": rules answer
            out[role] = RoleAssistant(role, row.id, row.model, row.instructions or "", mode == "model" and real)
        return out

    # ------------------------------------------------------------------ config
    async def _config(self, session: AsyncSession, user: str) -> UserConfig:
        row = await session.get(UserConfig, user)
        if row is None:
            t = now()
            row = UserConfig(user_id=user, assistant_weights={}, custom_rules=[], risk_limits={}, threshold=0.5,
                             symbols=list(self.settings.symbols), timeframe=self.settings.timeframe,
                             auto_execute=True, live_trading=False, created_at=t, updated_at=t)
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                await session.rollback()
                row = await session.get(UserConfig, user)
        return row

    async def config(self, user: str) -> dict[str, Any]:
        async with self.db.sessionmaker() as session:
            row = await self._config(session, user)
            await session.commit()
            return config_json(row)

    async def update_config(self, user: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate every field before anything is written: a bad field changes nothing."""
        values: dict[str, Any] = {}
        if "assistant_weights" in changes:
            weights = changes["assistant_weights"] or {}
            validate_weights(weights)
            values["assistant_weights"] = {k: float(v) for k, v in weights.items()}
        if "risk_limits" in changes:
            values["risk_limits"] = RiskLimits.from_dict(changes["risk_limits"]).to_dict()
        if "custom_rules" in changes:
            values["custom_rules"] = check_rules(changes["custom_rules"])
        if "threshold" in changes:
            values["threshold"] = check_threshold(changes["threshold"])
        if "symbols" in changes:
            symbols = changes["symbols"]
            if not isinstance(symbols, list) or len(symbols) > MAX_SYMBOLS:
                raise CouncilInputError(f"symbols must be a list of at most {MAX_SYMBOLS} symbols")
            values["symbols"] = list(dict.fromkeys(check_symbol(s) for s in symbols))
        if "timeframe" in changes:
            values["timeframe"] = check_timeframe(changes["timeframe"])
        for flag in ("auto_execute", "live_trading"):
            if flag in changes:
                if not isinstance(changes[flag], bool):
                    raise CouncilInputError(f"{flag} must be true or false")
                values[flag] = changes[flag]
        if values.get("live_trading") and not self.settings.live_trading:
            raise CouncilInputError("live_trading needs the operator's switch HILO_COUNCIL_LIVE_TRADING=true; "
                                    "until then every order is paper")
        async with self.db.sessionmaker() as session:
            row = await self._config(session, user)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now()
            await audit.append(session, user, "config", None, True, [{"changed": sorted(values)}])
            await session.commit()
            return config_json(row)

    # ------------------------------------------------------------------ portfolio
    async def _portfolio(self, session: AsyncSession, user: str, mode: str = PAPER) -> Portfolio:
        exchange = "paper" if mode == PAPER else self.exchange_name
        row = (await session.execute(select(Portfolio).where(
            Portfolio.user_id == user, Portfolio.exchange == exchange))).scalar_one_or_none()
        if row is None:
            cash = _d(self.settings.starting_cash)
            row = Portfolio(user_id=user, exchange=exchange, currency=self.settings.currency, total_balance=cash,
                            available_balance=cash, locked_balance=Decimal(0), peak_equity=cash,
                            day=_today(), day_start_equity=cash, updated_at=now())
            session.add(row)
            await session.flush()
        return row

    async def _positions(self, session: AsyncSession, user: str, exchange: str) -> list[Position]:
        return list((await session.execute(select(Position).where(
            Position.user_id == user, Position.exchange == exchange).order_by(Position.symbol))).scalars())

    async def portfolio(self, user: str) -> dict[str, Any]:
        async with self.db.sessionmaker() as session:
            row = await self._portfolio(session, user)
            positions = await self._positions(session, user, row.exchange)
            await session.commit()
            value = sum(float(p.quantity) * float(p.current_price) for p in positions)
            equity = float(row.available_balance) + value
            return {"object": "council.portfolio", "user_id": user, "exchange": row.exchange, "mode": PAPER,
                    "currency": row.currency, "total_balance": round(equity, 8),
                    "available_balance": float(row.available_balance), "locked_balance": float(row.locked_balance),
                    "positions_value": round(value, 8), "peak_equity": float(row.peak_equity),
                    "day": row.day, "day_start_equity": float(row.day_start_equity),
                    "drawdown": round(1 - equity / float(row.peak_equity), 6) if float(row.peak_equity) > 0 else 0.0,
                    "positions": [position_json(p) for p in positions], "updated_at": row.updated_at}

    async def reset_portfolio(self, user: str, cash: float | None = None) -> dict[str, Any]:
        """Start the paper account again: positions closed at no price, cash back to the start
        (or ``cash``). Orders and decisions stay, as history."""
        amount = self.settings.starting_cash if cash is None else float(cash)
        if not math.isfinite(amount) or amount <= 0 or amount > 1e15:
            raise CouncilInputError("cash must be a positive amount")
        async with self._lock(user):
            async with self.db.sessionmaker() as session:
                row = await self._portfolio(session, user)
                for pos in await self._positions(session, user, row.exchange):
                    await session.delete(pos)
                value = _d(amount)
                row.total_balance = row.available_balance = row.peak_equity = row.day_start_equity = value
                row.locked_balance, row.day, row.updated_at = Decimal(0), _today(), now()
                await audit.append(session, user, "portfolio_reset", None, True, [{"cash": amount}])
                await session.commit()
        return await self.portfolio(user)

    # ------------------------------------------------------------------ market data
    async def bars(self, symbol: str, timeframe: str):
        """The closed bars of ``symbol``: stored ones, topped up from the exchange when it answers."""
        try:
            await market_store.collect(self.db, self.exchange, symbol, timeframe, lookback=self.settings.lookback)
            fetched = None
        except MarketDataError as exc:
            fetched = exc
        async with self.db.sessionmaker() as session:
            frame = await market_store.load_bars(session, self.exchange_name, symbol, timeframe,
                                                 limit=self.settings.lookback)
        if frame.empty:
            raise (fetched or MarketDataError(f"no bars for {symbol} {timeframe}"))
        if fetched is not None:
            log.warning("council: %s %s from stored bars only (%s)", symbol, timeframe, fetched)
        return frame

    # ------------------------------------------------------------------ deciding
    async def prepare(self, user: str, symbol: str, timeframe: str) -> Prepared:
        bars = await self.bars(symbol, timeframe)
        sentiment = await self._sentiment.sentiment(symbol)
        frame = MarketFrame.build(bars, symbol, timeframe, sentiment=sentiment)
        from hilo.packs.council import (
            ml,  # scikit-learn: 0.7 s to import, only once a decision is asked for
        )

        version = None
        async with self.db.sessionmaker() as session:
            try:
                stored = await ml.latest_version(session, symbol, timeframe)
            except ml.ModelBlobError as exc:
                log.warning("council: the stored model of %s %s cannot be read (%s): deciding without it",
                            symbol, timeframe, exc)
                stored = None
            if stored is not None:
                try:
                    ml.predict_frame(frame, stored.ensemble, attach=True)
                    version = stored.version
                except ValueError as exc:
                    log.warning("council: model of %s %s not usable here: %s", symbol, timeframe, exc)
            config = await self._config(session, user)
            account = await self._portfolio(session, user)
            positions = {p.symbol: p for p in await self._positions(session, user, account.exchange)}
            await session.commit()
        i = len(frame) - 1
        pos = positions.get(symbol)
        state = PortfolioState(cash=float(account.available_balance),
                               quantity=float(pos.quantity) if pos else 0.0,
                               avg_price=float(pos.entry_price) if pos else 0.0,
                               peak_equity=float(account.peak_equity), day_start_equity=float(account.day_start_equity))
        snapshot = frame.snapshot(i, state, RiskLimits.from_dict(config.risk_limits), config.custom_rules)
        return Prepared(frame, snapshot, config, version)

    async def council_for(self, config: UserConfig, roles: dict[str, RoleAssistant]):
        weights, threshold = validate_weights(config.assistant_weights), config.threshold
        if any(r.uses_model for r in roles.values()):
            return ModelCouncil(self.state.runs, self.db, roles, weights, threshold)
        return DeterministicCouncil(weights, threshold)

    async def decide(self, user: str, symbol: str | None = None, timeframe: str | None = None) -> dict[str, Any]:
        """One council decision now, stored, audited, and executed, held or left pending."""
        async with self._lock(user):
            async with self.db.sessionmaker() as session:
                config = await self._config(session, user)
                await session.commit()
            symbol = check_symbol(symbol or (config.symbols or self.settings.symbols)[0])
            timeframe = check_timeframe(timeframe or config.timeframe)
            prepared = await self.prepare(user, symbol, timeframe)
            roles = await self.roles()
            council = await self.council_for(prepared.config, roles)
            result = council.decide(prepared.snapshot)
            decision: Decision = await result if asyncio.iscoroutine(result) else result
            return await self._record(user, prepared, decision, roles)

    async def _record(self, user: str, prepared: Prepared, decision: Decision,
                      roles: dict[str, RoleAssistant]) -> dict[str, Any]:
        s = prepared.snapshot
        config = prepared.config
        inputs = snapshot_json(s)
        weights = validate_weights(config.assistant_weights)
        status = HELD
        if decision.outcome == EXECUTE and config.auto_execute:
            status = EXECUTED
        elif decision.outcome in (EXECUTE, ESCALATE):
            status = PENDING
        row = DecisionRow(
            id=new_id("dec"), user_id=user, symbol=s.symbol, timeframe=s.timeframe,
            bar_time=int(prepared.frame.bars.index[s.index].value // 1_000_000), action=decision.action,
            confidence=decision.confidence,
            reasoning={"summary": decision.reasoning, "inputs": inputs, "model_version": prepared.model_version,
                       "weights": weights, "threshold": config.threshold,
                       "models": {r: {"assistant_id": a.assistant_id, "model": a.model, "uses_model": a.uses_model}
                                  for r, a in roles.items()}},
            consensus_reached=decision.consensus_reached,
            votes=decision.votes, rounds=[[a.to_dict() for a in r] for r in decision.rounds],
            scores=decision.scores, outcome=decision.outcome, status=status if status != EXECUTED else PENDING,
            size_pct=decision.size_pct, model_calls=decision.model_calls,
            inputs_hash=inputs_hash(inputs, weights, config.threshold, roles), created_at=now())
        async with self.db.sessionmaker() as session:
            session.add(row)
            findings = audit.check_decision(decision)
            await audit.append(session, user, "decision", row.id, not findings, findings)
            await session.commit()
        metrics.council_decision(decision.outcome)
        self._publish(user, "council.decision.created", decision_json(row))
        if status == PENDING:
            self._publish(user, "council.decision.pending", decision_json(row))
            return decision_json(row, [])
        if status == HELD:
            async with self.db.sessionmaker() as session:
                fresh = await session.get(DecisionRow, row.id)
                fresh.status = HELD
                await session.commit()
                return decision_json(fresh, [])
        return await self._execute(user, row.id, approved_by=None)

    # ------------------------------------------------------------------ execution
    async def _execute(self, user: str, decision_id: str, approved_by: str | None) -> dict[str, Any]:
        async with self.db.sessionmaker() as session:
            row = await session.get(DecisionRow, decision_id)
            config = await self._config(session, user)
            live = bool(config.live_trading and self.settings.live_trading)
            await session.commit()
        mode = LIVE if live else PAPER
        keys = None
        if live:
            from hilo.packs.council import keys as keys_mod

            async with self.db.sessionmaker() as session:
                keys = await keys_mod.load_keys(session, exchange=self.exchange_name,
                                                secret_key=secret_key(self.settings), user_id=user)
        try:
            broker = broker_for(mode, live_enabled=self.settings.live_trading, keys=keys,
                                exchange=self.exchange_name, fee_bps=self.settings.fee_bps,
                                slippage_bps=self.settings.slippage_bps, api_url=self.settings.exchange_url,
                                timeout=self.settings.exchange_timeout_s)
        except LiveTradingDisabled as exc:
            return await self._fail(user, decision_id, str(exc))
        book = await self._book(row.symbol, row.reasoning["inputs"])
        async with self.db.sessionmaker() as session:
            row = await session.get(DecisionRow, decision_id)
            account = await self._portfolio(session, user, mode)
            positions = {p.symbol: p for p in await self._positions(session, user, account.exchange)}
            pos = positions.get(row.symbol)
            price = float(row.reasoning["inputs"]["price"])
            state = PortfolioState(cash=float(account.available_balance), quantity=float(pos.quantity) if pos else 0.0,
                                   avg_price=float(pos.entry_price) if pos else 0.0,
                                   peak_equity=float(account.peak_equity),
                                   day_start_equity=float(account.day_start_equity))
            others = sum(float(p.quantity) * float(p.current_price) for s, p in positions.items() if s != row.symbol)
            equity = state.equity(price) + others
            qty = (row.size_pct * equity / price) if row.action == BUY else (row.size_pct * state.quantity)
            limits = RiskLimits.from_dict(config.risk_limits)
            result = None
            if qty > 0:
                request = OrderRequest(row.symbol, row.action, qty, decision_id=row.id, client_id=new_id("ord"))
                result = await broker.aexecute(request, state, book, limits, at=datetime.now(UTC),
                                               other_positions_value=others)
            order = None
            if result is not None:
                order = OrderRow(id=result.order_id, decision_id=row.id, user_id=user, mode=mode,
                                 exchange=account.exchange, exchange_order_id=result.exchange_order_id,
                                 symbol=row.symbol, side=row.action, type="market", quantity=_d(qty),
                                 filled_quantity=_d(result.filled_quantity),
                                 price=_d(result.average_price) if result.filled_quantity > 0 else None,
                                 fee=_d(result.fee), status=result.status, detail=result.to_dict()["detail"],
                                 created_at=now(), executed_at=now() if result.filled_quantity > 0 else None)
                session.add(order)
                filled = result.status in (FILLED, PARTIALLY_FILLED)
                if filled:
                    self._apply(session, account, pos, state, row.symbol, price=float(result.average_price),
                                mark=price, user=user)
                findings = audit.check_order(result, state, limits)
                await audit.append(session, user, "order", order.id, not findings, findings)
            row.status = EXECUTED if (result is not None and result.filled_quantity > 0) else FAILED
            row.resolved_at = now()
            row.resolution = (f"aprobada por {approved_by}" if approved_by else None) or \
                (None if row.status == EXECUTED else (result.reason if result else "cantidad cero"))
            await session.commit()
            view = decision_json(row, [order] if order else [])
        if order is not None:
            self._publish(user, "council.order.filled" if view["status"] == EXECUTED else "council.order.rejected",
                          view["orders"][0])
        self._publish(user, "council.decision.executed" if view["status"] == EXECUTED else "council.decision.failed",
                      view)
        return view

    def _apply(self, session: AsyncSession, account: Portfolio, pos: Position | None, state: PortfolioState,
               symbol: str, *, price: float, mark: float, user: str) -> None:
        t = now()
        account.available_balance = _d(state.cash)
        if state.quantity > 0:
            if pos is None:
                pos = Position(user_id=user, exchange=account.exchange, symbol=symbol, side="LONG",
                               quantity=_d(state.quantity), entry_price=_d(state.avg_price or price),
                               current_price=_d(mark), pnl=Decimal(0), created_at=t, updated_at=t)
                session.add(pos)
            else:
                pos.quantity, pos.entry_price, pos.current_price = _d(state.quantity), _d(state.avg_price), _d(mark)
                pos.updated_at = t
            pos.pnl = _d((mark - state.avg_price) * state.quantity)
        elif pos is not None:
            session.sync_session.delete(pos)
        equity = state.equity(mark)
        account.total_balance = _d(equity)
        account.peak_equity = _d(max(float(account.peak_equity), equity))
        if account.day != _today():
            account.day, account.day_start_equity = _today(), _d(equity)
        account.updated_at = t

    async def _book(self, symbol: str, inputs: dict[str, Any]) -> OrderBook:
        """The exchange's book; when it cannot be read, paper fills at the decided bar's close
        (with slippage and fees, no depth limit), so that paper trading never stalls."""
        try:
            return OrderBook.from_ccxt(await self.exchange.fetch_order_book(symbol, 20))
        except MarketDataError as exc:
            log.info("council: no order book for %s (%s); paper fills at the last close", symbol, exc)
            return OrderBook.synthetic_for_bar(float(inputs["price"]), 0.0)

    async def _fail(self, user: str, decision_id: str, reason: str) -> dict[str, Any]:
        async with self.db.sessionmaker() as session:
            row = await session.get(DecisionRow, decision_id)
            row.status, row.resolved_at, row.resolution = FAILED, now(), reason
            await audit.append(session, user, "order", row.id, False, [reason])
            await session.commit()
            view = decision_json(row, [])
        self._publish(user, "council.decision.failed", view)
        return view

    # ------------------------------------------------------------------ the user's answer
    async def resolve(self, user: str, decision_id: str, approve: bool, note: str | None = None) -> dict[str, Any]:
        async with self._lock(user):
            async with self.db.sessionmaker() as session:
                row = await session.get(DecisionRow, decision_id)
                if row is None or row.user_id != user:
                    raise not_found("decision", decision_id)
                if row.status == PENDING and self._expired(row):
                    row.status, row.resolved_at, row.resolution = EXPIRED, now(), "sin respuesta a tiempo"
                    await session.commit()
                if row.status != PENDING:
                    raise bad_request(f"Decision {decision_id} is {row.status}; only a pending decision can be "
                                      "approved or rejected.")
                kind = "approval" if approve else "rejection"
                row.status = APPROVED if approve else REJECTED
                row.resolved_at = now()
                row.resolution = (note or ("aprobada" if approve else "rechazada"))[:500]
                await audit.append(session, user, kind, row.id, True, [row.resolution])
                await session.commit()
                view = decision_json(row, [])
            self._publish(user, "council.decision.approved" if approve else "council.decision.rejected", view)
            if approve:
                return await self._execute(user, decision_id, approved_by=user)
            return view

    def _expired(self, row: DecisionRow) -> bool:
        return now() - row.created_at > self.settings.approval_minutes * 60

    async def expire_pending(self) -> int:
        cutoff = now() - int(self.settings.approval_minutes * 60)
        async with self.db.sessionmaker() as session:
            rows = list((await session.execute(select(DecisionRow).where(
                DecisionRow.status == PENDING, DecisionRow.created_at < cutoff))).scalars())
            for row in rows:
                row.status, row.resolved_at, row.resolution = EXPIRED, now(), "sin respuesta a tiempo"
            await session.commit()
        for row in rows:
            self._publish(row.user_id, "council.decision.expired", decision_json(row))
        return len(rows)

    # ------------------------------------------------------------------ reading
    async def decision(self, user: str, decision_id: str) -> dict[str, Any]:
        async with self.db.sessionmaker() as session:
            row = await session.get(DecisionRow, decision_id)
            if row is None or row.user_id != user:
                raise not_found("decision", decision_id)
            orders = list((await session.execute(select(OrderRow).where(
                OrderRow.decision_id == decision_id).order_by(OrderRow.created_at))).scalars())
            return decision_json(row, orders)

    async def replay(self, user: str, decision_id: str) -> dict[str, Any]:
        """Decide again from the inputs the decision stored, with the models it used (their
        stored answers): the same decision comes back, or the differences are shown."""
        async with self.db.sessionmaker() as session:
            row = await session.get(DecisionRow, decision_id)
            if row is None or row.user_id != user:
                raise not_found("decision", decision_id)
        snapshot = snapshot_from_json(row.reasoning["inputs"])
        roles = await self.roles()
        weights, threshold = row.reasoning["weights"], row.reasoning["threshold"]
        if any(r.uses_model for r in roles.values()):
            council = ModelCouncil(self.state.runs, self.db, roles, weights, threshold)
            decision = await council.decide(snapshot)
        else:
            decision = DeterministicCouncil(weights, threshold).decide(snapshot)
        again = {"action": decision.action, "confidence": decision.confidence, "outcome": decision.outcome,
                 "votes": decision.votes, "size_pct": decision.size_pct}
        stored = {"action": row.action, "confidence": row.confidence, "outcome": row.outcome, "votes": row.votes,
                  "size_pct": row.size_pct}
        same_hash = inputs_hash(row.reasoning["inputs"], weights, threshold, roles) == row.inputs_hash
        return {"decision_id": row.id, "same": again == stored, "same_inputs": same_hash,
                "model_calls": decision.model_calls, "stored": stored, "replayed": again}

    async def list_decisions(self, user: str, *, status: str | None = None, symbol: str | None = None,
                             limit: int = 20, before: int | None = None) -> dict[str, Any]:
        q = select(DecisionRow).where(DecisionRow.user_id == user)
        if status:
            q = q.where(DecisionRow.status == status)
        if symbol:
            q = q.where(DecisionRow.symbol == check_symbol(symbol))
        if before:
            q = q.where(DecisionRow.created_at < before)
        q = q.order_by(DecisionRow.created_at.desc(), DecisionRow.id.desc()).limit(limit + 1)
        async with self.db.sessionmaker() as session:
            rows = list((await session.execute(q)).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        return {"object": "list", "data": [decision_json(r) for r in rows], "has_more": more}

    async def list_orders(self, user: str, *, limit: int = 50, symbol: str | None = None) -> dict[str, Any]:
        q = select(OrderRow).where(OrderRow.user_id == user)
        if symbol:
            q = q.where(OrderRow.symbol == check_symbol(symbol))
        q = q.order_by(OrderRow.created_at.desc(), OrderRow.id.desc()).limit(limit + 1)
        async with self.db.sessionmaker() as session:
            rows = list((await session.execute(q)).scalars())
        return {"object": "list", "data": [order_json(r) for r in rows[:limit]], "has_more": len(rows) > limit}

    async def stats(self, user: str) -> dict[str, Any]:
        async with self.db.sessionmaker() as session:
            by_status = dict((await session.execute(select(DecisionRow.status, func.count()).where(
                DecisionRow.user_id == user).group_by(DecisionRow.status))).all())
            by_action = dict((await session.execute(select(DecisionRow.action, func.count()).where(
                DecisionRow.user_id == user).group_by(DecisionRow.action))).all())
            calls = (await session.execute(select(DecisionRow.model_calls).where(
                DecisionRow.user_id == user))).scalars().all()
        ordered = sorted(calls)
        median = ordered[len(ordered) // 2] if ordered else 0
        return {"decisions": sum(by_status.values()), "by_status": by_status, "by_action": by_action,
                "model_calls_median": median, "model_calls_total": sum(ordered)}

    # ------------------------------------------------------------------ events
    def _publish(self, user: str, event: str, payload: Any) -> None:
        self.state.bus.publish(bus_key(user), event, payload)


def position_json(p: Position) -> dict[str, Any]:
    return {"symbol": p.symbol, "side": p.side, "quantity": float(p.quantity), "entry_price": float(p.entry_price),
            "current_price": float(p.current_price), "pnl": float(p.pnl), "updated_at": p.updated_at}


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def secret_key(settings: CouncilSettings) -> str | None:
    return settings.secret_key.get_secret_value() if settings.secret_key else None


__all__ = ["CouncilService", "bus_key", "user_key"]
