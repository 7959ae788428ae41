"""Customers by cédula over real HTTP on both databases: lists and search, one customer, their
history and statistics, the best buyers, and questions answered from their own records only."""

from __future__ import annotations

import httpx
import pytest

from hilo.packs.commerce.customers import understand
from hilo.packs.commerce.views import money_text
from tests.commerce.owner_support import (
    admin_client,
    customer,
    move_sale,
    order,
    owner_server,
    user_client,
)
from tests.conftest import BACKENDS

ANA = customer("1023456789", "Ana Gómez")
LUIS = customer("80123456", "Luis Pérez", "3157654321")
SOFIA = customer("52111222", "Sofía Ríos", "3109876543")
MARTA = customer("1098765432", "Marta Ruiz", "3205550000")


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, database_factory, tmp_path_factory):
    server = owner_server(database_factory, tmp_path_factory, request.param)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(live):
    with admin_client(live) as client:
        yield client


def _product(admin, category: str) -> dict:
    page = admin.get("/productos/", params={"categoria": category, "en_stock": True, "limit": 100}).json()["productos"]
    return next(p for p in page if p["stock"] >= 6)


@pytest.fixture(scope="module")
def shop(live, admin):
    """Ana: two sales, an open order and a cancelled one; Luis: one sale of a product Ana never
    bought; Sofía: only an open order; Marta: one sale in June 2025."""
    p1, p2, p3, p4, p5 = (_product(admin, c) for c in ("Ropa", "Hogar", "Deportes", "Tecnología", "Mascotas"))
    first = order(admin, ANA, [(p1["id"], 2), (p2["id"], 1)])
    second = order(admin, ANA, [(p1["id"], 1)])
    pending = order(admin, ANA, [(p3["id"], 1)], confirm=False)
    dropped = order(admin, ANA, [(p2["id"], 1)], confirm=False)
    assert admin.post(f"/pedidos/{dropped['id']}/cancelar").json()["estado"] == "cancelada"
    luis = order(admin, LUIS, [(p4["id"], 3)])
    sofia = order(admin, SOFIA, [(p3["id"], 1)], confirm=False)
    marta = order(admin, MARTA, [(p5["id"], 1)])
    move_sale(live, marta["id"], "2025-06-15 10:00")
    return {"p": [p1, p2, p3, p4, p5], "ana": [first, second], "pending": pending, "dropped": dropped,
            "luis": luis, "sofia": sofia, "marta": marta,
            "ana_total": first["total"] + second["total"]}


def test_list_search_and_pages(admin, shop):
    page = admin.get("/clientes/").json()
    assert page["success"] is True and page["total"] == 4
    assert [c["nombre"] for c in page["clientes"]] == ["Ana Gómez", "Luis Pérez", "Marta Ruiz", "Sofía Ríos"]
    ana = page["clientes"][0]
    assert (ana["cedula"], ana["compras"], ana["total_gastado"]) == ("1023456789", 2, shop["ana_total"])
    assert ana["telefono"] == "3001234567" and ana["ultima_compra"]
    sofia = page["clientes"][3]
    assert (sofia["compras"], sofia["total_gastado"], sofia["ultima_compra"]) == (0, 0, None)
    # q: a part of the name (case and accents aside), of the cédula, of the phone
    for q, who in (("GOMEZ", ["Ana Gómez"]), ("ríos", ["Sofía Ríos"]), ("sofia", ["Sofía Ríos"]),
                   ("80.123", ["Luis Pérez"]), ("765432", ["Luis Pérez", "Marta Ruiz"]), ("310 987", ["Sofía Ríos"]),
                   ("nadie así", []), ("%", []), ("_", [])):
        found = admin.get("/clientes/", params={"q": q}).json()
        assert [c["nombre"] for c in found["clientes"]] == who, q
        assert found["total"] == len(who)
    one, two = (admin.get("/clientes/", params={"limit": 2, "offset": o}).json() for o in (0, 2))
    assert [c["cedula"] for c in one["clientes"] + two["clientes"]] == [c["cedula"] for c in page["clientes"]]
    assert one["total"] == two["total"] == 4
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "diez"}):
        bad = admin.get("/clientes/", params=params)
        assert bad.status_code == 400 and bad.json()["success"] is False, params


def test_one_customer(admin, shop):
    got = admin.get("/clientes/1023456789").json()
    assert got["success"] is True
    ana = got["cliente"]
    assert (ana["nombre"], ana["compras"], ana["total_gastado"], ana["pedidos"], ana["pedidos_abiertos"]) == \
        ("Ana Gómez", 2, shop["ana_total"], 4, 1)
    assert admin.get("/clientes/1.023.456.789").json()["cliente"] == ana  # written with dots
    missing = admin.get("/clientes/99999999")
    assert missing.status_code == 404 and missing.json() == {"success": False,
                                                             "error": "No hay un cliente con la cédula 99999999."}
    for bad in ("12ab", "0123456", "123", "12345678901", "x" * 21):
        r = admin.get(f"/clientes/{bad}")
        assert r.status_code == 400 and r.json()["success"] is False, bad


