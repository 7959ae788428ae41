"""``POST /api/assistant/analyze-image`` of seed 000's facade: this pack's ``analyze_image``
tool called directly, with the caller in its context (no model needed). The rest of the facade
is a channel (:mod:`hilo.channels.facade`); this route shares its prefix, caller and envelope."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field, ValidationError

from hilo.channels.facade import (
    PREFIX,
    CallerDep,
    FacadeError,
    FacadeRoute,
    _Body,
    assistant_for,
    clean_message,
    http_url,
)
from hilo.files.models import File
from hilo.nlu.render import render
from hilo.packs.trading_mentor.tools import analyze_image as tool
from hilo.threads import active
from hilo.tools import AssistantInfo, ToolContext
from hilo.tools.function import ToolError

router = APIRouter(prefix=PREFIX, tags=["seed 000 facade"], route_class=FacadeRoute)


class AnalyzeBody(_Body):
    image_url: str | None = None
    file_id: str | None = None
    analysis_type: str = "complete"
    prompt: str | None = Field(default=None, max_length=100_000)
    assistant: str | None = None


@router.post("/analyze-image")
async def analyze_image(request: Request, body: AnalyzeBody, caller: CallerDep, assistant: str | None = None):
    state = request.app.state
    target = await assistant_for(request, caller, body.assistant or assistant)
    if bool(body.image_url) == bool(body.file_id):
        raise FacadeError(400, "Envía 'image_url' o 'file_id' (uno de los dos).")
    args: dict[str, Any] = {"analysis_type": body.analysis_type}
    if body.image_url:
        args["image_url"] = http_url(body.image_url)
    else:
        async with state.db.sessionmaker() as session:
            row = await session.get(File, body.file_id)
        if row is None or row.user_id != caller.user_id:
            raise FacadeError(404, f"No existe el archivo '{body.file_id}'.")
        args["file_id"] = row.id
    prompt = clean_message(body.prompt or "", state.settings.max_message_chars, required=False)
    thread_id = await active.active_thread(state.db, caller.user_id, target.id)
    context = ToolContext(caller=caller, assistant=AssistantInfo.of(target), thread_id=thread_id,
                          services=state.runs.engine.services)
    try:
        async with asyncio.timeout(state.settings.run_timeout):
            result = await tool.call(args, context)
    except ToolError as exc:
        raise FacadeError(400, str(exc)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise FacadeError(400, f"Parámetro inválido '{where}': {first.get('msg')}.") from None
    except TimeoutError:
        raise FacadeError(504, "El análisis de la imagen tardó demasiado.") from None
    if not isinstance(result, dict):
        result = {"analysis": str(result)}
    message = result.get("analysis") if result.get("vision") else None
    message = message or render(getattr(tool, "template", {}).get("es", ""), result) or result.get("nota") or ""
    analysis = {k: v for k, v in result.items() if k not in ("nota", "note")}
    return {"success": True, "message": message, "analysis_type": body.analysis_type, "prompt": prompt or None,
            "analysis": analysis}
