"""An OpenAI-compatible transcription endpoint: ``POST {base}/audio/transcriptions`` (multipart),
as OpenAI's API, faster-whisper-server and LocalAI speak it, through the official ``openai`` SDK
(``AsyncOpenAI``, on ``httpx2``).

Configured by ``HILO_TRANSCRIPTION_BASE_URL``, ``HILO_TRANSCRIPTION_MODEL`` (the endpoint's model,
whatever the caller named) and ``HILO_TRANSCRIPTION_API_KEY``. Every failure becomes
:class:`~hilo.audio.base.TranscriptionUnavailable` (or :class:`~hilo.audio.base.InvalidAudio` when
the endpoint refused the audio itself) with a message that names the endpoint by its URL without
credentials and never holds the key: an endpoint's own message is included only after the key is
cut out of it, and not at all for a refused key (OpenAI's 401 echoes part of it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from hilo.audio.base import InvalidAudio, Segment, Transcript, TranscriptionUnavailable, safe_url

__all__ = ["EndpointTranscriber", "aclose", "endpoint_for"]

log = logging.getLogger("hilo.audio")

MIME = {"wav": "audio/wav", "ogg": "audio/ogg", "flac": "audio/flac", "mp3": "audio/mpeg", "mp4": "audio/mp4",
        "webm": "audio/webm", "amr": "audio/amr"}


class EndpointTranscriber:
    name = "endpoint"

    def __init__(self, base_url: str, model: str, api_key: str | None, *, timeout: float = 120.0,
                 max_retries: int = 2) -> None:
        self.base_url = base_url.rstrip("/")
        self.shown_url = safe_url(self.base_url)
        self.model = model
        self._api_key = api_key or "none"  # the SDK wants a key; local servers ignore it
        self._timeout = float(timeout)
        self._max_retries = max(0, int(max_retries))
        self._clients: dict[int, Any] = {}  # one SDK client per event loop (its connections are the loop's)
        self._lock = threading.Lock()

    def _sdk(self):
        loop = asyncio.get_running_loop()
        with self._lock:
            for key in [k for k, (old, _client) in self._clients.items() if old.is_closed()]:
                del self._clients[key]  # a stopped loop's client: its connections died with it
            found = self._clients.get(id(loop))
            if found is None or found[0] is not loop:
                from openai import AsyncOpenAI

                found = (loop, AsyncOpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self._timeout,
                                           max_retries=self._max_retries))
                self._clients[id(loop)] = found
            return found[1]

    def _scrub(self, text: str) -> str:
        text = " ".join(str(text).split())[:300]
        if self._api_key and self._api_key != "none":
            text = text.replace(self._api_key, "***")
        return text.replace(self.base_url, self.shown_url)

    async def transcribe(self, data: bytes, filename: str, kind: str, *, content_type: str | None = None,
                         language: str | None = None, prompt: str | None = None,
                         temperature: float | None = None, segments: bool = False) -> Transcript:
        import openai

        options: dict[str, Any] = {}
        if language:
            options["language"] = language
        if prompt:
            options["prompt"] = prompt
        if temperature is not None:
            options["temperature"] = temperature
        mime = content_type if content_type and content_type.startswith(("audio/", "video/")) else MIME[kind]
        where = f"the transcription endpoint {self.shown_url}"
        try:
            answer = await self._sdk().audio.transcriptions.create(
                file=(filename, data, mime), model=self.model,
                response_format="verbose_json" if segments else "json", **options)
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in (401, 403):
                raise TranscriptionUnavailable(
                    f"{where} refused the API key (HTTP {status}): check HILO_TRANSCRIPTION_API_KEY.") from None
            if status == 404:
                raise TranscriptionUnavailable(
                    f"{where} answered HTTP 404 for model '{self.model}': HILO_TRANSCRIPTION_BASE_URL is the API's "
                    "base (usually ending in /v1) and HILO_TRANSCRIPTION_MODEL a model it serves.") from None
            message = self._scrub(_message(exc))
            if status in (400, 413, 415, 422):
                raise InvalidAudio(f"{where} refused the audio: {message}", param=None) from None
            raise TranscriptionUnavailable(f"{where} answered HTTP {status}: {message}") from None
        except openai.APITimeoutError:
            raise TranscriptionUnavailable(f"{where} did not answer within {self._timeout:g} s "
                                           "(HILO_TRANSCRIPTION_TIMEOUT).") from None
        except openai.APIConnectionError:
            raise TranscriptionUnavailable(f"{where} could not be reached.") from None
        except openai.OpenAIError as exc:  # an answer the SDK could not read
            raise TranscriptionUnavailable(f"{where} gave an answer hilo could not read: "
                                           f"{type(exc).__name__}.") from None
        return self._transcript(answer, language, where)

    def _transcript(self, answer: Any, language: str | None, where: str) -> Transcript:
        text = getattr(answer, "text", None) if not isinstance(answer, str) else answer
        if not isinstance(text, str):
            raise TranscriptionUnavailable(f"{where} answered without a transcript.")
        duration = _number(getattr(answer, "duration", None))
        found: list[Segment] = []
        for index, item in enumerate(getattr(answer, "segments", None) or []):
            start, end = _number(getattr(item, "start", None)), _number(getattr(item, "end", None))
            if start is None or end is None:
                continue
            found.append(Segment(id=int(_number(getattr(item, "id", None)) or index), start=start, end=end,
                                 text=str(getattr(item, "text", "") or ""),
                                 seek=int(_number(getattr(item, "seek", None)) or 0),
                                 tokens=tuple(int(t) for t in (getattr(item, "tokens", None) or [])
                                              if isinstance(t, int)),
                                 temperature=_number(getattr(item, "temperature", None)) or 0.0,
                                 avg_logprob=_number(getattr(item, "avg_logprob", None)) or 0.0,
                                 compression_ratio=_number(getattr(item, "compression_ratio", None)) or 0.0,
                                 no_speech_prob=_number(getattr(item, "no_speech_prob", None)) or 0.0))
        spoken = getattr(answer, "language", None)
        return Transcript(text=text.strip(), language=spoken if isinstance(spoken, str) and spoken else language,
                          duration=duration, segments=tuple(found), backend=self.name)

    async def aclose(self) -> None:
        """Close the SDK client of the running event loop (before that loop ends)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._clients.pop(id(loop), None)
        if found is not None and found[0] is loop:
            await found[1].close()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("detail"), str):  # FastAPI-based servers (faster-whisper-server)
            return body["detail"]
    if isinstance(body, str) and body.strip():
        return body
    return "no message"


_cache: dict[tuple, EndpointTranscriber] = {}
_cache_lock = threading.Lock()


def endpoint_for(settings) -> EndpointTranscriber:
    """The endpoint ``settings`` configure (one per configuration per process)."""
    key = (settings.transcription_base_url, settings.transcription_model, settings.transcription_api_key,
           float(settings.transcription_timeout), int(settings.llm_max_retries))
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = EndpointTranscriber(key[0], key[1], key[2], timeout=key[3], max_retries=key[4])
        return found


async def aclose() -> None:
    """Close every endpoint client of the running event loop (a server's shut-down, a test's end)."""
    with _cache_lock:
        transcribers = list(_cache.values())
    for transcriber in transcribers:
        await transcriber.aclose()
