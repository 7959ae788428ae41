"""Inbound channel messages seen, so that a provider's retries and replays are dropped."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base


class InboundMessage(Base):
    """``(channel, message_id)``: Twilio's MessageSid or Meta's ``wamid``. ``status``:
    received -> replied | failed (what happened to the answer)."""

    __tablename__ = "inbound_messages"
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sender: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[int] = mapped_column(BigInteger, index=True)
    status: Mapped[str] = mapped_column(String(16), default="received")
