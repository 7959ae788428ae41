"""Assistants: what a run executes (model, instructions, tools)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id, Json, record


class Assistant(Base):
    __kind__ = "assistant"
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
    # Owner (hilo.identity): NULL = global, readable by every user, changed only by admins.
    user_id: Mapped[str | None] = mapped_column(Id, index=True)


AssistantRecord = record(Assistant)  # the turn path's plain-object twin
