"""The consensus process of the seed: an initial round, debate only among those who disagree
(at most three rounds), a weighted vote against a threshold, then execute, hold or escalate.

The process is written once, as a generator that yields the questions of each round (every
member's analysis; then each dissenter's answer to its objections) and receives the answers.
:class:`DeterministicCouncil` answers them with the rule analysts in the same thread (a
backtest bar costs microseconds); :class:`hilo.packs.council.members.ModelCouncil` answers them
through assistants on the run engine, a round's questions at once.

Vote: a member's voice is its weight (the user's ``assistant_weights``) times its confidence;
an action's score is its share of all voices. The leading action reaches consensus when its
share is at least the threshold (default 0.5). A member with confidence 0 abstains.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hilo.packs.council import analysts
from hilo.packs.council.core import (
    ACTIONS,
    BUY,
    DEFAULT_THRESHOLD,
    HOLD,
    MAX_DEBATE_ROUNDS,
    ROLES,
    SELL,
    Analysis,
    CouncilInputError,
    Decision,
    Snapshot,
    validate_weights,
)

EXECUTE, ESCALATE, HOLD_OUTCOME = "execute", "escalate", "hold"


@dataclass(slots=True, frozen=True)
class Ask:
    """One question to one member: ``analyze`` the snapshot, or ``debate`` its own view against
    the ``objections`` of those who voted otherwise (``leading``: the action ahead)."""

    role: str
    kind: str  # "analyze" or "debate"
    own: Analysis | None = None
    objections: tuple[Analysis, ...] = ()
    leading: str = HOLD


@dataclass(slots=True)
class Tally:
    scores: dict[str, float]
    leading: str
    share: float
    voices: float = 0.0
    voters: dict[str, list[str]] = field(default_factory=dict)


def tally(analyses: Mapping[str, Analysis], weights: Mapping[str, float]) -> Tally:
    voice = {a: 0.0 for a in ACTIONS}
    voters: dict[str, list[str]] = {a: [] for a in ACTIONS}
    for role, analysis in analyses.items():
        v = weights.get(role, 0.0) * analysis.confidence
        if v > 0:
            voice[analysis.vote] += v
            voters[analysis.vote].append(role)
    total = sum(voice.values())
    if total <= 0:
        return Tally({a: (1.0 if a == HOLD else 0.0) for a in ACTIONS}, HOLD, 1.0, 0.0, voters)
    scores = {a: voice[a] / total for a in ACTIONS}
    best = max(scores.values())
    tied = [a for a in ACTIONS if scores[a] == best]
    leading = tied[0] if len(tied) == 1 else HOLD  # a tie between actions is no decision
    return Tally(scores, leading, scores[leading], total, voters)


def disagrees(t: Tally, threshold: float) -> bool:
    """The first round needs a debate: no consensus, or confident voices on both sides."""
    return t.share < threshold or (bool(t.voters[BUY]) and bool(t.voters[SELL]))


Process = Generator[list[Ask], list[Analysis], Decision]


def process(snapshot: Snapshot, weights: Mapping[str, float], threshold: float = DEFAULT_THRESHOLD,
            roles: Sequence[str] = ROLES, max_rounds: int = MAX_DEBATE_ROUNDS) -> Process:
    initial = yield [Ask(role, "analyze") for role in roles]
    current = {a.assistant_id: a for a in initial}
    rounds = [list(initial)]
    t = tally(current, weights)
    for _ in range(max_rounds):
        if not disagrees(t, threshold):
            break
        asks = []
        for role, own in current.items():
            if own.confidence <= 0 or weights.get(role, 0.0) <= 0 or own.vote == t.leading:
                continue
            objections = tuple(o for r, o in current.items()
                               if r != role and o.confidence > 0 and o.vote != own.vote)
            if objections:
                asks.append(Ask(role, "debate", own, objections, t.leading))
        if not asks:
            break
        answers = yield asks
        changed = False
        for answer in answers:
            before = current[answer.assistant_id]
            changed |= (answer.vote, answer.confidence) != (before.vote, before.confidence)
            current[answer.assistant_id] = answer
        rounds.append(list(answers))
        t = tally(current, weights)
        if not changed:
            break
    return conclude(snapshot, current, rounds, t, weights, threshold)


def conclude(snapshot: Snapshot, final: Mapping[str, Analysis], rounds: list[list[Analysis]], t: Tally,
             weights: Mapping[str, float], threshold: float) -> Decision:
    votes = {role: {"recommendation": a.recommendation, "confidence": round(a.confidence, 4),
                    "weight": weights.get(role, 0.0)} for role, a in final.items()}
    supporters = t.voters.get(t.leading, [])
    support_w = sum(weights.get(r, 0.0) for r in supporters)
    mean_conf = (sum(weights.get(r, 0.0) * final[r].confidence for r in supporters) / support_w) if support_w else 0.0
    confidence = t.share * mean_conf if t.leading != HOLD else t.share
    consensus = t.share >= threshold
    action, notes = t.leading, []
    risk = final.get("risk_manager")
    risk_data = risk.supporting_data if risk else {}
    portfolio = snapshot.portfolio
    size = 0.0
    if action == BUY:
        room = float(risk_data.get("max_buy_pct", snapshot.limits.max_position_pct))
        size = min(room, snapshot.limits.max_position_pct * max(confidence, 0.25))
        if risk_data.get("veto_buy") or size <= 0:
            notes.append("el gestor de riesgo no permite comprar")
            action, size = HOLD, 0.0
    elif action == SELL:
        if portfolio is not None and portfolio.quantity <= 0:
            notes.append("no hay posición que vender (solo compras al contado)")
            action = HOLD
        else:
            size = 1.0 if (t.share >= 0.75 or (risk and risk.vote == SELL)) else 0.5
    rule = analysts.matching_rule(snapshot) if snapshot.rules else None
    if action == HOLD:
        outcome = HOLD_OUTCOME
    elif rule is not None and str(rule.get("action", "")).upper() == "ESCALATE":
        outcome = ESCALATE
        notes.append("una regla del usuario pide su aprobación")
    else:
        outcome = EXECUTE if consensus else ESCALATE
    names = ", ".join(supporters) or "nadie"
    reasoning = (f"{t.leading} con {t.share:.0%} del voto ponderado (umbral {threshold:.0%}; a favor: {names})"
                 + (f"; {'; '.join(notes)}" if notes else "")
                 + ("" if consensus or t.leading == HOLD else "; sin consenso: se consulta al usuario"))
    return Decision(symbol=snapshot.symbol, time=snapshot.time, action=action, confidence=round(confidence, 4),
                    consensus_reached=consensus, outcome=outcome, votes=votes,
                    rounds=rounds, scores={a: round(s, 4) for a, s in t.scores.items()},
                    reasoning=reasoning + ".", size_pct=round(size, 4))


class DeterministicCouncil:
    """The council on rules alone: no model, same answer for the same snapshot, every time."""

    def __init__(self, weights: Mapping[str, Any] | None = None, threshold: float = DEFAULT_THRESHOLD):
        self.weights = validate_weights(dict(weights or {}))
        self.threshold = check_threshold(threshold)

    def answer(self, snapshot: Snapshot, ask: Ask) -> Analysis:
        if ask.kind == "analyze":
            return analysts.ANALYSTS[ask.role](snapshot)
        return analysts.debate(snapshot, ask.own, ask.objections, ask.leading)

    def decide(self, snapshot: Snapshot) -> Decision:
        run = process(snapshot, self.weights, self.threshold)
        asks = next(run)
        while True:
            try:
                asks = run.send([self.answer(snapshot, a) for a in asks])
            except StopIteration as done:
                return done.value

    __call__ = decide


def check_threshold(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CouncilInputError("threshold must be a number between 0 and 1") from None
    if not 0.0 < number <= 1.0:
        raise CouncilInputError("threshold must be greater than 0 and at most 1")
    return number
