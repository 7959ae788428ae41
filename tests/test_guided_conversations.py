"""Issue 10's multi-turn conversation set: the matcher's own tests, and both parts scored live.

The data and the harness are in ``tests/guided_conversations.py`` (its docstring says how a turn is
scored); ``bench/conversations.py`` runs the same code and prints the full report. The held-out
part is kept out of any tuning: its failures are shown only as where they are.
"""

from __future__ import annotations

from collections import Counter

import pytest
from openai import OpenAI

from tests import guided_conversations as gc
from tests.conftest import BACKENDS

COURSES = [
    {"id": 13, "nombre": "Inglés A1 para principiantes", "nivel": "básico", "modalidad": "presencial", "precio": 350000.0},
    {"id": 14, "nombre": "Inglés B1: comunicación intermedia", "nivel": "intermedio", "modalidad": "híbrido", "precio": 420000.0},
    {"id": 15, "nombre": "Inglés de negocios y preparación IELTS", "nivel": "avanzado", "modalidad": "virtual", "precio": 690000.0},
]


# ---------------------------------------------------------------------- the matcher
def test_only_catches_the_filler_a_query_kept():
    spec = {"all": ["ingles"], "only": True}
    assert gc.match_arg(spec, "inglés") is None and gc.match_arg(spec, "INGLES") is None
    assert gc.match_arg(spec, "cursos de inglés") == "has other words ['cursos']"
    assert "cuanto" in gc.match_arg(spec, "inglés Cuánto cuestan")
    assert gc.match_arg({"all": ["ingles"]}, "inglés Cuánto cuestan") is None  # without only: contained is enough
    assert gc.match_arg({"all": ["diseno grafico"], "only": True}, "Diseño gráfico") is None
    assert gc.match_arg({"all": ["marketing"], "only": True, "allow": ["digital"]}, "marketing digital") is None
    assert gc.match_arg({"all": ["excel"], "only": True}, "d exel") == "lacks ['excel']"


def test_text_specs_fold_and_check_every_term():
    assert gc.fold("  Ñandú Básico ") == "nandu basico"
    assert gc.match_arg({"all": ["usd", "mxn"], "ordered": True}, "USD/MXN") is None
    assert gc.match_arg({"all": ["usd", "mxn"], "ordered": True}, "MXN/USD").startswith("terms not in the order")
    assert gc.match_arg({"any": ["btc", "bitcoin"]}, "Bitcoin") is None
    assert gc.match_arg({"any": ["btc", "bitcoin"]}, "ETH") == "has none of ['btc', 'bitcoin']"
    assert gc.match_arg({"all": ["45812"], "none": ["45821"]}, "45812 o 45821") == "contains ['45821']"
    assert gc.match_arg({"all": ["sol"]}, None, present=False) == "absent"
    assert gc.match_arg("básico", "Basico") is None and gc.match_arg("básico", "avanzado") is not None
    assert gc.match_arg([{"all": ["excel"]}, {"all": ["exel"]}], "exel") is None
    assert gc.match_arg([{"all": ["excel"]}, {"all": ["exel"]}], "word") is not None


def test_empty_numbers_and_dates():
    for blank in (None, "", "   ", []):
        assert gc.match_arg({"empty": True}, blank) is None
    assert gc.match_arg({"empty": True}, None, present=False) is None
    assert gc.match_arg({"empty": True}, "buenas q manejan") == "should be empty, is 'buenas q manejan'"
    assert gc.match_arg(400000, 400000.0) is None and gc.match_arg(400000, "400000") is None
    assert gc.match_arg(400000, 40000) is not None and gc.match_arg(400000, None, present=False) == "absent"
    assert gc.match_arg(1, True) is not None  # a boolean is no number
    assert gc.match_arg({"date_offset": 0}, gc.date.today().isoformat()) is None
    assert gc.match_arg({"date_offset": 1}, gc.date.today().isoformat()) is not None


def test_refs_resolve_against_what_was_listed_not_the_ranking():
    assert [c["id"] for c in gc.resolve_ref("cheapest", COURSES)] == [13]
    assert [c["id"] for c in gc.resolve_ref("priciest", COURSES)] == [15]
    assert [c["id"] for c in gc.resolve_ref("second", COURSES)] == [14]
    assert [c["id"] for c in gc.resolve_ref("last", COURSES)] == [15]
    assert [c["id"] for c in gc.resolve_ref({"name": "negocios"}, COURSES)] == [15]
    assert [c["id"] for c in gc.resolve_ref({"where": {"nivel": "basico"}}, COURSES)] == [13]
    assert [c["id"] for c in gc.resolve_ref({"name": "ingles", "pick": "cheapest"}, COURSES)] == [13]
    assert len(gc.resolve_ref({"name": "ingles"}, COURSES)) == 3  # ambiguous: any of them
    assert gc.resolve_ref("third", COURSES[:2]) == [] and gc.resolve_ref("first", None) == []
    assert gc.match_arg({"ref": "cheapest"}, 13, COURSES) is None
    assert gc.match_arg({"ref": "cheapest"}, "13", COURSES) is None
    assert gc.match_arg({"ref": "cheapest"}, 15, COURSES) == "15 is not 'cheapest' (id 13)"
    assert gc.match_arg({"ref": {"name": "aleman"}}, 1, COURSES).startswith("ref {'name': 'aleman'} resolves to nothing")
    products = [{"id": "P-104", "nombre": "Forro silicona", "precio": 35000}, {"id": "P-118", "nombre": "Forro antigolpes", "precio": 52000}]
    assert gc.match_arg({"ref": {"name": "antigolpes"}}, "p-118", products) is None


