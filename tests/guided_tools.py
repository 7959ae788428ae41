"""Stand-ins with the built-in tools' names and signatures, and a small pack that uses them.

They answer from fixed data (no network), so tests of the guided provider and of pack
loading do not depend on the trading mentor and course packs' internals.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from sqlalchemy import text

from hilo.nlu.parsers import Vocabulary
from hilo.packs import Pack
from hilo.packs.courses.parsers import VOCABULARY as COURSE_WORDS
from hilo.packs.trading_mentor.parsers import VOCABULARY as TRADING
from hilo.tools.function import ToolError, tool

PRICES = {"BTC": 97123.45, "ETH": 3456.78, "SOL": 187.5}
RATES = {"EUR/USD": 1.0842, "GBP/USD": 1.2711, "USD/JPY": 151.37}
COURSES = [
    {"id": 1, "nombre": "Python desde cero", "nivel": "básico", "modalidad": "virtual", "precio": 120},
    {"id": 2, "nombre": "Excel avanzado para finanzas", "nivel": "avanzado", "modalidad": "presencial", "precio": 90},
    {"id": 3, "nombre": "Marketing digital", "nivel": "intermedio", "modalidad": "virtual", "precio": 150},
]


@tool(
    examples=["¿cuánto vale bitcoin?", "precio de ethereum", "¿a cuánto está el ETH?", "cotización de solana",
              "BTC price", "how much is ether right now?", "current price of solana"],
    template={"es": "{base} cotiza a {price_text} {quote}. Fuente: {source}.",
              "en": "{base} is trading at {price_text} {quote}. Source: {source}."},
)
def get_crypto_price(symbol: str) -> dict:
    """Current price of a cryptocurrency.

    Args:
        symbol: Ticker such as BTC or ETH.
    """
    base = symbol.upper().split("/")[0]
    if base not in PRICES:
        raise ToolError(f"no conozco el símbolo {symbol}")
    return {"base": base, "quote": "USDT", "price": PRICES[base], "price_text": f"{PRICES[base]:,.2f}",
            "source": "fake-exchange"}


@tool(
    examples=["¿cómo está el euro dólar?", "precio del EUR/USD", "tasa de cambio libra dólar",
              "EUR/USD rate", "what's the pound to dollar rate?"],
    template={"es": "1 {base} = {price} {quote}. Fuente: {source}.",
              "en": "1 {base} = {price} {quote}. Source: {source}."},
)
def get_forex_price(pair: str) -> dict:
    """Reference exchange rate of a currency pair.

    Args:
        pair: Currency pair such as EUR/USD.
    """
    if pair not in RATES:
        raise ToolError(f"no tengo la tasa de {pair}")
    base, quote = pair.split("/")
    return {"base": base, "quote": quote, "price": RATES[pair], "source": "fake-ecb"}


@tool(
    examples=["analiza este gráfico", "revisa mi captura del gráfico de velas", "¿qué patrón ves en esta imagen?",
              "analyze this chart", "what do you see in this screenshot?"],
    template={"es": "Imagen {format} de {width}×{height} px.", "en": "{format} image, {width}×{height} px."},
)
def analyze_image(image_url: str | None = None, file_id: str | None = None,
                  analysis_type: Literal["complete", "trend", "support_resistance", "patterns", "indicators"] = "complete") -> dict:
    """Technical analysis of a trading chart image, given as a URL or an uploaded file id.

    Args:
        image_url: http(s) URL of the chart image.
        file_id: Id of an uploaded file, instead of image_url.
        analysis_type: What to look at.
    """
    return {"format": "PNG", "width": 800, "height": 600, "analysis_type": analysis_type}


@tool(
    examples=["busco un curso de python", "¿tienen cursos de excel?", "cursos de marketing para principiantes",
              "quiero aprender inglés", "I'm looking for a data science course", "do you offer photography classes?"],
    template={"es": "Encontré {total} curso(s):\n- #{id} {nombre} ({nivel}, {modalidad}): {precio} USD\n"
                    "[empty] No encontré cursos para esa búsqueda.",
              "en": "I found {total} course(s):\n- #{id} {nombre} ({nivel}, {modalidad}): {precio} USD\n"
                    "[empty] I found no course for that search."},
)
def buscar_curso(query: str, nivel: Literal["básico", "intermedio", "avanzado"] | None = None) -> dict:
    """Search the course catalog, best match first.

    Args:
        query: What the course is about.
        nivel: Level: básico, intermedio or avanzado.
    """
    words = query.lower().split()
    found = [c for c in COURSES if any(w in c["nombre"].lower() for w in words)
             and (nivel is None or c["nivel"] == nivel)]
    return {"total": len(found), "cursos": found}


@tool(
    examples=["dame los detalles del curso 3", "¿cuánto cuesta el curso número 2?", "más información del curso 1",
              "details of course 2", "tell me more about course number 3"],
    template={"es": "{nombre} (#{id}): nivel {nivel}, {modalidad}, {precio} USD.",
              "en": "{nombre} (#{id}): {nivel} level, {modalidad}, {precio} USD."},
)
def detalle_curso(curso_id: int) -> dict:
    """Full details of one course.

    Args:
        curso_id: The course's id.
    """
    for course in COURSES:
        if course["id"] == curso_id:
            return course
    raise ToolError(f"no existe el curso {curso_id}")


router = APIRouter(prefix="/guided-test", tags=["guided_test"])


@router.get("/notes")
async def notes(request: Request) -> list[str]:
    async with request.app.state.db.sessionmaker() as session:
        return list((await session.execute(text("SELECT text FROM guided_test_notes ORDER BY id"))).scalars())


async def seed(session) -> None:
    """Idempotent demo data."""
    if not (await session.execute(text("SELECT count(*) FROM guided_test_notes"))).scalar():
        await session.execute(text("INSERT INTO guided_test_notes (text) VALUES ('hola')"))
    await session.commit()


# The built-in packs' words, as this stand-in pack's own.
VOCABULARY = Vocabulary(parsers=TRADING.parsers, synonyms={**TRADING.synonyms, **COURSE_WORDS.synonyms},
                        filler=COURSE_WORDS.filler, id_words=COURSE_WORDS.id_words)
TOOLS = [get_crypto_price, get_forex_price, analyze_image, buscar_curso, detalle_curso]
DATA = Path(__file__).parent / "data"

pack = Pack(
    name="guided_test",
    description="Test pack: stand-ins for the built-in tools, two assistants.",
    tools=TOOLS,
    assistants=[DATA / "guided_test_mentor.toml", DATA / "guided_test_courses.toml"],
    migrations=DATA / "guided_test_migrations",
    routers=[router],
    seed=seed,
    vocabulary=VOCABULARY,
)


@contextmanager
def installed(folder: Path, name: str = "guided_test", value: str = "tests.guided_tools:pack"):
    """Install an entry point ``hilo.packs: name = value`` (a real dist-info) for a while."""
    dist = folder / f"hilo_{name}-0.1.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hilo-{name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[hilo.packs]\n{name} = {value}\n")
    sys.path.insert(0, str(folder))
    try:
        yield dist
    finally:
        sys.path.remove(str(folder))
