"""The queries the owner's pages share: the admin dashboard, the customers' pages and the CSV exports.

Nothing here speaks HTTP: money comes back as :class:`~decimal.Decimal`, times as epoch seconds,
and the routers (:mod:`.admin`, :mod:`.customers`, :mod:`.exports`) write them out. The
definitions every page uses:

* **a sale** is an order in state ``cerrada``; its date is when it closed (``closed_at``), its
  revenue the order's total, its units the quantities of its items;
* **a day** is a day of the shop's calendar (``HILO_COMMERCE_TIMEZONE``, America/Bogota by default):
  the by-day series sums each sale into the local date it closed on, every day of the range
  present (zero-filled). Sums run in SQL per 15-minute bucket of UTC time (every zone's offset is
  a multiple of 15 minutes, so a bucket never straddles two local days, DST included) and the
  buckets are folded into local days here;
* **a conversation** is a thread the shop's assistant answered in (a message written by that
  assistant, on any channel: ``/chat/*``, WhatsApp, the WebSocket, ``/v1``) or that made an order
  (``shop_orders.thread_id``). It is **active** while it has an open order (``iniciada``,
  ``recolectando_datos`` or ``pendiente``) or its last message or order change is newer than
  ``HILO_COMMERCE_HOLD_MINUTES`` (the time an untouched order keeps its stock);
* **conversion** over a date range is ``conversations with a sale closed in the range /
  conversations in the range``, where a conversation is in the range when the shop's assistant
  wrote in it, or it created an order, within the range. Orders made over the REST API
  (``POST /pedidos/``) have no thread: they are sales (``ventas_sin_conversacion``) but not
  conversations.

Messages of a range are found by their ids, which sort by creation time (:mod:`hilo.kit.ids`):
the range is a scan of the primary key, not of the whole table.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    case,
    distinct,
    func,
    literal_column,
    or_,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.identity.models import Identity
from hilo.nlu.lang import fold
from hilo.packs.commerce.chat import ASSISTANT_KEY
from hilo.packs.commerce.models import (
    CLOSED,
    OPEN_STATES,
    STATES,
    Customer,
    Order,
    OrderItem,
    Product,
    SearchLog,
)
from hilo.packs.commerce.orders import ShopError
from hilo.packs.commerce.settings import shop_for
from hilo.threads.models import Message, Thread

CENT = Decimal("0.01")
BUCKET = 900  # seconds: a quarter of an hour, the finest step of any time zone's offset
MAX_DAYS = 366  # the longest by-day series one request may ask for
SHOP_CHANNEL = "shop"  # the identity channel of /chat/* (a chat id is its subject)


def dec(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


# ---------------------------------------------------------------- dates


@dataclass(frozen=True, slots=True)
class Span:
    """Whole days ``start``..``end`` of the shop's calendar, and their epoch bounds ``[low, high)``."""

    start: date
    end: date
    low: int
    high: int

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def today(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def _midnight(day: date, tz: str) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp())


def bounds(start: date | None, end: date | None, tz: str) -> tuple[int | None, int | None]:
    """Epoch seconds ``[low, high)`` of the days ``start``..``end`` (either open); 400 when reversed."""
    if start and end and start > end:
        raise ShopError("La fecha 'desde' no puede ser posterior a 'hasta'.")
    return (_midnight(start, tz) if start else None,
            _midnight(end + timedelta(days=1), tz) if end else None)


def span(start: date | None, end: date | None, tz: str, default_days: int = 30, max_days: int = MAX_DAYS) -> Span:
    """A closed range of days: by default the last ``default_days`` up to today (the shop's today)."""
    if start and end and start > end:
        raise ShopError("La fecha 'desde' no puede ser posterior a 'hasta'.")
    end = end or (start + timedelta(days=default_days - 1) if start else today(tz))
    start = start or end - timedelta(days=default_days - 1)
    if (end - start).days + 1 > max_days:
        raise ShopError(f"El rango de fechas puede tener como máximo {max_days} días.")
    low, high = bounds(start, end, tz)
    return Span(start, end, low, high)


def local_minute(ts: int | None, tz: str) -> str:
    """``YYYY-MM-DD HH:MM`` in the shop's zone (what a spreadsheet reads as a date and time)."""
    return "" if ts is None else datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def local_day(ts: int | None, tz: str) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d")


_ACCENTS = {"á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u", "ü": "u", "Á": "a", "É": "e", "Í": "i", "Ó": "o",
            "Ú": "u", "Ü": "u", "Ñ": "ñ"}


