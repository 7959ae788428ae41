"""What a hilo process is made of, started and stopped in order: shared by ``hilo serve`` (the
ASGI app's lifespan) and ``hilo worker`` (no HTTP).

One process (no ``HILO_REDIS_URL``): an in-memory bus and runs executed as tasks here. Scaled
out: the Redis bus and the run queue; ``execute`` says whether this process also consumes the
queue (a worker always does; ``hilo serve --no-execute`` only enqueues). The background work
kept in database rows (ingestion, webhook deliveries) is claimed with leases, so it runs in every
process that executes; the council's schedules take a Redis lock per tick.
"""

from __future__ import annotations

import logging
from typing import Any

from hilo import __version__, channels, webhooks
from hilo.audio import aclose as close_transcription
from hilo.audio import announce as announce_transcription
from hilo.kit.bus import EventBus, LocalBus
from hilo.kit.config import Settings
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
from hilo.webhooks import events as webhook_events

log = logging.getLogger("hilo")


def scaled_out(settings: Settings) -> bool:
    """Runs go through the Redis queue (HILO_RUN_QUEUE, by default whenever HILO_REDIS_URL is set)."""
    if settings.run_queue == "redis":
        return True
    return settings.run_queue == "auto" and bool(settings.redis_url)


def make_tools(packs: list[Pack]) -> ToolRegistry:
    """The tool registry: the built-in kinds and every pack's tools (and the packs' webhook events)."""
    tools = ToolRegistry()
    tools.register_kind(FileSearchKind())  # the built-in retrieval tool (hilo.knowledge)
    loader.register_tools(packs, tools)
    webhook_events.register(event for pack in packs for event in pack.events)
    return tools


def make_bus(settings: Settings) -> EventBus:
    if scaled_out(settings):
        from hilo.kit.redis_bus import RedisBus

        return RedisBus(settings.redis_url, settings.redis_prefix)
    return LocalBus()


async def start(state: Any, settings: Settings, packs: list[Pack], tools: ToolRegistry, *,
                execute: bool = True, role: str = "api") -> None:
    """Build and start every part onto ``state`` (the app's state, or the worker's)."""
    db = Database(settings.database_url, settings.db_pool_size)
    tools.policy = ToolPolicy(db, ttl=settings.auth_cache_s)
    bus = make_bus(settings)
    await bus.start()
    providers = Providers(settings, tools)
    # The guided provider answers when the configured model fails after its retries.
    fallback = providers.guided if providers.default_kind == "openai" else None
    store = RunStore(db, max_messages=settings.context_max_messages)
    engine = RunEngine(store, providers, bus, settings, tools=tools, fallback=fallback)
    queued = scaled_out(settings)
    if queued:
        from hilo.runs.queue import QueueExecutor

        engine.use_queue(QueueExecutor(engine.executor, db, bus, settings.redis_url, prefix=settings.redis_prefix,
                                       lease_s=settings.run_lease_s, concurrency=settings.max_concurrent_runs,
                                       consume=execute))
    state.settings, state.db, state.bus, state.tools = settings, db, bus, tools
    state.providers, state.packs, state.engine = providers, packs, engine
    state.executes, state.role = execute, role
    state.runs = RunService(store, engine, bus, settings, tools)
    started = await loader.start(db, packs, tools, providers.guided, settings)
    state.pack_assistants, state.channel_assistants = started.assistants, started.channels
    if execute and providers.default_kind in ("guided", "openai"):
        await providers.guided.warm()
    if settings.recover_on_start and not queued:
        # One process: whatever it left active died with it. Scaled out, other workers may be
        # executing those runs: expired leases and lost jobs are swept instead.
        touched = await engine.recover()
        if touched:
            log.warning("recovered %d run(s) left active by a previous process", touched)
    await engine.start_background()
    state.knowledge = Ingestor(db, settings)  # vector store files, in the background
    if execute:
        await state.knowledge.start()
    await channels.start(state)  # WhatsApp clients
    state.webhooks = webhooks.WebhookDispatcher(db, bus, settings)
    await state.webhooks.start()  # deliveries are rows claimed with leases: every process shares them
    for pack in packs:
        if pack.on_start is not None:
            await pack.on_start(state)
    announce_transcription(settings)  # which speech-to-text answers, or what its settings lack
    how = ("runs on the Redis queue, executed here too" if queued and execute else
           "runs on the Redis queue, executed by workers" if queued else "runs executed here")
    log.info("hilo %s %s ready: database %s, default model provider %s, %s",
             __version__, role, db.engine.dialect.name, providers.default_kind, how)


async def stop(state: Any) -> None:
    for pack in reversed(state.packs):
        if pack.on_stop is not None:
            try:
                await pack.on_stop(state)
            except Exception:
                log.exception("pack %s did not stop cleanly", pack.name)
    await state.engine.stop()
    await state.knowledge.stop()
    await channels.stop(state)
    await state.webhooks.stop()
    await state.bus.stop()
    await state.providers.aclose()
    await close_transcription()  # the endpoint's SDK clients of this event loop
    await state.db.dispose()


__all__ = ["make_bus", "make_tools", "scaled_out", "start", "stop"]
