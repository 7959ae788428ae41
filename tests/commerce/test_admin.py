"""The owner's pages over real HTTP on both databases: the sales dashboard (by-day series in the
shop's days, zero-filled, adding up to the totals; top products; low stock; conversations and
conversion), sales, conversations, inventory, statistics and health; bad input and the admin scope."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from hilo.threads.models import Message
from tests.commerce.owner_support import (
    ZONE,
    admin_client,
    customer,
    in_stock,
    move_sale,
    order,
    owner_server,
    run_sql,
    user_client,
)
from tests.conftest import BACKENDS

BUYER = customer("1023456789", "Ana Gómez")
OTHER = customer("80123456", "Luis Pérez", "3157654321")


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, database_factory, tmp_path_factory):
    server = owner_server(database_factory, tmp_path_factory, request.param)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(live):
    with admin_client(live) as client:
        yield client


def say(admin, chat_id: str, text: str) -> dict:
    r = admin.post("/chat/texto", json={"mensaje": text, "chat_id": chat_id})
    assert r.status_code == 200, r.text
    return r.json()


def buy_by_chat(admin, chat_id: str) -> dict:
    """A whole sale through /chat/texto with the guided seller (no model)."""
    say(admin, chat_id, "hola")
    added = say(admin, chat_id, "quiero la hamaca doble")
    assert added["pedido"] and added["pedido"]["estado"] == "iniciada", added
    say(admin, chat_id, "soy Ana Gómez, cédula 1023456789, cel 3001234567, vivo en la Cra 45 # 12-30 Medellín")
    done = say(admin, chat_id, "sí, confirmo")
    assert done["pedido"]["estado"] == "cerrada", done
    return done


def dashboard(admin, **params) -> dict:
    r = admin.get("/admin/dashboard/ventas", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    return body


def test_sales_by_day_are_the_shops_days_zero_filled_and_add_up(live, admin):
    a, b, c = in_stock(admin, 3, at_least=8)
    sales = {
        "2025-03-02 23:30": order(admin, BUYER, [(a["id"], 2)]),  # 04:30 UTC on the 3rd: still the 2nd in Bogotá
        "2025-03-05 00:10": order(admin, BUYER, [(b["id"], 1), (a["id"], 1)]),
        "2025-03-05 12:00": order(admin, OTHER, [(c["id"], 3)]),
        "2025-03-11 00:00": order(admin, OTHER, [(c["id"], 1)]),  # the day after the range
        "2025-02-28 23:59": order(admin, OTHER, [(b["id"], 1)]),  # the day before
    }
    for when, sale in sales.items():
        move_sale(live, sale["id"], when)
    board = dashboard(admin, desde="2025-03-01", hasta="2025-03-10")
    assert (board["desde"], board["hasta"], board["dias"], board["zona_horaria"]) == \
        ("2025-03-01", "2025-03-10", 10, "America/Bogota")
    series = board["ventas_por_dia"]
    assert [d["fecha"] for d in series] == [f"2025-03-{n:02d}" for n in range(1, 11)]
    inside = [sales["2025-03-02 23:30"], sales["2025-03-05 00:10"], sales["2025-03-05 12:00"]]
    expected = {"2025-03-02": [inside[0]], "2025-03-05": inside[1:]}
    for day in series:
        sold = expected.get(day["fecha"], [])
        assert (day["ventas"], day["ingresos"]) == (len(sold), sum(s["total"] for s in sold)), day
    totals = board["totales"]
    assert totals["ventas"] == sum(d["ventas"] for d in series) == 3
    assert totals["ingresos"] == sum(d["ingresos"] for d in series) == sum(s["total"] for s in inside)
    assert totals["ticket_promedio"] == pytest.approx(totals["ingresos"] / 3, abs=0.01)
    assert totals["unidades"] == 2 + 2 + 3
    by_units = board["top_productos"]["por_unidades"]
    assert [(p["producto_id"], p["unidades"]) for p in by_units] == sorted(
        [(a["id"], 3), (c["id"], 3), (b["id"], 1)], key=lambda p: (-p[1], -{a["id"]: 3 * a["precio"],
                                                                            c["id"]: 3 * c["precio"],
                                                                            b["id"]: b["precio"]}[p[0]], p[0]))
    by_money = board["top_productos"]["por_ingresos"]
    assert [p["ingresos"] for p in by_money] == sorted((p["ingresos"] for p in by_money), reverse=True)
    assert {p["producto_id"]: p["ingresos"] for p in by_money} == {a["id"]: 3 * a["precio"], b["id"]: b["precio"],
                                                                   c["id"]: 3 * c["precio"]}
    assert board["pedidos_por_estado"]["cerrada"] == 3
    # sales made over the REST API have no conversation
    assert board["conversion"] == {"conversaciones": 0, "con_venta": 0, "tasa": 0.0, "porcentaje": 0.0,
                                   "ventas_sin_conversacion": 3}
    assert len(dashboard(admin, desde="2025-03-01", hasta="2025-03-10", top=1)["top_productos"]["por_unidades"]) == 1
    one_day = dashboard(admin, desde="2025-03-05", hasta="2025-03-05")
    assert [(d["fecha"], d["ventas"]) for d in one_day["ventas_por_dia"]] == [("2025-03-05", 2)]
    empty = dashboard(admin, desde="2024-01-01", hasta="2024-01-31")
    assert len(empty["ventas_por_dia"]) == 31 and all(d["ventas"] == d["ingresos"] == 0 for d in empty["ventas_por_dia"])
    assert empty["totales"] == {"ventas": 0, "ingresos": 0, "ticket_promedio": 0, "unidades": 0}
    # only desde: 30 days from it
    assert dashboard(admin, desde="2025-03-01")["hasta"] == "2025-03-30"


def test_the_default_range_is_the_last_30_days(admin):
    today = datetime.now(ZONE).date()
    board = dashboard(admin)
    assert board["hasta"] == today.isoformat() and board["desde"] == (today - timedelta(days=29)).isoformat()
    assert len(board["ventas_por_dia"]) == 30 == board["dias"]
    assert board["ventas_por_dia"][-1]["fecha"] == today.isoformat()


def test_low_stock_on_the_dashboard(admin):
    made = admin.post("/productos/", json={"nombre": "Tinto de prueba casi agotado", "precio": 2500, "stock": 1,
                                           "categoria": "Pruebas"})
    assert made.status_code == 201, made.text
    low = dashboard(admin)["bajo_stock"]
    assert low["umbral"] == 5 and all(p["stock"] <= 5 for p in low["productos"])
    assert made.json()["producto"]["id"] in [p["id"] for p in low["productos"]]
    assert [p["stock"] for p in low["productos"]] == sorted(p["stock"] for p in low["productos"])
    listed = admin.get("/admin/inventario", params={"bajo_stock": True, "limit": 100}).json()
    assert low["total"] == listed["total"]


def test_conversations_and_conversion(live, admin):
    before = dashboard(admin)
    sold = buy_by_chat(admin, "comprador-1")
    say(admin, "curioso-1", "hola")
    looked = say(admin, "curioso-1", "busco una hamaca")
    assert looked["pedido"] is None
    order(admin, OTHER, [(in_stock(admin, 1)[0]["id"], 1)])  # a sale with no conversation
    after = dashboard(admin)
    conv, prev = after["conversion"], before["conversion"]
    assert conv["conversaciones"] == prev["conversaciones"] + 2
    assert conv["con_venta"] == prev["con_venta"] + 1
    assert conv["ventas_sin_conversacion"] == prev["ventas_sin_conversacion"] + 1
    assert conv["tasa"] == round(conv["con_venta"] / conv["conversaciones"], 4)
    assert conv["porcentaje"] == round(100 * conv["con_venta"] / conv["conversaciones"], 2)
    assert after["totales"]["ventas"] == before["totales"]["ventas"] + 2
    assert after["totales"]["ingresos"] == before["totales"]["ingresos"] + sold["pedido"]["total"] + \
        next(v for v in admin.get("/admin/ventas", params={"cedula": "80123456", "limit": 1}).json()["ventas"])["total"]
    assert after["conversaciones_activas"] >= 2 and after["conversaciones"]["activas"] == after["conversaciones_activas"]

    # the list: thread, chat id, messages (as the history counts them), last activity, order state
    listed = admin.get("/admin/conversaciones", params={"limit": 100}).json()
    assert listed["success"] is True and listed["total"] == len(listed["conversaciones"]) == after["conversaciones"]["total"]
    by_chat = {c["chat_id"]: c for c in listed["conversaciones"]}
    buyer, browser = by_chat["comprador-1"], by_chat["curioso-1"]
    assert buyer["thread_id"] == sold["thread_id"] and browser["thread_id"] == looked["thread_id"]
    for chat_id, row in (("comprador-1", buyer), ("curioso-1", browser)):
        history = admin.get(f"/chat/historial/{chat_id}").json()
        assert row["mensajes"] == len(history["mensajes"]) > 0
        assert row["ultima_actividad"] >= history["mensajes"][-1]["fecha"]
    assert (buyer["estado_pedido"], buyer["pedido"]["id"], buyer["ventas"], buyer["pedidos"]) == \
        ("cerrada", sold["pedido"]["id"], 1, 1)
    assert (browser["estado_pedido"], browser["pedido"], browser["ventas"]) == (None, None, 0)
    assert buyer["activa"] is True and browser["activa"] is True
    stamps = [c["ultima_actividad"] for c in listed["conversaciones"]]
    assert stamps == sorted(stamps, reverse=True)
    page = admin.get("/admin/conversaciones", params={"limit": 1, "offset": 1}).json()
    assert [c["thread_id"] for c in page["conversaciones"]] == [listed["conversaciones"][1]["thread_id"]]

    # a conversation quiet for longer than the hold is no longer active
    two_hours_ago = int(datetime.now().timestamp()) - 7200
    run_sql(live, update(Message).where(Message.thread_id == browser["thread_id"]).values(created_at=two_hours_ago))
    active = {c["chat_id"] for c in admin.get("/admin/conversaciones", params={"activas": True, "limit": 100}
                                              ).json()["conversaciones"]}
    quiet = admin.get("/admin/conversaciones", params={"activas": False, "limit": 100}).json()
    assert "comprador-1" in active and "curioso-1" not in active
    assert "curioso-1" in {c["chat_id"] for c in quiet["conversaciones"]}
    assert all(c["activa"] is False for c in quiet["conversaciones"])
    assert dashboard(admin)["conversaciones_activas"] == after["conversaciones_activas"] - 1
    # the sale of the conversation is on /admin/ventas with its channel
    chat_sales = admin.get("/admin/ventas", params={"canal": sold["pedido"]["canal"], "limit": 100}).json()
    assert sold["pedido"]["id"] in [v["id"] for v in chat_sales["ventas"]]
    assert all(v["canal"] == sold["pedido"]["canal"] for v in chat_sales["ventas"])


def test_sales_list(live, admin):
    a = in_stock(admin, 1, at_least=4)[0]
    early = order(admin, OTHER, [(a["id"], 1)])
    late = order(admin, OTHER, [(a["id"], 2)])
    open_ = order(admin, OTHER, [(a["id"], 1)], confirm=False)
    move_sale(live, early["id"], "2025-08-01 09:00")
    move_sale(live, late["id"], "2025-08-03 18:00")
    august = admin.get("/admin/ventas", params={"desde": "2025-08-01", "hasta": "2025-08-31"}).json()
    assert [v["id"] for v in august["ventas"]] == [late["id"], early["id"]]  # newest sale first
    assert august["total"] == 2 and august["monto_total"] == early["total"] + late["total"]
    assert all(v["estado"] == "cerrada" and v["items"] for v in august["ventas"])
    assert open_["id"] not in [v["id"] for v in admin.get("/admin/ventas", params={"limit": 100}).json()["ventas"]]
    one = admin.get("/admin/ventas", params={"desde": "2025-08-01", "hasta": "2025-08-31", "limit": 1,
                                             "offset": 1}).json()
    assert [v["id"] for v in one["ventas"]] == [early["id"]]
    assert admin.get("/admin/ventas", params={"cedula": "1111111", "limit": 5}).json()["ventas"] == []
    api = admin.get("/admin/ventas", params={"canal": "api", "desde": "2025-08-01", "hasta": "2025-08-31"}).json()
    assert api["total"] == 2
    assert admin.get("/admin/ventas", params={"canal": "whatsapp", "desde": "2025-08-01"}).json()["total"] == 0


def test_inventory(admin):
    made = admin.post("/productos/", json={"nombre": "Mochila de prueba inventario", "precio": 80000, "stock": 10,
                                           "categoria": "Pruebas Inventario", "sku": "PRUEBA-INV-1"})
    assert made.status_code == 201, made.text
    pid = made.json()["producto"]["id"]
    order(admin, OTHER, [(pid, 3)], confirm=False)  # held
    order(admin, OTHER, [(pid, 2)])  # sold
    found = admin.get("/admin/inventario", params={"q": "mochila de PRUEBA"}).json()
    assert found["total"] == 1
    row = found["productos"][0]
    assert (row["id"], row["stock"], row["reservado"], row["vendido"], row["bajo_stock"]) == (pid, 5, 3, 2, True)
    assert admin.get("/admin/inventario", params={"q": "prueba-inv"}).json()["productos"][0]["id"] == pid  # by sku
    category = admin.get("/admin/inventario", params={"categoria": "pruebas inventario"}).json()
    assert [p["id"] for p in category["productos"]] == [pid]
    low = admin.get("/admin/inventario", params={"bajo_stock": True, "limit": 100}).json()
    assert pid in [p["id"] for p in low["productos"]] and all(p["stock"] <= 5 and p["bajo_stock"]
                                                              for p in low["productos"])
    everything = admin.get("/admin/inventario", params={"limit": 100}).json()
    assert everything["total"] >= 274 and everything["umbral_bajo_stock"] == 5
    ids = [p["id"] for p in everything["productos"]]
    assert ids == sorted(ids)
    second = admin.get("/admin/inventario", params={"limit": 100, "offset": 100}).json()
    assert set(ids).isdisjoint(p["id"] for p in second["productos"])
    assert admin.patch(f"/productos/{pid}", json={"activo": False}).status_code == 200
    assert pid in [p["id"] for p in admin.get("/admin/inventario", params={"activo": False}).json()["productos"]]
    assert admin.get("/admin/inventario", params={"q": "no existe tal cosa"}).json() == {
        "success": True, "productos": [], "total": 0, "umbral_bajo_stock": 5, "limit": 50, "offset": 0}


def test_statistics_agree_with_the_other_pages(admin):
    say(admin, "estadistica-1", "busco audífonos inalámbricos")
    stats = admin.get("/admin/estadisticas").json()
    assert stats["success"] is True
    catalogue = admin.get("/productos/", params={"limit": 1}).json()
    sales = admin.get("/ventas/", params={"limit": 1}).json()
    orders = admin.get("/pedidos/", params={"limit": 1}).json()
    assert stats["productos_activos"] == catalogue["total"] and stats["productos"] >= stats["productos_activos"]
    assert stats["clientes"] == admin.get("/clientes/").json()["total"]
    assert (stats["ventas"], stats["ingresos"]) == (sales["total"], sales["monto_total"])
    assert stats["pedidos"] == orders["total"] == sum(stats["pedidos_por_estado"].values())
    assert stats["pedidos_por_estado"]["cerrada"] == stats["ventas"]
    assert stats["ticket_promedio"] == pytest.approx(stats["ingresos"] / stats["ventas"], abs=0.01)
    assert stats["busquedas"] >= 1
    assert stats["conversaciones"]["total"] == admin.get("/admin/conversaciones").json()["total"]
    assert stats["productos_bajo_stock"] == admin.get("/admin/inventario", params={"bajo_stock": True}).json()["total"]


def test_health(admin):
    health = admin.get("/admin/health").json()
    assert health["success"] is True and health["status"] == "ok" and health["base_de_datos"] == "ok"
    assert health["asistente"]["habilitado"] is True and health["asistente"]["id"].startswith("asst_")
    assert health["conteos"]["productos"] >= 273


@pytest.mark.parametrize(("path", "params"), [
    ("/admin/dashboard/ventas", {"desde": "2026-13-01"}),
    ("/admin/dashboard/ventas", {"desde": "ayer"}),
    ("/admin/dashboard/ventas", {"hasta": "2026-02-30"}),
    ("/admin/dashboard/ventas", {"desde": "2026-05-02", "hasta": "2026-05-01"}),
    ("/admin/dashboard/ventas", {"desde": "2020-01-01", "hasta": "2026-01-01"}),  # more than 366 days
    ("/admin/dashboard/ventas", {"top": 0}),
    ("/admin/dashboard/ventas", {"top": 101}),
    ("/admin/ventas", {"limit": 0}),
    ("/admin/ventas", {"limit": 101}),
    ("/admin/ventas", {"offset": -1}),
    ("/admin/ventas", {"desde": "2026-05-02", "hasta": "2026-05-01"}),
    ("/admin/ventas", {"hasta": "mañana"}),
    ("/admin/ventas", {"canal": "Chat Web!"}),
    ("/admin/conversaciones", {"activas": "quizás"}),
    ("/admin/conversaciones", {"limit": 1000}),
    ("/admin/inventario", {"bajo_stock": "talvez"}),
    ("/admin/inventario", {"limit": 0}),
    ("/admin/inventario", {"offset": "9" * 30}),
])
def test_bad_input_is_a_400_in_the_envelope(admin, path, params):
    r = admin.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False and r.json()["error"]


ROUTES = ["/admin/dashboard/ventas", "/admin/ventas", "/admin/conversaciones", "/admin/inventario",
          "/admin/estadisticas", "/admin/health"]


def test_admin_pages_need_the_admin_scope(live, admin):
    with user_client(live, admin, "cajero") as user:
        for path in ROUTES:
            refused = user.get(path)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json() == {"success": False, "error": "This endpoint needs an admin key."}
            anonymous = httpx.get(live.url + path, timeout=30)
            assert anonymous.status_code == 401 and anonymous.json()["success"] is False, path


def test_today_is_the_shops_today(admin):
    # a sale now lands on the shop's today, wherever the server's clock is
    sale = order(admin, OTHER, [(in_stock(admin, 1)[0]["id"], 1)])
    today = datetime.now(ZONE).date()
    board = dashboard(admin, desde=today.isoformat(), hasta=today.isoformat())
    assert board["ventas_por_dia"][0]["fecha"] == today.isoformat()
    assert board["ventas_por_dia"][0]["ventas"] >= 1 and board["ventas_por_dia"][0]["ingresos"] >= sale["total"]
    assert date.fromisoformat(board["desde"]) == today
