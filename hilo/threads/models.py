"""Threads, their messages, and each user's active thread with an assistant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id, Json, record


class Thread(Base):
    __kind__ = "thread"
    __tablename__ = "threads"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", Json, default=dict)
    tool_resources: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # The run that holds the thread (queued .. requires_action); set and cleared with
    # conditional UPDATEs so that two replicas can never start two runs on one thread.
    active_run_id: Mapped[str | None] = mapped_column(Id)
    # Bumped by every message deletion: the run engine's history cache reloads on a change.
    history_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    user_id: Mapped[str | None] = mapped_column(Id, index=True)  # owner; runs/messages follow it


class Message(Base):
    __kind__ = "message"
    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    thread_id: Mapped[str] = mapped_column(Id)
    created_at: Mapped[int] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[list[Any]] = mapped_column(Json, default=list)
    status: Mapped[str] = mapped_column(String(16), default="completed")
    assistant_id: Mapped[str | None] = mapped_column(Id)
    run_id: Mapped[str | None] = mapped_column(Id)
    attachments: Mapped[list[Any] | None] = mapped_column(Json)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", Json, default=dict)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    incomplete_at: Mapped[int | None] = mapped_column(BigInteger)
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(Json)

    __table_args__ = (
        Index("ix_messages_thread_id_id", "thread_id", "id"),
        Index("ix_messages_run_id", "run_id"),
    )


class UserThread(Base):
    """The active thread of a user with an assistant (seed 001's oa_threads_map, generalised)."""

    __tablename__ = "user_threads"
    user_id: Mapped[str] = mapped_column(Id, primary_key=True)
    assistant_id: Mapped[str] = mapped_column(Id, primary_key=True)
    thread_id: Mapped[str] = mapped_column(Id)
    updated_at: Mapped[int] = mapped_column(BigInteger)


# The turn path's plain-object twins (see hilo.kit.db.base.Record).
MessageRecord = record(Message)
ThreadRecord = record(Thread)
