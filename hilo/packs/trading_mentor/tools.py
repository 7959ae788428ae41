"""The trading mentor's tools: crypto and forex prices, a glossary of trading terms, and chart images.

Every number a template prints is written by the assistant's locale (:mod:`hilo.nlu.numbers`):
the pack assistant's ``locale`` (``hilo_locale`` in its metadata), else an assistant's own
``locale`` or ``language`` metadata, else Spanish (``es_CO``). A failure the user can do nothing
about (a price source down) is a short sentence in that language and what to try; the detail
goes to the log.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Literal

from babel.dates import format_date, format_datetime

from hilo.kit.config import Settings, get_settings
from hilo.nlu.numbers import (
    currency_decimals,
    format_number,
    format_percent,
    is_currency,
    language_of,
    locale_for,
)
from hilo.packs.trading_mentor import glossary, images
from hilo.packs.trading_mentor.market import MarketError, Quote, market_for, parse_crypto_symbol
from hilo.packs.trading_mentor.parsers import currencies, parse_quote_currency
from hilo.tools import ToolContext
from hilo.tools.function import ToolError, tool

log = logging.getLogger("hilo.packs.trading_mentor")

AnalysisType = Literal["complete", "trend", "support_resistance", "patterns", "indicators"]
TradeIntent = Literal["buy", "sell", "hold", "advice"]


def _settings(ctx: ToolContext | None) -> Settings:
    return (ctx.services.settings if ctx else None) or get_settings()


def _locale(ctx: ToolContext | None) -> str:
    metadata = (ctx.assistant.metadata if ctx and ctx.assistant else None) or {}
    return locale_for(metadata.get("hilo_language") or metadata.get("language") or "es",
                      metadata.get("hilo_locale") or metadata.get("locale"))


def _lang(locale: str) -> str:
    return "es" if language_of(locale) == "es" else "en"


# ---------------------------------------------------------------------- what the user reads
_SAY = {
    "unavailable": {
        "es": "No pude consultar el precio ahora; el servicio de precios no responde. Intenta de nuevo en unos minutos.",
        "en": "I could not get the price right now; the price service is not responding. Please try again in a few minutes.",
    },
    "crypto_not_found": {
        "es": "No encontré {base} en {source}. Revisa el nombre o usa su ticker, por ejemplo BTC, ETH o SOL.",
        "en": "I could not find {base} on {source}. Check the name or use its ticker, for example BTC, ETH or SOL.",
    },
    "crypto_invalid": {
        "es": "«{text}» no parece una criptomoneda. Dime su nombre o su ticker, por ejemplo bitcoin, BTC o ETH.",
        "en": "\"{text}\" does not look like a cryptocurrency. Tell me its name or ticker, for example bitcoin, BTC or ETH.",
    },
    "forex_invalid": {
        "es": "«{text}» no es un par de divisas válido. Escríbelo como EUR/USD, GBP/JPY o USD/MXN.",
        "en": "\"{text}\" is not a valid currency pair. Write it like EUR/USD, GBP/JPY or USD/MXN.",
    },
    "forex_not_found": {
        "es": "El Banco Central Europeo no publica una tasa de referencia para {symbol}. Prueba con divisas como "
              "EUR, USD, GBP, JPY, CHF, MXN o BRL (no publica COP ni ARS).",
        "en": "The European Central Bank publishes no reference rate for {symbol}. Try currencies such as "
              "EUR, USD, GBP, JPY, CHF, MXN or BRL (it does not publish COP or ARS).",
    },
    "advice": {
        "es": "Esto no es asesoría financiera: el precio por sí solo no dice si conviene comprar, vender o esperar. "
              "Antes de operar, decide cuánto estás dispuesto a arriesgar y dónde pondrás tu stop loss "
              "(pregúntame por «gestión del riesgo»).",
        "en": "This is not financial advice: a price alone does not tell you whether to buy, sell or wait. "
              "Before trading, decide how much you are willing to risk and where your stop loss goes "
              "(ask me about \"risk management\").",
    },
    "default_quote": {
        "es": "Precio en {quote}, una moneda estable que equivale a 1 dólar estadounidense (USD); si lo quieres en "
              "otra moneda, pídemelo, por ejemplo «en euros».",
        "en": "Priced in {quote}, a stablecoin worth 1 US dollar (USD); ask if you want it in another currency, "
              "for example \"in euros\".",
    },
    "usd_quote": {
        "es": "Precio en {quote}, que equivale a 1 dólar estadounidense (USD).",
        "en": "Priced in {quote}, which is worth 1 US dollar (USD).",
    },
    "via_exchange": {
        "es": "{source} no lista el par {wanted}: lo calculé con {first} y {second} de {source}.",
        "en": "{source} does not list {wanted}: I worked it out from {first} and {second} on {source}.",
    },
    "via_forex": {
        "es": "{source} no lista el par {wanted}: convertí {price} {quote} con la tasa de referencia del BCE "
              "(1 USD = {rate} {asked}, {date}), tomando 1 {quote} ≈ 1 USD.",
        "en": "{source} does not list {wanted}: I converted {price} {quote} at the ECB reference rate "
              "(1 USD = {rate} {asked}, {date}), taking 1 {quote} ≈ 1 USD.",
    },
    "no_rate": {
        "es": "No tengo una tasa de cambio para {asked} ({source} no lista el par y el BCE no publica esa moneda), "
              "así que te doy el precio en {quote} (1 {quote} ≈ 1 USD).",
        "en": "I have no exchange rate for {asked} ({source} does not list the pair and the ECB does not publish "
              "that currency), so here is the price in {quote} (1 {quote} ≈ 1 USD).",
    },
}


def _both(key: str, **values) -> dict[str, str]:
    return {lang: text.format(**values) for lang, text in _SAY[key].items()}


def _fail(kind: str, lang: str, exc: BaseException | None = None, **values) -> ToolError:
    """The user's sentence for a failure; the detail goes to the log."""
    if exc is not None:
        log.warning("price lookup failed (%s): %s", kind, exc)
    return ToolError(_SAY[kind][lang].format(**values))


