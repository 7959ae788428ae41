"""The council's shared vocabulary: what an analyst sees (:class:`Snapshot`), what it answers
(:class:`Analysis`, the seed's ``AssistantResponse``), the user's limits and the decision.

Everything here is plain data, cheap to build once per bar: a backtest of 8,721 bars builds as
many snapshots, so a snapshot holds floats already computed for the whole series (indicators,
features, the ensemble's prediction), never a DataFrame slice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

BUY, SELL, HOLD = "BUY", "SELL", "HOLD"
ACTIONS = (BUY, SELL, HOLD)

# The seven members, in the order they speak (the seed's names).
ROLES = ("market_monitor", "technical_analyst", "fundamental_analyst", "risk_manager",
         "strategist", "executor", "auditor")
# Members whose recommendation counts in the vote; the executor and the auditor advise on
# execution and check the decision, their vote weight defaults to zero-influence via HOLD.
DEFAULT_WEIGHTS = {"market_monitor": 0.10, "technical_analyst": 0.25, "fundamental_analyst": 0.15,
                   "risk_manager": 0.20, "strategist": 0.20, "executor": 0.05, "auditor": 0.05}
DEFAULT_THRESHOLD = 0.5
MAX_DEBATE_ROUNDS = 3


class CouncilInputError(ValueError):
    """A configuration or request the council cannot use; the message names the field."""


@dataclass(slots=True)
class Analysis:
    """One member's view: the seed's ``AssistantResponse`` shape."""

    assistant_id: str
    recommendation: str  # BUY, SELL or HOLD (the monitor may say ALERT: read as HOLD in the vote)
    confidence: float  # 0..1
    reasoning: str
    supporting_data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.recommendation = str(self.recommendation).upper()
        c = float(self.confidence)
        self.confidence = 0.0 if math.isnan(c) else min(1.0, max(0.0, c))

    @property
    def vote(self) -> str:
        return self.recommendation if self.recommendation in ACTIONS else HOLD

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        return cls(assistant_id=str(data["assistant_id"]), recommendation=str(data["recommendation"]),
                   confidence=float(data["confidence"]), reasoning=str(data.get("reasoning", "")),
                   supporting_data=dict(data.get("supporting_data") or {}))


@dataclass(slots=True)
class RiskLimits:
    """The user's ``risk_limits``, as fractions of equity."""

    max_position_pct: float = 0.25  # one position's value at most this share of equity
    max_daily_loss_pct: float = 0.05  # no new buys once today's loss reaches this
    max_drawdown_pct: float = 0.20  # no new buys below this drop from the equity peak
    max_exposure_pct: float = 0.50  # all positions together at most this share of equity

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RiskLimits:
        limits = cls()
        for name, value in (data or {}).items():
            if name not in cls.__slots__:
                raise CouncilInputError(f"risk_limits.{name} is not a known limit "
                                        f"(known: {', '.join(cls.__slots__)})")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise CouncilInputError(f"risk_limits.{name} must be a number between 0 and 1") from None
            if not 0.0 < number <= 1.0 or math.isnan(number):
                raise CouncilInputError(f"risk_limits.{name} must be greater than 0 and at most 1")
            setattr(limits, name, number)
        return limits

    def to_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class PortfolioState:
    """What the account holds when a decision is taken (one symbol, long only, in quote currency)."""

    cash: float
    quantity: float = 0.0
    avg_price: float = 0.0
    peak_equity: float = 0.0
    day_start_equity: float = 0.0

    def equity(self, price: float) -> float:
        return self.cash + self.quantity * price

    def exposure(self, price: float) -> float:
        eq = self.equity(price)
        return (self.quantity * price / eq) if eq > 0 else 0.0


@dataclass(slots=True)
class Snapshot:
    """What every member sees at one bar: values are computed from bars up to and including it."""

    symbol: str
    timeframe: str
    index: int
    time: datetime
    price: float  # the bar's close
    values: dict[str, float]  # indicators and features at this bar (NaN while warming up)
    prediction: dict[str, float] | None = None  # the ensemble's view, when a model is trained
    sentiment: dict[str, Any] = field(default_factory=dict)
    portfolio: PortfolioState | None = None
    limits: RiskLimits = field(default_factory=RiskLimits)
    rules: list[dict[str, Any]] = field(default_factory=list)  # the user's custom_rules

    def value(self, name: str, default: float = math.nan) -> float:
        v = self.values.get(name, default)
        return default if v is None else float(v)


@dataclass(slots=True)
class Decision:
    """The council's answer for one snapshot, with everything needed to audit and replay it."""

    symbol: str
    time: datetime
    action: str  # BUY, SELL or HOLD
    confidence: float
    consensus_reached: bool
    outcome: str  # "execute", "escalate" or "hold"
    votes: dict[str, dict[str, Any]]  # role -> {recommendation, confidence, weight}
    rounds: list[list[Analysis]]  # round 0 is the initial analysis; later rounds are the debate
    scores: dict[str, float]  # action -> weighted score
    reasoning: str
    model_calls: int = 0
    size_pct: float = 0.0  # the share of equity the strategist proposes to move

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "time": self.time.isoformat(), "action": self.action,
                "confidence": round(self.confidence, 4), "consensus_reached": self.consensus_reached,
                "outcome": self.outcome, "votes": self.votes, "scores": self.scores,
                "rounds": [[a.to_dict() for a in r] for r in self.rounds],
                "reasoning": self.reasoning, "model_calls": self.model_calls, "size_pct": self.size_pct}


def validate_weights(weights: dict[str, Any] | None) -> dict[str, float]:
    """The user's ``assistant_weights`` over :data:`DEFAULT_WEIGHTS`: known roles, numbers >= 0,
    not all zero."""
    merged = dict(DEFAULT_WEIGHTS)
    for name, value in (weights or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise CouncilInputError(f"assistant_weights.{name} is not a council member "
                                    f"(members: {', '.join(ROLES)})")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise CouncilInputError(f"assistant_weights.{name} must be a number >= 0") from None
        if number < 0 or math.isnan(number) or math.isinf(number):
            raise CouncilInputError(f"assistant_weights.{name} must be a number >= 0")
        merged[name] = number
    if sum(merged.values()) <= 0:
        raise CouncilInputError("assistant_weights: at least one member needs a weight above 0")
    return merged


def jsonable(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers (JSON columns and
    strict JSON reject the rest)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
