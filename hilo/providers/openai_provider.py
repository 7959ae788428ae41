"""Any OpenAI-compatible chat-completions endpoint through the official ``openai`` SDK.

Covers OpenAI itself, Ollama (``http://localhost:11434/v1``), vLLM, llama.cpp's server,
LM Studio and Gemini's OpenAI-compatible endpoint. Only ``/chat/completions`` (streamed) and
``/models`` (for :meth:`OpenAIProvider.check`) are used.

Retries are the SDK's own: ``max_retries`` extra attempts on connection errors, timeouts,
408, 409, 429 and 5xx, with exponential backoff (0.5 s, 1 s, 2 s ... capped at 8 s, minus up
to 25 % jitter) or the server's ``Retry-After``/``retry-after-ms`` when it sends one (up to
two minutes). A retry only happens before the first byte of the answer: once deltas have been
yielded, a broken stream is reported, not replayed. ``timeout`` bounds connecting and each
read (the wait for the next chunk), not the whole answer; a timed-out attempt is retried too,
so the worst case is about ``(max_retries + 1) * timeout`` plus backoff.

Every failure leaves :meth:`OpenAIProvider.stream` as :class:`ProviderError` with code
``rate_limit_exceeded`` (HTTP 429) or ``server_error`` (anything else), and the API key is
scrubbed from its message. The SDK's exception is not chained (``from None``): its text can
quote the key, and chained exceptions end up in logged tracebacks.

The SDK is used with its default HTTP client (openai 3.x is built on ``httpx2``, not
``httpx``; no custom client is passed, so the difference does not matter here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import openai

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
CHECK_TIMEOUT = 5.0

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
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIProvider(name={self.name!r}, base_url={self.base_url!r}, model={self.default_model!r})"

    # -- client -------------------------------------------------------------------------------

    def _client_for_loop(self) -> openai.AsyncOpenAI:
        """One SDK client per event loop (pooled connections cannot cross loops)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            kwargs: dict[str, Any] = {
                "api_key": self._api_key or PLACEHOLDER_API_KEY,
                "timeout": self.timeout,
                "max_retries": self.max_retries,
            }
            if self.base_url:
                kwargs["base_url"] = self.base_url
            self._client = openai.AsyncOpenAI(**kwargs)
            self._client_loop = loop
        return self._client

    @property
    def endpoint(self) -> str:
        if self._client is not None:
            return str(self._client.base_url).rstrip("/")
        return (self.base_url or "https://api.openai.com/v1").rstrip("/")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        self._client_loop = None
        if client is not None:
            try:
                await client.close()
            except Exception:  # closing must not fail shutdown
                log.debug("closing the OpenAI client failed", exc_info=True)

    # -- errors -------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    def _error(self, exc: BaseException) -> ProviderError:
        code, retryable = "server_error", False
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = exc.message
            body = exc.body
            if isinstance(body, dict):
                detail = str(body.get("message") or body.get("error") or body) or detail
            message = f"{self.name}: model endpoint answered HTTP {status}: {detail}"
            if status == 429:
                code, retryable = "rate_limit_exceeded", True
            else:
                retryable = status >= 500 or status in (408, 409)
        elif isinstance(exc, openai.APITimeoutError):
            message = (
                f"{self.name}: model endpoint {self.endpoint} timed out after {self.timeout:g} s"
            )
            retryable = True
        elif isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            reason = f" ({type(cause).__name__}: {cause})" if cause else ""
            message = f"{self.name}: could not reach model endpoint {self.endpoint}{reason}"
            retryable = True
        elif isinstance(exc, openai.APIError):
            message = f"{self.name}: model endpoint error: {exc.message}"
        else:
            message = f"{self.name}: model call failed: {type(exc).__name__}: {exc}"
        if len(message) > 1000:
            message = message[:1000] + "..."
        return ProviderError(self._scrub(message), code=code, retryable=retryable)

    def _droppable_param(self, exc: Exception, params: dict[str, Any]) -> str | None:
        if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
            return None
        text = f"{exc.message} {exc.body}"
        for name in _DROPPABLE:
            if name in params and name in text:
                return name
        return None

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

    async def _open(self, params: dict[str, Any]) -> Any:
        client = self._client_for_loop()
        while True:
            try:
                return await client.chat.completions.create(**params)
            except Exception as exc:
                name = self._droppable_param(exc, params)
                if name is None:
                    raise
                log.info("%s: endpoint rejected %r; retrying without it", self.name, name)
                self._dropped.add(name)
                params = {k: v for k, v in params.items() if k != name}

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        params = self._params(request)
        try:
            response = await self._open(params)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._error(exc) from None

        indexer = _ToolCallIndexer()
        finish_reason: str | None = None
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        try:
            async for chunk in response:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    prompt_tokens = getattr(usage, "prompt_tokens", None)
                    completion_tokens = getattr(usage, "completion_tokens", None)
                for choice in chunk.choices or []:
                    if getattr(choice, "index", 0) not in (0, None):
                        continue  # n > 1 is never requested
                    delta = choice.delta
                    if delta is not None:
                        if delta.content:
                            yield TextDelta(delta.content)
                        for call in delta.tool_calls or []:
                            function = call.function
                            yield ToolCallDelta(
                                index=indexer.index_for(call.index, call.id),
                                id=call.id or None,
                                name=(function.name or None) if function else None,
                                arguments=(function.arguments or "") if function else "",
                            )
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        except Exception as exc:
            raise self._error(exc) from None
        finally:
            try:
                await response.close()
            except Exception:
                pass

        reason = _FINISH_REASONS.get(finish_reason or "stop", "stop")
        if indexer.count and reason == "stop":
            reason = "tool_calls"  # some servers say "stop" after tool calls
        yield Finish(
            reason=reason, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    # -- health -------------------------------------------------------------------------------

    async def check(self) -> tuple[bool, str]:
        client = self._client_for_loop().with_options(
            timeout=min(CHECK_TIMEOUT, self.timeout), max_retries=0
        )
        where = self.endpoint
        try:
            page = await client.models.list()
        except openai.NotFoundError:
            return True, f"{where} reachable (it has no /models)"
        except openai.AuthenticationError:
            return False, f"{where} rejected the API key (HTTP 401)"
        except openai.PermissionDeniedError:
            return False, f"{where} denied access (HTTP 403)"
        except openai.APIStatusError as exc:
            return False, self._scrub(f"{where} answered HTTP {exc.status_code}")
        except Exception as exc:
            return False, self._error(exc).args[0]
        ids = [getattr(m, "id", "") for m in getattr(page, "data", None) or []]
        detail = f"{where} reachable, {len(ids)} model(s)"
        if self.default_model and ids:
            listed = self.default_model in ids
            detail += f"; {self.default_model} {'listed' if listed else 'not listed'}"
        return True, self._scrub(detail)
