"""The trading mentor's words for the guided provider (see :class:`hilo.nlu.parsers.Vocabulary`):
crypto tickers and names (misspelt ones too: "bitcon", "solanna"), currency pairs (bare codes
too: "gbpjpy"), the currency a price is asked in ("en euros"), whether the user asks about
buying or selling ("¿debo comprar?"), the glossary term a message asks about, and the analysis
types of ``analyze_image``."""

from __future__ import annotations

import re

from hilo.nlu.lang import fold
from hilo.nlu.parsers import ArgumentParser, Vocabulary, phrases
from hilo.packs.trading_mentor import glossary

# --------------------------------------------------------------------------- crypto
_CRYPTO_NAMES = {
    "bitcoin": "BTC", "bitcoins": "BTC", "btc": "BTC", "xbt": "BTC",
    "ethereum": "ETH", "ether": "ETH", "eth": "ETH", "etherium": "ETH",
    "solana": "SOL", "cardano": "ADA", "ripple": "XRP", "xrp": "XRP",
    "dogecoin": "DOGE", "doge": "DOGE", "litecoin": "LTC", "ltc": "LTC",
    "bnb": "BNB", "binance coin": "BNB", "polkadot": "DOT", "tether": "USDT", "usdt": "USDT",
    "usdc": "USDC", "avalanche": "AVAX", "avax": "AVAX", "chainlink": "LINK",
    "polygon": "MATIC", "matic": "MATIC", "tron": "TRX", "trx": "TRX", "shiba inu": "SHIB",
    "shiba": "SHIB", "shib": "SHIB", "monero": "XMR", "xmr": "XMR", "stellar": "XLM",
    "xlm": "XLM", "toncoin": "TON", "pepe": "PEPE", "sui": "SUI",
}
# Short tickers that are also ordinary words ("sol", "ada", "link") count only in capitals.
_CAPS_ONLY = {"SOL", "ADA", "DOT", "LINK", "UNI", "TON", "ATOM", "NEAR", "APT", "ARB", "OP"}
_NOT_CRYPTO = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "MXN", "COP", "ID", "URL", "OK", "PDF"}

# --------------------------------------------------------------------------- currencies
_CURRENCY_NAMES = {
    "dolar canadiense": "CAD", "dolares canadienses": "CAD", "canadian dollar": "CAD",
    "dolar australiano": "AUD", "dolares australianos": "AUD", "australian dollar": "AUD",
    "aussie dollar": "AUD", "aussie": "AUD", "dolar neozelandes": "NZD", "new zealand dollar": "NZD", "kiwi": "NZD",
    "peso mexicano": "MXN", "pesos mexicanos": "MXN", "mexican peso": "MXN",
    "peso colombiano": "COP", "pesos colombianos": "COP", "colombian peso": "COP",
    "peso argentino": "ARS", "pesos argentinos": "ARS", "argentine peso": "ARS",
    "peso chileno": "CLP", "pesos chilenos": "CLP", "chilean peso": "CLP",
    "sol peruano": "PEN", "soles": "PEN", "real brasileño": "BRL", "reales": "BRL",
    "brazilian real": "BRL", "franco suizo": "CHF", "francos suizos": "CHF", "swiss franc": "CHF",
    "libra esterlina": "GBP", "libras esterlinas": "GBP", "pound sterling": "GBP",
    "libra": "GBP", "libras": "GBP", "pound": "GBP", "pounds": "GBP", "sterling": "GBP",
    "dolar": "USD", "dolares": "USD", "dollar": "USD", "dollars": "USD", "dolar estadounidense": "USD",
    "us dollar": "USD", "us dollars": "USD", "greenback": "USD", "mexican pesos": "MXN",
    "colombian pesos": "COP", "argentine pesos": "ARS", "chilean pesos": "CLP", "canadian dollars": "CAD",
    "australian dollars": "AUD", "swiss francs": "CHF", "brazilian reais": "BRL", "dolares estadounidenses": "USD", "euro": "EUR", "euros": "EUR",
    "yen": "JPY", "yenes": "JPY", "yuan": "CNY", "renminbi": "CNY",
}
_CURRENCY_CODES = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "MXN", "COP", "ARS",
                   "CLP", "PEN", "BRL", "CNY", "SEK", "NOK", "DKK", "PLN", "TRY", "ZAR", "INR",
                   "HKD", "SGD", "KRW", "CZK", "HUF", "ILS"}

