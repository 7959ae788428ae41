"""The ASGI application: routes, error shapes, start-up and shut-down."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from hilo import __version__, channels
from hilo.api import assistants, errors, files, health, messages, runs, threads
from hilo.api.errors import APIError
from hilo.auth import admin as auth_admin
from hilo.auth.deps import v1_guard
from hilo.auth.service import AuthService
from hilo.channels import facade
from hilo.config import Settings, get_settings
from hilo.db.session import Database
from hilo.engine.events import EventBus
from hilo.engine.runner import RunEngine
from hilo.packs import Pack, loader
from hilo.providers.registry import Providers
from hilo.tools import ToolRegistry

log = logging.getLogger("hilo")


class UploadLimit:
    """Refuse multipart bodies over HILO_MAX_UPLOAD_MB before they are spooled to disk."""

    SLACK = 64 * 1024  # multipart boundaries and form fields

    def __init__(self, app, settings: Settings):
        self.app = app
        self.limit = settings.max_upload_bytes + self.SLACK
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if not headers.get(b"content-type", b"").startswith(b"multipart/"):
            return await self.app(scope, receive, send)
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _send_413(send, self.settings, scope["path"])
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # FastAPI turns other errors raised while parsing a form into a 400.
                raise StarletteHTTPException(413, detail=files.too_large(self.settings).message)
            return message

        return await self.app(scope, limited_receive, send)


async def _send_413(send, settings: Settings, path: str = "") -> None:
    import json

    error = files.too_large(settings)
    envelope = {"success": False, "error": error.message} if path.startswith(facade.PREFIX) else error.body()
    body = json.dumps(envelope).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, packs: list[Pack] | None = None) -> FastAPI:
    """``packs``: the packs to start; by default the installed ones HILO_PACKS enables."""
    settings = settings or get_settings()
    if packs is None:
        packs = loader.select(loader.discover(), settings.packs)
    tools = ToolRegistry()
    loader.register_tools(packs, tools)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = Database(settings.database_url, settings.db_pool_size)
        bus = EventBus()
        providers = Providers(settings, tools)
        # The guided provider answers when the configured model fails after its retries.
        fallback = providers.guided if providers.default_kind == "openai" else None
        engine = RunEngine(db, providers, bus, settings, tools=tools, fallback=fallback)
        app.state.settings, app.state.db, app.state.bus = settings, db, bus
        app.state.providers, app.state.engine, app.state.packs = providers, engine, packs
        app.state.pack_assistants = await loader.start(db, packs, tools, providers.guided)
        if providers.default_kind in ("guided", "openai"):
            await providers.guided.warm()
        if settings.recover_on_start:
            touched = await engine.recover()
            if touched:
                log.warning("recovered %d run(s) left active by a previous process", touched)
        await engine.start_background()
        await channels.start(app.state)  # WhatsApp clients, the event-webhook dispatcher
        log.info("hilo %s ready: database %s, default model provider %s",
                 __version__, db.engine.dialect.name, providers.default_kind)
        try:
            yield
        finally:
            await engine.stop()
            await channels.stop(app.state)
            await providers.aclose()
            await app.state.auth.aclose()  # the rate limiter's Redis pool
            await db.dispose()

    app = FastAPI(title="hilo", version=__version__, lifespan=lifespan,
                  description="A self-hosted assistant server speaking the OpenAI Assistants API v2.")
    errors.install(app)
    app.state.auth = AuthService(settings)  # validates HILO_AUTH / HILO_JWT_* now, not on a request
    app.state.auth.announce()
    app.include_router(health.router)
    # The turn route first: routes are matched in order, and it is the busiest.
    for module in (runs, messages, threads, assistants, files):
        app.include_router(module.router, dependencies=[Depends(v1_guard)])  # auth, rate limit, owners
    app.include_router(auth_admin.router)
    app.include_router(facade.router)  # seed 000: /api/assistant/*
    channels.install(app)  # /, /webhooks/*, /ws/assistant/, /admin/webhooks
    for pack in packs:
        for router in pack.routers:
            app.include_router(router)
    app.add_middleware(UploadLimit, settings=settings)
    return app


__all__ = ["APIError", "create_app"]
