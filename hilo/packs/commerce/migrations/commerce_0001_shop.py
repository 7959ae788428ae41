"""The shop: products, customers, orders with their items, the catalogue search log and version.

Revision ID: commerce_0001
Depends on: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "commerce_0001"
down_revision = None
branch_labels = ("commerce",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "shop_products",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sku", sa.String(40), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.String(80), nullable=False),
        sa.Column("price", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stock", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=True),
        sa.Column("embedding_key", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_shop_products"),
        sa.UniqueConstraint("sku", name="uq_shop_products_sku"),
        sa.CheckConstraint("stock >= 0", name="ck_shop_products_stock_not_negative"),
        sa.CheckConstraint("price >= 0", name="ck_shop_products_price_not_negative"),
    )
    op.create_index("ix_shop_products_category", "shop_products", ["category"])
    op.create_table(
        "shop_customers",
        sa.Column("cedula", sa.String(12), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("address", sa.String(240), nullable=True),
        sa.Column("email", sa.String(200), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("cedula", name="pk_shop_customers"),
    )
    op.create_table(
        "shop_orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("cedula", sa.String(12), nullable=True),
        sa.Column("name", sa.String(120), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("address", sa.String(240), nullable=True),
        sa.Column("total", sa.Numeric(16, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("thread_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("held_until", sa.BigInteger, nullable=True),
        sa.Column("closed_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_shop_orders"),
        sa.ForeignKeyConstraint(["cedula"], ["shop_customers.cedula"],
                                name="fk_shop_orders_cedula_shop_customers"),
    )
    op.create_index("ix_shop_orders_state_held", "shop_orders", ["state", "held_until"])
    op.create_index("ix_shop_orders_thread", "shop_orders", ["thread_id"])
    op.create_index("ix_shop_orders_cedula", "shop_orders", ["cedula"])
    op.create_index("ix_shop_orders_closed", "shop_orders", ["closed_at"])
    op.create_table(
        "shop_order_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.Integer, nullable=False),
        sa.Column("product_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(14, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shop_order_items"),
        sa.ForeignKeyConstraint(["order_id"], ["shop_orders.id"], ondelete="CASCADE",
                                name="fk_shop_order_items_order_id_shop_orders"),
        sa.ForeignKeyConstraint(["product_id"], ["shop_products.id"],
                                name="fk_shop_order_items_product_id_shop_products"),
        sa.CheckConstraint("quantity > 0", name="ck_shop_order_items_quantity_positive"),
    )
    op.create_index("ix_shop_order_items_order", "shop_order_items", ["order_id"])
    op.create_index("ix_shop_order_items_product", "shop_order_items", ["product_id"])
    op.create_table(
        "shop_search_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("thread_id", sa.String(64), nullable=True),
        sa.Column("query", sa.String(500), nullable=False),
        sa.Column("product_ids", sa.String(400), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shop_search_log"),
    )
    op.create_index("ix_shop_search_log_created", "shop_search_log", ["created_at"])
    op.create_table(
        "shop_meta",
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_shop_meta"),
    )


def downgrade() -> None:
    for table in ("shop_meta", "shop_search_log", "shop_order_items", "shop_orders", "shop_customers", "shop_products"):
        op.drop_table(table)
