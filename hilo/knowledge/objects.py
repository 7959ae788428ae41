"""Vector stores, their files, batches and search results as the API returns them (OpenAI's shapes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DAY_S = 86_400


@dataclass(slots=True)
class Counts:
    """A store's or a batch's files by status (they always add up to ``total``) and their bytes."""

    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    usage_bytes: int = 0

    @property
    def total(self) -> int:
        return self.in_progress + self.completed + self.failed + self.cancelled

    def add(self, status: str, count: int, usage: int = 0) -> None:
        setattr(self, status, getattr(self, status) + count)
        self.usage_bytes += usage

    def file_counts(self) -> dict[str, int]:
        return {"in_progress": self.in_progress, "completed": self.completed, "failed": self.failed,
                "cancelled": self.cancelled, "total": self.total}


def expires_at(store: Any) -> int | None:
    policy = store.expires_after
    if not policy:
        return None
    return int(store.last_active_at) + int(policy["days"]) * DAY_S


def is_expired(store: Any, now: int) -> bool:
    at = expires_at(store)
    return at is not None and now >= at


def store_status(store: Any, counts: Counts, now: int) -> str:
    if is_expired(store, now):
        return "expired"
    return "in_progress" if counts.in_progress else "completed"


def vector_store(store: Any, counts: Counts, now: int) -> dict[str, Any]:
    return {
        "id": store.id,
        "object": "vector_store",
        "created_at": store.created_at,
        "name": store.name or "",
        "description": store.description,
        "usage_bytes": counts.usage_bytes,
        "file_counts": counts.file_counts(),
        "status": store_status(store, counts, now),
        "expires_after": store.expires_after,
        "expires_at": expires_at(store),
        "last_active_at": store.last_active_at,
        "metadata": store.metadata_ or {},
    }


def vector_store_file(member: Any) -> dict[str, Any]:
    return {
        "id": member.id,
        "object": "vector_store.file",
        "usage_bytes": member.usage_bytes or 0,
        "created_at": member.created_at,
        "vector_store_id": member.vector_store_id,
        "status": member.status,
        "last_error": member.last_error,
        "chunking_strategy": member.chunking_strategy,
        "attributes": member.attributes or {},
    }


def batch_status(batch: Any, counts: Counts) -> str:
    if batch.cancelled_at is not None:
        return "cancelled"
    if counts.in_progress:
        return "in_progress"
    if counts.total and counts.failed == counts.total:
        return "failed"
    return "completed"


def file_batch(batch: Any, counts: Counts) -> dict[str, Any]:
    return {
        "id": batch.id,
        "object": "vector_store.files_batch",
        "created_at": batch.created_at,
        "vector_store_id": batch.vector_store_id,
        "status": batch_status(batch, counts),
        "file_counts": counts.file_counts(),
    }


def deleted(object_id: str, kind: str) -> dict[str, Any]:
    return {"id": object_id, "object": f"{kind}.deleted", "deleted": True}


def search_page(queries: Sequence[str], passages: Sequence[Any]) -> dict[str, Any]:
    return {
        "object": "vector_store.search_results.page",
        "search_query": list(queries),
        "data": [{"file_id": p.file_id, "filename": p.filename, "score": round(p.score, 6),
                  "attributes": p.attributes, "content": [{"type": "text", "text": p.text}]} for p in passages],
        "has_more": False,
        "next_page": None,
    }


def content_page(texts: Sequence[str]) -> dict[str, Any]:
    return {
        "object": "vector_store.file_content.page",
        "data": [{"type": "text", "text": t} for t in texts],
        "has_more": False,
        "next_page": None,
    }


__all__ = ["DAY_S", "Counts", "batch_status", "content_page", "deleted", "expires_at", "file_batch", "is_expired",
           "search_page", "store_status", "vector_store", "vector_store_file"]
