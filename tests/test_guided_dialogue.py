"""The guided provider across turns: openers, references to what was shown, corrections,
follow-ups that change the last call, and the free text and amounts the parsers read.

Pure functions are tested directly; the decisions through :meth:`GuidedProvider.decide` with the
test tools of ``tests/guided_tools.py`` and conversations written as the engine sends them.
"""

from __future__ import annotations

import json

import pytest

from hilo.nlu import dialogue, parsers
from hilo.packs.courses import parsers as courses
from hilo.packs.courses import search
from hilo.packs.loader import discover
from hilo.packs.trading_mentor import parsers as trading
from hilo.providers import guided as guided_module
from hilo.providers.base import ModelRequest
from hilo.providers.guided import HELP, GuidedProvider
from hilo.tools import ToolRegistry
from tests.test_guided import SCHEMAS, guided  # noqa: F401  (the module's provider fixture)

COURSE_LIST = {"cursos": [
    {"id": 3, "nombre": "Guitarra para principiantes", "nivel": "básico", "modalidad": "presencial", "precio": 300000},
    {"id": 8, "nombre": "Guitarra eléctrica", "nivel": "intermedio", "modalidad": "virtual", "precio": 420000},
    {"id": 9, "nombre": "Guitarra: improvisación y jazz", "nivel": "avanzado", "modalidad": "virtual", "precio": 510000},
]}


def converse(provider, *turns, tools=SCHEMAS):
    """Decide the last user turn of a conversation: a str is a user (even places) or assistant
    message; a tuple (name, arguments, output) is a tool call the assistant made and its output."""
    messages, user = [], True
    for i, turn in enumerate(turns):
        if isinstance(turn, tuple):
            name, arguments, output = turn
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{i}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}]})
            messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": json.dumps(output, ensure_ascii=False)})
            user = False
            continue
        messages.append({"role": "user" if user else "assistant", "content": turn})
        user = not user
    return provider.decide(ModelRequest(model="guided", messages=messages, tools=tools, tool_choice="auto"))


# ---------------------------------------------------------------------- openers
@pytest.mark.parametrize(("text", "rest"), [
    ("ok thanks, y el intermedio es online?", "y el intermedio es online?"),
    ("hola! tienen de guitarra?", "tienen de guitarra?"),
    ("Bueno, y el clima en Tunja hoy?", "y el clima en Tunja hoy?"),
    ("qué onda, tienen algo de bases de datos?", "tienen algo de bases de datos?"),
    ("ok y las bandas de bollinger", "y las bandas de bollinger"),
    ("gracias!", ""),
    ("vale la pena comprar?", "vale la pena comprar?"),  # "vale" opens only before a comma
    ("va a llover en cali", "va a llover en cali"),
])
def test_what_a_message_opens_with_is_not_what_it_asks(text, rest):
    assert dialogue.without_opening(text) == rest


def test_a_greeting_does_not_hide_the_request(guided):  # noqa: F811
    decision = converse(guided, "hola, buenas tardes! ¿tienen cursos de excel?")
    assert decision.route == "buscar_curso" and decision.arguments["query"] == "excel"


# ---------------------------------------------------------------------- references
def test_most_expensive_is_not_the_cheapest():
    items = COURSE_LIST["cursos"]
    assert dialogue.reference("el mas caro cual es", items, None).item["id"] == 9
    assert dialogue.reference("el más barato", items, None).item["id"] == 3
    assert dialogue.reference("el menos caro", items, None).item["id"] == 3


def test_an_item_is_named_by_one_of_its_values():
    items = COURSE_LIST["cursos"]
    assert dialogue.reference("listo, el intermedio", items, None).item["id"] == 8
    assert dialogue.reference("ok thanks, y el avanzado es online?", items, None).item["id"] == 9
    assert dialogue.reference("la eléctrica cuánto vale", items, None).item["id"] == 8
    assert dialogue.reference("el virtual", items, None) is None  # two are virtual: no pick
    assert dialogue.reference("el precio", items, None) is None


