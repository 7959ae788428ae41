"""The guided provider: useful answers with no language model.

For a user message it picks one of the request's tools (or the help reply) by comparing
one query embedding of the message with the embeddings of each tool's ``examples`` and
of the help examples (bundled multilingual-e5-small, see :mod:`hilo.nlu.embed`), then
reads the tool's arguments with typed parsers driven by its JSON schema
(:mod:`hilo.nlu.parsers`). When a required argument is missing it asks for it. When the
last message is a tool result it phrases it with the tool's own template in the
assistant's language (:mod:`hilo.nlu.render`), so every number it states came from a tool.

It is stateless: a pending question is recognised from the previous assistant message.
The request says which assistant it answers for (:attr:`ModelRequest.assistant`); a pack
assistant's language and help text come from its definition (:meth:`GuidedProvider.add_profile`,
keyed by the ``hilo_pack``/``hilo_key`` metadata the pack loader sets), else from the
language of the instructions or of the message. The argument parsers know the words of the
enabled packs (:attr:`GuidedProvider.parsers`, :class:`hilo.nlu.parsers.Vocabulary`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hilo.kit.ids import new_id
from hilo.nlu import dialogue, embed
from hilo.nlu import lang as language
from hilo.nlu import parsers as parsers_module
from hilo.nlu.embed import Embedder
from hilo.nlu.parsers import Param, Parsers
from hilo.nlu.render import render, sentence
from hilo.providers import passages
from hilo.providers.base import Finish, ModelEvent, ModelRequest, TextDelta, ToolCallDelta
from hilo.tools import ToolRegistry

log = logging.getLogger("hilo.guided")

HELP = "help"
FILE_SEARCH = "file_search"  # the built-in retrieval tool (hilo.tools.file_search)
# With a knowledge base, only a message this close to a greeting or a help request is small talk:
# any question sits near the generic help examples (~0.85-0.89), and the documents may answer it.
SMALL_TALK = 0.93
HELP_EXAMPLES = [
    "hola", "buenos días", "buenas tardes", "¿qué puedes hacer?", "ayuda", "¿cómo funciona esto?",
    "gracias", "¿quién eres?", "adiós", "no entiendo", "hello", "hi there", "what can you do?",
    "help", "how does this work?", "thanks", "who are you?", "bye", "I don't understand",
]
# Requests no assistant's tools answer: small talk, the business's logistics, general knowledge.
# One of these wins over a tool only by OFF_TOPIC_MARGIN (a catalogue may teach about anything:
# "escritura creativa" is a course, "escríbeme una canción" is not), and never where a knowledge
# base (file_search) may answer.
OFF_TOPIC = "<off-topic>"  # no function can have this name
OFF_TOPIC_MARGIN = 0.03
SEARCH_MARGIN = 0.05  # how much farther a search may be than a tool that needs an id, to search instead
OFF_TOPIC_EXAMPLES = [
    "cuéntame un chiste", "¿cómo estás?", "lo voy a pensar", "luego te escribo", "después te confirmo",
    "¿cómo puedo pagar?", "¿puedo pagar con tarjeta?", "¿hay algún descuento o promoción?",
    "quiero hablar con una persona", "¿cuál es su teléfono de contacto?", "¿dónde están ubicados?",
    "¿a qué hora atienden?", "escríbeme una canción", "¿me puedes prestar dinero?", "¿qué opinas del fútbol?",
    "¿quién descubrió América?", "hazme la tarea", "¿cómo me inscribo?", "¿hacen envíos a domicilio?",
    "¿los productos tienen garantía?",
    "tell me a joke", "how are you?", "I'll think about it", "I'll get back to you", "how can I pay?",
    "I want to talk to a human", "what is your phone number?", "write me a poem", "who will win the game?",
    "how tall is Mount Everest?", "how do I sign up?", "do you ship to my city?",
]
STRONG_BONUS = 0.02  # per distinctive argument (ticker, pair, URL, file id) the message gives
BARE_TOOL_SLACK = 0.04  # how much lower the bar is for a tool known only by its description
MAX_CLAUSES = 4  # clauses of one message routed on their own (each costs one query embedding)
CLAUSE_MARGIN = 0.01  # a clause must beat the whole message by this much to be the one routed
# Decisions run on the embedding engine's own thread (see hilo.nlu.embed): the query
# embedding inside needs no second hand-off.
_EXECUTOR = embed.EXECUTOR

# A knowledge hook: (request, user text, language) -> an answer, or None to fall through.
Knowledge = Callable[[ModelRequest, str, str], Awaitable[str | None]]


# Punctuation says little about which tool a message wants, and each mark is a token the
# embedding model pays for (~0.6 ms apiece on two cores): messages and examples are embedded
# without it (arguments are still parsed from the message as written).
_PUNCTUATION = re.compile(r"[¿?¡!.,;:\"'()\[\]{}«»“”…]+")


def for_embedding(text: str) -> str:
    return " ".join(_PUNCTUATION.sub(" ", text).split())


@dataclass(slots=True)
class Profile:
    """What the guided provider knows of a pack assistant."""

    key: str  # "<pack>/<assistant key>"
    language: str = "es"
    help: str | None = None
    help_examples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Decision:
    route: str  # a tool name, "help", or "phrase" (a tool result was phrased)
    text: str | None = None
    arguments: dict[str, Any] | None = None
    score: float = 0.0
    lang: str = "es"
    confident: bool = True

    @property
    def call(self) -> bool:
        return self.arguments is not None


@dataclass(slots=True)
class _Index:
    labels: list[str]
    rows: np.ndarray  # label index of each example row
    matrix: np.ndarray  # example vectors, one per row


class GuidedProvider:
    name = "guided"
    supports_images = False
    wants_earlier_tools = True  # resolves follow-ups against what earlier runs listed
    context_tokens = 32768

    def __init__(
        self,
        tools: ToolRegistry | None = None,
        *,
        threshold: float = 0.85,
        threads: int = 2,
        cache_dir: Path | None = None,
        knowledge: Knowledge | None = None,
    ):
        self.tools = tools if tools is not None else ToolRegistry()
        self.threshold = threshold
        self.embedder = Embedder(threads, cache_dir)
        self.knowledge = knowledge
        self.parsers = Parsers()
        self.profiles: dict[str, Profile] = {}
        self._indexes: dict[tuple, _Index] = {}

    def add_profile(self, spec: Any) -> Profile:
        """Register a pack assistant (an :class:`~hilo.packs.AssistantSpec`)."""
        profile = Profile(f"{spec.pack}/{spec.key}", spec.language, spec.help, list(spec.help_examples))
        self.profiles[profile.key] = profile
        self._indexes.clear()
        return profile

    def example_texts(self) -> list[str]:
        """Every example sentence the provider routes by: the help and off-topic examples, the tools' and the profiles'."""
        texts = list(HELP_EXAMPLES) + OFF_TOPIC_EXAMPLES
        for name in self.tools.names():
            texts += list(getattr(self.tools.get(name), "examples", []) or [])
        for profile in self.profiles.values():
            texts += profile.help_examples
        return texts

    async def warm(self) -> None:
        """Embed every known example now (or read them from the cache) so turns stay fast."""
        await asyncio.get_running_loop().run_in_executor(_EXECUTOR, self.embedder.examples, self.example_texts())

    # ------------------------------------------------------------------ provider protocol
    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        decision = await asyncio.get_running_loop().run_in_executor(_EXECUTOR, self.decide, request)
        if not decision.confident and self.knowledge is not None:
            answer = await self.knowledge(request, _last_user_text(request), decision.lang)
            if answer:
                decision = Decision("knowledge", answer, lang=decision.lang)
        if decision.call:
            args = json.dumps(decision.arguments, ensure_ascii=False)
            yield ToolCallDelta(0, new_id("call"), decision.route, args)
            yield Finish("tool_calls")
        else:
            yield TextDelta(decision.text or "")
            yield Finish("stop")

    async def check(self) -> tuple[bool, str]:
        return True, "guided: answers from tools and templates, no model needed"

    async def aclose(self) -> None:
        return None

    # ------------------------------------------------------------------ decisions
    def decide(self, request: ModelRequest) -> Decision:
        profile = self._profile(request)
        text = _last_user_text(request)
        lang = self._language(request, profile, text)
        messages = request.messages
        tools = {} if request.tool_choice == "none" else _schemas(request)
        if messages and messages[-1].get("role") == "tool":
            second = self._second_question(messages, text, tools, profile, lang)
            if second is not None:
                return second
            return Decision("phrase", self._phrase(messages, lang), lang=lang)
        pending = self._pending(messages, tools, lang)
        if pending is not None:
            decision = self._resolve_pending(pending, text, tools, lang)
            if decision is not None:
                return decision
        forced = _forced(request.tool_choice)
        if forced in tools:
            return self._call(forced, tools[forced], text, text, lang, 1.0)
        options = self._options(text, tools, lang)
        if options is not None:
            return options
        shown = _Shown.of(request.earlier_tools, messages)
        notes: dict[str, Any] = {}
        route, score, clause = self._route_clauses(text, tools, profile, shown, notes)
        confident = self._confident(route, score, tools)
        follow = self._follow_up(text, tools, shown, route if confident else None, lang, prefer=route,
                                 searching=(score, clause, profile))
        if follow is not None:
            return follow
        # a request no tool answers continues no call, unless it names a distinctive value for it
        off_topic = notes.get("off_topic", False) and not (
            shown.last is not None and shown.last[0] in tools
            and self.parsers.strong_arguments(tools[shown.last[0]].get("parameters") or {}, text))
        again = None if off_topic else self._continue_last(text, tools, shown, route if confident else None, lang)
        if again is not None:
            return again
        if route != HELP and (confident or request.tool_choice == "required"):
            instead = self._search_instead(route, score, text, clause, tools, profile, shown, lang)
            if instead is not None:
                return instead
            return self._call(route, tools[route], text, clause, lang, score, shown)
        again = self._correction(text, tools, shown, lang)  # it says what it corrects: "¿y en Bogotá?"
        if again is not None:
            return again
        if (shown.last is not None and shown.last[0] in tools and shown.items is None and shown.focus is None
                and not off_topic and dialogue.same_again(text)):
            # "¿y ahora?" after a price, "¿cuándo llega ese?" after an order: the last call again
            return Decision(shown.last[0], arguments=dict(shown.last[1]), lang=lang)
        if FILE_SEARCH in tools and text.strip() and not (route == HELP and score >= SMALL_TALK):
            # a question no other tool answers, and not small talk: the knowledge base's
            return Decision(FILE_SEARCH, arguments={"query": clause if clause.strip() else text}, score=score,
                            lang=lang)
        return Decision(HELP, self._help(profile, tools, lang), score=score, lang=lang, confident=confident)

    def _confident(self, route: str, score: float, tools: dict[str, dict]) -> bool:
        if route == HELP:
            return False
        if score >= self.threshold:
            return True
        # A tool described only by its schema (a client function: no examples) is compared with
        # its description, often in another language than the message: a lower bar.
        return not getattr(self.tools.get(route), "examples", None) and score >= self.threshold - BARE_TOOL_SLACK

    def _call(self, name: str, schema: dict, text: str, clause: str, lang: str, score: float,
              shown: _Shown | None = None) -> Decision:
        parameters = schema.get("parameters") or {}
        args, missing = self.parsers.parse_arguments(parameters, text)
        if clause != text:  # free text comes from the clause that asked for this tool
            for param in self.parsers.params_of(parameters):
                if param.kind == "text":
                    value = self.parsers.parse_value(param, clause)
                    if value is None:
                        args.pop(param.name, None)
                    else:
                        args[param.name] = value
            # what the whole message left missing stays so (an image needs a URL or a file id)
            missing = [p for p in missing if p.name not in args] + [
                p for p in self.parsers.params_of(parameters)
                if p.required and p.name not in args and p.name not in {m.name for m in missing}]
        if shown is not None and shown.last is not None and shown.last[0] == name:
            args, missing = self._refine(parameters, shown.last[1], text, args, missing)
        if missing:
            return Decision(name, self.question(missing[0], lang), score=score, lang=lang)
        return Decision(name, arguments=args, score=score, lang=lang)

    def _refine(self, parameters: dict, last: dict, text: str, args: dict, missing: list[Param]):
        """The same tool again: a message that only changes some arguments ("solo virtuales",
        "no, mejor avanzado") keeps the others of the last call."""
        params = self.parsers.params_of(parameters)
        meant = dialogue.meant(text) if dialogue.corrects(text) else None
        if meant:  # what it says it meant wins over what it also names ("no, el ether no, el bitcoin")
            args = dict(args)
            for param in params:
                value = self.parsers.parse_value(param, meant) if param.kind != "text" else None
                if value is not None:
                    args[param.name] = value
        for param in params:  # a value the message changes only part of ("y en pesos mexicanos?" after USD/JPY)
            parser = self.parsers.parser(param.kind)
            if param.name not in args and last.get(param.name) is not None and parser is not None and parser.update:
                value = parser.update(last[param.name], text)
                if value is not None:
                    args = {**args, param.name: value}
        ids = {p.name for p in self._ids_of({"parameters": parameters}, optional=True)}
        # free text, or, for a tool that takes an item by id or by name, a pack's word kind for the
        # name ("producto"): a new one is a new request, not a change of the last one
        texts = {p.name for p in params if p.kind == "text" or (
            ids and self.parsers.parser(p.kind) is not None and p.name not in ids and "'string'" in str(p.schema))}
        says_text = any(n in args for n in texts)
        changes = {k: v for k, v in args.items() if last.get(k) != v}
        correcting = dialogue.corrects(text)
        if not changes or (says_text and not correcting):
            return args, missing
        meant = dialogue.meant(text) if correcting else None
        merged = {k: v for k, v in last.items() if k in {p.name for p in params}}
        merged.update(args)
        if meant:  # what it says it meant wins over what it also names ("virtual no, presencial")
            for param in params:
                if param.kind == "text" and not texts:
                    continue
                value = self.parsers.parse_value(param, meant)
                if value is not None:
                    merged[param.name] = value
        return merged, [p for p in params if p.required and p.name not in merged]

    def _route_clauses(self, text: str, tools: dict[str, dict], profile: Profile | None,
                       shown: _Shown | None = None, notes: dict[str, Any] | None = None) -> tuple[str, float, str]:
        """The best tool for the message or for one of its clauses (a message with two
        questions is routed by the one a tool answers best). What the message opens with
        ("hola!", "ok gracias,") is small talk: the rest is routed too. A clause whose tool needs
        an item's id when nothing was shown loses to a clause a tool can answer now ("¿tienen
        guitarra? ¿y cuánto dura el curso?" searches first)."""
        whole: dict[str, Any] = {}
        route, score = self._route(text, tools, profile, whole)
        best = (route, score, text)
        core = dialogue.without_opening(text)
        parts = dialogue.clauses(core or text)
        candidates = ([core] if core and core != text and len(parts) == 1 else []) + (parts if len(parts) > 1 else [])
        routed = [best]
        off_topic = [bool(whole.get("off_topic"))]
        for part in candidates[:MAX_CLAUSES + 1]:
            said: dict[str, Any] = {}
            r, sc = self._route(part, tools, profile, said)
            off_topic.append(bool(said.get("off_topic")))
            if len(parts) > 1 and r != HELP and self._says_nothing(r, tools, part):
                continue  # "me interesa, ¿cuándo empieza?": the clause that asks something is routed
            routed.append((r, sc, part))
            if r != HELP and (best[0] == HELP or sc > best[1] + CLAUSE_MARGIN):
                best = (r, sc, part)
        if (len(parts) > 1 and best[2] == text and route != HELP and self._says_nothing(route, tools, text)
                and len(routed) > 1):
            best = max(routed[1:], key=lambda x: x[1])  # the whole message gives its tool nothing: its clause that asks
        if best[0] == route and best[2] != text:
            best = (route, max(score, best[1]), best[2])
        elif best[2] == text and core and core != text and len(parts) == 1 and routed[1][0] == route:
            best = (route, score, core)  # free text from what follows the greeting
        if notes is not None and best[0] == HELP and (off_topic[0] or (core != text and all(off_topic[1:]))):
            notes["off_topic"] = True  # the message, or all it says past its greeting, is off topic
        if len(parts) > 1 and best[0] != HELP and self._needs_unshown_item(best[0], tools, best[2], shown):
            for r, sc, part in sorted(routed, key=lambda x: -x[1]):
                if (r != HELP and r != best[0] and self._confident(r, sc, tools)
                        and not self._needs_unshown_item(r, tools, part, shown)):
                    return r, sc, part
        return best

    def _says_nothing(self, name: str, tools: dict[str, dict], text: str) -> bool:
        """Would the tool be called with no argument at all from this clause, though it takes some?
        (Not a tool that takes an item's id: what was shown may give it.)"""
        parameters = tools[name].get("parameters") or {}
        if not (parameters.get("properties") or {}) or self._ids_of(tools[name], optional=True):
            return False
        args, _ = self.parsers.parse_arguments(parameters, text)
        return not args

    def _needs_unshown_item(self, name: str, tools: dict[str, dict], text: str, shown: _Shown | None) -> bool:
        """Does the tool need an item's id the text does not give, with no item shown to take it from?"""
        if shown is not None and (shown.items or shown.focus is not None):
            return False
        ids = self._ids_of(tools[name])
        if not ids:
            return False
        args, _ = self.parsers.parse_arguments(tools[name].get("parameters") or {}, text)
        return any(p.name not in args for p in ids)

    def _follow_up(self, text: str, tools: dict[str, dict], shown: _Shown, route: str | None,
                   lang: str, prefer: str | None = None,
                   searching: tuple[float, str, Profile | None] | None = None) -> Decision | None:
        """A message about what was just shown: an item by position, price, name or "ese"."""
        if not tools or (shown.items is None and shown.focus is None):
            return None
        missing: list[Param] = []
        if route is not None:
            schema = tools[route]
            args, missing = self.parsers.parse_arguments(schema.get("parameters") or {}, text)
            ids = self._ids_of(schema, optional=True)
            if not missing and ids and all(p.name in args and self._distinctive(p, args[p.name], text) for p in ids):
                return None  # it names the item itself ("el curso 5"; "el A35" is a name, not a reference)
        ref = dialogue.reference(text, shown.items, shown.focus)
        if ref is None and route is not None and missing and [p.name for p in missing] == [
                p.name for p in self._ids_of(tools[route])]:
            # "¿y cuánto cuesta?" right after a course was shown (or a list, led by its best match):
            # the tool asks about that item, never the customer for its id
            named = dialogue.by_name(text, shown.items) if shown.items else None  # "detalles de ciberseguridad"
            if named is None and searching is not None:
                # "¿y audífonos?" after a charger was shown: a search, when it is as near as the details
                score, clause, profile = searching
                instead = self._search_instead(route, score, text, clause, tools, profile, shown, lang, margin=0.0)
                if instead is not None:
                    return instead
            implicit = named or shown.focus or (shown.items[0] if shown.items else None)
            ref = dialogue.Reference(implicit, "name" if named else "implicit") if implicit is not None else None
        elif ref is None and dialogue.about_it(text):
            # "¿es para principiantes?", "y donde es?": the item shown, or the first of the list
            implicit = shown.focus or (shown.items[0] if shown.items else None)
            ref = dialogue.Reference(implicit, "implicit") if implicit is not None else None
        elif ref is None and route is not None and not missing and shown.focus is not None:
            # "lo quiero" right after one item was shown, to a tool that takes an item by id or by
            # name and got neither: that item (never the first of a list: "quiero 2" is not a pick)
            params = self.parsers.params_of(tools[route].get("parameters") or {})
            ids = self._ids_of(tools[route], optional=True)
            named = any(p.name in args for p in params if p in ids or "'string'" in str(p.schema))  # a name given
            if ids and not named:
                ref = dialogue.Reference(shown.focus, "implicit")
        if ref is None:
            return None
        item_id = dialogue.id_of(ref.item)
        # the tool the message leans to first, confident or not ("quiero dos del primero": the
        # order's, not the details')
        for name, schema in sorted(tools.items(), key=lambda entry: entry[0] != (route or prefer)):
            ids = self._ids_of(schema, optional=True)
            if not self._cued(name, text):
                continue
            if len(ids) != 1:
                continue
            parameters = schema.get("parameters") or {}
            args, missing = self.parsers.parse_arguments(parameters, text)
            args[ids[0].name] = item_id
            missing = [p for p in missing if p.name != ids[0].name]
            if missing:
                return Decision(name, self.question(missing[0], lang), lang=lang)
            return Decision(name, arguments=args, lang=lang)
        return None

    def _options(self, text: str, tools: dict[str, dict], lang: str) -> Decision | None:
        """A question about the choices an argument has ("¿qué servicios manejan?", "which levels
        are there?"): the values of the tool's enum, in the reply's language, when the message
        names the parameter and none of its values."""
        folded = language.fold(text)
        if not _ASKS_OPTIONS.search(folded):
            return None
        words = re.findall(r"[a-zñ]+", folded)
        for schema in tools.values():
            for param in self.parsers.params_of(schema.get("parameters") or {}):
                values = [str(v) for v in param.schema.get("enum") or [] if v is not None]
                if param.kind != "enum" or len(values) < 2 or self.parsers.parse_value(param, text) is not None:
                    continue
                names = {f for w in re.split(r"[_\W]+", language.fold(param.name)) if len(w) >= 4 for f in _forms(w)}
                said = next((w for w in words if _forms(w) & names), None)
                if said is None:
                    continue
                shown = [v.replace("_", " ") for v in values]
                joined = ", ".join(shown[:-1]) + (" y " if lang == "es" else " and ") + shown[-1]
                reply = (f"Las opciones de {said} son: {joined}. ¿Cuál quieres?" if lang == "es"
                         else f"The {said} options are: {joined}. Which one would you like?")
                return Decision(HELP, reply, lang=lang)
        return None

    def _search_tools(self, tools: dict[str, dict], but: str) -> list[tuple[str, Param]]:
        """The tools (other than ``but``) that take free text to search by, with that parameter."""
        found = []
        for name, schema in tools.items():
            if name == but:
                continue
            text_params = [p for p in self.parsers.params_of(schema.get("parameters") or {}) if p.kind == "text"]
            if text_params:
                found.append((name, text_params[0]))
        return found

    def _new_subject(self, text: str, route: str, tools: dict[str, dict], shown: _Shown) -> bool:
        """Does the message name something (words a search tool would search by) that neither the
        items shown nor the routed tool's own description and examples mention ("¿y audífonos?"
        after a charger was shown; "¿qué colores tiene?" only asks about it)?"""
        schema = tools[route]
        described = " ".join([str(schema.get("description") or "")] + [
            p.description for p in self.parsers.params_of(schema.get("parameters") or {})]
            + list(getattr(self.tools.get(route), "examples", None) or []))
        known = set(dialogue.words(described))
        for item in [*(shown.items or []), *([shown.focus] if shown.focus else [])]:
            known |= {w for v in item.values() if isinstance(v, str) for w in dialogue.words(v)}
        # a word is known by its first five letters ("detalles", "detallada" and "detalle")
        prefixes = {w[:5] for w in known}
        for _, param in self._search_tools(tools, route):
            query = self.parsers.parse_value(param, text)
            if query and any(w[:5] not in prefixes for w in dialogue.words(query)):
                return True
        return False

    def _search_instead(self, route: str, score: float, text: str, clause: str, tools: dict[str, dict],
                        profile: Profile | None, shown: _Shown, lang: str,
                        margin: float = SEARCH_MARGIN) -> Decision | None:
        """The routed tool needs an item's id the message does not give, and nothing shown is
        what it asks about: a search for what it names, when a search tool is nearly as close
        ("¿cuánto vale el cargador de 20W?" searches for the charger, never asks for its reference)."""
        ids = self._ids_of(tools[route])
        if not ids:
            return None
        args, _ = self.parsers.parse_arguments(tools[route].get("parameters") or {}, text)
        if all(p.name in args for p in ids) and all(self._distinctive(p, args[p.name], text) for p in ids):
            return None  # it gives the id itself
        if not self._new_subject(text, route, tools, shown):
            return None  # "¿me das los detalles de ese curso?" asks the details' tool, for an id
        notes: dict[str, Any] = {}
        self._route(clause, tools, profile, notes)
        scores = notes.get("scores") or {}
        said = dialogue.without_opening(clause) or clause
        for name, param in sorted(self._search_tools(tools, route), key=lambda t: -scores.get(t[0], -1.0)):
            if scores.get(name, -1.0) < score - margin:
                continue
            if self.parsers.parse_value(param, said) is None:
                continue
            return self._call(name, tools[name], text, said, lang, scores[name], shown)
        return None

    def _distinctive(self, param: Param, value: Any, text: str) -> bool:
        """Is the id the message gave really one (not "20W" or "s23" read as a reference)?"""
        if param.kind == "code":
            return parsers_module.distinctive_code(text)
        return True

    def _continue_last(self, text: str, tools: dict[str, dict], shown: _Shown, route: str | None,
                       lang: str) -> Decision | None:
        """A message that changes a typed argument of the last call ("en euros porfa" after a
        price, "en euros no, en dólares") when the tool it leans to cannot answer it as said: the
        last call again with that change. What a correction says it meant ("..., en dólares") is
        what is read. Free text never continues a call (any message has some)."""
        if shown.last is None or shown.last[0] not in tools or shown.last[0] == route:
            return None
        name, last = shown.last
        said = (dialogue.meant(text) if dialogue.corrects(text) else None) or text
        if route is not None:
            _, missing = self.parsers.parse_arguments(tools[route].get("parameters") or {}, said)
            if not missing:
                return None  # the tool the message leans to answers it
        parameters = tools[name].get("parameters") or {}
        params = self.parsers.params_of(parameters)
        now, _ = self.parsers.parse_arguments(parameters, said)
        for param in params:  # part of a value: "¿y la libra?" after EUR/USD
            parser = self.parsers.parser(param.kind)
            if param.name not in now and last.get(param.name) is not None and parser is not None and parser.update:
                value = parser.update(last[param.name], said)
                if value is not None:
                    now[param.name] = value
        typed = {p.name for p in params if p.kind != "text"}
        changes = {k: v for k, v in now.items() if k in typed and last.get(k) != v}
        if not changes:
            return None
        merged = {k: v for k, v in last.items() if k in {p.name for p in params}}
        merged.update(changes)
        if any(p.required and p.name not in merged for p in params):
            return None
        return Decision(name, arguments=merged, lang=lang)

    def _correction(self, text: str, tools: dict[str, dict], shown: _Shown, lang: str) -> Decision | None:
        """A message no tool was sure of that changes the last call ("¿y en Bogotá?", "no, en Pereira")."""
        if shown.last is None or shown.last[0] not in tools or not dialogue.corrects(text):
            return None
        name, last = shown.last
        parameters = tools[name].get("parameters") or {}
        # what it says it meant: "no, virtual no, presencial" is presencial
        meant = dialogue.meant(text)
        args, _missing = self.parsers.parse_arguments(parameters, meant or text)
        if meant and re.fullmatch(r"[A-ZÁÉÍÓÚÑ][\w'-]*(?:\s+(?:de\s+)?[A-ZÁÉÍÓÚÑ][\w'-]*){0,2}", meant_as_written(text, meant)):
            for param in self.parsers.params_of(parameters):  # "no, no Cali, Cartagena": the name said is the place
                if param.kind == "place" and param.name not in args:
                    args[param.name] = meant_as_written(text, meant)
        if all(last.get(k) == v for k, v in args.items()):
            return None  # nothing it names changes the last call
        args, missing = self._refine(parameters, last, text, args, [])
        if args == last or not args:
            return None
        if missing:
            return Decision(name, self.question(missing[0], lang), lang=lang)
        return Decision(name, arguments=args, lang=lang)

    def _ids_of(self, schema: dict, optional: bool = False) -> list[Param]:
        """The item ids a tool needs; ``optional``: or, when it needs none, the ids it takes (a
        tool that accepts an item by id or by name)."""
        ids = [p for p in self.parsers.params_of(schema.get("parameters") or {})
               if p.kind in ("int_id", "str_id", "code") or getattr(self.parsers.parser(p.kind), "item_id", False)]
        required = [p for p in ids if p.required]
        return required or (ids if optional else [])

    def _second_question(self, messages: list[dict], text: str, tools: dict[str, dict],
                         profile: Profile | None, lang: str) -> Decision | None:
        """After a tool answered: another question of the same message that a tool answers."""
        made = _calls_since_user(messages)
        if len(made) != 1 or not tools:
            return None
        parts = dialogue.clauses(text)
        if len(parts) < 2:
            return None
        first_name, first_args = made[0]
        for part in parts[:MAX_CLAUSES]:
            route, score = self._route(part, tools, profile)
            if not self._confident(route, score, tools):
                continue
            args, missing = self.parsers.parse_arguments(tools[route].get("parameters") or {}, part)
            if missing or not args:
                continue
            if route == first_name and all(first_args.get(k) == v for k, v in args.items()):
                continue
            return Decision(route, arguments=args, score=score, lang=lang)
        return None

    def _route(self, text: str, tools: dict[str, dict], profile: Profile | None,
               notes: dict[str, Any] | None = None) -> tuple[str, float]:
        """The best label for the text and its score; ``notes["off_topic"]`` is set when the text
        is nearer a request no tool answers than any tool, ``notes["scores"]`` holds every label's."""
        if not text.strip():
            return HELP, 0.0
        index = self._index(tools, profile)
        sims = index.matrix @ self.embedder.query(for_embedding(language.ustedes(text)))
        best = np.full(len(index.labels), -1.0)
        np.maximum.at(best, index.rows, sims)
        for i, label in enumerate(index.labels):
            if label not in (HELP, OFF_TOPIC):
                if not self._cued(label, text):
                    best[i] = -1.0  # a tool that acts, and the message does not ask for the act
                    continue
                # a tool known by its description alone, and the message is not near it: a place
                # named is no reason to call it ("¿cuál es la capital de Francia?"), a code is
                far = best[i] < self.threshold - BARE_TOOL_SLACK and not getattr(self.tools.get(label), "examples", None)
                parameters = tools[label].get("parameters") or {}
                strong = self.parsers.strong_arguments(parameters, text, places=not far)
                complete = self._complete(parameters, text, places=not far)
                # a message that gives all a tool needs is evidence for it too: on top of its
                # distinctive values for a tool known by its description alone (compared with one
                # sentence, often in another language), else once
                bare = not getattr(self.tools.get(label), "examples", None)
                best[i] += STRONG_BONUS * (strong + complete if bare else strong or complete)
        if notes is not None:
            notes["scores"] = {label: float(b) for label, b in zip(index.labels, best, strict=True)}
        off = index.labels.index(OFF_TOPIC) if OFF_TOPIC in index.labels else None
        off_score = float(best[off]) if off is not None else -1.0
        if off is not None:
            best[off] = -1.0
        top = int(best.argmax())
        if off_score > float(best[top]) + (0.0 if index.labels[top] == HELP else OFF_TOPIC_MARGIN):
            if notes is not None:
                notes["off_topic"] = True
            return HELP, min(off_score, SMALL_TALK - 0.01)  # help, but not small talk to a knowledge base
        return index.labels[top], float(best[top])

    def _complete(self, parameters: dict, text: str, places: bool = True) -> bool:
        """Does the message give every argument the tool needs, none of them free text ("agéndame
        manicure para pasado mañana", "el número es 77001")? (``places``: a place counts.)"""
        params = self.parsers.params_of(parameters)
        required = [p for p in params if p.required]
        if not required or any(p.kind == "text" or (p.kind == "place" and not places) for p in required):
            return False
        args, missing = self.parsers.parse_arguments(parameters, text)
        return not missing and all(p.name in args for p in required)

    def _cued(self, name: str, text: str) -> bool:
        """Does the message say what the tool's ``cue`` asks for (true for a tool without one)?"""
        cue = getattr(self.tools.get(name), "cue", None)
        return cue is None or re.search(cue, language.fold(text)) is not None

    def _index(self, tools: dict[str, dict], profile: Profile | None) -> _Index:
        key = (tuple(sorted(tools)), id(profile))
        if key not in self._indexes:
            labels, texts = [], []
            for name, schema in sorted(tools.items()):
                examples = list(getattr(self.tools.get(name), "examples", None) or []) or _bare_examples(name, schema)
                labels += [name] * len(examples)
                texts += examples
            help_examples = HELP_EXAMPLES + (profile.help_examples if profile else [])
            labels += [HELP] * len(help_examples)
            texts += help_examples
            if FILE_SEARCH not in tools:
                labels += [OFF_TOPIC] * len(OFF_TOPIC_EXAMPLES)
                texts += OFF_TOPIC_EXAMPLES
            names = list(dict.fromkeys(labels))
            rows = np.array([names.index(label) for label in labels])
            self._indexes[key] = _Index(names, rows, self.embedder.examples([for_embedding(t) for t in texts]))
        return self._indexes[key]

    # ------------------------------------------------------------------ follow-up answers
    def _pending(self, messages: list[dict], tools: dict[str, dict], lang: str) -> tuple[str, str, str] | None:
        """(tool, earlier user text, the parameter asked for) when the previous assistant turn
        asked for an argument."""
        if len(messages) < 3 or messages[-1].get("role") != "user" or messages[-2].get("role") != "assistant":
            return None
        asked = _text(messages[-2].get("content")).strip()
        earlier = _text(messages[-3].get("content")) if messages[-3].get("role") == "user" else ""
        for name, schema in tools.items():
            for param in self.parsers.params_of(schema.get("parameters") or {}):
                question = self.question(param, lang)
                # the reply was the question, or ended with it (a tool's answer that asks next)
                if asked == question or (self.parsers.parser(param.kind) is not None and asked.endswith(question)):
                    return name, earlier, param.name
        return None

    def _resolve_pending(self, pending: tuple[str, str, str], text: str, tools: dict, lang: str) -> Decision | None:
        name, earlier, asked = pending
        parameters = tools[name].get("parameters") or {}
        now, _ = self.parsers.parse_arguments(parameters, text)
        if not now and not self.parsers.hinted(parameters, text):
            return None  # the user moved on: route the new message afresh
        if asked in now:  # the answer is the asked value, not another parameter read from the same words
            now = {k: v for k, v in now.items() if k == asked or v != now[asked]}
        args, missing = self.parsers.parse_arguments(parameters, f"{earlier} {text}")
        args.update(now)
        missing = [p for p in missing if p.name not in args]
        if missing:
            return Decision(name, self.question(missing[0], lang), lang=lang)
        return Decision(name, arguments=args, lang=lang)

    # ------------------------------------------------------------------ replies
    def _phrase(self, messages: list[dict], lang: str) -> str:
        names: dict[str, tuple[str, str]] = {}
        parts = []
        for message in messages[_last_user_index(messages) + 1:]:
            for call in message.get("tool_calls") or []:
                names[call["id"]] = (call["function"]["name"], call["function"].get("arguments") or "")
            if message.get("role") == "tool":
                name, arguments = names.get(message.get("tool_call_id"), (None, ""))
                parts.append(self._phrase_one(name, arguments, message.get("content"), lang))
        return "\n\n".join(p for p in parts if p)

    def _phrase_one(self, name: str | None, arguments: str, content: Any, lang: str) -> str:
        raw = _text(content)
        try:
            output = json.loads(raw)
        except ValueError:
            return sentence(name, _json_object(arguments), raw, lang)
        if isinstance(output, dict) and "error" in output:
            return error_sentence(output, lang)
        if name == FILE_SEARCH and isinstance(output, dict):
            return passages.answer(output, lang)
        templates = getattr(self.tools.get(name or ""), "template", None) or {}
        for template in filter(None, [templates.get(lang), *templates.values()]):
            text = render(template, output)
            if text:
                return text
        return sentence(name, _json_object(arguments), output, lang)

    def _help(self, profile: Profile | None, tools: dict[str, dict], lang: str) -> str:
        if profile and profile.help:
            return profile.help
        es = lang == "es"
        if not tools:
            return NO_TOOLS[0 if es else 1]
        abilities = []
        for schema in tools.values():
            description = (schema.get("description") or "").strip().rstrip(".")
            said_in = language.detect(description) if description else None
            if description and (said_in == lang or (said_in is None and lang == "en")) and len(description) <= 160:
                abilities.append(description)
        if len(abilities) < len(tools):  # never quote a description (or a tool name) in another language
            return (HELP_OTHER_LANGUAGE[0] if es else HELP_OTHER_LANGUAGE[1]) if not abilities else (
                ("Puedo ayudarte con: " + "; ".join(abilities) + ", y con otras consultas de este asistente. ¿Qué necesitas?")
                if es else ("I can help with: " + "; ".join(abilities) + ", and with this assistant's other requests. What do you need?"))
        if es:
            return "Puedo ayudarte con: " + "; ".join(abilities) + ". ¿Qué necesitas?"
        return "I can help with: " + "; ".join(abilities) + ". What do you need?"

    def _profile(self, request: ModelRequest) -> Profile | None:
        metadata = getattr(request.assistant, "metadata", None) or {}
        if metadata.get("hilo_pack") and metadata.get("hilo_key"):
            return self.profiles.get(f"{metadata['hilo_pack']}/{metadata['hilo_key']}")
        return None

    def question(self, param: Param, lang: str) -> str:
        """The question that asks the user for a missing argument."""
        parser = self.parsers.parser(param.kind)
        if parser is not None and parser.questions:
            return parser.questions.get(lang) or next(iter(parser.questions.values()))
        return question(param, lang)

    @staticmethod
    def _language(request: ModelRequest, profile: Profile | None, text: str) -> str:
        if profile:
            return profile.language
        return language.detect(_system_text(request)) or language.detect(text) or "es"


