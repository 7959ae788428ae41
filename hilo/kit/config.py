"""Settings: only from ``HILO_*`` environment variables and an optional ``.env``."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HILO_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./hilo.db"
    # PostgreSQL connections kept open per worker process (and as many again under bursts).
    db_pool_size: int = Field(default=20, ge=1)
    data_dir: Path = Path("./hilo-data")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    log_format: str = "text"  # text | json (one JSON object per line, with request/thread/run ids)

    # Observability (hilo.kit.observe): README "Operations: metrics, traces and logs"
    metrics: bool = True  # GET /metrics (Prometheus text format)
    metrics_token: str | None = Field(default=None, repr=False)  # set: /metrics needs Bearer <it>
    metrics_port: int | None = Field(default=None, ge=0, le=65535)  # hilo worker's metrics server
    otel_endpoint: str | None = None  # OTLP/HTTP collector base URL, e.g. http://127.0.0.1:4318

    max_upload_mb: float = 10.0
    # Any other request body (JSON, forms): beyond it 413. Multipart uploads use max_upload_mb.
    max_request_mb: float = Field(default=32.0, gt=0)
    # Characters of one /v1 message's content (OpenAI's limit); the facade has max_message_chars.
    max_message_content_chars: int = Field(default=256_000, ge=1)
    run_timeout: float = 60.0
    max_concurrent_runs: int = 64
    context_max_messages: int = 200
    max_tool_rounds: int = 8

    # Model providers
    llm_provider: str = "auto"  # auto | openai | guided | local | scripted
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

    # Packs ("all", "none" or a comma list of pack names) and the guided provider
    packs: str = "all"
    guided_threads: int = Field(0, ge=0, le=64)  # OpenMP threads of the embedding model (0: embedding_threads)
    guided_threshold: float = 0.85  # below this similarity a message gets the help reply

    # Embeddings of vector stores (hilo.knowledge.embeddings): the bundled e5 unless a base URL is set
    embeddings_base_url: str | None = None  # an OpenAI-compatible API, e.g. https://api.openai.com/v1
    embeddings_model: str = "text-embedding-3-small"  # the endpoint's model (with embeddings_base_url)
    embeddings_api_key: str | None = Field(default=None, repr=False)
    # Ingestion of vector store files (hilo.knowledge.ingest): workers per process (0: none here),
    # the lease a worker holds on a file (renewed every third; a dead process's expires), idle poll
    knowledge_workers: int = Field(default=1, ge=0, le=64)
    knowledge_lease_s: float = Field(default=30.0, ge=1.0)
    knowledge_poll_s: float = Field(default=1.0, gt=0)

    # Speech to text (hilo.audio): POST /v1/audio/transcriptions, WhatsApp voice notes.
    # An OpenAI-compatible endpoint (OpenAI, faster-whisper-server, LocalAI) when a base URL is set,
    # else faster-whisper in-process when whisper_model names a local CTranslate2 model directory.
    transcription_base_url: str | None = None  # e.g. https://api.openai.com/v1 or http://127.0.0.1:8001/v1
    transcription_model: str = "whisper-1"  # the endpoint's model name
    transcription_api_key: str | None = Field(default=None, repr=False)
    transcription_timeout: float = Field(default=120.0, gt=0)
    whisper_model: str | None = None  # a directory with model.bin and tokenizer.json; never a hub name
    whisper_threads: int = Field(default=2, ge=1, le=64)  # CPU threads of the in-process model
    max_audio_mb: float = Field(default=25.0, gt=0)  # OpenAI's limit; larger audio: 413
    max_audio_seconds: float = Field(default=1800.0, gt=0)  # decoded length the local model accepts

    # Market data (trading mentor pack): ccxt exchange and ECB reference rates
    crypto_exchange: str = "binance"  # any ccxt exchange id
    crypto_api_url: str | None = None  # replaces the exchange's API host (tests, proxies)
    crypto_quote: str = "USDT"  # quote currency for a bare symbol such as BTC
    forex_api_url: str = "https://api.frankfurter.app"
    price_cache_s: float = 60.0
    market_timeout: float = 10.0
    vision_model: str | None = None  # analyze_image's model; default: the assistant's own
    image_url_allow_private: bool = False  # let analyze_image fetch loopback/private hosts

    admin_token: str | None = Field(default=None, repr=False)  # an admin Bearer token (HILO_AUTH=on)

    # Users and auth (hilo.identity): README "Users, auth and seed 000's REST facade"
    auth: str = "off"  # on | off (off: every request is one local admin; logged loudly)
    jwt_issuer: str | None = None  # e.g. https://securetoken.google.com/<project>
    jwt_audience: str | None = None  # e.g. <project>
    jwt_jwks_url: str | None = None  # Firebase: https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com
    jwt_entitlements_claim: str = "entitlements"  # a list claim, or a boolean claim (premium: true)
    jwt_algorithms: str = "RS256,ES256"
    jwt_leeway_s: float = 30.0
    jwt_jwks_cooldown_s: float = 30.0  # an unknown key id refetches the JWKS at most this often
    auth_cache_s: float = 10.0  # API keys and JWT users stay cached this long
    rate_limit: str = ""  # per principal, e.g. "30/minute"; empty: off
    redis_url: str | None = None
    redis_prefix: str = "hilo"
    # Scale-out (hilo.runtime, hilo.runs.queue): README "Scale-out"
    run_queue: Literal["auto", "local", "redis"] = "auto"  # auto: the Redis queue when HILO_REDIS_URL is set
    execute_runs: bool = True  # hilo serve also executes queued runs (scaled out); false: API only
    run_lease_s: float = 15.0  # a worker renews its runs' leases; a run whose lease ran out ends failed
    history_limit: int = 50  # messages a channel's history returns; the thread keeps all
    max_message_chars: int = 4000  # facade input cap (longer: 400)
    web_session_hours: float = Field(default=12.0, gt=0)  # a web sign-in lasts this long (a JWT's: until its exp)

    # Channels (hilo.channels, hilo.webhooks): README "Channels"
    public_url: str | None = None  # the URL callers see (Twilio signs it), e.g. https://bot.example.com
    ws_assistant: str | None = None  # /ws/assistant/ default: assistant id, "<pack>/<key>" or pack name
    ws_heartbeat_s: float = 20.0  # WebSocket ping frames; 0 = off
    ws_compression: bool = False  # permessage-deflate (~37 KB of zlib state per connection)
    whatsapp_assistant: str | None = None  # who answers WhatsApp (default: the courses pack's)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = Field(default=None, repr=False)
    twilio_from: str | None = None  # e.g. whatsapp:+14155238886 (default: the number written to)
    twilio_api_url: str = "https://api.twilio.com"
    whatsapp_verify_token: str | None = Field(default=None, repr=False)
    whatsapp_app_secret: str | None = Field(default=None, repr=False)
    whatsapp_token: str | None = Field(default=None, repr=False)
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_phone_number_id: str | None = None  # default: the number the message arrived on
    webhook_max_attempts: int = 8
    webhook_timeout_s: float = 10.0
    webhook_retry_base_s: float = 5.0  # then x4 per attempt: 5 s, 20 s, 80 s, ... up to the max
    webhook_retry_max_s: float = 21600.0
    webhook_poll_s: float = 2.0  # how often a replica looks for due deliveries and endpoint changes

    recover_on_start: bool = True

    @property
    def embedding_threads(self) -> int:
        """The bundled embedder's OpenMP threads: ``HILO_GUIDED_THREADS``, or 2 (at most the cores)
        for a process alone, 1 for one of several (scaled out, or ``hilo serve --workers N``, which
        sets it). Two processes each running a 2-thread team on 2 cores wait on each other's
        spinning threads at every barrier: measured here, a query embedding went from p50 8 / p99 15 ms
        alone to p50 30 / p99 190-230 ms, against p50 15 / p99 24-29 ms with one thread each."""
        if self.guided_threads > 0:
            return self.guided_threads
        return 1 if self.redis_url else max(1, min(2, os.cpu_count() or 1))

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("text", "json"):
            raise ValueError("HILO_LOG_FORMAT must be text or json")
        return value

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
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 1024 * 1024)

    @property
    def max_audio_bytes(self) -> int:
        return int(self.max_audio_mb * 1024 * 1024)

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

@lru_cache
def get_settings() -> Settings:
    return Settings()
