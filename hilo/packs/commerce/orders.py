"""Orders and stock: the only code that moves units in or out of ``shop_products.stock``.

An order holds its units from the moment an item is added: the hold is one conditional
statement, ``UPDATE shop_products SET stock = stock - :n WHERE id = :id AND stock >= :n``,
which both SQLite (one writer at a time) and PostgreSQL (the row lock, then the condition
re-checked on the latest row) apply atomically, so no interleaving of requests, workers or
channels can sell a unit twice. A closed sale keeps its units; a cancelled order, or an open one
left untouched past its hold (``HILO_COMMERCE_HOLD_MINUTES``), gives them back. Every state
change is itself conditional on the state it leaves (``UPDATE ... WHERE state IN (...)``), so two
requests racing to confirm and to expire one order cannot both win, and units are released once.

Expired holds are released lazily, before anything reads or takes stock (:func:`sweep`), so
there is no timer to lose on a restart: the first request after the deadline finds the units
back. Each write runs in its own short transaction that starts with a write, retried when
SQLite reports the file busy or PostgreSQL a deadlock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.kit.db.session import Database
from hilo.kit.ids import now
from hilo.packs.commerce.models import (
    CANCELLED,
    CLOSED,
    COLLECTING,
    EXPIRED,
    OPEN_STATES,
    PENDING,
    STARTED,
    Customer,
    Order,
    OrderItem,
    Product,
)
from hilo.packs.commerce.validation import CustomerData

log = logging.getLogger("hilo.packs.commerce")

T = TypeVar("T")
MAX_QUANTITY = 10_000  # per line: more is a typo, not an order
MAX_LINES = 50


class ShopError(Exception):
    """A request the shop cannot honour; ``status`` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str, **details: object):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(ShopError):
    status = 404


class OutOfStock(ShopError):
    """Fewer units are left than asked for (the hold took nothing)."""

    status = 409

    def __init__(self, product: Product | None, product_id: int, requested: int, available: int):
        name = product.name if product is not None else f"#{product_id}"
        if available <= 0:
            text = f"No queda stock de {name}."
        else:
            text = f"Solo quedan {available} unidad{'es' if available != 1 else ''} de {name}."
        super().__init__(text, producto_id=product_id, producto=name, solicitado=requested, disponible=available)
        self.product_id, self.requested, self.available = product_id, requested, available


class StateError(ShopError):
    status = 409


@dataclass(slots=True)
class Line:
    product_id: int
    quantity: int


# ---------------------------------------------------------------- transactions


def _retryable(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text) or (
        isinstance(exc, DBAPIError) and ("deadlock" in text or "could not serialize" in text))


async def transaction(db: Database, work: Callable[[AsyncSession], Awaitable[T]], attempts: int = 8) -> T:
    """``work`` in one transaction, committed; retried when the database asks for it."""
    for attempt in range(attempts):
        async with db.sessionmaker() as session:
            try:
                result = await work(session)
                await session.commit()
                return result
            except (OperationalError, DBAPIError) as exc:
                await session.rollback()
                if not _retryable(exc) or attempt == attempts - 1:
                    raise
            except BaseException:
                # Roll back before anything else runs: closing the session may yield to the
                # event loop first, and SQLite's write lock would be held meanwhile (another
                # request's statement then waits out the busy timeout on the loop thread).
                await session.rollback()
                raise
        await asyncio.sleep(0.005 * (2 ** attempt))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- stock


async def sweep(session: AsyncSession, at: int | None = None) -> int:
    """Expire the open orders whose hold lapsed and give their units back; how many expired."""
    at = now() if at is None else at
    lapsed = list(await session.scalars(
        select(Order.id).where(Order.state.in_(OPEN_STATES), Order.held_until < at).limit(200)))
    expired = 0
    for order_id in lapsed:
        if await _leave(session, order_id, OPEN_STATES, EXPIRED, at, lapsed_before=at):
            expired += 1
    if expired:
        log.info("released the stock of %d abandoned order(s)", expired)
    return expired


