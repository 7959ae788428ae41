"""Seed 002's owner pages: ``/admin/dashboard/ventas``, ``/admin/ventas``, ``/admin/conversaciones``,
``/admin/inventario``, ``/admin/estadisticas`` and ``/admin/health``, all for the admin scope.

Answers are the seed's envelope (``{"success": true, ...}``; errors ``{"success": false,
"error"}`` with the right status, a malformed date or a reversed range a 400) and JSON ready for
charts: the dashboard's by-day series is an array of ``{"fecha": "YYYY-MM-DD", "ventas": n,
"ingresos": x}``, one per day of the range in the shop's time zone, zero-filled. What a sale, a
day, a conversation, an active conversation and the conversion are is written in
:mod:`hilo.packs.commerce.reports`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, or_, select, text

from hilo.api.deps import require_admin
from hilo.channels.facade import FacadeError, FacadeRoute
from hilo.kit.ids import now
from hilo.packs.commerce import reports, views
from hilo.packs.commerce.models import CLOSED, Order, Product
from hilo.packs.commerce.orders import ShopError
from hilo.packs.commerce.routes import Limit, Offset, order_filters, order_page
from hilo.packs.commerce.settings import shop_for

Top = Annotated[int, Query(ge=1, le=100, description="Cuántos productos en cada lista del top")]
Channel = Annotated[str | None, Query(max_length=20, pattern=r"^[a-z0-9_]+$")]

router = APIRouter(prefix="/admin", tags=["shop admin (seed 002)"], route_class=FacadeRoute,
                   dependencies=[Depends(require_admin)])


def bad(exc: ShopError) -> FacadeError:
    return FacadeError(exc.status, exc.message, **exc.details)


def active_since(hold_minutes: float) -> int:
    return now() - int(hold_minutes * 60)


def product_row(p: Product, held: int, sold: int, threshold: int) -> dict:
    return {"id": p.id, "sku": p.sku, "nombre": p.name, "categoria": p.category, "precio": views.money(p.price),
            "moneda": p.currency, "stock": p.stock, "reservado": held, "vendido": sold,
            "bajo_stock": p.active and p.stock <= threshold, "activo": p.active, "actualizado": views.iso(p.updated_at)}


@router.get("/dashboard/ventas")
async def dashboard(request: Request, desde: date | None = None, hasta: date | None = None, top: Top = 10):
    """Sales and revenue by day (default: the last 30 days up to today), totals, top products,
    active conversations, low stock and conversion, for charts."""
    db = request.app.state.db
    shop, settings = shop_for(db)
    try:
        days = reports.span(desde, hasta, settings.timezone)
    except ShopError as exc:
        raise bad(exc) from None
    await shop.sweep()
    assistant = reports.shop_assistant_id(request.app.state)
    async with db.sessionmaker() as session:
        totals = await reports.sales_totals(session, days.low, days.high)
        series = await reports.sales_by_day(session, days, settings.timezone)
        by_units = await reports.top_products(session, days.low, days.high, top, "unidades")
        by_revenue = await reports.top_products(session, days.low, days.high, top, "ingresos")
        low_count, low = await reports.low_stock(session, settings.low_stock, 50)
        talks = await reports.conversation_counts(session, assistant, active_since(settings.hold_minutes))
        converted = await reports.conversion(session, assistant, days.low, days.high)
        states = await reports.orders_by_state(session, [Order.created_at >= days.low, Order.created_at < days.high])
    return reports.plain({
        "success": True, "desde": days.start.isoformat(), "hasta": days.end.isoformat(),
        "zona_horaria": settings.timezone, "dias": len(series), "totales": totals, "ventas_por_dia": series,
        "top_productos": {"por_unidades": by_units, "por_ingresos": by_revenue},
        "conversaciones_activas": talks["activas"], "conversaciones": talks, "conversion": converted,
        "pedidos_por_estado": states,
        "bajo_stock": {"umbral": settings.low_stock, "total": low_count,
                       "productos": [{"id": p.id, "nombre": p.name, "categoria": p.category, "stock": p.stock}
                                     for p in low]}})


@router.get("/ventas")
async def sales(request: Request, cedula: Annotated[str | None, Query(max_length=12)] = None,
                canal: Channel = None, desde: date | None = None, hasta: date | None = None,
                limit: Limit = 20, offset: Offset = 0):
    """Closed sales, newest first, by customer, channel and closing day, with their items and total amount."""
    try:
        reports.bounds(desde, hasta, shop_for(request.app.state.db)[1].timezone)
    except ShopError as exc:
        raise bad(exc) from None
    where = [Order.state == CLOSED, *order_filters(request, None, cedula, desde, hasta, Order.closed_at)]
    if canal:
        where.append(Order.channel == canal)
    page = await order_page(request, where, limit, offset, Order.closed_at)
    return {"success": True, "ventas": page.pop("data"), **page}


@router.get("/conversaciones")
async def conversation_list(request: Request, activas: bool | None = None, limit: Limit = 20, offset: Offset = 0):
    """The shop's conversations, most recent activity first: thread, chat id (``/chat``), message
    count, last activity and the state of its latest order; ``activas`` keeps the active (true) or
    the inactive (false) ones."""
    db = request.app.state.db
    shop, settings = shop_for(db)
    await shop.sweep()
    since = active_since(settings.hold_minutes)
    conv = reports.conversations(reports.shop_assistant_id(request.app.state))
    active = reports.active_filter(conv, since)
    where = [] if activas is None else [active if activas else ~active]
    async with db.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(conv).where(*where))
        rows = (await session.execute(select(conv).where(*where)
                                      .order_by(conv.c.ultima_actividad.desc(), conv.c.thread_id.desc())
                                      .limit(limit).offset(offset))).all()
        ids = [r.thread_id for r in rows]
        chats = await reports.chat_ids(session, ids)
        latest = await reports.latest_orders(session, ids)
    data = []
    for r in rows:
        order = latest.get(r.thread_id)
        data.append({"thread_id": r.thread_id, "chat_id": chats.get(r.thread_id), "mensajes": int(r.mensajes),
                     "ultima_actividad": views.iso(int(r.ultima_actividad) or None),
                     "activa": bool(r.abiertos) or int(r.ultima_actividad) >= since,
                     "pedidos": int(r.pedidos), "ventas": int(r.cerrados),
                     "estado_pedido": order.state if order else None,
                     "pedido": None if order is None else {"id": order.id, "estado": order.state,
                                                           "total": views.money(order.total), "canal": order.channel}})
    return {"success": True, "conversaciones": data, "total": int(total or 0), "limit": limit, "offset": offset}


@router.get("/inventario")
async def inventory(request: Request, categoria: Annotated[str | None, Query(max_length=80)] = None,
                    bajo_stock: bool = False, q: Annotated[str | None, Query(max_length=200)] = None,
                    activo: bool | None = None, limit: Limit = 50, offset: Offset = 0):
    """Products with their stock (what can still be sold), units held by open orders and units
    sold, and whether the stock is low (``<= HILO_COMMERCE_LOW_STOCK``); by id."""
    db = request.app.state.db
    shop, settings = shop_for(db)
    await shop.sweep()
    where = reports.inventory_filters(categoria, bajo_stock, activo, settings.low_stock)
    if q and q.strip():
        where.append(or_(reports.contains_folded(Product.name, q.strip()),
                         reports.contains_folded(Product.sku, q.strip())))
    async with db.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(Product).where(*where))
        rows = list(await session.scalars(select(Product).where(*where).order_by(Product.id).limit(limit).offset(offset)))
        held, sold = await reports.held_and_sold(session, [p.id for p in rows])
    return {"success": True, "productos": [product_row(p, held[p.id], sold[p.id], settings.low_stock) for p in rows],
            "total": int(total or 0), "umbral_bajo_stock": settings.low_stock, "limit": limit, "offset": offset}


@router.get("/estadisticas")
async def statistics(request: Request):
    """The whole shop's figures: products, customers, orders by state, sales, revenue, catalogue
    searches logged and conversations."""
    db = request.app.state.db
    shop, settings = shop_for(db)
    await shop.sweep()
    assistant = reports.shop_assistant_id(request.app.state)
    async with db.sessionmaker() as session:
        counted = await reports.counts(session)
        states = await reports.orders_by_state(session)
        totals = await reports.sales_totals(session)
        talks = await reports.conversation_counts(session, assistant, active_since(settings.hold_minutes))
        low_count, _ = await reports.low_stock(session, settings.low_stock, 0)
    return reports.plain({
        "success": True, **counted, "pedidos_por_estado": states, "ventas": totals["ventas"],
        "ingresos": totals["ingresos"], "ticket_promedio": totals["ticket_promedio"],
        "unidades_vendidas": totals["unidades"], "conversaciones": talks, "productos_bajo_stock": low_count,
        "umbral_bajo_stock": settings.low_stock, "zona_horaria": settings.timezone})


@router.get("/health")
async def health(request: Request):
    """Is the shop's database reachable, and is its assistant enabled? 503 when the database is not."""
    from hilo.audio import configured

    state = request.app.state
    _shop, settings = shop_for(state.db)
    assistant = reports.shop_assistant_id(state)
    try:
        async with state.db.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
            counted = await reports.counts(session)
    except Exception as exc:  # noqa: BLE001 - the health page says what is wrong, never a 500
        raise FacadeError(503, f"La base de datos no responde: {type(exc).__name__}.", status="sin base de datos") from None
    ok = assistant is not None
    return {"success": ok, "status": "ok" if ok else "sin asistente", "base_de_datos": "ok", "conteos": counted,
            "asistente": {"clave": settings.assistant or reports.ASSISTANT_KEY, "id": assistant, "habilitado": ok},
            "transcripcion": configured(state.settings) or "no configurada"}
