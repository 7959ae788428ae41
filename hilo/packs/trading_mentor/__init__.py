"""Seed 000's trading mentor: an assistant with crypto and forex prices and chart reading, and
the facade's ``/api/assistant/analyze-image`` (the rest of the facade is a channel)."""

from pathlib import Path

from hilo.packs import Pack
from hilo.packs.trading_mentor import analyze_route
from hilo.packs.trading_mentor.parsers import VOCABULARY
from hilo.packs.trading_mentor.tools import TOOLS

pack = Pack(
    name="trading_mentor",
    description="Mentor de trading: precios de criptomonedas (ccxt) y divisas (BCE), análisis de gráficos.",
    tools=TOOLS,
    assistants=[Path(__file__).parent / "mentor.toml"],
    vocabulary=VOCABULARY,
    routers=[analyze_route.router],  # /api/assistant/analyze-image (seed 000's facade)
)
