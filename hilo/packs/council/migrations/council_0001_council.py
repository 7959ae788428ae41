"""The trading council: user config, portfolio, positions, decisions, orders, the audit log,
stored bars, model versions, the model-answer cache, encrypted exchange keys, job runs.

Revision ID: council_0001
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "council_0001"
down_revision = None
branch_labels = ("council",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "council_user_config",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("assistant_weights", sa.JSON, nullable=False),
        sa.Column("custom_rules", sa.JSON, nullable=False),
        sa.Column("risk_limits", sa.JSON, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("symbols", sa.JSON, nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("auto_execute", sa.Boolean, nullable=False),
        sa.Column("live_trading", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_council_user_config"),
    )
    op.create_table(
        "council_portfolio",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("exchange", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(10), nullable=False),
        sa.Column("total_balance", sa.Numeric(28, 10), nullable=False),
        sa.Column("available_balance", sa.Numeric(28, 10), nullable=False),
        sa.Column("locked_balance", sa.Numeric(28, 10), nullable=False),
        sa.Column("peak_equity", sa.Numeric(28, 10), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("day_start_equity", sa.Numeric(28, 10), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_council_portfolio"),
        sa.UniqueConstraint("user_id", "exchange", name="uq_council_portfolio_user_id"),
    )
    op.create_table(
        "council_positions",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("exchange", sa.String(20), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("quantity", sa.Numeric(28, 10), nullable=False),
        sa.Column("entry_price", sa.Numeric(28, 10), nullable=False),
        sa.Column("current_price", sa.Numeric(28, 10), nullable=False),
        sa.Column("pnl", sa.Numeric(28, 10), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_council_positions"),
        sa.UniqueConstraint("user_id", "exchange", "symbol", name="uq_council_positions_user_id"),
    )
    op.create_table(
        "council_decisions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("bar_time", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("reasoning", sa.JSON, nullable=False),
        sa.Column("consensus_reached", sa.Boolean, nullable=False),
        sa.Column("votes", sa.JSON, nullable=False),
        sa.Column("rounds", sa.JSON, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("size_pct", sa.Float, nullable=False),
        sa.Column("model_calls", sa.Integer, nullable=False),
        sa.Column("inputs_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", sa.BigInteger, nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_council_decisions"),
    )
    op.create_index("ix_council_decisions_status", "council_decisions", ["status"])
    op.create_index("ix_council_decisions_user_created", "council_decisions", ["user_id", "created_at"])
    op.create_table(
        "council_orders",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("decision_id", sa.String(40), sa.ForeignKey("council_decisions.id", name="fk_council_orders_decision_id_council_decisions"), nullable=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("exchange", sa.String(20), nullable=False),
        sa.Column("exchange_order_id", sa.String(100), nullable=True),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("quantity", sa.Numeric(28, 10), nullable=False),
        sa.Column("filled_quantity", sa.Numeric(28, 10), nullable=False),
        sa.Column("price", sa.Numeric(28, 10), nullable=True),
        sa.Column("fee", sa.Numeric(28, 10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("executed_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_council_orders"),
    )
    op.create_index("ix_council_orders_user_created", "council_orders", ["user_id", "created_at"])
    op.create_table(
        "council_audit",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_council_audit"),
        sa.UniqueConstraint("hash", name="uq_council_audit_hash"),
        sa.UniqueConstraint("prev_hash", name="uq_council_audit_prev_hash"),
    )
    op.create_table(
        "council_bars",
        sa.Column("exchange", sa.String(20), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("open", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("close", sa.Float, nullable=False),
        sa.Column("volume", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", "ts", name="pk_council_bars"),
    )
    op.create_table(
        "council_model_versions",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("trained_at", sa.BigInteger, nullable=False),
        sa.Column("train_end", sa.BigInteger, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_council_model_versions"),
        sa.UniqueConstraint("symbol", "timeframe", "version", name="uq_council_model_versions_symbol"),
    )
    op.create_table(
        "council_model_answers",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_council_model_answers"),
    )
    op.create_table(
        "council_exchange_keys",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("exchange", sa.String(20), nullable=False),
        sa.Column("api_key", sa.LargeBinary, nullable=False),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "exchange", name="pk_council_exchange_keys"),
    )
    op.create_table(
        "council_job_runs",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_council_job_runs"),
    )
    op.create_index("ix_council_job_runs_job_started", "council_job_runs", ["job", "started_at"])


def downgrade() -> None:
    op.drop_table("council_job_runs")
    op.drop_table("council_exchange_keys")
    op.drop_table("council_model_answers")
    op.drop_table("council_model_versions")
    op.drop_table("council_bars")
    op.drop_table("council_audit")
    op.drop_table("council_orders")
    op.drop_table("council_decisions")
    op.drop_table("council_positions")
    op.drop_table("council_portfolio")
    op.drop_table("council_user_config")