def folded(column):
    """``column`` in lower case without accents, in SQL that SQLite and PostgreSQL both run (SQLite's
    ``lower`` leaves non-ASCII capitals alone, hence the capitals in the table)."""
    expr = func.lower(column)
    for accented, plain_ in _ACCENTS.items():
        expr = func.replace(expr, accented, plain_)
    return expr


def contains_folded(column, needle: str):
    """``column`` holds ``needle``, case and accents aside (``%`` and ``_`` in it are literal)."""
    return folded(column).contains(fold(needle), autoescape=True)


def message_id_floor(ts: int) -> str:
    """The smallest message id made at or after epoch second ``ts`` (see :mod:`hilo.kit.ids`)."""
    bits = ((ts * 1000) % (1 << 50)) << 70
    return "msg_" + base64.b32hexencode(bits.to_bytes(15, "big")).decode().lower()


def _within(column, low: int | None, high: int | None) -> list:
    return [c for c in (column >= low if low is not None else None, column < high if high is not None else None)
            if c is not None]


# ---------------------------------------------------------------- sales


def sale_filters(low: int | None = None, high: int | None = None) -> list:
    return [Order.state == CLOSED, *_within(Order.closed_at, low, high)]


async def sales_totals(session: AsyncSession, low: int | None = None, high: int | None = None) -> dict[str, Any]:
    """Closed sales in ``[low, high)``: how many, revenue, average ticket, units sold."""
    count, revenue = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Order.total), 0)).where(*sale_filters(low, high)))).one()
    units = await session.scalar(select(func.coalesce(func.sum(OrderItem.quantity), 0))
                                 .join(Order, Order.id == OrderItem.order_id).where(*sale_filters(low, high)))
    revenue = dec(revenue)
    return {"ventas": int(count), "ingresos": revenue, "ticket_promedio": dec(revenue / count) if count else dec(0),
            "unidades": int(units or 0)}


async def sales_by_day(session: AsyncSession, days: Span, tz: str) -> list[dict[str, Any]]:
    """``[{"fecha": "YYYY-MM-DD", "ventas": n, "ingresos": x}]`` for every day of ``days``, zero-filled."""
    bucket = Order.closed_at // literal_column(str(BUCKET), BigInteger)
    rows = await session.execute(select(bucket, func.count(), func.coalesce(func.sum(Order.total), 0))
                                 .where(*sale_filters(days.low, days.high)).group_by(bucket))
    series = {day.isoformat(): {"fecha": day.isoformat(), "ventas": 0, "ingresos": dec(0)} for day in days.days}
    zone = ZoneInfo(tz)
    for start, count, revenue in rows:
        day = datetime.fromtimestamp(int(start) * BUCKET, zone).date().isoformat()
        if day in series:  # always, short of a clock change of more than a bucket
            series[day]["ventas"] += int(count)
            series[day]["ingresos"] += dec(revenue)
    return list(series.values())


async def top_products(session: AsyncSession, low: int | None, high: int | None, limit: int = 10,
                       by: str = "unidades") -> list[dict[str, Any]]:
    """The products sold most in ``[low, high)``, by units (``by="unidades"``) or revenue (``"ingresos"``)."""
    units = func.sum(OrderItem.quantity)
    revenue = func.sum(OrderItem.quantity * OrderItem.unit_price)
    order = (units.desc(), revenue.desc()) if by == "unidades" else (revenue.desc(), units.desc())
    rows = await session.execute(
        select(OrderItem.product_id, func.max(OrderItem.name), func.max(Product.category), units, revenue,
               func.count(distinct(OrderItem.order_id)))
        .join(Order, Order.id == OrderItem.order_id).outerjoin(Product, Product.id == OrderItem.product_id)
        .where(*sale_filters(low, high)).group_by(OrderItem.product_id)
        .order_by(*order, OrderItem.product_id).limit(limit))
    return [{"producto_id": pid, "nombre": name, "categoria": category, "unidades": int(n), "ingresos": dec(money),
             "pedidos": int(orders)} for pid, name, category, n, money, orders in rows]


