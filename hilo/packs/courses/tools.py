"""The course seller's tools: search the catalog and show one course, from real rows only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hilo.nlu.lang import fold
from hilo.nlu.numbers import format_money
from hilo.packs.courses import search
from hilo.packs.courses.models import LEVELS, Course
from hilo.tools import ToolContext
from hilo.tools.function import ToolError, tool

_MONTHS = ("enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre").split()
_LEVEL_WORDS = {
    "basico": "básico", "basica": "básico", "principiante": "básico", "principiantes": "básico",
    "inicial": "básico", "beginner": "básico", "basic": "básico", "intermedio": "intermedio",
    "intermedia": "intermedio", "intermediate": "intermedio", "avanzado": "avanzado",
    "avanzada": "avanzado", "advanced": "avanzado", "experto": "avanzado",
}


def parse_level(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    level = _LEVEL_WORDS.get(fold(value.strip()))
    if level is None:
        raise ToolError(f"Nivel '{value}' no válido: usa {', '.join(LEVELS)}.")
    return level


_MODALITY_WORDS = {"virtual": "virtual", "online": "virtual", "en linea": "virtual", "remoto": "virtual",
                   "presencial": "presencial", "on-site": "presencial", "in person": "presencial",
                   "hibrido": "híbrido", "hibrida": "híbrido", "hybrid": "híbrido", "mixto": "híbrido"}
MAX_ID = 2**31 - 1  # the id column is a 32-bit INTEGER on PostgreSQL


def parse_modality(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    modality = _MODALITY_WORDS.get(fold(value.strip()))
    if modality is None:
        raise ToolError(f"Modalidad '{value}' no válida: usa presencial, virtual o híbrido.")
    return modality


def price_text(price: Decimal, currency: str, locale: str = "es") -> str:
    """The price as the assistant's locale writes it, with the currency's code: "$350.000 COP"."""
    text = format_money(price, currency, locale, None if price == price.to_integral_value() else 2)
    return text if currency in text else f"{text} {currency}"


def date_text(day: date | None) -> str:
    return f"{day.day} de {_MONTHS[day.month - 1]} de {day.year}" if day else "por definir"


def summary(course: Course) -> dict[str, Any]:
    return {
        "id": course.id, "nombre": course.name, "nivel": course.level, "modalidad": course.modality,
        "precio": float(course.price), "moneda": course.currency,
        "precio_texto": price_text(course.price, course.currency), "horario": course.schedule,
        "inicio": date_text(course.start_date), "fecha_inicio": course.start_date,
        "duracion": f"{course.duration_weeks} semanas ({course.hours} horas)",
    }


def _db(ctx: ToolContext):
    db = ctx.services.db if ctx else None
    if db is None:
        raise ToolError("El catálogo de cursos no está disponible.")
    return db


@tool(
    examples=[
        "¿tienen cursos de python?", "busco un curso de inglés", "quiero aprender a programar",
        "¿qué cursos de excel hay?", "cursos de marketing digital", "¿tienen algo de diseño gráfico?",
        "curso de python para principiantes", "¿qué cursos virtuales tienen?", "me interesa la fotografía",
        "¿hay cursos avanzados de programación?", "quiero estudiar ciencia de datos",
        "do you have python courses?", "I'm looking for an English course", "courses about marketing",
        "beginner programming course", "¿qué cursos manejan?", "¿qué cursos tienen?", "muéstrame el catálogo",
        "¿algo de cocina?", "¿y de fotografía?", "cursos baratos", "¿qué ofrecen?", "what courses do you offer?",
        "cursos virtuales de inglés por menos de 500 mil",
    ],
    template={
        "es": "Estos son los cursos que encontré {busqueda}:\n"
              "- #{id} {nombre} ({nivel}, {modalidad}): {precio_texto}, {horario}; inicia el {inicio}.",
        "en": "These are the courses I found {search}:\n"
              "- #{id} {nombre} ({nivel}, {modalidad}): {precio_texto}, {horario}; starts {inicio}.",
    },
)
async def buscar_curso(ctx: ToolContext, query: str | None = None, nivel: str | None = None,
                       modalidad: str | None = None, precio_max: float | None = None) -> dict:
    """Search the course catalog by topic or name, best matches first; with no query, the catalog.

    Args:
        query: What the person wants to learn or the course name, e.g. "python", "inglés".
        nivel: Optional level: básico, intermedio or avanzado.
        modalidad: Optional modality: presencial, virtual or híbrido.
        precio_max: Optional highest price, in the catalog's currency.
    """
    level, modality = parse_level(nivel), parse_modality(modalidad)
    if precio_max is not None and not 0 < precio_max < 1e12:
        raise ToolError("El precio máximo debe ser un número positivo.")
    query = (query or "").strip() or None
    async with _db(ctx).sessionmaker() as session:
        found = await search.search(session, query, level, modality=modality, max_price=precio_max)
        total = await search.count(session, level, modality, precio_max) if query is None else len(found)
        await session.commit()  # vectors computed for new or changed rows are kept
    where = "".join([f" de nivel {level}" if level else "", f", modalidad {modality}" if modality else "",
                     f", hasta {price_text(Decimal(str(precio_max)), 'COP')}" if precio_max is not None else ""])
    if not found:
        about = f" para «{query}»" if query else ""
        raise ToolError(f"No encontré cursos{where}{about}. Prueba con otro tema, otro nivel o pide el catálogo.")
    if query:
        busqueda, in_en = f"para «{query}»{where}", f"for “{query}”"
    else:
        busqueda = f"en el catálogo{where} ({total} en total; te muestro {len(found)}, del más económico)"
        in_en = f"in the catalog ({total} in all; showing {len(found)}, cheapest first)"
    return {"query": query, "filtro_nivel": level, "filtro_modalidad": modality, "precio_max": precio_max,
            "busqueda": busqueda, "search": in_en, "total": total, "cursos": [summary(c) for c in found]}


@tool(
    examples=[
        "dame el detalle del curso 3", "más información del curso #12", "¿cuánto cuesta el curso 5?",
        "¿cuál es el horario del curso 7?", "detalles del curso número 2", "¿cuándo empieza el curso 10?",
        "quiero saber más del curso 4", "¿qué incluye el curso 8?", "¿dónde se dicta el curso 15?",
        "información completa del curso 1", "¿quién dicta el curso 6?", "¿hay cupos en el curso 9?",
        "¿cuántas horas dura el curso 11?", "tell me more about course 3", "details of course #12",
        "how much is course 5?", "when does course 7 start?",
    ],
    template={
        "es": "#{id} {nombre} — nivel {nivel}, modalidad {modalidad}.\n{descripcion}\n"
              "Precio: {precio_texto}\nHorario: {horario}\nDuración: {duracion}\nInicio: {inicio}\n"
              "Lugar: {lugar}\nDocente: {docente}\nCupos: {cupos}",
        "en": "#{id} {nombre} — level {nivel}, {modalidad}.\n{descripcion}\n"
              "Price: {precio_texto}\nSchedule: {horario}\nLength: {duracion}\nStarts: {inicio}\n"
              "Place: {lugar}\nTeacher: {docente}\nSeats: {cupos}",
    },
)
async def detalle_curso(ctx: ToolContext, curso_id: int) -> dict:
    """Full details of one course of the catalog.

    Args:
        curso_id: The course number (the # shown by buscar_curso).
    """
    course = None
    if 0 < curso_id <= MAX_ID:
        async with _db(ctx).sessionmaker() as session:
            course = await session.get(Course, curso_id)
    if course is None or not course.active:
        raise ToolError(f"No existe un curso disponible con el número {curso_id}. Pídeme el catálogo o dime qué tema buscas.")
    return {
        **summary(course), "codigo": course.code, "lugar": course.city or "en línea",
        "docente": course.instructor or "por confirmar",
        "cupos": course.seats if course.seats is not None else "sin límite", "descripcion": course.description,
    }


TOOLS = [buscar_curso, detalle_curso]
