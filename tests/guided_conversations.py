"""Multi-turn guided conversations (issue 10): the data, the matcher and the harness that scores them.

The data is ``tests/data/conversations/<part>.jsonl``, one conversation per line::

    {"id": "c-ingles-barato", "assistant": "courses", "lang": "es", "turns": [
      {"user": "hola, ¿tienen cursos de inglés? ¿cuánto cuestan?", "kind": ["two_questions"],
       "expect": {"tool": "buscar_curso", "args": {"query": {"all": ["ingles"], "only": true}}}},
      {"user": "¿cuál es el más barato?", "kind": ["follow_up"],
       "expect": {"tool": "detalle_curso", "args": {"curso_id": {"ref": "cheapest"}}}},
      {"user": "gracias!", "kind": ["smalltalk"], "expect": {"reply": true, "none": ["id"]}}]}

Two parts: ``dev`` (the guided provider may be tuned on it) and ``heldout`` (kept out of any
tuning: nobody who tunes reads it). :func:`summarize` reports the failures of the parts it is
told to reveal (``dev`` by default) in full, and of the others only where they are (conversation
and turn number, kinds, which check failed): no utterance, no expectation, no reply.

Assistants (``assistant``): ``courses`` and ``mentor`` are the built-in packs' assistants (found by
their ``hilo_pack`` metadata); the others are created by the harness from
:data:`CLIENT_ASSISTANTS`: client-side ``function`` tools with only a name, a description and a
JSON schema (no examples), answered by the harness with the turn's ``output``.

How a turn is scored (:func:`check`):

``tool``
    The FIRST tool call of the turn's run: for server-side tools the first call of the run's
    first ``tool_calls`` step; for client-side tools the first call of ``required_action``.
    ``"tool": "name"`` (or a list of acceptable names) expects that call; ``"tool": null``, or
    ``"reply": true`` with no ``tool`` key, expects no tool call and a non-empty text reply.
``args``
    Only the listed arguments of that first call are checked (others may be present). A spec is:

    - a string: equal to the value after folding (lower case, accents removed, outer space
      stripped);
    - a number: numerically equal (a numeric string counts);
    - ``true`` / ``false`` / ``null``: equal;
    - a list: any one of the specs in it;
    - ``{"all": [...], "any": [...], "none": [...]}``: every ``all`` term, at least one ``any``
      term and no ``none`` term is contained in the folded value (terms folded too); with
      ``"ordered": true`` the ``all`` terms appear in that order; with ``"only": true`` the
      value has no content word other than the words of the ``all``/``any``/``allow`` terms
      (articles, prepositions and conjunctions, :data:`STOPWORDS`, are ignored): this is what
      catches a query that kept the filler of the request («inglés Cuánto cuestan»);
    - ``{"empty": true}``: the argument is absent, null, blank or an empty list;
    - ``{"ref": R}``: the id of an item of the most recent *list-like* tool output of this
      conversation before this turn (a tool output holding a list of objects with an ``id``,
      e.g. ``buscar_curso``'s ``cursos``), so that expectations do not depend on the ranking.
      ``R`` is ``"cheapest"`` / ``"priciest"`` (by ``precio`` or ``price``), ``"first"``,
      ``"second"``, ``"third"``, ``"last"`` (the position in the list as shown),
      ``{"name": "negocios"}`` (every word of it in the item's ``nombre``/``name``),
      or ``{"where": {"field": "term", ...}, "pick": "cheapest" | "priciest" | "first" | "last"}``
      (items whose folded field contains the term; without ``pick`` any of them).
      A ref that resolves to nothing fails the turn;
    - ``{"date_offset": n}``: the ISO date of today plus ``n`` days is contained in the value.
``reply``
    ``"reply": {...}`` and the expectation's own ``all`` / ``any`` / ``none`` keys are checked on
    the folded text of every assistant message the turn's run wrote: ``all`` contained,
    at least one of ``any``, none of ``none``.

A turn is **correct** when its tool, every expected argument and every reply check match, and
its run ended ``completed`` (or ``cancelled`` by the harness: a client-side call the turn gives
no ``output`` for). Client-side calls are answered with the turn's ``output`` (a dict for every
call, or a list of outputs used in order). The list-like outputs that refs resolve against are
read from the run steps' function outputs (server-side tools) or are the submitted outputs.
The report gives that accuracy, the tool accuracy and the tool-and-arguments accuracy, overall,
per kind (a turn counts for each of its kinds), per assistant and per part, and the failures
(turn, expected, got, reply excerpt).
"""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data" / "conversations"
PARTS = ("dev", "heldout")
KINDS = frozenset({
    "plain", "follow_up", "correction", "two_questions", "typo", "mixed_language", "catalogue",
    "topic_no_verb", "smalltalk", "out_of_scope", "constraints",
})
PACK_ASSISTANTS = {"courses": "courses", "mentor": "trading_mentor"}  # name in the data -> hilo_pack

