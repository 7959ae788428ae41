"""Packs bundle domain features: tools, assistant definitions, tables, routes, demo data.

A pack is a :class:`Pack` object exposed through the ``hilo.packs`` entry-point group;
the built-in packs register themselves in hilo's own ``pyproject.toml`` exactly as an
outside package would::

    [project.entry-points."hilo.packs"]
    trading_mentor = "hilo.packs.trading_mentor:pack"

Assistant definitions are TOML files (see :func:`load_assistant_spec`)::

    key = "mentor"                      # stable within the pack; the id survives restarts
    name = "Mentor de trading"
    language = "es"
    model = "gpt-4o"                    # routed like any model name (see HILO_LLM_*)
    tools = ["get_crypto_price", "get_forex_price"]
    instructions = \"\"\"...\"\"\"
    help = "Puedo darte precios de criptomonedas y divisas..."   # the guided help reply
    help_examples = ["hola", "¿qué puedes hacer?"]
"""

from __future__ import annotations

import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hilo.tools.function import FunctionTool


@dataclass
class AssistantSpec:
    pack: str
    key: str
    name: str
    instructions: str
    model: str = "gpt-4o"
    language: str = "es"
    description: str | None = None
    tools: list[str] = field(default_factory=list)
    help: str | None = None
    help_examples: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def load_assistant_spec(pack: str, path: Path) -> AssistantSpec:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    return AssistantSpec(pack=pack, **data)


@dataclass
class Pack:
    name: str
    description: str = ""
    tools: list[FunctionTool] = field(default_factory=list)
    assistants: list[Path] = field(default_factory=list)  # TOML files
    # An Alembic versions directory for the pack's own tables: its first revision has
    # down_revision=None, branch_labels=("<pack name>",), depends_on="0001".
    migrations: Path | None = None
    routers: list[Any] = field(default_factory=list)  # fastapi.APIRouter
    # Idempotent demo data; receives an AsyncSession, commits itself.
    seed: Callable[[Any], Awaitable[None]] | None = None

    def assistant_specs(self) -> list[AssistantSpec]:
        return [load_assistant_spec(self.name, p) for p in self.assistants]
