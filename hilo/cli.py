"""The ``hilo`` command: serve, migrate, packs, version."""

from __future__ import annotations

import logging
import os
import socket
from typing import Annotated

import typer

from hilo import __version__
from hilo.config import get_settings

app = typer.Typer(help="hilo: a self-hosted assistant server (OpenAI Assistants API v2 on any model).",
                  no_args_is_help=True, add_completion=False)


def _log(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def version() -> None:
    """Print hilo's version."""
    typer.echo(__version__)


@app.command()
def migrate() -> None:
    """Apply database migrations (HILO_DATABASE_URL) up to the newest."""
    from hilo.db.migrate import current, upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo(f"database at revision {current(settings.database_url)}")


packs_app = typer.Typer(help="Installed packs (tools, assistants, tables, routes).", no_args_is_help=True)
app.add_typer(packs_app, name="packs")

from hilo.auth.cli import keys_app  # noqa: E402

app.add_typer(keys_app, name="keys")


@packs_app.command("list")
def packs_list() -> None:
    """List installed packs: name, enabled (HILO_PACKS), description, tools, assistants."""
    from hilo.packs.loader import discover, select

    installed = discover()
    enabled = {p.name for p in select(installed, get_settings().packs)}
    if not installed:
        typer.echo("no packs installed")
    for pack in installed.values():
        typer.echo(f"{pack.name}  [{'enabled' if pack.name in enabled else 'disabled'}]  {pack.description}")
        typer.echo(f"  tools: {', '.join(t.name for t in pack.tools) or '-'}")
        specs = pack.assistant_specs()
        typer.echo(f"  assistants: {', '.join(f'{s.key} ({s.name})' for s in specs) or '-'}")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket whose accepted connections get TCP_NODELAY.

    uvicorn's own multi-worker socket has protocol 0, so asyncio never sets
    TCP_NODELAY on its connections and every keep-alive response waits ~40 ms for
    Nagle (see DESIGN.md). Binding with IPPROTO_TCP avoids that.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (HILO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (HILO_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Apply migrations, then serve the API."""
    import asyncio

    import uvicorn

    from hilo import channels
    from hilo.api.app import create_app
    from hilo.db.migrate import upgrade
    from hilo.db.session import Database
    from hilo.engine.events import EventBus
    from hilo.engine.runner import RunEngine
    from hilo.providers.registry import Providers

    settings = get_settings()
    _log(settings.log_level)
    host = host or settings.host
    port = port or settings.port
    upgrade(settings.database_url)
    if workers > 1:
        # Recover once here; workers must not fail each other's fresh runs.
        async def _recover() -> int:
            db = Database(settings.database_url)
            try:
                return await RunEngine(db, Providers(settings), EventBus(), settings).recover()
            finally:
                await db.dispose()

        asyncio.run(_recover())
        os.environ["HILO_RECOVER_ON_START"] = "false"
    sock = bind_socket(host, port)
    channels.raise_fd_limit()  # one descriptor per WebSocket
    logging.getLogger("hilo").info("serving on http://%s:%d (%d worker%s)", host, port, workers, "s" * (workers > 1))
    config = uvicorn.Config(
        "hilo.api.app:create_app" if workers > 1 else create_app(settings),
        factory=workers > 1, workers=workers, log_level=settings.log_level.lower(),
        proxy_headers=True, timeout_graceful_shutdown=5, **channels.server_options(settings),
    )
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":  # pragma: no cover
    app()
