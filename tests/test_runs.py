"""Runs through the official SDK: polling, tools, streaming, cancel, errors, options."""

import json
import time

import httpx
import openai
import pytest
from openai import AssistantEventHandler

from hilo.providers import scripted

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def sent(model):
    return scripted.requests[model.split("/", 1)[1]]


def poll(client, thread_id, run_id, until, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in until:
            return run
        time.sleep(0.02)
    raise AssertionError(f"run stayed {run.status}")


def test_function_tool_round_trip(client, script):
    model, queue = script
    queue({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Bogotá"}}]},
          {"text": "En Bogotá hace 14 °C."})
    a = client.beta.assistants.create(model=model, instructions="Eres útil.", tools=[WEATHER])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "¿Qué tiempo hace en Bogotá?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert len(calls) == 1 and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Bogotá"}
    with pytest.raises(openai.BadRequestError):  # a new run while this one waits
        client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    with pytest.raises(openai.BadRequestError):  # a message while a run is active
        client.beta.threads.messages.create(thread_id=t.id, role="user", content="¿y?")
    with pytest.raises(openai.BadRequestError):  # outputs must match the calls
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": "call_other", "output": "x"}])
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=t.id, poll_interval_ms=20,
        tool_outputs=[{"tool_call_id": calls[0].id, "output": '{"temp_c": 14}'}])
    assert run.status == "completed", run.last_error
    assert run.usage.total_tokens > 0 and run.required_action is None
    msgs = client.beta.threads.messages.list(thread_id=t.id, run_id=run.id)
    assert [m.content[0].text.value for m in msgs.data] == ["En Bogotá hace 14 °C."]
    # the second model call saw the tool call and its output
    second = sent(model)[1].messages
    assert second[0] == {"role": "system", "content": "Eres útil."}
    assert second[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert second[-1] == {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp_c": 14}'}
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=t.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].function.output == '{"temp_c": 14}'
    assert all(s.status == "completed" for s in steps)
    one = client.beta.threads.runs.steps.retrieve(step_id=steps[1].id, run_id=run.id, thread_id=t.id)
    assert one.step_details.message_creation.message_id == msgs.data[0].id
    with pytest.raises(openai.BadRequestError):  # not waiting any more
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}])


def test_parallel_tool_calls(client, script):
    model, queue = script
    queue({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lima"}},
                          {"name": "get_weather", "arguments": {"city": "Quito"}}]},
          {"text": "Lima 18, Quito 12."})
    a = client.beta.assistants.create(model=model, tools=[WEATHER])
    run = client.beta.threads.create_and_run_poll(
        assistant_id=a.id, thread={"messages": [{"role": "user", "content": "Lima y Quito"}]}, poll_interval_ms=20)
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Lima", "Quito"]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=run.thread_id, poll_interval_ms=20,
        tool_outputs=[{"tool_call_id": c.id, "output": str(i)} for i, c in enumerate(calls)])
    assert run.status == "completed"
    assert [m["content"] for m in sent(model)[1].messages if m["role"] == "tool"] == ["0", "1"]


def test_parallel_tool_calls_off_keeps_one(client, script):
    model, queue = script
    queue({"tool_calls": [{"name": "get_weather", "arguments": {"city": "A"}},
                          {"name": "get_weather", "arguments": {"city": "B"}}]})
    a = client.beta.assistants.create(model=model, tools=[WEATHER])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, parallel_tool_calls=False,
                                                   poll_interval_ms=20)
    assert len(run.required_action.submit_tool_outputs.tool_calls) == 1
    assert sent(model)[0].parallel_tool_calls is False


class Recorder(AssistantEventHandler):
    def __init__(self):
        super().__init__()
        self.events, self.text = [], ""

    def on_event(self, event):
        self.events.append(event.event)

    def on_text_delta(self, delta, snapshot):
        self.text += delta.value


def test_streaming_with_event_handler(client, script):
    model, queue = script
    queue({"text": "Hola, soy tu mentor.", "chunks": 4})
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hola"}])
    handler = Recorder()
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id, event_handler=handler) as stream:
        stream.until_done()
    assert handler.text == "Hola, soy tu mentor."
    ev = handler.events
    assert ev[:4] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.run.step.created"]
    assert ev.count("thread.message.delta") == 4
    assert ev[-3:] == ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]
    final = handler.get_final_run()
    assert final.status == "completed" and final.usage.completion_tokens > 0
    assert handler.get_final_messages()[0].content[0].text.value == "Hola, soy tu mentor."