async def _leave(session: AsyncSession, order_id: int, states: Iterable[str], to: str, at: int,
                 lapsed_before: int | None = None) -> bool:
    """Move the order out of ``states`` to ``to`` (cancelled/expired), releasing its units; False
    when it was no longer in those states (someone else moved it first)."""
    stmt = update(Order).where(Order.id == order_id, Order.state.in_(tuple(states)))
    if lapsed_before is not None:
        stmt = stmt.where(Order.held_until < lapsed_before)
    moved = await session.execute(stmt.values(state=to, updated_at=at, held_until=None))
    if moved.rowcount != 1:
        return False
    items = (await session.execute(
        select(OrderItem.product_id, func.sum(OrderItem.quantity)).where(OrderItem.order_id == order_id)
        .group_by(OrderItem.product_id).order_by(OrderItem.product_id))).all()
    for product_id, quantity in items:
        await _give_back(session, product_id, int(quantity), at)
    return True


async def _take(session: AsyncSession, product_id: int, quantity: int, at: int) -> Product:
    taken = await session.execute(
        update(Product).where(Product.id == product_id, Product.active.is_(True), Product.stock >= quantity)
        .values(stock=Product.stock - quantity, updated_at=at))
    product = await session.get(Product, product_id, populate_existing=True)
    if taken.rowcount != 1:
        if product is None or not product.active:
            raise NotFoundError(f"No existe un producto disponible con el número {product_id}.",
                                producto_id=product_id)
        raise OutOfStock(product, product_id, quantity, product.stock)
    return product


async def _give_back(session: AsyncSession, product_id: int, quantity: int, at: int) -> None:
    await session.execute(update(Product).where(Product.id == product_id)
                          .values(stock=Product.stock + quantity, updated_at=at))


# ---------------------------------------------------------------- orders


def _held_until(hold_seconds: int, at: int) -> int:
    return at + hold_seconds


async def _order(session: AsyncSession, order_id: int, lock: bool = False) -> Order:
    order = await session.get(Order, order_id, populate_existing=True, with_for_update=lock or None)
    if order is None:
        raise NotFoundError(f"No existe el pedido {order_id}.", pedido_id=order_id)
    return order


async def _touch(session: AsyncSession, order_id: int, states: tuple[str, ...], at: int, hold: int) -> Order:
    """Claim an open order for a change: the first write of the transaction, conditional on its
    state (a lapsed hold cannot be extended; the sweep gets there first)."""
    claimed = await session.execute(
        update(Order).where(Order.id == order_id, Order.state.in_(states), Order.held_until >= at)
        .values(updated_at=at, held_until=_held_until(hold, at)))
    order = await session.get(Order, order_id, populate_existing=True)
    if claimed.rowcount != 1:
        if order is None:
            raise NotFoundError(f"No existe el pedido {order_id}.", pedido_id=order_id)
        if order.state in OPEN_STATES:  # its hold lapsed: release it now
            await _leave(session, order_id, OPEN_STATES, EXPIRED, at, lapsed_before=at)
            raise StateError(f"El pedido {order_id} venció: pasó el tiempo de reserva y se liberó su stock.",
                             pedido_id=order_id, estado=EXPIRED)
        raise StateError(f"El pedido {order_id} ya está {order.state}.", pedido_id=order_id, estado=order.state)
    return order


async def _item_count(session: AsyncSession, order_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(OrderItem)
                                    .where(OrderItem.order_id == order_id)) or 0)


async def _retotal(session: AsyncSession, order: Order) -> None:
    total = await session.scalar(select(func.coalesce(func.sum(OrderItem.quantity * OrderItem.unit_price), 0))
                                 .where(OrderItem.order_id == order.id))
    order.total = Decimal(total or 0)


def _state_for(order: Order, has_items: bool) -> str:
    complete = bool(order.cedula and order.name and order.phone and order.address)
    if not has_items:
        return STARTED
    return PENDING if complete else (COLLECTING if order.state != STARTED or order.cedula or order.name else STARTED)


async def _add_lines(session: AsyncSession, order: Order, lines: list[Line], at: int) -> None:
    for line in sorted(lines, key=lambda item: item.product_id):  # one lock order: no deadlocks
        product = await _take(session, line.product_id, line.quantity, at)
        existing = await session.scalar(select(OrderItem).where(OrderItem.order_id == order.id,
                                                                 OrderItem.product_id == line.product_id))
        if existing is not None:
            existing.quantity += line.quantity
        else:
            session.add(OrderItem(order_id=order.id, product_id=product.id, name=product.name,
                                  quantity=line.quantity, unit_price=product.price))
            order.currency = product.currency
    await session.flush()


