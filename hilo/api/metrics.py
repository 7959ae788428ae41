"""GET /metrics: the Prometheus text format of hilo's metrics (:mod:`hilo.kit.observe.metrics`).

Open by default, as exporters usually are: the metrics carry counts with bounded labels and no
ids, secrets or content. ``HILO_METRICS_TOKEN`` makes it answer 401 without
``Authorization: Bearer <token>`` (Prometheus: ``authorization: {credentials: ...}``);
``HILO_METRICS=false`` removes the route.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hilo.kit.observe import metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def exposition(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if not metrics.authorized(request.headers.get("authorization"), token):
        return JSONResponse({"error": {"type": "authentication_error",
                                       "message": "GET /metrics needs Authorization: Bearer <HILO_METRICS_TOKEN>."}},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if metrics.multiprocess_dir() is None:
        body = metrics.exposition()
    else:  # reads every process's files
        body = await asyncio.to_thread(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE)