def test_history_newest_first_with_filters(admin, shop):
    history = admin.get("/clientes/1023456789/historial").json()
    ids = [o["id"] for o in history["pedidos"]]
    assert ids == sorted([o["id"] for o in shop["ana"]] + [shop["pending"]["id"], shop["dropped"]["id"]], reverse=True)
    assert history["total"] == 4 and all(o["cliente"]["cedula"] == "1023456789" for o in history["pedidos"])
    first = next(o for o in history["pedidos"] if o["id"] == shop["ana"][0]["id"])
    assert [(i["producto_id"], i["cantidad"]) for i in first["items"]] == \
        sorted([(shop["p"][0]["id"], 2), (shop["p"][1]["id"], 1)])
    closed = admin.get("/clientes/1023456789/historial", params={"estado": "cerrada"}).json()
    assert [o["id"] for o in closed["pedidos"]] == sorted((o["id"] for o in shop["ana"]), reverse=True)
    assert closed["monto_total"] == shop["ana_total"]
    paged = admin.get("/clientes/1023456789/historial", params={"limit": 1, "offset": 1}).json()
    assert [o["id"] for o in paged["pedidos"]] == ids[1:2]
    assert admin.get("/clientes/1023456789/historial", params={"fecha_desde": "2099-01-01"}).json()["pedidos"] == []
    for params in ({"estado": "perdida"}, {"fecha_desde": "2026-02-30"}, {"fecha_desde": "2026-05-02",
                                                                          "fecha_hasta": "2026-05-01"},
                   {"limit": 500}):
        bad = admin.get("/clientes/1023456789/historial", params=params)
        assert bad.status_code == 400 and bad.json()["success"] is False, params
    assert admin.get("/clientes/99999999/historial").status_code == 404
    marta = admin.get("/clientes/1098765432/historial", params={"fecha_desde": "2025-06-15",
                                                                "fecha_hasta": "2025-06-15"}).json()
    assert [o["id"] for o in marta["pedidos"]] == [shop["marta"]["id"]]


def test_statistics(admin, shop):
    stats = admin.get("/clientes/1023456789/estadisticas").json()
    assert stats["success"] is True and stats["nombre"] == "Ana Gómez"
    assert stats["pedidos_por_estado"] == {"iniciada": 0, "recolectando_datos": 0, "pendiente": 1, "cerrada": 2,
                                           "cancelada": 1, "expirada": 0}
    assert (stats["pedidos"], stats["compras"], stats["total_gastado"], stats["unidades"]) == (4, 2, shop["ana_total"], 4)
    assert stats["ticket_promedio"] == shop["ana_total"] / 2
    assert stats["primera_compra"] <= stats["ultima_compra"]
    p1, p2 = shop["p"][:2]
    favourite = stats["favoritos"]["productos"]
    assert [(f["producto_id"], f["unidades"], f["pedidos"]) for f in favourite] == [(p1["id"], 3, 2), (p2["id"], 1, 1)]
    assert favourite[0]["gastado"] == 3 * p1["precio"]
    assert [c["categoria"] for c in stats["favoritos"]["categorias"]] == ["Ropa", "Hogar"]
    empty = admin.get("/clientes/52111222/estadisticas").json()
    assert (empty["compras"], empty["total_gastado"], empty["ticket_promedio"], empty["primera_compra"]) == (0, 0, 0, None)
    assert empty["favoritos"] == {"productos": [], "categorias": []}
    assert admin.get("/clientes/abc/estadisticas").status_code == 400


def test_top_buyers(admin, shop):
    top = admin.get("/clientes/top/compradores").json()
    totals = [c["total_gastado"] for c in top["clientes"]]
    assert totals == sorted(totals, reverse=True) and len(totals) == 3  # Sofía has bought nothing
    assert [c["posicion"] for c in top["clientes"]] == [1, 2, 3]
    assert {c["cedula"] for c in top["clientes"]} == {"1023456789", "80123456", "1098765432"}
    assert len(admin.get("/clientes/top/compradores", params={"limit": 1}).json()["clientes"]) == 1
    june = admin.get("/clientes/top/compradores", params={"desde": "2025-06-01", "hasta": "2025-06-30"}).json()
    assert [(c["cedula"], c["compras"], c["total_gastado"]) for c in june["clientes"]] == \
        [("1098765432", 1, shop["marta"]["total"])]
    assert admin.get("/clientes/top/compradores", params={"desde": "2025-06-16", "hasta": "2025-06-30"}).json()[
        "clientes"] == []
    for params in ({"limit": 0}, {"limit": 101}, {"desde": "ayer"}, {"desde": "2025-07-01", "hasta": "2025-06-01"}):
        bad = admin.get("/clientes/top/compradores", params=params)
        assert bad.status_code == 400 and bad.json()["success"] is False, params