def test_a_question_about_it_names_no_item():
    for text in ("¿es para principiantes?", "dale, y donde es?", "is it online?", "y cuándo es?"):
        assert dialogue.about_it(text), text
    for text in ("ese es virtual?", "¿tienen cursos de python?", "esta bien, gracias"):
        assert not dialogue.about_it(text), text


def test_a_follow_up_about_it_asks_for_the_item_shown(guided):  # noqa: F811
    decision = converse(guided, "¿tienen de guitarra?", ("buscar_curso", {"query": "guitarra"}, COURSE_LIST),
                        "Estos son los cursos...", "¿es para principiantes?")
    assert (decision.route, decision.arguments) == ("detalle_curso", {"curso_id": 3})
    decision = converse(guided, "¿tienen de guitarra?", ("buscar_curso", {"query": "guitarra"}, COURSE_LIST),
                        "Estos son los cursos...", "ok gracias, y el intermedio es online?")
    assert (decision.route, decision.arguments) == ("detalle_curso", {"curso_id": 8})


def test_two_questions_start_with_the_one_a_tool_can_answer_now(guided):  # noqa: F811
    # the second clause is the closer one to a tool (the details', 0.94), which needs a course's id
    decision = converse(guided, "¿tienen cursos de guitarra? ¿y cuánto cuesta el curso?")
    assert (decision.route, decision.arguments) == ("buscar_curso", {"query": "guitarra"})
    shown = converse(guided, "¿tienen cursos de guitarra?", ("buscar_curso", {"query": "guitarra"}, COURSE_LIST),
                     "Estos son...", "¿tienen cursos de guitarra? ¿y cuánto cuesta el curso?")
    assert shown.route == "detalle_curso"  # with a list shown, the details' clause may take its first


# ---------------------------------------------------------------------- free text and amounts
FILLER = parsers.Parsers([courses.VOCABULARY]).filler


@pytest.mark.parametrize(("text", "query"), [
    ("qué onda, tienen algo de bases de datos?", "bases de datos"),
    ("ok, entonces tienen algo de estadistica?", "estadistica"),
    ("tienen forros para iphone 13?", "forros iphone 13"),
    ("tienen cursos de python virtuales que cuesten menos de un palo?", "python"),
    ("cursos virtuales de inglés por menos de 500 mil", "inglés"),
    ("no, mejor avanzado, ya se lo basico", None),
    ("perdón, intermedio", None),
    ("el curso 5", None),
    ("machine learning o inteligencia artificial", "machine learning o inteligencia artificial"),
    ("python de 3 meses", "python meses"),
])
def test_queries_keep_the_subject_whole_and_drop_the_rest(text, query):
    assert parsers.parse_query(text, FILLER) == query


@pytest.mark.parametrize(("text", "amount"), [
    ("que cuesten menos de un palo", 1_000_000), ("hasta 2 palos", 2_000_000), ("menos de medio palo", 500_000),
    ("menos de 50 lucas", 50_000), ("hasta $400.000", 400_000), ("under 300k", 300_000),
    ("que no pase de 400 mil", 400_000), ("un palo de escoba", None), ("el curso 5", None),
])
def test_spoken_budgets(text, amount):
    assert parsers.parse_max_price(text) == amount


def test_a_course_name_misspelt_by_one_letter_still_matches():
    assert search._one_edit("exel", "excel") and search._one_edit("pyton", "python")
    assert not search._one_edit("excel", "excel") and not search._one_edit("xcel", "excel")
    assert search._names({search.stem("Excel")}, "exel")
    assert not search._names({search.stem("Excel")}, "word")