def test_list_like_outputs():
    found = {"query": "inglés", "total": 3, "cursos": COURSES}
    assert gc.list_items(found) == COURSES
    assert gc.list_items(gc.json.dumps(found)) == COURSES
    assert gc.list_items({"id": 13, "nombre": "Inglés A1"}) is None  # one item's details are no list
    assert gc.list_items({"error": "No encontré cursos"}) is None and gc.list_items("not json") is None


def test_check_scores_tool_arguments_and_reply():
    expect = {"tool": "buscar_curso", "args": {"query": {"all": ["ingles"], "only": True}}}
    right = gc.check(expect, [gc.Call("buscar_curso", {"query": "inglés"})], "Estos son los cursos...")
    assert right.correct and right.reasons == []
    filler = gc.check(expect, [gc.Call("buscar_curso", {"query": "inglés Cuánto cuestan"})], "...")
    assert (filler.tool_ok, filler.args_ok, filler.correct) == (True, False, False)
    wrong = gc.check(expect, [gc.Call("detalle_curso", {"curso_id": 1})], "...")
    assert not wrong.tool_ok and not wrong.args_ok and "expected buscar_curso, got detalle_curso" in wrong.reasons[0]
    asked = gc.check(expect, [], "¿Cuál es el número (id) del curso?")
    assert not asked.tool_ok and "got no tool call" in asked.reasons[0]
    smalltalk = {"reply": True, "none": ["(id)", "weather"]}
    assert gc.check(smalltalk, [], "¡Con gusto!").correct
    assert not gc.check(smalltalk, [], "Puedo ayudarte con: Weather in a city.").correct
    assert not gc.check(smalltalk, [gc.Call("get_weather", {"city": "x"})], "").correct
    assert not gc.check(smalltalk, [], "").correct
    weather = {"tool": "get_weather", "args": {"city": {"all": ["medellin"]}}, "reply": {"all": ["14"], "none": ["temp_c"]}}
    call = [gc.Call("get_weather", {"city": "Medellín"})]
    assert gc.check(weather, call, "En Medellín hay 14 °C y está nublado.").correct
    raw = gc.check(weather, call, "temp_c: 14")
    assert (raw.tool_ok, raw.args_ok, raw.reply_ok) == (True, True, False)
    follow = {"tool": "detalle_curso", "args": {"curso_id": {"ref": "cheapest"}}}
    assert gc.check(follow, [gc.Call("detalle_curso", {"curso_id": 13})], "...", COURSES).correct
    assert not gc.check(follow, [gc.Call("detalle_curso", {"curso_id": 13})], "...", None).correct
    assert not gc.check(follow, [gc.Call("detalle_curso", "12")], "...", COURSES).args_ok  # not a JSON object


def test_validate_refuses_malformed_conversations():
    good = {"id": "x", "assistant": "courses", "turns": [{"user": "hola", "kind": ["smalltalk"], "expect": {"reply": True}}]}
    gc.validate([good])
    for bad in (
        {**good, "assistant": "nobody"},
        {**good, "turns": [{"user": "hola", "kind": ["chitchat"], "expect": {"reply": True}}]},
        {**good, "turns": [{"user": "hola", "kind": ["smalltalk"], "expect": {}}]},
        {**good, "turns": [{"user": "hola", "kind": ["smalltalk"], "expect": {"reply": True, "nothing": []}}]},
        {**good, "turns": [{"user": "el 2", "kind": ["follow_up"], "expect": {"tool": "detalle_curso",
                                                                            "args": {"curso_id": {"ref": "fourth"}}}}]},
    ):
        with pytest.raises(ValueError):
            gc.validate([bad])
    with pytest.raises(ValueError):
        gc.validate([good, good])


def test_the_two_parts_cover_every_kind_and_share_nothing():
    parts = {part: gc.load(part) for part in gc.PARTS}
    for part, conversations in parts.items():
        turns = [t for c in conversations for t in c["turns"]]
        kinds = Counter(k for t in turns for k in t["kind"])
        assert len(conversations) >= 35 and len(turns) >= 140, part
        assert set(kinds) == gc.KINDS and min(kinds.values()) >= 6, (part, kinds)
        assert {c["assistant"] for c in conversations} == {"courses", "mentor", *gc.CLIENT_ASSISTANTS}
    texts = {part: {gc.fold(t["user"]) for c in convs for t in c["turns"]} for part, convs in parts.items()}
    assert not texts["dev"] & texts["heldout"]
    assert all(c["id"].startswith("h") and c["id"][1:].isdigit() for c in parts["heldout"])  # ids say nothing


# ---------------------------------------------------------------------- both parts, live
@pytest.fixture(scope="module", params=BACKENDS)
def scored(request, database_factory, tmp_path_factory) -> list[gc.TurnResult]:
    with gc.serve(database_factory(request.param), tmp_path_factory.mktemp("data")) as live, \
            OpenAI(base_url=live.url + "/v1", api_key="test-key", max_retries=0, timeout=120) as client:
        return gc.run_parts(client)


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("part", gc.PARTS)
def test_per_turn_accuracy(scored, part):
    """Per-turn accuracy never falls below what it reached (dev 98.7 %, held-out 90.7 % at
    531f7b6; dev 70.5 %, held-out 66.0 % at 37d79b5). The issue's target is gc.TARGET (95 %), met
    on dev, not yet on the held-out part: raise FLOOR as it improves."""
    summary = gc.summarize([r for r in scored if r.part == part])
    assert summary[part]["turns"] >= 140
    assert summary[part]["accuracy"] >= FLOOR[part], gc.format_report(summary, show_failures=True)


FLOOR = {"dev": 0.97, "heldout": 0.89}  # a regression floor just under the measured figures
