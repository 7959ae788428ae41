"""Any OpenAI-compatible chat-completions endpoint: OpenAI itself, Ollama
(``http://localhost:11434/v1``), vLLM, llama.cpp's server, LM Studio and Gemini's
OpenAI-compatible endpoint. Only ``POST /chat/completions`` (streamed) and ``GET /models`` (for
:meth:`OpenAIProvider.check`) are used.

The requests go through aiohttp, not the official ``openai`` SDK: on the path users take a
streamed call through the SDK cost 5.6-7.4 ms of CPU here (most of it the SDK transforming the
request's TypedDicts and building a pydantic object per chunk), httpx 1.4-2.0 ms, aiohttp
0.4-0.5 ms (``bench/README.md``, "real_path.py"). What the SDK gave is kept:

* **retries**: ``max_retries`` extra attempts on connection errors, timeouts, 408, 409, 429 and
  5xx, with exponential backoff (0.5 s, 1 s, 2 s ... capped at 8 s, minus up to 25 % jitter) or
  the server's ``retry-after-ms`` / ``Retry-After`` when it sends one (up to a minute). A retry
  only happens before the first byte of the answer: once deltas have been yielded, a broken
  stream is reported, not replayed. ``timeout`` bounds connecting and each read (the wait for
  the next chunk), not the whole answer.
* **errors**: every failure leaves :meth:`OpenAIProvider.stream` as :class:`ProviderError` with
  OpenAI's run ``last_error`` codes: ``rate_limit_exceeded`` (HTTP 429) or ``server_error``
  (anything else), ``retryable`` as above, and the server's own message. The API key is
  scrubbed from every message, and no exception is chained (its text could quote the key).
* optional request fields that some compatible servers reject with a 400 (``stream_options``,
  ``parallel_tool_calls``) are dropped once the server names them, and never sent again.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from hilo import __version__
from hilo.providers.base import (
    Finish,
    ModelEvent,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCallDelta,
    sampling_options,
)

log = logging.getLogger(__name__)

__all__ = ["OpenAIProvider"]

PLACEHOLDER_API_KEY = "not-needed"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHECK_TIMEOUT = 5.0
INITIAL_RETRY_DELAY, MAX_RETRY_DELAY, MAX_RETRY_AFTER = 0.5, 8.0, 60.0
RETRY_STATUSES = frozenset({408, 409, 429})
LINE_LIMIT = 1 << 22  # bytes in one SSE line (a tool call's arguments arrive in pieces)

# Optional request fields that some OpenAI-compatible servers reject with a 400; when the
# error names one of them, the request is sent again once without it (and never again).
_DROPPABLE = ("stream_options", "parallel_tool_calls")

_FINISH_REASONS = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


class _ToolCallIndexer:
    """Maps the server's tool-call indexes to stable, distinct indexes.

    OpenAI numbers parallel calls 0, 1, ...; some compatible servers omit ``index`` or reuse
    0 for every call (each with its own id). A fragment starts a new call when its index is
    new, or when it brings an id different from the one already seen at that index.
    """

    def __init__(self) -> None:
        self._slots: dict[int | None, tuple[int, str | None]] = {}
        self._last: tuple[int, str | None] | None = None
        self.count = 0

    def index_for(self, server_index: int | None, call_id: str | None) -> int:
        key = server_index
        slot = self._slots.get(key) if key is not None else self._last
        if slot is None or (call_id and slot[1] and call_id != slot[1]):
            slot = (self.count, call_id)
            self.count += 1
        elif call_id and not slot[1]:
            slot = (slot[0], call_id)
        if key is not None:
            self._slots[key] = slot
        self._last = slot
        return slot[0]


class _StatusError(Exception):
    """The endpoint answered an error status (the response body has been read)."""

    def __init__(self, status: int, body: Any, headers: Any):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers

    @property
    def text(self) -> str:
        body = self.body
        if isinstance(body, dict):
            error = body.get("error", body)
            if isinstance(error, dict):
                return str(error.get("message") or error)
            return str(error)
        return str(body or "")


class OpenAIProvider:
    """A :class:`~hilo.providers.base.ModelProvider` for OpenAI-compatible endpoints."""

    def __init__(
        self,
        name: str,
        base_url: str | None,
        api_key: str | None,
        default_model: str | None = None,
        timeout: float = 60,
        max_retries: int = 2,
        supports_images: bool = True,
        context_tokens: int = 8192,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.default_model = default_model
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.supports_images = supports_images
        self.context_tokens = context_tokens
        self._api_key = api_key or None
        self._dropped: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._headers = {
            "Authorization": f"Bearer {self._api_key or PLACEHOLDER_API_KEY}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"hilo/{__version__}",
        }

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIProvider(name={self.name!r}, base_url={self.base_url!r}, model={self.default_model!r})"

    # -- HTTP ---------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return (self.base_url or DEFAULT_BASE_URL).rstrip("/")

    def _session_for_loop(self) -> aiohttp.ClientSession:
        """One session (a pool of kept-alive connections) per event loop."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=30, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers,
                                                  read_bufsize=1 << 20, max_line_size=LINE_LIMIT,
                                                  max_field_size=LINE_LIMIT)
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        self._session_loop = None
        if session is not None and not session.closed:
            try:
                await session.close()
            except Exception:  # closing must not fail shutdown
                log.debug("closing the HTTP session failed", exc_info=True)

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    def _fail(self, message: str, code: str = "server_error", retryable: bool = False) -> ProviderError:
        if len(message) > 1000:
            message = message[:1000] + "..."
        return ProviderError(self._scrub(message), code=code, retryable=retryable)

    def _error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, _StatusError):
            message = f"{self.name}: model endpoint answered HTTP {exc.status}: {exc.text}"
            if exc.status == 429:
                return self._fail(message, "rate_limit_exceeded", True)
            return self._fail(message, retryable=exc.status >= 500 or exc.status in RETRY_STATUSES)
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return self._fail(f"{self.name}: model endpoint {self.endpoint} timed out after {self.timeout:g} s",
                              retryable=True)
        if isinstance(exc, aiohttp.ClientError | OSError):
            return self._fail(f"{self.name}: could not reach model endpoint {self.endpoint} "
                              f"({type(exc).__name__}: {exc})", retryable=True)
        return self._fail(f"{self.name}: model call failed: {type(exc).__name__}: {exc}")

    async def _read_error(self, response: aiohttp.ClientResponse) -> _StatusError:
        raw = await response.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode(errors="replace")[:1000]
        return _StatusError(response.status, body, response.headers)

    @staticmethod
    def _retry_after(headers: Any) -> float | None:
        """The server's ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), if sane."""
        if headers is None:
            return None
        value = None
        try:
            if headers.get("retry-after-ms"):
                value = float(headers["retry-after-ms"]) / 1000
            elif headers.get("retry-after"):
                text = headers["retry-after"]
                try:
                    value = float(text)
                except ValueError:
                    when = email.utils.parsedate_to_datetime(text)
                    value = when.timestamp() - time.time()
        except (TypeError, ValueError):
            return None
        return value if value is not None and 0 < value <= MAX_RETRY_AFTER else None

    def _backoff(self, attempt: int, headers: Any = None) -> float:
        after = self._retry_after(headers)
        if after is not None:
            return after
        return min(INITIAL_RETRY_DELAY * 2 ** attempt, MAX_RETRY_DELAY) * (1 - 0.25 * random.random())

    def _droppable_param(self, error: _StatusError, params: dict[str, Any]) -> str | None:
        if error.status not in (400, 422):
            return None
        text = f"{error.text} {error.body}"
        for name in _DROPPABLE:
            if name in params and name in text:
                return name
        return None

    async def _open(self, params: dict[str, Any]) -> aiohttp.ClientResponse:
        """POST the request, with retries; the response of a 200 (its body still to read)."""
        session = self._session_for_loop()
        url = self.endpoint + "/chat/completions"
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=self.timeout)
        attempt = 0
        while True:
            headers = None
            try:
                response = await session.post(url, data=orjson.dumps(params), timeout=timeout)
                if response.status == 200:
                    return response
                error = await self._read_error(response)
                response.release()
                name = self._droppable_param(error, params)
                if name is not None:
                    log.info("%s: endpoint rejected %r; retrying without it", self.name, name)
                    self._dropped.add(name)
                    params = {k: v for k, v in params.items() if k != name}
                    continue
                failure, headers = error, error.headers
                retryable = error.status >= 500 or error.status in RETRY_STATUSES
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                failure, retryable = exc, True
            if not retryable or attempt >= self.max_retries:
                raise self._error(failure) from None
            delay = self._backoff(attempt, headers)
            log.info("%s: retrying in %.2f s (%s)", self.name, delay, self._error(failure))
            await asyncio.sleep(delay)
            attempt += 1

    # -- streaming ----------------------------------------------------------------------------

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        model = request.model or self.default_model
        if not model:
            raise ProviderError(
                f"{self.name}: no model name (set HILO_LLM_MODEL or the assistant's model)",
                code="server_error",
            )
        params: dict[str, Any] = {
            "model": model,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            params["tools"] = request.tools
            if request.tool_choice is not None:
                params["tool_choice"] = request.tool_choice
            params["parallel_tool_calls"] = request.parallel_tool_calls
        params.update(sampling_options(request))
        fmt = request.response_format
        if fmt and fmt.get("type", "text") != "text":
            params["response_format"] = fmt
        for name in self._dropped:
            params.pop(name, None)
        return params

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        params = self._params(request)
        response = await self._open(params)
        indexer = _ToolCallIndexer()
        finish_reason: str | None = None
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        try:
            async for line in response.content:
                if not line.startswith(b"data:"):
                    continue  # event names, comments, blank separators
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                if not data:
                    continue
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise self._fail(f"{self.name}: model endpoint sent a chunk that is not JSON: "
                                     f"{data[:200].decode(errors='replace')}") from None
                if "error" in chunk:  # an error reported inside the stream
                    error = _StatusError(chunk.get("status") or 500, chunk, None)
                    raise self._fail(f"{self.name}: model endpoint failed mid-answer: {error.text}") from None
                usage = chunk.get("usage")
                if usage:
                    prompt_tokens = usage.get("prompt_tokens")
                    completion_tokens = usage.get("completion_tokens")
                for choice in chunk.get("choices") or ():
                    if choice.get("index", 0) not in (0, None):
                        continue  # n > 1 is never requested
                    delta = choice.get("delta")
                    if delta:
                        if delta.get("content"):
                            yield TextDelta(delta["content"])
                        for call in delta.get("tool_calls") or ():
                            function = call.get("function") or {}
                            yield ToolCallDelta(
                                index=indexer.index_for(call.get("index"), call.get("id")),
                                id=call.get("id") or None,
                                name=function.get("name") or None,
                                arguments=function.get("arguments") or "",
                            )
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
        except ProviderError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        finally:
            response.release()

        reason = _FINISH_REASONS.get(finish_reason or "stop", "stop")
        if indexer.count and reason == "stop":
            reason = "tool_calls"  # some servers say "stop" after tool calls
        yield Finish(reason=reason, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    # -- health -------------------------------------------------------------------------------

    async def check(self) -> tuple[bool, str]:
        where = self.endpoint
        timeout = aiohttp.ClientTimeout(total=min(CHECK_TIMEOUT, self.timeout))
        try:
            async with self._session_for_loop().get(where + "/models", timeout=timeout) as response:
                if response.status == 404:
                    return True, f"{where} reachable (it has no /models)"
                if response.status == 401:
                    return False, f"{where} rejected the API key (HTTP 401)"
                if response.status == 403:
                    return False, f"{where} denied access (HTTP 403)"
                if response.status != 200:
                    return False, self._scrub(f"{where} answered HTTP {response.status}")
                page = orjson.loads(await response.read())
        except Exception as exc:
            return False, self._error(exc).args[0]
        ids = [m.get("id", "") for m in (page.get("data") if isinstance(page, dict) else None) or []
               if isinstance(m, dict)]
        detail = f"{where} reachable, {len(ids)} model(s)"
        if self.default_model and ids:
            listed = self.default_model in ids
            detail += f"; {self.default_model} {'listed' if listed else 'not listed'}"
        return True, self._scrub(detail)
