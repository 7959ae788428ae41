"""The shop's settings: ``HILO_COMMERCE_*`` environment variables (or ``.env``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hilo.kit.db.session import Database
from hilo.packs.commerce.orders import Shop


class CommerceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HILO_COMMERCE_", env_file=".env", extra="ignore")

    # how long an open order keeps its units without activity before they go back to stock
    hold_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)
    # a product at or below this stock is "low" on the dashboard
    low_stock: int = Field(default=5, ge=0)
    # the shop's days (sales by day, date filters) are counted in this time zone
    timezone: str = "America/Bogota"
    # seed the demo shop ("Tienda Hilo") on a database with no products
    demo: bool = True
    # the assistant that answers /chat/* (an asst_ id or a pack key); default commerce/vendedor
    assistant: str | None = None


_shops: dict[int, tuple[Shop, CommerceSettings]] = {}


def shop_for(db: Database) -> tuple[Shop, CommerceSettings]:
    """The shop of a database in this process, with the settings read when it was first used."""
    found = _shops.get(id(db))
    if found is None or found[0].db is not db:
        settings = CommerceSettings()
        found = _shops[id(db)] = (Shop(db, int(settings.hold_minutes * 60)), settings)
    return found