async def top_categories(session: AsyncSession, low: int | None, high: int | None, limit: int = 10,
                         where: list | None = None) -> list[dict[str, Any]]:
    units = func.sum(OrderItem.quantity)
    revenue = func.sum(OrderItem.quantity * OrderItem.unit_price)
    category = Product.category
    rows = await session.execute(
        select(category, units, revenue).join(Order, Order.id == OrderItem.order_id)
        .join(Product, Product.id == OrderItem.product_id)
        .where(*sale_filters(low, high), *(where or [])).group_by(category)
        .order_by(units.desc(), revenue.desc(), category).limit(limit))
    return [{"categoria": name, "unidades": int(n), "ingresos": dec(money)} for name, n, money in rows]


async def orders_by_state(session: AsyncSession, where: list | None = None) -> dict[str, int]:
    rows = await session.execute(select(Order.state, func.count()).where(*(where or [])).group_by(Order.state))
    found = {state: 0 for state in STATES}
    for state, count in rows:
        found[state] = int(count)
    return found


# ---------------------------------------------------------------- stock


def low_stock_filter(threshold: int) -> list:
    return [Product.active.is_(True), Product.stock <= threshold]


def inventory_filters(category: str | None, low_only: bool, active: bool | None, low_stock: int) -> list:
    """The filters the inventory page and its export share: category, low stock, active."""
    where = []
    if category:
        where.append(func.lower(Product.category) == category.strip().lower())
    if low_only:
        where.extend(low_stock_filter(low_stock))
    if active is not None:
        where.append(Product.active.is_(active))
    return where


async def low_stock(session: AsyncSession, threshold: int, limit: int = 20) -> tuple[int, list[Product]]:
    where = low_stock_filter(threshold)
    count = await session.scalar(select(func.count()).select_from(Product).where(*where))
    rows = await session.scalars(select(Product).where(*where).order_by(Product.stock, Product.id).limit(limit))
    return int(count or 0), list(rows)


async def held_and_sold(session: AsyncSession, product_ids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Per product: units held by open orders, and units sold (closed sales), for ``product_ids``."""
    held: dict[int, int] = dict.fromkeys(product_ids, 0)
    sold: dict[int, int] = dict.fromkeys(product_ids, 0)
    if not product_ids:
        return held, sold
    open_ = func.sum(case((Order.state.in_(OPEN_STATES), OrderItem.quantity), else_=0))
    closed = func.sum(case((Order.state == CLOSED, OrderItem.quantity), else_=0))
    rows = await session.execute(select(OrderItem.product_id, open_, closed)
                                 .join(Order, Order.id == OrderItem.order_id)
                                 .where(OrderItem.product_id.in_(product_ids),
                                        Order.state.in_((*OPEN_STATES, CLOSED)))
                                 .group_by(OrderItem.product_id))
    for product_id, h, s in rows:
        held[product_id], sold[product_id] = int(h or 0), int(s or 0)
    return held, sold


# ---------------------------------------------------------------- customers


def purchases(low: int | None = None, high: int | None = None, cedulas: list[str] | None = None):
    """Per cédula: closed sales (``compras``), what they add up to (``total``), first and last."""
    where = [*sale_filters(low, high), Order.cedula.is_not(None)]
    if cedulas is not None:
        where.append(Order.cedula.in_(cedulas))
    return (select(Order.cedula.label("cedula"), func.count().label("compras"),
                   func.coalesce(func.sum(Order.total), 0).label("total"),
                   func.min(Order.closed_at).label("primera"), func.max(Order.closed_at).label("ultima"))
            .where(*where).group_by(Order.cedula).subquery("purchases"))


def customers_with_purchases(where: list, low: int | None = None, high: int | None = None,
                             min_purchases: int | None = None, min_total: Decimal | None = None) -> Select:
    """Customers (``Customer``, compras, total, primera, ultima) under ``where`` and the minimums."""
    bought = purchases(low, high)
    count = func.coalesce(bought.c.compras, 0)
    total = func.coalesce(bought.c.total, 0)
    query = (select(Customer, count.label("compras"), total.label("total"), bought.c.primera, bought.c.ultima)
             .outerjoin(bought, bought.c.cedula == Customer.cedula).where(*where))
    if min_purchases:
        query = query.where(count >= min_purchases)
    if min_total is not None:
        query = query.where(total >= min_total)
    return query


async def purchases_of(session: AsyncSession, cedulas: list[str]) -> dict[str, dict[str, Any]]:
    bought = purchases(cedulas=cedulas)
    found = {c: {"compras": 0, "total": dec(0), "primera": None, "ultima": None} for c in cedulas}
    if cedulas:
        for cedula, count, total, first, last in await session.execute(select(bought)):
            found[cedula] = {"compras": int(count), "total": dec(total), "primera": first, "ultima": last}
    return found


async def favourites(session: AsyncSession, cedula: str, limit: int = 5) -> dict[str, list[dict[str, Any]]]:
    """A customer's most bought products and categories (closed sales)."""
    units = func.sum(OrderItem.quantity)
    revenue = func.sum(OrderItem.quantity * OrderItem.unit_price)
    mine = [Order.cedula == cedula, Order.state == CLOSED]
    products = await session.execute(
        select(OrderItem.product_id, func.max(OrderItem.name), units, revenue, func.count(distinct(Order.id)))
        .join(Order, Order.id == OrderItem.order_id).where(*mine).group_by(OrderItem.product_id)
        .order_by(units.desc(), revenue.desc(), OrderItem.product_id).limit(limit))
    categories = await top_categories(session, None, None, limit, where=[Order.cedula == cedula])
    return {"productos": [{"producto_id": pid, "nombre": name, "unidades": int(n), "gastado": dec(money),
                           "pedidos": int(orders)} for pid, name, n, money, orders in products],
            "categorias": [{"categoria": c["categoria"], "unidades": c["unidades"], "gastado": c["ingresos"]}
                           for c in categories]}


async def customer_stats(session: AsyncSession, cedula: str) -> dict[str, Any]:
    states = await orders_by_state(session, [Order.cedula == cedula])
    bought = (await purchases_of(session, [cedula]))[cedula]
    units = await session.scalar(select(func.coalesce(func.sum(OrderItem.quantity), 0))
                                 .join(Order, Order.id == OrderItem.order_id)
                                 .where(Order.cedula == cedula, Order.state == CLOSED))
    count, total = bought["compras"], bought["total"]
    return {"pedidos": sum(states.values()), "pedidos_por_estado": states, "compras": count, "total_gastado": total,
            "ticket_promedio": dec(total / count) if count else dec(0), "unidades": int(units or 0),
            "primera_compra": bought["primera"], "ultima_compra": bought["ultima"],
            "favoritos": await favourites(session, cedula)}


async def top_buyers(session: AsyncSession, low: int | None, high: int | None, limit: int) -> list[dict[str, Any]]:
    bought = purchases(low, high)
    rows = await session.execute(
        select(Customer, bought.c.compras, bought.c.total, bought.c.primera, bought.c.ultima)
        .join(bought, bought.c.cedula == Customer.cedula)
        .order_by(bought.c.total.desc(), bought.c.compras.desc(), Customer.cedula).limit(limit))
    return [{"cliente": c, "compras": int(n), "total": dec(total), "primera": first, "ultima": last}
            for c, n, total, first, last in rows]


# ---------------------------------------------------------------- conversations


def _threads(assistant_id: str | None, low: int | None = None, high: int | None = None,
             created=Order.created_at):
    """Thread ids of shop conversations (optionally: active in ``[low, high)``), as one column ``thread_id``."""
    parts = [select(Order.thread_id.label("thread_id"))
             .where(Order.thread_id.is_not(None), *_within(created, low, high))]
    if assistant_id:
        ids = _within(Message.id, message_id_floor(low) if low is not None else None,
                      message_id_floor(high) if high is not None else None)
        parts.append(select(Message.thread_id.label("thread_id")).where(Message.assistant_id == assistant_id, *ids))
    return union(*parts) if len(parts) > 1 else parts[0].distinct()


def conversations(assistant_id: str | None):
    """One row per shop conversation: ``thread_id``, ``mensajes``, ``ultima_actividad``, ``abiertos``
    (open orders), ``cerrados`` (sales) and ``pedidos``."""
    threads = _threads(assistant_id).subquery("shop_threads")
    messages = (select(Message.thread_id.label("thread_id"), func.count().label("mensajes"),
                       func.max(Message.created_at).label("ultimo"))
                .where(Message.thread_id.in_(select(threads.c.thread_id))).group_by(Message.thread_id)
                .subquery("thread_messages"))
    orders = (select(Order.thread_id.label("thread_id"), func.count().label("pedidos"),
                     func.max(Order.updated_at).label("ultimo"),
                     func.sum(case((Order.state.in_(OPEN_STATES), 1), else_=0)).label("abiertos"),
                     func.sum(case((Order.state == CLOSED, 1), else_=0)).label("cerrados"))
              .where(Order.thread_id.is_not(None)).group_by(Order.thread_id).subquery("thread_orders"))
    said, changed = func.coalesce(messages.c.ultimo, 0), func.coalesce(orders.c.ultimo, 0)
    return (select(threads.c.thread_id, func.coalesce(messages.c.mensajes, 0).label("mensajes"),
                   case((said >= changed, said), else_=changed).label("ultima_actividad"),
                   func.coalesce(orders.c.abiertos, 0).label("abiertos"),
                   func.coalesce(orders.c.cerrados, 0).label("cerrados"),
                   func.coalesce(orders.c.pedidos, 0).label("pedidos"))
            .outerjoin(messages, messages.c.thread_id == threads.c.thread_id)
            .outerjoin(orders, orders.c.thread_id == threads.c.thread_id)
            .subquery("conversations"))


def active_filter(conv, since: int):
    return or_(conv.c.abiertos > 0, conv.c.ultima_actividad >= since)


async def conversation_counts(session: AsyncSession, assistant_id: str | None, since: int) -> dict[str, int]:
    conv = conversations(assistant_id)
    total, active, sold = (await session.execute(
        select(func.count(), func.coalesce(func.sum(case((active_filter(conv, since), 1), else_=0)), 0),
               func.coalesce(func.sum(case((conv.c.cerrados > 0, 1), else_=0)), 0)).select_from(conv))).one()
    return {"total": int(total), "activas": int(active), "con_venta": int(sold)}


async def conversion(session: AsyncSession, assistant_id: str | None, low: int, high: int) -> dict[str, Any]:
    """Conversations in ``[low, high)`` and how many of them closed a sale in it (see the module's
    docstring for the definition)."""
    threads = _threads(assistant_id, low, high).subquery("range_threads")
    talked = await session.scalar(select(func.count()).select_from(threads))
    converted = await session.scalar(
        select(func.count(distinct(Order.thread_id)))
        .where(*sale_filters(low, high), Order.thread_id.in_(select(threads.c.thread_id))))
    direct = await session.scalar(select(func.count()).select_from(Order)
                                  .where(*sale_filters(low, high), Order.thread_id.is_(None)))
    talked, converted = int(talked or 0), int(converted or 0)
    rate = converted / talked if talked else 0.0
    return {"conversaciones": talked, "con_venta": converted, "tasa": round(rate, 4),
            "porcentaje": round(100 * rate, 2), "ventas_sin_conversacion": int(direct or 0)}


async def chat_ids(session: AsyncSession, thread_ids: list[str]) -> dict[str, str | None]:
    """The ``/chat`` chat id behind each thread, when its user came through the shop's chat."""
    found: dict[str, str | None] = dict.fromkeys(thread_ids)
    if thread_ids:
        rows = await session.execute(select(Thread.id, Identity.subject).join(
            Identity, and_(Identity.user_id == Thread.user_id, Identity.channel == SHOP_CHANNEL))
            .where(Thread.id.in_(thread_ids)))
        for thread_id, subject in rows:
            found[thread_id] = subject
    return found


async def latest_orders(session: AsyncSession, thread_ids: list[str]) -> dict[str, Order]:
    found: dict[str, Order] = {}
    if thread_ids:
        for order in await session.scalars(select(Order).where(Order.thread_id.in_(thread_ids))
                                           .order_by(Order.id.desc())):
            found.setdefault(order.thread_id, order)
    return found


# ---------------------------------------------------------------- system


async def counts(session: AsyncSession) -> dict[str, int]:
    async def count(model, *where) -> int:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return {"productos": await count(Product), "productos_activos": await count(Product, Product.active.is_(True)),
            "clientes": await count(Customer), "pedidos": await count(Order),
            "busquedas": await count(SearchLog)}


__all__ = ["Span", "bounds", "conversion", "conversations", "counts", "customer_stats", "held_and_sold",
           "local_day", "local_minute", "low_stock", "orders_by_state", "purchases", "sales_by_day", "sales_totals",
           "span", "top_buyers", "top_products"]


def shop_assistant_id(state: Any) -> str | None:
    """The id of the assistant that answers the shop's conversations (``HILO_COMMERCE_ASSISTANT``,
    by default the pack's ``commerce/vendedor``), or None when it is not enabled."""
    wanted = shop_for(state.db)[1].assistant or ASSISTANT_KEY
    if wanted.startswith("asst_"):
        return wanted
    return (getattr(state, "pack_assistants", None) or {}).get(wanted)


def plain(value: Any) -> Any:
    """JSON-ready: money (Decimal) as a number (an integer when whole), nested dicts and lists too."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
