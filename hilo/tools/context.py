"""What a tool knows when it runs: the caller, the assistant, the run, and typed services."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from hilo.files.models import File
from hilo.identity import LOCAL_ADMIN, Principal
from hilo.identity.policy import can_read_file
from hilo.kit.config import Settings
from hilo.kit.db.session import Database


class ModelResolver(Protocol):
    """The model providers (:class:`hilo.providers.registry.Providers`), as tools see them."""

    def resolve(self, model: str) -> tuple[Any, str]: ...


@dataclass(slots=True, frozen=True)
class AssistantInfo:
    """The assistant a tool runs for."""

    id: str
    name: str | None = None
    model: str | None = None
    owner: str | None = None  # its user_id; None: a shared (operator's) assistant
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, assistant: Any) -> AssistantInfo:
        return cls(assistant.id, assistant.name, assistant.model, assistant.user_id, dict(assistant.metadata_ or {}))


@dataclass(slots=True, frozen=True)
class ToolServices:
    db: Database | None = None
    settings: Settings | None = None
    providers: ModelResolver | None = None


@dataclass(slots=True, frozen=True)
class ToolResult:
    """A tool's output with the annotations it supports (e.g. file citations).

    Each annotation is an Assistants API annotation object with its ``text`` marker (such as
    ``【0:1†source】``); the engine keeps those whose marker the answer quotes and sets their
    ``start_index``/``end_index`` in the stored message."""

    output: str
    annotations: tuple[dict[str, Any], ...] = ()
    details: dict[str, Any] | None = None  # a built-in kind's step details (file_search: its results)


@dataclass(slots=True, frozen=True)
class ToolContext:
    """Who is calling (``caller``), for which assistant, in which run and thread."""

    caller: Principal = LOCAL_ADMIN
    assistant: AssistantInfo | None = None
    run_id: str | None = None
    thread_id: str | None = None
    services: ToolServices = field(default_factory=ToolServices)
    # the assistant's and the thread's tool_resources, merged (file_search: their vector stores)
    resources: dict[str, Any] = field(default_factory=dict)
    round: int = 0  # which model round of the run called the tool (file_search citation markers)

    @property
    def settings(self) -> Settings | None:
        return self.services.settings

    async def read_file(self, file_id: str, limit: int | None = None) -> tuple[bytes, File] | None:
        """A stored file the caller may read (its own; any for an admin), or None when there is
        no such file for this caller. Raises ``ValueError`` past ``limit`` bytes, and
        ``LookupError`` when this context has no file storage."""
        db, settings = self.services.db, self.services.settings
        if db is None or settings is None:
            raise LookupError("no file storage in this context")
        async with db.sessionmaker() as session:
            row = await session.get(File, file_id)
        if row is None or not can_read_file(self.caller, row.user_id):
            return None
        if limit is not None and row.bytes > limit:
            raise ValueError(f"the file has {row.bytes} bytes, over the limit of {limit}")
        try:
            data = await asyncio.to_thread((settings.files_dir / row.storage_path).read_bytes)
        except OSError:
            return None
        return data, row


__all__ = ["AssistantInfo", "ModelResolver", "ToolContext", "ToolResult", "ToolServices"]
