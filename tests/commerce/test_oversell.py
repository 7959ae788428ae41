"""Stock never oversells: 100 concurrent buyers of a product with 10 units, through two servers
on one database (two engines, two connection pools: what two workers are), on SQLite and
PostgreSQL, and buyers through the chat racing buyers through REST."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from hilo.kit.db.session import Database
from hilo.packs.commerce.models import CLOSED, Order, OrderItem
from hilo.testing.server import start_server
from tests.commerce.conftest import CUSTOMER, new_product, shop_settings
from tests.conftest import BACKENDS

BUYERS, UNITS = 100, 10


def _sold(url: str, product_id: int) -> tuple[int, int]:
    async def run():
        db = Database(url)
        try:
            async with db.sessionmaker() as session:
                held = await session.scalar(select(func.coalesce(func.sum(OrderItem.quantity), 0))
                                            .where(OrderItem.product_id == product_id))
                closed = await session.scalar(
                    select(func.coalesce(func.sum(OrderItem.quantity), 0)).join(Order, Order.id == OrderItem.order_id)
                    .where(OrderItem.product_id == product_id, Order.state == CLOSED))
                return int(held), int(closed)
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hundred_buyers_of_ten_units(backend, database_factory, tmp_path):
    url = database_factory(backend)
    first = start_server(shop_settings(url, tmp_path / "a"))
    second = start_server(shop_settings(url, tmp_path / "b"))
    try:
        with httpx.Client(base_url=first.url, timeout=60) as http:
            product = new_product(http, "Edición limitada", stock=UNITS)

        def buy(n: int) -> tuple[int, int | None]:
            server = first if n % 2 else second
            customer = {**CUSTOMER, "cedula": str(10_000_000 + n)}
            with httpx.Client(base_url=server.url, timeout=120) as client:
                r = client.post("/pedidos/", json={"cliente": customer,
                                                   "items": [{"producto_id": product["id"], "cantidad": 1}]})
                if r.status_code != 201:
                    return r.status_code, None
                c = client.post(f"/pedidos/{r.json()['id']}/confirmar")
                return c.status_code, r.json()["id"]

        with ThreadPoolExecutor(max_workers=BUYERS) as pool:
            results = list(pool.map(buy, range(BUYERS)))
        statuses = [s for s, _ in results]
        assert statuses.count(200) == UNITS, statuses
        assert statuses.count(409) == BUYERS - UNITS, statuses
        with httpx.Client(base_url=second.url, timeout=60) as http:
            assert http.get(f"/productos/{product['id']}").json()["producto"]["stock"] == 0
            sales = http.get("/ventas/", params={"limit": 100}).json()["ventas"]
        assert sum(1 for v in sales for i in v["items"] if i["producto_id"] == product["id"]) == UNITS
        assert _sold(url, product["id"]) == (UNITS, UNITS)
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_chat_buyers_race_rest_buyers(backend, database_factory, tmp_path):
    url = database_factory(backend)
    live = start_server(shop_settings(url, tmp_path / "a"))
    try:
        with httpx.Client(base_url=live.url, timeout=60) as http:
            product = new_product(http, "Termo conmemorativo", stock=3)

        def chat(n: int) -> str:
            with httpx.Client(base_url=live.url, timeout=120) as client:
                r = client.post("/chat/texto", json={"mensaje": f"agrega el producto {product['id']}",
                                                      "chat_id": f"buyer-{n}"})
                assert r.status_code == 200, r.text
                return r.json()["respuesta"]

        def rest(n: int) -> int:
            with httpx.Client(base_url=live.url, timeout=120) as client:
                return client.post("/pedidos/", json={"items": [{"producto_id": product["id"]}]}).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            chats = [pool.submit(chat, n) for n in range(6)]
            rests = [pool.submit(rest, n) for n in range(6)]
            replies = [f.result() for f in chats]
            codes = [f.result() for f in rests]
        added = sum("Agregué" in r for r in replies)
        refused = sum("No queda stock" in r for r in replies)
        assert added + codes.count(201) == 3, (replies, codes)
        assert refused + codes.count(409) == 9
        with httpx.Client(base_url=live.url, timeout=60) as http:
            assert http.get(f"/productos/{product['id']}").json()["producto"]["stock"] == 0
        assert _sold(url, product["id"])[0] == 3
    finally:
        live.stop()