def _price_text(value: float, currency: str, locale: str) -> str:
    places = currency_decimals(currency)
    return format_number(value, locale, places if places is not None and abs(value) >= 1 else None)


def _rate_text(value: float, locale: str) -> str:
    """Exchange rates keep pip precision: 4 decimals (2 from 100 up, e.g. yen pairs)."""
    return format_number(value, locale, (2 if value >= 100 else 4) if value >= 1 else None)


def _when_text(quoted_at: str, locale: str) -> str:
    """``18 nov 2026, 11:06 UTC`` for a time, ``23 de noviembre de 2026`` for a date."""
    try:
        if "T" in quoted_at:
            moment = datetime.fromisoformat(quoted_at.replace("Z", "+00:00")).astimezone(UTC)
            return format_datetime(moment, "d MMM y, HH:mm", tzinfo=UTC, locale=locale) + " UTC"
        return format_date(date.fromisoformat(quoted_at), "long", locale=locale)
    except ValueError:
        return quoted_at


def _notes(notes: list[dict[str, str]]) -> dict[str, str]:
    return {"nota": " ".join(n["es"] for n in notes), "note": " ".join(n["en"] for n in notes)}


def _quote_dict(quote: Quote, locale: str) -> dict:
    change = quote.change_24h_pct
    return {**quote.to_dict(), "price_text": _price_text(quote.price, quote.quote, locale),
            "change_text": "—" if change is None else format_percent(change, locale, 2, sign=True),
            "quoted_text": _when_text(quote.quoted_at, locale), "locale": locale}


def _currency_code(text: str | None) -> str | None:
    """A currency as a model or the parser gives it: "EUR", "eur", "euros", "pesos colombianos"."""
    if not text or not str(text).strip():
        return None
    raw = str(text).strip()
    if raw.isalpha() and 3 <= len(raw) <= 5:
        return raw.upper()
    named = currencies(raw)
    return named[0] if named else parse_quote_currency(f"en {raw}") or raw.upper()