# Words ``only`` ignores: articles, prepositions, conjunctions (Spanish and English), and the
# chat spellings of some of them (d = de, q/k = que, pa/pal = para, x = por).
STOPWORDS = frozenset("""
a al ante bajo con contra de del desde durante e el en entre hacia hasta la las lo los o para
por que segun sin sobre tras u un una unas uno unos y d q k pa pal x
an and at by for from in into of on or the to with
""".split())

TARGET = 0.95


# ---------------------------------------------------------------------- client-side assistants
def _function(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required}}}


CLIENT_ASSISTANTS: dict[str, dict[str, Any]] = {
    # The README's example, word for word: an English description under Spanish instructions.
    "weather": {
        "name": "Ayudante del clima", "instructions": "Responde en español.",
        "tools": [_function("get_weather", "Weather in a city", {"city": {"type": "string"}}, ["city"])],
    },
    "orders": {
        "name": "Soporte de pedidos", "instructions": "Eres el asistente de una tienda en línea. Responde en español.",
        "tools": [_function(
            "order_status", "Consulta el estado y la fecha de entrega de un pedido de la tienda por su número.",
            {"order_number": {"type": "string", "description": "Número del pedido, por ejemplo 10452."}},
            ["order_number"])],
    },
    "citas": {
        "name": "Agenda de la barbería", "instructions": "Agendas citas en una barbería y salón de belleza. Responde en español.",
        "tools": [_function(
            "agendar_cita", "Agenda una cita en la barbería para un servicio y una fecha.",
            {"fecha": {"type": "string", "format": "date", "description": "Fecha de la cita (AAAA-MM-DD)."},
             "servicio": {"type": "string", "enum": ["corte de cabello", "arreglo de barba", "tinte",
                                                     "manicure", "pedicure"],
                          "description": "El servicio que se quiere."}},
            ["fecha", "servicio"])],
    },
    "tienda": {
        "name": "Tienda de celulares", "instructions": "Atiendes a los clientes de una tienda de celulares y accesorios. Responde en español.",
        "tools": [
            _function("buscar_producto", "Busca productos del inventario de la tienda (celulares, forros, "
                      "cargadores, audífonos) por lo que pide el cliente.",
                      {"texto": {"type": "string", "description": "Qué producto busca el cliente."}}, ["texto"]),
            _function("ver_producto", "Muestra el precio, los colores y la disponibilidad de un producto por su referencia.",
                      {"referencia": {"type": "string", "description": "La referencia del producto, por ejemplo P-104."}},
                      ["referencia"]),
        ],
    },
}