def test_streamed_tool_round_trip_and_create_and_run(client, script):
    model, queue = script
    queue({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Cali"}}]}, {"text": "Cali: 25 °C", "chunks": 2})
    a = client.beta.assistants.create(model=model, tools=[WEATHER])
    handler = Recorder()
    with client.beta.threads.create_and_run_stream(
        assistant_id=a.id, thread={"messages": [{"role": "user", "content": "¿Cali?"}]}, event_handler=handler,
    ) as stream:
        stream.until_done()
    assert handler.events[0] == "thread.created"
    assert handler.events[-1] == "thread.run.requires_action"
    assert "thread.run.step.delta" in handler.events
    # the tool-calls step follows OpenAI's sequence, as message steps do: created, in_progress, deltas
    steps = [e for e in handler.events if e.startswith("thread.run.step.")]
    assert steps[:3] == ["thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta"], steps
    run = handler.current_run
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Cali"}
    handler2 = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id, thread_id=run.thread_id, tool_outputs=[{"tool_call_id": call.id, "output": "25"}],
        event_handler=handler2,
    ) as stream:
        stream.until_done()
    assert handler2.text == "Cali: 25 °C"
    assert handler2.events[-1] == "thread.run.completed"


def test_raw_sse_ends_with_done(server, client, script):
    model, _ = script
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create()
    with httpx.stream("POST", f"{server.url}/v1/threads/{t.id}/runs", json={
        "assistant_id": a.id, "stream": True, "additional_messages": [{"role": "user", "content": "eco"}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    assert body.rstrip().endswith("event: done\ndata: [DONE]")
    assert '"value":"echo: eco"' in body


def test_run_options_reach_the_model(client, script):
    model, queue = script
    queue({"text": "{}"})
    a = client.beta.assistants.create(model=model, instructions="Base.", temperature=0.1)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "uno"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=t.id, assistant_id=a.id, poll_interval_ms=20,
        additional_instructions="Responde en JSON.", additional_messages=[{"role": "user", "content": "dos"}],
        temperature=0.7, top_p=0.5, max_completion_tokens=100, response_format={"type": "json_object"},
        tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}},
        metadata={"canal": "api"},
    )
    assert run.status == "completed" and run.metadata == {"canal": "api"}
    assert run.instructions == "Base.\n\nResponde en JSON."
    req = sent(model)[0]
    assert req.messages[0] == {"role": "system", "content": "Base.\n\nResponde en JSON."}
    assert [m["content"] for m in req.messages[1:]] == ["uno", "dos"]
    assert (req.temperature, req.top_p, req.max_tokens) == (0.7, 0.5, 100)
    assert req.response_format == {"type": "json_object"}
    assert req.tool_choice == {"type": "function", "function": {"name": "get_weather"}}
    assert req.tools[0]["function"]["name"] == "get_weather"
    # json_schema response formats are accepted and passed on
    client.beta.threads.messages.create(thread_id=t.id, role="user", content="tres")
    schema = {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, response_format=schema,
                                                   poll_interval_ms=20)
    assert sent(model)[1].response_format["json_schema"]["name"] == "r"


def test_truncation_and_prompt_budget(client, script):
    model, _ = script
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": f"m{i}"} for i in range(10)])
    client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20,
                                             truncation_strategy={"type": "last_messages", "last_messages": 3})
    assert [m["content"] for m in sent(model)[0].messages] == ["m7", "m8", "m9"]
    big = "palabra " * 400  # ~800 tokens each
    t2 = client.beta.threads.create(messages=[{"role": "user", "content": f"{i} {big}"} for i in range(6)])
    run = client.beta.threads.runs.create_and_poll(thread_id=t2.id, assistant_id=a.id, poll_interval_ms=20,
                                                   max_prompt_tokens=2000)
    assert run.status == "completed"
    kept = [m["content"].split()[0] for m in sent(model)[1].messages]
    assert kept == ["4", "5"]  # oldest turns dropped first
    t3 = client.beta.threads.create(messages=[{"role": "user", "content": big * 2}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t3.id, assistant_id=a.id, poll_interval_ms=20,
                                                   max_prompt_tokens=256)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_prompt_tokens"


def test_max_completion_tokens_incomplete(client, script):
    model, queue = script
    queue({"text": "cortado", "finish": "length"})
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, max_completion_tokens=16,
                                                   poll_interval_ms=20)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    msg = client.beta.threads.messages.list(thread_id=t.id).data[0]
    assert msg.status == "incomplete" and msg.content[0].text.value == "cortado"
    # the thread is free again
    client.beta.threads.messages.create(thread_id=t.id, role="user", content="sigue")


def test_model_failure_fills_last_error(client, script):
    model, queue = script
    queue({"error": "upstream exploded", "code": "server_error"})
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
    assert run.status == "failed" and run.failed_at
    assert run.last_error.code == "server_error" and "upstream exploded" in run.last_error.message
    run2 = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
    assert run2.status == "completed"  # the thread was released


def test_cancel(client, script):
    model, queue = script
    queue({"delay": 5, "text": "tarde"})
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    poll(client, t.id, run.id, {"in_progress"})
    cancelled = client.beta.threads.runs.cancel(run_id=run.id, thread_id=t.id)
    assert cancelled.status in ("cancelling", "cancelled")
    run = poll(client, t.id, run.id, {"cancelled"})
    assert run.cancelled_at
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.cancel(run_id=run.id, thread_id=t.id)
    # cancelling a run that waits for tool outputs
    queue({"tool_calls": [{"name": "get_weather", "arguments": {"city": "X"}}]})
    a2 = client.beta.assistants.create(model=model, tools=[WEATHER])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a2.id, poll_interval_ms=20)
    assert run.status == "requires_action"
    assert client.beta.threads.runs.cancel(run_id=run.id, thread_id=t.id).status == "cancelled"
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=t.id).data
    assert steps[0].status == "cancelled"


