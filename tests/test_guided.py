"""The guided provider: routing, argument parsers, questions, templates, help, live runs, fallback."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from openai import OpenAI

from hilo.nlu import embed, parsers
from hilo.nlu.lang import detect
from hilo.nlu.render import render
from hilo.packs import load_assistant_spec
from hilo.packs.trading_mentor import parsers as trading
from hilo.providers.base import ModelRequest, TextDelta, ToolCallDelta
from hilo.providers.guided import HELP, GuidedProvider
from hilo.testing.fake_openai import FakeOpenAIServer
from hilo.testing.server import start_server
from hilo.tools import AssistantInfo, ToolRegistry
from tests.conftest import make_settings
from tests.guided_tools import DATA, TOOLS, VOCABULARY, installed

SCHEMAS = [t.schema() for t in TOOLS]
MENTOR = load_assistant_spec("guided_test", DATA / "guided_test_mentor.toml")
COURSES = load_assistant_spec("guided_test", DATA / "guided_test_courses.toml")


@pytest.fixture(scope="module")
def guided(tmp_path_factory) -> GuidedProvider:
    registry = ToolRegistry()
    for tool in TOOLS:
        registry.register(tool)
    provider = GuidedProvider(registry, cache_dir=tmp_path_factory.mktemp("guided"))
    provider.parsers.add(VOCABULARY)
    provider.add_profile(MENTOR)
    provider.add_profile(COURSES)
    return provider


def as_assistant(profile) -> AssistantInfo | None:
    """Who a request answers for: the pack assistant of a definition (as the engine says)."""
    if profile is None:
        return None
    return AssistantInfo("asst_test", profile.name, metadata={"hilo_pack": profile.pack, "hilo_key": profile.key})


def ask(guided: GuidedProvider, *turns: str, system: str | None = None, profile=None, tools=SCHEMAS,
        tool_choice="auto"):
    system = system or (profile.instructions if profile else None)
    messages = [{"role": "system", "content": system}] if system else []
    for i, text in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return guided.decide(ModelRequest(model="guided", messages=messages, tools=tools, tool_choice=tool_choice,
                                      assistant=as_assistant(profile)))


def tool_result(name: str, output: dict, profile=None) -> ModelRequest:
    messages = [{"role": "system", "content": profile.instructions}] if profile else []
    messages += [
        {"role": "user", "content": "..."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(output, ensure_ascii=False)},
    ]
    return ModelRequest(model="guided", messages=messages, tools=SCHEMAS, assistant=as_assistant(profile))


# ---------------------------------------------------------------------- routing and arguments
@pytest.mark.parametrize(("text", "tool", "arguments"), [
    ("¿a cuánto está el ether ahora?", "get_crypto_price", {"symbol": "ETH"}),
    ("bitcoin price today", "get_crypto_price", {"symbol": "BTC"}),
    ("cotización euro dólar", "get_forex_price", {"pair": "EUR/USD"}),
    ("how many yen for one dollar?", "get_forex_price", {"pair": "USD/JPY"}),
    ("mira este gráfico https://c.example.com/x.png y dime la tendencia", "analyze_image",
     {"image_url": "https://c.example.com/x.png", "analysis_type": "trend"}),
    ("¿tienen cursos de python para principiantes?", "buscar_curso", {"query": "python", "nivel": "básico"}),
    ("¿qué horario tiene el curso 2?", "detalle_curso", {"curso_id": 2}),
])
def test_routes_and_parses_arguments(guided, text, tool, arguments):
    decision = ask(guided, text)
    assert (decision.route, decision.arguments) == (tool, arguments)


def test_labelled_utterances_reach_the_targets(guided):
    """The held-out set (none of them is a tool example) routes >= 95% right."""
    rows = [json.loads(line) for line in (DATA / "guided_utterances.jsonl").read_text().splitlines()]
    examples = {e for t in TOOLS for e in t.examples}
    assert len(rows) >= 200 and not examples & {r["text"] for r in rows}
    assert {r.get("tool", HELP) for r in rows} == {t.name for t in TOOLS} | {HELP}
    right = sum(ask(guided, r["text"]).route == r.get("tool", HELP) for r in rows)
    assert right / len(rows) >= 0.95


def test_help_reply_uses_the_assistants_help_and_language(guided):
    decision = ask(guided, "hola, ¿qué tal?", profile=MENTOR)
    assert (decision.route, decision.text) == (HELP, MENTOR.help)
    generic = ask(guided, "good morning!", system="You answer questions.", tools=SCHEMAS[:1])
    assert generic.route == HELP and generic.text.startswith("I can help with: Current price of a cryptocurrency")


def test_low_confidence_goes_to_help(guided):
    guided.threshold, saved = 0.99, guided.threshold
    try:
        assert ask(guided, "¿a cuánto está el ether ahora?").route == HELP
    finally:
        guided.threshold = saved


async def test_unsure_messages_go_to_the_knowledge_hook_first(guided, monkeypatch):
    async def knowledge(request, text, lang):
        return f"knowledge ({lang}): {text}" if "Francia" in text else None

    monkeypatch.setattr(guided, "knowledge", knowledge)
    monkeypatch.setattr(guided, "threshold", 0.99)
    request = ModelRequest(model="guided", messages=[{"role": "user", "content": "¿capital de Francia?"}], tools=SCHEMAS)
    assert [e.text async for e in guided.stream(request) if isinstance(e, TextDelta)] == \
        ["knowledge (es): ¿capital de Francia?"]
    request.messages = [{"role": "user", "content": "¿algo más?"}]
    texts = [e.text async for e in guided.stream(request) if isinstance(e, TextDelta)]
    assert "ayud" in texts[0] and "{" not in texts[0]  # no answer from knowledge: the help reply


def test_tool_choice_none_and_forced(guided):
    assert ask(guided, "precio de bitcoin", tool_choice="none").route == HELP
    forced = {"type": "function", "function": {"name": "get_forex_price"}}
    assert ask(guided, "libra a yen", tool_choice=forced).arguments == {"pair": "GBP/JPY"}


# ---------------------------------------------------------------------- missing arguments
def test_missing_argument_is_asked_for_then_taken_from_the_answer(guided):
    first = ask(guided, "quiero saber el precio de una criptomoneda", profile=MENTOR)
    assert not first.call and first.text == "¿De qué criptomoneda quieres el precio? Por ejemplo: BTC o ETH."
    follow = ask(guided, "quiero saber el precio de una criptomoneda", first.text, "solana", profile=MENTOR)
    assert (follow.route, follow.arguments) == ("get_crypto_price", {"symbol": "SOL"})


def test_a_pair_is_completed_across_turns(guided):
    first = ask(guided, "¿a cuánto está el euro?")
    assert first.route == "get_forex_price" and first.text.startswith("¿Qué par de divisas")
    follow = ask(guided, "¿a cuánto está el euro?", first.text, "contra el dólar")
    assert follow.arguments == {"pair": "EUR/USD"}


def test_a_new_question_after_a_question_is_routed_afresh(guided):
    first = ask(guided, "quiero saber el precio de una criptomoneda")
    follow = ask(guided, "quiero saber el precio de una criptomoneda", first.text, "¿tienen cursos de excel?")
    assert follow.route == "buscar_curso"


def test_an_image_needs_a_url_or_a_file(guided):
    decision = ask(guided, "analyze this chart for me", profile=COURSES)
    assert decision.route == "analyze_image" and decision.text == "Send me the image's URL or the id of the file you uploaded."
    assert ask(guided, "analiza el gráfico file_ab12cd34ef56").arguments == {"file_id": "file_ab12cd34ef56"}


# ---------------------------------------------------------------------- phrasing
def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:[.,]\d+)*", text))


def test_tool_result_is_phrased_with_its_template_in_the_assistants_language(guided):
    output = {"base": "BTC", "quote": "USDT", "price": 97123.45, "price_text": "97,123.45", "source": "fake"}
    es = guided.decide(tool_result("get_crypto_price", output, MENTOR))
    assert es.text == "BTC cotiza a 97,123.45 USDT. Fuente: fake."
    en = guided.decide(tool_result("get_crypto_price", output, COURSES))
    assert en.text == "BTC is trading at 97,123.45 USDT. Source: fake."
    assert _numbers(es.text) <= _numbers(json.dumps(output))


def test_list_results_repeat_their_line_and_empty_lists_say_so(guided):
    found = {"total": 2, "cursos": [
        {"id": 1, "nombre": "Python", "nivel": "básico", "modalidad": "virtual", "precio": 120},
        {"id": 4, "nombre": "Django", "nivel": "avanzado", "modalidad": "presencial", "precio": 200}]}
    text = guided.decide(tool_result("buscar_curso", found, MENTOR)).text
    assert text == ("Encontré 2 curso(s):\n- #1 Python (básico, virtual): 120 USD\n"
                    "- #4 Django (avanzado, presencial): 200 USD")
    empty = guided.decide(tool_result("buscar_curso", {"total": 0, "cursos": []}, MENTOR)).text
    assert empty == "Encontré 0 curso(s):\nNo encontré cursos para esa búsqueda."


def test_errors_are_stated_honestly_and_unfit_outputs_are_listed(guided):
    # a tool's own sentence (a ToolError) in the reply's language is the answer
    error = guided.decide(tool_result("get_forex_price", {"error": "no tengo la tasa de ABC/XYZ"}, MENTOR))
    assert error.text == "no tengo la tasa de ABC/XYZ"
    # anything else (another language, an internal failure, a timeout, bad arguments) is an apology
    # with what to try, and none of the detail
    for output in ({"error": "the exchange rejected the request: ExchangeNotAvailable"},
                   {"error": "the tool get_forex_price failed because of an internal problem", "error_type": "internal"},
                   {"error": "the tool get_forex_price did not answer in time", "error_type": "timeout"},
                   {"error": "invalid arguments for get_forex_price: pair: Field required", "error_type": "invalid_arguments"}):
        text = guided.decide(tool_result("get_forex_price", output, MENTOR)).text
        assert text.startswith("Lo siento") and "intenta" in text.lower() or "otra forma" in text, text
        assert not any(w in text for w in ("Exchange", "tool", "error", "Field", "get_forex_price")), text
    odd = guided.decide(tool_result("get_crypto_price", {"base": "BTC", "last": 5.5}, MENTOR))
    assert odd.text == "Esto es lo que obtuve: base: BTC; last: 5,5."


def test_render_never_invents():
    assert render("{a} y {b}", {"a": 1}) is None
    assert render("{x:,.2f}", {"x": 1234.5}) == "1,234.50"


# ---------------------------------------------------------------------- parsers and language
def test_parsers():
    assert trading.parse_crypto("¿y el ether?") == "ETH" and trading.parse_crypto("el sol brilla") is None
    assert trading.parse_pair("euro dólar") == trading.parse_pair("eur/usd") == trading.parse_pair("EURUSD") == "EUR/USD"
    assert trading.parse_pair("dólar canadiense a euros") == "CAD/EUR"
    assert [parsers.parse_number(t) for t in ("1.234,5", "65.000", "2,5", "65k")] == [1234.5, 65000, 2.5, 65000]
    assert parsers.parse_date("el 3 de marzo de 2027") == "2027-03-03" == parsers.parse_date("March 3rd, 2027")
    assert parsers.parse_integer_id("el número 12") == 12
    assert detect("¿cuánto vale?") == "es" and detect("how much is it?") == "en" and detect("ok") is None


def test_core_parsers_know_no_pack_and_packs_add_their_words():
    core, courses = parsers.Parsers(), parsers.Parsers([VOCABULARY])
    level = {"type": "object", "properties": {"nivel": {"enum": ["básico", "intermedio", "avanzado"]},
                                              "query": {"type": "string"}}}
    assert core.parse_arguments(level, "algo para novatos")[0].get("nivel") is None
    assert courses.parse_arguments(level, "algo para novatos")[0]["nivel"] == "básico"
    assert courses.parse_arguments(level, "advanced python")[0] == {"nivel": "avanzado", "query": "python"}
    course_id = parsers.Param("curso_id", {"type": "integer"}, True, "int_id")
    assert core.parse_value(course_id, "el curso 12 y 3") is None  # two numbers, no word for an id
    assert courses.parse_value(course_id, "el curso 12 y 3") == 12
    assert courses.parse_value(parsers.Param("query", {"type": "string"}, True, "text"),
                               "busco un curso de diseño gráfico") == "diseño gráfico"
    coin = {"type": "object", "properties": {"symbol": {"type": "string"}}}
    assert core.params_of(coin)[0].kind == "text" and courses.params_of(coin)[0].kind == "crypto"
    assert detect("¿cuánto vale?") == "es" and detect("how much is it?") == "en" and detect("ok") is None


# ---------------------------------------------------------------------- embeddings cache
def test_example_vectors_are_persisted_and_reused(tmp_path, monkeypatch):
    first = embed.Embedder(cache_dir=tmp_path)
    vectors = first.examples(["una frase de ejemplo única 1", "otra frase de ejemplo única 2"])
    assert first.cache_file.exists()
    monkeypatch.setattr(embed, "_memory", {})
    monkeypatch.setattr(embed, "_on_disk", {})
    monkeypatch.setattr(embed, "_engine", lambda threads: pytest.fail("re-embedded after a restart"))
    again = embed.Embedder(cache_dir=tmp_path).examples(["una frase de ejemplo única 1", "otra frase de ejemplo única 2"])
    assert (again == vectors).all()


async def test_every_embedding_runs_on_the_engines_one_thread(guided, monkeypatch):
    """A second calling thread would give the OpenMP runtime a second team and halve its speed."""
    import threading

    import numpy as np

    from hilo.packs.courses import service

    real, callers = embed._engine(), set()

    class Recording:
        def query(self, texts):
            callers.add(threading.get_ident())
            return real.query(texts)

        def passage(self, texts):
            callers.add(threading.get_ident())
            return real.passage(texts)

    monkeypatch.setattr(embed, "_engine", lambda threads=2: Recording())
    embed.Embedder().query("desde el hilo principal")
    await asyncio.to_thread(embed.Embedder().query, "desde otro hilo")
    assert isinstance(await service.embed_query("curso de inglés"), np.ndarray)
    service.embed_passages(["un pasaje"])
    request = ModelRequest(model="guided", messages=[{"role": "user", "content": "precio de BTC"}], tools=SCHEMAS)
    [e async for e in guided.stream(request)]
    assert len(callers) == 1 and threading.get_ident() not in callers


def test_punctuation_is_not_embedded():
    from hilo.providers.guided import for_embedding

    assert for_embedding("¿Cuánto vale el BTC hoy?") == "Cuánto vale el BTC hoy"
    assert for_embedding("¡Hola!  ¿qué tal?... (gracias)") == "Hola qué tal gracias"
    assert for_embedding("precio del EUR/USD") == "precio del EUR/USD"


async def test_stream_emits_one_tool_call(guided):
    request = ModelRequest(model="guided", messages=[{"role": "user", "content": "precio de BTC"}], tools=SCHEMAS)
    events = [e async for e in guided.stream(request)]
    assert isinstance(events[0], ToolCallDelta) and events[0].name == "get_crypto_price"
    assert json.loads(events[0].arguments) == {"symbol": "BTC"} and events[-1].reason == "tool_calls"
    request.messages = [{"role": "user", "content": "hola"}]
    events = [e async for e in guided.stream(request)]
    assert isinstance(events[0], TextDelta) and events[-1].reason == "stop"


# ---------------------------------------------------------------------- through the live server
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with installed(tmp_path_factory.mktemp("site")) as dist:
        yield dist


def _run(client: OpenAI, assistant_id: str, text: str):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=20)
    reply = client.beta.threads.messages.list(thread_id=thread.id).data[0].content[0].text.value
    return run, reply, client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc").data


def test_a_guided_run_through_the_live_server(site, database_factory, tmp_path: Path):
    settings = make_settings(database_factory("sqlite"), tmp_path, llm_provider="guided", packs="guided_test")
    with start_server(settings) as live, OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0) as client:
        run, reply, steps = _run(client, live.app.state.pack_assistants["guided_test/mentor"], "¿cuánto vale el bitcoin?")
        assert run.status == "completed", run.last_error
        assert reply == "BTC cotiza a 97,123.45 USDT. Fuente: fake-exchange."
        call = steps[0].step_details.tool_calls[0]
        assert (steps[0].type, call.function.name, json.loads(call.function.arguments)) == \
            ("tool_calls", "get_crypto_price", {"symbol": "BTC"})
        assert json.loads(call.function.output)["price"] == 97123.45
        assert steps[1].type == "message_creation"
        courses = live.app.state.pack_assistants["guided_test/courses"]
        run, reply, _ = _run(client, courses, "hi!")
        assert (run.status, reply) == ("completed", COURSES.help)
        # told which assistant it answers for: edited instructions keep the pack's profile
        client.beta.assistants.update(courses, instructions="Instrucciones nuevas, escritas por el dueño.")
        run, reply, _ = _run(client, courses, "hi!")
        assert (run.status, reply) == ("completed", COURSES.help)
    assert (tmp_path / "guided").is_dir()  # example vectors persisted for the next start


def test_fallback_to_guided_when_the_model_fails(site, database_factory, tmp_path: Path):
    with FakeOpenAIServer() as fake:
        fake.queue({"status": 500}, {"status": 500})
        settings = make_settings(database_factory("sqlite"), tmp_path, llm_provider="openai", packs="guided_test",
                                 llm_base_url=fake.base_url, llm_api_key="k", llm_max_retries=0)
        with start_server(settings) as live, OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0) as client:
            run, reply, steps = _run(client, live.app.state.pack_assistants["guided_test/mentor"], "precio del EUR/USD")
            assert run.status == "completed", run.last_error
            assert run.metadata["hilo_fallback"].startswith("guided: openai failed")
            assert reply == "1 EUR = 1.0842 USD. Fuente: fake-ecb."
            assert steps[0].step_details.tool_calls[0].function.name == "get_forex_price"
        assert len(fake.requests) == 1  # one failed call, then guided kept the run


def test_place_arguments_for_client_side_functions():
    from hilo.nlu.parsers import parse_arguments, parse_place

    assert parse_place("¿Qué tiempo hace en Bogotá?") == "Bogotá"
    assert parse_place("What is the weather in New York today?") == "New York"
    assert parse_place("¿y en la Ciudad de México?") == "Ciudad de México"
    assert parse_place("hola") is None
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    assert parse_arguments(schema, "clima en San Juan de Pasto") == ({"city": "San Juan de Pasto"}, [])
