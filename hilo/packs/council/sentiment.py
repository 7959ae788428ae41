"""News and social sentiment for the fundamental analyst, behind one small adapter.

hilo ships no news or social feed, and an analyst must never read a made-up score as if it
were one: :class:`OfflineSentiment`, the default, says plainly that there is none
(``available: False``, every score ``None``). :class:`HttpSentiment` reads a JSON endpoint the
operator configures (``GET {url}?symbol=BTC/USDT`` answering ``{"news_sentiment": x,
"social_sentiment": y}``, each in [-1, 1]); a failing or malformed endpoint gives the offline
answer with the reason, so a decision is never blocked by a feed. The keys are the seed's.
"""

from __future__ import annotations

import math
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

OFFLINE_NOTE = ("Sin fuente de noticias ni redes configurada: el análisis fundamental usa solo "
                "datos de mercado.")
SCORES = ("news_sentiment", "social_sentiment")


class SentimentSource(Protocol):
    async def sentiment(self, symbol: str) -> dict[str, Any]: ...


def offline_answer(note: str = OFFLINE_NOTE) -> dict[str, Any]:
    return {"available": False, "news_sentiment": None, "social_sentiment": None,
            "combined_score": None, "note": note}


class OfflineSentiment:
    """No feed: the answer says so."""

    async def sentiment(self, symbol: str) -> dict[str, Any]:
        return offline_answer()


class SentimentError(ValueError):
    """An endpoint's answer that is not usable sentiment; the message says why."""


def parse_scores(body: Any) -> dict[str, float | None]:
    """The two scores of an endpoint's JSON answer: numbers in [-1, 1] or null, at least one."""
    if not isinstance(body, dict):
        raise SentimentError("la respuesta no es un objeto JSON")
    scores: dict[str, float | None] = {}
    for key in SCORES:
        value = body.get(key)
        if value is None:
            scores[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SentimentError(f"{key} no es un número")
        number = float(value)
        if math.isnan(number) or not -1.0 <= number <= 1.0:
            raise SentimentError(f"{key} = {number:g} está fuera de [-1, 1]")
        scores[key] = number
    if all(v is None for v in scores.values()):
        raise SentimentError("no trae news_sentiment ni social_sentiment")
    return scores


class HttpSentiment:
    """Sentiment from a configured JSON endpoint; the note names its host, never its query
    (which may carry a token)."""

    def __init__(self, url: str, timeout: float = 5.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"sentiment URL must be http(s)://host/...: {parts.scheme or 'no scheme'}")
        self.url = url
        self.host = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.timeout = timeout

    async def sentiment(self, symbol: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                # the URL's own query (a token) is kept: httpx's params= would replace it
                response = await client.get(httpx.URL(self.url).copy_merge_params({"symbol": symbol}))
            if response.status_code != 200:
                raise SentimentError(f"HTTP {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                raise SentimentError("la respuesta no es JSON") from None
            scores = parse_scores(body)
        except httpx.TimeoutException:
            return offline_answer(self._failed(f"no respondió en {self.timeout:g} s"))
        except httpx.HTTPError as exc:
            return offline_answer(self._failed(f"no se pudo conectar: {type(exc).__name__}"))
        except SentimentError as exc:
            return offline_answer(self._failed(str(exc)))
        present = [v for v in scores.values() if v is not None]
        return {"available": True, **scores, "combined_score": sum(present) / len(present),
                "note": f"Sentimiento de {self.host}.", "source": self.host}

    def _failed(self, reason: str) -> str:
        return (f"La fuente de sentimiento {self.host} falló ({reason}): el análisis fundamental "
                "usa solo datos de mercado.")


def sentiment_source(url: str | None, timeout: float = 5.0) -> SentimentSource:
    """The configured source: :class:`HttpSentiment` for a URL, else :class:`OfflineSentiment`."""
    return HttpSentiment(url, timeout) if url and url.strip() else OfflineSentiment()
