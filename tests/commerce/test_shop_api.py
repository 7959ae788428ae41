"""The shop's REST endpoints over real HTTP: catalogue, orders that hold stock, sales."""

from __future__ import annotations

import time

import httpx

from hilo.testing.server import start_server
from tests.commerce.conftest import CUSTOMER, new_product, shop_settings


def test_the_demo_shop_is_seeded_and_searchable(http):
    r = http.get("/productos/", params={"limit": 5})
    body = r.json()
    assert r.status_code == 200 and body["success"] is True
    assert body["total"] >= 250 and len(body["productos"]) == 5
    first = body["productos"][0]
    assert {"id", "nombre", "precio", "precio_texto", "stock", "categoria"} <= set(first)
    cats = http.get("/productos/categorias").json()["categorias"]
    assert len(cats) >= 8 and all(c["productos"] > 0 for c in cats)
    found = http.get("/productos/", params={"q": "audífonos inalámbricos"}).json()["productos"]
    assert found and "Audífonos" in found[0]["nombre"]
    # accents, plural and case do not matter; a thing the shop does not sell finds nothing
    assert "Audífonos" in http.get("/productos/", params={"q": "AUDIFONOS"}).json()["productos"][0]["nombre"]
    assert http.get("/productos/", params={"q": "pizza hawaiana"}).json()["productos"] == []
    # filters apply to the search: category, highest price, in stock
    cheap = http.get("/productos/", params={"q": "tenis", "precio_max": 100000}).json()["productos"]
    assert all(p["precio"] <= 100000 for p in cheap)
    pets = http.get("/productos/", params={"categoria": "Mascotas", "limit": 100}).json()
    assert pets["total"] == len(pets["productos"]) and all(p["categoria"] == "Mascotas" for p in pets["productos"])


def test_products_are_created_changed_and_read(http):
    made = new_product(http, "Sombrero vueltiao 21 fibras", stock=4, precio=185000, categoria="Accesorios",
                       descripcion="Sombrero tradicional de Tuchín, Córdoba.")
    assert made["id"] > 0 and made["stock"] == 4 and made["precio_texto"].startswith("$185.000")
    got = http.get(f"/productos/{made['id']}").json()["producto"]
    assert got == made
    # a new product is found by the search at once (the index follows the catalogue version)
    assert http.get("/productos/", params={"q": "sombrero vueltiao"}).json()["productos"][0]["id"] == made["id"]
    changed = http.patch(f"/productos/{made['id']}", json={"precio": 199000, "nombre": "Sombrero vueltiao 23 fibras"})
    assert changed.status_code == 200 and changed.json()["producto"]["precio"] == 199000
    assert http.get("/productos/", params={"q": "23 fibras"}).json()["productos"][0]["id"] == made["id"]


