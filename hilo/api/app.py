"""The ASGI application: routes, error shapes, start-up and shut-down."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from hilo import __version__
from hilo.api import assistants, errors, files, health, messages, runs, threads
from hilo.api.errors import APIError
from hilo.config import Settings, get_settings
from hilo.db.session import Database
from hilo.engine.events import EventBus
from hilo.engine.runner import RunEngine
from hilo.providers.registry import Providers

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
            return await _send_413(send, self.settings)
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


async def _send_413(send, settings: Settings) -> None:
    import json

    body = json.dumps(files.too_large(settings).body()).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = Database(settings.database_url)
        bus = EventBus()
        providers = Providers(settings)
        engine = RunEngine(db, providers, bus, settings)
        app.state.settings, app.state.db, app.state.bus = settings, db, bus
        app.state.providers, app.state.engine = providers, engine
        if settings.recover_on_start:
            touched = await engine.recover()
            if touched:
                log.warning("recovered %d run(s) left active by a previous process", touched)
        await engine.start_background()
        log.info("hilo %s ready: database %s, default model provider %s",
                 __version__, db.engine.dialect.name, providers.default_kind)
        try:
            yield
        finally:
            await engine.stop()
            await providers.aclose()
            await db.dispose()

    app = FastAPI(title="hilo", version=__version__, lifespan=lifespan,
                  description="A self-hosted assistant server speaking the OpenAI Assistants API v2.")
    errors.install(app)
    for module in (health, assistants, threads, messages, runs, files):
        app.include_router(module.router)
    app.add_middleware(UploadLimit, settings=settings)
    return app


__all__ = ["APIError", "create_app"]
