"""Admin API of the event webhooks: register, list, delete endpoints; list deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select

from hilo.api.deps import AdminDep, SessionDep
from hilo.kit.errors import NotFound, bad_request
from hilo.kit.ids import new_id, now
from hilo.kit.pagination import check_cursor
from hilo.webhooks import events, signing
from hilo.webhooks.models import WebhookDelivery, WebhookEndpoint

router = APIRouter(prefix="/admin/webhooks", tags=["admin: webhooks"])


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2048)
    events: list[str] = Field(default_factory=lambda: ["*"], max_length=64)
    description: str | None = Field(default=None, max_length=512)
    secret: str | None = None  # whsec_<base64 of 24..64 bytes>; generated when absent
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise ValueError("url must be an http(s) URL")
        return value


def endpoint_json(row: WebhookEndpoint, secret: bool = False) -> dict:
    out = {"id": row.id, "object": "webhook_endpoint", "url": row.url, "events": row.events,
           "description": row.description, "enabled": row.enabled, "created_at": row.created_at}
    if secret:
        out["secret"] = row.secret
    return out


def delivery_json(row: WebhookDelivery) -> dict:
    return {"id": row.id, "object": "webhook_delivery", "endpoint_id": row.endpoint_id, "event": row.event,
            "status": row.status, "attempts": row.attempts,
            "next_attempt_at": round(row.next_attempt_at) if row.next_attempt_at is not None else None,
            "last_status_code": row.last_status_code, "last_error": row.last_error,
            "created_at": row.created_at, "delivered_at": row.delivered_at, "payload": row.payload}


async def _endpoint(session, endpoint_id: str) -> WebhookEndpoint:
    row = await session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        raise NotFound(f"No webhook endpoint found with id '{endpoint_id}'.")
    return row


async def _refresh(request: Request) -> None:
    dispatcher = getattr(request.app.state, "webhooks", None)
    if dispatcher is not None:
        await dispatcher.refresh()


@router.post("", status_code=201)
async def create_endpoint(body: EndpointIn, request: Request, session: SessionDep, _admin: AdminDep):
    unknown = events.invalid(body.events)
    if unknown or not body.events:
        raise bad_request(f"Unknown event(s) {unknown or body.events}. Use names from "
                          f"{list(events.EVENT_TYPES)}, a family such as 'run.*', or '*'.", param="events")
    if body.secret is not None and not signing.valid_secret(body.secret):
        raise bad_request("secret must be 'whsec_' followed by base64 of 24 to 64 bytes.", param="secret")
    row = WebhookEndpoint(id=new_id("whep"), created_at=now(), url=body.url, events=list(dict.fromkeys(body.events)),
                          secret=body.secret or signing.new_secret(), enabled=body.enabled,
                          description=body.description)
    session.add(row)
    await session.commit()
    await _refresh(request)
    return endpoint_json(row, secret=True)


@router.get("")
async def list_endpoints(session: SessionDep, _admin: AdminDep):
    rows = (await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))).all()
    return {"object": "list", "data": [endpoint_json(r) for r in rows]}


@router.get("/{endpoint_id}")
async def get_endpoint(endpoint_id: str, session: SessionDep, _admin: AdminDep):
    return endpoint_json(await _endpoint(session, endpoint_id), secret=True)


@router.delete("/{endpoint_id}")
async def delete_endpoint(endpoint_id: str, request: Request, session: SessionDep, _admin: AdminDep):
    row = await _endpoint(session, endpoint_id)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == row.id))
    await session.delete(row)
    await session.commit()
    await _refresh(request)
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


@router.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    endpoint_id: str,
    session: SessionDep,
    _admin: AdminDep,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: str | None = None,
):
    """Newest first; ``after`` is the last id of the previous page."""
    await _endpoint(session, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if after:
        await check_cursor(session, query, WebhookDelivery, "after", after)
        query = query.where(WebhookDelivery.id < after)
    rows = list((await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1))).all())
    return {"object": "list", "data": [delivery_json(r) for r in rows[:limit]], "has_more": len(rows) > limit}


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry")
async def retry_delivery(endpoint_id: str, delivery_id: str, request: Request, session: SessionDep,
                         _admin: AdminDep):
    """Send a failed (or delivered) delivery again, with a fresh attempt budget."""
    row = await session.get(WebhookDelivery, delivery_id)
    if row is None or row.endpoint_id != endpoint_id:
        raise NotFound(f"No webhook delivery found with id '{delivery_id}'.")
    if row.status == "pending":
        raise bad_request("The delivery is still pending.")
    row.status, row.attempts, row.next_attempt_at, row.delivered_at = "pending", 0, float(now()), None
    await session.commit()
    dispatcher = getattr(request.app.state, "webhooks", None)
    if dispatcher is not None:
        dispatcher.wake()
    return delivery_json(row)
