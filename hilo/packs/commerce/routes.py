"""Seed 002's shop endpoints: ``/productos/``, ``/pedidos/`` and ``/ventas/``.

Every answer is the seed's envelope: ``{"success": true, ...}`` or ``{"success": false, "error":
"..."}`` with the right status (:class:`~hilo.channels.facade.FacadeRoute`). Reading the catalogue
needs any caller; creating an order needs a caller, and the order is theirs (an admin sees every
order); changing the catalogue and listing orders and sales need the admin scope.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hilo.api.deps import PrincipalDep, require_admin
from hilo.channels.facade import FacadeError, FacadeRoute
from hilo.identity import Principal
from hilo.kit.ids import now
from hilo.packs.commerce import catalog, views
from hilo.packs.commerce.models import CLOSED, STATES, Order, Product
from hilo.packs.commerce.orders import Line, ShopError, items_of, transaction
from hilo.packs.commerce.settings import shop_for
from hilo.packs.commerce.validation import validate

MAX_ID = 2**31 - 1
ProductId = Annotated[int, Path(ge=1, le=MAX_ID)]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=2**62)]
State = Literal[STATES]  # type: ignore[valid-type]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProductIn(_Body):
    nombre: str = Field(min_length=2, max_length=200)
    descripcion: str = Field(default="", max_length=5000)
    precio: Decimal = Field(ge=0, le=Decimal("999999999999"), decimal_places=2)
    stock: int = Field(default=0, ge=0, le=10_000_000)
    categoria: str = Field(min_length=2, max_length=80)
    sku: str | None = Field(default=None, max_length=40)
    moneda: str = Field(default="COP", pattern="^[A-Z]{3}$")


class ProductPatch(_Body):
    nombre: str | None = Field(default=None, min_length=2, max_length=200)
    descripcion: str | None = Field(default=None, max_length=5000)
    precio: Decimal | None = Field(default=None, ge=0, le=Decimal("999999999999"), decimal_places=2)
    stock: int | None = Field(default=None, ge=0, le=10_000_000)
    categoria: str | None = Field(default=None, min_length=2, max_length=80)
    activo: bool | None = None


class CustomerIn(_Body):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    cedula: str = Field(max_length=20)
    nombre: str = Field(max_length=120)
    telefono: str = Field(max_length=20)
    direccion: str = Field(max_length=240)
    email: str | None = Field(default=None, max_length=200)


class ItemIn(_Body):
    producto_id: int = Field(ge=1, le=MAX_ID)
    cantidad: int = Field(default=1, ge=1, le=10_000)


class OrderIn(_Body):
    cliente: CustomerIn | None = None
    items: list[ItemIn] = Field(min_length=1, max_length=50)


def _fail(exc: ShopError) -> FacadeError:
    return FacadeError(exc.status, exc.message, **exc.details)


def _db(request: Request):
    return request.app.state.db


router = APIRouter(tags=["shop (seed 002)"], route_class=FacadeRoute)


# ---------------------------------------------------------------- products


@router.get("/productos/")
async def list_products(request: Request, _caller: PrincipalDep,
                        q: Annotated[str | None, Query(max_length=300, description="Qué busca el cliente")] = None,
                        categoria: Annotated[str | None, Query(max_length=80)] = None,
                        precio_max: Annotated[float | None, Query(gt=0, lt=1e13)] = None,
                        en_stock: bool = False, limit: Limit = 20, offset: Offset = 0):
    """The catalogue: with ``q``, the hybrid search's best matches (no offset); else by id."""
    db = _db(request)
    await shop_for(db)[0].sweep()
    if q and q.strip():
        found = await catalog.search(db, request.app.state.settings, q, category=categoria, max_price=precio_max,
                                     in_stock=en_stock, limit=limit)
        return {"success": True, "productos": [views.product(f.product) | {"relevancia": round(f.score, 4)}
                                               for f in found],
                "total": len(found), "limit": limit, "offset": 0, "q": q.strip()}
    where = catalog.filters(categoria, precio_max, en_stock)
    async with db.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(Product).where(*where))
        rows = await session.scalars(select(Product).where(*where).order_by(Product.id).limit(limit).offset(offset))
        return {"success": True, "productos": [views.product(p) for p in rows], "total": total,
                "limit": limit, "offset": offset}


