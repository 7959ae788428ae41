"""OpenAIProvider against FakeOpenAIServer over real HTTP (loopback)."""

from __future__ import annotations

import json
import socket
import time

import openai
import pytest

from hilo.providers.base import (
    Finish,
    ModelProvider,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCallDelta,
)
from hilo.providers.openai_provider import OpenAIProvider, _ToolCallIndexer
from hilo.testing.fake_openai import FakeOpenAIServer

SECRET = "sk-hilo-test-SECRET-0123456789"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def fake():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
async def make_provider():
    created: list[OpenAIProvider] = []

    def make(base_url: str, **kwargs) -> OpenAIProvider:
        kwargs.setdefault("api_key", None)
        kwargs.setdefault("default_model", "fake-model")
        provider = OpenAIProvider(name=kwargs.pop("name", "test"), base_url=base_url, **kwargs)
        created.append(provider)
        return provider

    yield make
    for provider in created:
        await provider.aclose()


def ask(text: str = "hola", **kwargs) -> ModelRequest:
    kwargs.setdefault("model", "")
    return ModelRequest(messages=[{"role": "user", "content": text}], **kwargs)


async def collect(provider: OpenAIProvider, request: ModelRequest) -> list:
    return [event async for event in provider.stream(request)]


def assemble_calls(events: list) -> dict[int, dict]:
    calls: dict[int, dict] = {}
    for event in events:
        if isinstance(event, ToolCallDelta):
            call = calls.setdefault(event.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = call["id"] or event.id
            call["name"] += event.name or ""
            call["arguments"] += event.arguments
    return calls


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_one_final_finish(events: list) -> Finish:
    finishes = [e for e in events if isinstance(e, Finish)]
    assert len(finishes) == 1 and events[-1] is finishes[0]
    return finishes[0]


# -- streaming ------------------------------------------------------------------------------


async def test_conforms_to_protocol(make_provider, fake):
    provider = make_provider(fake.base_url)
    assert isinstance(provider, ModelProvider)
    assert provider.supports_images is True and provider.context_tokens == 8192


async def test_text_streams_in_several_deltas(make_provider, fake):
    answer = "Hola, ¿en qué puedo ayudarte hoy con tu curso?"
    fake.queue({"text": answer})
    provider = make_provider(fake.base_url)
    events = await collect(
        provider,
        ask(
            "hola",
            model="gpt-test",
            temperature=0.2,
            top_p=0.9,
            max_tokens=20,
            response_format={"type": "json_object"},
        ),
    )
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) >= 3
    assert "".join(texts) == answer
    finish = assert_one_final_finish(events)
    assert finish.reason == "stop"

    body = fake.requests[0]
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "hola"}]
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert body["max_tokens"] == 20 and "max_completion_tokens" not in body
    assert body["response_format"] == {"type": "json_object"}
    for absent in ("tools", "tool_choice", "parallel_tool_calls"):
        assert absent not in body


async def test_unset_options_are_not_sent_and_default_model_is_used(make_provider, fake):
    provider = make_provider(fake.base_url, default_model="my-default")
    events = await collect(provider, ask("eco", response_format={"type": "text"}))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: eco"
    body = fake.requests[0]
    assert body["model"] == "my-default"
    for absent in ("temperature", "top_p", "max_tokens", "response_format", "tools"):
        assert absent not in body


async def test_no_model_at_all_is_a_provider_error(make_provider, fake):
    provider = make_provider(fake.base_url, default_model=None)
    with pytest.raises(ProviderError, match="no model"):
        await collect(provider, ask())
    assert fake.requests == []


async def test_usage_is_reported(make_provider, fake):
    fake.queue({"text": "dos palabras", "usage": {"prompt_tokens": 42, "completion_tokens": 7}})
    events = await collect(make_provider(fake.base_url), ask())
    finish = assert_one_final_finish(events)
    assert (finish.prompt_tokens, finish.completion_tokens) == (42, 7)


