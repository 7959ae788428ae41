"""file_search in runs, through the official SDK: the step OpenAI's way, include[] content,
citations placed in the answer, thread-level stores, and the guided provider with no model."""

from __future__ import annotations

import io
import time

import pytest

CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
SMALL = {"type": "static", "static": {"max_chunk_size_tokens": 120, "chunk_overlap_tokens": 30}}
DOCS = {
    "formularios.txt": (
        "El formulario 210 lo presentan las personas naturales residentes en Colombia que deben declarar renta.\n\n"
        "El formulario 110 lo usan las personas naturales no residentes y las sucesiones ilíquidas de causantes "
        "no residentes."
    ),
    "plazos.txt": (
        "Los plazos para presentar la declaración de renta de personas naturales van de agosto a octubre, "
        "según los dos últimos dígitos del NIT.\n\n"
        "Quien declara después del plazo paga una sanción por extemporaneidad."
    ),
    "mascotas.txt": "Los perros necesitan paseos diarios y agua fresca. Los gatos duermen muchas horas al día.",
}


def _upload(client, name: str, text: str) -> str:
    return client.files.create(file=(name, io.BytesIO(text.encode()), "text/plain"), purpose="assistants").id


def _ready(client, store_id: str, expected: int, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        store = client.vector_stores.retrieve(store_id)
        counts = store.file_counts
        assert counts.total == counts.in_progress + counts.completed + counts.failed + counts.cancelled
        if counts.completed + counts.failed + counts.cancelled >= expected and counts.in_progress == 0:
            return store
        time.sleep(0.2)
    raise AssertionError(f"vector store {store_id} still ingesting after {timeout} s")


@pytest.fixture(scope="module")
def knowledge(server):
    from openai import OpenAI

    with OpenAI(base_url=server.url + "/v1", api_key="test-key", max_retries=0, timeout=30) as client:
        ids = {name: _upload(client, name, text) for name, text in DOCS.items()}
        store = client.vector_stores.create(name="renta", file_ids=list(ids.values()), chunking_strategy=SMALL)
        store = _ready(client, store.id, len(ids))
        assert store.file_counts.completed == len(ids)
        yield store.id, ids


def _answer(client, thread_id: str):
    message = client.beta.threads.messages.list(thread_id, order="desc", limit=1).data[0]
    return message.content[0].text


def test_a_run_searches_and_cites_the_right_file(client, script, knowledge):
    store_id, ids = knowledge
    model, register = script
    register({"tool_calls": [{"name": "file_search", "arguments": {"query": "plazo para declarar renta según el NIT"}}]},
             {"text": "Depende de los dos últimos dígitos del NIT {marker}.", "cite": 0})
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "file_search"}],
                                              tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    assert assistant.tool_resources.file_search.vector_store_ids == [store_id]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "¿Hasta cuándo puedo declarar?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    tool_step = next(s for s in steps if s.type == "tool_calls")
    call = tool_step.step_details.tool_calls[0]
    assert call.type == "file_search"
    assert call.file_search.ranking_options.ranker == "default_2024_08_21"
    results = call.file_search.results
    assert results and results[0].file_id == ids["plazos.txt"] and results[0].file_name == "plazos.txt"
    assert all(0.0 <= r.score <= 1.0 for r in results)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert not results[0].content  # passages only on request

    with_content = client.beta.threads.runs.steps.retrieve(tool_step.id, thread_id=thread.id, run_id=run.id,
                                                           include=[CONTENT])
    passage = with_content.step_details.tool_calls[0].file_search.results[0].content[0]
    assert passage.type == "text" and "NIT" in passage.text
    listed = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=[CONTENT]).data
    assert any(c.type == "file_search" and c.file_search.results[0].content
               for s in listed if s.type == "tool_calls" for c in s.step_details.tool_calls)

    text = _answer(client, thread.id)
    (citation,) = text.annotations
    assert citation.type == "file_citation" and citation.file_citation.file_id == ids["plazos.txt"]
    assert text.value[citation.start_index:citation.end_index] == citation.text
    assert citation.text.startswith("【0:0†plazos.txt")


def test_streamed_file_search_steps_follow_openai_events(client, script, knowledge):
    store_id, ids = knowledge
    model, register = script
    register({"tool_calls": [{"name": "file_search", "arguments": {"query": "formulario de no residentes"}}]},
             {"text": "Es el 110 {marker}.", "cite": 0})
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "file_search"}],
                                              tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Vivo fuera del país, ¿qué formulario uso?"}])
    events = []
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id, include=[CONTENT]) as stream:
        for event in stream:
            events.append(event)
    names = [e.event for e in events]
    tool_created = next(e for e in events if e.event == "thread.run.step.created" and e.data.type == "tool_calls")
    assert tool_created.data.step_details.tool_calls[0].type == "file_search"
    i = names.index("thread.run.step.created")
    assert names[i + 1] == "thread.run.step.in_progress"
    completed = [e for e in events if e.event == "thread.run.step.completed" and e.data.type == "tool_calls"]
    result = completed[0].data.step_details.tool_calls[0].file_search.results[0]
    assert result.file_id == ids["formularios.txt"] and result.content and "110" in result.content[0].text
    assert names[-1] == "thread.run.completed"
    final = stream.get_final_messages()[-1].content[0].text
    assert final.annotations[0].file_citation.file_id == ids["formularios.txt"]