# ---------------------------------------------------------------------- crypto
async def _crypto_quote(ctx: ToolContext | None, symbol: str, asked: str | None, lang: str,
                        locale: str) -> tuple[Quote, list[dict[str, str]], dict | None]:
    """The quote in the currency asked (directly, through a second exchange pair, or through the
    ECB's USD rate), the notes that say how, and the conversion used (or None)."""
    settings = _settings(ctx)
    market = market_for(settings)
    default = settings.crypto_quote.upper()

    async def get(pair: str) -> Quote:
        try:
            return await market.crypto(pair)
        except MarketError as exc:
            if exc.kind == "not_found":
                raise
            if exc.kind == "invalid":
                raise _fail("crypto_invalid", lang, text=symbol) from None
            raise _fail("unavailable", lang, exc) from None

    try:
        base, quote = parse_crypto_symbol(symbol, default).split("/")
    except MarketError:
        raise _fail("crypto_invalid", lang, text=symbol) from None
    asked = asked or (quote if quote != default else None)
    if asked in (None, default) or (asked == "USD" and default in ("USDT", "USDC")):
        try:
            found = await get(f"{base}/{default}")
        except MarketError:
            raise _fail("crypto_not_found", lang, base=base, source=_exchange_name(market, settings)) from None
        note = "default_quote" if asked is None else "usd_quote"
        return found, [_both(note, quote=default)], None
    if asked == base:
        raise _fail("crypto_invalid", lang, text=f"{base}/{asked}")
    try:
        return await get(f"{base}/{asked}"), [], None  # the exchange lists it: BTC/EUR
    except MarketError:
        pass
    try:
        first = await get(f"{base}/{default}")
    except MarketError:
        raise _fail("crypto_not_found", lang, base=base, source=_exchange_name(market, settings)) from None
    wanted = f"{base}/{asked}"
    for second_pair, invert in ((f"{default}/{asked}", False), (f"{asked}/{default}", True)):
        try:
            second = await get(second_pair)
        except MarketError:
            continue
        rate = 1 / second.price if invert else second.price
        note = _both("via_exchange", source=first.source, wanted=wanted, first=first.symbol, second=second.symbol)
        return _converted(first, asked, rate), [note], {"from": default, "rate": rate, "via": second.symbol,
                                                       "rate_source": second.source}
    if is_currency(asked):
        try:
            fx = await market.forex(f"USD/{asked}")
        except MarketError as exc:
            if exc.kind == "unavailable":
                log.warning("forex rate USD/%s failed: %s", asked, exc)
            fx = None
        if fx is not None:
            values = dict(source=first.source, wanted=wanted, quote=default, asked=asked)
            note = {lang_: _SAY["via_forex"][lang_].format(
                price=_price_text(first.price, default, loc), rate=_rate_text(fx.price, loc),
                date=_when_text(fx.quoted_at, loc), **values)
                for lang_, loc in (("es", locale if _lang(locale) == "es" else "es_CO"),
                                   ("en", locale if _lang(locale) == "en" else "en_US"))}
            return _converted(first, asked, fx.price), [note], {
                "from": default, "rate": fx.price, "via": "USD/" + asked, "rate_source": fx.source,
                "rate_date": fx.quoted_at}
    return first, [_both("no_rate", asked=asked, source=first.source, quote=default)], None


def _exchange_name(market, settings: Settings) -> str:
    try:
        return market.providers["crypto"].source  # ccxt's display name ("Binance")
    except Exception:  # a misconfigured exchange: its id will do
        return settings.crypto_exchange


def _converted(quote: Quote, currency: str, rate: float) -> Quote:
    def scale(value: float | None) -> float | None:
        return None if value is None else value * rate

    return replace(quote, symbol=f"{quote.base}/{currency}", quote=currency, price=quote.price * rate,
                   high_24h=scale(quote.high_24h), low_24h=scale(quote.low_24h))