# ---------------------------------------------------------------------- sentences
_QUESTIONS = {
    "url": ("Envíame el enlace (URL) de la imagen o el id del archivo que subiste.",
            "Send me the image's URL or the id of the file you uploaded."),
    "file_id": ("Envíame el enlace (URL) de la imagen o el id del archivo que subiste.",
                "Send me the image's URL or the id of the file you uploaded."),
    "text": ("¿Qué tema buscas?", "What topic are you looking for?"),
    "date": ("¿Para qué fecha?", "For which date?"),
    "place": ("¿De qué lugar (ciudad o país)?", "Which place (city or country)?"),
}


_EXAMPLE = re.compile(r"(,?\s*(?:por ejemplo|p\. ej\.|e\.g\.|for example)\s*)")


def question(param: Param, lang: str) -> str:
    """The question that asks for a missing argument of a core kind (pack kinds bring theirs:
    :meth:`GuidedProvider.question`)."""
    es = lang == "es"
    if param.kind in _QUESTIONS:
        return _QUESTIONS[param.kind][0 if es else 1]
    if param.kind in ("int_id", "str_id"):
        thing = param.name.removesuffix("_id").replace("_", " ") or "id"
        return f"¿Cuál es el número (id) del {thing}?" if es else f"What is the {thing}'s id?"
    if param.kind == "enum":
        options = ", ".join(str(v) for v in param.schema.get("enum", []))
        return f"¿Cuál de estas opciones: {options}?" if es else f"Which one: {options}?"
    description = param.description.strip().rstrip(".").strip()
    # "La referencia del producto, por ejemplo P-104" -> "¿Cuál es la referencia del producto (por ejemplo P-104)?"
    parts = _EXAMPLE.split(description, maxsplit=1)  # [what, "por ejemplo", example] or [what]
    main, example = parts[0].strip(" ,("), (parts[2].strip(" ,()") if len(parts) == 3 else "")
    if es and re.match(r"(?i)(?:el|la|los|las)\s", main) and language.detect(main) != "en":
        return f"¿Cuál es {main[0].lower()}{main[1:]}" + (f" (por ejemplo {example})?" if example else "?")
    if not es and re.match(r"(?i)the\s", main) and language.detect(main) != "es":
        return f"What is {main[0].lower()}{main[1:]}" + (f" (for example {example})?" if example else "?")
    return (f"Necesito este dato: {description}. ¿Cuál es?" if es
            else f"I need this: {description}. What is it?")


