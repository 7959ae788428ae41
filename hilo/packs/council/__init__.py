"""Seed 004's trading council: seven assistants that analyse a market, debate only when they
disagree, vote with the user's weights, and trade on paper (or escalate to the user); the same
code replays bundled or stored bars as a backtest."""

from pathlib import Path
from typing import Any

from hilo.packs import Pack
from hilo.packs.council.models import Base

_HERE = Path(__file__).parent

EVENTS = ("council.decision.created", "council.decision.pending", "council.decision.approved",
          "council.decision.rejected", "council.decision.executed", "council.decision.failed",
          "council.decision.expired", "council.order.filled", "council.order.rejected")


async def _start(state: Any) -> None:
    from hilo.packs.council.schedules import Schedules
    from hilo.packs.council.service import CouncilService

    state.council = CouncilService(state)
    state.council_schedules = Schedules(state.council)
    if state.council.settings.schedules and getattr(state, "executes", True):  # not on API-only replicas
        state.council_schedules.start()


async def _stop(state: Any) -> None:
    schedules = getattr(state, "council_schedules", None)
    if schedules is not None:
        schedules.stop()


def _routers() -> list[Any]:
    from hilo.packs.council.routes import router

    return [router]


def _cli() -> Any:
    from hilo.packs.council.cli import council_app

    return council_app


pack = Pack(
    name="council",
    description="Consejo de trading: siete asistentes que analizan, debaten, votan y operan en papel; backtests con el mismo código.",
    assistants=sorted((_HERE / "assistants").glob("*.toml")),
    migrations=_HERE / "migrations",
    routers=_routers(),
    tables=[Base.metadata],
    on_start=_start,
    on_stop=_stop,
    events=EVENTS,
    cli=_cli,
)
