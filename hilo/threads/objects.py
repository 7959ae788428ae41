"""Thread and message rows as the Assistants API v2 returns them."""

from __future__ import annotations

from typing import Any


def thread(t: Any) -> dict[str, Any]:
    return {
        "id": t.id,
        "object": "thread",
        "created_at": t.created_at,
        "metadata": t.metadata_ or {},
        "tool_resources": t.tool_resources or {},
    }


def message(msg: Any) -> dict[str, Any]:
    return {
        "id": msg.id,
        "object": "thread.message",
        "created_at": msg.created_at,
        "thread_id": msg.thread_id,
        "status": msg.status,
        "incomplete_details": msg.incomplete_details,
        "completed_at": msg.completed_at,
        "incomplete_at": msg.incomplete_at,
        "role": msg.role,
        "content": msg.content,
        "assistant_id": msg.assistant_id,
        "run_id": msg.run_id,
        "attachments": msg.attachments or [],
        "metadata": msg.metadata_ or {},
    }
