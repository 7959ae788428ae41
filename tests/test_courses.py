"""The course catalog pack: migration, demo seed, admin CRUD, search and details, real runs."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from alembic import command
from openai import OpenAI
from sqlalchemy import func, inspect, select

from hilo.kit.db.session import Database
from hilo.migrations import alembic_config, current, upgrade
from hilo.nlu.render import render
from hilo.packs import loader
from hilo.packs.courses import catalog, pack, search
from hilo.packs.courses.models import Course
from hilo.packs.courses.tools import buscar_curso, detalle_curso
from hilo.providers import scripted
from hilo.testing.server import start_server
from hilo.tools import AssistantInfo, ToolContext, ToolServices
from tests.conftest import BACKENDS, make_settings

TOKEN = "admin-secret"
ADMIN = "/admin/courses"


def migrate(url: str) -> None:
    upgrade(url, extra_versions=[pack.migrations])


async def seed(url: str) -> int:
    db = Database(url)
    try:
        async with db.sessionmaker() as session:
            return await catalog.seed(session)
    finally:
        await db.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def catalog_url(request, database_factory):
    url = database_factory(request.param)
    migrate(url)
    assert asyncio.run(seed(url)) == len(catalog.DEMO)
    return url


@pytest.fixture
async def ctx(catalog_url):
    db = Database(catalog_url)
    yield ToolContext(run_id="run_c", thread_id="thread_c", assistant=AssistantInfo("asst_c"), services=ToolServices(db=db))
    await db.dispose()


async def codes(ctx, query, nivel=None):
    out = await buscar_curso.call({"query": query, "nivel": nivel}, ctx)
    async with ctx.services.db.sessionmaker() as session:
        by_id = {c.id: c.code for c in await session.scalars(select(Course))}
    return [by_id[c["id"]] for c in out["cursos"]]


# -- migration and seed ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_up_down_up(backend, database_factory):
    url = database_factory(backend)
    migrate(url)
    assert "courses_0001" in current(url)
    cfg = alembic_config(url, [pack.migrations])
    command.downgrade(cfg, "courses@base")
    assert "courses_0001" not in (current(url) or "")
    assert "courses" not in asyncio.run(_tables(url)) and "assistants" in asyncio.run(_tables(url))
    migrate(url)
    assert asyncio.run(seed(url)) == len(catalog.DEMO)


async def _tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_seeding_a_new_database_together_both_start(backend, database_factory):
    """`hilo serve --workers 2` on a fresh database: both seed at once, neither fails."""
    url = database_factory(backend)
    migrate(url)

    async def together() -> None:
        dbs = [Database(url), Database(url)]
        try:
            await asyncio.gather(*(loader.seed(db, [pack]) for db in dbs))
            async with dbs[0].sessionmaker() as session:
                count = await session.scalar(select(func.count()).select_from(Course))
        finally:
            for db in dbs:
                await db.dispose()
        assert count == len(catalog.DEMO)

    asyncio.run(together())


async def test_seed_is_idempotent_and_stores_vectors(catalog_url):
    assert len(catalog.DEMO) >= 30
    assert await seed(catalog_url) == 0
    db = Database(catalog_url)
    async with db.sessionmaker() as session:
        rows = list(await session.scalars(select(Course).where(Course.code.is_not(None))))
        levels = {c.level for c in rows}
        missing = await session.scalar(select(func.count()).select_from(Course).where(Course.embedding.is_(None)))
    await db.dispose()
    assert len(rows) >= len(catalog.DEMO) and levels == {"básico", "intermedio", "avanzado"}
    assert missing == 0 and all(len(c.embedding) == 384 * 4 for c in rows)


# -- search and details ---------------------------------------------------------------------------

async def test_python_for_beginners_finds_the_basic_course_first(ctx):
    assert (await codes(ctx, "python para principiantes"))[0] == "PY-101"
    assert (await codes(ctx, "curso de python", nivel="básico"))[0] == "PY-101"
    assert (await codes(ctx, "python", nivel="basico")) == ["PY-101"]
    assert (await codes(ctx, "python", nivel="avanzado"))[0] == "PY-301"


@pytest.mark.parametrize("query, first", [
    ("inglés", {"EN-101", "EN-201", "EN-301"}), ("ingles", {"EN-101", "EN-201", "EN-301"}),
    ("INGLÉS AVANZADO", {"EN-301"}), ("diseño gráfico", {"DG-101"}), ("diseno grafico", {"DG-101"}),
    ("fotografía", {"FOT-101"}), ("fotografia", {"FOT-101"}), ("trading y criptomonedas", {"TRD-201"}),
    ("learn english", {"EN-101", "EN-201", "EN-301"}), ("aprender a hacer pan", {"COC-101"}),
    ("hojas de cálculo", {"XL-101", "XL-201"}), ("ciberseguridad", {"SEC-301"}),
])
async def test_search_relevance_with_and_without_accents(ctx, query, first):
    assert (await codes(ctx, query))[0] in first


async def test_search_output_lists_real_rows(ctx):
    out = await buscar_curso.call({"query": "excel"}, ctx)
    assert out["total"] == len(out["cursos"]) <= 5
    row = out["cursos"][0]
    assert row["nombre"] in {"Excel básico", "Excel avanzado: tablas dinámicas y macros"}
    assert row["precio_texto"] in {"$280.000 COP", "$420.000 COP"} and row["moneda"] == "COP"
    lines = render(buscar_curso.template["es"], out).splitlines()
    assert lines[0] == "Estos son los cursos que encontré para «excel»:" and len(lines) == 1 + out["total"]
    assert lines[1] == (f"- #{row['id']} {row['nombre']} ({row['nivel']}, {row['modalidad']}): "
                        f"{row['precio_texto']}, {row['horario']}; inicia el {row['inicio']}.")


async def test_search_refusals(ctx):
    out = json.loads(await buscar_curso.invoke('{"query": "buceo en apnea"}', ctx))
    assert out["error"].startswith("No encontré cursos para «buceo en apnea»")
    out = json.loads(await buscar_curso.invoke('{"query": "python", "nivel": "experto total"}', ctx))
    assert out["error"] == "Nivel 'experto total' no válido: usa básico, intermedio, avanzado."
    out = json.loads(await buscar_curso.invoke('{"query": "python", "modalidad": "por correo"}', ctx))
    assert out["error"].startswith("Modalidad 'por correo' no válida")


async def test_no_query_is_the_catalogue_under_the_filters(ctx):
    out = json.loads(await buscar_curso.invoke('{"query": "  "}', ctx))
    assert out["total"] == 37 and len(out["cursos"]) == 5 and "en el catálogo" in out["busqueda"]
    prices = [c["precio"] for c in out["cursos"]]
    assert prices == sorted(prices)  # cheapest first
    out = json.loads(await buscar_curso.invoke('{"nivel": "avanzado", "modalidad": "presencial"}', ctx))
    assert out.get("error") or all(c["nivel"] == "avanzado" and c["modalidad"] == "presencial" for c in out["cursos"])


async def test_every_constraint_is_honoured(ctx):
    out = json.loads(await buscar_curso.invoke('{"query": "inglés", "modalidad": "virtual"}', ctx))
    assert [c["nombre"] for c in out["cursos"]] == ["Inglés de negocios y preparación IELTS"]
    out = json.loads(await buscar_curso.invoke('{"query": "inglés"}', ctx))
    assert {c["nombre"].split()[0] for c in out["cursos"]} == {"Inglés"}  # no French, no Trading
    out = json.loads(await buscar_curso.invoke('{"query": "python", "precio_max": 700000}', ctx))
    assert out["cursos"] and all(c["precio"] <= 700000 and "Python" in c["nombre"] for c in out["cursos"])
    # quotes and SQL are just words: the Python courses, nothing else
    out = json.loads(await buscar_curso.invoke(json.dumps({"query": "\"python\" OR 1=1 --"}), ctx))
    names = [c["nombre"] for c in out["cursos"]]
    assert all("Python" in n for n in names[:3]) and not any("Oratoria" in n for n in names), names


async def test_semantic_alone(ctx):
    async with ctx.services.db.sessionmaker() as session:
        assert search.terms("para de cursos") == []
        semantic = await search.semantic(session, "quiero cocinar postres")
        assert semantic and (await session.get(Course, semantic[0])).code == "COC-101"
        assert await search.semantic(session, "xyzzy qwerty") == []


async def test_huge_ids_are_not_found_not_errors(ctx):
    for number in (0, -3, 2**31, 99999999999999999999):
        out = json.loads(await detalle_curso.invoke(json.dumps({"curso_id": number}), ctx))
        assert out["error"].startswith("No existe un curso disponible"), out


async def test_course_details(ctx):
    async with ctx.services.db.sessionmaker() as session:
        course = await session.scalar(select(Course).where(Course.code == "PY-101"))
    out = await detalle_curso.call({"curso_id": course.id}, ctx)
    assert (out["nombre"], out["nivel"], out["modalidad"]) == ("Python desde cero", "básico", "virtual")
    assert (out["precio_texto"], out["inicio"], out["lugar"]) == ("$450.000 COP", "18 de enero de 2027", "en línea")
    text = detalle_curso.template["es"].format(**out)
    assert text.startswith(f"#{course.id} Python desde cero — nivel básico, modalidad virtual.")
    assert "\nDuración: 8 semanas (32 horas)\n" in text and "\nDocente: Laura Gómez\n" in text
    assert detalle_curso.template["en"].format(**out).startswith(f"#{course.id} Python desde cero — level básico")
    out = json.loads(await detalle_curso.invoke(json.dumps({"curso_id": str(course.id)}), ctx))
    assert out["id"] == course.id  # "12" from a model is read as 12
    for bad in ('{"curso_id": 99999}', '{"curso_id": -1}'):
        assert json.loads(await detalle_curso.invoke(bad, ctx))["error"].startswith("No existe un curso disponible")
    assert "invalid arguments" in json.loads(await detalle_curso.invoke('{"curso_id": "tres"}', ctx))["error"]


# -- admin endpoints (and real runs) on a live server ---------------------------------------------

@pytest.fixture(scope="module", params=BACKENDS)
def live(request, database_factory, tmp_path_factory):
    settings = make_settings(database_factory(request.param), tmp_path_factory.mktemp("data"),
                             packs="courses", auth="on", admin_token=TOKEN)
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture
def admin(live):
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=30) as client:
        yield client


NEW = {"code": "RUST-101", "name": "Rust para programadores", "level": "intermedio", "modality": "virtual",
       "price": 700000, "currency": "cop", "schedule": "Sábados, 9:00 a. m. a 12:00 m.", "duration_weeks": 6,
       "hours": 18, "start_date": "2027-04-03", "description": "Propiedad, préstamos, traits y concurrencia "
       "segura en Rust, el lenguaje de sistemas moderno."}


def test_admin_only(live, admin):
    assert httpx.get(live.url + ADMIN).status_code == 401
    assert httpx.get(live.url + ADMIN, headers={"Authorization": "Bearer nope"}).status_code == 401
    key = admin.post("/admin/keys", json={"user": "alumno", "scope": "user"}).json()["secret"]
    user = httpx.get(live.url + ADMIN, headers={"Authorization": f"Bearer {key}"})
    assert user.status_code == 403 and user.json()["error"]["message"] == "This endpoint needs an admin key."


def test_admin_list_filters_and_pages(admin):
    page = admin.get(ADMIN, params={"limit": 10}).json()
    assert page["object"] == "list" and page["total"] >= 30 and len(page["data"]) == 10
    second = admin.get(ADMIN, params={"limit": 10, "offset": 10}).json()
    assert {c["id"] for c in page["data"]}.isdisjoint(c["id"] for c in second["data"])
    basic = admin.get(ADMIN, params={"level": "básico", "limit": 100}).json()
    assert basic["total"] == len(basic["data"]) > 0 and {c["level"] for c in basic["data"]} == {"básico"}
    hybrid = admin.get(ADMIN, params={"modality": "híbrido", "q": "DATOS"}).json()
    assert [c["code"] for c in hybrid["data"]] == ["DS-201"]
    for params, param in (({"limit": 0}, "limit"), ({"level": "experto"}, "level"), ({"offset": -1}, "offset")):
        bad = admin.get(ADMIN, params=params)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == param


def test_admin_crud_round_trip(admin, live):
    created = admin.post(ADMIN, json=NEW)
    assert created.status_code == 201, created.text
    course = created.json()
    assert (course["currency"], course["price"], course["active"]) == ("COP", 700000.0, True)
    assert admin.get(f"{ADMIN}/{course['id']}").json()["name"] == "Rust para programadores"
    assert admin.post(ADMIN, json=NEW).status_code == 409  # same code

    found = run_tool(live, "buscar_curso", {"query": "rust"})
    assert found["cursos"][0]["id"] == course["id"]  # searchable at once

    changed = admin.patch(f"{ADMIN}/{course['id']}", json={"price": "650000.50", "name": "Rust desde cero", "level": "Basico"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["price"], changed.json()["level"]) == (650000.5, "básico")
    assert run_tool(live, "detalle_curso", {"curso_id": course["id"]})["precio_texto"] == "$650.000,50 COP"
    assert run_tool(live, "buscar_curso", {"query": "rust desde cero"})["cursos"][0]["nombre"] == "Rust desde cero"

    assert admin.patch(f"{ADMIN}/{course['id']}", json={"active": False}).json()["active"] is False
    assert "error" in run_tool(live, "detalle_curso", {"curso_id": course["id"]})

    assert admin.delete(f"{ADMIN}/{course['id']}").json() == {"id": course["id"], "object": "course.deleted", "deleted": True}
    assert admin.get(f"{ADMIN}/{course['id']}").status_code == 404
    assert admin.delete(f"{ADMIN}/{course['id']}").status_code == 404


@pytest.mark.parametrize("change, param, words", [
    ({"name": None}, "name", "Missing required parameter"),
    ({"level": "experto"}, "level", "básico"),
    ({"modality": "a distancia"}, "modality", "presencial"),
    ({"price": -5}, "price", "greater than or equal to 0"),
    ({"price": "mucho"}, "price", "decimal"),
    ({"currency": "pesos"}, "currency", "pattern"),
    ({"duration_weeks": 0}, "duration_weeks", "greater than or equal to 1"),
    ({"start_date": "31/02/2027"}, "start_date", "date"),
    ({"description": "corta"}, "description", "at least 10"),
    ({"colour": "red"}, "colour", "Unrecognized request argument"),
])
def test_admin_create_rejects_bad_input(admin, change, param, words):
    body = {k: v for k, v in {**NEW, "code": None, **change}.items() if v is not None}
    response = admin.post(ADMIN, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"], error


def test_admin_update_and_get_errors(admin):
    first = admin.get(ADMIN, params={"limit": 1}).json()["data"][0]
    response = admin.patch(f"{ADMIN}/{first['id']}", json={"name": None})
    assert response.status_code == 400 and response.json()["error"]["message"] == "'name' cannot be null."
    assert admin.patch(f"{ADMIN}/{first['id']}", json={"price": -1}).status_code == 400
    assert admin.patch(ADMIN + "/999999", json={"price": 1}).status_code == 404
    missing = admin.get(ADMIN + "/999999")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "No course found with id '999999'."
    assert admin.get(ADMIN + "/abc").status_code == 400
    assert admin.get(f"{ADMIN}/{first['id']}").json() == first  # nothing changed by the refused requests


def run_tool(live, name, arguments):
    """Run one server-side tool call through a scripted run; returns the tool's parsed output."""
    script = f"c{uuid.uuid4().hex[:10]}"
    scripted.register(script, [{"tool_calls": [{"name": name, "arguments": arguments}]}, {"text": "ok"}])
    try:
        with OpenAI(base_url=live.url + "/v1", api_key=TOKEN, max_retries=0, timeout=30) as sdk:
            assistant = sdk.beta.assistants.create(model=f"scripted/{script}",
                                                   tools=[{"type": "function", "function": {"name": name}}])
            thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "?"}])
            run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                        poll_interval_ms=20)
            assert run.status == "completed", run.last_error
            steps = sdk.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
            call = next(c for s in steps if s.type == "tool_calls" for c in s.step_details.tool_calls)
            return json.loads(call.function.output)
    finally:
        scripted.reset(script)


def test_course_assistant_through_the_guided_provider(live):
    with OpenAI(base_url=live.url + "/v1", api_key=TOKEN, max_retries=0, timeout=30) as sdk:
        asesor = next(a for a in sdk.beta.assistants.list(limit=100).data if a.name == "Asesor de cursos")
        sdk.beta.assistants.update(asesor.id, model="guided")
        thread = sdk.beta.threads.create()

        def say(text: str) -> str:
            sdk.beta.threads.messages.create(thread.id, role="user", content=text)
            run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asesor.id,
                                                        poll_interval_ms=20)
            assert run.status == "completed", run.last_error
            return sdk.beta.threads.messages.list(thread_id=thread.id, limit=1).data[0].content[0].text.value

        listing = say("¿tienen cursos de python para principiantes?")
        assert "Python desde cero" in listing and "$450.000 COP" in listing, listing
        number = listing.split("#", 1)[1].split(" ", 1)[0]
        details = say(f"dame el detalle del curso {number}")
        assert "Python desde cero" in details and "Laura Gómez" in details, details
