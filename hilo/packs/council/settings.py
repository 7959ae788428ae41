"""The council's settings: ``HILO_COUNCIL_*`` environment variables (or ``.env``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CouncilSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HILO_COUNCIL_", env_file=".env", extra="ignore")

    # the exchange ccxt reads bars, tickers and books from (public endpoints: no key needed)
    exchange: str = "binance"
    # another base URL for that exchange's API (a mirror, or a local fake in tests)
    exchange_url: str | None = None
    exchange_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # what the council watches when a user has not chosen: symbols and bar size
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT"])
    timeframe: str = "1h"
    # bars read for one decision (indicators need 200 to warm up)
    lookback: int = Field(default=300, ge=60, le=5000)
    # a new user's paper account
    starting_cash: float = Field(default=10_000.0, gt=0)
    currency: str = "USDT"
    fee_bps: float = Field(default=10.0, ge=0, le=500)
    slippage_bps: float = Field(default=5.0, ge=0, le=500)
    # real orders: only with this switch on AND exchange keys stored (and the user's own switch)
    live_trading: bool = False
    # the Fernet key that encrypts exchange keys at rest (generate: hilo council keygen)
    secret_key: SecretStr | None = None
    # schedules: the monitor every N seconds, the learning job daily at this UTC hour
    schedules: bool = True
    monitor_every_s: int = Field(default=60, ge=5, le=3600)
    learning_hour_utc: int = Field(default=0, ge=0, le=23)
    job_retries: int = Field(default=2, ge=0, le=10)
    # a whsec_ secret: signed approval webhooks (POST /council/webhooks/approval) resolve decisions
    approval_secret: SecretStr | None = None
    # a pending (escalated) decision expires after this many minutes without an answer
    approval_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    # optional news and social sentiment endpoint (JSON); none: the offline adapter says so
    news_url: str | None = None

    @field_validator("symbols", mode="before")
    @classmethod
    def _comma_list(cls, value):
        if isinstance(value, str) and not value.strip().startswith("["):
            return [s.strip().upper() for s in value.split(",") if s.strip()]
        return value
