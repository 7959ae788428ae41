"""What the owner's tests share (customers, admin, exports): a live shop with auth on, the admin
and a user key, sales made through ``POST /pedidos/``, and direct writes that move a sale in time."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import update

from hilo.kit.db.session import Database
from hilo.packs.commerce.models import Order
from hilo.testing.server import LiveServer, start_server
from tests.conftest import make_settings

TOKEN = "shop-admin-secret"
ZONE = ZoneInfo("America/Bogota")
ADDRESS = "Calle 10 # 20-30, Medellín"


def owner_server(database_factory, tmp_path_factory, backend: str) -> LiveServer:
    """The shop (demo catalogue, guided seller, no model) with ``HILO_AUTH=on``."""
    settings = make_settings(database_factory(backend), tmp_path_factory.mktemp("data"), packs="commerce",
                             llm_provider="guided", auth="on", admin_token=TOKEN)
    return start_server(settings)


def admin_client(live: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)


def user_client(live: LiveServer, admin: httpx.Client, name: str = "vendedor-externo") -> httpx.Client:
    made = admin.post("/admin/keys", json={"user": name, "scope": "user"})
    assert made.status_code in (200, 201), made.text
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {made.json()['secret']}"}, timeout=60)


def customer(cedula: str, nombre: str, telefono: str = "3001234567") -> dict:
    return {"cedula": cedula, "nombre": nombre, "telefono": telefono, "direccion": ADDRESS}


def order(admin: httpx.Client, who: dict | None, items: list[tuple[int, int]], confirm: bool = True) -> dict:
    """An order of ``items`` ((product id, units)...) for ``who``, closed when ``confirm``."""
    made = admin.post("/pedidos/", json={**({"cliente": who} if who else {}),
                                         "items": [{"producto_id": p, "cantidad": n} for p, n in items]})
    assert made.status_code == 201, made.text
    if not confirm:
        return made.json()["pedido"]
    closed = admin.post(f"/pedidos/{made.json()['id']}/confirmar")
    assert closed.status_code == 200 and closed.json()["estado"] == "cerrada", closed.text
    return closed.json()["pedido"]


def in_stock(admin: httpx.Client, count: int, at_least: int = 5, skip: set[int] | None = None) -> list[dict]:
    """``count`` demo products with at least ``at_least`` units, cheapest first is not promised."""
    found, offset = [], 0
    while len(found) < count:
        page = admin.get("/productos/", params={"limit": 100, "offset": offset, "en_stock": True}).json()["productos"]
        assert page, "not enough products in stock"
        found += [p for p in page if p["stock"] >= at_least and p["id"] not in (skip or set())]
        offset += 100
    return found[:count]


def local_ts(text: str) -> int:
    """Epoch seconds of a local time of the shop (``"2025-03-02 23:30"``)."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE).timestamp())


def run_sql(live: LiveServer, *statements) -> None:
    """Run statements on the server's database from the test (its own engine)."""
    async def go():
        db = Database(live.settings.database_url)
        try:
            async with db.sessionmaker() as session:
                for statement in statements:
                    await session.execute(statement)
                await session.commit()
        finally:
            await db.engine.dispose()

    asyncio.run(go())


def move_sale(live: LiveServer, order_id: int, when: str) -> None:
    """Pretend the order was made and closed at local time ``when``."""
    ts = local_ts(when)
    run_sql(live, update(Order).where(Order.id == order_id).values(created_at=ts, updated_at=ts, closed_at=ts))


def csv_rows(response: httpx.Response) -> list[list[str]]:
    """A CSV export read back as a spreadsheet in Spanish would: BOM, ``;``, CRLF."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf"), body[:10]
    text = body.decode("utf-8")[1:]
    assert "\n" not in text.replace("\r\n", "") or '"' in text  # line ends are CRLF (bare LF only inside quotes)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def records(response: httpx.Response) -> list[dict[str, str]]:
    rows = csv_rows(response)
    header, *body = rows
    assert all(len(r) == len(header) for r in body)
    return [dict(zip(header, r, strict=True)) for r in body]


def decimal_comma(text: str) -> float:
    assert "." not in text, text
    return float(text.replace(",", "."))