# ---------------------------------------------------------------------- folding and matching
def fold(value: Any) -> str:
    """Lower case, accents (and the tilde of ñ) removed, outer space stripped; non-strings as JSON."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = " ".join(map(str, value)) if isinstance(value, list) else json.dumps(value, ensure_ascii=False)
    text = unicodedata.normalize("NFD", value.lower())
    return "".join(c for c in text if unicodedata.category(c) != "Mn").strip()


def words(text: Any) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


def content_words(text: Any) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS]


def _terms(spec: dict, key: str) -> list[str]:
    terms = spec.get(key, [])
    return [fold(t) for t in ([terms] if isinstance(terms, str) else terms)]


def match_text(spec: dict, value: Any) -> str | None:
    """None when ``value`` satisfies a text spec (``all``/``any``/``none``/``ordered``/``only``), else why not."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "absent or empty"
    text = fold(value)
    missing = [t for t in _terms(spec, "all") if t not in text]
    if missing:
        return f"lacks {missing}"
    anyof = _terms(spec, "any")
    if anyof and not any(t in text for t in anyof):
        return f"has none of {anyof}"
    banned = [t for t in _terms(spec, "none") if t in text]
    if banned:
        return f"contains {banned}"
    if spec.get("ordered"):
        positions = [text.find(t) for t in _terms(spec, "all")]
        if positions != sorted(positions):
            return f"terms not in the order {_terms(spec, 'all')}"
    if spec.get("only"):
        allowed = {w for key in ("all", "any", "allow") for t in _terms(spec, key) for w in words(t)}
        extra = [w for w in content_words(text) if w not in allowed]
        if extra:
            return f"has other words {extra}"
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _price(item: dict) -> float | None:
    for key in ("precio", "price", "valor"):
        if _number(item.get(key)) is not None:
            return _number(item[key])
    return None


REF_PICKS = ("cheapest", "priciest", "first", "second", "third", "last")


def _pick(items: list[dict], how: str | None) -> list[dict]:
    if how is not None and how not in REF_PICKS:
        raise ValueError(f"unknown ref {how!r}")
    if not items:
        return []
    if how is None:
        return items
    if how in ("cheapest", "priciest"):
        priced = [i for i in items if _price(i) is not None]
        if not priced:
            return []
        best = (min if how == "cheapest" else max)(_price(i) for i in priced)
        return [i for i in priced if _price(i) == best]
    positions = {"first": 0, "second": 1, "third": 2, "last": len(items) - 1}
    if how in positions:
        return [items[positions[how]]] if positions[how] < len(items) else []
    raise ValueError(f"unknown ref {how!r}")


def resolve_ref(ref: Any, items: list[dict] | None) -> list[dict]:
    """The items a ``ref`` may mean (several when the ref is ambiguous), from the last listed items."""
    items = items or []
    if isinstance(ref, str):
        return _pick(items, ref)
    if not isinstance(ref, dict):
        raise ValueError(f"unknown ref {ref!r}")
    where = dict(ref.get("where") or {})
    if "name" in ref:
        where["nombre"] = ref["name"]
    chosen = items
    for fieldname, term in where.items():
        wanted = words(term)
        chosen = [i for i in chosen
                  if all(w in words(i.get(fieldname, i.get("name") if fieldname == "nombre" else None))
                         for w in wanted)]
    return _pick(chosen, ref.get("pick"))


def _same(expected: Any, got: Any) -> bool:
    if _number(expected) is not None and _number(got) is not None:
        return abs(_number(expected) - _number(got)) < 1e-9
    return fold(expected) == fold(got)