async def test_single_tool_call(make_provider, fake):
    fake.queue({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Bogotá"}}]})
    provider = make_provider(fake.base_url)
    events = await collect(
        provider, ask("¿clima en Bogotá?", tools=[WEATHER_TOOL], tool_choice="auto")
    )
    calls = assemble_calls(events)
    assert list(calls) == [0]
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Bogotá"}
    # arguments arrive in several fragments and are reassembled
    assert sum(1 for e in events if isinstance(e, ToolCallDelta)) > 2
    assert assert_one_final_finish(events).reason == "tool_calls"

    body = fake.requests[0]
    assert body["tools"] == [WEATHER_TOOL]
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is True


async def test_parallel_tool_calls(make_provider, fake):
    fake.queue(
        {
            "tool_calls": [
                {"name": "get_weather", "arguments": {"city": "Bogotá"}},
                {"name": "get_weather", "arguments": {"city": "Medellín"}},
                {"name": "get_crypto_price", "arguments": {"symbol": "BTC"}},
            ]
        }
    )
    provider = make_provider(fake.base_url)
    request = ask("varias", tools=[WEATHER_TOOL], tool_choice="required", parallel_tool_calls=False)
    events = await collect(provider, request)
    calls = assemble_calls(events)
    assert sorted(calls) == [0, 1, 2]
    assert len({c["id"] for c in calls.values()}) == 3
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_weather", "get_crypto_price"]
    assert json.loads(calls[1]["arguments"]) == {"city": "Medellín"}
    assert json.loads(calls[2]["arguments"]) == {"symbol": "BTC"}
    assert assert_one_final_finish(events).reason == "tool_calls"
    assert fake.requests[0]["parallel_tool_calls"] is False
    assert fake.requests[0]["tool_choice"] == "required"


async def test_text_then_tool_call(make_provider, fake):
    fake.queue(
        {"text": "Voy a consultar.", "tool_calls": [{"name": "get_weather", "arguments": "{}"}]}
    )
    events = await collect(make_provider(fake.base_url), ask(tools=[WEATHER_TOOL]))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Voy a consultar."
    assert assemble_calls(events)[0]["arguments"] == "{}"
    assert assert_one_final_finish(events).reason == "tool_calls"


async def test_stop_after_tool_calls_is_reported_as_tool_calls(make_provider, fake):
    # some servers (older Ollama, llama.cpp) say "stop" even when they called tools
    fake.queue({"tool_calls": [{"name": "get_weather", "arguments": {}}], "finish_reason": "stop"})
    events = await collect(make_provider(fake.base_url), ask(tools=[WEATHER_TOOL]))
    assert assert_one_final_finish(events).reason == "tool_calls"


async def test_length_finish_reason(make_provider, fake):
    fake.queue({"text": "cortado", "finish_reason": "length"})
    events = await collect(make_provider(fake.base_url), ask())
    assert assert_one_final_finish(events).reason == "length"


def test_tool_call_indexer_handles_servers_that_reuse_or_omit_index():
    indexer = _ToolCallIndexer()
    # OpenAI style
    assert [indexer.index_for(0, "a"), indexer.index_for(0, None), indexer.index_for(1, "b")] == [
        0,
        0,
        1,
    ]
    # every call at index 0, each with its own id
    reused = _ToolCallIndexer()
    assert [reused.index_for(0, "a"), reused.index_for(0, None), reused.index_for(0, "b")] == [
        0,
        0,
        1,
    ]
    # no index at all
    missing = _ToolCallIndexer()
    assert [
        missing.index_for(None, "a"),
        missing.index_for(None, None),
        missing.index_for(None, "b"),
    ] == [0, 0, 1]
    assert missing.count == 2


async def test_images_are_passed_through_unchanged(make_provider, fake):
    content = [
        {"type": "text", "text": "¿Qué ves en este gráfico?"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
        },
        {"type": "image_url", "image_url": {"url": "https://example.com/chart.png"}},
    ]
    messages = [
        {"role": "system", "content": "Eres un mentor de trading."},
        {"role": "user", "content": content},
    ]
    events = await collect(make_provider(fake.base_url), ModelRequest(model="", messages=messages))
    assert (
        "".join(e.text for e in events if isinstance(e, TextDelta))
        == "echo: ¿Qué ves en este gráfico?"
    )
    assert fake.requests[0]["messages"] == messages


async def test_tool_results_history_is_sent_as_is(make_provider, fake):
    messages = [
        {"role": "user", "content": "clima"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Cali"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 28}'},
    ]
    fake.queue({"text": "Hace 28 grados."})
    await collect(
        make_provider(fake.base_url),
        ModelRequest(model="m", messages=messages, tools=[WEATHER_TOOL]),
    )
    assert fake.requests[0]["messages"] == messages


# -- failures -------------------------------------------------------------------------------


async def test_retries_server_errors_with_backoff_then_succeeds(make_provider, fake):
    fake.queue({"status": 500}, {"status": 503}, {"text": "por fin"})
    provider = make_provider(fake.base_url, max_retries=2)
    started = time.perf_counter()
    events = await collect(provider, ask())
    elapsed = time.perf_counter() - started
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "por fin"
    assert len(fake.requests) == 3
    assert elapsed >= 1.0  # 0.5 s + 1 s backoff, minus at most 25 % jitter


async def test_retry_after_header_is_honoured(make_provider, fake):
    fake.queue({"status": 429, "headers": {"retry-after-ms": "30"}}, {"text": "ok"})
    started = time.perf_counter()
    events = await collect(make_provider(fake.base_url, max_retries=1), ask())
    assert time.perf_counter() - started < 0.4
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "ok"


async def test_server_error_without_retries_raises(make_provider, fake):
    fake.queue({"status": 500, "body": {"error": {"message": "boom", "type": "server_error"}}})
    provider = make_provider(fake.base_url, max_retries=0)
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert info.value.code == "server_error"
    assert info.value.retryable is True
    assert "500" in str(info.value) and "boom" in str(info.value)
    assert len(fake.requests) == 1


async def test_retries_exhausted_raise(make_provider, fake):
    fake.queue(
        {"status": 502, "headers": {"retry-after-ms": "1"}},
        {"status": 502, "headers": {"retry-after-ms": "1"}},
    )
    with pytest.raises(ProviderError) as info:
        await collect(make_provider(fake.base_url, max_retries=1), ask())
    assert info.value.code == "server_error"
    assert len(fake.requests) == 2


async def test_rate_limit_maps_to_rate_limit_exceeded(make_provider, fake):
    fake.queue({"status": 429})
    with pytest.raises(ProviderError) as info:
        await collect(make_provider(fake.base_url, max_retries=0), ask())
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.retryable is True


async def test_client_error_is_not_retried(make_provider, fake):
    fake.queue(
        {
            "status": 400,
            "body": {"error": {"message": "bad messages", "type": "invalid_request_error"}},
        }
    )
    with pytest.raises(ProviderError) as info:
        await collect(make_provider(fake.base_url, max_retries=2), ask())
    assert info.value.code == "server_error" and info.value.retryable is False
    assert len(fake.requests) == 1


async def test_timeout_raises_provider_error(make_provider, fake):
    fake.queue({"text": "tarde", "delay": 3})
    provider = make_provider(fake.base_url, timeout=0.3, max_retries=0)
    started = time.perf_counter()
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert time.perf_counter() - started < 2
    assert info.value.code == "server_error" and info.value.retryable
    assert "timed out" in str(info.value)


async def test_stream_broken_midway_raises_after_partial_text(make_provider, fake):
    fake.queue({"text": "uno dos tres cuatro cinco", "abort_after": 3})
    events = []
    with pytest.raises(ProviderError):
        async for event in make_provider(fake.base_url).stream(ask()):
            events.append(event)
    assert [e.text for e in events] == ["uno ", "dos "]  # (the role chunk carries no text)
    assert len(fake.requests) == 1  # nothing is replayed once text was streamed


async def test_unreachable_endpoint(make_provider):
    provider = make_provider(f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert info.value.code == "server_error" and info.value.retryable
    assert "could not reach" in str(info.value)


async def test_rejected_stream_options_are_dropped(make_provider, fake):
    rejection = {
        "error": {
            "message": "Unrecognized request argument supplied: stream_options",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    fake.queue({"status": 400, "body": rejection}, {"text": "sin uso"}, {"text": "otra"})
    provider = make_provider(fake.base_url, max_retries=0)
    events = await collect(provider, ask())
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "sin uso"
    finish = assert_one_final_finish(events)
    assert finish.prompt_tokens is None  # no usage chunk without stream_options
    assert "stream_options" in fake.requests[0]
    assert "stream_options" not in fake.requests[1]
    await collect(provider, ask())
    assert len(fake.requests) == 3 and "stream_options" not in fake.requests[2]


# -- API key --------------------------------------------------------------------------------


async def test_api_key_is_sent_and_never_in_error_messages(make_provider):
    with FakeOpenAIServer(api_key=SECRET) as fake:
        echo_key = {
            "error": {
                "message": f"Incorrect API key provided: {SECRET}.",
                "type": "invalid_request_error",
            }
        }
        fake.queue(
            {"status": 401, "body": echo_key},
            {"status": 500, "body": {"error": {"message": f"key={SECRET}"}}},
        )
        provider = make_provider(fake.base_url, api_key=SECRET, max_retries=0)
        assert SECRET not in repr(provider)
        for _ in range(2):
            with pytest.raises(ProviderError) as info:
                await collect(provider, ask())
            assert SECRET not in str(info.value) and SECRET not in repr(info.value.args)
            assert info.value.__cause__ is None and info.value.__suppress_context__
            assert "***" in str(info.value)
        assert fake.log[0]["headers"]["authorization"] == f"Bearer {SECRET}"

        wrong = make_provider(fake.base_url, api_key=SECRET + "-wrong", max_retries=0)
        with pytest.raises(ProviderError) as info:
            await collect(wrong, ask())
        assert "401" in str(info.value) and SECRET not in str(info.value)
        ok, detail = await wrong.check()
        assert not ok and SECRET not in detail

    # unreachable with a key: the key is not in the message either
    gone = make_provider(f"http://127.0.0.1:{closed_port()}/v1", api_key=SECRET, max_retries=0)
    with pytest.raises(ProviderError) as info:
        await collect(gone, ask())
    assert SECRET not in str(info.value)


async def test_missing_api_key_uses_placeholder(make_provider, fake):
    await collect(make_provider(fake.base_url, api_key=None), ask())
    assert fake.log[-1]["headers"]["authorization"] == "Bearer not-needed"


# -- check ----------------------------------------------------------------------------------


async def test_check_ok(make_provider, fake):
    ok, detail = await make_provider(fake.base_url).check()
    assert ok, detail
    assert "reachable" in detail and "fake-model listed" in detail


async def test_check_treats_missing_models_route_as_reachable(make_provider, fake):
    ok, detail = await make_provider(fake.base_url + "/no-models-here").check()
    assert ok and "no /models" in detail


async def test_check_closed_port(make_provider):
    provider = make_provider(f"http://127.0.0.1:{closed_port()}/v1", max_retries=3)
    started = time.perf_counter()
    ok, detail = await provider.check()
    assert not ok and "could not reach" in detail
    assert time.perf_counter() - started < 2  # no retries in a health check


async def test_aclose_then_reuse(make_provider, fake):
    provider = make_provider(fake.base_url)
    await collect(provider, ask())
    await provider.aclose()
    await provider.aclose()
    events = await collect(provider, ask("otra vez"))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: otra vez"


# -- the fake server itself ---------------------------------------------------------------


def test_fake_server_non_streaming_and_auth_with_the_sync_sdk():
    with FakeOpenAIServer(api_key="k1") as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k1", max_retries=0)
        fake.queue(
            {"tool_calls": [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}]}
        )
        completion = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        calls = completion.choices[0].message.tool_calls
        assert [c.function.name for c in calls] == ["a", "b"]
        assert completion.choices[0].finish_reason == "tool_calls"
        echo = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert echo.choices[0].message.content == "echo: hi"
        assert echo.usage.total_tokens > 0
        assert [m.id for m in client.models.list()] == ["fake-model"]
        bad = openai.OpenAI(base_url=fake.base_url, api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        client.close()
        bad.close()
        assert len(fake.requests) == 2 and fake.pending == 0


def test_fake_server_keeps_connections_alive_without_nagle_delay():
    with FakeOpenAIServer() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "warm"}])
        started = time.perf_counter()
        for _ in range(20):
            stream = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            assert (
                "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: hi"
            )
        per_request = (time.perf_counter() - started) / 20
        client.close()
    assert per_request < 0.03  # a 44 ms Nagle stall per request would fail this
    assert len(fake.requests) == 21
