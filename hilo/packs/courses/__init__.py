"""Seed 001's course seller: a course catalog with search and details, and its admin CRUD."""

from pathlib import Path

from hilo.packs import Pack
from hilo.packs.courses.admin import router
from hilo.packs.courses.catalog import seed
from hilo.packs.courses.models import Base
from hilo.packs.courses.parsers import VOCABULARY
from hilo.packs.courses.tools import TOOLS

pack = Pack(
    name="courses",
    description="Catálogo de cursos: búsqueda léxica y semántica, detalle de cada curso y administración.",
    tools=TOOLS,
    assistants=[Path(__file__).parent / "asesor.toml"],
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    seed=seed,
    tables=[Base.metadata],
    vocabulary=VOCABULARY,
)