def check_lines(lines: list[Line]) -> list[Line]:
    if len(lines) > MAX_LINES:
        raise ShopError(f"Un pedido tiene como máximo {MAX_LINES} productos distintos.")
    merged: dict[int, int] = {}
    for line in lines:
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise ShopError(f"La cantidad debe estar entre 1 y {MAX_QUANTITY}.", producto_id=line.product_id)
        merged[line.product_id] = merged.get(line.product_id, 0) + line.quantity
    return [Line(p, q) for p, q in merged.items()]


async def _save_customer(session: AsyncSession, data: CustomerData, at: int) -> None:
    customer = await session.get(Customer, data.cedula)
    if customer is None:
        session.add(Customer(cedula=data.cedula, name=data.name or "", phone=data.phone, address=data.address,
                             email=data.email, created_at=at, updated_at=at))
    else:
        for name in ("name", "phone", "address", "email"):
            value = getattr(data, name)
            if value:
                setattr(customer, name, value)
        customer.updated_at = at
    await session.flush()


def _apply_customer(order: Order, data: CustomerData) -> None:
    for name in ("cedula", "name", "phone", "address"):
        value = getattr(data, name)
        if value:
            setattr(order, name, value)


class Shop:
    """Orders on one database; ``hold_seconds`` is how long an untouched open order keeps its units."""

    SWEEP_EVERY_S = 1.0  # reads sweep at most this often per process (holds last minutes)

    def __init__(self, db: Database, hold_seconds: int = 1800):
        self.db = db
        self.hold_seconds = hold_seconds
        self._swept = 0.0

    async def sweep(self) -> int:
        """Release lapsed holds before a read shows stock. At most once a second per process:
        a read may show a lapsed order's units as held for that long more (every write that
        takes stock sweeps first, always)."""
        at = time.monotonic()
        if at - self._swept < self.SWEEP_EVERY_S:
            return 0
        self._swept = at
        return await transaction(self.db, sweep)

    async def create(self, lines: list[Line], customer: CustomerData | None = None, *, channel: str = "api",
                     thread_id: str | None = None, user_id: str | None = None) -> Order:
        """A new order holding ``lines`` (all or nothing: :class:`OutOfStock` takes none)."""
        lines = check_lines(lines)

        async def work(session: AsyncSession) -> Order:
            at = now()
            await sweep(session, at)
            order = Order(state=STARTED, total=Decimal(0), currency="COP", channel=channel, thread_id=thread_id,
                          user_id=user_id, created_at=at, updated_at=at, held_until=_held_until(self.hold_seconds, at))
            session.add(order)
            await session.flush()
            await _add_lines(session, order, lines, at)
            if customer is not None and customer.cedula:
                await _save_customer(session, customer, at)
                _apply_customer(order, customer)
            order.state = _state_for(order, bool(lines))
            await _retotal(session, order)
            return order

        return await transaction(self.db, work)

    async def open_order(self, thread_id: str) -> Order | None:
        """The conversation's order in progress (its hold still running), if any."""
        async def work(session: AsyncSession) -> Order | None:
            at = now()
            await sweep(session, at)
            return await session.scalar(select(Order).where(Order.thread_id == thread_id,
                                                            Order.state.in_(OPEN_STATES))
                                        .order_by(Order.id.desc()).limit(1))
        return await transaction(self.db, work)

    async def add(self, order_id: int, lines: list[Line]) -> Order:
        lines = check_lines(lines)

        async def work(session: AsyncSession) -> Order:
            at = now()
            order = await _touch(session, order_id, OPEN_STATES, at, self.hold_seconds)
            await _add_lines(session, order, lines, at)
            count = await _item_count(session, order_id)
            order.state = _state_for(order, bool(count))
            await _retotal(session, order)
            return order

        return await transaction(self.db, work)

    async def set_quantity(self, order_id: int, product_id: int, quantity: int) -> Order:
        """Change a line to ``quantity`` units (0 removes it), holding or releasing the difference."""
        if not 0 <= quantity <= MAX_QUANTITY:
            raise ShopError(f"La cantidad debe estar entre 0 y {MAX_QUANTITY}.")

        async def work(session: AsyncSession) -> Order:
            at = now()
            order = await _touch(session, order_id, OPEN_STATES, at, self.hold_seconds)
            item = await session.scalar(select(OrderItem).where(OrderItem.order_id == order_id,
                                                                 OrderItem.product_id == product_id))
            if item is None:
                if quantity == 0:
                    raise NotFoundError(f"El pedido {order_id} no tiene el producto {product_id}.")
                await _add_lines(session, order, [Line(product_id, quantity)], at)
            elif quantity > item.quantity:
                await _take(session, product_id, quantity - item.quantity, at)
                item.quantity = quantity
            elif quantity < item.quantity:
                await _give_back(session, product_id, item.quantity - quantity, at)
                if quantity == 0:
                    await session.delete(item)
                else:
                    item.quantity = quantity
            await session.flush()
            count = await _item_count(session, order_id)
            order.state = _state_for(order, bool(count))
            await _retotal(session, order)
            return order

        return await transaction(self.db, work)

    async def set_customer(self, order_id: int, data: CustomerData) -> Order:
        """Record the customer's data on the order (and the customer by cédula); complete data
        with items make it ``pendiente``, partial data ``recolectando_datos``."""
        async def work(session: AsyncSession) -> Order:
            at = now()
            order = await _touch(session, order_id, OPEN_STATES, at, self.hold_seconds)
            merged = CustomerData(cedula=data.cedula or order.cedula, name=data.name or order.name,
                                  phone=data.phone or order.phone, address=data.address or order.address,
                                  email=data.email)
            if merged.cedula:  # the customer row first: the order's cédula refers to it
                await _save_customer(session, merged, at)
            _apply_customer(order, data)
            count = await _item_count(session, order_id)
            order.state = PENDING if count and _complete(order) else (COLLECTING if count else STARTED)
            return order

        return await transaction(self.db, work)

    async def collect(self, order_id: int) -> Order:
        """The customer wants to check out: the order starts collecting their data."""
        async def work(session: AsyncSession) -> Order:
            at = now()
            order = await _touch(session, order_id, OPEN_STATES, at, self.hold_seconds)
            count = await _item_count(session, order_id)
            if not count:
                raise StateError("El pedido no tiene productos todavía.", pedido_id=order_id)
            order.state = PENDING if _complete(order) else COLLECTING
            return order

        return await transaction(self.db, work)

    async def confirm(self, order_id: int) -> Order:
        """Close the sale: the held units are sold. Needs items and the customer's data."""
        async def work(session: AsyncSession) -> Order:
            at = now()
            order = await _touch(session, order_id, OPEN_STATES, at, self.hold_seconds)
            count = await _item_count(session, order_id)
            if not count:
                raise StateError("El pedido no tiene productos.", pedido_id=order_id, estado=order.state)
            missing = missing_fields(order)
            if missing:
                raise StateError(f"Faltan datos del cliente: {', '.join(missing)}.", pedido_id=order_id,
                                 estado=order.state, faltan=missing)
            closed = await session.execute(update(Order).where(Order.id == order_id, Order.state.in_(OPEN_STATES))
                                           .values(state=CLOSED, closed_at=at, held_until=None, updated_at=at))
            if closed.rowcount != 1:
                raise StateError(f"El pedido {order_id} ya no está abierto.", pedido_id=order_id)
            return await _order(session, order_id)

        return await transaction(self.db, work)

    async def cancel(self, order_id: int) -> Order:
        async def work(session: AsyncSession) -> Order:
            at = now()
            if not await _leave(session, order_id, OPEN_STATES, CANCELLED, at):
                order = await _order(session, order_id)
                raise StateError(f"El pedido {order_id} ya está {order.state}: no se puede cancelar.",
                                 pedido_id=order_id, estado=order.state)
            return await _order(session, order_id)

        return await transaction(self.db, work)


def _complete(order: Order) -> bool:
    return not missing_fields(order)


FIELD_NAMES = {"name": "nombre", "cedula": "cédula", "phone": "teléfono", "address": "dirección"}


def missing_fields(order: Order) -> list[str]:
    return [label for name, label in FIELD_NAMES.items() if not getattr(order, name)]


async def items_of(session: AsyncSession, order_ids: list[int]) -> dict[int, list[OrderItem]]:
    found: dict[int, list[OrderItem]] = {i: [] for i in order_ids}
    if order_ids:
        for item in await session.scalars(select(OrderItem).where(OrderItem.order_id.in_(order_ids))
                                          .order_by(OrderItem.order_id, OrderItem.id)):
            found[item.order_id].append(item)
    return found
