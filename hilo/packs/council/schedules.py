"""The council's schedules on APScheduler: the monitor every minute, the daily learning job,
and the expiry of unanswered decisions. Every run is a ``council_job_runs`` row (visible at
``/council/reports/jobs``) and a failed run is retried with a growing pause.

The monitor watches only what users asked for (their config's ``symbols``): a fresh server
with no council config makes no exchange request at all. For each watched symbol it stores
the new closed bars and convenes the council when the monitor's rule triggers (a significant
move, unusual volume, a MACD turn) on a bar not yet decided.

The learning job retrains the ensemble of every watched symbol on its stored bars (a new model
version with its walk-forward calibration) and scores past executed decisions against what
the price did next (the outcomes the next version learns from).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from hilo.kit.ids import now
from hilo.packs.council import market_store, ml
from hilo.packs.council.analysts import monitor_triggers
from hilo.packs.council.core import CouncilInputError
from hilo.packs.council.exchange import MarketDataError
from hilo.packs.council.frame import MarketFrame
from hilo.packs.council.models import EXECUTED, DecisionRow, JobRun, UserConfig
from hilo.packs.council.service import CouncilService

log = logging.getLogger("hilo.council")

JOBS = ("monitor", "learning", "expiry")


class Schedules:
    def __init__(self, council: CouncilService):
        self.council = council
        self.settings = council.settings
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[str] = set()

    def start(self) -> None:
        s = self.settings
        self.scheduler.add_job(self.tick, IntervalTrigger(seconds=s.monitor_every_s), args=["monitor", s.monitor_every_s],
                               id="monitor", max_instances=1, coalesce=True)
        self.scheduler.add_job(self.tick, CronTrigger(hour=s.learning_hour_utc, minute=0), args=["learning", 3600],
                               id="learning", max_instances=1, coalesce=True)
        self.scheduler.add_job(self.tick, IntervalTrigger(minutes=5), args=["expiry", 300], id="expiry",
                               max_instances=1, coalesce=True)
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def tick(self, job: str, every_s: float) -> dict[str, Any] | None:
        """A scheduled run of ``job``. Scaled out, every executing process schedules it: the one that
        takes the tick's Redis lock (held for most of the interval) runs it, the others skip."""
        redis = getattr(self.council.state.bus, "redis", None)
        if redis is not None:
            key = f"{self.council.state.settings.redis_prefix}:council:tick:{job}"
            try:
                if not await redis.set(key, "1", nx=True, px=max(1000, int(every_s * 900))):
                    return None
            except Exception as exc:  # Redis away: skip this tick rather than run it everywhere
                log.warning("council job %s skipped: Redis lock unavailable (%s)", job, type(exc).__name__)
                return None
        return await self.run_now(job)

    async def run_now(self, job: str) -> dict[str, Any]:
        """Run ``job`` (retried up to HILO_COUNCIL_JOB_RETRIES times); returns its last record."""
        if job not in JOBS:
            raise CouncilInputError(f"unknown job {job!r}; jobs: {', '.join(JOBS)}")
        if job in self._running:
            return {"job": job, "status": "skipped", "detail": {"reason": "already running"}}
        self._running.add(job)
        try:
            record: dict[str, Any] = {}
            attempts = self.settings.job_retries + 1
            for attempt in range(1, attempts + 1):
                record = await self._attempt(job, attempt)
                if record["status"] == "succeeded" or attempt == attempts:
                    break
                await asyncio.sleep(min(30.0, 0.5 * 2 ** attempt))
            return record
        finally:
            self._running.discard(job)

    async def _attempt(self, job: str, attempt: int) -> dict[str, Any]:
        db = self.council.db
        async with db.sessionmaker() as session:
            row = JobRun(job=job, status="running", attempt=attempt, detail={}, started_at=now())
            session.add(row)
            await session.commit()
            run_id = row.id
        try:
            detail = await getattr(self, f"_{job}")()
            status, error = "succeeded", None
        except Exception as exc:  # recorded and retried; the scheduler keeps running
            log.warning("council job %s failed (attempt %d): %s", job, attempt, exc)
            detail, status, error = {}, "failed", f"{type(exc).__name__}: {exc}"[:2000]
        async with db.sessionmaker() as session:
            row = await session.get(JobRun, run_id)
            row.status, row.detail, row.error, row.finished_at = status, detail, error, now()
            await session.commit()
            return job_json(row)

    async def recent(self, limit: int) -> dict[str, Any]:
        async with self.council.db.sessionmaker() as session:
            rows = (await session.execute(select(JobRun).order_by(JobRun.id.desc()).limit(limit))).scalars()
            return {"object": "list", "data": [job_json(r) for r in rows],
                    "next": {j.id: j.next_run_time.isoformat() if j.next_run_time else None
                             for j in self.scheduler.get_jobs()}}

    # ------------------------------------------------------------------ the jobs
    async def _watched(self) -> list[tuple[str, str, str]]:
        async with self.council.db.sessionmaker() as session:
            configs = (await session.execute(select(UserConfig))).scalars().all()
        return [(c.user_id, symbol, c.timeframe) for c in configs for symbol in (c.symbols or [])]

    async def _monitor(self) -> dict[str, Any]:
        council = self.council
        collected, decided, errors = 0, [], []
        for pair in sorted({(sym, tf) for _u, sym, tf in await self._watched()}):
            try:
                collected += await market_store.collect(council.db, council.exchange, *pair,
                                                        lookback=council.settings.lookback)
            except MarketDataError as exc:
                errors.append(f"{pair[0]} {pair[1]}: {exc}")
        for user, symbol, timeframe in await self._watched():
            try:
                prepared = await council.prepare(user, symbol, timeframe)
            except MarketDataError as exc:
                errors.append(f"{symbol} {timeframe}: {exc}")
                continue
            bar_ms = int(prepared.frame.bars.index[-1].value // 1_000_000)
            if not monitor_triggers(prepared.snapshot) or await self._decided(user, symbol, timeframe, bar_ms):
                continue
            view = await council.decide(user, symbol, timeframe)
            decided.append({"user_id": user, "symbol": symbol, "decision_id": view["id"], "status": view["status"]})
        if errors and not collected and not decided:
            raise MarketDataError("; ".join(errors)[:1000])
        return {"bars_stored": collected, "decisions": decided, "errors": errors}

    async def _decided(self, user: str, symbol: str, timeframe: str, bar_ms: int) -> bool:
        async with self.council.db.sessionmaker() as session:
            return (await session.execute(select(DecisionRow.id).where(
                DecisionRow.user_id == user, DecisionRow.symbol == symbol, DecisionRow.timeframe == timeframe,
                DecisionRow.bar_time == bar_ms).limit(1))).first() is not None

    async def _learning(self) -> dict[str, Any]:
        council = self.council
        out: dict[str, Any] = {"models": [], "outcomes": {}}
        for symbol, timeframe in sorted({(s, tf) for _u, s, tf in await self._watched()}):
            async with council.db.sessionmaker() as session:
                bars = await market_store.load_bars(session, council.exchange_name, symbol, timeframe)
            if bars.empty:
                out["models"].append({"symbol": symbol, "timeframe": timeframe, "trained": False,
                                      "reason": "no stored bars"})
                continue
            frame = MarketFrame.build(bars, symbol, timeframe)
            async with council.db.sessionmaker() as session:
                metrics = await ml.retrain(session, frame)
                await session.commit()
            out["models"].append({"symbol": symbol, "timeframe": timeframe,
                                  **{k: metrics.get(k) for k in ("trained", "version", "samples", "reason")}})
            out["outcomes"][f"{symbol} {timeframe}"] = await self._outcomes(symbol, timeframe, frame)
        return out

    async def _outcomes(self, symbol: str, timeframe: str, frame: MarketFrame) -> dict[str, Any]:
        """How executed decisions did: the return from their bar to the latest close, by role
        whose vote agreed (a member's hit rate is what its weight could learn from)."""
        async with self.council.db.sessionmaker() as session:
            rows = (await session.execute(select(DecisionRow).where(
                DecisionRow.symbol == symbol, DecisionRow.timeframe == timeframe,
                DecisionRow.status == EXECUTED))).scalars().all()
        index = {int(t.value // 1_000_000): i for i, t in enumerate(frame.bars.index)}
        last = float(frame.close[-1])
        hits: dict[str, list[int]] = {}
        scored = 0
        for row in rows:
            i = index.get(row.bar_time)
            if i is None or i == len(frame) - 1:
                continue
            move = last / float(frame.close[i]) - 1.0
            good = (move > 0) if row.action == "BUY" else (move < 0)
            scored += 1
            for role, vote in (row.votes or {}).items():
                if vote.get("recommendation") == row.action:
                    hits.setdefault(role, []).append(int(good))
        return {"scored": scored, "hit_rate_by_role": {r: round(sum(v) / len(v), 4) for r, v in hits.items()}}

    async def _expiry(self) -> dict[str, Any]:
        return {"expired": await self.council.expire_pending()}


def job_json(row: JobRun) -> dict[str, Any]:
    return {"id": row.id, "job": row.job, "status": row.status, "attempt": row.attempt, "detail": row.detail,
            "error": row.error, "started_at": row.started_at, "finished_at": row.finished_at}
