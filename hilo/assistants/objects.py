"""Assistant rows as the Assistants API v2 returns them."""

from __future__ import annotations

from typing import Any


def assistant(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": "assistant",
        "created_at": a.created_at,
        "name": a.name,
        "description": a.description,
        "model": a.model,
        "instructions": a.instructions,
        "tools": a.tools or [],
        "tool_resources": a.tool_resources or {},
        "metadata": a.metadata_ or {},
        "temperature": a.temperature,
        "top_p": a.top_p,
        "response_format": a.response_format if a.response_format is not None else "auto",
    }
