"""The ASGI application: what hilo is made of, wired together; routes, start-up and shut-down.

This is the one place that knows every part: the shared kit, the domains, the run service,
the HTTP endpoints, the channels, the webhooks and the enabled packs.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from hilo import __version__, channels, web, webhooks
from hilo.api import (
    admin,
    assistants,
    audio,
    docs,
    errors,
    files,
    health,
    messages,
    openapi,
    runs,
    threads,
    vector_stores,
)
from hilo.api.guard import v1_guard
from hilo.api.limits import RequestLimits, check_inputs
from hilo.audio import aclose as close_transcription
from hilo.audio import announce as announce_transcription
from hilo.identity.service import AuthService
from hilo.kit.bus import LocalBus
from hilo.kit.config import Settings, get_settings
from hilo.kit.db.session import Database
from hilo.knowledge.ingest import Ingestor
from hilo.packs import Pack, loader
from hilo.providers.registry import Providers
from hilo.runs.engine import RunEngine
from hilo.runs.service import RunService
from hilo.runs.store import RunStore
from hilo.tools import ToolRegistry
from hilo.tools.file_search import FileSearchKind
from hilo.tools.permissions import ToolPolicy
from hilo.webhooks import api as webhooks_api
from hilo.webhooks import events as webhook_events

log = logging.getLogger("hilo")


def create_app(settings: Settings | None = None, packs: list[Pack] | None = None) -> FastAPI:
    """``packs``: the packs to start; by default the installed ones HILO_PACKS enables."""
    settings = settings or get_settings()
    if packs is None:
        packs = loader.select(loader.discover(), settings.packs)
    tools = ToolRegistry()
    tools.register_kind(FileSearchKind())  # the built-in retrieval tool (hilo.knowledge)
    loader.register_tools(packs, tools)
    webhook_events.register(event for pack in packs for event in pack.events)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = Database(settings.database_url, settings.db_pool_size)
        tools.policy = ToolPolicy(db, ttl=settings.auth_cache_s)
        bus = LocalBus()
        providers = Providers(settings, tools)
        # The guided provider answers when the configured model fails after its retries.
        fallback = providers.guided if providers.default_kind == "openai" else None
        store = RunStore(db, max_messages=settings.context_max_messages)
        engine = RunEngine(store, providers, bus, settings, tools=tools, fallback=fallback)
        app.state.settings, app.state.db, app.state.bus, app.state.tools = settings, db, bus, tools
        app.state.providers, app.state.packs = providers, packs
        app.state.runs = RunService(store, engine, bus, settings, tools)
        started = await loader.start(db, packs, tools, providers.guided, settings)
        app.state.pack_assistants, app.state.channel_assistants = started.assistants, started.channels
        if providers.default_kind in ("guided", "openai"):
            await providers.guided.warm()
        if settings.recover_on_start:
            touched = await engine.recover()
            if touched:
                log.warning("recovered %d run(s) left active by a previous process", touched)
        await engine.start_background()
        app.state.knowledge = Ingestor(db, settings)  # vector store files, in the background
        await app.state.knowledge.start()
        await channels.start(app.state)  # WhatsApp clients
        app.state.webhooks = webhooks.WebhookDispatcher(db, bus, settings)
        await app.state.webhooks.start()
        for pack in packs:
            if pack.on_start is not None:
                await pack.on_start(app.state)
        announce_transcription(settings)  # which speech-to-text answers, or what its settings lack
        log.info("hilo %s ready: database %s, default model provider %s",
                 __version__, db.engine.dialect.name, providers.default_kind)
        try:
            yield
        finally:
            for pack in reversed(packs):
                if pack.on_stop is not None:
                    try:
                        await pack.on_stop(app.state)
                    except Exception:
                        log.exception("pack %s did not stop cleanly", pack.name)
            await engine.stop()
            await app.state.knowledge.stop()
            await channels.stop(app.state)
            await app.state.webhooks.stop()
            await providers.aclose()
            await close_transcription()  # the endpoint's SDK clients of this event loop
            await app.state.auth.aclose()  # the rate limiter's Redis pool
            await db.dispose()

    # check_inputs comes first on every route: before the /v1 guard looks up a path's ids.
    app = FastAPI(title="hilo", version=__version__, lifespan=lifespan, dependencies=[Depends(check_inputs)],
                  description="A self-hosted assistant server speaking the OpenAI Assistants API v2.",
                  docs_url=None, redoc_url=None)
    errors.install(app)
    docs.install(app)  # /docs and /redoc from installed assets, no CDN
    app.state.settings = settings
    app.state.auth = AuthService(settings)  # validates HILO_AUTH / HILO_JWT_* now, not on a request
    app.state.auth.announce()
    app.include_router(health.router)
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
    return app


__all__ = ["create_app"]
