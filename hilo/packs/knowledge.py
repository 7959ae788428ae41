"""A pack assistant's documents, kept in its vector store (``knowledge = "<folder>"`` in its TOML).

On every start the folder is compared with the store: a new document is uploaded as a File and
added (the ingestion workers parse, chunk and embed it in the background, so the server answers
at once and the documents become searchable within seconds); a changed one (another SHA-256)
replaces its old version; one removed from the folder leaves the store. An unchanged folder
costs one read. The store is the operator's (no owner) and is named in the assistant's
``tool_resources.file_search.vector_store_ids``; an operator may add their own files to it
through ``/v1/vector_stores``: those are left alone.

A folder may ship its chunks' vectors beside it (``<folder>.vectors.npz``, :mod:`hilo.knowledge.shipped`),
so that ingesting its documents embeds nothing; :func:`write_vectors` makes that file
(``python -m hilo.packs.knowledge hilo/packs/tax_help/dian.toml`` after editing the documents).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from pathlib import Path

from sqlalchemy import select

from hilo.assistants.models import Assistant
from hilo.files.service import store_bytes
from hilo.identity import LOCAL_ADMIN
from hilo.kit.config import Settings
from hilo.kit.db.session import Database
from hilo.kit.ids import now
from hilo.knowledge import service, shipped
from hilo.knowledge.ingest import pieces_of
from hilo.knowledge.models import VectorStore, VectorStoreFile
from hilo.knowledge.objects import is_expired
from hilo.knowledge.parsing import SUPPORTED_EXTENSIONS
from hilo.packs import AssistantSpec, load_assistant_spec

log = logging.getLogger("hilo.packs")

DOC = "hilo_pack_document"  # attributes of the store's files that came from the pack's folder
SHA = "hilo_sha256"


def documents(folder: Path) -> dict[str, Path]:
    """The folder's documents hilo can parse, by file name."""
    return {p.name: p for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS and not p.name.startswith(".")}


async def sync(db: Database, settings: Settings, spec: AssistantSpec, assistant_id: str) -> str | None:
    """Bring the assistant's store in line with its folder; returns the store's id."""
    folder = spec.knowledge
    if folder is None:
        return None
    if not folder.is_dir():
        log.warning("pack %s/%s: knowledge folder %s is missing", spec.pack, spec.key, folder)
        return None
    docs = documents(folder)
    shipped.register(shipped.path_for(folder))
    async with db.sessionmaker() as session:
        assistant = await session.get(Assistant, assistant_id)
        ids = ((assistant.tool_resources or {}).get("file_search") or {}).get("vector_store_ids") or []
        store = await session.get(VectorStore, ids[0]) if ids else None
        if store is None or is_expired(store, now()):
            rule = _rule(spec)
            store = await service.create_store(session, LOCAL_ADMIN, name=f"{spec.name} — documentos",
                                               description=f"Documents of the {spec.pack} pack ({folder.name}/)",
                                               metadata={"hilo_pack": spec.pack, "hilo_key": spec.key},
                                               expires_after=None, file_ids=[], chunking_strategy=rule)
            assistant = await session.get(Assistant, assistant_id)
            assistant.tool_resources = {**(assistant.tool_resources or {}),
                                        "file_search": {"vector_store_ids": [store.id]}}
            await session.commit()
            log.info("pack %s/%s: vector store %s created for %d document(s)", spec.pack, spec.key, store.id, len(docs))
        members = (await session.scalars(select(VectorStoreFile).where(VectorStoreFile.vector_store_id == store.id))).all()
        known = {m.attributes.get(DOC): m for m in members if (m.attributes or {}).get(DOC)}
        rule = service.strategy(_rule(spec))
        store_id = store.id
    added = removed = 0
    for name, path in docs.items():
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        old = known.pop(name, None)
        if old is not None and old.attributes.get(SHA) == digest:
            continue
        file_id = await store_bytes(db, settings, None, data, name, mimetypes.guess_type(name)[0] or "text/plain",
                                    purpose="assistants")
        async with db.sessionmaker() as session:
            store = await session.get(VectorStore, store_id)
            row = await service.readable_file(session, LOCAL_ADMIN, file_id, "file_id")
            await service.add_files(session, store, [service.Entry(row, {DOC: name, SHA: digest}, rule)])
            if old is not None:
                await service.remove_file(session, store_id, old.id)
        added += 1
    for old in known.values():  # documents no longer in the folder
        async with db.sessionmaker() as session:
            await service.remove_file(session, store_id, old.id)
        removed += 1
    if added or removed:
        log.info("pack %s/%s: %d document(s) queued for ingestion, %d removed", spec.pack, spec.key, added, removed)
    return store_id


def _rule(spec: AssistantSpec) -> dict | None:
    return {"type": "static", "static": dict(spec.knowledge_chunking)} if spec.knowledge_chunking else None


def chunk_texts(spec: AssistantSpec) -> list[str]:
    """The chunk texts ingestion cuts the spec's documents into (with its own chunking rule)."""
    texts: list[str] = []
    for name, path in documents(spec.knowledge).items():
        pieces = pieces_of(path.read_bytes(), name, mimetypes.guess_type(name)[0] or "text/plain",
                           service.strategy(_rule(spec)))
        texts += [p.text for p in pieces]
    return list(dict.fromkeys(texts))


def write_vectors(toml: Path) -> tuple[Path, int]:
    """Embed a pack assistant's document chunks with the bundled embedder and write the vectors
    file its folder ships (:func:`hilo.knowledge.shipped.path_for`)."""
    spec = load_assistant_spec(Path(toml).parent.name, Path(toml))
    if spec.knowledge is None:
        raise SystemExit(f"{toml} names no knowledge folder")
    texts = chunk_texts(spec)
    return shipped.write(shipped.path_for(spec.knowledge), texts), len(texts)


__all__ = ["chunk_texts", "documents", "sync", "write_vectors"]


if __name__ == "__main__":  # python -m hilo.packs.knowledge hilo/packs/tax_help/dian.toml
    import sys

    for arg in sys.argv[1:]:
        where, count = write_vectors(Path(arg))
        print(f"wrote {count} vectors to {where}")