def match_arg(spec: Any, value: Any, items: list[dict] | None = None, *, present: bool = True) -> str | None:
    """None when an argument ``value`` satisfies ``spec`` (see the module's docstring), else why not."""
    if isinstance(spec, list):
        reasons = [match_arg(s, value, items, present=present) for s in spec]
        return None if any(r is None for r in reasons) else " / ".join(r for r in reasons if r)
    if isinstance(spec, dict):
        if spec.get("empty"):
            blank = value is None or (isinstance(value, str | list | dict) and not (value.strip() if isinstance(value, str) else value))
            return None if blank else f"should be empty, is {value!r}"
        if not present:
            return "absent"
        if "ref" in spec:
            targets = resolve_ref(spec["ref"], items)
            if not targets:
                return f"ref {spec['ref']!r} resolves to nothing in the last list ({len(items or [])} items)"
            if any(_same(t.get("id"), value) for t in targets):
                return None
            return f"{value!r} is not {spec['ref']!r} (id {' or '.join(str(t.get('id')) for t in targets)})"
        if "date_offset" in spec:
            day = (date.today() + timedelta(days=int(spec["date_offset"]))).isoformat()
            return None if day in fold(value) else f"{value!r} is not {day}"
        return match_text(spec, value)
    if not present:
        return "absent"
    if spec is None or isinstance(spec, bool):
        return None if value is spec or value == spec else f"{value!r} != {spec!r}"
    if isinstance(spec, int | float):
        number = _number(value)
        return None if number is not None and abs(number - spec) < 1e-9 else f"{value!r} != {spec!r}"
    return None if fold(spec) == fold(value) else f"{value!r} != {spec!r}"


def match_reply(spec: dict, text: str) -> str | None:
    """None when the reply ``text`` satisfies ``all``/``any``/``none``, else why not."""
    folded = fold(text)
    missing = [t for t in _terms(spec, "all") if t not in folded]
    if missing:
        return f"reply lacks {missing}"
    anyof = _terms(spec, "any")
    if anyof and not any(t in folded for t in anyof):
        return f"reply has none of {anyof}"
    banned = [t for t in _terms(spec, "none") if t in folded]
    if banned:
        return f"reply contains {banned}"
    return None


def list_items(output: Any) -> list[dict] | None:
    """The items of a list-like tool output (a list of objects with an ``id``), else None."""
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except ValueError:
            return None
    candidates = [output] if isinstance(output, list) else list(output.values()) if isinstance(output, dict) else []
    for value in candidates:
        if isinstance(value, list) and value and all(isinstance(i, dict) and "id" in i for i in value):
            return value
    return None


@dataclass
class Call:
    name: str
    arguments: Any  # the parsed JSON arguments (the raw string when it is not JSON)
    output: Any = None


@dataclass
class Verdict:
    tool_ok: bool
    args_ok: bool
    reply_ok: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.tool_ok and self.args_ok and self.reply_ok


def _expected_tool(expect: dict) -> tuple[bool, list[str] | None]:
    """(whether a tool is expected at all, the acceptable names)."""
    if "tool" in expect:
        tool = expect["tool"]
        if tool is None:
            return False, None
        return True, [tool] if isinstance(tool, str) else list(tool)
    return False, None


def check(expect: dict, calls: list[Call], reply: str, items: list[dict] | None = None) -> Verdict:
    """Score one turn: ``calls`` are its tool calls in order, ``reply`` its assistant text,
    ``items`` the last listed items before it (for refs)."""
    reasons: list[str] = []
    wants_tool, names = _expected_tool(expect)
    first = calls[0] if calls else None
    if wants_tool:
        tool_ok = first is not None and first.name in names
        if not tool_ok:
            reasons.append(f"tool: expected {' or '.join(names)}, got {first.name if first else 'no tool call'}")
    else:
        tool_ok = first is None and bool(reply.strip())
        if first is not None:
            reasons.append(f"tool: expected a text reply, got a call to {first.name}")
        elif not reply.strip():
            reasons.append("tool: expected a text reply, got none")
    args_ok = True
    if wants_tool and tool_ok and expect.get("args"):
        arguments = first.arguments if isinstance(first.arguments, dict) else None
        if arguments is None:
            args_ok = False
            reasons.append(f"args: not a JSON object: {first.arguments!r}")
        else:
            for name, spec in expect["args"].items():
                why = match_arg(spec, arguments.get(name), items, present=name in arguments)
                if why:
                    args_ok = False
                    reasons.append(f"args.{name}: {why}")
    elif wants_tool and not tool_ok and expect.get("args"):
        args_ok = False
    reply_spec = dict(expect["reply"]) if isinstance(expect.get("reply"), dict) else {}
    for key in ("all", "any", "none"):
        if key in expect:
            reply_spec[key] = list(reply_spec.get(key, [])) + list(expect[key])
    why = match_reply(reply_spec, reply) if reply_spec else None
    if why:
        reasons.append(why)
    return Verdict(tool_ok, args_ok, why is None, reasons)


