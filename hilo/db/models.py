"""Tables of the Assistants API objects.

Ids sort by creation time (see :mod:`hilo.ids`), so every list is an indexed range
scan on ``(parent_id, id)``. Objects are stored close to their OpenAI JSON shape: the
nested parts (content, tools, step details, ...) are JSON columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Ids are compared as bytes ("C" collation) so that ordering by id is creation order.
Id = String(64).with_variant(String(64, collation="C"), "postgresql")
Json = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def row(obj: Base | Record) -> dict[str, Any]:
    """An unsaved object as column values, for a Core INSERT (no unit of work on hot paths)."""
    if isinstance(obj, Record):
        return obj.row()
    return {attr.columns[0].name: getattr(obj, attr.key) for attr in type(obj).__mapper__.column_attrs}


class Record:
    """A row held as a plain object: the mapped class's attribute names (``metadata_``, ...),
    none of the ORM's per-attribute bookkeeping. The turn path builds and reads these;
    :func:`record` makes one class per table."""

    __slots__ = ()
    _columns: tuple[tuple[str, str], ...] = ()  # (attribute, column)

    def __init__(self, **values: Any):
        for key, _column in self._columns:
            setattr(self, key, values.pop(key, None))
        if values:
            raise TypeError(f"{type(self).__name__} has no attribute(s) {sorted(values)}")

    def row(self) -> dict[str, Any]:
        return {column: getattr(self, key) for key, column in self._columns}

    @classmethod
    def from_values(cls, values) -> Record:
        """From column values in the order of :meth:`columns` (extra trailing values ignored)."""
        record = cls.__new__(cls)
        for (key, _column), value in zip(cls._columns, values, strict=False):
            setattr(record, key, value)
        return record

    @classmethod
    def copy_of(cls, obj: Any) -> Record:
        """A record with the same attribute values as ``obj`` (an ORM instance or a record)."""
        return cls(**{key: getattr(obj, key) for key, _column in cls._columns})

    @classmethod
    def columns(cls) -> list[str]:
        return [column for _key, column in cls._columns]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={getattr(self, 'id', None)!r})"


def record(model: type[Base]) -> type[Record]:
    columns = tuple((attr.key, attr.columns[0].name) for attr in model.__mapper__.column_attrs)
    return type(f"{model.__name__}Record", (Record,), {"__slots__": tuple(k for k, _ in columns), "_columns": columns})


class Assistant(Base):
    __tablename__ = "assistants"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(512))
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[list[Any]] = mapped_column(Json, default=list)
    tool_resources: Mapped[dict[str, Any] | None] = mapped_column(Json)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", Json, default=dict)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    response_format: Mapped[Any] = mapped_column(Json, nullable=True)
    # Owner (hilo.auth): NULL = global, readable by every user, changed only by admins.
    user_id: Mapped[str | None] = mapped_column(Id, index=True)


class Thread(Base):
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


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    thread_id: Mapped[str] = mapped_column(Id)
    assistant_id: Mapped[str] = mapped_column(Id)
    created_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    required_action: Mapped[dict[str, Any] | None] = mapped_column(Json)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(Json)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(Json)
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[list[Any]] = mapped_column(Json, default=list)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", Json, default=dict)
    usage: Mapped[dict[str, int] | None] = mapped_column(Json)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    max_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    max_completion_tokens: Mapped[int | None] = mapped_column(Integer)
    truncation_strategy: Mapped[dict[str, Any] | None] = mapped_column(Json)
    response_format: Mapped[Any] = mapped_column(Json, nullable=True)
    tool_choice: Mapped[Any] = mapped_column(Json, nullable=True)
    parallel_tool_calls: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index("ix_runs_thread_id_id", "thread_id", "id"),
        Index("ix_runs_status", "status"),
    )


class RunStep(Base):
    __tablename__ = "run_steps"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    run_id: Mapped[str] = mapped_column(Id)
    thread_id: Mapped[str] = mapped_column(Id)
    assistant_id: Mapped[str] = mapped_column(Id)
    created_at: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    step_details: Mapped[dict[str, Any]] = mapped_column(Json)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(Json)
    expired_at: Mapped[int | None] = mapped_column(BigInteger)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", Json, default=dict)
    usage: Mapped[dict[str, int] | None] = mapped_column(Json)

    __table_args__ = (Index("ix_run_steps_run_id_id", "run_id", "id"),)


class File(Base):
    __tablename__ = "files"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(128))
    storage_path: Mapped[str] = mapped_column(String(1024))
    user_id: Mapped[str | None] = mapped_column(Id, index=True)  # owner


class PackAssistant(Base):
    """The assistant a pack's definition became: ``key`` is ``<pack>/<assistant key>``."""

    __tablename__ = "pack_assistants"
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    assistant_id: Mapped[str] = mapped_column(Id)


# ---------------------------------------------------------------- users and auth (hilo.auth)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(256))
    entitlements: Mapped[list[str]] = mapped_column(Json, default=list)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", Json, default=dict)


class Identity(Base):
    """How a channel knows a user: (``api``, name), (``jwt``, sub), (``whatsapp``, number), ..."""

    __tablename__ = "identities"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(256), primary_key=True)
    user_id: Mapped[str] = mapped_column(Id, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class UserThread(Base):
    """The active thread of a user with an assistant (seed 001's oa_threads_map, generalised)."""

    __tablename__ = "user_threads"
    user_id: Mapped[str] = mapped_column(Id, primary_key=True)
    assistant_id: Mapped[str] = mapped_column(Id, primary_key=True)
    thread_id: Mapped[str] = mapped_column(Id)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    user_id: Mapped[str] = mapped_column(Id, index=True)
    scope: Mapped[str] = mapped_column(String(16))  # admin | user
    name: Mapped[str | None] = mapped_column(String(256))
    prefix: Mapped[str] = mapped_column(String(32))  # shown in listings, never the secret
    hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the secret
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


# Plain-object twins of the turn path's rows (see Record).
AssistantRecord = record(Assistant)
MessageRecord = record(Message)
RunRecord = record(Run)
RunStepRecord = record(RunStep)