def test_advanced_search(admin, shop):
    def names(body):
        r = admin.post("/clientes/buscar", json=body)
        assert r.status_code == 200, r.text
        return [c["nombre"] for c in r.json()["clientes"]]

    assert names({"nombre": "gomez"}) == ["Ana Gómez"]
    assert names({"cedula": "80.123"}) == ["Luis Pérez"]
    assert names({"telefono": "310 987"}) == ["Sofía Ríos"]
    assert names({"min_compras": 2}) == ["Ana Gómez"]
    everyone = admin.post("/clientes/buscar", json={}).json()
    assert everyone["total"] == 4
    assert [c["total_gastado"] for c in everyone["clientes"]] == sorted(
        (c["total_gastado"] for c in everyone["clientes"]), reverse=True)  # best customers first
    rich = admin.post("/clientes/buscar", json={"min_total": shop["ana_total"]}).json()["clientes"]
    assert "Ana Gómez" in [c["nombre"] for c in rich] and all(c["total_gastado"] >= shop["ana_total"] for c in rich)
    # a range counts the sales closed in it, and lists who bought in it unless min_compras says otherwise
    assert names({"desde": "2025-06-01", "hasta": "2025-06-30"}) == ["Marta Ruiz"]
    counted = admin.post("/clientes/buscar", json={"desde": "2025-06-01", "hasta": "2025-06-30", "min_compras": 0}).json()
    assert counted["total"] == 4
    assert {c["nombre"]: c["compras"] for c in counted["clientes"]} == {"Marta Ruiz": 1, "Ana Gómez": 0,
                                                                        "Luis Pérez": 0, "Sofía Ríos": 0}
    assert names({"nombre": "ana", "min_compras": 3}) == []
    paged = admin.post("/clientes/buscar", json={"limit": 1, "offset": 1}).json()
    assert [c["nombre"] for c in paged["clientes"]] == [everyone["clientes"][1]["nombre"]] and paged["total"] == 4
    for body in ({"limit": 0}, {"limit": 101}, {"desde": "2025-13-01"}, {"desde": "2025-06-30", "hasta": "2025-06-01"},
                 {"otro": 1}, {"min_total": -1}, {"min_compras": "muchas"}, {"nombre": "x" * 500}):
        bad = admin.post("/clientes/buscar", json=body)
        assert bad.status_code == 400 and bad.json()["success"] is False, body
    assert admin.post("/clientes/buscar", content=b"{no es json", headers={"content-type": "application/json"}
                      ).status_code == 400


@pytest.mark.parametrize(("question", "intents"), [
    ("¿Cuál fue mi última compra?", ["ultima_compra"]),
    ("ultma compra", ["ultima_compra"]),
    ("¿Cuánto he gastado?", ["gasto"]),
    ("cuanto e gastado en total", ["gasto"]),
    ("¿Cuántos pedidos tengo?", ["cantidad"]),
    ("cuantos pedidos tengo en total", ["cantidad"]),
    ("¿Qué productos he comprado?", ["productos"]),
    ("que compre", ["productos"]),
    ("¿tengo pedidos pendeintes?", ["pendientes"]),
    ("¿Cuándo compré por primera vez?", ["cuando"]),
    ("¿cuándo fue mi última compra?", ["ultima_compra"]),
    ("¿Qué día compré?", ["cuando"]),
    ("CUÁNTO GASTÉ Y CUÁNDO COMPRÉ", ["gasto", "cuando"]),
    ("hola", []),
])
def test_questions_are_understood(question, intents):
    assert understand(question)[0] == intents