def test_thread_level_store_adds_to_the_assistants(client, script, knowledge):
    store_id, ids = knowledge
    model, register = script
    other = _upload(client, "horario.txt", "La oficina de atención abre de lunes a viernes de 8 de la mañana a 4 de la tarde.")
    thread_store = client.vector_stores.create(name="hilo", file_ids=[other], chunking_strategy=SMALL)
    _ready(client, thread_store.id, 1)
    register({"tool_calls": [{"name": "file_search", "arguments": {"query": "horario de la oficina de atención"}}]},
             {"text": "Abre entre semana {marker}.", "cite": 0})
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "file_search"}],
                                              tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "¿A qué hora abren?"}],
        tool_resources={"file_search": {"vector_store_ids": [thread_store.id]}})
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert _answer(client, thread.id).annotations[0].file_citation.file_id == other


def test_guided_answers_from_the_passages_with_citations(client, knowledge):
    store_id, ids = knowledge
    assistant = client.beta.assistants.create(
        model="guided", instructions="Eres un asistente de impuestos. Respondes en español.",
        tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "¿qué formulario usan los no residentes?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    text = _answer(client, thread.id)
    assert "110" in text.value and "perros" not in text.value
    assert text.annotations and text.annotations[0].file_citation.file_id == ids["formularios.txt"]
    for a in text.annotations:
        assert text.value[a.start_index:a.end_index] == a.text

    # greetings are not searched
    client.beta.threads.messages.create(thread.id, role="user", content="hola")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert all(s.type == "message_creation" for s in steps)

    # nothing in the documents: said so, no figure invented
    client.beta.threads.messages.create(thread.id, role="user", content="¿cuánto cuesta un tiquete a Madrid?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    reply = _answer(client, thread.id).value
    assert "No encontré" in reply or not any(ch.isdigit() for ch in reply.replace("【", "").split("】")[-1])


def test_file_search_definitions_are_validated(client, knowledge):
    store_id, _ = knowledge
    import openai

    for bad in ({"max_num_results": 0}, {"max_num_results": 51}, {"ranking_options": {"ranker": "magic"}},
                {"ranking_options": {"score_threshold": 1.5}}):
        with pytest.raises(openai.BadRequestError):
            client.beta.assistants.create(model="guided", tools=[{"type": "file_search", "file_search": bad}])
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.assistants.create(model="guided", tools=[{"type": "file_search"}],
                                      tool_resources={"file_search": {"vector_store_ids": ["vs_nope"]}})
    assert "vs_nope" in str(info.value)


def test_vector_stores_helper_and_attachments_make_stores(client, script):
    model, register = script
    doc = _upload(client, "cuotas.txt", "El impuesto se puede pagar en una sola cuota en el plazo que fija el calendario.")
    assistant = client.beta.assistants.create(
        model=model, tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [doc], "chunking_strategy": SMALL,
                                                           "metadata": {"k": "v"}}]}})
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids
    store = _ready(client, store_id, 1)
    assert store.file_counts.completed == 1 and store.metadata == {"k": "v"}
    assert client.beta.assistants.retrieve(assistant.id).tool_resources.file_search.vector_store_ids == [store_id]

    # a message attachment for file_search goes to the thread's own store, made for it
    note = _upload(client, "nota.txt", "La oficina cierra los festivos.")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="¿Abren en festivo?",
                                        attachments=[{"file_id": note, "tools": [{"type": "file_search"}]}])
    (thread_store,) = client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids
    store = _ready(client, thread_store, 1)
    assert store.expires_after.days == 7
    register({"tool_calls": [{"name": "file_search", "arguments": {"query": "festivos"}}]},
             {"text": "Cierra {marker}.", "cite": 0})
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert _answer(client, thread.id).annotations[0].file_citation.file_id == note

    import openai

    with pytest.raises(openai.BadRequestError):  # code_interpreter does not run here
        client.beta.threads.messages.create(thread.id, role="user", content="x",
                                            attachments=[{"file_id": note, "tools": [{"type": "code_interpreter"}]}])
    with pytest.raises(openai.BadRequestError):  # one store at most
        client.beta.assistants.create(model=model, tools=[{"type": "file_search"}],
                                      tool_resources={"file_search": {"vector_store_ids": [store_id, thread_store]}})
