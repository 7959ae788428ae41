"""The knowledge tables: vector stores, their files and file batches, and the chunks with their vectors.

* ``vector_stores``: one row per store, with its owner and a ``version`` bumped in the same
  transaction as every change to what its search sees (a file completed or removed, attributes
  changed): each process keeps an in-memory index per store (:mod:`hilo.knowledge.search`) and
  reloads only what changed when the version moves.
* ``vector_store_files``: a file's membership of a store (primary key: store, file; the API's
  ``vector_store.file`` id is the file's id). It carries the ingestion state: ``status``,
  ``last_error``, the chunking strategy and, while a worker processes it, a **lease**
  (``lease_owner``, ``lease_until`` in Unix ms): a worker claims a file with a conditional UPDATE
  and renews the lease while it works, so two processes never ingest the same file at once and a
  crashed process's claim expires (:mod:`hilo.knowledge.ingest`). ``generation`` changes each
  time the file's chunks are (re)written, which tells a cached index that they changed.
* ``vector_store_file_batches``: a batch of files added together; its counts are its files'.
* ``knowledge_chunks``: the text pieces of each file with their character offsets into the parsed
  text, their token counts, the embedder that made the vector and the vector itself (float32
  bytes). The database is the source of truth; the index is rebuilt from it in any process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id, Json

# SQLite gives an autoincrement key only to an INTEGER PRIMARY KEY column.
ChunkId = BigInteger().with_variant(Integer(), "sqlite")


class VectorStore(Base):
    __kind__ = "vector store"
    __tablename__ = "vector_stores"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(512))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", Json, default=dict)
    expires_after: Mapped[dict[str, Any] | None] = mapped_column(Json)  # {"anchor": "last_active_at", "days": n}
    last_active_at: Mapped[int] = mapped_column(BigInteger)
    # Bumped with every change search sees (files completed or removed, attributes changed).
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    user_id: Mapped[str | None] = mapped_column(Id, index=True)  # owner (files' rule: NULL = admins only)


class VectorStoreFile(Base):
    __kind__ = "vector store file"
    __tablename__ = "vector_store_files"
    vector_store_id: Mapped[str] = mapped_column(Id, primary_key=True)
    id: Mapped[str] = mapped_column("file_id", Id, primary_key=True)  # the File's id
    created_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # in_progress | completed | failed | cancelled
    last_error: Mapped[dict[str, str] | None] = mapped_column(Json)
    usage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    attributes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    chunking_strategy: Mapped[dict[str, Any]] = mapped_column(Json)
    batch_id: Mapped[str | None] = mapped_column(Id, index=True)  # the batch that last added it
    generation: Mapped[str | None] = mapped_column(String(64))  # new each time its chunks are written
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[int | None] = mapped_column(BigInteger)  # Unix ms
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index("ix_vector_store_files_status_lease", "status", "lease_until"),
                      Index("ix_vector_store_files_file_id", "file_id"))


class VectorStoreFileBatch(Base):
    __kind__ = "vector store file batch"
    __tablename__ = "vector_store_file_batches"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    vector_store_id: Mapped[str] = mapped_column(Id, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger)


class KnowledgeChunk(Base):
    __kind__ = "chunk"
    __tablename__ = "knowledge_chunks"
    id: Mapped[int] = mapped_column(ChunkId, primary_key=True, autoincrement=True)
    vector_store_id: Mapped[str] = mapped_column(Id)
    file_id: Mapped[str] = mapped_column(Id)
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    start_index: Mapped[int] = mapped_column(Integer)
    end_index: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)
    embedder: Mapped[str] = mapped_column(String(128))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, the embedder's dim

    __table_args__ = (Index("ix_knowledge_chunks_store_file", "vector_store_id", "file_id", "ordinal", unique=True),)


__all__ = ["KnowledgeChunk", "VectorStore", "VectorStoreFile", "VectorStoreFileBatch"]
