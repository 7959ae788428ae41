"""GET /health (alive) and GET /health/ready (database, model provider, and the run queue when scaled out)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/health")
async def health():
    return {"status": "ok"}


async def readiness(request: Request) -> dict:
    state = request.app.state
    checks: dict[str, dict] = {}
    try:
        async with state.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "detail": state.db.engine.dialect.name}
    except Exception as exc:  # report, never raise: this is a probe
        checks["database"] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    try:
        provider = state.providers.default()
        ok, detail = await asyncio.wait_for(provider.check(), timeout=5)
        checks["model"] = {"ok": ok, "provider": provider.name, "detail": detail}
    except Exception as exc:
        checks["model"] = {"ok": False, "provider": state.providers.default_kind, "detail": str(exc)}
    named = list(state.settings.providers)
    if named:  # every HILO_PROVIDERS endpoint, checked at once: assistants naming one depend on it

        async def one(name: str) -> tuple[str, dict]:
            try:
                ok, detail = await asyncio.wait_for(state.providers.named(name).check(), timeout=5)
            except Exception as exc:
                ok, detail = False, type(exc).__name__
            return name, {"ok": ok, "detail": detail}

        results = dict(await asyncio.gather(*(one(n) for n in named)))
        checks["providers"] = {"ok": all(r["ok"] for r in results.values()), "named": results}
    queue = getattr(state.engine.executor, "health", None)
    if queue is not None:  # scaled out: Redis, the run queue and its workers
        try:
            checks["queue"] = await asyncio.wait_for(queue(), timeout=5)
        except Exception as exc:
            checks["queue"] = {"ok": False, "detail": type(exc).__name__}
    return checks


@router.get("/health/ready")
async def ready(request: Request):
    checks = await readiness(request)
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"status": "ready" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503)