HELP_OTHER_LANGUAGE = (
    "¡Hola! Respondo sin un modelo de lenguaje, con las herramientas de este asistente. Escríbeme tu "
    "pregunta con los datos que hagan falta (por ejemplo el lugar, la fecha o el número) y te ayudo.",
    "Hello! I answer without a language model, with this assistant's tools. Write your question with the "
    "details it needs (a place, a date or a number, for example) and I will help.",
)
NO_TOOLS = (
    "¡Hola! Ahora mismo respondo sin un modelo de lenguaje y este asistente no tiene herramientas, "
    "así que solo puedo saludarte y contarte esto: para conversaciones completas, quien administra "
    "el servidor puede conectar un modelo (HILO_LLM_API_KEY y HILO_LLM_MODEL para OpenAI, o "
    "HILO_LLM_BASE_URL para uno local como Ollama) o darle herramientas a este asistente.",
    "Hello! I am answering without a language model right now and this assistant has no tools, so "
    "all I can do is greet you and say this: for full conversations, whoever runs the server can "
    "connect a model (HILO_LLM_API_KEY and HILO_LLM_MODEL for OpenAI, or HILO_LLM_BASE_URL for a "
    "local one such as Ollama) or give this assistant tools.",
)
_APOLOGY = {
    "internal": ("Lo siento, no pude consultarlo ahora por un problema interno. Intenta de nuevo en "
                 "unos minutos o pregúntamelo de otra forma.",
                 "Sorry, I could not look that up just now because of an internal problem. Please try "
                 "again in a few minutes, or ask me in another way."),
    "timeout": ("Lo siento, la consulta tardó demasiado y no obtuve respuesta. Intenta de nuevo en unos minutos.",
                "Sorry, that took too long and I got no answer. Please try again in a few minutes."),
    "invalid_arguments": ("Lo siento, no entendí bien los datos de tu pregunta. ¿Me la dices de otra forma?",
                          "Sorry, I did not get the details of your question right. Could you say it another way?"),
}


