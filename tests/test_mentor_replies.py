"""What a customer reads from the trading mentor with no model configured (issue 10): glossary
answers, the not-financial-advice note, prices in the currency asked, numbers written the
Spanish way, failures without internals, and routing of misspelt coins, bare codes and topics.
Through the real server and the official SDK, with the guided provider and fake exchanges."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from openai import OpenAI

from hilo.nlu.numbers import format_money, format_number, format_percent, locale_for
from hilo.packs.trading_mentor import glossary
from hilo.packs.trading_mentor.parsers import (
    parse_crypto,
    parse_intent,
    parse_pair,
    parse_quote_currency,
)
from hilo.testing.fake_markets import FakeBinance, FakeFrankfurter
from hilo.testing.server import start_server
from tests.conftest import make_settings

INTERNALS = re.compile(r"Exchange\w*|ConnectError|Timeout|Traceback|Error\b|\bccxt\b|httpx|http://127")


# ---------------------------------------------------------------------- hilo.nlu.numbers
@pytest.mark.parametrize(("value", "locale", "decimals", "expected"), [
    (97000.5, "es", None, "97.000,50"),
    (97000.5, "en", None, "97,000.50"),
    (97000.5, "es-MX", None, "97,000.50"),  # Mexico writes the decimal point
    (0.00001234, "es", None, "0,00001234"),  # SHIB-sized prices keep four significant digits
    (0.5, "es", None, "0,50"),
    (0.03505, "en_US", None, "0.03505"),
    (1234567, "es", None, "1.234.567"),
    (1e15, "es", None, "1.000.000.000.000.000"),
    (123456789012.345, "es_CO", None, "123.456.789.012,34"),
    (-1234.5, "es", None, "-1.234,50"),
    (-0.00042, "en", None, "-0.00042"),
    (1.05, "es", 4, "1,0500"),
    (0.1 + 0.2, "es", None, "0,30"),
    (Decimal("2.675"), "en", 2, "2.68"),
    (0, "es", None, "0"),
])
def test_format_number(value, locale, decimals, expected):
    assert format_number(value, locale, decimals) == expected


def test_format_percent_and_money():
    assert format_percent(1.25, "es", sign=True) == "+1,25%"
    assert format_percent(-3.4, "es", sign=True) == "-3,40%"
    assert format_percent(0.001, "es", sign=True) == "0,00%"  # no sign on what rounds to zero
    assert format_percent(12.5, "es_ES") == "12,50 %"  # plain spaces, not CLDR's no-break ones
    assert format_money(350000, "COP", "es") == "$350.000"
    assert format_money(97000.5, "USD", "es") == "US$97.000,50"
    assert format_money(97000.5, "EUR", "es") == "EUR 97.000,50"
    assert format_money(97000.5, "EUR", "en") == "€97,000.50"
    assert format_money(350000, "COP", "en") == "COP 350,000"
    assert format_money(-350000, "COP", "es") == "-$350.000"
    assert format_money(0.00001234, "USD", "en") == "$0.00001234"
    assert format_money(0.5, "USDT", "es") == "0,50 USDT"  # not ISO: number and code
    assert format_money(350000, "COP", "es", code=True) == "350.000 COP"
    assert format_money(1500, "JPY", "en") == "¥1,500"


def test_locale_for():
    assert locale_for("es") == "es_CO" and locale_for("en") == "en_US"
    assert locale_for("es", "es-AR") == "es_AR" and locale_for(None, "es_ES") == "es_ES"
    assert locale_for("es", "es-ZZ") == "es_CO"  # an unknown region: the language's default
    assert locale_for("xx") == "en_US" and locale_for(None, None) == "en_US"


# ---------------------------------------------------------------------- the glossary itself
def test_glossary_is_complete_and_bilingual():
    entries = glossary.entries()
    assert len(entries) >= 30
    for key in ("rsi", "macd", "bollinger", "ema", "sma", "stochastic", "williams_r", "cci", "adx",
                "support_resistance", "trend", "candlestick", "stop_loss", "take_profit", "leverage",
                "position_sizing", "risk_reward", "volume", "spread", "pip", "liquidity", "volatility",
                "dca", "bull_market", "bear_market"):
        assert key in entries, key
    for entry in entries.values():
        for lang in ("es", "en"):
            sentences = re.findall(r"[.!?](?:\s|$)", entry.text(lang))
            assert 2 <= len(sentences) <= 4, (entry.key, lang, entry.text(lang))
            assert entry.name(lang) and len(entry.read(lang)) > 40
        assert len(entry.aliases) >= 3


@pytest.mark.parametrize(("text", "key"), [
    ("bandas de bolinger", "bollinger"), ("apalancamineto", "leverage"), ("ESTOCÁSTICO", "stochastic"),
    ("media móvil exponencial", "ema"), ("what's a stop-loss order", "stop_loss"), ("fibonaci", "fibonacci"),
    ("¿qué es el zigzag?", "zigzag"),  # an unknown term of a "what is" question is kept for the answer
    ("the weather today", None), ("precio de una criptomoneda", None),
    ("dime los soportes de este gráfico", None),  # about a chart: an analysis, not a definition
])
def test_the_term_a_message_asks_about(text, key):
    assert glossary.mentioned(text) == key


def test_pack_parsers():
    assert [parse_crypto(t) for t in ("precio del bitcon", "solanna", "cardanno", "either way", "together")] == \
        ["BTC", "SOL", "ADA", None, None]
    assert [parse_pair(t) for t in ("gbpjpy", "EUR/JPY?", "eurusd hoy", "pentagono")] == \
        ["GBP/JPY", "EUR/JPY", "EUR/USD", None]
    assert [parse_quote_currency(t) for t in ("precio de solana en euros", "bitcoin en pesos colombianos",
                                              "ETH in GBP", "eth en btc", "precio de bitcoin")] == \
        ["EUR", "COP", "GBP", "BTC", None]
    assert [parse_intent(t) for t in ("¿Debo comprar bitcoin ahora?", "¿vendo mis ethereum?", "should I sell?",
                                      "¿mantengo o vendo?", "¿me lo recomiendas?", "precio de bitcoin")] == \
        ["buy", "sell", "sell", "hold", "advice", None]


# ---------------------------------------------------------------------- replies through runs
@pytest.fixture(scope="module")
def markets():
    with FakeBinance() as binance, FakeFrankfurter() as ecb:
        binance.set_price("BTC/USDT", 97000.5, change_pct=1.25)
        binance.set_price("ETH/USDT", 3400.25, change_pct=-2.4)
        binance.set_price("SHIB/USDT", 0.00001234, change_pct=-0.5)
        binance.set_price("USDT/COP", 4000.0)
        yield binance, ecb


def _mentor(server, sdk) -> str:
    mentor = next(a for a in sdk.beta.assistants.list(limit=100).data if a.name == "Mentor de trading")
    sdk.beta.assistants.update(mentor.id, model="guided")
    return mentor.id


@pytest.fixture(scope="module")
def live(markets, database_factory, tmp_path_factory):
    binance, ecb = markets
    settings = make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"), crypto_api_url=binance.url,
                             forex_api_url=ecb.url, packs="trading_mentor", price_cache_s=0)
    with start_server(settings) as server, OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0,
                                                   timeout=30) as sdk:
        yield sdk, _mentor(server, sdk)


def ask(live, text: str) -> str:
    sdk, mentor = live
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=mentor, poll_interval_ms=20)
    assert run.status == "completed", run.last_error
    reply = sdk.beta.threads.messages.list(thread_id=thread.id, limit=1).data[0].content[0].text.value
    assert not INTERNALS.search(reply), reply
    return reply


@pytest.mark.parametrize(("text", "expected"), [
    ("¿qué es el RSI?", ["RSI (índice de fuerza relativa):", "entre 0 y 100", "Por encima de 70"]),
    ("no me queda claro qué son las bandas de bollinger", ["Bandas de Bollinger:", "desviaciones estándar"]),
    ("¿para qué sirve un stop loss?", ["Stop loss:", "limitar la pérdida"]),
    ("what does leverage mean?", ["Apalancamiento:", "10x"]),  # the mentor answers in its language
    ("velas japonesas", ["Velas japonesas:", "apertura, máximo, mínimo y cierre"]),
    ("qué es el estocastico", ["Oscilador estocástico:", "%K"]),
])
def test_glossary_answers(live, text, expected):
    reply = ask(live, text)
    for piece in expected:
        assert piece in reply, reply
    assert "URL" not in reply and "imagen" not in reply


def test_an_unknown_term_lists_terms_it_knows(live):
    reply = ask(live, "¿qué es el ichimoku?")
    assert "No tengo «ichimoku» en mi glosario" in reply and "RSI" in reply and "stop loss" in reply


@pytest.mark.parametrize("text", ["¿Debo comprar bitcoin ahora?", "¿es buena idea vender mis bitcoins ya?",
                                  "should I buy BTC now?"])
def test_buy_and_sell_questions_get_the_price_and_the_note(live, text):
    reply = ask(live, text)
    assert "BTC cotiza a 97.000,50 USDT (+1,25% en 24 h)" in reply, reply
    assert "Esto no es asesoría financiera" in reply and "gestión del riesgo" in reply


def test_a_plain_price_question_has_no_advice_note_and_says_the_quote_currency(live):
    reply = ask(live, "¿cuánto vale bitcoin?")
    assert reply.startswith("BTC cotiza a 97.000,50 USDT (+1,25% en 24 h). Fuente: Binance"), reply
    assert "1 dólar estadounidense (USD)" in reply and "asesoría" not in reply
    assert "97,000.50" not in reply


def test_numbers_are_written_the_spanish_way(live):
    assert "ETH cotiza a 3.400,25 USDT (-2,40% en 24 h)" in ask(live, "precio de ethereum")
    assert "SHIB cotiza a 0,00001234 USDT (-0,50% en 24 h)" in ask(live, "¿cuánto cuesta shiba inu?")
    assert "1 EUR = 1,0500 USD" in ask(live, "¿cómo está el euro dólar?")


def test_prices_in_the_currency_asked(live, markets):
    binance, _ = markets
    listed = ask(live, "¿a cuánto está el bitcoin en euros?")  # the exchange lists BTC/EUR
    assert "BTC cotiza a 92.500,00 EUR" in listed and "convertí" not in listed
    converted = ask(live, "precio de solana en euros")  # no SOL/EUR: SOL/USDT at the ECB's USD/EUR rate
    assert "SOL cotiza a 173,71 EUR" in converted, converted
    assert "convertí 182,40 USDT con la tasa de referencia del BCE (1 USD = 0,9524 EUR" in converted
    gbp = ask(live, "ETH in GBP")
    assert "ETH cotiza a 2.687,83 GBP" in gbp and "tasa de referencia del BCE" in gbp, gbp
    cop = ask(live, "bitcoin en pesos colombianos")  # through USDT/COP on the exchange
    assert "BTC cotiza a 388.002.000 COP" in cop and "USDT/COP" in cop, cop
    del binance.tickers["USDTCOP"]
    try:
        missing = ask(live, "bitcoin en pesos colombianos")
    finally:
        binance.set_price("USDT/COP", 4000.0)
    assert "No tengo una tasa de cambio para COP" in missing and "97.000,50 USDT" in missing


@pytest.mark.parametrize(("text", "expected"), [
    ("precio del bitcon", "BTC cotiza a"), ("cuánto vale el etherium", "ETH cotiza a"),
    ("solanna hoy", "SOL cotiza a"), ("btc", "BTC cotiza a"), ("¿y el ethereum?", "ETH cotiza a"),
    ("gbpjpy", "1 GBP = "), ("eurusd", "1 EUR = 1,0500 USD"), ("EUR/JPY?", "1 EUR = 161,50 JPY"),
    ("forex", "Forex (mercado de divisas):"),
])
def test_misspelt_coins_bare_codes_and_topics_route(live, text, expected):
    assert expected in ask(live, text)


def test_an_offline_exchange_is_a_sentence_not_an_exception(database_factory, tmp_path):
    settings = make_settings(database_factory("sqlite"), tmp_path, crypto_api_url="http://127.0.0.1:9",
                             forex_api_url="http://127.0.0.1:9", packs="trading_mentor", price_cache_s=0,
                             market_timeout=2)
    with start_server(settings) as server, OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0,
                                                   timeout=30) as sdk:
        live = (sdk, _mentor(server, sdk))
        for text in ("¿cuánto vale ethereum?", "¿cómo está el euro dólar?"):
            reply = ask(live, text)
            assert "No pude consultar el precio ahora" in reply and "Intenta de nuevo en unos minutos" in reply


def test_numbers_are_written_the_same_whatever_another_library_did_to_the_decimal_context():
    """ccxt sets ROUND_HALF_UP (and traps Underflow) on the thread's decimal context whenever it
    formats an amount; prices and money must not change with it."""
    import decimal

    from hilo.nlu.numbers import format_money, format_number, format_percent

    before = (format_number(123456789012.345, "es_CO"), format_money(0.125, "USD", "en_US"),
              format_percent(0.125, "es_CO"))
    saved = decimal.getcontext().copy()
    try:
        decimal.getcontext().rounding = decimal.ROUND_HALF_UP
        decimal.getcontext().traps[decimal.Underflow] = True
        after = (format_number(123456789012.345, "es_CO"), format_money(0.125, "USD", "en_US"),
                 format_percent(0.125, "es_CO"))
    finally:
        decimal.setcontext(saved)
    assert after == before and before[0] == "123.456.789.012,34"
