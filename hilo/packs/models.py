"""Which assistant each pack definition became (its id survives restarts)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id


class PackAssistant(Base):
    """The assistant a pack's definition became: ``key`` is ``<pack>/<assistant key>``."""

    __tablename__ = "pack_assistants"
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    assistant_id: Mapped[str] = mapped_column(Id)
