"""Seed 002's CSV exports: ``/exportar/*``, for the admin scope.

``inventario``, ``clientes``, ``ventas`` (one row per sold item), ``conversaciones-rag`` (the
catalogue searches of the conversations), ``reporte-completo`` (the statistics as CSV sections)
and ``info`` (JSON: what each export holds, its row count, its filters and the dialect).

**The dialect: a Spanish-locale spreadsheet.** Excel and LibreOffice set to Spanish (es-CO,
es-ES) write ``,`` as the decimal mark, so their list separator, the one they split a CSV on when
it is opened with a double click, is ``;``. The files are therefore:

* UTF-8 with a byte order mark (``EF BB BF``): without it Excel reads the file as Windows-1252
  and every ñ and á comes out garbled;
* ``;`` between fields and CRLF line ends; a field is quoted with ``"`` only when it holds a
  ``;``, a ``"`` (doubled inside) or a line break (RFC 4180's rules);
* numbers with a decimal comma and no thousands separator (``194900,00``, ``12``), which the
  spreadsheet reads as numbers;
* dates as ``YYYY-MM-DD HH:MM`` in the shop's time zone (``HILO_COMMERCE_TIMEZONE``), which it
  reads as dates;
* safe against CSV formula injection: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a
  tab or a carriage return gets a leading apostrophe (``'=HYPERLINK(...)``), so the spreadsheet
  shows it as text and never evaluates it (OWASP's advice); lists inside a cell (product ids and
  names of a search) are joined with `` | ``, never with a comma (``12,7`` would be a number);
* served as ``text/csv; charset=utf-8`` with ``Content-Disposition: attachment;
  filename="inventario-2026-12-03.csv"`` (the export and the shop's today).

Read back with Python: ``csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";")``.

**Streamed.** Each export is an async generator behind a ``StreamingResponse``: it reads
:data:`BATCH` rows at a time by keyset (``WHERE id > :last ORDER BY id LIMIT 500``, by cédula for
customers), each batch in its own short session, and sends that batch's lines before reading
the next. No table is held in memory and no transaction stays open while a slow client reads;
rows written while an export runs may or may not appear in it. Filters are checked before the
first byte, so a bad one is a 400 in the seed's envelope.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from hilo.api.deps import require_admin
from hilo.channels.facade import FacadeError, FacadeRoute
from hilo.kit.ids import now
from hilo.packs.commerce import reports
from hilo.packs.commerce.models import CLOSED, Customer, Order, OrderItem, Product, SearchLog
from hilo.packs.commerce.orders import ShopError
from hilo.packs.commerce.routes import State
from hilo.packs.commerce.settings import shop_for

BATCH = 500
BOM = "\ufeff"
DELIMITER = ";"
LINE_END = "\r\n"
RISKY = ("=", "+", "-", "@", "\t", "\r")
DIALECT = {"codificacion": "UTF-8 con BOM", "separador": DELIMITER, "decimal": ",", "miles": "ninguno",
           "fin_de_linea": "CRLF", "comillas": '" solo cuando el campo tiene ; " o saltos de línea',
           "fechas": "YYYY-MM-DD HH:MM en la zona horaria de la tienda",
           "formulas": "una celda de texto que empieza con = + - @, tabulador o retorno lleva un apóstrofo delante",
           "listas": "valores separados por ' | ' dentro de una celda"}

router = APIRouter(prefix="/exportar", tags=["shop CSV exports (seed 002)"], route_class=FacadeRoute,
                   dependencies=[Depends(require_admin)])


# ---------------------------------------------------------------- cells


def text(value: Any) -> str:
    """A text cell, defused: a leading formula character gets an apostrophe."""
    value = "" if value is None else str(value)
    return "'" + value if value.startswith(RISKY) else value


def number(value: Decimal | float | int | None, places: int = 2) -> str:
    """A number with a decimal comma and no grouping: ``194900,00``."""
    if value is None:
        return ""
    return f"{Decimal(value):.{places}f}".replace(".", ",")


def integer(value: int | None) -> str:
    return "" if value is None else str(int(value))


def yes(value: bool) -> str:
    return "sí" if value else "no"


class Writer:
    """CSV lines in the dialect above, handed out as bytes a batch at a time."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, delimiter=DELIMITER, lineterminator=LINE_END, quotechar='"',
                                 quoting=csv.QUOTE_MINIMAL)

    def rows(self, rows: list[list[str]]) -> bytes:
        self.writer.writerows(rows)
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return data


Batch = Callable[[Any, Any], Awaitable[tuple[list[list[str]], Any]]]


