"""Runs and their steps. Only :mod:`hilo.runs.store` writes these rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id, Json, record


class Run(Base):
    __kind__ = "run"
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
    # Who the run answers for (tools see it as their caller): the user, or NULL for the local
    # admin / HILO_ADMIN_TOKEN; and that caller's scope (admin | user).
    user_id: Mapped[str | None] = mapped_column(Id)
    caller_scope: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_runs_thread_id_id", "thread_id", "id"),
        Index("ix_runs_status", "status"),
    )


class RunStep(Base):
    __kind__ = "run step"
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


# Plain-object twins of the turn path's rows (see hilo.kit.db.base.Record).
RunRecord = record(Run)
RunStepRecord = record(RunStep)


class RunLease(Base):
    """Which worker executes a run, until when (``hilo worker``; README "Scale-out").

    A worker inserts the row before it executes a queued run (the primary key makes the claim
    exclusive), renews ``until_ms`` while it runs, and deletes the row when the run stops. A row
    whose lease ran out belongs to a worker that died: any process then ends its run ``failed``."""

    __kind__ = "run lease"
    __tablename__ = "run_leases"
    run_id: Mapped[str] = mapped_column(Id, primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    until_ms: Mapped[int] = mapped_column(BigInteger)
    claimed_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_run_leases_owner", "owner"), Index("ix_run_leases_until_ms", "until_ms"))
