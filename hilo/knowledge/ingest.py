"""Ingestion in the background: claim a file, parse, chunk, embed, write its chunks, complete it.

A request only records a file as ``in_progress`` (:mod:`hilo.knowledge.service`); the
:class:`Ingestor`'s workers (``HILO_KNOWLEDGE_WORKERS`` asyncio tasks per process, default 1)
do the rest:

1. **Claim** (:func:`claim`): an ``in_progress`` file with no live lease (of the store with the
   fewest files waiting, the oldest first) is taken by a
   conditional UPDATE (``... WHERE status = 'in_progress' AND (lease_until IS NULL OR
   lease_until < now)``): of two processes (``hilo serve --workers 2``) or two workers racing
   for it, exactly one matches the row (PostgreSQL re-checks the condition on the row the
   winner committed; SQLite writes one at a time). The lease lasts ``HILO_KNOWLEDGE_LEASE_S``
   (30 s) and a heartbeat renews it every third of that; a process that dies leaves a lease
   that expires, and another process takes the file over.
2. **Parse** (:func:`hilo.knowledge.parsing.parse`) and **chunk**
   (:func:`hilo.knowledge.chunking.chunk` with the file's strategy) in a thread.
3. **Embed and write** in slices of about :data:`SLICE_TOKENS` tokens: each slice is embedded
   (``embeddings_for(settings).passages``, as the caller ``ingest:<store>`` of the fair scheduler,
   so users' turns go first) and written in a transaction that first re-checks the lease (an
   UPDATE of the file's row that must match: still ``in_progress``, still ours). A file
   cancelled, removed or re-added meanwhile matches nothing: the worker stops and writes nothing.
   A restarted file keeps the chunks already written that are still what it would write (same
   offsets, same embedder) and resumes after them; anything else is discarded first.
4. **Complete**: the store's ``version`` bumped and the file marked ``completed`` (with its
   ``usage_bytes`` and a new ``generation``) in one transaction, again only if the lease holds.

A file that cannot be read fails alone: :class:`~hilo.knowledge.parsing.UnsupportedFile` is
``unsupported_file``, :class:`~hilo.knowledge.parsing.InvalidFile` ``invalid_file``, anything
else ``server_error`` with a short message (the exception's kind, or the embedder's own
sentence; the details go to the log). An unexpected error is retried (up to
:data:`MAX_ATTEMPTS` claims, with a growing delay) before it fails the file. A graceful stop
releases the leases it holds, so the next process resumes at once.

``usage_bytes`` of a file is what the store keeps for it: the UTF-8 bytes of its chunks' text
plus their vectors (4 bytes a dimension), as OpenAI bills a vector store by its parsed chunks
and embeddings, not by the original file's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, func, insert, or_, select, update

from hilo.files.models import File
from hilo.kit.db.session import Database
from hilo.kit.ids import new_id
from hilo.kit.observe import metrics
from hilo.knowledge import chunking, parsing, shipped
from hilo.knowledge.embeddings import EmbeddingsUnavailable, embeddings_for
from hilo.knowledge.models import KnowledgeChunk, VectorStore, VectorStoreFile
from hilo.knowledge.service import CANCELLED, COMPLETED, FAILED, IN_PROGRESS
from hilo.nlu.fair import CALLER

log = logging.getLogger("hilo.knowledge")

SLICE_TOKENS = 1024  # chunk tokens embedded and written per transaction (~0.7 s on 2 idle cores)
SLICE_CHUNKS = 32
MAX_ATTEMPTS = 5  # claims of one file before it fails (a crash loop, or an error that keeps coming)
RETRY_S = 5.0  # the delay before an unexpected error is retried, times the attempts so far
MAX_MESSAGE = 500
_URL_USER = re.compile(r"(\w+://)[^/@\s]+@")


def _ms() -> int:
    return int(time.time() * 1000)


def lease_owner() -> str:
    """This worker's name in ``lease_owner``: host, process, and a random part."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Claim:
    vector_store_id: str
    file_id: str
    owner: str
    attempts: int


class Lost(Exception):
    """The file is no longer ours to write: cancelled, removed, re-added, or the lease taken over."""


class Failure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _held(claim: Claim):
    return and_(VectorStoreFile.vector_store_id == claim.vector_store_id, VectorStoreFile.id == claim.file_id,
                VectorStoreFile.status == IN_PROGRESS, VectorStoreFile.lease_owner == claim.owner)


