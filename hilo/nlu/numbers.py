"""Numbers, money and percentages written the way an assistant's locale writes them (Babel, CLDR).

    locale_for("es")                          # 'es_CO'  (the default locale of a language)
    locale_for("es", "es-MX")                 # 'es_MX'  (an explicit locale wins)
    format_number(97000.5, "es")              # '97.000,50'
    format_number(0.00001234, "es_CO")        # '0,00001234' (small values keep 4 significant digits)
    format_number(1234567, "en")              # '1,234,567'
    format_percent(-3.4, "es", sign=True)     # '-3,40%'  (the value is in percent units)
    format_money(350000, "COP", "es")         # '$350.000'
    format_money(97000.5, "USD", "es")        # 'US$97.000,50'
    format_money(0.5, "USDT", "en")           # '0.50 USDT' (codes Babel does not know: number + code)

``locale`` is anything :func:`locale_for` reads: a language (``es``, ``en``) or a locale in either
spelling (``es-CO``, ``es_CO``). An unknown locale falls back to its language's default, then to
``en_US``. Spaces in the output are plain spaces (CLDR's no-break spaces are replaced), so a reply
reads and compares the same on every channel.

Decimals: ``decimals=None`` picks them from the value: none for integral values, 2 from 1 up,
and below 1 enough for four significant digits (at least 2). Money uses the currency's own digits
(``COP`` and ``JPY`` 0, ``USD`` 2) from 1 up. An integer ``decimals`` fixes them.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal, get_currency_precision, list_currencies

# The locale a language gets when an assistant names none. Spanish: Colombia, where the seeds'
# businesses sell (97.000,50; es_419 and es_MX write 97,000.50).
DEFAULT_LOCALES = {"es": "es_CO", "en": "en_US", "pt": "pt_BR", "fr": "fr_FR", "de": "de_DE", "it": "it_IT"}
FALLBACK = "en_US"
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})
_FRACTION = re.compile(r"0(?:\.[0#]+)?(?=[^0#.,]*$|[^0#.,]*;)")


@lru_cache(maxsize=64)
def _parse(locale: str) -> Locale:
    return Locale.parse(locale)


def locale_for(language: str | None = None, locale: str | None = None) -> str:
    """The Babel locale id (``es_CO``) for an explicit ``locale`` (``es-CO``, ``es_CO``, ``es``),
    else for ``language``'s default, else ``en_US``."""
    for candidate in (locale, language):
        if not candidate:
            continue
        text = str(candidate).strip().replace("-", "_")
        if "_" not in text:
            text = DEFAULT_LOCALES.get(text.lower(), text.lower())
        language_part, _, region = text.partition("_")
        try:
            parsed = _parse(text)
            if not region or (parsed.territory or "").upper() == region.upper():
                return str(parsed)
        except (ValueError, UnknownLocaleError):
            pass
        if language_part.lower() in DEFAULT_LOCALES:  # an unknown region: the language's default
            return DEFAULT_LOCALES[language_part.lower()]
    return FALLBACK


def language_of(locale: str | None) -> str:
    """The language part of a locale: ``es_CO`` -> ``es``."""
    return locale_for(None, locale).split("_")[0]


def _digits(value: float | int | Decimal, decimals: int | None, above_one: int = 2) -> tuple[int, int]:
    """(minimum, maximum) fraction digits for a value."""
    if decimals is not None:
        return decimals, decimals
    number = abs(float(value))
    if number == 0 or (isinstance(value, int) or float(value).is_integer()) and number >= 1:
        return 0, 0
    if number >= 1:
        return above_one, above_one
    first = -math.floor(math.log10(number))  # 0.5 -> 1, 0.0065 -> 3, 0.00001234 -> 5
    return 2, min(max(2, first + 3), 18)


def _pattern(pattern: str, low: int, high: int) -> str:
    """A CLDR pattern with its fraction digits set to ``low``..``high`` (both sub-patterns)."""
    fraction = ("." + "0" * low + "#" * (high - low)) if high else ""
    return _FRACTION.sub("0" + fraction, pattern)


def _exact(value: float | int | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


# Babel rounds in the ambient decimal context, which other libraries change for the whole
# thread (ccxt sets ROUND_HALF_UP and traps Underflow on every amount it formats): numbers
# are written in a context of their own, half to even, whatever ran before.
_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


def format_number(value: float | int | Decimal, locale: str, decimals: int | None = None) -> str:
    """``value`` with the locale's grouping and decimal signs: ``97.000,50`` (es_CO), ``97,000.50`` (en_US)."""
    loc = _parse(locale_for(None, locale))
    low, high = _digits(value, decimals)
    pattern = _pattern(loc.decimal_formats[None].pattern, low, high)
    with localcontext(_CONTEXT):
        return format_decimal(_exact(value), format=pattern, locale=loc).translate(_SPACES)


def format_percent(value: float | int | Decimal, locale: str, decimals: int = 2, *, sign: bool = False) -> str:
    """A percentage given in percent units (``1.25`` is 1.25 %): ``+1,25%`` (es_CO, ``sign=True``)."""
    loc = _parse(locale_for(None, locale))
    number = _exact(value)
    pattern = _pattern(loc.percent_formats[None].pattern, decimals, decimals)
    with localcontext(_CONTEXT):
        text = format_decimal(number / 100, format=pattern, locale=loc).translate(_SPACES)
    if sign and number > 0 and round(number, decimals) != 0:
        text = loc.number_symbols.get("latn", loc.number_symbols).get("plusSign", "+") + text
    return text


@lru_cache(maxsize=1)
def _iso_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    """Is ``code`` an ISO 4217 currency Babel knows (``COP``; not ``USDT`` or ``BTC``)?"""
    return str(code).upper() in _iso_currencies()


def currency_decimals(code: str) -> int | None:
    """The digits a currency is written with (``COP`` 0, ``USD`` 2), or None for other codes."""
    return get_currency_precision(code.upper()) if is_currency(code) else None


def format_money(value: float | int | Decimal, currency: str, locale: str, decimals: int | None = None,
                 *, code: bool = False) -> str:
    """An amount of money as the locale writes it: ``$350.000`` (COP in es_CO), ``US$97.000,50``,
    ``€97,000.50`` (en_US). ``code=True``, or a code Babel does not know (``USDT``, ``BTC``),
    writes the number and then the code: ``97.000,50 USDT``."""
    currency = str(currency).upper()
    loc = _parse(locale_for(None, locale))
    places = currency_decimals(currency)
    low, high = _digits(value, decimals, above_one=2 if places is None else places)
    if decimals is None and places is not None and abs(float(value)) >= 1:
        low = high = places  # the currency's own digits, also for integral amounts
    if code or places is None:
        pattern = _pattern(loc.decimal_formats[None].pattern, low, high)
        with localcontext(_CONTEXT):
            return f"{format_decimal(_exact(value), format=pattern, locale=loc).translate(_SPACES)} {currency}"
    pattern = _pattern(loc.currency_formats["standard"].pattern, low, high)
    with localcontext(_CONTEXT):
        text = format_currency(_exact(value), currency, format=pattern, locale=loc, currency_digits=False)
    text = text.translate(_SPACES)
    return re.sub(r"(?<=[A-Za-z])(?=[-\d])|(?<=\d)(?=[A-Za-z])", " ", text)  # 'EUR97' -> 'EUR 97'


__all__ = ["DEFAULT_LOCALES", "currency_decimals", "format_money", "format_number", "format_percent",
           "is_currency", "language_of", "locale_for"]
