"""The council's API (seed 004's routers: config, portfolio, trading, assistants, reports) and
its WebSocket of decisions and fills. Thin: parse, authorise, call :mod:`.service`.

Every route acts for the signed-in user (``local`` when auth is off); a user sees only their
own config, portfolio, decisions and orders. Admin routes (keys, the learning job, the audit
chain) need the admin scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import WebSocketRoute

from hilo.api.deps import AdminDep, PrincipalDep
from hilo.kit.errors import HiloError, InvalidRequest, NotFound, Unavailable
from hilo.packs.council.core import ROLES, CouncilInputError, validate_weights
from hilo.packs.council.exchange import MarketDataError, UnknownSymbol
from hilo.packs.council.service import CouncilService, bus_key, user_key
from hilo.webhooks import signing

log = logging.getLogger("hilo.council")

router = APIRouter(prefix="/council", tags=["trading council (seed 004)"])


def service(request: Request) -> CouncilService:
    found = getattr(request.app.state, "council", None)
    if found is None:
        raise Unavailable("The council is not running on this server (HILO_PACKS leaves it out).")
    return found


ServiceDep = Annotated[CouncilService, Depends(service)]


async def _call(coro):
    """Domain errors as HTTP answers: bad input 400, an unknown symbol 404, no market data 503."""
    try:
        return await coro
    except CouncilInputError as exc:
        raise InvalidRequest(str(exc)) from None
    except UnknownSymbol as exc:
        raise NotFound(str(exc), code="unknown_symbol") from None
    except MarketDataError as exc:
        raise Unavailable(f"Market data unavailable: {exc}", code="market_data_unavailable",
                          headers={"Retry-After": "30"}) from None


class ConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assistant_weights: dict[str, float] | None = None
    custom_rules: list[dict[str, Any]] | None = None
    risk_limits: dict[str, float] | None = None
    threshold: float | None = None
    symbols: list[str] | None = None
    timeframe: str | None = None
    auto_execute: bool | None = None
    live_trading: bool | None = None


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str | None = Field(default=None, max_length=20)
    timeframe: str | None = Field(default=None, max_length=8)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=500)


class KeysIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exchange: str = Field(default="binance", min_length=2, max_length=20)
    api_key: str = Field(min_length=8, max_length=512)
    secret: str = Field(min_length=8, max_length=512)


# --- config ---------------------------------------------------------------------------------

@router.get("/config")
async def get_config(principal: PrincipalDep, council: ServiceDep):
    return await council.config(user_key(principal.user_id))


@router.put("/config")
async def put_config(body: ConfigIn, principal: PrincipalDep, council: ServiceDep):
    """Change any of ``assistant_weights``, ``custom_rules``, ``risk_limits``, ``threshold``,
    ``symbols``, ``timeframe``, ``auto_execute``, ``live_trading``; a bad field changes nothing."""
    return await _call(council.update_config(user_key(principal.user_id), body.model_dump(exclude_unset=True)))


# --- portfolio ------------------------------------------------------------------------------

@router.get("/portfolio")
async def get_portfolio(principal: PrincipalDep, council: ServiceDep):
    return await council.portfolio(user_key(principal.user_id))


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cash: float | None = Field(default=None, gt=0, le=1e15)


@router.post("/portfolio/reset")
async def reset_portfolio(principal: PrincipalDep, council: ServiceDep, body: ResetIn | None = None):
    """Start the paper account again (positions dropped, cash to HILO_COUNCIL_STARTING_CASH or
    ``cash``); decisions and orders stay as history."""
    return await _call(council.reset_portfolio(user_key(principal.user_id), (body or ResetIn()).cash))


@router.get("/portfolio/positions")
async def get_positions(principal: PrincipalDep, council: ServiceDep):
    view = await council.portfolio(user_key(principal.user_id))
    return {"object": "list", "data": view["positions"]}


# --- trading --------------------------------------------------------------------------------

@router.post("/trading/decide", status_code=201)
async def decide(principal: PrincipalDep, council: ServiceDep, body: DecideIn | None = None):
    """Convene the council now on the latest closed bar; executes on paper, holds, or leaves the
    decision pending for the user (``status``)."""
    body = body or DecideIn()
    return await _call(council.decide(user_key(principal.user_id), body.symbol, body.timeframe))


@router.get("/trading/decisions")
async def decisions(principal: PrincipalDep, council: ServiceDep,
                    status: str | None = Query(default=None, max_length=20),
                    symbol: str | None = Query(default=None, max_length=20),
                    limit: int = Query(default=20, ge=1, le=100),
                    before: int | None = Query(default=None, ge=0, le=2**53)):
    return await _call(council.list_decisions(user_key(principal.user_id), status=status, symbol=symbol,
                                              limit=limit, before=before))


@router.get("/trading/decisions/{decision_id}")
async def decision(decision_id: str, principal: PrincipalDep, council: ServiceDep):
    return await council.decision(user_key(principal.user_id), decision_id)


@router.post("/trading/decisions/{decision_id}/approve")
async def approve(decision_id: str, principal: PrincipalDep, council: ServiceDep, body: ResolveIn | None = None):
    return await _call(council.resolve(user_key(principal.user_id), decision_id, True, (body or ResolveIn()).note))


@router.post("/trading/decisions/{decision_id}/reject")
async def reject(decision_id: str, principal: PrincipalDep, council: ServiceDep, body: ResolveIn | None = None):
    return await _call(council.resolve(user_key(principal.user_id), decision_id, False, (body or ResolveIn()).note))


class ApprovalData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    decision_id: str = Field(min_length=1, max_length=40)
    user_id: str | None = Field(default=None, max_length=64)  # the council's user (unset: the local one)
    note: str | None = Field(default=None, max_length=500)


class ApprovalEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = Field(pattern=r"^council\.decision\.(approve|reject)$")
    data: ApprovalData


_RESOLVED = {True: ("approved", "executed", "failed"), False: ("rejected",)}


@router.post("/webhooks/approval")
async def approval_webhook(request: Request, council: ServiceDep):
    """A signed Standard Webhooks message approves or rejects a pending decision (a chat bot, a
    phone app): ``{"type": "council.decision.approve" | "council.decision.reject", "data":
    {"decision_id", "user_id"?, "note"?}}``, signed with HILO_COUNCIL_APPROVAL_SECRET. Delivered
    twice (a retry), the second answers 200 ``already_resolved``."""
    secret = council.settings.approval_secret
    if secret is None:
        raise NotFound("Approval webhooks are off: set HILO_COUNCIL_APPROVAL_SECRET (a whsec_ secret).",
                       code="approval_webhooks_off")
    body = await request.body()
    try:
        msg_id = signing.verify(secret.get_secret_value(), {k.lower(): v for k, v in request.headers.items()}, body)
    except signing.InvalidSignature as exc:
        raise HiloError(f"Invalid webhook signature: {exc}.", status=401, type="invalid_request_error",
                        code="invalid_signature") from None
    try:
        event = ApprovalEvent.model_validate_json(body)
    except ValueError:
        raise InvalidRequest('The body must be {"type": "council.decision.approve" | "council.decision.reject", '
                             '"data": {"decision_id": "...", "user_id"?: "...", "note"?: "..."}}.') from None
    approve = event.type.endswith(".approve")
    user = user_key(event.data.user_id)
    note = event.data.note or f"{'aprobada' if approve else 'rechazada'} por webhook {msg_id[:64]}"
    current = await council.decision(user, event.data.decision_id)  # 404 for someone else's
    if current["status"] != "pending_approval":
        if current["status"] in _RESOLVED[approve]:
            return {"status": "already_resolved", "decision": current}
        raise HiloError(f"Decision {event.data.decision_id} is {current['status']}; it can no longer be "
                        f"{'approved' if approve else 'rejected'}.", status=409, code="decision_resolved")
    return {"status": "resolved", "decision": await _call(council.resolve(user, event.data.decision_id, approve, note))}


@router.post("/trading/decisions/{decision_id}/replay")
async def replay(decision_id: str, principal: PrincipalDep, council: ServiceDep):
    """Decide again from the stored inputs (model answers from the cache): ``same`` says whether
    the decision came back unchanged."""
    return await _call(council.replay(user_key(principal.user_id), decision_id))


@router.get("/trading/orders")
async def orders(principal: PrincipalDep, council: ServiceDep, limit: int = Query(default=50, ge=1, le=200),
                 symbol: str | None = Query(default=None, max_length=20)):
    return await _call(council.list_orders(user_key(principal.user_id), limit=limit, symbol=symbol))


# --- assistants -----------------------------------------------------------------------------

@router.get("/assistants")
async def assistants(principal: PrincipalDep, council: ServiceDep):
    """The seven members: their assistant (edit it through ``/v1/assistants``), model, whether
    they speak through a model now, and the user's weight for them."""
    roles = await council.roles()
    config = await council.config(user_key(principal.user_id))
    weights = validate_weights(config["assistant_weights"])
    return {"object": "list", "data": [
        {"role": role, "assistant_id": roles[role].assistant_id if role in roles else None,
         "model": roles[role].model if role in roles else None,
         "mode": "model" if role in roles and roles[role].uses_model else "rules",
         "weight": weights[role]} for role in ROLES]}


