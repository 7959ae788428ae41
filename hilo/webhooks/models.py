"""Tables of the signed event webhooks: registered endpoints and their deliveries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hilo.kit.db.base import Base, Id, Json


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(Json, default=list)  # names, "run.*" or "*"
    secret: Mapped[str] = mapped_column(String(128))  # whsec_<base64>
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(512))


class WebhookDelivery(Base):
    """One event for one endpoint. ``id`` is the ``webhook-id`` header (the same on retries).

    ``status``: pending -> delivered | failed. A sender claims an attempt with a conditional
    UPDATE that moves ``next_attempt_at`` past a lease and counts the attempt, so two
    replicas never send the same attempt, and a crash mid-attempt only delays it.
    """

    __kind__ = "webhook delivery"
    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(Id)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float | None] = mapped_column(Float)  # epoch seconds; None once settled
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )
