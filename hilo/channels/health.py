"""``GET /`` and ``GET /webhooks/health`` (seed 001): database, model and every channel.

Both answer 200 with ``status`` ``ok`` or ``degraded``: they are status pages. The probe
for load balancers is ``GET /health/ready`` (503 when degraded).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from hilo import __version__
from hilo.api.health import readiness
from hilo.channels import meta, twilio

router = APIRouter(tags=["health"])


async def channel_status(state) -> dict:
    settings = state.settings
    runtime = state.channels
    webhooks = await state.webhooks.counts()
    return {
        "twilio": {"configured": twilio.configured(settings), "webhook": "/webhooks/twilio",
                   "from": settings.twilio_from, "public_url": settings.public_url,
                   **runtime.twilio_stats.as_dict()},
        "whatsapp": {"configured": meta.configured(settings), "webhook": "/webhooks/whatsapp",
                     "verify_token_set": bool(settings.whatsapp_verify_token),
                     "phone_number_id": settings.whatsapp_phone_number_id, **runtime.meta_stats.as_dict()},
        "websocket": {"path": "/ws/assistant/", "connections": runtime.ws_connections,
                      "heartbeat_s": settings.ws_heartbeat_s},
        "webhooks": webhooks,
    }


@router.get("/")
@router.get("/webhooks/health")
@router.get("/webhooks/openai/health", include_in_schema=False)
async def status(request: Request):
    checks = await readiness(request)
    ok = all(c["ok"] for c in checks.values())
    return {"status": "ok" if ok else "degraded", "service": "hilo", "version": __version__, **checks,
            "channels": await channel_status(request.app.state)}