# ---------------------------------------------------------------------- changing the last call
@pytest.fixture(scope="module")
def packs(tmp_path_factory) -> GuidedProvider:
    """The guided provider with the trading mentor's and the courses' own tools and words."""
    found = discover()
    registry, provider = ToolRegistry(), None
    provider = GuidedProvider(registry, cache_dir=tmp_path_factory.mktemp("guided-packs"))
    for key in ("trading_mentor", "courses"):
        for tool in found[key].tools:
            registry.register(tool)
        provider.parsers.add(found[key].vocabulary)
    return provider


def pack_schemas(provider, *names):
    return [provider.tools.get(n).schema() for n in names]


def test_a_correction_says_what_it_meant_after_no():
    assert dialogue.corrects("en euros no, en dólares") and dialogue.meant("en euros no, en dólares") == "en dolares"
    assert dialogue.meant("el martes no, el jueves") == "el jueves"
    assert dialogue.meant("ay no, mejor arreglo de barba") == "arreglo de barba"
    assert dialogue.meant("no, mejor avanzado") == "avanzado"
    assert dialogue.meant("es el 45812, no el 45821") is None  # "no el ..." names what it is not


def test_a_pair_changes_by_the_currency_named():
    assert trading.update_pair("USD/JPY", "y en pesos mexicanos?") == "USD/MXN"
    assert trading.update_pair("EUR/USD", "¿y la libra?") == "GBP/USD"
    assert trading.update_pair("USD/JPY", "y el yen?") is None and trading.update_pair("USD/JPY", "gracias") is None


PRICE_ETH = {"symbol": "ETH", "price": 3400.25, "quote": "USDT"}


def test_a_currency_alone_changes_the_last_price(packs):
    tools = pack_schemas(packs, "get_crypto_price", "get_forex_price", "explicar_concepto")
    for text in ("en euros porfa", "and in euros?"):
        decision = converse(packs, "¿y ethereum?", ("get_crypto_price", {"symbol": "ETH"}, PRICE_ETH), "ETH cotiza...",
                            text, tools=tools)
        assert (decision.route, decision.arguments) == ("get_crypto_price", {"symbol": "ETH", "quote_currency": "EUR"}), text
    fixed = converse(packs, "precio de solana en euros", ("get_crypto_price", {"symbol": "SOL", "quote_currency": "EUR"},
                                                          PRICE_ETH), "SOL cotiza...", "en euros no, en dólares", tools=tools)
    assert (fixed.route, fixed.arguments) == ("get_crypto_price", {"symbol": "SOL", "quote_currency": "USD"})
    pair = converse(packs, "¿cuántos yenes da un dólar?", ("get_forex_price", {"pair": "USD/JPY"}, {"rate": 150.2}),
                    "1 USD = 150,2 JPY", "y en pesos mexicanos?", tools=tools)
    assert (pair.route, pair.arguments) == ("get_forex_price", {"pair": "USD/MXN"})
    # a pair said in full is the forex tool's, whatever came before
    other = converse(packs, "¿y ethereum?", ("get_crypto_price", {"symbol": "ETH"}, PRICE_ETH), "ETH cotiza...",
                     "y el dólar contra el peso mexicano?", tools=tools)
    assert (other.route, other.arguments) == ("get_forex_price", {"pair": "USD/MXN"})


# ---------------------------------------------------------------------- client functions
WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                              "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                             "required": ["city"]}}}]
CITAS = [{"type": "function", "function": {
    "name": "agendar_cita", "description": "Agenda una cita en la barbería para un servicio y una fecha.",
    "parameters": {"type": "object", "required": ["fecha", "servicio"], "properties": {
        "fecha": {"type": "string", "format": "date"},
        "servicio": {"type": "string", "enum": ["corte de cabello", "arreglo de barba", "tinte", "manicure"]}}}}}]


@pytest.mark.parametrize(("text", "place"), [
    ("va a llover en cali mañana?", "cali"), ("clima cdmx", "cdmx"), ("weather london", "london"),
    ("¿Qué tiempo hace en Bogotá?", "Bogotá"), ("y en Puebla qué tal?", "Puebla"),
    ("llueve en serio", None), ("nos vemos en la tarde", None), ("clima", None),
])
def test_places_in_lower_case_and_after_the_topic(text, place):
    assert parsers.parse_place(text) == place