@tool(
    examples=[
        "¿cuál es el precio de bitcoin?", "¿cuánto vale BTC hoy?", "precio de ethereum",
        "¿a cuánto está el ETH?", "dame la cotización de solana", "¿cómo está el bitcoin ahora?",
        "¿cuánto cuesta un dogecoin?", "precio actual de XRP en USDT", "cotización BTC/USDT",
        "¿subió o bajó bitcoin en las últimas 24 horas?", "¿y el bitcoin?", "ethereum", "BTC",
        "¿es buen momento para comprar bitcoin?", "¿debería vender mi solana?", "¿compro más ETH o espero?",
        "¿cuánto vale ethereum en pesos mexicanos?",
        "what's the price of bitcoin?", "how much is ETH right now?", "BTC price",
        "current price of solana", "how is bitcoin doing today?", "should I buy some XRP now?",
        "BTC price in EUR",
    ],
    template={
        "es": "{base} cotiza a {price_text} {quote} ({change_text} en 24 h). "
              "Fuente: {source}, cotización de {quoted_text}.\n{nota}",
        "en": "{base} is trading at {price_text} {quote} ({change_text} over 24 h). "
              "Source: {source}, quoted at {quoted_text}.\n{note}",
    },
    timeout=30,
    access="public",  # public market data
)
async def get_crypto_price(symbol: str, ctx: ToolContext, quote_currency: str | None = None,
                           trade_intent: TradeIntent | None = None) -> dict:
    """Current price of a cryptocurrency on the configured exchange, with its 24 h change.

    Args:
        symbol: Ticker such as BTC or ETH, or a pair such as BTC/EUR (a bare ticker is quoted in USDT).
        quote_currency: The currency the user asked the price in (EUR, COP, GBP, BTC...); omit it for the exchange's default (USDT, 1 USDT ≈ 1 USD).
        trade_intent: buy, sell, hold or advice when the user asks whether to buy, sell or hold; the answer then says it is not financial advice.
    """
    locale = _locale(ctx)
    lang = _lang(locale)
    try:
        quote, notes, conversion = await _crypto_quote(ctx, symbol, _currency_code(quote_currency), lang, locale)
    except ToolError:
        raise
    except Exception as exc:  # e.g. a misconfigured exchange: the user gets a sentence, the log the rest
        log.exception("crypto price of %r failed", symbol)
        raise _fail("unavailable", lang) from exc
    if trade_intent:
        notes.append(_both("advice"))
    return {**_quote_dict(quote, locale), "converted": conversion, "trade_intent": trade_intent,
            "not_advice": bool(trade_intent), **_notes(notes)}


# ---------------------------------------------------------------------- forex
@tool(
    examples=[
        "¿cómo está el euro dólar?", "precio del EUR/USD", "tasa de cambio euro a dólar",
        "¿a cuánto está la libra frente al dólar?", "cotización GBP/JPY", "¿cuánto vale el dólar en yenes?",
        "dame el par USD/CHF", "¿cuántos pesos mexicanos da un dólar?", "tipo de cambio EUR GBP",
        "¿cómo cotiza el par eurodólar hoy?", "usdcad", "el eur/gbp", "¿es buen momento para cambiar euros a dólares?",
        "EUR/USD rate", "what's the euro dollar exchange rate?", "how much is GBP in USD?",
        "forex price of USD/JPY", "convert euros to dollars rate", "NZD/USD",
    ],
    template={
        "es": "1 {base} = {price_text} {quote} (tasa de referencia diaria). Fuente: {source}, {quoted_text}.\n{nota}",
        "en": "1 {base} = {price_text} {quote} (daily reference rate). Source: {source}, {quoted_text}.\n{note}",
    },
    timeout=20,
    access="public",  # public market data
)
async def get_forex_price(pair: str, ctx: ToolContext, trade_intent: TradeIntent | None = None) -> dict:
    """Reference exchange rate of a currency pair (European Central Bank daily rates).

    Args:
        pair: Currency pair such as EUR/USD, GBP/JPY or USD/MXN.
        trade_intent: buy, sell, hold or advice when the user asks whether to buy, sell or hold; the answer then says it is not financial advice.
    """
    locale = _locale(ctx)
    lang = _lang(locale)
    try:
        quote = await market_for(_settings(ctx)).forex(pair)
    except MarketError as exc:
        if exc.kind == "invalid":
            raise _fail("forex_invalid", lang, text=pair) from None
        if exc.kind == "not_found":
            raise _fail("forex_not_found", lang, symbol=exc.symbol or pair) from None
        raise _fail("unavailable", lang, exc) from None
    except Exception as exc:
        log.exception("forex rate of %r failed", pair)
        raise _fail("unavailable", lang) from exc
    out = {**_quote_dict(quote, locale), "price_text": _rate_text(quote.price, locale),
           "trade_intent": trade_intent, "not_advice": bool(trade_intent)}
    return {**out, **_notes([_both("advice")] if trade_intent else [])}


# ---------------------------------------------------------------------- glossary
def _explain(entry: glossary.Entry, lang: str) -> str:
    related = [glossary.entries()[k] for k in entry.related]
    names = [glossary._lower(r.name(lang).split(" (")[0]) for r in related]
    if lang == "es":
        more = f"\nTambién te puede interesar: {', '.join(names[:-1])} y {names[-1]}." if names else ""
        return f"{entry.name(lang)}: {entry.text(lang)}\nCómo leerlo: {entry.read(lang)}{more}"
    more = f"\nRelated: {', '.join(names[:-1])} and {names[-1]}." if names else ""
    return f"{entry.name(lang)}: {entry.text(lang)}\nHow to read it: {entry.read(lang)}{more}"