# ---------------------------------------------------------------------- the data
def load(part: str) -> list[dict]:
    path = DATA_DIR / f"{part}.jsonl"
    conversations = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    validate(conversations, part)
    return conversations


def validate(conversations: list[dict], part: str = "?") -> None:
    """Raise ValueError on a malformed conversation (unknown kind or assistant, bad keys...)."""
    seen: set[str] = set()
    assistants = set(PACK_ASSISTANTS) | set(CLIENT_ASSISTANTS)
    for conv in conversations:
        where = f"{part}:{conv.get('id')}"
        if not conv.get("id") or conv["id"] in seen:
            raise ValueError(f"{where}: missing or repeated id")
        seen.add(conv["id"])
        if conv.get("assistant") not in assistants:
            raise ValueError(f"{where}: unknown assistant {conv.get('assistant')!r}")
        if not conv.get("turns"):
            raise ValueError(f"{where}: no turns")
        for i, turn in enumerate(conv["turns"]):
            if not isinstance(turn.get("user"), str) or not turn["user"].strip():
                raise ValueError(f"{where}#{i}: no user text")
            unknown = set(turn.get("kind") or []) - KINDS
            if not turn.get("kind") or unknown:
                raise ValueError(f"{where}#{i}: kinds {turn.get('kind')!r} (unknown: {sorted(unknown)})")
            expect = turn.get("expect")
            if not isinstance(expect, dict) or ("tool" not in expect and expect.get("reply") is not True):
                raise ValueError(f"{where}#{i}: expect needs 'tool' or 'reply': true")
            extra = set(expect) - {"tool", "args", "reply", "all", "any", "none"}
            if extra:
                raise ValueError(f"{where}#{i}: unknown expect keys {sorted(extra)}")
            for name, spec in (expect.get("args") or {}).items():
                for one in spec if isinstance(spec, list) else [spec]:
                    if isinstance(one, dict) and "ref" in one:
                        r = one["ref"]
                        pick = r if isinstance(r, str) else r.get("pick") if isinstance(r, dict) else "?"
                        if pick is not None and pick not in REF_PICKS or (isinstance(r, dict) and set(r) - {"name", "where", "pick"}):
                            raise ValueError(f"{where}#{i}: args.{name}: unknown ref {r!r}")
            if set(turn) - {"user", "kind", "expect", "output", "note"}:
                raise ValueError(f"{where}#{i}: unknown turn keys {sorted(set(turn) - {'user', 'kind', 'expect', 'output', 'note'})}")


# ---------------------------------------------------------------------- running conversations
@dataclass
class TurnResult:
    part: str
    conversation: str
    assistant: str
    index: int
    user: str
    kinds: list[str]
    expect: dict
    calls: list[dict]
    reply: str
    status: str
    seconds: float
    tool_ok: bool
    args_ok: bool
    reply_ok: bool
    reasons: list[str]

    @property
    def correct(self) -> bool:
        return self.tool_ok and self.args_ok and self.reply_ok

    @property
    def where(self) -> str:
        return f"{self.conversation}#{self.index + 1}"


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


