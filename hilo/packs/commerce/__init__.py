"""Seed 002's sales agent: a shop's catalogue, orders that hold their stock, customers by cédula,
the owner's dashboard and CSV exports, and the conversation that sells (``/chat/*``)."""

from pathlib import Path

from hilo.packs import Pack
from hilo.packs.commerce.admin import router as admin_router
from hilo.packs.commerce.chat import router as chat_router
from hilo.packs.commerce.customers import router as customers_router
from hilo.packs.commerce.demo import seed
from hilo.packs.commerce.exports import router as exports_router
from hilo.packs.commerce.models import Base
from hilo.packs.commerce.parsers import VOCABULARY
from hilo.packs.commerce.routes import router
from hilo.packs.commerce.tools import TOOLS

pack = Pack(
    name="commerce",
    description="Tienda: catálogo con búsqueda híbrida, pedidos que reservan stock, clientes, tablero y exportes CSV.",
    tools=TOOLS,
    assistants=[Path(__file__).parent / "vendedor.toml"],
    migrations=Path(__file__).parent / "migrations",
    routers=[router, chat_router, customers_router, admin_router, exports_router],
    seed=seed,
    tables=[Base.metadata],
    vocabulary=VOCABULARY,
)
