"""The auditor's log: every decision, order, approval and config change, append-only.

Each entry stores the hash of the entry before it and its own hash over (the previous hash,
its fields); ``prev_hash`` is unique, so two writers cannot both extend the same entry (the
loser retries on the new tail) and the log is one chain. :func:`verify` walks the chain: an
edited, deleted or reordered entry breaks it at that point.

The auditor's checks (:func:`check_decision`, :func:`check_order`) return findings in Spanish;
an entry with findings has ``ok = False``.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.kit.ids import now
from hilo.packs.council.core import ACTIONS, ROLES, Decision, PortfolioState, RiskLimits
from hilo.packs.council.models import AuditEntry

GENESIS = "0" * 64
RETRIES = 5


def entry_hash(prev_hash: str, user_id: str, kind: str, subject_id: str | None, ok: bool,
               findings: list[Any], created_at: int) -> str:
    blob = json.dumps([prev_hash, user_id, kind, subject_id, ok, findings, created_at],
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


async def _tail(session: AsyncSession) -> str:
    last = (await session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))).scalar()
    return last or GENESIS


async def append(session: AsyncSession, user_id: str, kind: str, subject_id: str | None, ok: bool,
                 findings: list[Any]) -> AuditEntry:
    """Add an entry inside the caller's transaction (a savepoint, retried on a lost race)."""
    findings = json.loads(json.dumps(findings, default=str))
    for _attempt in range(RETRIES):
        prev = await _tail(session)
        t = now()
        entry = AuditEntry(user_id=user_id, kind=kind, subject_id=subject_id, ok=ok, findings=findings,
                           prev_hash=prev, hash=entry_hash(prev, user_id, kind, subject_id, ok, findings, t),
                           created_at=t)
        try:
            async with session.begin_nested():
                session.add(entry)
            return entry
        except IntegrityError:
            continue
    raise RuntimeError("the audit log kept changing while appending; try again")


async def verify(session: AsyncSession) -> dict[str, Any]:
    """Walk the whole chain; ``ok`` with the count, or where it breaks."""
    prev, count = GENESIS, 0
    rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
    for row in rows:
        expected = entry_hash(prev, row.user_id, row.kind, row.subject_id, row.ok, row.findings, row.created_at)
        if row.prev_hash != prev or row.hash != expected:
            return {"ok": False, "entries": count, "broken_at": row.id,
                    "reason": "the entry does not follow the one before" if row.prev_hash != prev
                    else "the entry was changed after it was written"}
        prev, count = row.hash, count + 1
    return {"ok": True, "entries": count, "head": prev}


def check_decision(d: Decision) -> list[str]:
    findings = []
    missing = [r for r in ROLES if r not in d.votes]
    if missing:
        findings.append(f"faltan votos de: {', '.join(missing)}")
    if d.action not in ACTIONS:
        findings.append(f"acción desconocida {d.action!r}")
    if not (0.0 <= d.confidence <= 1.0) or math.isnan(d.confidence):
        findings.append(f"confianza fuera de rango: {d.confidence}")
    if d.outcome == "execute" and not d.consensus_reached:
        findings.append("ejecución sin consenso")
    if d.action == "HOLD" and d.outcome != "hold":
        findings.append("HOLD con un resultado distinto de hold")
    if not d.rounds or len(d.rounds) > 4:
        findings.append(f"número de rondas inválido: {len(d.rounds)}")
    if d.size_pct < 0 or d.size_pct > 1:
        findings.append(f"tamaño fuera de rango: {d.size_pct}")
    return findings


def check_order(result: Any, after: PortfolioState, limits: RiskLimits) -> list[str]:
    """An executed order against the rules: balances never negative, the position within its
    limit at the fill price, fills consistent with the request."""
    findings = []
    if after.cash < -1e-9:
        findings.append(f"efectivo negativo tras la orden: {after.cash}")
    if after.quantity < -1e-12:
        findings.append(f"cantidad negativa tras la orden: {after.quantity}")
    if result.filled_quantity > result.request.quantity * (1 + 1e-9):
        findings.append("se llenó más de lo pedido")
    price = result.average_price
    if price > 0 and result.request.side == "BUY":
        equity = after.equity(price)
        if equity > 0 and after.quantity * price / equity > limits.max_position_pct * (1 + 1e-6) + 1e-9:
            findings.append(f"posición {after.quantity * price / equity:.1%} sobre el máximo "
                            f"{limits.max_position_pct:.0%} (max_position_pct)")
    if result.status in ("rejected", "failed"):
        findings.append(f"orden {result.status}: {result.reason}")
    return findings
