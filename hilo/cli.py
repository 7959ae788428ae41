"""The ``hilo`` command: serve, migrate, packs, keys, knowledge, version."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from hilo import __version__
from hilo.kit.config import get_settings
from hilo.kit.net import bind_socket

app = typer.Typer(help="hilo: a self-hosted assistant server (OpenAI Assistants API v2 on any model).",
                  no_args_is_help=True, add_completion=False)


def _log(level: str) -> None:
    from hilo.kit.observe import logs

    logs.configure(level, get_settings().log_format)  # HILO_LOG_FORMAT: text | json


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


knowledge_app = typer.Typer(help="Vector stores: add files and folders (with a progress bar), list stores.",
                            no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")


def _documents(paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, the name it is kept under) for every path: a file as given, a folder's parseable files."""
    from hilo.knowledge.parsing import SUPPORTED_EXTENSIONS

    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for item in sorted(path.rglob("*")):
                rel = item.relative_to(path)
                if (item.is_file() and item.suffix.lower() in SUPPORTED_EXTENSIONS
                        and not any(part.startswith(".") for part in rel.parts)):
                    found.append((item, str(Path(path.name) / rel)))
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise typer.BadParameter(f"{path} is neither a file nor a folder", param_hint="PATH...")
    return found


@knowledge_app.command("add")
def knowledge_add(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (folders: every file hilo can parse).")],
    store: Annotated[str, typer.Option("--store", help="The vector store's name (created if there is none).")],
    user: Annotated[str | None, typer.Option(help="Owner (a user name, created if new); default: the operator's, "
                                                  "which admins see.")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="max_chunk_size_tokens (100-4096; default 800).")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="chunk_overlap_tokens (default 400, at most half).")] = None,
    wait: Annotated[bool, typer.Option(help="Ingest here with a progress bar (--no-wait: leave it to the server's "
                                            "workers).")] = True,
) -> None:
    """Add files and folders to a vector store; unchanged files (same path, same SHA-256) are skipped."""
    import asyncio

    from hilo.kit.errors import HiloError

    settings = get_settings()
    _log("warning")
    documents = _documents(paths)
    if not documents:
        typer.echo("no files hilo can parse under the given paths")
        raise typer.Exit(1)
    from hilo.migrations import upgrade

    upgrade(settings.database_url)
    rule = None
    if chunk_size is not None or chunk_overlap is not None:
        size = chunk_size or 800
        rule = {"type": "static", "static": {"max_chunk_size_tokens": size,
                                             "chunk_overlap_tokens": chunk_overlap if chunk_overlap is not None
                                             else min(400, size // 2)}}
    try:
        failed = asyncio.run(_knowledge_add(settings, documents, store, user, rule, wait))
    except HiloError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    if failed:
        raise typer.Exit(1)


async def _knowledge_add(settings, documents: list[tuple[Path, str]], name: str, user: str | None,
                         rule: dict | None, wait: bool) -> int:
    import hashlib
    import mimetypes

    from sqlalchemy import select

    from hilo.files.models import File
    from hilo.files.service import store_bytes
    from hilo.identity import LOCAL_ADMIN, user_principal
    from hilo.identity.users import user_by_name
    from hilo.kit.db.session import Database
    from hilo.knowledge import service
    from hilo.knowledge.ingest import Ingestor
    from hilo.knowledge.models import VectorStore, VectorStoreFile

    db = Database(settings.database_url)
    try:
        async with db.sessionmaker() as session:
            owner = None
            if user is not None:
                owner = (await user_by_name(session, user)).id
                await session.commit()
            principal = user_principal(owner, via="cli") if owner else LOCAL_ADMIN
            query = select(VectorStore).where(VectorStore.name == name).order_by(VectorStore.id.desc())
            query = query.where(VectorStore.user_id == owner if owner else VectorStore.user_id.is_(None))
            store = (await session.scalars(query.limit(1))).first()
            if store is None:
                store = await service.create_store(session, principal, name=name, description=None, metadata=None,
                                                   expires_after=None, file_ids=[], chunking_strategy=None)
                typer.echo(f"created vector store {store.id} ({name})")
            service.check_usable(store)
            strategy = service.strategy(rule)
            members = (await session.execute(
                select(VectorStoreFile.id, VectorStoreFile.attributes, VectorStoreFile.status)
                .where(VectorStoreFile.vector_store_id == store.id))).all()
        by_path = {(attrs or {}).get("path"): (file_id, (attrs or {}).get("sha256"), status)
                   for file_id, attrs, status in members}
        entries, skipped = [], 0
        for path, kept_as in documents:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            old = by_path.get(kept_as)
            if old is not None and old[1] == digest:
                if old[2] in ("completed", "in_progress"):
                    skipped += 1
                    continue
                async with db.sessionmaker() as session:  # failed or cancelled before: the same File again
                    row = await session.get(File, old[0])
                if row is not None:
                    entries.append(service.Entry(row, {"path": kept_as[:512], "sha256": digest}, strategy))
                    continue
            if old is not None:  # changed: the old version leaves the store (its File stays in /v1/files)
                async with db.sessionmaker() as session:
                    await service.remove_file(session, store.id, old[0])
            content_type = mimetypes.guess_type(path.name)[0]
            file_id = await store_bytes(db, settings, owner, data, path.name, content_type, purpose="assistants")
            async with db.sessionmaker() as session:
                row = await session.get(File, file_id)
            entries.append(service.Entry(row, {"path": kept_as[:512], "sha256": digest}, strategy))
        if entries:
            async with db.sessionmaker() as session:
                fresh = await session.get(VectorStore, store.id)
                await service.add_files(session, fresh, entries)
        typer.echo(f"{store.id} ({name}): {len(entries)} file(s) queued, {skipped} unchanged")
        if not entries or not wait:
            return 0
        return await _ingest_with_progress(db, settings, store.id, [e.file.id for e in entries],
                                           {e.file.id: e.attributes["path"] for e in entries}, Ingestor)
    finally:
        await db.dispose()


async def _ingest_with_progress(db, settings, store_id: str, file_ids: list[str], names: dict[str, str],
                                ingestor_type) -> int:
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy import func, select

    from hilo.knowledge.models import KnowledgeChunk, VectorStoreFile

    ingestor = ingestor_type(db, settings, workers=max(1, settings.knowledge_workers))
    await ingestor.start()
    members: list = []
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                   TextColumn("{task.fields[chunks]} chunks"), TimeElapsedColumn())
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task("ingesting", total=len(file_ids), chunks=0)
            while True:
                async with db.sessionmaker() as session:
                    members = (await session.scalars(select(VectorStoreFile).where(
                        VectorStoreFile.vector_store_id == store_id, VectorStoreFile.id.in_(file_ids)))).all()
                    chunks = await session.scalar(select(func.count()).select_from(KnowledgeChunk).where(
                        KnowledgeChunk.vector_store_id == store_id, KnowledgeChunk.file_id.in_(file_ids)))
                done = sum(m.status != "in_progress" for m in members) + (len(file_ids) - len(members))
                progress.update(task, completed=done, chunks=chunks or 0)
                if done >= len(file_ids):
                    break
                await asyncio.sleep(0.2)
    finally:
        await ingestor.stop()
    failed = [m for m in members if m.status == "failed"]
    completed = sum(m.status == "completed" for m in members)
    typer.echo(f"{completed} completed, {len(failed)} failed, "
               f"{sum(m.status == 'cancelled' for m in members)} cancelled")
    for m in failed:
        typer.echo(f"  failed: {names.get(m.id, m.id)}: {m.last_error['code']}: {m.last_error['message']}")
    return len(failed)


@knowledge_app.command("list")
def knowledge_list(
    store: Annotated[str | None, typer.Option("--store", help="Also list this store's files (name or id).")] = None,
) -> None:
    """List vector stores (id, name, status, file counts, bytes, owner); with --store, its files."""
    from sqlalchemy import select

    from hilo.kit.ids import now
    from hilo.knowledge import objects, service
    from hilo.knowledge.models import VectorStore, VectorStoreFile

    async def go(session):
        stores = (await session.scalars(select(VectorStore).order_by(VectorStore.id))).all()
        counts = await service.counts(session, [s.id for s in stores])
        chosen = [s for s in stores if store is not None and store in (s.id, s.name)]
        files = []
        if chosen:
            files = (await session.scalars(select(VectorStoreFile).where(
                VectorStoreFile.vector_store_id == chosen[-1].id).order_by(VectorStoreFile.id))).all()
        return stores, counts, chosen, files

    stores, counts, chosen, files = _with_session(go)
    if not stores:
        typer.echo("no vector stores")
    at = now()
    for s in stores:
        c = counts[s.id]
        typer.echo(f"{s.id}  {s.name or '-'}  [{objects.store_status(s, c, at)}]  {c.completed}/{c.total} completed, "
                   f"{c.in_progress} in progress, {c.failed} failed, {c.cancelled} cancelled  {c.usage_bytes} bytes  "
                   f"owner {s.user_id or 'operator'}")
    if store is not None and not chosen:
        typer.echo(f"no vector store named {store}", err=True)
        raise typer.Exit(1)
    for m in files:
        error = f"  {m.last_error['code']}: {m.last_error['message']}" if m.last_error else ""
        typer.echo(f"  {m.id}  {(m.attributes or {}).get('path', '')}  {m.status}  {m.usage_bytes} bytes{error}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (HILO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (HILO_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    execute: Annotated[bool | None, typer.Option(
        "--execute/--no-execute",
        help="Scaled out (HILO_REDIS_URL): also execute queued runs here (default HILO_EXECUTE_RUNS), "
             "or only serve and enqueue, leaving runs to `hilo worker`.")] = None,
) -> None:
    """Apply migrations, then serve the API."""
    import asyncio

    import uvicorn

    from hilo import channels
    from hilo.app import create_app
    from hilo.kit.bus import LocalBus
    from hilo.kit.db.session import Database
    from hilo.kit.observe import logs
    from hilo.migrations import upgrade
    from hilo.providers.registry import Providers
    from hilo.runs.engine import RunEngine
    from hilo.runs.store import RunStore
    from hilo.runtime import scaled_out

    settings = get_settings()
    _log(settings.log_level)
    if execute is not None:
        os.environ["HILO_EXECUTE_RUNS"] = "true" if execute else "false"  # --workers N: each process reads it
        settings = settings.model_copy(update={"execute_runs": execute})
    host = host or settings.host
    port = port or settings.port
    upgrade(settings.database_url)
    if workers > 1:
        _shared_metrics_dir()
        # several processes embedding at once: one OpenMP thread each (see Settings.embedding_threads)
        os.environ.setdefault("HILO_GUIDED_THREADS", "1")
    if workers > 1 and not scaled_out(settings):
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
        log_config=logs.config(settings.log_level, settings.log_format),
        proxy_headers=True, timeout_graceful_shutdown=5, **channels.server_options(settings),
    )
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