def test_an_enum_value_is_named_by_one_of_its_words():
    values = ["corte de cabello", "arreglo de barba", "tinte", "manicure"]
    assert parsers.parse_enum("quiero un corte para el lunes", values) == "corte de cabello"
    assert parsers.parse_enum("ay no, mejor la barba", values) == "arreglo de barba"
    assert parsers.parse_enum("dos cortes", values) == "corte de cabello"
    assert parsers.parse_enum("un corte de barba", values) is None  # two values named: ask
    assert parsers.parse_enum("nada de eso", values) is None


def test_a_described_tool_is_also_known_by_its_name(guided):  # noqa: F811
    assert converse(guided, "va a llover en cali mañana?", tools=WEATHER).arguments == {"city": "cali"}
    # a place named is no reason to call a tool the message is not about
    assert converse(guided, "¿cuál es la capital de Francia?", tools=WEATHER).route == "help"


def test_a_question_about_the_choices_lists_them(guided):  # noqa: F811
    decision = converse(guided, "q servicios manejan?", tools=CITAS)
    assert not decision.call and decision.text == (
        "Las opciones de servicios son: corte de cabello, arreglo de barba, tinte y manicure. ¿Cuál quieres?")
    assert "agendar_cita" not in decision.text
    booked = converse(guided, "quiero agendar un corte para el 15 de marzo", tools=CITAS)
    assert booked.route == "agendar_cita" and booked.arguments["servicio"] == "corte de cabello"
    assert booked.arguments["fecha"].endswith("-03-15")


def test_an_image_question_still_asks_for_the_image(guided):  # noqa: F811
    assert dialogue.without_opening("¿qué me dice este gráfico?") == "¿qué me dice este gráfico?"
    for text in ("¿qué me dice este gráfico de velas japonesas?", "hola, ¿qué me dice este gráfico de velas?"):
        decision = converse(guided, text)
        assert decision.route == "analyze_image" and not decision.call, text


# ---------------------------------------------------------------------- off topic
def test_requests_no_tool_answers_get_the_help_reply(guided, monkeypatch):  # noqa: F811
    off = ["me cuentas un chiste?", "escríbeme un poema de amor", "¿tienen algún descuento para estudiantes?"]
    on = ["¿dictan talleres de escritura creativa?", "¿tienen cursos de finanzas personales?", "¿cuánto vale el bitcoin?"]
    assert all(converse(guided, text).route == HELP and not converse(guided, text).call for text in off)
    assert all(converse(guided, text).call for text in on)
    assert "cuéntame" not in converse(guided, off[0]).text  # the help reply, no search for the words
    monkeypatch.setattr(guided_module, "OFF_TOPIC_EXAMPLES", [])
    guided._indexes.clear()
    try:
        assert all(converse(guided, text).route != HELP for text in off)  # what the examples of off-topic requests change
    finally:
        guided._indexes.clear()


def test_an_off_topic_request_does_not_change_the_last_call(packs):
    tools = pack_schemas(packs, "get_crypto_price", "get_forex_price", "explicar_concepto")
    decision = converse(packs, "precio del dogecoin", ("get_crypto_price", {"symbol": "DOGE"}, PRICE_ETH), "DOGE cotiza...",
                        "¿me puedes prestar plata para invertir?", tools=tools)
    assert not decision.call
    again = converse(packs, "precio del dogecoin", ("get_crypto_price", {"symbol": "DOGE"}, PRICE_ETH), "DOGE cotiza...",
                     "¿y si vendo?", tools=tools)
    assert again.arguments == {"symbol": "DOGE", "trade_intent": "sell"}