def test_a_question_is_answered_from_the_customers_own_records(admin, shop):
    p1, p2, p3, p4, p5 = shop["p"]
    first, second = shop["ana"]
    ana_orders = {first["id"], second["id"], shop["pending"]["id"], shop["dropped"]["id"]}
    others = [p4["nombre"], p5["nombre"], "Luis", "Marta", "80123456", "1098765432",
              f"#{shop['luis']['id']}", f"#{shop['marta']['id']}", f"#{shop['sofia']['id']}"]

    def ask(question, cedula="1023456789"):
        r = admin.post(f"/clientes/{cedula}/consulta", json={"pregunta": question})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"] is True and body["cedula"] == cedula and body["respuesta"]
        if cedula == "1023456789":
            text = body["respuesta"] + str(body["datos"])
            assert not [o for o in others if o in text], text
        return body

    last = ask("¿Cuál fue mi última compra?")
    assert f"pedido #{second['id']}" in last["respuesta"] and second["total_texto"] in last["respuesta"]
    assert last["datos"]["ultima_compra"]["pedido"]["id"] == second["id"]
    assert last["datos"]["cliente"] == {"cedula": "1023456789", "nombre": "Ana Gómez"}
    spent = ask("cuanto e gastado?")
    assert money_text(shop["ana_total"]) in spent["respuesta"] and "2 compras" in spent["respuesta"]
    assert spent["datos"]["gasto"]["total_gastado"] == shop["ana_total"]
    assert set(spent["datos"]["gasto"]["pedidos"]) == {first["id"], second["id"]}
    count = ask("¿Cuántos pedidos tengo?")
    assert "4 pedidos" in count["respuesta"] and "2 compras cerradas" in count["respuesta"]
    assert count["datos"]["cantidad"]["pedidos_por_estado"]["cancelada"] == 1
    bought = ask("que productos e comprado")
    assert p1["nombre"] in bought["respuesta"] and p2["nombre"] in bought["respuesta"]
    assert p3["nombre"] not in bought["respuesta"]  # only in the open order: not bought
    assert [(p["producto_id"], p["unidades"]) for p in bought["datos"]["productos"]["productos"]] == \
        [(p1["id"], 3), (p2["id"], 1)]
    pending = ask("tengo pedidos pendeintes?")
    assert f"#{shop['pending']['id']}" in pending["respuesta"] and p3["nombre"] in pending["respuesta"]
    assert [o["id"] for o in pending["datos"]["pendientes"]["pedidos"]] == [shop["pending"]["id"]]
    when = ask("¿Cuándo compré por primera vez?")
    assert "2 veces" in when["respuesta"] and when["datos"]["cuando"]["compras"] == 2
    word = p2["nombre"].split()[0]
    product = ask(f"¿cuándo compré el {word.lower()}?")
    assert product["datos"]["productos_mencionados"][0]["producto_id"] == p2["id"]
    assert p2["nombre"] in product["respuesta"] and f"pedido #{first['id']}" in product["respuesta"]
    # a product another customer bought is no record of Ana's: it is not found, nor named
    theirs = ask(f"¿cuánto gasté en {p4['nombre'].split()[0].lower()}?")
    assert theirs["datos"]["productos_mencionados"] == []
    every = [last, spent, count, bought, pending, when, product, theirs]
    used = {o["id"] for b in every for o in b["datos"].get("pendientes", {}).get("pedidos", [])}
    used |= {b["datos"]["ultima_compra"]["pedido"]["id"] for b in every if "ultima_compra" in b["datos"]}
    used |= {i for b in every for key in ("gasto", "cuando") for i in b["datos"].get(key, {}).get("pedidos", [])}
    assert used and used <= ana_orders
    unknown = ask("hola, ¿qué tal?")
    assert unknown["entendido"] is False and unknown["datos"]["intenciones"] == []
    # Luis's own answers are his
    his = ask("¿cuánto he gastado?", "80123456")
    assert money_text(shop["luis"]["total"]) in his["respuesta"] and "Luis Pérez" in his["respuesta"]
    assert "Ana" not in his["respuesta"]
    nothing = ask("¿cuál fue mi última compra?", "52111222")
    assert "todavía no tiene compras" in nothing["respuesta"]
    # bad requests
    assert admin.post("/clientes/99999999/consulta", json={"pregunta": "hola"}).status_code == 404
    assert admin.post("/clientes/abc/consulta", json={"pregunta": "hola"}).status_code == 400
    for body in ({}, {"pregunta": ""}, {"pregunta": "   "}, {"pregunta": "x" * 1001}, {"pregunta": 5},
                 {"pregunta": "hola", "otra": 1}):
        bad = admin.post("/clientes/1023456789/consulta", json=body)
        assert bad.status_code == 400 and bad.json()["success"] is False, body


ROUTES = [("GET", "/clientes/"), ("GET", "/clientes/1023456789"), ("GET", "/clientes/1023456789/historial"),
          ("GET", "/clientes/1023456789/estadisticas"), ("GET", "/clientes/top/compradores"),
          ("POST", "/clientes/1023456789/consulta"), ("POST", "/clientes/buscar")]


def test_customers_need_the_admin_scope(live, admin, shop):
    with user_client(live, admin) as user:
        for method, path in ROUTES:
            body = {"pregunta": "¿cuánto he gastado?"} if path.endswith("consulta") else {}
            kwargs = {"json": body} if method == "POST" else {}
            refused = user.request(method, path, **kwargs)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json() == {"success": False, "error": "This endpoint needs an admin key."}
            anonymous = httpx.request(method, live.url + path, timeout=30, **kwargs)
            assert anonymous.status_code == 401 and anonymous.json()["success"] is False, path
            assert "Ana" not in refused.text + anonymous.text