@router.get("/productos/categorias")
async def categories(request: Request, _caller: PrincipalDep):
    async with _db(request).sessionmaker() as session:
        rows = (await session.execute(select(Product.category, func.count()).where(Product.active.is_(True))
                                      .group_by(Product.category).order_by(Product.category))).all()
    return {"success": True, "categorias": [{"nombre": c, "productos": n} for c, n in rows]}


@router.get("/productos/{producto_id}")
async def get_product(request: Request, producto_id: ProductId, _caller: PrincipalDep):
    db = _db(request)
    await shop_for(db)[0].sweep()
    async with db.sessionmaker() as session:
        found = await session.get(Product, producto_id)
    if found is None:
        raise FacadeError(404, f"No existe el producto {producto_id}.")
    return {"success": True, "producto": views.product(found)}


@router.post("/productos/", status_code=201, dependencies=[Depends(require_admin)])
async def create_product(request: Request, body: ProductIn):
    async def work(session):
        at = now()
        item = Product(sku=body.sku or None, name=body.nombre, description=body.descripcion, category=body.categoria,
                       price=body.precio, currency=body.moneda, stock=body.stock, active=True,
                       created_at=at, updated_at=at)
        session.add(item)
        await catalog.ensure_vectors(session, request.app.state.settings, [item])
        await catalog.bump_version(session)
        await session.flush()
        return item

    try:
        created = await transaction(_db(request), work)
    except IntegrityError:
        raise FacadeError(409, f"Ya existe un producto con el código {body.sku}.") from None
    return {"success": True, "producto": views.product(created)}


@router.patch("/productos/{producto_id}", dependencies=[Depends(require_admin)])
async def update_product(request: Request, producto_id: ProductId, body: ProductPatch):
    """Change a product; ``stock`` sets the units that can still be sold (held units stay held)."""
    names = {"nombre": "name", "descripcion": "description", "precio": "price", "stock": "stock",
             "categoria": "category", "activo": "active"}
    changes = {names[k]: v for k, v in body.model_dump(exclude_unset=True).items()}
    if any(v is None for v in changes.values()):
        raise FacadeError(400, "Los campos no pueden ser null.")

    async def work(session):
        found = await session.get(Product, producto_id, with_for_update=True)
        if found is None:
            raise FacadeError(404, f"No existe el producto {producto_id}.")
        for name, value in changes.items():
            setattr(found, name, value)
        found.updated_at = now()
        if {"name", "description", "category", "active"} & set(changes):
            await catalog.ensure_vectors(session, request.app.state.settings, [found])
            await catalog.bump_version(session)
        await session.flush()
        return found

    return {"success": True, "producto": views.product(await transaction(_db(request), work))}


# ---------------------------------------------------------------- orders


def _may_see(caller: Principal, found: Order) -> bool:
    return caller.is_admin or (caller.user_id is not None and found.user_id == caller.user_id)


async def _order_view(db, order_id: int) -> dict:
    async with db.sessionmaker() as session:
        found = await session.get(Order, order_id)
        items = (await items_of(session, [order_id]))[order_id]
    return views.order(found, items)


@router.post("/pedidos/", status_code=201)
async def create_order(request: Request, body: OrderIn, caller: PrincipalDep):
    """An order holding its stock: 201 with its ``id`` and ``estado``, or 409 naming the product
    and what is left (nothing is held then)."""
    data = None
    if body.cliente is not None:
        data, errors = validate({"cedula": body.cliente.cedula, "name": body.cliente.nombre,
                                 "phone": body.cliente.telefono, "address": body.cliente.direccion,
                                 "email": body.cliente.email})
        if errors:
            raise FacadeError(400, " ".join(errors.values()), campos=sorted(errors))
    shop, _settings = shop_for(_db(request))
    try:
        created = await shop.create([Line(i.producto_id, i.cantidad) for i in body.items], data, channel="api",
                                    user_id=caller.user_id)
    except ShopError as exc:
        raise _fail(exc) from None
    return {"success": True, "pedido": await _order_view(_db(request), created.id), "id": created.id,
            "estado": created.state}


