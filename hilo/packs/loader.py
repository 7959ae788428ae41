"""Find packs through entry points, choose the enabled ones, and start them.

Every pack, built-in or not, is a :class:`~hilo.packs.Pack` behind an entry point of the
``hilo.packs`` group (the object itself, or a function returning it). ``HILO_PACKS``
chooses among them: ``all`` (default), ``none``, or a comma list of names.

At start-up an enabled pack's tools join the run engine's registry, its routers join the
app, its ``seed`` runs, and each of its assistant definitions becomes an assistant whose
id is kept in ``pack_assistants`` so that it survives restarts: later starts update the
assistant in place (and re-create it under the same id if it was deleted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from sqlalchemy.exc import IntegrityError

from hilo.assistants.models import Assistant
from hilo.kit.config import Settings
from hilo.kit.db.session import Database
from hilo.kit.ids import new_id, now
from hilo.packs import AssistantSpec, Pack, knowledge
from hilo.packs.models import PackAssistant
from hilo.tools import ToolRegistry

log = logging.getLogger("hilo.packs")

GROUP = "hilo.packs"
BUILT_IN_KINDS = frozenset({"file_search"})  # tool types a definition names alone: tools = ["file_search"]


class PackError(RuntimeError):
    """A pack cannot be found, loaded or started; the message says what to change."""


def discover() -> dict[str, Pack]:
    """Every installed pack by name (whether enabled or not)."""
    packs: dict[str, Pack] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            obj = ep.load()
            pack = obj if isinstance(obj, Pack) else obj()
        except Exception as exc:
            raise PackError(f"the pack entry point {ep.name} = {ep.value!r} failed to load: {exc}") from exc
        if not isinstance(pack, Pack):
            raise PackError(f"the entry point {ep.name} = {ep.value!r} is not a hilo.packs.Pack")
        if pack.name in packs and packs[pack.name] is not pack:
            raise PackError(f"two installed packs are named {pack.name!r}")
        packs[pack.name] = pack
    return packs


def select(available: dict[str, Pack], setting: str) -> list[Pack]:
    """The packs ``HILO_PACKS`` enables: ``all``, ``none`` or a comma list of names."""
    value = setting.strip().lower()
    if value in ("", "all"):
        return list(available.values())
    if value == "none":
        return []
    names = list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in available]
    if unknown:
        installed = ", ".join(sorted(available)) or "none"
        raise PackError(f"HILO_PACKS names unknown pack(s): {', '.join(unknown)} (installed: {installed})")
    return [available[n] for n in names]


def register_tools(packs: list[Pack], registry: ToolRegistry) -> None:
    for pack in packs:
        for tool in pack.tools:
            existing = registry.get(tool.name)
            if existing is not None and existing is not tool:
                raise PackError(f"the tool {tool.name!r} of pack {pack.name!r} is already registered")
            registry.register(tool, pack=pack.name)


async def seed(db: Database, packs: list[Pack]) -> None:
    """Run each pack's seed. Workers starting together on a new database may seed the same
    rows at once: the loser's unique violation means "already there", so it looks again."""
    for pack in packs:
        if pack.seed is None:
            continue
        for _attempt in range(3):
            async with db.sessionmaker() as session:
                try:
                    await pack.seed(session)
                    break
                except IntegrityError:
                    await session.rollback()
        else:
            raise PackError(f"could not seed the pack {pack.name!r}: its rows kept conflicting")


async def sync_assistants(db: Database, packs: list[Pack], registry: ToolRegistry) -> dict[str, str]:
    """Create or update each pack assistant; returns ``{"<pack>/<key>": assistant id}``."""
    ids: dict[str, str] = {}
    for pack in packs:
        for spec in pack.assistant_specs():
            unknown = [t for t in spec.tools if t not in registry and t not in registry.kinds]
            if unknown:
                raise PackError(f"assistant {spec.key!r} of pack {pack.name!r} names unknown tool(s): "
                                f"{', '.join(unknown)}")
            ids[f"{pack.name}/{spec.key}"] = await _upsert(db, spec)
    return ids


def assistant_values(spec: AssistantSpec) -> dict[str, Any]:
    """The assistant a definition describes. Tools are listed by name only: hilo runs them."""
    metadata = {**spec.metadata, "hilo_pack": spec.pack, "hilo_key": spec.key, "hilo_language": spec.language}
    if spec.locale:
        metadata["hilo_locale"] = spec.locale
    return {
        "name": spec.name, "description": spec.description, "model": spec.model,
        "instructions": spec.instructions, "metadata_": metadata,
        "tools": [{"type": t} if t in BUILT_IN_KINDS else {"type": "function", "function": {"name": t}}
                  for t in spec.tools],
    }


async def _upsert(db: Database, spec: AssistantSpec) -> str:
    key = f"{spec.pack}/{spec.key}"
    values = assistant_values(spec)
    for _attempt in range(3):
        async with db.sessionmaker() as session:
            link = await session.get(PackAssistant, key)
            assistant = await session.get(Assistant, link.assistant_id) if link else None
            if assistant is None:
                assistant = Assistant(id=link.assistant_id if link else new_id("asst"),
                                        created_at=now(), **values)
                session.add(assistant)
                if link is None:
                    session.add(PackAssistant(key=key, assistant_id=assistant.id))
            else:
                for name, value in values.items():
                    setattr(assistant, name, value)
            try:
                await session.commit()
                return assistant.id
            except IntegrityError:  # another replica created it first: update theirs
                await session.rollback()
    raise PackError(f"could not create the assistant {key}")


@dataclass(slots=True)
class Started:
    assistants: dict[str, str]  # "<pack>/<key>" -> assistant id
    channels: dict[str, list[str]]  # channel -> the ids of the assistants that claim it, in pack order


async def start(db: Database, packs: list[Pack], registry: ToolRegistry, guided: Any = None,
                settings: Settings | None = None) -> Started:
    """Seed, create or update the assistants (and the vector stores of those with documents),
    and tell the guided provider about them (their profiles and the packs' vocabularies)."""
    await seed(db, packs)
    ids = await sync_assistants(db, packs, registry)
    if settings is not None:
        for pack in packs:
            for spec in pack.assistant_specs():
                if spec.knowledge is not None:
                    await knowledge.sync(db, settings, spec, ids[f"{pack.name}/{spec.key}"])
    channels: dict[str, list[str]] = {}
    for pack in packs:
        if guided is not None and pack.vocabulary is not None:
            guided.parsers.add(pack.vocabulary)
        for spec in pack.assistant_specs():
            if guided is not None:
                guided.add_profile(spec)
            for channel in spec.channels:
                channels.setdefault(channel, []).append(ids[f"{pack.name}/{spec.key}"])
    if packs:
        log.info("packs: %s; assistants: %s", ", ".join(p.name for p in packs),
                 ", ".join(f"{k}={v}" for k, v in ids.items()) or "none")
    return Started(ids, channels)


__all__ = ["GROUP", "PackError", "Started", "discover", "register_tools", "select", "start", "sync_assistants"]
