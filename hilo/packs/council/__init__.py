"""Seed 004's trading council: seven assistants that analyse a market, debate only when they
disagree, vote with the user's weights, and trade on paper (or escalate to the user); the same
code replays bundled or stored bars as a backtest."""

from pathlib import Path

from hilo.packs import Pack
from hilo.packs.council.models import Base

_HERE = Path(__file__).parent

pack = Pack(
    name="council",
    description="Consejo de trading: siete asistentes que analizan, debaten, votan y operan en papel; backtests con el mismo código.",
    assistants=sorted((_HERE / "assistants").glob("*.toml")),
    migrations=_HERE / "migrations",
    tables=[Base.metadata],
)