class Harness:
    """Drives conversations through a running hilo with the official ``openai`` SDK."""

    def __init__(self, client, poll_interval_ms: int = 20):
        self.client = client
        self.poll = poll_interval_ms
        self._ids: dict[str, str] = {}

    def assistant_id(self, name: str) -> str:
        if name not in self._ids:
            if name in PACK_ASSISTANTS:
                found = [a for a in self.client.beta.assistants.list(limit=100).data
                         if (a.metadata or {}).get("hilo_pack") == PACK_ASSISTANTS[name]]
                if not found:
                    raise RuntimeError(f"no assistant of the {PACK_ASSISTANTS[name]} pack: is the pack enabled?")
                self._ids[name] = found[0].id
            else:
                spec = CLIENT_ASSISTANTS[name]
                self._ids[name] = self.client.beta.assistants.create(
                    model="gpt-4o", name=spec["name"], instructions=spec["instructions"], tools=spec["tools"]).id
        return self._ids[name]

    def run(self, conversation: dict, part: str) -> list[TurnResult]:
        beta = self.client.beta
        assistant = self.assistant_id(conversation["assistant"])
        thread = beta.threads.create()
        items: list[dict] | None = None
        results = []
        for index, turn in enumerate(conversation["turns"]):
            start = time.perf_counter()
            beta.threads.messages.create(thread.id, role="user", content=turn["user"])
            run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant,
                                                    poll_interval_ms=self.poll)
            calls, run = self._client_calls(thread.id, run, turn)
            if not calls:
                calls = self._server_calls(thread.id, run.id)
            reply = self._reply(thread.id, run.id)
            verdict = check(turn["expect"], calls, reply, items)
            if run.status not in ("completed", "cancelled"):  # failed, expired, incomplete: never right
                verdict.reply_ok = False
                verdict.reasons.append(f"run {run.status}: {run.last_error}")
            results.append(TurnResult(
                part, conversation["id"], conversation["assistant"], index, turn["user"], list(turn["kind"]),
                turn["expect"], [asdict(c) for c in calls], reply, run.status,
                round(time.perf_counter() - start, 3), verdict.tool_ok, verdict.args_ok, verdict.reply_ok,
                verdict.reasons))
            for call in calls:
                listed = list_items(call.output)
                if listed is not None:
                    items = listed
        return results

    def _client_calls(self, thread_id: str, run, turn: dict) -> tuple[list[Call], Any]:
        """Answer ``requires_action`` with the turn's ``output`` (a dict for every call, or a list
        used in order); with no ``output`` the run is cancelled. At most three rounds."""
        beta = self.client.beta
        calls: list[Call] = []
        given = turn.get("output")
        queue = list(given) if isinstance(given, list) else None
        rounds = 0
        while run.status == "requires_action" and run.required_action is not None:
            pending = run.required_action.submit_tool_outputs.tool_calls
            if given is None or rounds >= 3:
                calls += [Call(c.function.name, _json(c.function.arguments)) for c in pending]
                beta.threads.runs.cancel(run_id=run.id, thread_id=thread_id)
                run = beta.threads.runs.poll(run_id=run.id, thread_id=thread_id, poll_interval_ms=self.poll)
                break
            outputs = []
            for c in pending:
                output = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else given
                calls.append(Call(c.function.name, _json(c.function.arguments), output))
                outputs.append({"tool_call_id": c.id, "output": json.dumps(output, ensure_ascii=False)})
            run = beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=run.id, thread_id=thread_id, tool_outputs=outputs, poll_interval_ms=self.poll)
            rounds += 1
        return calls, run

    def _server_calls(self, thread_id: str, run_id: str) -> list[Call]:
        steps = self.client.beta.threads.runs.steps.list(thread_id=thread_id, run_id=run_id, order="asc", limit=100)
        calls = []
        for step in steps.data:
            if step.type != "tool_calls":
                continue
            for c in step.step_details.tool_calls:
                if c.type == "function":
                    calls.append(Call(c.function.name, _json(c.function.arguments), _json(c.function.output)))
        return calls

    def _reply(self, thread_id: str, run_id: str) -> str:
        messages = self.client.beta.threads.messages.list(thread_id=thread_id, run_id=run_id, order="asc", limit=100)
        return "\n".join(part.text.value for m in messages.data if m.role == "assistant"
                         for part in m.content if part.type == "text")