# --- reports --------------------------------------------------------------------------------

@router.get("/reports/summary")
async def summary(principal: PrincipalDep, council: ServiceDep):
    user = user_key(principal.user_id)
    return {"portfolio": await council.portfolio(user), "decisions": await council.stats(user)}


@router.get("/reports/models")
async def models_report(_principal: PrincipalDep, council: ServiceDep,
                        symbol: str | None = Query(default=None, max_length=20),
                        limit: int = Query(default=20, ge=1, le=100)):
    """The ensemble's stored versions, newest first, with their walk-forward calibration
    (accuracy against the majority, Brier score against the base rate, reliability bins)."""
    from sqlalchemy import select

    from hilo.packs.council.models import ModelVersion

    q = select(ModelVersion.symbol, ModelVersion.timeframe, ModelVersion.version, ModelVersion.trained_at,
               ModelVersion.train_end, ModelVersion.samples, ModelVersion.metrics)
    if symbol:
        q = q.where(ModelVersion.symbol == symbol.upper())
    q = q.order_by(ModelVersion.trained_at.desc(), ModelVersion.id.desc()).limit(limit)
    async with council.db.sessionmaker() as session:
        rows = (await session.execute(q)).all()
    return {"object": "list", "data": [
        {"symbol": r.symbol, "timeframe": r.timeframe, "version": r.version, "trained_at": r.trained_at,
         "train_end_ms": r.train_end, "samples": r.samples, "calibration": (r.metrics or {}).get("walk_forward"),
         "holdout_accuracy": (r.metrics or {}).get("holdout_accuracy")} for r in rows]}


