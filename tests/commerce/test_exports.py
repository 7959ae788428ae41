"""The CSV exports over real HTTP on both databases, read back as a Spanish-locale spreadsheet
reads them (BOM, ``;``, decimal comma, CRLF): every export, their filters, formula injection,
2,000 streamed rows, and the admin scope."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import httpx
import pytest
from sqlalchemy import insert

from hilo.kit.db.session import Database
from hilo.packs.commerce.exports import integer, number, text
from hilo.packs.commerce.models import SearchLog
from tests.commerce.owner_support import (
    ZONE,
    admin_client,
    csv_rows,
    customer,
    decimal_comma,
    in_stock,
    local_ts,
    move_sale,
    order,
    owner_server,
    records,
    user_client,
)
from tests.conftest import BACKENDS

ANA = customer("1023456789", "Ana Gómez")
LUIS = customer("80123456", "Luis Pérez", "3157654321")
MINUTE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")
RISKY = ['=HYPERLINK("http://ejemplo.test";"clic")', "+SUM(1;2) parlante", "-2+3 cuchillo", "@SUMA(A1) termo"]
TRICKY = 'Taza "grande"; 350 ml, cerámica'


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, database_factory, tmp_path_factory):
    server = owner_server(database_factory, tmp_path_factory, request.param)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(live):
    with admin_client(live) as client:
        yield client


@pytest.fixture(scope="module")
def shop(live, admin):
    made = []
    for name in [*RISKY, TRICKY]:
        r = admin.post("/productos/", json={"nombre": name, "precio": "12345.50", "stock": 9,
                                            "categoria": "=Exportes" if name.startswith("=") else "Exportes",
                                            "descripcion": "Línea uno; con punto y coma"})
        assert r.status_code == 201, r.text
        made.append(r.json()["producto"])
    a, b = in_stock(admin, 2, at_least=6)
    first = order(admin, ANA, [(a["id"], 2), (made[0]["id"], 1)])
    second = order(admin, ANA, [(b["id"], 1)])
    held = order(admin, LUIS, [(made[1]["id"], 4)], confirm=False)
    old = order(admin, LUIS, [(a["id"], 1)])
    move_sale(live, old["id"], "2025-04-10 20:15")
    return {"made": made, "a": a, "b": b, "first": first, "second": second, "held": held, "old": old}


def today() -> str:
    return datetime.now(ZONE).date().isoformat()


def test_cells():
    for risky in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert text(risky) == "'" + risky
    assert text("Hamaca doble") == "Hamaca doble" and text(None) == "" and text("a=b") == "a=b"
    assert number(194900) == "194900,00" and number(12.5) == "12,50" and number(None) == ""
    assert integer(7) == "7"


def test_inventory(admin, shop):
    r = admin.get("/exportar/inventario")
    assert r.headers["content-disposition"] == f'attachment; filename="inventario-{today()}.csv"'
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbfid;sku;nombre;") and b"\n" not in r.content.replace(b"\r\n", b"")
    rows = records(r)
    assert len(rows) == admin.get("/admin/estadisticas").json()["productos"]
    assert [int(row["id"]) for row in rows] == sorted(int(row["id"]) for row in rows)
    by_id = {int(row["id"]): row for row in rows}
    # formula injection: the cell is text, the name intact after the apostrophe
    for made in shop["made"][:4]:
        assert by_id[made["id"]]["nombre"] == "'" + made["nombre"]
    assert by_id[shop["made"][0]["id"]]["categoria"] == "'=Exportes"
    assert by_id[shop["made"][4]["id"]]["nombre"] == TRICKY  # quotes and ; round-trip
    assert by_id[shop["made"][4]["id"]]["descripcion"] == "Línea uno; con punto y coma"
    row = by_id[shop["made"][1]["id"]]
    assert (row["precio"], row["moneda"], row["stock"], row["reservado"], row["vendido"]) == \
        ("12345,50", "COP", "5", "4", "0")
    assert row["bajo_stock"] == "sí" and row["activo"] == "sí" and MINUTE.match(row["actualizado"])
    sold = by_id[shop["a"]["id"]]
    assert int(sold["vendido"]) >= 3 and int(sold["reservado"]) == 0
    assert decimal_comma(sold["precio"]) == shop["a"]["precio"]
    # filters
    mine = records(admin.get("/exportar/inventario", params={"categoria": "exportes"}))
    assert sorted(int(r["id"]) for r in mine) == sorted(p["id"] for p in shop["made"][1:])
    low = records(admin.get("/exportar/inventario", params={"bajo_stock": True}))
    assert low and all(int(r["stock"]) <= 5 and r["bajo_stock"] == "sí" for r in low)
    assert len(low) == admin.get("/admin/inventario", params={"bajo_stock": True}).json()["total"]
    assert records(admin.get("/exportar/inventario", params={"activo": False})) == []


def test_customers(admin, shop):
    r = admin.get("/exportar/clientes")
    assert r.headers["content-disposition"] == f'attachment; filename="clientes-{today()}.csv"'
    rows = {row["cedula"]: row for row in records(r)}
    assert set(rows) == {"1023456789", "80123456"}
    ana = rows["1023456789"]
    assert (ana["nombre"], ana["telefono"], ana["compras"]) == ("Ana Gómez", "3001234567", "2")
    assert decimal_comma(ana["total_gastado"]) == shop["first"]["total"] + shop["second"]["total"]
    assert MINUTE.match(ana["registrado"]) and MINUTE.match(ana["primera_compra"]) and MINUTE.match(ana["ultima_compra"])
    luis = rows["80123456"]
    assert (luis["compras"], luis["ultima_compra"]) == ("1", "2025-04-10 20:15")
    assert records(admin.get("/exportar/clientes", params={"desde": "2099-01-01"})) == []
    assert len(records(admin.get("/exportar/clientes", params={"hasta": today()}))) == 2


def test_sales_one_row_per_item(admin, shop):
    r = admin.get("/exportar/ventas")
    assert r.headers["content-disposition"] == f'attachment; filename="ventas-{today()}.csv"'
    rows = records(r)
    first = [row for row in rows if row["pedido_id"] == str(shop["first"]["id"])]
    assert [(int(row["producto_id"]), int(row["cantidad"])) for row in first] == \
        [(i["producto_id"], i["cantidad"]) for i in shop["first"]["items"]]
    for row in rows:
        assert row["estado"] == "cerrada" and MINUTE.match(row["fecha"])
        assert decimal_comma(row["subtotal"]) == pytest.approx(int(row["cantidad"]) * decimal_comma(row["precio_unitario"]))
    assert decimal_comma(first[0]["total_pedido"]) == shop["first"]["total"]
    assert {row["cliente"] for row in first} == {"Ana Gómez"} and {row["cedula"] for row in first} == {"1023456789"}
    injected = next(row for row in first if int(row["producto_id"]) == shop["made"][0]["id"])
    assert injected["producto"] == "'" + RISKY[0]
    sold = sum(len(o["items"]) for o in (shop["first"], shop["second"], shop["old"]))
    assert len(rows) == sold
    april = records(admin.get("/exportar/ventas", params={"desde": "2025-04-10", "hasta": "2025-04-10"}))
    assert [(r["pedido_id"], r["fecha"]) for r in april] == [(str(shop["old"]["id"]), "2025-04-10 20:15")]
    assert records(admin.get("/exportar/ventas", params={"desde": "2025-04-11", "hasta": "2025-04-30"})) == []
    held = records(admin.get("/exportar/ventas", params={"estado": "pendiente"}))
    assert [(r["pedido_id"], r["estado"], r["cantidad"]) for r in held] == [(str(shop["held"]["id"]), "pendiente", "4")]


def _bulk_searches(live, rows: list[dict]) -> None:
    async def go():
        db = Database(live.settings.database_url)
        try:
            async with db.sessionmaker() as session:
                await session.execute(insert(SearchLog), rows)
                await session.commit()
        finally:
            await db.engine.dispose()

    asyncio.run(go())


def test_two_thousand_searches_are_streamed(live, admin, shop):
    ids = [p["id"] for p in admin.get("/productos/", params={"limit": 7}).json()["productos"]]
    names = {p: admin.get(f"/productos/{p}").json()["producto"]["nombre"] for p in ids}
    day_one, day_two = local_ts("2025-01-10 08:00"), local_ts("2025-01-11 08:00")
    rows = [{"thread_id": "thread_bulk_export", "query": ("=cmd|' /C calc'!A0" if n % 250 == 0 else f"consulta número {n}"),
             "product_ids": ",".join(str(p) for p in ids[n % 5: n % 5 + 3]),
             "created_at": (day_one if n < 1000 else day_two) + n} for n in range(2000)]
    _bulk_searches(live, rows)
    r = admin.get("/exportar/conversaciones-rag", params={"thread_id": "thread_bulk_export"})
    assert r.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.headers
    assert r.headers["content-disposition"] == f'attachment; filename="conversaciones-rag-{today()}.csv"'
    got = records(r)
    assert len(got) == 2000
    assert [int(g["id"]) for g in got] == sorted(int(g["id"]) for g in got)
    for n, (row, sent) in enumerate(zip(got, rows, strict=True)):
        assert row["thread_id"] == "thread_bulk_export" and row["chat_id"] == ""
        assert row["consulta"] == ("'" + sent["query"] if n % 250 == 0 else sent["query"])
        found = [int(p) for p in sent["product_ids"].split(",")]
        assert row["productos_ids"] == " | ".join(map(str, found))
        assert row["productos"] == " | ".join(names[p] for p in found)
        assert MINUTE.match(row["fecha"])
    first_day = records(admin.get("/exportar/conversaciones-rag", params={"thread_id": "thread_bulk_export",
                                                                          "desde": "2025-01-10", "hasta": "2025-01-10"}))
    assert [r["consulta"] for r in first_day] == [r["query"] if n % 250 else "'" + r["query"]
                                                  for n, r in enumerate(rows[:1000])]


def test_searches_of_a_real_conversation(admin, shop):
    said = admin.post("/chat/texto", json={"mensaje": "busco una hamaca", "chat_id": "exporte-1"})
    assert said.status_code == 200, said.text
    rows = records(admin.get("/exportar/conversaciones-rag", params={"thread_id": said.json()["thread_id"]}))
    assert rows and rows[-1]["chat_id"] == "exporte-1" and "hamaca" in rows[-1]["consulta"].lower()
    assert "Hamaca" in rows[-1]["productos"] and rows[-1]["productos_ids"]
    everything = records(admin.get("/exportar/conversaciones-rag"))
    assert len(everything) == admin.get("/admin/estadisticas").json()["busquedas"]


def _sections(rows: list[list[str]]) -> dict[str, list[list[str]]]:
    found, title, current = {}, None, []
    for row in rows:
        if not row:
            if title:
                found[title] = current
            title, current = None, []
        elif title is None:
            title = row[0]
        else:
            current.append(row)
    if title:
        found[title] = current
    return found


def test_full_report(admin, shop):
    r = admin.get("/exportar/reporte-completo", params={"desde": "2025-04-01", "hasta": "2025-04-30"})
    assert r.headers["content-disposition"] == f'attachment; filename="reporte-completo-{today()}.csv"'
    sections = _sections(csv_rows(r))
    assert list(sections) == ["Reporte de la tienda", "Resumen", "Pedidos por estado", "Ventas por día",
                              "Productos más vendidos", "Categorías", "Mejores clientes", "Stock bajo"]
    head = dict(sections["Reporte de la tienda"])
    assert (head["desde"], head["hasta"], head["zona_horaria"]) == ("2025-04-01", "2025-04-30", "America/Bogota")
    summary = dict(sections["Resumen"][1:])
    board = admin.get("/admin/dashboard/ventas", params={"desde": "2025-04-01", "hasta": "2025-04-30"}).json()
    assert int(summary["ventas"]) == board["totales"]["ventas"] == 1
    assert decimal_comma(summary["ingresos"]) == board["totales"]["ingresos"] == shop["old"]["total"]
    assert int(summary["productos"]) == admin.get("/admin/estadisticas").json()["productos"]
    days = sections["Ventas por día"]
    assert days[0] == ["fecha", "ventas", "ingresos"] and len(days) == 31
    assert [d[1:] for d in days[1:] if d[0] == "2025-04-10"] == [["1", number(shop["old"]["total"])]]
    assert sum(int(d[1]) for d in days[1:]) == 1
    top = sections["Productos más vendidos"]
    assert top[0][0] == "producto_id" and top[1][0] == str(shop["a"]["id"])
    assert sections["Mejores clientes"][1][:3] == ["80123456", "Luis Pérez", "1"]
    states = dict(sections["Pedidos por estado"][1:])
    assert states["cerrada"] == "1" and set(states) >= {"iniciada", "pendiente", "cancelada", "expirada"}
    default = _sections(csv_rows(admin.get("/exportar/reporte-completo")))
    assert len(default["Ventas por día"]) == 31 and dict(default["Reporte de la tienda"])["hasta"] == today()


def test_info(admin, shop):
    info = admin.get("/exportar/info").json()
    assert info["success"] is True
    dialect = info["dialecto"]
    assert (dialect["separador"], dialect["decimal"], dialect["fin_de_linea"]) == (";", ",", "CRLF")
    assert "BOM" in dialect["codificacion"] and dialect["zona_horaria"] == "America/Bogota"
    by_name = {e["nombre"]: e for e in info["exportes"]}
    assert list(by_name) == ["inventario", "clientes", "ventas", "conversaciones-rag", "reporte-completo"]
    assert by_name["inventario"]["filas"] == len(records(admin.get("/exportar/inventario")))
    assert by_name["clientes"]["filas"] == 2
    assert by_name["ventas"]["filas"] == len(records(admin.get("/exportar/ventas")))
    assert by_name["conversaciones-rag"]["filas"] == len(records(admin.get("/exportar/conversaciones-rag")))
    assert by_name["ventas"]["columnas"][:3] == ["pedido_id", "fecha", "estado"] and "estado" in by_name["ventas"]["filtros"]
    assert all("desde" in e["filtros"] for e in info["exportes"] if e["nombre"] != "inventario")


@pytest.mark.parametrize(("path", "params"), [
    ("/exportar/ventas", {"desde": "2026-13-01"}),
    ("/exportar/ventas", {"desde": "2026-05-02", "hasta": "2026-05-01"}),
    ("/exportar/ventas", {"estado": "vendida"}),
    ("/exportar/clientes", {"hasta": "ayer"}),
    ("/exportar/clientes", {"desde": "2026-05-02", "hasta": "2026-05-01"}),
    ("/exportar/conversaciones-rag", {"desde": "2026-02-30"}),
    ("/exportar/conversaciones-rag", {"thread_id": "t" * 65}),
    ("/exportar/inventario", {"bajo_stock": "quizás"}),
    ("/exportar/reporte-completo", {"desde": "2020-01-01", "hasta": "2026-01-01"}),
    ("/exportar/reporte-completo", {"desde": "2026-05-02", "hasta": "2026-05-01"}),
])
def test_bad_filters_are_a_400_before_any_csv(admin, path, params):
    r = admin.get(path, params=params)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json"), r.text
    assert r.json()["success"] is False and r.json()["error"]


ROUTES = ["/exportar/inventario", "/exportar/clientes", "/exportar/ventas", "/exportar/conversaciones-rag",
          "/exportar/reporte-completo", "/exportar/info"]


def test_exports_need_the_admin_scope(live, admin, shop):
    with user_client(live, admin, "contador") as user:
        for path in ROUTES:
            refused = user.get(path)
            assert refused.status_code == 403 and refused.json()["success"] is False, path
            assert "Ana" not in refused.text
            anonymous = httpx.get(live.url + path, timeout=30)
            assert anonymous.status_code == 401 and anonymous.json()["success"] is False, path