# ---------------------------------------------------------------------- claims and leases
async def claim(db: Database, owner: str, lease_s: float, *, candidates: int = 8) -> Claim | None:
    """Take an unclaimed ``in_progress`` file (or one whose lease expired), or None.

    Stores with the fewest files waiting go first (a user's one upload is not queued behind a
    thousand-file import), then the oldest file."""
    at = _ms()
    free = and_(VectorStoreFile.status == IN_PROGRESS,
                or_(VectorStoreFile.lease_until.is_(None), VectorStoreFile.lease_until < at))
    waiting = (select(VectorStoreFile.vector_store_id.label("store"), func.count().label("files"))
               .where(VectorStoreFile.status == IN_PROGRESS).group_by(VectorStoreFile.vector_store_id)
               .subquery())
    async with db.sessionmaker() as session:
        rows = (await session.execute(
            select(VectorStoreFile.vector_store_id, VectorStoreFile.id, VectorStoreFile.attempts)
            .join(waiting, waiting.c.store == VectorStoreFile.vector_store_id).where(free)
            .order_by(waiting.c.files, VectorStoreFile.created_at, VectorStoreFile.vector_store_id,
                      VectorStoreFile.id)
            .limit(candidates))).all()
        await session.rollback()
        for store_id, file_id, attempts in rows:
            result = await session.execute(
                update(VectorStoreFile)
                .where(VectorStoreFile.vector_store_id == store_id, VectorStoreFile.id == file_id, free)
                .values(lease_owner=owner, lease_until=at + int(lease_s * 1000),
                        attempts=VectorStoreFile.attempts + 1)
                .execution_options(synchronize_session=False))
            await session.commit()
            if result.rowcount == 1:
                return Claim(store_id, file_id, owner, attempts + 1)
    return None


async def renew(db: Database, claim: Claim, lease_s: float) -> bool:
    """Extend the lease; False when the file is no longer ours."""
    async with db.sessionmaker() as session:
        result = await session.execute(update(VectorStoreFile).where(_held(claim))
                                       .values(lease_until=_ms() + int(lease_s * 1000))
                                       .execution_options(synchronize_session=False))
        await session.commit()
        return result.rowcount == 1


async def release(db: Database, claim: Claim, delay_s: float = 0.0, *, undo_attempt: bool = False) -> None:
    """Give the file back (still ``in_progress``): claimable again after ``delay_s``."""
    values: dict[str, Any] = {"lease_owner": None, "lease_until": _ms() + int(delay_s * 1000) if delay_s else None}
    if undo_attempt:
        values["attempts"] = VectorStoreFile.attempts - 1
    async with db.sessionmaker() as session:
        await session.execute(update(VectorStoreFile).where(_held(claim)).values(**values)
                              .execution_options(synchronize_session=False))
        await session.commit()


async def fail(db: Database, claim: Claim, code: str, message: str) -> bool:
    """Mark the file ``failed`` with ``last_error`` (its partial chunks go); False if not ours."""
    message = _URL_USER.sub(r"\1", " ".join(message.split()))[:MAX_MESSAGE]
    async with db.sessionmaker() as session:
        result = await session.execute(
            update(VectorStoreFile).where(_held(claim))
            .values(status=FAILED, last_error={"code": code, "message": message}, usage_bytes=0,
                    lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            await session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.vector_store_id == claim.vector_store_id,
                                                               KnowledgeChunk.file_id == claim.file_id))
        await session.commit()
        return result.rowcount == 1


# ---------------------------------------------------------------------- one file
def storable(text: str) -> str:
    """NUL and lone surrogates (which no database stores) as U+FFFD: the same length, so
    character offsets stay true."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = re.sub("[\ud800-\udfff]", "\ufffd", text)
    return text


def pieces_of(data: bytes, filename: str, content_type: str | None, rule: dict[str, Any] | None
              ) -> list[chunking.Piece]:
    """A file's chunks as ingestion makes them: parsed, made storable, cut by its static ``rule``."""
    parsed = parsing.parse(data, filename, content_type)
    static = (rule or chunking.DEFAULT_STRATEGY).get("static") or {}
    size = int(static.get("max_chunk_size_tokens", chunking.DEFAULT_MAX_TOKENS))
    overlap = int(static.get("chunk_overlap_tokens", chunking.DEFAULT_OVERLAP_TOKENS))
    return chunking.chunk(storable(parsed.text), size, overlap)