def test_list_and_modify_runs(client, script):
    model, _ = script
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    ids = [client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20).id
           for _ in range(3)]
    listed = client.beta.threads.runs.list(thread_id=t.id, order="asc", limit=2)
    assert [r.id for r in listed.data] == ids[:2] and listed.has_more
    r = client.beta.threads.runs.update(run_id=ids[0], thread_id=t.id, metadata={"k": "v"})
    assert r.metadata == {"k": "v"}
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve("run_nope", thread_id=t.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.create(thread_id=t.id, assistant_id="asst_nope")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.create(thread_id="thread_nope", assistant_id=a.id)
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id,
                                        truncation_strategy={"type": "last_messages"})


def test_health(server):
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["checks"]["database"]["ok"] and body["checks"]["model"]["ok"]


def test_history_follows_deletions(client, script):
    """The engine caches recent history; a deleted message must leave the next context."""
    model, _ = script
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "uno"}])
    client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
    doomed = client.beta.threads.messages.create(thread_id=t.id, role="user", content="borrar")
    client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
    client.beta.threads.messages.delete(message_id=doomed.id, thread_id=t.id)
    client.beta.threads.messages.create(thread_id=t.id, role="user", content="tres")
    client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
    contents = [m["content"] for m in sent(model)[-1].messages]
    assert "borrar" not in contents
    assert contents == ["uno", "echo: uno", "echo: borrar", "tres"]


def test_each_turn_sends_the_whole_history(client, script):
    """Turns on one thread: the cached history (read by the statement that starts the run on
    PostgreSQL) holds every message, whichever way it arrived."""
    model, _ = script
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "uno"}])
    expected = ["uno"]
    for turn in range(3):
        client.beta.threads.messages.create(thread_id=t.id, role="user", content=f"entre {turn}")
        extra = [{"role": "user", "content": f"a{turn}"}, {"role": "user", "content": f"b{turn}"}]
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20,
                                                       additional_messages=extra)
        assert run.status == "completed"
        expected += [f"entre {turn}", f"a{turn}", f"b{turn}"]
        assert [m["content"] for m in sent(model)[-1].messages] == expected
        expected.append(f"echo: b{turn}")


def test_a_changed_assistant_is_never_run_stale(client, script):
    """The turn path keeps assistants per process on PostgreSQL (checked by the claim): a
    change made in between, by any process, reaches the next run; a deleted one is 404."""
    model, _ = script
    a = client.beta.assistants.create(model=model, instructions="primera versión")
    t = client.beta.threads.create()
    for version in ("primera versión", "segunda versión", "tercera versión"):
        if version != "primera versión":
            client.beta.assistants.update(a.id, instructions=version)
        run = client.beta.threads.runs.create_and_poll(
            thread_id=t.id, assistant_id=a.id, poll_interval_ms=20,
            additional_messages=[{"role": "user", "content": version}])
        assert run.status == "completed" and run.instructions == version
        assert sent(model)[-1].messages[0] == {"role": "system", "content": version}
    client.beta.assistants.delete(a.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id,
                                        additional_messages=[{"role": "user", "content": "¿sigues ahí?"}])


def test_ids_carry_their_creation_time():
    from hilo.kit.ids import created_ms, new_id
    from hilo.runs.states import POLL_AFTER_MAX_MS, POLL_AFTER_MIN_MS, poll_after_ms

    before = time.time_ns() // 1_000_000
    made = created_ms(new_id("run"))
    assert before <= made <= time.time_ns() // 1_000_000
    assert created_ms("asst_abc") is None and created_ms("run_" + "!" * 24) is None
    assert poll_after_ms(0) == POLL_AFTER_MIN_MS and poll_after_ms(10**9) == POLL_AFTER_MAX_MS
    assert poll_after_ms(400) == 100


def test_poll_hint_on_active_runs_only(client, script):
    """The SDK's pollers wait `openai-poll-after-ms` (1 s without it): a quick run is seen quickly."""
    model, queue = script
    queue({"delay": 0.6, "text": "lento"}, {"text": "rápido"})
    a = client.beta.assistants.create(model=model)
    t = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    poll(client, t.id, run.id, {"in_progress"})
    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=t.id)
    hint = int(raw.headers["openai-poll-after-ms"])
    assert 25 <= hint <= 1000
    done = poll(client, t.id, run.id, {"completed"})
    raw = client.beta.threads.runs.with_raw_response.retrieve(done.id, thread_id=t.id)
    assert "openai-poll-after-ms" not in raw.headers
    client.beta.threads.messages.create(thread_id=t.id, role="user", content="y")
    began = time.monotonic()
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)  # default interval
    assert run.status == "completed"
    assert time.monotonic() - began < 0.9  # well under the SDK's 1 s default
