"""The ASGI application: what hilo is made of, wired together; routes, start-up and shut-down.

This is the one place that knows every part: the shared kit, the domains, the run service,
the HTTP endpoints, the channels, the webhooks and the enabled packs.
"""

from __future__ import annotations

import inspect
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from hilo import __version__, channels, runtime, web
from hilo.api import (
    admin,
    assistants,
    audio,
    docs,
    errors,
    files,
    health,
    messages,
    metrics,
    openapi,
    runs,
    threads,
    vector_stores,
)
from hilo.api.guard import v1_guard
from hilo.api.limits import RequestLimits, check_inputs
from hilo.identity.service import AuthService
from hilo.kit.config import Settings, get_settings
from hilo.kit.observe import tracing
from hilo.kit.observe.asgi import ObserveMiddleware
from hilo.packs import Pack, loader
from hilo.webhooks import api as webhooks_api


def create_app(settings: Settings | None = None, packs: list[Pack] | None = None,
               execute: bool | None = None) -> FastAPI:
    """``packs``: the packs to start; by default the installed ones HILO_PACKS enables.
    ``execute``: run the queue's runs here too (scaled out; default HILO_EXECUTE_RUNS)."""
    settings = settings or get_settings()
    if execute is None:
        execute = settings.execute_runs
    if packs is None:
        packs = loader.select(loader.discover(), settings.packs)
    tools = runtime.make_tools(packs)
    tracing.configure(settings.otel_endpoint)  # on only with an OTLP endpoint; process-wide

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start(app.state, settings, packs, tools, execute=execute)
        try:
            yield
        finally:
            await runtime.stop(app.state)
            await app.state.auth.aclose()  # the rate limiter's Redis pool

    # check_inputs comes first on every route: before the /v1 guard looks up a path's ids.
    app = FastAPI(title="hilo", version=__version__, lifespan=lifespan, dependencies=[Depends(check_inputs)],
                  description="A self-hosted assistant server speaking the OpenAI Assistants API v2.",
                  docs_url=None, redoc_url=None, **_no_native_telemetry())
    errors.install(app)
    docs.install(app)  # /docs and /redoc from installed assets, no CDN
    app.state.settings = settings
    app.state.auth = AuthService(settings)  # validates HILO_AUTH / HILO_JWT_* now, not on a request
    app.state.auth.announce()
    app.include_router(health.router)
    if settings.metrics:
        app.include_router(metrics.router)  # GET /metrics (HILO_METRICS_TOKEN guards it when set)
    # The turn route first: routes are matched in order, and it is the busiest.
    for module in (runs, messages, threads, assistants, files, vector_stores, audio):
        app.include_router(module.router, dependencies=[Depends(v1_guard)])  # auth, rate limit, owners
    app.include_router(admin.router)
    app.include_router(webhooks_api.router)  # /admin/webhooks
    web.install(app)  # /web/* (chat, console, sign-in) and the browser's GET / (before the channels' JSON one)
    channels.install(app, settings)  # /api/assistant/* (seed 000), /, /webhooks/*, /ws/assistant/
    for pack in packs:
        for router in pack.routers:
            app.include_router(router)
    openapi.install(app, channels.ENVELOPE_SCHEMAS)  # error responses as hilo answers them; links
    app.add_middleware(RequestLimits, settings=settings, envelopes=channels.ENVELOPES)
    app.add_middleware(ObserveMiddleware)  # outermost: request id (and span) even for a 413
    return app


def _no_native_telemetry() -> dict:
    """FastAPI (0.16x) traces requests itself once a tracer provider is set: hilo's own request
    span (hilo.kit.observe.asgi, outermost, on any FastAPI version) is the one, so FastAPI's
    would only duplicate it."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


__all__ = ["create_app"]