def run_parts(client, parts: tuple[str, ...] = PARTS) -> list[TurnResult]:
    harness = Harness(client)
    return [r for part in parts for conv in load(part) for r in harness.run(conv, part)]


# ---------------------------------------------------------------------- the report
def _rate(rows: list[TurnResult]) -> dict:
    n = len(rows)
    return {"turns": n,
            "accuracy": round(sum(r.correct for r in rows) / n, 4) if n else None,
            "tool_accuracy": round(sum(r.tool_ok for r in rows) / n, 4) if n else None,
            "tool_args_accuracy": round(sum(r.tool_ok and r.args_ok for r in rows) / n, 4) if n else None}


def summarize(results: list[TurnResult], reveal: tuple[str, ...] = ("dev",)) -> dict:
    """Accuracy per part, overall, per kind and per assistant; the failures of the parts in
    ``reveal`` in full, of the other parts only as where/kinds (no utterance, no expectation)."""
    out: dict[str, Any] = {}
    for part in dict.fromkeys(r.part for r in results):
        rows = [r for r in results if r.part == part]
        kinds: dict[str, list[TurnResult]] = defaultdict(list)
        assistants: dict[str, list[TurnResult]] = defaultdict(list)
        for r in rows:
            assistants[r.assistant].append(r)
            for kind in r.kinds:
                kinds[kind].append(r)
        failures = []
        for r in rows:
            if r.correct:
                continue
            if part in reveal:
                first = r.calls[0] if r.calls else None
                failures.append({"turn": r.where, "kinds": r.kinds, "user": r.user, "expected": r.expect,
                                 "got": {"tool": first["name"], "args": first["arguments"]} if first else None,
                                 "reply": r.reply[:300], "why": r.reasons})
            else:
                failures.append({"turn": r.where, "kinds": r.kinds,
                                 "failed": [k for k, ok in (("tool", r.tool_ok), ("args", r.args_ok), ("reply", r.reply_ok)) if not ok]})
        seconds = [r.seconds for r in rows]
        out[part] = {
            "conversations": len({r.conversation for r in rows}), **_rate(rows),
            "per_kind": {k: _rate(v) for k, v in sorted(kinds.items())},
            "per_assistant": {k: _rate(v) for k, v in sorted(assistants.items())},
            "turn_seconds": {"p50": round(statistics.median(seconds), 3), "max": round(max(seconds), 3)} if seconds else None,
            "failures": failures,
        }
    return out


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def format_report(summary: dict, show_failures: bool = False) -> str:
    lines = []
    for part, s in summary.items():
        lines.append(f"== {part}: {s['conversations']} conversations, {s['turns']} turns: "
                     f"correct {_pct(s['accuracy'])} (target {TARGET:.0%}), tool {_pct(s['tool_accuracy'])}, "
                     f"tool+args {_pct(s['tool_args_accuracy'])}")
        lines.append(f"   {'kind':<16}{'turns':>6}  {'correct':>7}  {'tool':>6}  {'tool+args':>9}")
        for title, table in (("per kind", s["per_kind"]), ("per assistant", s["per_assistant"])):
            lines.append(f"   -- {title}")
            for key, r in table.items():
                lines.append(f"   {key:<16}{r['turns']:>6}  {_pct(r['accuracy']):>7}  {_pct(r['tool_accuracy']):>6}  "
                             f"{_pct(r['tool_args_accuracy']):>9}")
        if show_failures and s["failures"]:
            lines.append(f"   -- failures ({len(s['failures'])})")
            for f in s["failures"]:
                if "user" in f:
                    lines.append(f"   {f['turn']} {f['kinds']}: {f['user']!r}")
                    lines.append(f"      expected {json.dumps(f['expected'], ensure_ascii=False)}")
                    lines.append(f"      got      {json.dumps(f['got'], ensure_ascii=False)}")
                    lines.append(f"      why      {'; '.join(f['why'])}")
                    lines.append(f"      reply    {f['reply'][:160]!r}")
                else:
                    lines.append(f"   {f['turn']} {f['kinds']}: failed {', '.join(f['failed'])} (held out: no detail)")
    return "\n".join(lines)


