"""Per-principal request limits through the ``limits`` library, in memory or in Redis."""

from __future__ import annotations

import logging
import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from hilo.kit.config import Settings
from hilo.kit.errors import RateLimited

log = logging.getLogger("hilo.identity")


class RateLimiter:
    def __init__(self, spec: str, redis_url: str | None = None, prefix: str = "hilo"):
        self.spec = spec
        self.item = parse(spec)
        self._pool = None
        if redis_url:
            from redis.asyncio import ConnectionPool

            self._pool = ConnectionPool.from_url(redis_url)  # ours, so that shutdown closes it
            storage = RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix=f"{prefix}:rate",
                                   connection_pool=self._pool)
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self._warned = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        spec = (settings.rate_limit or "").strip()
        return cls(spec, settings.redis_url, settings.redis_prefix) if spec else None

    async def hit(self, key: str) -> None:
        """Count one request; 429 with Retry-After beyond the limit."""
        try:
            if await self.limiter.hit(self.item, key):
                return
            stats = await self.limiter.get_window_stats(self.item, key)
        except Exception as exc:  # a rate-limit store outage must not take the API down
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                log.warning("rate limiting skipped: the store failed: %s", exc)
            return
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"Rate limit reached: {self.spec} per user (HILO_RATE_LIMIT). "
                            f"Please try again in {retry}s.",
                          code="rate_limit_exceeded", headers={"Retry-After": str(retry)})

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()
