"""Channels: the WebSocket of seed 003, WhatsApp (Twilio, Meta Cloud API) and the seed-001
status pages. Every channel turn is :func:`hilo.channels.conversation.converse`, which ends in
the one turn service (:meth:`hilo.runs.service.RunService.start`).

``create_app`` calls :func:`install` and, in its lifespan, :func:`start` / :func:`stop`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from hilo.channels import facade, health, meta, twilio, websocket
from hilo.channels.common import Background
from hilo.channels.meta import MetaTransport
from hilo.channels.twilio import TwilioTransport
from hilo.channels.whatsapp import Stats

SHUTDOWN_GRACE_S = 5.0


@dataclass
class ChannelRuntime:
    client: httpx.AsyncClient
    twilio: object
    meta: object
    background: Background = field(default_factory=Background)
    twilio_stats: Stats = field(default_factory=Stats)
    meta_stats: Stats = field(default_factory=Stats)
    ws_connections: int = 0


# Path prefixes whose routes answer errors in their own shape (where hilo answers before a
# route runs, e.g. an upload refused by its size): prefix -> error -> body.
ENVELOPES = {facade.PREFIX: facade.envelope}
ENVELOPE_SCHEMAS = {facade.PREFIX: facade.ENVELOPE_SCHEMA}  # the same, as the OpenAPI spec shows them


def install(app, settings) -> None:
    """The routes, and the WebSocket endpoint ahead of the router (see channels.websocket).

    A WhatsApp provider's webhook is mounted only when that provider is configured: one that is
    off answers 404 like any unknown path and is absent from the OpenAPI spec (the status pages
    still list it, ``configured: false``)."""
    routers = [facade.router, health.router]
    if twilio.configured(settings):
        routers.append(twilio.router)
    if meta.configured(settings):
        routers.append(meta.router)
    for router in routers:
        app.include_router(router)
    app.add_middleware(websocket.FastPath)


async def start(state) -> None:
    settings = state.settings
    client = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=10.0), headers={"user-agent": "hilo-channels"})
    state.channels = ChannelRuntime(client, TwilioTransport(settings, client), MetaTransport(settings, client))


async def stop(state) -> None:
    runtime: ChannelRuntime | None = getattr(state, "channels", None)
    if runtime is not None:
        await runtime.background.drain(SHUTDOWN_GRACE_S)
        await runtime.client.aclose()


def server_options(settings) -> dict:
    """uvicorn options the channels need: WebSocket ping frames every HILO_WS_HEARTBEAT_S (a
    peer that has not answered one within as long again is dropped), and permessage-deflate
    only when HILO_WS_COMPRESSION is on (its zlib state is ~37 KB per connection)."""
    beat = settings.ws_heartbeat_s if settings.ws_heartbeat_s and settings.ws_heartbeat_s > 0 else None
    return {"ws_ping_interval": beat, "ws_ping_timeout": beat, "ws_per_message_deflate": settings.ws_compression}


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (every WebSocket holds a descriptor)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft
