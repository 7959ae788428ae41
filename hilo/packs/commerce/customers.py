"""Seed 002's customers by cédula: ``/clientes/*``, for the admin scope (personal data).

* ``GET /clientes/`` — search ``q`` over name, cédula and phone, with each customer's purchases
  (closed sales) and what they spent; ``POST /clientes/buscar`` — the same with separate fields,
  minimums and a date range;
* ``GET /clientes/top/compradores`` — the best customers by what their closed sales add up to;
* ``GET /clientes/{cedula}``, ``/historial`` (their orders with items, newest first),
  ``/estadisticas`` (orders by state, spending, favourite products and categories);
* ``POST /clientes/{cedula}/consulta`` — a question (``{"pregunta": "..."}``) answered from that
  customer's own records and nothing else, with no model: :func:`understand` recognises what is
  asked (last purchase, how much was spent, how many orders, which products, open orders, when),
  accents and one-letter typos tolerated, and a product the customer bought when the question
  names one ("¿cuándo compré la hamaca?"); every figure of the answer is read from the database
  for that cédula only, and ``datos`` holds the records the answer used.

A cédula in a path is read like the sale reads it (6 to 10 digits, dots and spaces allowed): a
malformed one is a 400, an unknown one a 404.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.api.deps import require_admin
from hilo.channels.facade import FacadeError, FacadeRoute
from hilo.nlu.lang import fold
from hilo.packs.commerce import reports, views
from hilo.packs.commerce.models import (
    CANCELLED,
    CLOSED,
    EXPIRED,
    OPEN_STATES,
    Customer,
    Order,
    OrderItem,
)
from hilo.packs.commerce.orders import ShopError, items_of
from hilo.packs.commerce.routes import Limit, Offset, State, order_filters, order_page
from hilo.packs.commerce.settings import shop_for
from hilo.packs.commerce.validation import InvalidField
from hilo.packs.commerce.validation import cedula as read_cedula

router = APIRouter(prefix="/clientes", tags=["shop customers (seed 002)"], route_class=FacadeRoute,
                   dependencies=[Depends(require_admin)])

CedulaPath = Annotated[str, Path(max_length=20, description="La cédula del cliente (6 a 10 dígitos)")]


def _db(request: Request):
    return request.app.state.db


def bad(exc: ShopError) -> FacadeError:
    return FacadeError(exc.status, exc.message, **exc.details)


def summary(c: Customer, purchases: int, total: Decimal, first: int | None, last: int | None) -> dict[str, Any]:
    return {**views.customer(c), "compras": int(purchases or 0), "total_gastado": views.money(reports.dec(total)),
            "primera_compra": views.iso(first), "ultima_compra": views.iso(last)}


async def _customer(request: Request, cedula: str) -> Customer:
    try:
        number = read_cedula(cedula)
    except InvalidField as exc:
        raise FacadeError(400, exc.message) from None
    async with _db(request).sessionmaker() as session:
        found = await session.get(Customer, number)
    if found is None:
        raise FacadeError(404, f"No hay un cliente con la cédula {number}.")
    return found


async def _page(request: Request, query, limit: int, offset: int, order_by) -> dict[str, Any]:
    async with _db(request).sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = (await session.execute(query.order_by(*order_by).limit(limit).offset(offset))).all()
    return {"clientes": [summary(c, n, t, first, last) for c, n, t, first, last in rows], "total": int(total or 0),
            "limit": limit, "offset": offset}


def _contains(column, needle: str):
    return reports.contains_folded(column, needle)


@router.get("/")
async def list_customers(request: Request, q: Annotated[str | None, Query(max_length=120)] = None,
                         limit: Limit = 20, offset: Offset = 0):
    """Customers by name (then cédula); ``q`` finds a part of the name, cédula or phone."""
    where = []
    if q and q.strip():
        needle = q.strip()
        digits = re.sub(r"[\s.\-]", "", needle)
        where.append(or_(_contains(Customer.name, needle), _contains(Customer.cedula, digits or needle),
                         _contains(Customer.phone, digits or needle)))
    page = await _page(request, reports.customers_with_purchases(where), limit, offset, (Customer.name, Customer.cedula))
    return {"success": True, **page, "q": q.strip() if q else None}


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    nombre: str | None = Field(default=None, max_length=120)
    cedula: str | None = Field(default=None, max_length=20)
    telefono: str | None = Field(default=None, max_length=20)
    min_compras: int | None = Field(default=None, ge=0, le=1_000_000)
    min_total: Decimal | None = Field(default=None, ge=0, le=Decimal("1e15"))
    desde: date | None = None
    hasta: date | None = None
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=2**62)


@router.post("/buscar")
async def search(request: Request, body: SearchIn):
    """Customers matching every field given: a part of ``nombre``, ``cedula`` or ``telefono``; with a
    date range (``desde``/``hasta``, the shop's days) purchases and totals count the sales closed in
    it and, unless ``min_compras`` says otherwise, only customers who bought in it are listed;
    ``min_compras``/``min_total`` are minimums of those figures. Best customers first."""
    _shop, settings = shop_for(_db(request))
    try:
        low, high = reports.bounds(body.desde, body.hasta, settings.timezone)
    except ShopError as exc:
        raise bad(exc) from None
    where = []
    if body.nombre:
        where.append(_contains(Customer.name, body.nombre))
    if body.cedula:
        where.append(_contains(Customer.cedula, re.sub(r"[\s.\-]", "", body.cedula) or body.cedula))
    if body.telefono:
        where.append(_contains(Customer.phone, re.sub(r"[\s.\-()+]", "", body.telefono) or body.telefono))
    minimum = body.min_compras if body.min_compras is not None else (1 if low is not None or high is not None else None)
    query = reports.customers_with_purchases(where, low, high, minimum, body.min_total)
    total = query.selected_columns.total
    page = await _page(request, query, body.limit, body.offset, (total.desc(), Customer.name, Customer.cedula))
    return {"success": True, **page, "filtros": reports.plain(body.model_dump(exclude_none=True, exclude={"limit", "offset"}))}


@router.get("/top/compradores")
async def top_buyers(request: Request, limit: Limit = 10, desde: date | None = None, hasta: date | None = None):
    """The customers whose closed sales (in the range, when given) add up to the most."""
    _shop, settings = shop_for(_db(request))
    try:
        low, high = reports.bounds(desde, hasta, settings.timezone)
    except ShopError as exc:
        raise bad(exc) from None
    async with _db(request).sessionmaker() as session:
        rows = await reports.top_buyers(session, low, high, limit)
    return {"success": True, "clientes": [{"posicion": n, **summary(r["cliente"], r["compras"], r["total"], r["primera"],
                                                                     r["ultima"])}
                                          for n, r in enumerate(rows, start=1)],
            "desde": desde.isoformat() if desde else None, "hasta": hasta.isoformat() if hasta else None,
            "limit": limit}


@router.get("/{cedula}")
async def get_customer(request: Request, cedula: CedulaPath):
    found = await _customer(request, cedula)
    async with _db(request).sessionmaker() as session:
        bought = (await reports.purchases_of(session, [found.cedula]))[found.cedula]
        states = await reports.orders_by_state(session, [Order.cedula == found.cedula])
    return {"success": True, "cliente": summary(found, bought["compras"], bought["total"], bought["primera"],
                                                bought["ultima"]) | {"pedidos": sum(states.values()),
                                                                     "pedidos_abiertos": sum(states[s] for s in OPEN_STATES)}}


@router.get("/{cedula}/historial")
async def history(request: Request, cedula: CedulaPath, estado: State | None = None,
                  fecha_desde: date | None = None, fecha_hasta: date | None = None,
                  limit: Limit = 20, offset: Offset = 0):
    """The customer's orders with their items, newest first, by state and creation day."""
    found = await _customer(request, cedula)
    page = await order_page(request, order_filters(request, estado, found.cedula, fecha_desde, fecha_hasta),
                            limit, offset)
    return {"success": True, "cedula": found.cedula, "pedidos": page.pop("data"), **page}


@router.get("/{cedula}/estadisticas")
async def statistics(request: Request, cedula: CedulaPath):
    found = await _customer(request, cedula)
    await shop_for(_db(request))[0].sweep()
    async with _db(request).sessionmaker() as session:
        stats = await reports.customer_stats(session, found.cedula)
    stats["primera_compra"], stats["ultima_compra"] = views.iso(stats["primera_compra"]), views.iso(stats["ultima_compra"])
    return reports.plain({"success": True, "cedula": found.cedula, "nombre": found.name, **stats})


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    pregunta: str = Field(min_length=1, max_length=1000)


@router.post("/{cedula}/consulta")
async def ask(request: Request, cedula: CedulaPath, body: QuestionIn):
    """A question about this customer answered from their own orders: ``{"respuesta", "datos"}``."""
    found = await _customer(request, cedula)
    shop, settings = shop_for(_db(request))
    await shop.sweep()
    async with _db(request).sessionmaker() as session:
        answer = await Consulta(session, found, settings.timezone).answer(body.pregunta)
    return {"success": True, "cedula": found.cedula, "pregunta": body.pregunta, **reports.plain(answer)}


# ---------------------------------------------------------------- the question, understood with no model

INTENTS = ("ultima_compra", "gasto", "cantidad", "productos", "pendientes", "cuando")

# what each intent is said with, folded (no accents): whole words, and stems a word may start with
_CUES: dict[str, tuple[set[str], tuple[str, ...]]] = {
    "ultima_compra": ({"ultima", "ultimo", "reciente", "recien", "anterior", "pasada", "pasado"}, ("ultim", "recient")),
    "gasto": ({"gastado", "gaste", "gasto", "pagado", "pague", "dinero", "plata", "invertido", "total", "valor",
               "monto", "suma"}, ("gast", "pagad", "invert", "invirt")),
    "cantidad": ({"cuantos", "cuantas", "numero", "cantidad", "veces"}, ()),
    "productos": ({"productos", "producto", "articulos", "articulo", "cosas", "items", "que"}, ("product", "articul")),
    "pendientes": ({"pendiente", "pendientes", "abierto", "abiertos", "abierta", "abiertas", "espera", "curso",
                    "reservado", "reservados", "confirmar", "proceso", "activo", "activos"},
                   ("pendient", "abiert", "reservad")),
    "cuando": ({"cuando", "fecha", "fechas", "dia", "primera", "primer", "primero"}, ("fech", "primer")),
}
# words that say nothing about the intent but must not be read as a typo of a cue ("cuanto" is not "cuando")
_KNOWN = set("""cuanto cuanta he ha has han mi mis me el la los las de del en un una unos unas y o por para con
lo le su sus es fue son hay hizo hice tengo tiene tienes llevo lleva compra compras compre compro comprado
compraron comprar pedido pedidos pedi pidio orden ordenes cliente este esta ese esa yo usted cual cuales
vez hasta ahora todo toda todos todas algun alguna ningun ninguna si no ya aun como donde quien al mas menos
gracias favor hola dime dame quiero saber muestrame decir""".split())
_STOP = _KNOWN | {w for words, _stems in _CUES.values() for w in words}
_WORD = re.compile(r"[a-zñ0-9]+")


def _distance(a: str, b: str, cap: int = 2) -> int:
    """Edit distance with transpositions (optimal string alignment), stopped past ``cap``."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    previous, current = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        before, previous, current = previous, current, [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb and before is not None:
                current[j] = min(current[j], before[j - 2] + 1)
    return current[-1]


def _typo_of(word: str, target: str) -> bool:
    if len(word) < 4 or len(target) < 4:
        return False
    return _distance(word, target) <= (2 if min(len(word), len(target)) >= 8 else 1)


def words_of(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def understand(question: str) -> tuple[list[str], list[str]]:
    """The intents asked (in :data:`INTENTS` order) and the other words (a product, maybe)."""
    words = words_of(question)
    found: set[str] = set()
    rest: list[str] = []
    for word in words:
        hits = {intent for intent, (whole, stems) in _CUES.items()
                if word in whole or any(word.startswith(s) for s in stems)}
        if not hits and word not in _KNOWN:
            hits = {intent for intent, (whole, stems) in _CUES.items()
                    if any(_typo_of(word, w) for w in whole | set(stems) if len(w) >= 4)}
            if not hits and not word.isdigit() and len(word) >= 3 and not any(_typo_of(word, w) for w in _KNOWN):
                rest.append(word)
        found |= hits
    bought = any(w.startswith("compr") or w.startswith("pedi") or w in ("orden", "ordenes") for w in words)
    if "productos" in found and "que" in words and not any(w.startswith("product") or w.startswith("articul") or
                                                           w in ("cosas", "items") for w in words):
        # "¿qué compré?" asks for products, "¿qué día?" / "¿qué fue lo último?" do not
        if not bought or found & {"ultima_compra", "cuando", "gasto", "pendientes"}:
            found.discard("productos")
    if "gasto" in found and "cantidad" in found and not any(
            w.startswith("gast") or w.startswith("pag") or w in ("dinero", "plata", "valor", "monto") for w in words):
        found.discard("gasto")  # "¿cuántos pedidos en total?" counts, it does not add up money
    if "cuando" in found and "ultima_compra" in found and not any(w.startswith("primer") for w in words):
        found.discard("cuando")  # "¿cuándo fue mi última compra?": the last purchase says when
    if "cantidad" in found and not bought and not found & {"productos", "pendientes"} and "veces" not in words:
        found.discard("cantidad")
    return [i for i in INTENTS if i in found], rest


_MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"]


class Consulta:
    """The answer to one question, from the orders of one customer (``Order.cedula == cedula``: every
    query below is filtered by it)."""

    def __init__(self, session: AsyncSession, customer: Customer, tz: str):
        self.session, self.customer, self.tz = session, customer, tz
        self.mine = Order.cedula == customer.cedula
        self.name = customer.name or f"El cliente {customer.cedula}"

    def day(self, ts: int | None) -> str:
        if ts is None:
            return "—"
        d = datetime.fromtimestamp(ts, ZoneInfo(self.tz)).date()
        return f"{d.day} de {_MONTHS[d.month - 1]} de {d.year}"

    @staticmethod
    def money(value: Decimal | float | int, currency: str = "COP") -> str:
        return views.money_text(reports.dec(value), currency)

    async def products_named(self, words: list[str]) -> dict[int, str]:
        """The customer's products (any order of theirs) that the question names."""
        if not words:
            return {}
        rows = await self.session.execute(select(OrderItem.product_id, OrderItem.name).distinct()
                                          .join(Order, Order.id == OrderItem.order_id).where(self.mine))
        named: dict[int, str] = {}
        for product_id, name in rows:
            parts = [p for p in words_of(name) if len(p) >= 3]
            if any(w == p or (len(w) >= 4 and (p.startswith(w) or w.startswith(p) and len(p) >= 4)) or _typo_of(w, p)
                   for w in words for p in parts):
                named[product_id] = name
        return named

    async def orders(self, where: list, limit: int = 5, newest_by=Order.id) -> list[dict[str, Any]]:
        rows = list(await self.session.scalars(select(Order).where(self.mine, *where)
                                               .order_by(newest_by.desc(), Order.id.desc()).limit(limit)))
        items = await items_of(self.session, [o.id for o in rows])
        return [views.order(o, items[o.id]) | {"_at": o.closed_at or o.created_at} for o in rows]

    async def sold(self, named: dict[int, str]) -> str:
        """The names of the products named that the customer's closed sales hold."""
        if not named:
            return ""
        rows = await self.session.scalars(select(OrderItem.name).distinct().join(Order, Order.id == OrderItem.order_id)
                                          .where(self.mine, Order.state == CLOSED,
                                                 OrderItem.product_id.in_(list(named))).order_by(OrderItem.name))
        return ", ".join(rows) or ", ".join(sorted(set(named.values())))

    def with_products(self, named: dict[int, str]) -> list:
        if not named:
            return []
        return [Order.id.in_(select(OrderItem.order_id).where(OrderItem.product_id.in_(list(named))))]

    @staticmethod
    def lines(order: dict[str, Any]) -> str:
        return ", ".join(f"{i['cantidad']} x {i['nombre']}" for i in order["items"])

    async def answer(self, question: str) -> dict[str, Any]:
        intents, rest = understand(question)
        named = await self.products_named(rest)
        datos: dict[str, Any] = {"cliente": {"cedula": self.customer.cedula, "nombre": self.customer.name},
                                 "intenciones": intents, "productos_mencionados": [
                                     {"producto_id": k, "nombre": v} for k, v in sorted(named.items())]}
        if not intents:
            if any(w.startswith("compr") or w.startswith("pedi") for w in words_of(question)) or named:
                intents = ["gasto", "cantidad", "ultima_compra"]  # "¿y mis compras?": a summary
                datos["intenciones"] = intents
            else:
                return {"respuesta": (f"Puedo responder sobre las compras de {self.name}: la última compra, cuánto "
                                      "ha gastado, cuántos pedidos tiene, qué productos ha comprado, sus pedidos "
                                      "pendientes y cuándo compró. Por ejemplo: «¿cuánto he gastado?»."),
                        "datos": datos, "entendido": False}
        sentences = []
        for intent in intents:
            sentence, used = await getattr(self, f"_{intent}")(named)
            sentences.append(sentence)
            datos[intent] = used
        return {"respuesta": " ".join(sentences), "datos": datos, "entendido": True}

    async def _ultima_compra(self, named: dict[int, str]) -> tuple[str, dict]:
        found = await self.orders([Order.state == CLOSED, *self.with_products(named)], 1, Order.closed_at)
        what = f" de {await self.sold(named)}" if named else ""
        if not found:
            return f"{self.name} todavía no tiene compras cerradas{what}.", {"pedido": None}
        last = found[0]
        at = last.pop("_at")
        return (f"La última compra{what} de {self.name} fue el pedido #{last['id']} del {self.day(at)}, por "
                f"{last['total_texto']}: {self.lines(last)}.", {"pedido": last})

    async def _gasto(self, named: dict[int, str]) -> tuple[str, dict]:
        if named:
            units, spent, orders = (await self.session.execute(
                select(func.coalesce(func.sum(OrderItem.quantity), 0),
                       func.coalesce(func.sum(OrderItem.quantity * OrderItem.unit_price), 0),
                       func.count(distinct(Order.id)))
                .join(Order, Order.id == OrderItem.order_id)
                .where(self.mine, Order.state == CLOSED, OrderItem.product_id.in_(list(named))))).one()
            return (f"{self.name} ha gastado {self.money(spent)} en {await self.sold(named)} "
                    f"({int(units)} unidad{'es' if units != 1 else ''} en {orders} compra{'s' if orders != 1 else ''}).",
                    {"total_gastado": reports.dec(spent), "unidades": int(units), "compras": int(orders)})
        count, spent = (await self.session.execute(
            select(func.count(), func.coalesce(func.sum(Order.total), 0)).where(self.mine, Order.state == CLOSED))).one()
        spent = reports.dec(spent)
        ids = list(await self.session.scalars(select(Order.id).where(self.mine, Order.state == CLOSED)
                                              .order_by(Order.id.desc()).limit(50)))
        if not count:
            return f"{self.name} no ha gastado nada todavía: no tiene compras cerradas.", {
                "total_gastado": spent, "compras": 0, "pedidos": []}
        average = reports.dec(spent / count)
        return (f"{self.name} ha gastado {self.money(spent)} en {count} compra{'s' if count != 1 else ''} "
                f"(ticket promedio {self.money(average)}).",
                {"total_gastado": spent, "compras": int(count), "ticket_promedio": average, "pedidos": ids})

    async def _cantidad(self, named: dict[int, str]) -> tuple[str, dict]:
        states = await reports.orders_by_state(self.session, [self.mine, *self.with_products(named)])
        total = sum(states.values())
        open_ = sum(states[s] for s in OPEN_STATES)
        ended = states[CANCELLED] + states[EXPIRED]
        what = f" con {', '.join(named.values())}" if named else ""
        return (f"{self.name} tiene {total} pedido{'s' if total != 1 else ''}{what}: {states[CLOSED]} "
                f"compra{'s' if states[CLOSED] != 1 else ''} cerrada{'s' if states[CLOSED] != 1 else ''}, "
                f"{open_} abierto{'s' if open_ != 1 else ''} y {ended} cancelado{'s' if ended != 1 else ''} o "
                f"vencido{'s' if ended != 1 else ''}.", {"pedidos": total, "pedidos_por_estado": states})

    async def _productos(self, named: dict[int, str]) -> tuple[str, dict]:
        where = [self.mine, Order.state == CLOSED]
        if named:
            where.append(OrderItem.product_id.in_(list(named)))
        units = func.sum(OrderItem.quantity)
        rows = (await self.session.execute(
            select(OrderItem.product_id, func.max(OrderItem.name), units,
                   func.sum(OrderItem.quantity * OrderItem.unit_price))
            .join(Order, Order.id == OrderItem.order_id).where(*where).group_by(OrderItem.product_id)
            .order_by(units.desc(), OrderItem.product_id).limit(10))).all()
        bought = [{"producto_id": pid, "nombre": name, "unidades": int(n), "gastado": reports.dec(s)}
                  for pid, name, n, s in rows]
        if not bought:
            what = f" {', '.join(named.values())}" if named else " productos"
            return f"{self.name} no ha comprado{what} todavía.", {"productos": []}
        listed = ", ".join(f"{p['unidades']} x {p['nombre']}" for p in bought)
        return f"{self.name} ha comprado: {listed}.", {"productos": bought}

    async def _pendientes(self, named: dict[int, str]) -> tuple[str, dict]:
        found = await self.orders([Order.state.in_(OPEN_STATES), *self.with_products(named)], 10)
        for order in found:
            order.pop("_at")
        if not found:
            return f"{self.name} no tiene pedidos pendientes.", {"pedidos": []}
        listed = "; ".join(f"#{o['id']} ({o['estado']}, {o['total_texto']}: {self.lines(o)})" for o in found)
        n = len(found)
        return (f"{self.name} tiene {n} pedido{'s' if n != 1 else ''} abierto{'s' if n != 1 else ''}: {listed}.",
                {"pedidos": found})

    async def _cuando(self, named: dict[int, str]) -> tuple[str, dict]:
        where = [self.mine, Order.state == CLOSED, *self.with_products(named)]
        first, last, count = (await self.session.execute(
            select(func.min(Order.closed_at), func.max(Order.closed_at), func.count()).where(*where))).one()
        what = f" {await self.sold(named)}" if named else ""
        if not count:
            return f"{self.name} no ha comprado{what or ' nada'} todavía.", {"compras": 0}
        ids = list(await self.session.scalars(select(Order.id).where(*where).order_by(Order.closed_at, Order.id)
                                              .limit(50)))
        used = {"compras": int(count), "primera_compra": views.iso(first), "ultima_compra": views.iso(last),
                "pedidos": ids}
        if count == 1:
            return f"{self.name} compró{what} el {self.day(first)} (pedido #{ids[0]}).", used
        return (f"{self.name} compró{what} {count} veces: la primera el {self.day(first)} y la última el "
                f"{self.day(last)}.", used)