def _unknown(term: str, lang: str) -> str:
    close = [glossary._lower(e.name(lang).split(" (")[0]) for e in glossary.suggestions(term)]
    if lang == "es":
        maybe = f" ¿Quizá te refieres a {' o '.join(close)}?" if close else ""
        return (f"No tengo «{term}» en mi glosario.{maybe} Puedo explicarte, por ejemplo: "
                f"{glossary.known_names('es')}. ¿Cuál te interesa?")
    maybe = f" Did you mean {' or '.join(close)}?" if close else ""
    return (f"\"{term}\" is not in my glossary yet.{maybe} I can explain, for example: "
            f"{glossary.known_names('en')}. Which one would you like?")


@tool(
    examples=[
        "¿qué es el RSI?", "explícame el MACD", "qué significa stop loss", "¿qué son las medias móviles?",
        "¿cómo se lee el oscilador estocástico?", "¿para qué sirve el apalancamiento?", "explícame qué es un pip",
        "¿qué quiere decir sobrecompra?", "¿cómo funciona un take profit?", "velas japonesas", "gestión del riesgo",
        "enséñame qué es la volatilidad", "¿qué es un mercado bajista?", "¿qué es el forex?",
        "what is a moving average", "what does RSI mean?", "explain the MACD indicator",
        "how do Bollinger Bands work?", "what's a pip in forex?", "define leverage", "what is risk management?",
        "candlestick patterns", "meaning of support and resistance",
        "¿cómo se interpreta el MACD?", "¿cómo se dibuja una línea de tendencia?", "¿qué es la SMA de 200?", "no sé qué es el spread",
        "¿qué diferencia hay entre soporte y resistencia?", "¿cómo uso los niveles de Fibonacci?",
        "how do I read the stochastic oscillator?", "how do I work out a risk reward ratio?",
        "tell me about moving averages", "what is a bull market?", "EMA vs SMA", "what does pip mean?",
    ],
    template={"es": "{respuesta}", "en": "{answer}"},
    timeout=5,
    access="public",  # the pack's own glossary
)
def explicar_concepto(termino: str, ctx: ToolContext) -> dict:
    """Explain a trading concept or indicator from the mentor's glossary (RSI, MACD, Bollinger Bands,
    moving averages, support and resistance, candlesticks, stop loss, leverage, position sizing, pips...).

    Args:
        termino: The term to explain, as the user wrote it (e.g. "RSI", "bandas de Bollinger", "stop loss").
    """
    entry = glossary.lookup(termino)
    if entry is None:
        return {"termino": termino, "encontrado": False,
                "sugerencias": [e.key for e in glossary.suggestions(termino)],
                "respuesta": _unknown(termino, "es"), "answer": _unknown(termino, "en")}
    out = {"termino": entry.key, "encontrado": True}
    for lang, keys in (("es", ("nombre", "definicion", "como_leerlo", "relacionados", "respuesta")),
                       ("en", ("name", "definition", "how_to_read", "related", "answer"))):
        values = (entry.name(lang), entry.text(lang), entry.read(lang),
                  ", ".join(glossary.entries()[k].name(lang) for k in entry.related), _explain(entry, lang))
        out.update(zip(keys, values, strict=True))
    return out


_ANALYSIS = {
    "complete": "Haz un análisis técnico completo del gráfico: tendencia, soportes y resistencias, "
                "patrones de velas o chartistas e indicadores visibles.",
    "trend": "Describe la tendencia del gráfico (alcista, bajista o lateral) y su fuerza.",
    "support_resistance": "Identifica los soportes y resistencias visibles en el gráfico.",
    "patterns": "Identifica patrones de velas y patrones chartistas en el gráfico.",
    "indicators": "Lee los indicadores visibles en el gráfico (medias móviles, RSI, MACD, volumen).",
}
_VISION_SYSTEM = (
    "Eres un analista técnico. Describe solo lo que se ve en el gráfico, en español y en pocas "
    "frases; si la imagen no es un gráfico financiero, dilo. Termina recordando que no es asesoría "
    "financiera."
)
_NO_VISION = {
    "es": "No hay un modelo con visión configurado, así que no puedo interpretar el gráfico; "
          "solo puedo leer su formato y tamaño. Cuéntame qué ves (tendencia, velas, niveles) y lo analizamos.",
    "en": "No vision-capable model is configured, so I cannot interpret the chart; I can only read "
          "its format and size. Tell me what you see (trend, candles, levels) and we can analyse it.",
}


