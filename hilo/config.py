"""Settings: only from ``HILO_*`` environment variables and an optional ``.env``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HILO_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./hilo.db"
    data_dir: Path = Path("./hilo-data")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"

    max_upload_mb: float = 10.0
    run_timeout: float = 60.0
    max_concurrent_runs: int = 64
    context_max_messages: int = 200
    max_tool_rounds: int = 8

    # Model providers
    llm_provider: str = "auto"  # auto | openai | local | scripted
    llm_base_url: str | None = None
    llm_api_key: str | None = Field(default=None, repr=False)
    llm_model: str | None = None
    llm_timeout: float = 60.0
    llm_max_retries: int = 2
    llm_vision: bool = True
    llm_context_tokens: int = 8192
    providers: dict[str, dict] = Field(default_factory=dict)

    local_model_path: Path | None = None
    local_context_tokens: int = 2048
    local_threads: int | None = None

    scripted_file: Path | None = None

    recover_on_start: bool = True

    @field_validator("providers", mode="before")
    @classmethod
    def _parse_providers(cls, value):
        if isinstance(value, str):
            value = value.strip()
            return json.loads(value) if value else {}
        return value or {}

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

@lru_cache
def get_settings() -> Settings:
    return Settings()
