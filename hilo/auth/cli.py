"""``hilo keys create|list|revoke``: API keys from the command line (HILO_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

keys_app = typer.Typer(help="API keys (stored hashed; the secret is printed once).", no_args_is_help=True)


def _run(coro_fn):
    from hilo.config import get_settings
    from hilo.db.migrate import upgrade
    from hilo.db.session import Database

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
def create(
    user: Annotated[str, typer.Option(help="User name (created if new).")],
    scope: Annotated[str, typer.Option(help="admin or user.")] = "user",
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Create a key for USER and print its secret (shown only this once)."""
    from hilo.auth import keys
    from hilo.auth.admin import user_by_name

    if scope not in keys.SCOPES:
        raise typer.BadParameter("must be admin or user", param_hint="--scope")

    async def go(session):
        owner = await user_by_name(session, user)
        row, secret = await keys.create(session, owner.id, scope, name)
        await session.commit()
        return row, secret

    row, secret = _run(go)
    typer.echo(f"created {row.id} ({row.scope}) for user {user} [{row.user_id}]")
    typer.echo("secret (store it now; it is not shown again):")
    typer.echo(secret)


@keys_app.command("list")
def list_keys() -> None:
    """List keys: id, scope, user, name, prefix, created, last used, revoked."""
    from hilo.auth import keys

    rows = _run(keys.listing)
    if not rows:
        typer.echo("no keys")
    for r in rows:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        typer.echo(f"{r.id}  {r.scope:<5}  {r.user_id}  {r.name or '-'}  {r.prefix}  created {r.created_at}  "
                   f"last used {r.last_used_at or '-'}  {state}")


@keys_app.command("revoke")
def revoke(key_id: str) -> None:
    """Revoke a key (other processes notice within HILO_AUTH_CACHE_S)."""
    from hilo.auth import keys

    async def go(session):
        row = await keys.revoke(session, key_id)
        await session.commit()
        return row

    if _run(go) is None:
        typer.echo(f"no key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")