async def stream(db, header: list[str], batch: Batch) -> AsyncIterator[bytes]:
    """The BOM and header, then ``batch(session, last_key)`` until it returns no rows."""
    out = Writer()
    yield BOM.encode("utf-8") + out.rows([header])
    last = None
    while True:
        async with db.sessionmaker() as session:
            rows, last = await batch(session, last)
        if not rows:
            return
        yield out.rows(rows)
        if len(rows) < BATCH:
            return


def attachment(request: Request, name: str, body: AsyncIterator[bytes]) -> StreamingResponse:
    tz = shop_for(request.app.state.db)[1].timezone
    filename = f"{name}-{reports.today(tz).isoformat()}.csv"
    return StreamingResponse(body, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                      "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _range(request: Request, desde: date | None, hasta: date | None) -> tuple[int | None, int | None]:
    try:
        return reports.bounds(desde, hasta, shop_for(request.app.state.db)[1].timezone)
    except ShopError as exc:
        raise FacadeError(exc.status, exc.message) from None


def _within(column, low: int | None, high: int | None) -> list:
    return [c for c in (column >= low if low is not None else None, column < high if high is not None else None)
            if c is not None]


# ---------------------------------------------------------------- the exports

INVENTORY = ["id", "sku", "nombre", "categoria", "descripcion", "precio", "moneda", "stock", "reservado", "vendido",
             "bajo_stock", "activo", "actualizado"]
CUSTOMERS = ["cedula", "nombre", "telefono", "direccion", "email", "registrado", "compras", "total_gastado",
             "primera_compra", "ultima_compra"]
SALES = ["pedido_id", "fecha", "estado", "cedula", "cliente", "telefono", "canal", "producto_id", "producto",
         "cantidad", "precio_unitario", "subtotal", "total_pedido", "moneda"]
SEARCHES = ["id", "fecha", "thread_id", "chat_id", "consulta", "productos_ids", "productos"]


@router.get("/inventario")
async def inventory(request: Request, categoria: Annotated[str | None, Query(max_length=80)] = None,
                    bajo_stock: bool = False, activo: bool | None = None):
    """Every product (by id): stock that can still be sold, units held by open orders, units sold."""
    db = request.app.state.db
    shop, settings = shop_for(db)
    await shop.sweep()
    where = reports.inventory_filters(categoria, bajo_stock, activo, settings.low_stock)
    tz, threshold = settings.timezone, settings.low_stock

    async def batch(session, after):
        rows = list(await session.scalars(select(Product).where(*where, *([Product.id > after] if after is not None else []))
                                          .order_by(Product.id).limit(BATCH)))
        held, sold = await reports.held_and_sold(session, [p.id for p in rows])
        return [[integer(p.id), text(p.sku), text(p.name), text(p.category), text(p.description), number(p.price),
                 text(p.currency), integer(p.stock), integer(held[p.id]), integer(sold[p.id]),
                 yes(p.active and p.stock <= threshold), yes(p.active), reports.local_minute(p.updated_at, tz)]
                for p in rows], (rows[-1].id if rows else after)

    return attachment(request, "inventario", stream(db, INVENTORY, batch))


@router.get("/clientes")
async def customers(request: Request, desde: date | None = None, hasta: date | None = None):
    """Every customer (by cédula) registered in the range, with their closed sales and what they spent."""
    db = request.app.state.db
    low, high = _range(request, desde, hasta)
    tz = shop_for(db)[1].timezone
    where = _within(Customer.created_at, low, high)

    async def batch(session, after):
        rows = list(await session.scalars(select(Customer).where(*where, *([Customer.cedula > after] if after is not None else []))
                                          .order_by(Customer.cedula).limit(BATCH)))
        bought = await reports.purchases_of(session, [c.cedula for c in rows])
        out = []
        for c in rows:
            b = bought[c.cedula]
            out.append([text(c.cedula), text(c.name), text(c.phone), text(c.address), text(c.email),
                        reports.local_minute(c.created_at, tz), integer(b["compras"]), number(b["total"]),
                        reports.local_minute(b["primera"], tz), reports.local_minute(b["ultima"], tz)])
        return out, (rows[-1].cedula if rows else after)

    return attachment(request, "clientes", stream(db, CUSTOMERS, batch))


@router.get("/ventas")
async def sales(request: Request, desde: date | None = None, hasta: date | None = None, estado: State = CLOSED):
    """One row per item of the orders in ``estado`` (default ``cerrada``: the sales), by order and
    item; ``fecha`` and the date range are the closing time for sales, the creation time otherwise."""
    db = request.app.state.db
    low, high = _range(request, desde, hasta)
    tz = shop_for(db)[1].timezone
    when = Order.closed_at if estado == CLOSED else Order.created_at
    where = [Order.state == estado, *_within(when, low, high)]

    async def batch(session, after):
        rows = (await session.execute(
            select(OrderItem, Order).join(Order, Order.id == OrderItem.order_id)
            .where(*where, *([OrderItem.id > after] if after is not None else [])).order_by(OrderItem.id).limit(BATCH))).all()
        out = [[integer(o.id), reports.local_minute(o.closed_at if estado == CLOSED else o.created_at, tz),
                text(o.state), text(o.cedula), text(o.name), text(o.phone), text(o.channel), integer(i.product_id),
                text(i.name), integer(i.quantity), number(i.unit_price), number(i.unit_price * i.quantity),
                number(o.total), text(o.currency)] for i, o in rows]
        return out, (rows[-1][0].id if rows else after)

    return attachment(request, "ventas", stream(db, SALES, batch))


@router.get("/conversaciones-rag")
async def searches(request: Request, desde: date | None = None, hasta: date | None = None,
                   thread_id: Annotated[str | None, Query(max_length=64)] = None):
    """The catalogue searches of the conversations (``shop_search_log``): when, which thread (and
    its chat id), what was asked, and the products found, best first."""
    db = request.app.state.db
    low, high = _range(request, desde, hasta)
    tz = shop_for(db)[1].timezone
    where = _within(SearchLog.created_at, low, high)
    if thread_id:
        where.append(SearchLog.thread_id == thread_id)

    async def batch(session, after):
        rows = list(await session.scalars(select(SearchLog).where(*where, *([SearchLog.id > after] if after is not None else []))
                                          .order_by(SearchLog.id).limit(BATCH)))
        ids = {int(p) for r in rows for p in (r.product_ids or "").split(",") if p.strip().isdigit()}
        names = dict((await session.execute(select(Product.id, Product.name).where(Product.id.in_(ids)))).all()) \
            if ids else {}
        chats = await reports.chat_ids(session, sorted({r.thread_id for r in rows if r.thread_id}))
        out = []
        for r in rows:
            found = [int(p) for p in (r.product_ids or "").split(",") if p.strip().isdigit()]
            out.append([integer(r.id), reports.local_minute(r.created_at, tz), text(r.thread_id),
                        text(chats.get(r.thread_id) if r.thread_id else None), text(r.query),
                        " | ".join(str(p) for p in found),
                        text(" | ".join(names.get(p, f"#{p}") for p in found))])
        return out, (rows[-1].id if rows else after)

    return attachment(request, "conversaciones-rag", stream(db, SEARCHES, batch))


@router.get("/reporte-completo")
async def full_report(request: Request, desde: date | None = None, hasta: date | None = None):
    """The shop's statistics over a range of days (default: the last 30) as CSV sections: a title
    row, a header row, the rows and an empty line each."""
    db = request.app.state.db
    shop, settings = shop_for(db)
    tz = settings.timezone
    try:
        days = reports.span(desde, hasta, tz)
    except ShopError as exc:
        raise FacadeError(exc.status, exc.message) from None
    await shop.sweep()
    assistant = reports.shop_assistant_id(request.app.state)
    since = now() - int(settings.hold_minutes * 60)

    async def body() -> AsyncIterator[bytes]:
        out = Writer()
        async with db.sessionmaker() as session:
            totals = await reports.sales_totals(session, days.low, days.high)
            counted = await reports.counts(session)
            talks = await reports.conversation_counts(session, assistant, since)
            converted = await reports.conversion(session, assistant, days.low, days.high)
            low_count, low = await reports.low_stock(session, settings.low_stock, 100)
            states = await reports.orders_by_state(session, [Order.created_at >= days.low,
                                                             Order.created_at < days.high])
            series = await reports.sales_by_day(session, days, tz)
            top = await reports.top_products(session, days.low, days.high, 20)
            categories = await reports.top_categories(session, days.low, days.high, 20)
            buyers = await reports.top_buyers(session, days.low, days.high, 20)
        yield BOM.encode("utf-8") + out.rows([
            ["Reporte de la tienda"], ["desde", days.start.isoformat()], ["hasta", days.end.isoformat()],
            ["zona_horaria", tz], ["generado", reports.local_minute(now(), tz)], [],
            ["Resumen"], ["metrica", "valor"],
            ["ventas", integer(totals["ventas"])], ["ingresos", number(totals["ingresos"])],
            ["ticket_promedio", number(totals["ticket_promedio"])], ["unidades_vendidas", integer(totals["unidades"])],
            ["productos", integer(counted["productos"])], ["productos_activos", integer(counted["productos_activos"])],
            ["clientes", integer(counted["clientes"])], ["pedidos", integer(counted["pedidos"])],
            ["busquedas", integer(counted["busquedas"])], ["conversaciones", integer(talks["total"])],
            ["conversaciones_activas", integer(talks["activas"])],
            ["conversaciones_en_el_rango", integer(converted["conversaciones"])],
            ["conversaciones_con_venta", integer(converted["con_venta"])],
            ["conversion_porcentaje", number(converted["porcentaje"])],
            ["ventas_sin_conversacion", integer(converted["ventas_sin_conversacion"])],
            ["productos_bajo_stock", integer(low_count)], ["umbral_bajo_stock", integer(settings.low_stock)], []])
        yield out.rows([["Pedidos por estado"], ["estado", "pedidos"],
                        *[[text(s), integer(n)] for s, n in states.items()], []])
        yield out.rows([["Ventas por día"], ["fecha", "ventas", "ingresos"],
                        *[[d["fecha"], integer(d["ventas"]), number(d["ingresos"])] for d in series], []])
        yield out.rows([["Productos más vendidos"], ["producto_id", "producto", "categoria", "unidades", "ingresos"],
                        *[[integer(p["producto_id"]), text(p["nombre"]), text(p["categoria"]), integer(p["unidades"]),
                           number(p["ingresos"])] for p in top], []])
        yield out.rows([["Categorías"], ["categoria", "unidades", "ingresos"],
                        *[[text(c["categoria"]), integer(c["unidades"]), number(c["ingresos"])] for c in categories],
                        []])
        yield out.rows([["Mejores clientes"], ["cedula", "nombre", "compras", "total"],
                        *[[text(b["cliente"].cedula), text(b["cliente"].name), integer(b["compras"]),
                           number(b["total"])] for b in buyers], []])
        yield out.rows([["Stock bajo"], ["id", "producto", "categoria", "stock"],
                        *[[integer(p.id), text(p.name), text(p.category), integer(p.stock)] for p in low]])

    return attachment(request, "reporte-completo", body())


@router.get("/info")
async def info(request: Request):
    """What each export holds, how many rows it has now (no filters), the filters it takes, and the dialect."""
    db = request.app.state.db
    tz = shop_for(db)[1].timezone
    async with db.sessionmaker() as session:
        counted = await reports.counts(session)
        sold = await session.scalar(select(func.count()).select_from(OrderItem).join(Order, Order.id == OrderItem.order_id)
                                    .where(Order.state == CLOSED))
    dates = {"desde": "YYYY-MM-DD (día de la tienda, incluido)", "hasta": "YYYY-MM-DD (incluido)"}
    exports = [
        {"nombre": "inventario", "ruta": "/exportar/inventario", "filas": counted["productos"], "columnas": INVENTORY,
         "descripcion": "Un producto por fila: stock que se puede vender, unidades reservadas por pedidos abiertos "
                        "y unidades vendidas.",
         "filtros": {"categoria": "nombre de la categoría", "bajo_stock": "true: solo stock <= umbral",
                     "activo": "true o false"}},
        {"nombre": "clientes", "ruta": "/exportar/clientes", "filas": counted["clientes"], "columnas": CUSTOMERS,
         "descripcion": "Un cliente por fila (por cédula) con sus compras cerradas y lo que ha gastado.",
         "filtros": {**dates, "nota": "desde/hasta: día de registro del cliente"}},
        {"nombre": "ventas", "ruta": "/exportar/ventas", "filas": int(sold or 0), "columnas": SALES,
         "descripcion": "Un producto vendido por fila: pedido, fecha, cliente, producto, cantidad, precio unitario "
                        "y subtotal.",
         "filtros": {**dates, "estado": "cerrada (por omisión), iniciada, recolectando_datos, pendiente, cancelada "
                                        "o expirada; la fecha es el cierre de una venta, la creación en otro caso"}},
        {"nombre": "conversaciones-rag", "ruta": "/exportar/conversaciones-rag", "filas": counted["busquedas"],
         "columnas": SEARCHES,
         "descripcion": "Una búsqueda del catálogo por fila: cuándo, en qué conversación, qué se preguntó y qué "
                        "productos encontró (el mejor primero).",
         "filtros": {**dates, "thread_id": "una conversación"}},
        {"nombre": "reporte-completo", "ruta": "/exportar/reporte-completo", "filas": None,
         "columnas": None,
         "descripcion": "Estadísticas en secciones (resumen, pedidos por estado, ventas por día, productos más "
                        "vendidos, categorías, mejores clientes, stock bajo); cada sección: título, encabezado, "
                        "filas y una línea vacía.",
         "filtros": {**dates, "nota": "por omisión los últimos 30 días"}},
    ]
    return {"success": True, "exportes": exports, "dialecto": DIALECT | {"zona_horaria": tz},
            "lotes": BATCH, "generado": reports.local_minute(now(), tz)}
