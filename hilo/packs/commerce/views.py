"""The shop's JSON: Spanish field names as in seed 002, money as numbers plus a written form."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from hilo.nlu.numbers import format_money
from hilo.packs.commerce.models import Customer, Order, OrderItem, Product


def money(value: Decimal | float | int) -> float | int:
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def money_text(value: Decimal | float | int, currency: str = "COP") -> str:
    return _money_text(str(Decimal(value)), currency)


@lru_cache(maxsize=8192)
def _money_text(value: str, currency: str) -> str:  # prices repeat: Babel's formatting costs ~0.2 ms
    amount = Decimal(value)
    text = format_money(amount, currency, "es-CO", None if amount == amount.to_integral_value() else 2)
    return text if currency in text else f"{text} {currency}"


def iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def product(p: Product) -> dict[str, Any]:
    return {"id": p.id, "sku": p.sku, "nombre": p.name, "descripcion": p.description, "categoria": p.category,
            "precio": money(p.price), "precio_texto": money_text(p.price, p.currency), "moneda": p.currency,
            "stock": p.stock, "disponible": p.active and p.stock > 0, "activo": p.active,
            "actualizado": iso(p.updated_at)}


def item(i: OrderItem) -> dict[str, Any]:
    subtotal = i.unit_price * i.quantity
    return {"producto_id": i.product_id, "nombre": i.name, "cantidad": i.quantity,
            "precio_unitario": money(i.unit_price), "subtotal": money(subtotal)}


def order(o: Order, items: list[OrderItem]) -> dict[str, Any]:
    return {"id": o.id, "estado": o.state, "cliente": {"cedula": o.cedula, "nombre": o.name, "telefono": o.phone,
                                                        "direccion": o.address},
            "items": [item(i) for i in items], "total": money(o.total), "total_texto": money_text(o.total, o.currency),
            "moneda": o.currency, "canal": o.channel, "creado": iso(o.created_at), "actualizado": iso(o.updated_at),
            "reservado_hasta": iso(o.held_until), "cerrado": iso(o.closed_at)}


def customer(c: Customer) -> dict[str, Any]:
    return {"cedula": c.cedula, "nombre": c.name, "telefono": c.phone, "direccion": c.address, "email": c.email,
            "creado": iso(c.created_at), "actualizado": iso(c.updated_at)}


def day_bounds(start: date | None, end: date | None, tz: str) -> tuple[int | None, int | None]:
    """Epoch seconds of the first instant of ``start`` and the instant after ``end``, in the shop's zone."""
    zone = ZoneInfo(tz)
    low = int(datetime.combine(start, time.min, zone).timestamp()) if start else None
    high = None
    if end:
        high = int(datetime.combine(end, time.min, zone).timestamp()) + 86400
    return low, high