@router.get("/reports/audit")
async def audit_report(_admin: AdminDep, council: ServiceDep):
    """Walk the append-only audit chain: ``ok`` or where it breaks."""
    from hilo.packs.council import audit

    async with council.db.sessionmaker() as session:
        return await audit.verify(session)


@router.get("/reports/jobs")
async def jobs(_admin: AdminDep, request: Request, limit: int = Query(default=50, ge=1, le=500)):
    schedules = getattr(request.app.state, "council_schedules", None)
    if schedules is None:
        raise Unavailable("The council's schedules are not running (HILO_COUNCIL_SCHEDULES=false).")
    return await schedules.recent(limit)


@router.post("/reports/jobs/{job}/run")
async def run_job(job: str, _admin: AdminDep, request: Request):
    """Run a scheduled job now (``monitor``, ``learning``, ``expiry``), recorded like any other run."""
    schedules = getattr(request.app.state, "council_schedules", None)
    if schedules is None:
        raise Unavailable("The council's schedules are not running (HILO_COUNCIL_SCHEDULES=false).")
    return await _call(schedules.run_now(job))


# --- exchange keys --------------------------------------------------------------------------

@router.put("/exchange-keys", status_code=204)
async def put_keys(body: KeysIn, principal: PrincipalDep, council: ServiceDep):
    """Store the user's exchange keys, encrypted with HILO_COUNCIL_SECRET_KEY; never returned."""
    from hilo.packs.council import keys
    from hilo.packs.council.service import secret_key

    secret = secret_key(council.settings)
    async with council.db.sessionmaker() as session:
        try:
            await keys.store_keys(session, exchange=body.exchange.lower(), api_key=body.api_key, secret=body.secret,
                                  secret_key=secret, user_id=user_key(principal.user_id))
        except (keys.SecretKeyError, keys.KeysError) as exc:
            raise InvalidRequest(str(exc)) from None
        await session.commit()