# ---------------------------------------------------------------------- a hilo to talk to
CRYPTO_PRICES = {
    "BTC": 97000.5, "ETH": 3400.25, "SOL": 182.4, "ADA": 0.98, "XRP": 2.31, "DOGE": 0.41, "LTC": 104.2,
    "BNB": 690.0, "DOT": 8.7, "AVAX": 41.3, "LINK": 23.5, "MATIC": 0.62, "TRX": 0.25, "SHIB": 0.0000245,
    "XLM": 0.44, "TON": 5.8, "PEPE": 0.0000198, "SUI": 4.1, "XMR": 195.0, "USDC": 1.0, "NEAR": 5.2,
    "ATOM": 7.9, "UNI": 12.4, "APT": 9.6, "ARB": 0.8, "OP": 2.0,
}
EUR_PER_USDT = 0.95


@contextmanager
def fake_markets() -> Iterator[tuple[Any, Any]]:
    """FakeBinance (every coin above against USDT, EUR and BTC) and FakeFrankfurter, on loopback."""
    from hilo.testing.fake_markets import FakeBinance, FakeFrankfurter

    with FakeBinance() as binance, FakeFrankfurter() as ecb:
        for coin, usdt in CRYPTO_PRICES.items():
            if coin != "USDT":
                binance.set_price(f"{coin}/USDT", usdt, change_pct=1.5)
                binance.set_price(f"{coin}/EUR", round(usdt * EUR_PER_USDT, 8), change_pct=1.5)
                binance.set_price(f"{coin}/USD", usdt, change_pct=1.5)
            if coin not in ("BTC", "USDC"):
                binance.set_price(f"{coin}/BTC", round(usdt / CRYPTO_PRICES["BTC"], 10), change_pct=0.8)
        binance.set_price("USDT/EUR", EUR_PER_USDT)
        for code, rate in {"NZD": 1.78, "SEK": 11.5, "NOK": 11.7, "PLN": 4.3, "TRY": 36.2, "ZAR": 19.4,
                           "HKD": 8.2, "SGD": 1.42, "KRW": 1460.0}.items():
            ecb.set_rate(code, rate)
        yield binance, ecb


def settings_for(database_url: str, data_dir: Path, crypto_url: str, forex_url: str, **overrides):
    """As ``make serve`` with no keys (every pack, the guided provider), on loopback fakes."""
    from hilo.kit.config import Settings

    values = dict(database_url=database_url, data_dir=data_dir, llm_provider="auto", llm_base_url=None,
                  llm_api_key=None, llm_model=None, providers={}, packs="trading_mentor,courses", auth="off", run_timeout=60,
                  crypto_api_url=crypto_url, forex_api_url=forex_url, price_cache_s=0, log_level="warning")
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextmanager
def serve(database_url: str, data_dir: Path, **overrides) -> Iterator[Any]:
    """A hilo (``hilo.testing.server.start_server``) on a free loopback port with fake markets."""
    from hilo.testing.server import start_server

    with fake_markets() as (binance, ecb):
        live = start_server(settings_for(database_url, data_dir, binance.url, ecb.url, **overrides))
        try:
            yield live
        finally:
            live.stop()


__all__ = [
    "CLIENT_ASSISTANTS", "DATA_DIR", "KINDS", "PARTS", "STOPWORDS", "TARGET", "Call", "Harness", "TurnResult",
    "Verdict", "check", "content_words", "fake_markets", "fold", "format_report", "list_items", "load",
    "match_arg", "match_reply", "match_text", "resolve_ref", "run_parts", "serve", "settings_for", "summarize",
]