async def _owned(request: Request, caller: Principal, order_id: int) -> None:
    async with _db(request).sessionmaker() as session:
        found = await session.get(Order, order_id)
    if found is None or not _may_see(caller, found):
        raise FacadeError(404, f"No existe el pedido {order_id}.")


@router.get("/pedidos/{pedido_id}")
async def get_order(request: Request, pedido_id: OrderId, caller: PrincipalDep):
    await shop_for(_db(request))[0].sweep()
    await _owned(request, caller, pedido_id)
    return {"success": True, "pedido": await _order_view(_db(request), pedido_id)}


@router.post("/pedidos/{pedido_id}/confirmar")
async def confirm_order(request: Request, pedido_id: OrderId, caller: PrincipalDep):
    """Close the sale (``estado`` ``cerrada``): its held units are sold."""
    await _owned(request, caller, pedido_id)
    try:
        closed = await shop_for(_db(request))[0].confirm(pedido_id)
    except ShopError as exc:
        raise _fail(exc) from None
    return {"success": True, "pedido": await _order_view(_db(request), closed.id), "id": closed.id,
            "estado": closed.state}


@router.post("/pedidos/{pedido_id}/cancelar")
async def cancel_order(request: Request, pedido_id: OrderId, caller: PrincipalDep):
    """Cancel an open order: its units go back to stock."""
    await _owned(request, caller, pedido_id)
    try:
        cancelled = await shop_for(_db(request))[0].cancel(pedido_id)
    except ShopError as exc:
        raise _fail(exc) from None
    return {"success": True, "pedido": await _order_view(_db(request), cancelled.id), "id": cancelled.id,
            "estado": cancelled.state}


async def order_page(request: Request, where: list, limit: int, offset: int, newest_by=Order.id) -> dict:
    db = _db(request)
    await shop_for(db)[0].sweep()
    async with db.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(Order).where(*where))
        amount = await session.scalar(select(func.coalesce(func.sum(Order.total), 0)).where(*where))
        rows = list(await session.scalars(select(Order).where(*where).order_by(newest_by.desc(), Order.id.desc())
                                          .limit(limit).offset(offset)))
        items = await items_of(session, [o.id for o in rows])
    return {"total": total, "monto_total": views.money(Decimal(amount or 0)), "limit": limit, "offset": offset,
            "data": [views.order(o, items[o.id]) for o in rows]}


def order_filters(request: Request, estado: str | None, cedula: str | None, desde: date | None,
                  hasta: date | None, by=Order.created_at) -> list:
    _shop, settings = shop_for(_db(request))
    low, high = views.day_bounds(desde, hasta, settings.timezone)
    if desde and hasta and desde > hasta:
        raise FacadeError(400, "fecha_desde no puede ser posterior a fecha_hasta.")
    return [c for c in (Order.state == estado if estado else None, Order.cedula == cedula if cedula else None,
                        by >= low if low is not None else None, by < high if high is not None else None)
            if c is not None]


@router.get("/pedidos/", dependencies=[Depends(require_admin)])
async def list_orders(request: Request, estado: State | None = None,
                      cedula: Annotated[str | None, Query(max_length=12)] = None,
                      fecha_desde: date | None = None, fecha_hasta: date | None = None,
                      limit: Limit = 20, offset: Offset = 0):
    """Orders, newest first, by state, customer and creation date (the shop's days)."""
    page = await order_page(request, order_filters(request, estado, cedula, fecha_desde, fecha_hasta), limit, offset)
    return {"success": True, "pedidos": page.pop("data"), **page}


@router.get("/ventas/", dependencies=[Depends(require_admin)])
async def list_sales(request: Request, cedula: Annotated[str | None, Query(max_length=12)] = None,
                     fecha_desde: date | None = None, fecha_hasta: date | None = None,
                     limit: Limit = 20, offset: Offset = 0):
    """Closed sales, newest first, by customer and closing date, with their total amount."""
    where = [Order.state == CLOSED, *order_filters(request, None, cedula, fecha_desde, fecha_hasta, Order.closed_at)]
    page = await order_page(request, where, limit, offset, Order.closed_at)
    return {"success": True, "ventas": page.pop("data"), **page}