def _shared_metrics_dir() -> None:
    """Several workers: their metrics add up through files in PROMETHEUS_MULTIPROC_DIR (a fresh
    directory, removed at exit, unless the operator set one). Set before any worker starts."""
    from hilo.kit.observe.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        return
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="hilo-metrics-")
    os.environ[MULTIPROC_ENV] = path
    atexit.register(shutil.rmtree, path, True)


@app.command()
def worker() -> None:
    """Execute queued runs from the Redis queue (HILO_REDIS_URL), with the background work of a
    scaled-out hilo: ingestion, webhook deliveries, the council's schedules. Stops on SIGTERM."""
    import asyncio
    import signal
    from types import SimpleNamespace

    from hilo import runtime
    from hilo.kit.observe import metrics, tracing
    from hilo.migrations import upgrade
    from hilo.packs import loader
    from hilo.runtime import scaled_out

    settings = get_settings()
    _log(settings.log_level)
    if not scaled_out(settings):
        typer.echo("hilo worker takes runs from the Redis queue: set HILO_REDIS_URL (and HILO_DATABASE_URL "
                   "to the database the API replicas use).", err=True)
        raise typer.Exit(2)
    upgrade(settings.database_url)

    async def main() -> None:
        packs = loader.select(loader.discover(), settings.packs)
        state = SimpleNamespace()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        tools = runtime.make_tools(packs)
        tracing.configure(settings.otel_endpoint)
        await runtime.start(state, settings, packs, tools, execute=True, role="worker")
        server = None
        if settings.metrics_port is not None:  # Prometheus scrapes a worker here (it has no HTTP API)
            server = metrics.start_metrics_server(settings.metrics_port, settings.host, settings.metrics_token)
            logging.getLogger("hilo").info("worker metrics on http://%s:%d/metrics", settings.host,
                                           server.server_port)
        try:
            await stopping.wait()
        finally:
            logging.getLogger("hilo").info("worker stopping: runs under way end failed (shutdown)")
            await runtime.stop(state)
            if server is not None:
                server.shutdown()

    asyncio.run(main())


def _pack_commands() -> None:
    """``hilo <pack> ...`` for every installed pack that brings commands (as an outside pack would)."""
    from hilo.packs.loader import PackError, discover

    try:
        packs = discover()
    except PackError as exc:  # a broken pack must not take the other commands down
        logging.getLogger("hilo").warning("pack commands unavailable: %s", exc)
        return
    for pack in packs.values():
        if pack.cli is not None:
            app.add_typer(pack.cli(), name=pack.name)


_pack_commands()


if __name__ == "__main__":  # pragma: no cover
    app()
