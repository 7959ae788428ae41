"""The shop's tables: products, customers, orders and their items, and the catalogue search log.

They have their own metadata: hilo's core migrations never see them. Money is ``Numeric``
(never a float in storage); times are epoch seconds like the rest of hilo.

Stock is what can still be sold: an order *holds* units by taking them from ``stock`` in one
conditional ``UPDATE`` (see :mod:`hilo.packs.commerce.orders`), a closed sale keeps them, a
cancelled or expired order gives them back.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hilo.kit.db.base import NAMING

# The seed's states, in the order a sale goes through them, and the two ways an order ends unsold.
STARTED, COLLECTING, PENDING, CLOSED = "iniciada", "recolectando_datos", "pendiente", "cerrada"
CANCELLED, EXPIRED = "cancelada", "expirada"
OPEN_STATES = (STARTED, COLLECTING, PENDING)
STATES = (*OPEN_STATES, CLOSED, CANCELLED, EXPIRED)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Product(Base):
    __tablename__ = "shop_products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(80))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="COP")
    stock: Mapped[int] = mapped_column(Integer, default=0)  # units that can still be sold
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # multilingual-e5 vector of the product's text (float32 bytes) and the hash of that text
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_key: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        Index("ix_shop_products_category", "category"),
    )


class Customer(Base):
    __tablename__ = "shop_customers"
    cedula: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(240))
    email: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class Order(Base):
    __tablename__ = "shop_orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(20), default=STARTED)
    cedula: Mapped[str | None] = mapped_column(ForeignKey("shop_customers.cedula"))
    # the customer's data as given in this order (the customer row keeps the latest)
    name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(240))
    total: Mapped[Decimal] = mapped_column(Numeric(16, 2), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="COP")
    channel: Mapped[str] = mapped_column(String(20), default="api")  # api, chat, whatsapp, websocket, v1
    thread_id: Mapped[str | None] = mapped_column(String(64))  # the conversation that made it
    user_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    held_until: Mapped[int | None] = mapped_column(BigInteger)  # open orders: when the hold lapses
    closed_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_shop_orders_state_held", "state", "held_until"),
        Index("ix_shop_orders_thread", "thread_id"),
        Index("ix_shop_orders_cedula", "cedula"),
        Index("ix_shop_orders_closed", "closed_at"),
    )


class OrderItem(Base):
    __tablename__ = "shop_order_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_orders.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("shop_products.id"))
    name: Mapped[str] = mapped_column(String(200))  # as sold
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 2))

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_shop_order_items_order", "order_id"),
        Index("ix_shop_order_items_product", "product_id"),
    )


class SearchLog(Base):
    """One catalogue search of a conversation: what was asked and which products came back."""

    __tablename__ = "shop_search_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    thread_id: Mapped[str | None] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(String(500))
    product_ids: Mapped[str] = mapped_column(String(400))  # "12,7,3", best first
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_shop_search_log_created", "created_at"),)


class Meta(Base):
    """Counters of the shop: ``catalog_version`` is bumped with every change of a product's text."""

    __tablename__ = "shop_meta"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
