"""The ``hilo`` command: serve, migrate, packs, keys, version."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from hilo import __version__
from hilo.kit.config import get_settings
from hilo.kit.net import bind_socket

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
    from hilo.migrations import current, upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo(f"database at revision {current(settings.database_url)}")


packs_app = typer.Typer(help="Installed packs (tools, assistants, tables, routes).", no_args_is_help=True)
app.add_typer(packs_app, name="packs")

keys_app = typer.Typer(help="API keys (stored hashed; the secret is printed once).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _with_session(coro_fn):
    """Run ``coro_fn(session)`` against HILO_DATABASE_URL (migrated first)."""
    import asyncio

    from hilo.kit.db.session import Database
    from hilo.migrations import upgrade

    settings = get_settings()
    upgrade(settings.database_url)

    async def main():
        db = Database(settings.database_url)
        try:
            async with db.sessionmaker() as session:
                return await coro_fn(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="User name (created if new).")],
    scope: Annotated[str, typer.Option(help="admin or user.")] = "user",
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Create a key for USER and print its secret (shown only this once)."""
    from hilo.identity import keys
    from hilo.identity.users import user_by_name

    if scope not in keys.SCOPES:
        raise typer.BadParameter("must be admin or user", param_hint="--scope")

    async def go(session):
        owner = await user_by_name(session, user)
        row, secret = await keys.create(session, owner.id, scope, name)
        await session.commit()
        return row, secret

    row, secret = _with_session(go)
    typer.echo(f"created {row.id} ({row.scope}) for user {user} [{row.user_id}]")
    typer.echo("secret (store it now; it is not shown again):")
    typer.echo(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys: id, scope, user, name, prefix, created, last used, revoked."""
    from hilo.identity import keys

    rows = _with_session(keys.listing)
    if not rows:
        typer.echo("no keys")
    for r in rows:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        typer.echo(f"{r.id}  {r.scope:<5}  {r.user_id}  {r.name or '-'}  {r.prefix}  created {r.created_at}  "
                   f"last used {r.last_used_at or '-'}  {state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key (other processes notice within HILO_AUTH_CACHE_S)."""
    from hilo.identity import keys

    async def go(session):
        row = await keys.revoke(session, key_id)
        await session.commit()
        return row

    if _with_session(go) is None:
        typer.echo(f"no key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


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
    from hilo.app import create_app
    from hilo.kit.bus import LocalBus
    from hilo.kit.db.session import Database
    from hilo.migrations import upgrade
    from hilo.providers.registry import Providers
    from hilo.runs.engine import RunEngine
    from hilo.runs.store import RunStore

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
                return await RunEngine(RunStore(db), Providers(settings), LocalBus(), settings).recover()
            finally:
                await db.dispose()

        asyncio.run(_recover())
        os.environ["HILO_RECOVER_ON_START"] = "false"
    sock = bind_socket(host, port)
    channels.raise_fd_limit()  # one descriptor per WebSocket
    logging.getLogger("hilo").info("serving on http://%s:%d (%d worker%s)", host, port, workers, "s" * (workers > 1))
    config = uvicorn.Config(
        "hilo.app:create_app" if workers > 1 else create_app(settings),
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