_QUOTE_TICKERS = ("USDT", "USDC", "USD", "EUR", "BUSD", "FDUSD", "BTC", "ETH", "BNB")
# Words near a coin name that are not misspellings of it.
_NOT_COINS = set(fold("solano solanas cardenal moneda monedas estelar tener together either").split())


def _fuzzy_coin(text: str) -> str | None:
    """A coin name misspelt ("bitcon", "etherium", "solanna", "cardanno"): one edit up to ten
    letters, two beyond, same first letter (see :func:`glossary.near`)."""
    names = [n for n in _CRYPTO_NAMES if " " not in n and len(n) >= glossary.FUZZY_LENGTH]
    for word in re.findall(r"[a-zñ]+", fold(text)):
        if len(word) < glossary.FUZZY_LENGTH or word in _NOT_COINS or word in _CURRENCY_WORDS:
            continue
        hit = glossary.near(word, names)
        if hit:
            return _CRYPTO_NAMES[hit[0]]
    return None


_IMAGE_SOURCE = re.compile(r"https?://\S+|\bfile[-_][A-Za-z0-9]{6,}\b")


def parse_crypto(text: str) -> str | None:
    """A coin's ticker: "BTC/USDT" -> BTC, "ether" -> ETH, "SOL" (capitals), "bitcon" -> BTC.
    None for a message that brings an image (a URL or a file id): a ticker there names the
    chart, not a price to look up."""
    if _IMAGE_SOURCE.search(text):
        return None
    pair = re.search(r"\b([A-Za-z]{2,6})[/-](USDT|USD|EUR|USDC|BUSD|BTC|ETH)\b", text, re.I)
    if pair and pair.group(1).upper() not in _CURRENCY_CODES and pair.group(1).upper() != pair.group(2).upper():
        return pair.group(1).upper()
    for _, symbol in phrases(text, _CRYPTO_NAMES):
        return symbol
    for token in re.findall(r"\b[A-Z][A-Z0-9]{1,5}\b", text):
        if token in _CAPS_ONLY or (token not in _NOT_CRYPTO and token not in _CURRENCY_CODES and len(token) >= 3
                                   and re.search(r"\b(precio|price|cotiza|vale|cuesta)", text, re.I)):
            return token
    return _fuzzy_coin(text)


def parse_pair(text: str) -> str | None:
    """ "EUR/USD", "eur-usd", "EURUSD" and "gbpjpy" (a bare six-letter code, in any case, when
    both halves are currency codes), or two currencies named ("euro dólar"). None for a message
    that brings an image (see :func:`parse_crypto`)."""
    if _IMAGE_SOURCE.search(text):
        return None
    for match in re.finditer(r"\b([A-Za-z]{3})\s*[/\-_]\s*([A-Za-z]{3})\b|\b([A-Za-z]{3})([A-Za-z]{3})\b", text):
        a, b = (match.group(1) or match.group(3)).upper(), (match.group(2) or match.group(4)).upper()
        if a in _CURRENCY_CODES and b in _CURRENCY_CODES and a != b:
            return f"{a}/{b}"
    for match in re.finditer(r"\b([a-z]{3})\s+([a-z]{3})\b", text.lower()):  # "tasa usd cop"
        a, b = match.group(1).upper(), match.group(2).upper()
        if a in _CURRENCY_CODES and b in _CURRENCY_CODES and a != b:
            return f"{a}/{b}"
    named = currencies(text)
    if len(named) < 2:
        return None
    first, second = named[:2]
    if re.search(r"\b(cu[aá]nt[oa]s|how many)\b", text, re.I):
        first, second = second, first  # "how many yen for one dollar" is USD/JPY
    return f"{first}/{second}"

_TO_QUOTE = re.compile(r"(?:^|\s)(?:y\s+|and\s+)?(?:en|in|a|to|contra|vs|versus|frente a|against)\s+", re.I)


_REVERSED = re.compile(r"\b(?:al reves|a la inversa|invertido|inverso|the other way(?: round| around)?|reversed?|inverse)\b")


def update_pair(last: str, text: str) -> str | None:
    """A pair from the last one and a message that names one currency: "y en pesos mexicanos?"
    after USD/JPY is USD/MXN (the currency it is asked in); "¿y la libra?" after EUR/USD is GBP/USD."""
    if not isinstance(last, str) or "/" not in last:
        return None
    base, quote = last.upper().split("/", 1)
    if _REVERSED.search(fold(text)):
        return f"{quote}/{base}"
    named = currencies(text)
    if len(named) != 1:
        return None
    code = named[0]
    if code in (base, quote):
        return None
    return f"{base}/{code}" if _TO_QUOTE.search(fold(text)) else f"{code}/{quote}"


# "el dólar en Colombia", "y en México?": a country said after "en" / "de" means its currency
_COUNTRY_CURRENCY = {
    "colombia": "COP", "mexico": "MXN", "argentina": "ARS", "chile": "CLP", "peru": "PEN", "brasil": "BRL",
    "brazil": "BRL", "españa": "EUR", "espana": "EUR", "spain": "EUR", "europa": "EUR", "europe": "EUR", "alemania": "EUR",
    "francia": "EUR", "italia": "EUR", "japon": "JPY", "japan": "JPY", "estados unidos": "USD", "eeuu": "USD",
    "ee uu": "USD", "usa": "USD", "united states": "USD", "canada": "CAD", "reino unido": "GBP", "inglaterra": "GBP",
    "uk": "GBP", "suiza": "CHF", "switzerland": "CHF", "china": "CNY", "australia": "AUD", "suecia": "SEK",
    "noruega": "NOK", "polonia": "PLN", "turquia": "TRY", "sudafrica": "ZAR", "corea": "KRW", "india": "INR",
}
_COUNTRY = re.compile(r"(?<![\wñ])(?:en|de|del|in|of|para)\s+(?:el\s+|la\s+|los\s+)?("
                      + "|".join(sorted((re.escape(c) for c in _COUNTRY_CURRENCY), key=len, reverse=True)) + r")(?![\wñ])")


def currencies(text: str) -> list[str]:
    """The currencies a message names, by name or by code (or by a country: "en Colombia"), in the
    order it names them."""
    found = phrases(text, _CURRENCY_NAMES)
    found += [(m.start(1), _COUNTRY_CURRENCY[m.group(1)]) for m in _COUNTRY.finditer(fold(text))]
    found += [(m.start() + 1, m.group().upper()) for m in re.finditer(r"\b[A-Za-z]{3}\b", text)
              if m.group().upper() in _CURRENCY_CODES and (m.group().isupper() or m.group().lower() in ("usd", "eur", "gbp", "jpy"))]
    return list(dict.fromkeys(code for _, code in sorted(found)))


_CURRENCY_WORDS = {w for name in _CURRENCY_NAMES for w in fold(name).split()}
_CRYPTO_QUOTE = re.compile(r"\b(?:en|in|a|to|vs|versus|contra)\s+(?:el\s+|la\s+)?([A-Za-z]+)\b", re.I)


def parse_quote_currency(text: str) -> str | None:
    """The currency a crypto price is asked in: "en euros", "in GBP", "BTC/EUR", "eth en btc",
    "en pesos colombianos". None when none is named (the exchange's default quote)."""
    pair = re.search(r"\b([A-Za-z]{2,6})\s*[/-]\s*([A-Za-z]{3,5})\b", text)
    if pair and pair.group(1).upper() not in _CURRENCY_CODES:
        second = pair.group(2).upper()
        if second in _CURRENCY_CODES or second in _QUOTE_TICKERS:
            return second
    named = currencies(text)
    if named:
        return named[0]
    for match in _CRYPTO_QUOTE.finditer(text):
        word = fold(match.group(1))
        code = _CRYPTO_NAMES.get(word)
        if code in _QUOTE_TICKERS and code != parse_crypto(text[: match.start()] or "-"):
            return code
    return None


# What the user means to do: a buy/sell/hold verb wins over a bare "should I".
_INTENTS = (
    ("sell", r"vend\w*|venta|salirme|me salgo|sell\w*|dump\w*|cash out|take profits?|tomar ganancias"),
    ("buy", r"compr[aeoá]\w*|invert\w*|invier\w*|entrar|entro|meterle|buy\w*|invest\w*|go long|acumul\w*"),
    ("hold", r"mantener|mantengo|mantenerme|hold\w*|hodl|aguant\w*"),
)
_ADVICE = re.compile(
    r"\b(?:debo|deberia|deber[ií]a|conviene|vale la pena|recomiendas?|aconsejas?|buen momento|buena idea|"
    r"should i|shall i|good time|good idea|worth (?:it|buying)|do you recommend|would you)\b", re.I)


def parse_intent(text: str) -> str | None:
    """``buy``, ``sell`` or ``hold`` when the message asks about doing that ("¿debo comprar
    bitcoin?", "¿vendo mis ETH?", "should I hold?"), ``advice`` for a bare "should I...?", else None."""
    folded = fold(text)
    found = [(m.start(), intent) for intent, words in _INTENTS for m in re.finditer(rf"\b(?:{words})\b", folded)]
    if found:
        return min(found)[1]
    return "advice" if _ADVICE.search(folded) else None


QUESTIONS = {
    "concept": {"es": "¿Qué concepto quieres que te explique? Por ejemplo: " + glossary.known_names("es") + ".",
                "en": "Which concept should I explain? For example: " + glossary.known_names("en") + "."},
    "crypto": {"es": "¿De qué criptomoneda quieres el precio? Por ejemplo: BTC o ETH.",
               "en": "Which cryptocurrency? For example: BTC or ETH."},
    "pair": {"es": "¿Qué par de divisas quieres consultar? Por ejemplo: EUR/USD.",
             "en": "Which currency pair? For example: EUR/USD."},
}

VOCABULARY = Vocabulary(
    parsers=[
        ArgumentParser("crypto", frozenset({"symbol", "ticker", "coin", "crypto", "cripto", "criptomoneda", "asset"}),
                       parse_crypto, QUESTIONS["crypto"], strong=True),
        ArgumentParser("pair", frozenset({"pair", "currency_pair", "forex_pair", "par", "par_divisas"}),
                       parse_pair, QUESTIONS["pair"], strong=True, hint=lambda text: bool(currencies(text)),
                       update=update_pair),
        ArgumentParser("quote_currency", frozenset({"quote_currency", "vs_currency"}), parse_quote_currency),
        ArgumentParser("trade_intent", frozenset({"trade_intent"}), parse_intent),
        # A glossary term named is evidence for explicar_concepto ("velas japonesas", "forex").
        ArgumentParser("concept", frozenset({"termino"}), glossary.mentioned, QUESTIONS["concept"], strong=True),
    ],
    synonyms={
        "complete": "completo, completa, complete, full, entero",
        "technical": "tecnico, tecnica, technical",
        "patterns": "patron, patrones, chartista, pattern, patterns, figura, figuras",
        "trend": "tendencia, tendencias, trend, trends",
        "support_resistance": "soporte, soportes, resistencia, resistencias, support, resistance, niveles",
        "indicators": "indicador, indicadores, indicators, rsi, macd",
    },
)

__all__ = ["VOCABULARY", "currencies", "parse_crypto", "parse_intent", "parse_pair", "parse_quote_currency", "update_pair"]