def _slices(pieces: Sequence[chunking.Piece], start: int) -> list[tuple[int, int]]:
    out, begin, tokens = [], start, 0
    for i in range(start, len(pieces)):
        if i > begin and (tokens + pieces[i].tokens > SLICE_TOKENS or i - begin >= SLICE_CHUNKS):
            out.append((begin, i))
            begin, tokens = i, 0
        tokens += pieces[i].tokens
    if begin < len(pieces):
        out.append((begin, len(pieces)))
    return out


class Ingestor:
    """The ingestion workers of one process (see the module's docstring)."""

    def __init__(self, db: Database, settings: Any, workers: int | None = None):
        self.db = db
        self.settings = settings
        self.workers = settings.knowledge_workers if workers is None else workers
        self.lease_s = float(settings.knowledge_lease_s)
        self.poll_s = float(settings.knowledge_poll_s)
        self._tasks: list[asyncio.Task] = []
        self._wake = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._stopping = False
        for n in range(self.workers):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"hilo-ingest-{n}"))
        if self.workers:
            log.info("knowledge ingestion: %d worker(s), lease %.0f s", self.workers, self.lease_s)

    async def stop(self) -> None:
        """Stop the workers; each gives back the file it held, for the next process to resume."""
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self) -> None:
        """New files were recorded: look now instead of at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        owner = lease_owner()
        while not self._stopping:
            try:
                done = await self.run_once(owner)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database is away: try again later
                log.warning("knowledge ingestion: claiming failed", exc_info=True)
                done = False
            if not done:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                except TimeoutError:
                    pass
                self._wake.clear()

    async def run_once(self, owner: str | None = None) -> bool:
        """Claim and process one file; False when there was none to claim."""
        got = await claim(self.db, owner or lease_owner(), self.lease_s)
        if got is None:
            return False
        await self.process(got)
        return True

    async def drain(self) -> int:
        """Process files until none is left to claim (the CLI); how many were processed."""
        owner, count = lease_owner(), 0
        while await self.run_once(owner):
            count += 1
        return count

    # ------------------------------------------------------------------ one file
    async def process(self, claim_: Claim) -> None:
        """Ingest one claimed file to ``completed`` or ``failed`` (or stop if it is no longer ours)."""
        CALLER.set(f"ingest:{claim_.vector_store_id}")
        lost = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(claim_, lost))
        metrics.ingestion_started()
        outcome: str | None = None  # completed | failed; None: the file went back or was lost
        try:
            if claim_.attempts > MAX_ATTEMPTS:
                raise Failure("server_error", f"The file could not be processed after {MAX_ATTEMPTS} attempts.")
            await self._ingest(claim_, lost)
            outcome = "completed"
        except Lost:
            log.info("ingestion of %s in %s stopped: cancelled, removed or taken over",
                     claim_.file_id, claim_.vector_store_id)
        except Failure as exc:
            outcome = "failed" if await fail(self.db, claim_, exc.code, exc.message) else None
        except parsing.UnsupportedFile as exc:
            if await fail(self.db, claim_, "unsupported_file", str(exc) or "This file type is not supported."):
                outcome = "failed"
        except parsing.InvalidFile as exc:
            if await fail(self.db, claim_, "invalid_file", str(exc) or "The file could not be read."):
                outcome = "failed"
        except asyncio.CancelledError:  # the process stops: the file goes back, this attempt uncounted
            with contextlib.suppress(Exception):
                await asyncio.shield(release(self.db, claim_, undo_attempt=True))
            raise
        except Exception as exc:  # noqa: BLE001 - a file's failure must not stop the worker
            log.warning("ingestion of %s in %s failed (attempt %d)", claim_.file_id, claim_.vector_store_id,
                        claim_.attempts, exc_info=True)
            if claim_.attempts < MAX_ATTEMPTS:
                await release(self.db, claim_, RETRY_S * claim_.attempts)
            else:
                reason = str(exc) if isinstance(exc, EmbeddingsUnavailable) else type(exc).__name__
                if await fail(self.db, claim_, "server_error", f"The file could not be processed: {reason}."):
                    outcome = "failed"
        finally:
            metrics.ingestion_ended(outcome)
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)

    async def _heartbeat(self, claim_: Claim, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if not await renew(self.db, claim_, self.lease_s):
                    lost.set()
                    return
            except Exception:  # noqa: BLE001 - try again at the next beat; the lease has slack
                log.warning("renewing the lease of %s failed", claim_.file_id, exc_info=True)

    async def _ingest(self, claim_: Claim, lost: asyncio.Event) -> None:
        async with self.db.sessionmaker() as session:
            member = await session.get(VectorStoreFile, (claim_.vector_store_id, claim_.file_id))
            row = await session.get(File, claim_.file_id)
        if member is None or member.status != IN_PROGRESS or member.lease_owner != claim_.owner:
            raise Lost()
        if row is None:
            raise Failure("invalid_file", "The file was deleted.")
        path = self.settings.files_dir / row.storage_path
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise Failure("server_error", "The file's content is missing from storage.") from None
        pieces = await asyncio.to_thread(pieces_of, data, row.filename, row.content_type, member.chunking_strategy)
        if not pieces:
            raise Failure("invalid_file", "The file has no text to index.")
        model = embeddings_for(self.settings)
        start = await self._resume(claim_, pieces, model.name)
        for begin, end in _slices(pieces, start):
            if lost.is_set():
                raise Lost()
            batch = pieces[begin:end]
            vectors = np.asarray(await shipped.passages(model, [p.text for p in batch]), dtype="<f4")
            if vectors.shape[0] != len(batch):
                raise EmbeddingsUnavailable(f"the embedder answered {vectors.shape[0]} vectors for {len(batch)} texts")
            await self._write(claim_, batch, begin, vectors, model.name)
        await self._complete(claim_, pieces, model)

    async def _resume(self, claim_: Claim, pieces: Sequence[chunking.Piece], embedder: str) -> int:
        """How many of the file's chunks already written are still right (the rest are deleted)."""
        where = (KnowledgeChunk.vector_store_id == claim_.vector_store_id, KnowledgeChunk.file_id == claim_.file_id)
        async with self.db.sessionmaker() as session:
            rows = (await session.execute(
                select(KnowledgeChunk.ordinal, KnowledgeChunk.start_index, KnowledgeChunk.end_index,
                       KnowledgeChunk.embedder).where(*where).order_by(KnowledgeChunk.ordinal))).all()
            keep = 0
            for ordinal, begin, end, name in rows:
                if (ordinal != keep or ordinal >= len(pieces) or name != embedder
                        or (pieces[ordinal].start, pieces[ordinal].end) != (begin, end)):
                    break
                keep += 1
            if keep < len(rows):
                await self._guard(session, claim_)
                await session.execute(delete(KnowledgeChunk).where(*where, KnowledgeChunk.ordinal >= keep))
                await session.commit()
        if keep:
            log.info("resuming %s in %s after %d chunk(s)", claim_.file_id, claim_.vector_store_id, keep)
        return keep

    async def _guard(self, session, claim_: Claim) -> None:
        """In a write transaction: renew the lease first (locking the file's row), or :class:`Lost`."""
        result = await session.execute(update(VectorStoreFile).where(_held(claim_))
                                       .values(lease_until=_ms() + int(self.lease_s * 1000))
                                       .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            await session.rollback()
            raise Lost()

    async def _write(self, claim_: Claim, batch: Sequence[chunking.Piece], first: int, vectors: np.ndarray,
                     embedder: str) -> None:
        rows = [{"vector_store_id": claim_.vector_store_id, "file_id": claim_.file_id, "ordinal": first + i,
                 "text": p.text, "start_index": p.start, "end_index": p.end, "tokens": p.tokens,
                 "embedder": embedder, "vector": vectors[i].tobytes()} for i, p in enumerate(batch)]
        async with self.db.sessionmaker() as session:
            await self._guard(session, claim_)
            await session.execute(insert(KnowledgeChunk), rows)
            await session.commit()
        metrics.chunks_written(len(rows))

    async def _complete(self, claim_: Claim, pieces: Sequence[chunking.Piece], model: Any) -> None:
        dim = int(getattr(model, "dim", 0) or 0)
        usage = sum(len(p.text.encode("utf-8")) for p in pieces) + len(pieces) * dim * 4
        async with self.db.sessionmaker() as session:
            await session.execute(update(VectorStore).where(VectorStore.id == claim_.vector_store_id)
                                  .values(version=VectorStore.version + 1)
                                  .execution_options(synchronize_session=False))
            result = await session.execute(
                update(VectorStoreFile).where(_held(claim_))
                .values(status=COMPLETED, last_error=None, usage_bytes=usage, generation=new_id("gen"),
                        lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                await session.rollback()
                raise Lost()
            await session.commit()
        log.info("ingested %s into %s: %d chunk(s)", claim_.file_id, claim_.vector_store_id, len(pieces))


__all__ = ["CANCELLED", "MAX_ATTEMPTS", "Claim", "Ingestor", "Lost", "claim", "fail", "lease_owner", "release",
           "renew", "storable"]
