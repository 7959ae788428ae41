"""Run and run-step rows as the Assistants API v2 returns them."""

from __future__ import annotations

from typing import Any

from hilo.runs.states import ACTIVE
from hilo.tools.file_search import strip_content

# the one ``include[]`` value of steps.list / steps.retrieve / runs.create
FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def run(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "thread.run",
        "created_at": r.created_at,
        "thread_id": r.thread_id,
        "assistant_id": r.assistant_id,
        "status": r.status,
        "required_action": r.required_action,
        "last_error": r.last_error,
        "expires_at": r.expires_at if r.status in ACTIVE else None,
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


def step(s: Any, include: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """A step; file_search results show their passages' text only when ``include`` asks."""
    details = s.step_details
    if s.type == "tool_calls" and details:
        details = strip_content(details, FILE_SEARCH_CONTENT in include)
    return {
        "id": s.id,
        "object": "thread.run.step",
        "created_at": s.created_at,
        "assistant_id": s.assistant_id,
        "thread_id": s.thread_id,
        "run_id": s.run_id,
        "type": s.type,
        "status": s.status,
        "step_details": details,
        "last_error": s.last_error,
        "expired_at": s.expired_at,
        "cancelled_at": s.cancelled_at,
        "failed_at": s.failed_at,
        "completed_at": s.completed_at,
        "metadata": s.metadata_ or {},
        "usage": s.usage,
    }