def test_bad_product_input_is_a_clear_400(http):
    for body in ({"nombre": "x", "precio": 1, "categoria": "Ropa"}, {"nombre": "Algo", "precio": -5, "categoria": "Ropa"},
                 {"nombre": "Algo", "precio": 10, "categoria": "Ropa", "stock": -1},
                 {"nombre": "Algo", "precio": "caro", "categoria": "Ropa"}, {"nombre": "Algo", "categoria": "Ropa"},
                 {"nombre": "Algo", "precio": 10, "categoria": "Ropa", "otro": 1}):
        r = http.post("/productos/", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["success"] is False and r.json()["error"]
    for path in ("/productos/0", "/productos/abc", "/productos/99999999999999999999"):
        assert http.get(path).status_code in (400, 404)
    assert http.get("/productos/999999").status_code == 404
    assert http.get("/productos/", params={"limit": 0}).status_code == 400
    assert http.patch("/productos/1", json={"precio": None}).status_code == 400


def test_an_order_holds_its_stock_and_a_sale_keeps_it(http):
    product = new_product(http, "Mochila de prueba", stock=5)
    r = http.post("/pedidos/", json={"items": [{"producto_id": product["id"], "cantidad": 2}]})
    assert r.status_code == 201
    order = r.json()
    assert order["estado"] == "iniciada" and order["pedido"]["total"] == 20000
    assert http.get(f"/productos/{product['id']}").json()["producto"]["stock"] == 3
    # without the customer's data the sale does not close
    r = http.post(f"/pedidos/{order['id']}/confirmar")
    assert r.status_code == 409 and "Faltan datos" in r.json()["error"]
    # with them it is pendiente, and confirming closes it
    r = http.post("/pedidos/", json={"cliente": CUSTOMER, "items": [{"producto_id": product["id"], "cantidad": 3}]})
    assert r.status_code == 201 and r.json()["estado"] == "pendiente"
    sale = r.json()["id"]
    closed = http.post(f"/pedidos/{sale}/confirmar").json()
    assert closed["estado"] == "cerrada" and closed["pedido"]["cerrado"]
    assert http.get(f"/productos/{product['id']}").json()["producto"]["stock"] == 0
    # nothing left: a 409 that names the product and what is left, and nothing is held
    r = http.post("/pedidos/", json={"items": [{"producto_id": product["id"], "cantidad": 1}]})
    assert r.status_code == 409
    assert r.json()["producto"] == "Mochila de prueba" and r.json()["disponible"] == 0
    # cancelling the first order gives its two units back
    assert http.post(f"/pedidos/{order['id']}/cancelar").json()["estado"] == "cancelada"
    assert http.get(f"/productos/{product['id']}").json()["producto"]["stock"] == 2
    assert http.post(f"/pedidos/{order['id']}/cancelar").status_code == 409
    assert http.post(f"/pedidos/{sale}/cancelar").status_code == 409  # a closed sale stays closed
    # sales and orders lists
    sales = http.get("/ventas/", params={"cedula": CUSTOMER["cedula"]}).json()
    assert any(v["id"] == sale for v in sales["ventas"]) and sales["monto_total"] >= 30000
    listed = http.get("/pedidos/", params={"estado": "cancelada"}).json()["pedidos"]
    assert any(p["id"] == order["id"] for p in listed)


def test_an_order_is_all_or_nothing(http):
    a, b = new_product(http, "Producto A", stock=5), new_product(http, "Producto B", stock=1)
    r = http.post("/pedidos/", json={"items": [{"producto_id": a["id"], "cantidad": 2},
                                               {"producto_id": b["id"], "cantidad": 2}]})
    assert r.status_code == 409 and r.json()["producto_id"] == b["id"]
    assert http.get(f"/productos/{a['id']}").json()["producto"]["stock"] == 5  # A was not held either


def test_bad_order_input_is_a_clear_400(http):
    product = new_product(http, "Producto C", stock=5)
    bad_customers = [{**CUSTOMER, "cedula": "12"}, {**CUSTOMER, "telefono": "123"}, {**CUSTOMER, "nombre": "A1"},
                     {**CUSTOMER, "direccion": "casa"}]
    for customer in bad_customers:
        r = http.post("/pedidos/", json={"cliente": customer, "items": [{"producto_id": product["id"]}]})
        assert r.status_code == 400 and r.json()["campos"], r.text
    for body in ({"items": []}, {"items": [{"producto_id": product["id"], "cantidad": 0}]},
                 {"items": [{"producto_id": "x"}]}, {}):
        assert http.post("/pedidos/", json=body).status_code == 400
    assert http.post("/pedidos/", json={"items": [{"producto_id": 999999}]}).status_code == 404
    assert http.get("/pedidos/", params={"fecha_desde": "2026-13-01"}).status_code == 400
    assert http.get("/pedidos/", params={"fecha_desde": "2026-12-05", "fecha_hasta": "2026-12-01"}).status_code == 400
    assert http.get("/pedidos/", params={"estado": "perdida"}).status_code == 400
    assert http.post("/pedidos/999999/confirmar").status_code == 404
    assert http.get(f"/productos/{product['id']}").json()["producto"]["stock"] == 5


def test_an_abandoned_order_releases_its_stock(database_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("HILO_COMMERCE_HOLD_MINUTES", "0.02")  # 1.2 s
    live = start_server(shop_settings(database_factory("sqlite"), tmp_path / "data"))
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            product = new_product(http, "Producto D", stock=3)
            order = http.post("/pedidos/", json={"cliente": CUSTOMER,
                                                 "items": [{"producto_id": product["id"], "cantidad": 3}]}).json()
            assert http.get(f"/productos/{product['id']}").json()["producto"]["stock"] == 0
            time.sleep(2.5)
            assert http.get(f"/productos/{product['id']}").json()["producto"]["stock"] == 3
            assert http.get(f"/pedidos/{order['id']}").json()["pedido"]["estado"] == "expirada"
            r = http.post(f"/pedidos/{order['id']}/confirmar")
            assert r.status_code == 409 and "expirada" in r.json()["error"]
    finally:
        live.stop()


def test_only_admins_change_the_catalogue_and_see_orders(database_factory, tmp_path):
    live = start_server(shop_settings(database_factory("sqlite"), tmp_path / "data", auth="on",
                                      admin_token="admin-secret-token"))
    try:
        admin = {"Authorization": "Bearer admin-secret-token"}
        with httpx.Client(base_url=live.url, timeout=30) as http:
            key = http.post("/admin/keys", json={"user": "tienda-web", "scope": "user"}, headers=admin)
            assert key.status_code in (200, 201), key.text
            user = {"Authorization": f"Bearer {key.json()['secret']}"}
            assert http.get("/productos/", headers=user).status_code == 200
            assert http.get("/productos/").status_code == 401
            body = {"nombre": "Nuevo", "precio": 1000, "categoria": "Ropa", "stock": 2}
            assert http.post("/productos/", json=body, headers=user).status_code == 403
            assert http.post("/productos/", json=body, headers=admin).status_code == 201
            product = http.get("/productos/", params={"q": "Nuevo"}, headers=user).json()["productos"][0]["id"]
            made = http.post("/pedidos/", json={"cliente": CUSTOMER, "items": [{"producto_id": product}]}, headers=user)
            assert made.status_code == 201
            assert http.get(f"/pedidos/{made.json()['id']}", headers=user).status_code == 200
            for path in ("/pedidos/", "/ventas/"):
                assert http.get(path, headers=user).status_code == 403
                assert http.get(path, headers=admin).status_code == 200
            other = http.post("/admin/keys", json={"user": "otra", "scope": "user"}, headers=admin).json()["secret"]
            assert http.get(f"/pedidos/{made.json()['id']}", headers={"Authorization": f"Bearer {other}"}).status_code == 404
    finally:
        live.stop()


def test_search_answers_by_words_when_the_embeddings_endpoint_is_down(database_factory, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    live = start_server(shop_settings(database_factory("sqlite"), tmp_path / "data", embeddings_base_url=dead,
                                      llm_timeout=2))
    try:
        with httpx.Client(base_url=live.url, timeout=60) as http:
            words = http.get("/productos/", params={"q": "audífonos inalámbricos"})
            assert words.status_code == 200 and "Audífonos" in words.json()["productos"][0]["nombre"]
            typo = http.get("/productos/", params={"q": "audifonos blutuz"})  # needs the vectors: words only
            assert typo.status_code == 200 and typo.json()["success"] is True
            assert "Audífonos" in typo.json()["productos"][0]["nombre"]
    finally:
        live.stop()