def error_sentence(output: Any, lang: str) -> str:
    """A tool's error, for the customer: a tool's own sentence when it wrote one in the reply's
    language (a :class:`~hilo.tools.ToolError`), else a short apology and what to try."""
    es = lang == "es"
    error = output.get("error") if isinstance(output, dict) else output
    kind = output.get("error_type") if isinstance(output, dict) else None
    if kind in _APOLOGY:
        return _APOLOGY[kind][0 if es else 1]
    message = str(error or "").strip()
    said_in = language.detect(message)
    if message and len(message) <= 400 and (said_in == lang or (said_in is None and not es)):
        return message
    return _APOLOGY["internal"][0 if es else 1]


def meant_as_written(text: str, meant: str) -> str:
    """The part of the text that ``meant`` (folded) came from, as the user wrote it."""
    at = language.fold(text).rfind(meant)
    return text[at:at + len(meant)].strip() if at >= 0 else meant


# ---------------------------------------------------------------------- request helpers
def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def _last_user_index(messages: list[dict]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return -1


def _json_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _calls_since_user(messages: list[dict]) -> list[tuple[str, dict]]:
    return [(c["function"]["name"], _json_object(c["function"].get("arguments") or ""))
            for m in messages[_last_user_index(messages) + 1:] for c in m.get("tool_calls") or []]


@dataclass(slots=True)
class _Shown:
    """What the conversation showed last: the items of its last list, the item of its last
    detail, and its last call (name, arguments)."""

    items: list[dict[str, Any]] | None = None
    focus: dict[str, Any] | None = None
    last: tuple[str, dict[str, Any]] | None = None

    @classmethod
    def of(cls, earlier: list[dict[str, Any]], messages: list[dict]) -> _Shown:
        shown = cls()
        calls = list(earlier)
        outputs = {m.get("tool_call_id"): m.get("content") for m in messages if m.get("role") == "tool"}
        for m in messages:
            for c in m.get("tool_calls") or []:
                calls.append({"name": c["function"]["name"], "arguments": c["function"].get("arguments") or "",
                              "output": outputs.get(c["id"])})
        for call in calls:
            try:
                output = json.loads(_text(call.get("output"))) if call.get("output") else None
            except ValueError:
                output = None
            shown.last = (call["name"], _json_object(call.get("arguments") or ""))
            if isinstance(output, dict) and "error" in output:
                continue  # still the last request ("y menos de 500 mil?" after no results), but nothing shown
            items = dialogue.items_of(output)
            if items:
                shown.items, shown.focus = items, None
            elif isinstance(output, dict) and dialogue.id_of(output) is not None:
                shown.focus = output
        return shown


def _last_user_text(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _system_text(request: ModelRequest) -> str:
    return " ".join(_text(m.get("content")) for m in request.messages if m.get("role") == "system")


def _schemas(request: ModelRequest) -> dict[str, dict]:
    return {t["function"]["name"]: t["function"] for t in request.tools or ()
            if t.get("type") == "function" and t.get("function", {}).get("name")}


_ASKS_OPTIONS = re.compile(r"(?<![\wñ])(?:que|q|k|cuales|what|which|lista|opciones|options|tipos? de|kinds? of)(?![\wñ])")


def _forms(word: str) -> set[str]:
    """The word and its singulars ("servicios" -> servicios, servicio, servici)."""
    forms = {word}
    if len(word) > 4 and word.endswith("s"):
        forms |= {word[:-1], word[:-2]} if word.endswith("es") else {word[:-1]}
    return forms


_GENERIC_VERB = re.compile(r"^(?:get|fetch|retrieve|lookup|check|query|obtener|consultar)\s+")


def _bare_examples(name: str, schema: dict) -> list[str]:
    """What a tool with no examples (a client function) is compared with: its description, and
    its name as words without a generic verb ("get_weather" -> "weather", "order_status" ->
    "order status"): the name often says the domain more plainly than the description does."""
    words = " ".join(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ").split()).lower()
    named = _GENERIC_VERB.sub("", words) or words
    description = (schema.get("description") or "").strip()
    return list(dict.fromkeys(t for t in (description, named) if t))


def _forced(choice: Any) -> str | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return (choice.get("function") or {}).get("name")
    return None


__all__ = ["Decision", "GuidedProvider", "Profile", "error_sentence", "question"]
