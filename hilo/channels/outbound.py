"""Outbound HTTP calls of the channels, retried with backoff; failures logged without secrets."""

from __future__ import annotations

import asyncio
import logging

import httpx

log = logging.getLogger("hilo.channels")

ATTEMPTS = 4
BACKOFF_S = 0.5  # 0.5, 1, 2 s between attempts
MAX_RETRY_AFTER_S = 10.0


class SendError(Exception):
    """The provider refused or could not be reached after every attempt."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _wait(attempt: int, response: httpx.Response | None) -> float:
    if response is not None:
        after = response.headers.get("retry-after", "")
        if after.isdigit():
            return min(float(after), MAX_RETRY_AFTER_S)
    return BACKOFF_S * 2 ** attempt


async def request(client: httpx.AsyncClient, method: str, url: str, *, what: str,
                  attempts: int | None = None, **kwargs) -> httpx.Response:
    """``what`` names the call in logs (never the URL's credentials or the body)."""
    attempts = attempts or ATTEMPTS
    for attempt in range(attempts):
        response: httpx.Response | None = None
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}"
        else:
            if response.status_code < 400:
                return response
            problem = f"HTTP {response.status_code}"
            if not _retryable(response.status_code):
                log.warning("%s refused: %s %s", what, problem, _excerpt(response))
                raise SendError(f"{what}: {problem}", response.status_code)
        if attempt + 1 < attempts:
            delay = _wait(attempt, response)
            log.info("%s failed (%s); retrying in %.1f s", what, problem, delay)
            await asyncio.sleep(delay)
    log.warning("%s failed after %d attempts: %s", what, attempts, problem)
    raise SendError(f"{what}: {problem}", response.status_code if response is not None else None)


def _excerpt(response: httpx.Response) -> str:
    try:
        return response.text[:200]
    except Exception:  # a body that is not text says nothing useful
        return ""
