"""The council on models: each role is a hilo assistant, and its questions run as turns on the
run engine (a new thread per question, visible through ``/v1`` like any run).

Cheap by construction: a role speaks through its model only when its assistant's metadata says
``council_mode = "model"`` (by default the technical analyst, the fundamental analyst and the
strategist; the monitor, the risk manager, the executor and the auditor are rules by nature)
*and* its model resolves to a real provider. Otherwise, and whenever a model fails or answers
something that is not the analysis shape, the role's deterministic analyst answers. The rule
analysis is always in the prompt, so a model starts from the numbers instead of guessing them.

Replay: every model answer is stored under the hash of (model, instructions, prompt) in
``council_model_answers``; the same inputs with the same models read the stored answer and
reach the same decision without calling anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from hilo.identity import LOCAL_ADMIN
from hilo.kit.db.session import Database
from hilo.kit.ids import now
from hilo.packs.council import analysts
from hilo.packs.council.consensus import Ask, check_threshold, process
from hilo.packs.council.core import (
    ACTIONS,
    DEFAULT_THRESHOLD,
    Analysis,
    Decision,
    Snapshot,
    validate_weights,
)
from hilo.packs.council.models import ModelAnswer
from hilo.runs.options import RunOptions
from hilo.runs.service import NewThread, RunService
from hilo.runs.states import TERMINAL_EVENTS
from hilo.threads.active import reply_text
from hilo.threads.schemas import ThreadCreate

log = logging.getLogger("hilo.council")

MODEL_ROLES = frozenset({"technical_analyst", "fundamental_analyst", "strategist"})
ANSWER_TIMEOUT = 60.0
_JSON = re.compile(r"\{.*\}", re.S)


@dataclass(slots=True)
class RoleAssistant:
    role: str
    assistant_id: str
    model: str
    instructions: str
    uses_model: bool  # council_mode is "model" and the model resolves to a real provider


def prompt(snapshot: Snapshot, ask: Ask, rule_view: Analysis) -> str:
    """What a member reads: the market at this bar, the portfolio, the rule analysis, and in a
    debate its own view and the objections. Rounded numbers: the same bar, the same text."""
    values = {k: round(v, 6) for k, v in snapshot.values.items() if not math.isnan(v)}
    lines = [f"Mercado: {snapshot.symbol} ({snapshot.timeframe}), barra {snapshot.time.isoformat()}, "
             f"precio de cierre {snapshot.price:.8g}.",
             "Indicadores: " + json.dumps(values, sort_keys=True)]
    if snapshot.prediction:
        lines.append("Modelo de ML: " + json.dumps({k: round(v, 6) for k, v in snapshot.prediction.items()
                                                     if not math.isnan(v)}, sort_keys=True))
    if snapshot.sentiment:
        lines.append("Sentimiento: " + json.dumps(snapshot.sentiment, sort_keys=True, ensure_ascii=False))
    if snapshot.portfolio is not None:
        p = snapshot.portfolio
        lines.append(f"Cartera: efectivo {p.cash:.2f}, cantidad {p.quantity:.8g}, precio medio {p.avg_price:.8g}, "
                     f"exposición {p.exposure(snapshot.price):.1%}.")
    lines.append("Límites de riesgo: " + json.dumps(snapshot.limits.to_dict(), sort_keys=True))
    lines.append("Análisis por reglas (referencia): " + json.dumps(_brief(rule_view), sort_keys=True,
                                                                   ensure_ascii=False))
    if ask.kind == "debate" and ask.own is not None:
        lines.append("Tu posición en la ronda anterior: " + json.dumps(_brief(ask.own), ensure_ascii=False))
        lines.append(f"La mayoría se inclina por {ask.leading}. Objeciones de los demás miembros:")
        lines.extend(f"- {o.assistant_id}: {o.recommendation} ({o.confidence:.2f}) {o.reasoning}"
                     for o in ask.objections)
        lines.append("Responde a las objeciones: mantén o cambia tu recomendación, con tus razones.")
    lines.append('Responde solo con un objeto JSON: {"recommendation": "BUY" | "SELL" | "HOLD", '
                 '"confidence": número entre 0 y 1, "reasoning": "en español, breve", "supporting_data": {}}')
    return "\n".join(lines)


def _brief(a: Analysis) -> dict[str, Any]:
    return {"recommendation": a.recommendation, "confidence": round(a.confidence, 4), "reasoning": a.reasoning}


def parse_answer(role: str, text: str) -> Analysis | None:
    """The model's reply as an Analysis, or None when it is not the shape asked for."""
    match = _JSON.search(text or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
        rec = str(data["recommendation"]).upper().strip()
        confidence = float(data["confidence"])
    except (ValueError, KeyError, TypeError):
        return None
    if rec not in ACTIONS or not 0.0 <= confidence <= 1.0:
        return None
    supporting = data.get("supporting_data")
    return Analysis(role, rec, confidence, str(data.get("reasoning") or "")[:2000],
                    supporting if isinstance(supporting, dict) else {})


def cache_key(model: str, instructions: str, text: str) -> str:
    return hashlib.sha256(json.dumps([model, instructions, text], ensure_ascii=False).encode()).hexdigest()


class ModelCouncil:
    """Answers the consensus process's questions through the roles' assistants."""

    def __init__(self, runs: RunService, db: Database, roles: Mapping[str, RoleAssistant],
                 weights: Mapping[str, Any] | None = None, threshold: float = DEFAULT_THRESHOLD,
                 timeout: float = ANSWER_TIMEOUT):
        self.runs, self.db, self.roles = runs, db, dict(roles)
        self.weights = validate_weights(dict(weights or {}))
        self.threshold = check_threshold(threshold)
        self.timeout = timeout
        self.calls = 0  # model runs started for the current decision (cached answers are free)
        self.cached = 0

    async def decide(self, snapshot: Snapshot) -> Decision:
        self.calls = self.cached = 0
        run = process(snapshot, self.weights, self.threshold)
        asks = next(run)
        while True:
            answers = await asyncio.gather(*(self.answer(snapshot, a) for a in asks))
            try:
                asks = run.send(list(answers))
            except StopIteration as done:
                decision = done.value
                decision.model_calls = self.calls
                return decision

    async def answer(self, snapshot: Snapshot, ask: Ask) -> Analysis:
        rule_view = (analysts.ANALYSTS[ask.role](snapshot) if ask.kind == "analyze"
                     else analysts.debate(snapshot, ask.own, ask.objections, ask.leading))
        role = self.roles.get(ask.role)
        if role is None or not role.uses_model:
            return rule_view
        text = prompt(snapshot, ask, rule_view)
        key = cache_key(role.model, role.instructions, text)
        reply = await self._cached(key)
        if reply is None:
            self.calls += 1
            try:
                reply = await self._ask(role, text, snapshot)
            except Exception as exc:  # a model that is down must not stop the council
                log.warning("council: %s's model failed (%s); the rule analysis answers", ask.role,
                            type(exc).__name__)
                return _fallback(rule_view, "el modelo no respondió")
            if reply is not None and parse_answer(ask.role, reply) is not None:
                await self._store(key, role.model, reply)
        else:
            self.cached += 1
        parsed = parse_answer(ask.role, reply or "")
        if parsed is None:
            return _fallback(rule_view, "la respuesta del modelo no tenía el formato pedido")
        parsed.supporting_data = {**rule_view.supporting_data, **parsed.supporting_data, "source": "model"}
        return parsed

    async def _ask(self, role: RoleAssistant, text: str, snapshot: Snapshot) -> str | None:
        body = ThreadCreate(messages=[{"role": "user", "content": text}],
                            metadata={"council_role": role.role, "council_symbol": snapshot.symbol[:64]})
        options = RunOptions(response_format={"type": "json_object"}, temperature=0.0,
                             metadata={"council_role": role.role})
        turn = await self.runs.start(LOCAL_ADMIN, role.assistant_id, NewThread(body), options=options, watch=True)
        queue = turn.events
        status = "expired"
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    event, _payload = await queue.get()
                    if event in TERMINAL_EVENTS:
                        status = event.rsplit(".", 1)[1]
                        break
        except TimeoutError:
            await self.runs.engine.cancel(turn.run.id)
            return None
        finally:
            self.runs.bus.unsubscribe(turn.run.id, queue)
        if status != "completed":
            return None
        return await reply_text(self.db, turn.run.id)

    async def _cached(self, key: str) -> str | None:
        async with self.db.sessionmaker() as session:
            row = await session.get(ModelAnswer, key)
            return row.answer if row else None

    async def _store(self, key: str, model: str, answer: str) -> None:
        async with self.db.sessionmaker() as session:
            session.add(ModelAnswer(key=key, model=model[:200], answer=answer, created_at=now()))
            try:
                await session.commit()
            except IntegrityError:  # stored meanwhile by another decision with the same inputs
                await session.rollback()


def _fallback(rule_view: Analysis, why: str) -> Analysis:
    return Analysis(rule_view.assistant_id, rule_view.recommendation, rule_view.confidence,
                    f"{rule_view.reasoning} ({why}; análisis por reglas)",
                    {**rule_view.supporting_data, "source": "rules_fallback"})
