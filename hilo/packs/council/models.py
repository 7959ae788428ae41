"""The council's tables: the seed's ``user_config``, ``portfolio``, ``positions``, ``decisions``
and ``orders``, plus stored bars, the append-only audit log, trained model versions, the
model-answer cache that makes decisions replay, encrypted exchange keys and scheduled job runs.

They have their own metadata (hilo's core migrations never see them). Money and quantities
are ``Numeric(28, 10)`` in storage; times are epoch seconds (bars: epoch milliseconds, as
exchanges send them). ``user_id`` is the hilo user, or ``"local"`` when auth is off.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hilo.kit.db.base import NAMING

Money = Numeric(28, 10)
LOCAL_USER = "local"

# A decision's life: executed at once, held (nothing to do), or waiting for the user, who
# approves (then it executes) or rejects it; a pending decision older than its bar expires.
EXECUTED, HELD, PENDING, APPROVED, REJECTED, EXPIRED, FAILED = (
    "executed", "held", "pending_approval", "approved", "rejected", "expired", "failed")
DECISION_STATUSES = (EXECUTED, HELD, PENDING, APPROVED, REJECTED, EXPIRED, FAILED)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class UserConfig(Base):
    __tablename__ = "council_user_config"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    assistant_weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    custom_rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    risk_limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    threshold: Mapped[float] = mapped_column(Float, default=0.5)
    symbols: Mapped[list[Any]] = mapped_column(JSON, default=list)
    timeframe: Mapped[str] = mapped_column(String(8), default="1h")
    auto_execute: Mapped[bool] = mapped_column(Boolean, default=True)  # False: every trade asks the user
    live_trading: Mapped[bool] = mapped_column(Boolean, default=False)  # also needs HILO_COUNCIL_LIVE_TRADING
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class Portfolio(Base):
    __tablename__ = "council_portfolio"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(20))  # "paper" or an exchange id
    currency: Mapped[str] = mapped_column(String(10), default="USDT")
    total_balance: Mapped[Decimal] = mapped_column(Money)
    available_balance: Mapped[Decimal] = mapped_column(Money)
    locked_balance: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    peak_equity: Mapped[Decimal] = mapped_column(Money)
    day: Mapped[str] = mapped_column(String(10))  # the UTC day day_start_equity belongs to
    day_start_equity: Mapped[Decimal] = mapped_column(Money)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("user_id", "exchange"),)


class Position(Base):
    __tablename__ = "council_positions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(20))
    symbol: Mapped[str] = mapped_column(String(20))
    side: Mapped[str] = mapped_column(String(10), default="LONG")
    quantity: Mapped[Decimal] = mapped_column(Money)
    entry_price: Mapped[Decimal] = mapped_column(Money)
    current_price: Mapped[Decimal] = mapped_column(Money)
    pnl: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("user_id", "exchange", "symbol"),)


class DecisionRow(Base):
    __tablename__ = "council_decisions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(20))
    timeframe: Mapped[str] = mapped_column(String(8))
    bar_time: Mapped[int] = mapped_column(BigInteger)  # epoch ms of the bar decided on
    action: Mapped[str] = mapped_column(String(20))  # BUY / SELL / HOLD
    confidence: Mapped[float] = mapped_column(Float)
    reasoning: Mapped[dict[str, Any]] = mapped_column(JSON)
    consensus_reached: Mapped[bool] = mapped_column(Boolean)
    votes: Mapped[dict[str, Any]] = mapped_column(JSON)
    rounds: Mapped[list[Any]] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(20))  # execute / escalate / hold
    status: Mapped[str] = mapped_column(String(20))
    size_pct: Mapped[float] = mapped_column(Float, default=0.0)
    model_calls: Mapped[int] = mapped_column(Integer, default=0)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    resolved_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (Index("ix_council_decisions_user_created", "user_id", "created_at"),
                      Index("ix_council_decisions_status", "status"))


class OrderRow(Base):
    __tablename__ = "council_orders"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    decision_id: Mapped[str | None] = mapped_column(ForeignKey("council_decisions.id"), nullable=True)
    user_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(10))  # paper / live
    exchange: Mapped[str] = mapped_column(String(20))
    exchange_order_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    symbol: Mapped[str] = mapped_column(String(20))
    side: Mapped[str] = mapped_column(String(10))  # BUY / SELL
    type: Mapped[str] = mapped_column(String(20), default="market")
    quantity: Mapped[Decimal] = mapped_column(Money)
    filled_quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)  # average fill price
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    status: Mapped[str] = mapped_column(String(20))  # filled / partially_filled / rejected / failed
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)
    executed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (Index("ix_council_orders_user_created", "user_id", "created_at"),)


class AuditEntry(Base):
    """Append-only: each entry carries the hash of the one before, so an edit breaks the chain."""

    __tablename__ = "council_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(30))  # decision / order / approval / rejection / config / learning
    subject_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    findings: Mapped[list[Any]] = mapped_column(JSON)
    # unique: two writers appending at once cannot both extend the same entry (one retries)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class BarRow(Base):
    __tablename__ = "council_bars"
    exchange: Mapped[str] = mapped_column(String(20), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(20), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch ms of the bar's open
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)


class ModelVersion(Base):
    __tablename__ = "council_model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(20))
    timeframe: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[int] = mapped_column(BigInteger)
    train_end: Mapped[int] = mapped_column(BigInteger)  # epoch ms of the last bar whose label it saw
    samples: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)  # accuracy, Brier score, calibration bins
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (UniqueConstraint("symbol", "timeframe", "version"),)


class ModelAnswer(Base):
    """A model's answer to one exact request: the same inputs with the same models replay."""

    __tablename__ = "council_model_answers"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of model + messages
    model: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ExchangeKey(Base):
    """Exchange credentials, Fernet-encrypted with HILO_COUNCIL_SECRET_KEY; never returned."""

    __tablename__ = "council_exchange_keys"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    exchange: Mapped[str] = mapped_column(String(20), primary_key=True)
    api_key: Mapped[bytes] = mapped_column(LargeBinary)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)


class JobRun(Base):
    __tablename__ = "council_job_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(40))  # monitor / consensus / learning
    status: Mapped[str] = mapped_column(String(20))  # running / succeeded / failed
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (Index("ix_council_job_runs_job_started", "job", "started_at"),)
