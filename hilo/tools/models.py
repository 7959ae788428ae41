"""Who may use a restricted tool: grants an admin gave (``user_id`` ``*``: every user)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id


class ToolGrant(Base):
    __kind__ = "tool grant"
    __tablename__ = "tool_grants"
    tool: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
