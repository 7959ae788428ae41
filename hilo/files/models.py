"""Uploaded files: metadata here, bytes under HILO_DATA_DIR/files."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id


class File(Base):
    __kind__ = "file"
    __tablename__ = "files"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(128))
    storage_path: Mapped[str] = mapped_column(String(1024))
    user_id: Mapped[str | None] = mapped_column(Id, index=True)  # owner