def test_with_a_knowledge_base_off_topic_examples_do_not_apply(guided):  # noqa: F811
    file_search = {"type": "function", "function": {"name": "file_search", "description": "Search the files",
                                                    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
    index = guided._index({"file_search": file_search["function"]}, None)
    assert guided_module.OFF_TOPIC not in index.labels


# ---------------------------------------------------------------------- codes, places, budgets, items by reference
ORDERS = [{"type": "function", "function": {
    "name": "order_status", "description": "Consulta el estado y la fecha de entrega de un pedido de la tienda por su número.",
    "parameters": {"type": "object", "required": ["order_number"],
                   "properties": {"order_number": {"type": "string", "description": "Número del pedido."}}}}}]


def test_a_code_is_distinctive_only_when_it_can_be_nothing_else():
    for text in ("pedido 45812", "#78230", "la referencia P-104", "es el 10452", "el numero es 77001"):
        assert parsers.distinctive_code(text), text
    for text in ("forros para iphone 13", "protector pa galaxy s23", "somos 12"):
        assert not parsers.distinctive_code(text), text


def test_more_places_and_budgets():
    assert parsers.parse_place("hace calor en santa marta?") == "santa marta"
    assert parsers.parse_place("en buenos aires hoy") == "buenos aires"
    assert parsers.parse_place("en medellin esta semana") == "medellin"
    assert parsers.parse_place("and Paris?") == "Paris" and parsers.parse_place("¿y Bogotá?") == "Bogotá"
    assert parsers.parse_place("y mañana?") is None and parsers.parse_place("quiero pagar en cuotas") is None
    assert parsers.parse_max_price("tengo 300 mil, que curso me alcanza?") == 300_000
    assert parsers.parse_query("tengo 300 mil, que curso me alcanza?", FILLER) is None


def test_items_known_by_their_reference_and_the_other_one():
    products = [{"referencia": "P-501", "nombre": "Audífonos JBL Tune 510", "precio": 189000},
                {"referencia": "P-502", "nombre": "Audífonos Xiaomi Buds", "precio": 99000}]
    assert dialogue.items_of({"productos": products}) == products and dialogue.id_of(products[1]) == "P-502"
    assert dialogue.reference("los xiaomi en que colores vienen?", products, None).item is products[1]
    assert dialogue.reference("y el otro?", products, products[1]).item is products[0]
    assert dialogue.reference("y el otro?", products, None) is None


def test_a_tool_is_called_when_the_message_gives_all_it_needs(guided):  # noqa: F811
    booked = converse(guided, "agéndame manicure para pasado mañana", tools=CITAS)
    assert booked.route == "agendar_cita" and booked.arguments["servicio"] == "manicure"
    assert converse(guided, "el numero es 77001", tools=ORDERS).arguments == {"order_number": "77001"}
    assert converse(guided, "¿cuál es la capital de Francia?", tools=WEATHER).route == HELP


def test_follow_ups_that_change_a_place_or_half_a_pair(guided, packs):  # noqa: F811
    weather = ("get_weather", {"city": "Madrid"}, {"temp_c": 12})
    for text, city in (("and Paris?", "Paris"), ("y mañana en Cartagena?", "Cartagena")):
        decision = converse(guided, "weather in Madrid please", weather, "12 °C", text, tools=WEATHER)
        assert decision.arguments == {"city": city}, text
    tools = pack_schemas(packs, "get_crypto_price", "get_forex_price", "explicar_concepto")
    pair = converse(packs, "euro contra dólar", ("get_forex_price", {"pair": "EUR/USD"}, {"rate": 1.05}), "1 EUR = 1,05 USD",
                    "y la libra?", tools=tools)
    assert (pair.route, pair.arguments) == ("get_forex_price", {"pair": "GBP/USD"})


# ---------------------------------------------------------------------- negations, failed searches, pairs
def test_a_value_said_with_no_is_ruled_out():
    assert courses.parse_modality("que no sean virtuales") is None
    assert courses.parse_level("no, no quiero intermedio, quiero basico") == "básico"
    assert courses.parse_modality("no, mejor virtual") == "virtual"  # "no," answers, it negates nothing
    assert parsers.parse_enum("sin tinte, solo corte", ["corte de cabello", "tinte"]) == "corte de cabello"
    assert parsers.parse_max_price("algo de ventas que no cueste mas de 300 mil") == 300_000
    assert parsers.parse_max_price("que cueste mas de 300 mil") is None  # a lowest price is no budget


def test_currency_codes_in_lower_case_and_a_pair_turned_around():
    assert trading.parse_pair("tasa usd cop") == "USD/COP"
    assert trading.update_pair("USD/COP", "al revés") == "COP/USD"
    assert trading.update_pair("EUR/USD", "the other way round") == "USD/EUR"


NOTHING = {"error": "No encontré cursos de nivel intermedio, modalidad presencial para «programacion»."}


def test_a_search_that_found_nothing_is_still_the_request_a_correction_changes(guided):  # noqa: F811
    first = ("buscar_curso", {"query": "programacion", "nivel": "intermedio"}, NOTHING)
    decision = converse(guided, "programacion intermedio", first, "No encontré cursos...", "no, mejor básico")
    assert (decision.route, decision.arguments) == ("buscar_curso", {"query": "programacion", "nivel": "básico"})
    decision = converse(guided, "programacion intermedio", first, "No encontré cursos...", "intermedio no, avanzado")
    assert decision.arguments == {"query": "programacion", "nivel": "avanzado"}


def test_vosotros_reads_as_ustedes(guided):  # noqa: F811
    from hilo.nlu.lang import ustedes

    assert ustedes("¿Ofrecéis yoga?") == "¿Ofrecen yoga?" and ustedes("¿tenéis clases?") == "¿tienen clases?"
    assert ustedes("¿a qué hora abrís?") == "¿a qué hora abren?" and ustedes("¿Sois de Madrid?") == "¿son de Madrid?"
    assert ustedes("mi país") == "mi país" and ustedes("os reís") == "os reís"
    assert converse(guided, "¿tenéis cursos de python?").arguments == {"query": "python"}


def test_an_amount_is_no_id_and_the_whole_catalogue_is_no_topic(guided):  # noqa: F811
    assert parsers.parse_integer_id("de menos de 1 millón") is None and parsers.parse_integer_id("el 7") == 7
    assert parsers.parse_integer_id("los de 300 mil") is None
    assert parsers.parse_query("muestrame todo el catalogo", FILLER) is None
    assert parsers.parse_query("quiero ver los cursos de programacion que tienen y sus precios", FILLER) == "programacion"


def test_the_details_of_a_listed_item_named_without_el_de(guided):  # noqa: F811
    listed = ("buscar_curso", {"nivel": "avanzado"}, COURSE_LIST)
    decision = converse(guided, "cursos avanzados", listed, "Estos son...", "dame los detalles del curso de jazz")
    assert (decision.route, decision.arguments) == ("detalle_curso", {"curso_id": 9})
    decision = converse(guided, "cursos avanzados", listed, "Estos son...", "dame detalles del de guitarra eléctrica")
    assert decision.arguments == {"curso_id": 8}


def test_a_country_names_its_currency():
    assert trading.parse_pair("cuanto esta el dolar hoy en colombia?") == "USD/COP"
    assert trading.update_pair("USD/COP", "y en México?") == "USD/MXN"
    assert trading.parse_quote_currency("bitcoin en España") == "EUR"
    assert trading.currencies("precio del bitcoin") == []


# ---------------------------------------------------------------------- searching instead of asking for an id
TIENDA = [
    {"type": "function", "function": {
        "name": "buscar_producto", "description": "Busca productos del inventario de la tienda (celulares, forros, "
        "cargadores, audífonos) por lo que pide el cliente.",
        "parameters": {"type": "object", "required": ["texto"],
                       "properties": {"texto": {"type": "string", "description": "Qué producto busca el cliente."}}}}},
    {"type": "function", "function": {
        "name": "ver_producto", "description": "Muestra el precio, los colores y la disponibilidad de un producto por su referencia.",
        "parameters": {"type": "object", "required": ["referencia"], "properties": {
            "referencia": {"type": "string", "description": "La referencia del producto, por ejemplo P-104."}}}}},
]
PHONES = {"total": 2, "productos": [{"id": "P-701", "nombre": "Samsung Galaxy A15", "precio": 650000},
                                    {"id": "P-702", "nombre": "Samsung Galaxy A35", "precio": 1200000}]}


def test_a_thing_named_is_searched_for_not_asked_for_by_reference(guided):  # noqa: F811
    for text, words in (("cuanto vale el cargador de 20W?", "cargador de 20W"), ("buenas, q celulares samsung tienen?",
                                                                                 "celulares samsung")):
        decision = converse(guided, text, tools=TIENDA)
        assert (decision.route, decision.arguments) == ("buscar_producto", {"texto": words}), text
    assert converse(guided, "muéstrame la referencia P-104", tools=TIENDA).arguments == {"referencia": "P-104"}
    # the details' own words are no new subject: the details tool asks for the course
    assert converse(guided, "¿me das los detalles de ese curso?").route == "detalle_curso"


def test_a_model_name_is_no_reference_and_a_pronoun_is_the_item_shown(guided):  # noqa: F811
    listed = ("buscar_producto", {"texto": "samsung"}, PHONES)
    decision = converse(guided, "celulares samsung", listed, "Estos son...", "el A35 tiene en azul?", tools=TIENDA)
    assert decision.arguments == {"referencia": "P-702"}
    shown = ("ver_producto", {"referencia": "P-701"}, {"referencia": "P-701", "nombre": "Samsung Galaxy A15", "precio": 650000})
    decision = converse(guided, "el A15", shown, "Samsung Galaxy A15...", "lo tienen disponible?", tools=TIENDA)
    assert decision.arguments == {"referencia": "P-701"}
    assert dialogue.about_it("¿lo tienen en azul?") and not dialogue.about_it("lo pienso")


def test_a_missing_value_is_asked_for_in_a_sentence():
    from hilo.nlu.parsers import Param
    from hilo.providers.guided import question

    ref = Param("referencia", {"type": "string", "description": "La referencia del producto, por ejemplo P-104."}, True, "x")
    assert question(ref, "es") == "¿Cuál es la referencia del producto (por ejemplo P-104)?"
    number = Param("order", {"type": "string", "description": "The order number, e.g. 123."}, True, "x")
    assert question(number, "en") == "What is the order number (for example 123)?"
    # a description in another language is not turned into a Spanish sentence
    assert question(number, "es") == "Necesito este dato: The order number, e.g. 123. ¿Cuál es?"


def test_weekdays_and_plural_choices():
    import datetime as dt

    sunday = dt.date(2026, 12, 6)
    assert parsers.parse_date("quiero uno para el viernes", sunday) == "2026-12-11"
    assert parsers.parse_date("el próximo lunes", sunday) == "2026-12-07"
    assert parsers.parse_date("el domingo", sunday) == "2026-12-13"  # a week ahead, not today
    assert parsers.parse_date("on friday", sunday) == "2026-12-11"
    assert parsers.parse_enum("hacen tintes?", ["corte de cabello", "tinte"]) == "tinte"


def test_a_course_asked_about_by_its_topic_is_searched(guided):  # noqa: F811
    decision = converse(guided, "cuanto cuesta el curso de fotografia y cuando empieza?")
    assert (decision.route, decision.arguments) == ("buscar_curso", {"query": "fotografia"})


def test_chat_spellings_of_the_request_words_are_filler_too():
    assert parsers.sound("kiero") == parsers.sound("quiero") and parsers.sound("nesecito") == parsers.sound("necesito")
    assert parsers.sound("bale") == parsers.sound("vale") and parsers.sound("chocolate") != parsers.sound("cocolate")
    assert parsers.parse_query("kiero aprender fotografia", FILLER) == "fotografia"
    assert parsers.parse_query("nesecito un curso de contavilidad", FILLER) == "contavilidad"
    assert parsers.parse_query("presio del curso de cocina", FILLER) == "cocina"
    assert courses.parse_level("q tal el de exel avansado") == "avanzado" and courses.parse_level("no avansado") is None
    assert parsers.parse_integer_id("mi hijo tiene 10 años, le sirve?") is None


@pytest.mark.parametrize("text", ["cuales cursos tienen actualmente", "me pasas el listado de cursos", "xfa la lista de cursos",
                                  "que cursos estan abiertos?", "q ofrecen ustedes", "en qué me pueden capacitar?"])
def test_catalogue_questions_have_no_topic(text):
    assert parsers.parse_query(text, FILLER) is None


def test_the_same_request_again_at_another_time_or_about_its_answer(guided, packs):  # noqa: F811
    assert dialogue.same_again("¿y mañana?") and dialogue.same_again("¿y ahora?") and dialogue.same_again("¿cuándo llega ese?")
    assert not dialogue.same_again("¿y en Bogotá?") and not dialogue.same_again("gracias")
    weather = ("get_weather", {"city": "Cali"}, {"temp_c": 26})
    assert converse(guided, "clima en Cali", weather, "26 °C", "¿y mañana?", tools=WEATHER).arguments == {"city": "Cali"}
    order = ("order_status", {"order_number": "10453"}, {"estado": "en camino"})
    assert converse(guided, "y el 10453?", order, "en camino", "¿cuándo llega ese?", tools=ORDERS).arguments == {
        "order_number": "10453"}


def test_of_two_clauses_the_one_that_asks_something_is_routed(packs):
    listed = ("buscar_curso", {"query": "guitarra"}, COURSE_LIST)
    decision = converse(packs, "guitarra", listed, "Estos son...", "me interesa, ¿cuándo empieza?",
                        tools=pack_schemas(packs, "buscar_curso", "detalle_curso"))
    assert decision.route == "detalle_curso" and decision.arguments == {"curso_id": 3}


def test_corrections_said_in_more_ways(guided, packs):  # noqa: F811
    assert dialogue.corrects("me confundí: avanzado") and dialogue.meant("me confundí: avanzado") == "avanzado"
    assert dialogue.meant("me equivoqué de moneda, era cardano") == "cardano"
    assert dialogue.meant("no, no Cali, Cartagena") == "cartagena"
    tools = pack_schemas(packs, "get_crypto_price", "get_forex_price", "explicar_concepto")
    eth = converse(packs, "precio del ether", ("get_crypto_price", {"symbol": "ETH"}, PRICE_ETH), "ETH cotiza...",
                   "no, el ether no, el bitcoin", tools=tools)
    assert eth.arguments == {"symbol": "BTC"}
    weather = ("get_weather", {"city": "Cali"}, {"temp_c": 26})
    for text, city in (("no, no Cali, Cartagena", "Cartagena"), ("me equivoqué de ciudad: Manizales", "Manizales")):
        assert converse(guided, "clima en Cali", weather, "26 °C", text, tools=WEATHER).arguments == {"city": city}, text
    searched = ("buscar_curso", {"query": "python", "nivel": "básico"}, COURSE_LIST)
    level = converse(guided, "python basico", searched, "Estos son...", "me confundí: avanzado")
    assert level.arguments == {"query": "python", "nivel": "avanzado"}


def test_shop_logistics_are_off_topic_but_products_are_searched(guided):  # noqa: F811
    for text in ("¿hacen envíos a Medellín?", "¿tienen garantía?"):
        assert not converse(guided, text, tools=TIENDA).call, text
    assert converse(guided, "tienen forros para iphone 13?", tools=TIENDA).route == "buscar_producto"
