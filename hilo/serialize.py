"""Rows -> the JSON objects of the Assistants API v2."""

from __future__ import annotations

from typing import Any

from hilo.db import models as m


def assistant(a: m.Assistant) -> dict[str, Any]:
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


def thread(t: m.Thread) -> dict[str, Any]:
    return {
        "id": t.id,
        "object": "thread",
        "created_at": t.created_at,
        "metadata": t.metadata_ or {},
        "tool_resources": t.tool_resources or {},
    }


def message(msg: m.Message) -> dict[str, Any]:
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


def run(r: m.Run) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "thread.run",
        "created_at": r.created_at,
        "thread_id": r.thread_id,
        "assistant_id": r.assistant_id,
        "status": r.status,
        "required_action": r.required_action,
        "last_error": r.last_error,
        "expires_at": r.expires_at if r.status in ("queued", "in_progress", "requires_action", "cancelling") else None,
        "started_at": r.started_at,
        "cancelled_at": r.cancelled_at,
        "failed_at": r.failed_at,
        "completed_at": r.completed_at,
        "incomplete_details": r.incomplete_details,
        "model": r.model,
        "instructions": r.instructions,
        "tools": r.tools or [],
        "metadata": r.metadata_ or {},
        "usage": r.usage,
        "temperature": r.temperature,
        "top_p": r.top_p,
        "max_prompt_tokens": r.max_prompt_tokens,
        "max_completion_tokens": r.max_completion_tokens,
        "truncation_strategy": r.truncation_strategy or {"type": "auto", "last_messages": None},
        "response_format": r.response_format if r.response_format is not None else "auto",
        "tool_choice": r.tool_choice if r.tool_choice is not None else "auto",
        "parallel_tool_calls": r.parallel_tool_calls,
    }


def step(s: m.RunStep) -> dict[str, Any]:
    return {
        "id": s.id,
        "object": "thread.run.step",
        "created_at": s.created_at,
        "assistant_id": s.assistant_id,
        "thread_id": s.thread_id,
        "run_id": s.run_id,
        "type": s.type,
        "status": s.status,
        "step_details": s.step_details,
        "last_error": s.last_error,
        "expired_at": s.expired_at,
        "cancelled_at": s.cancelled_at,
        "failed_at": s.failed_at,
        "completed_at": s.completed_at,
        "metadata": s.metadata_ or {},
        "usage": s.usage,
    }


def file(f: m.File) -> dict[str, Any]:
    return {
        "id": f.id,
        "object": "file",
        "bytes": f.bytes,
        "created_at": f.created_at,
        "filename": f.filename,
        "purpose": f.purpose,
        "status": "processed",
        "status_details": None,
    }


def page(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }
