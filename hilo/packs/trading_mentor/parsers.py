"""The trading mentor's words for the guided provider: crypto tickers, currencies and pairs,
and the analysis types of ``analyze_image`` (see :class:`hilo.nlu.parsers.Vocabulary`)."""

from __future__ import annotations

import re

from hilo.nlu.parsers import ArgumentParser, Vocabulary, phrases

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

def parse_crypto(text: str) -> str | None:
    pair = re.search(r"\b([A-Za-z]{2,6})[/-](USDT|USD|EUR|USDC|BUSD)\b", text, re.I)
    if pair and pair.group(1).upper() not in _CURRENCY_CODES:
        return pair.group(1).upper()
    for _, symbol in phrases(text, _CRYPTO_NAMES):
        return symbol
    for token in re.findall(r"\b[A-Z][A-Z0-9]{1,5}\b", text):
        if token in _CAPS_ONLY or (token not in _NOT_CRYPTO and token not in _CURRENCY_CODES and len(token) >= 3
                                   and re.search(r"\b(precio|price|cotiza|vale|cuesta)", text, re.I)):
            return token
    return None

def parse_pair(text: str) -> str | None:
    for match in re.finditer(r"\b([A-Za-z]{3})\s*[/\-_]\s*([A-Za-z]{3})\b|\b([A-Z]{3})([A-Z]{3})\b", text):
        a, b = (match.group(1) or match.group(3)).upper(), (match.group(2) or match.group(4)).upper()
        if a in _CURRENCY_CODES and b in _CURRENCY_CODES and a != b:
            return f"{a}/{b}"
    named = currencies(text)
    if len(named) < 2:
        return None
    first, second = named[:2]
    if re.search(r"\b(cu[aá]nt[oa]s|how many)\b", text, re.I):
        first, second = second, first  # "how many yen for one dollar" is USD/JPY
    return f"{first}/{second}"

def currencies(text: str) -> list[str]:
    """The currencies a message names, by name or by code, in the order it names them."""
    found = phrases(text, _CURRENCY_NAMES)
    found += [(m.start() + 1, m.group().upper()) for m in re.finditer(r"\b[A-Za-z]{3}\b", text)
              if m.group().upper() in _CURRENCY_CODES and (m.group().isupper() or m.group().lower() in ("usd", "eur", "gbp", "jpy"))]
    return list(dict.fromkeys(code for _, code in sorted(found)))


QUESTIONS = {
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
                       parse_pair, QUESTIONS["pair"], strong=True, hint=lambda text: bool(currencies(text))),
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

__all__ = ["VOCABULARY", "currencies", "parse_crypto", "parse_pair"]