async def _vision_provider(ctx: ToolContext | None, settings: Settings):
    """(provider, model) of an OpenAI-compatible model that takes images, or None."""
    from hilo.providers.openai_provider import OpenAIProvider

    providers = ctx.services.providers if ctx else None
    if providers is None:
        return None
    model = settings.vision_model or (ctx.assistant.model if ctx.assistant else None)
    if not model:
        return None
    try:
        provider, name = providers.resolve(model)
    except Exception:  # an unavailable provider simply means no vision
        return None
    if isinstance(provider, OpenAIProvider) and provider.supports_images:
        return provider, name
    return None


async def _describe(provider, model: str, picture: images.Picture, analysis_type: str) -> str:
    from hilo.providers.base import ModelRequest, TextDelta

    request = ModelRequest(model=model, max_tokens=700, messages=[
        {"role": "system", "content": _VISION_SYSTEM},
        {"role": "user", "content": [
            {"type": "text", "text": _ANALYSIS[analysis_type]},
            {"type": "image_url", "image_url": {"url": images.data_url(picture)}},
        ]},
    ])
    parts = [event.text async for event in provider.stream(request) if isinstance(event, TextDelta)]
    return "".join(parts).strip()


@tool(
    examples=[
        "analiza este gráfico", "¿qué ves en esta imagen del BTC?", "revisa mi captura del gráfico de velas",
        "mira este chart y dime la tendencia", "¿qué patrón ves en esta imagen?",
        "analiza la imagen que te subí", "dime los soportes y resistencias de este gráfico",
        "te paso un gráfico de EUR/USD, ¿qué opinas?", "interpreta esta captura de TradingView",
        "¿el RSI de este gráfico está en sobrecompra?",
        "analyze this chart", "what do you see in this screenshot?", "check my candlestick chart image",
        "look at this chart and tell me the trend", "find support and resistance on this image",
    ],
    template={
        "es": "Imagen {format} de {width}×{height} px ({size_text}).\n{nota}",
        "en": "{format} image, {width}×{height} px ({size_text}).\n{note}",
    },
    timeout=60,
    access="public",  # a public URL, or the caller's own file
)
async def analyze_image(
    ctx: ToolContext,
    image_url: str | None = None,
    file_id: str | None = None,
    analysis_type: AnalysisType = "complete",
) -> dict:
    """Technical analysis of a trading chart image, given as a URL or as an uploaded file id.

    Args:
        image_url: http(s) URL of the chart image (PNG, JPEG, GIF or WebP, 10 MB at most).
        file_id: Id of an uploaded file (file_...), instead of image_url.
        analysis_type: What to look at: complete, trend, support_resistance, patterns or indicators.
    """
    settings = _settings(ctx)
    if bool(image_url) == bool(file_id):
        raise ToolError("Envía la imagen como image_url o como file_id (uno de los dos).")
    limit = settings.max_upload_bytes
    if image_url:
        data, name = await images.fetch_url(image_url, limit, settings.image_url_allow_private)
    else:
        data, name = await images.read_file(ctx, file_id, limit)
    picture = images.inspect(data, name)
    result = {"image": name, "format": picture.format, "width": picture.width, "height": picture.height,
              "bytes": len(data), "size_text": images.size_text(len(data), _locale(ctx)), "analysis_type": analysis_type,
              "vision": False, "model": None, "analysis": None, "nota": _NO_VISION["es"], "note": _NO_VISION["en"]}
    vision = await _vision_provider(ctx, settings)
    if vision is None:
        return result
    provider, model = vision
    try:
        text = await _describe(provider, model, picture, analysis_type)
    except Exception as exc:  # the model failing must not lose what was read without it
        log.warning("vision model %s failed: %r", model, exc)
        result["nota"] = "El modelo de visión falló y no pudo leer el gráfico; solo puedo darte el formato y el tamaño."
        result["note"] = "The vision model failed and could not read the chart; I can only give the format and size."
        return result
    return {**result, "vision": True, "model": model, "analysis": text, "nota": text, "note": text}


TOOLS = [get_crypto_price, get_forex_price, explicar_concepto, analyze_image]