@router.get("/exchange-keys")
async def get_keys(principal: PrincipalDep, council: ServiceDep):
    from hilo.packs.council import keys

    async with council.db.sessionmaker() as session:
        stored = await keys.stored_exchanges(session, user_id=user_key(principal.user_id))
    return {"exchanges": stored, "live_trading_switch": council.settings.live_trading}


@router.delete("/exchange-keys/{exchange}", status_code=204)
async def delete_keys(exchange: str, principal: PrincipalDep, council: ServiceDep):
    from hilo.packs.council import keys

    async with council.db.sessionmaker() as session:
        if not await keys.delete_keys(session, exchange=exchange.lower(), user_id=user_key(principal.user_id)):
            raise NotFound(f"No keys stored for {exchange[:20]}.")
        await session.commit()


# --- the WebSocket ---------------------------------------------------------------------------

async def stream(ws: WebSocket):
    """Decisions and fills as they happen, for the signed-in user.

    Auth: ``?token=`` or ``Authorization: Bearer`` (not needed when auth is off). Out: every
    ``council.*`` event as ``{"type": "council.decision.pending", "data": {...}}``. In:
    ``{"type": "approve" | "reject", "decision_id": "...", "note"?}`` and ``{"type": "ping"}``."""
    app = ws.app
    council: CouncilService | None = getattr(app.state, "council", None)
    token = ws.query_params.get("token")
    header = ws.headers.get("authorization")
    try:
        principal = await app.state.auth.authenticate(app.state.db, f"Bearer {token}" if token else header)
    except HiloError as exc:
        await ws.close(code=4401, reason=exc.message[:120])
        return
    if council is None:
        await ws.close(code=1011, reason="council not running")
        return
    user = user_key(principal.user_id)
    await ws.accept()
    queue = await app.state.bus.subscribe(bus_key(user))
    await ws.send_json({"type": "connection", "user_id": user})

    async def forward() -> None:
        while True:
            event, payload = await queue.get()
            await ws.send_json({"type": event, "data": payload})

    sender = asyncio.create_task(forward())
    try:
        while True:
            text = await ws.receive_text()
            try:
                frame = json.loads(text)
                kind = frame.get("type")
            except (ValueError, AttributeError):
                await ws.send_json({"type": "error", "message": "Cada mensaje debe ser un objeto JSON."})
                continue
            if kind == "ping":
                await ws.send_json({"type": "pong"})
            elif kind in ("approve", "reject") and isinstance(frame.get("decision_id"), str):
                try:
                    view = await _call(council.resolve(user, frame["decision_id"][:40], kind == "approve",
                                                       str(frame.get("note") or "")[:500] or None))
                    await ws.send_json({"type": f"{kind}d", "data": view})
                except HiloError as exc:
                    await ws.send_json({"type": "error", "message": exc.message})
            else:
                await ws.send_json({"type": "error", "message":
                                    'Mensajes: {"type": "approve"|"reject", "decision_id": "..."} o {"type": "ping"}.'})
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        app.state.bus.unsubscribe(bus_key(user), queue)


# A plain Starlette route: the app-wide HTTP dependencies (input checks) do not apply to a socket.
router.routes.append(WebSocketRoute("/council/ws", stream, name="council_ws"))
