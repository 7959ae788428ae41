"""The trading mentor's tools: crypto and forex prices, and chart images."""

from __future__ import annotations

import logging
from typing import Literal

from hilo.kit.config import Settings, get_settings
from hilo.packs.trading_mentor import images
from hilo.packs.trading_mentor.market import MarketError, Quote, market_for
from hilo.tools import ToolContext
from hilo.tools.function import ToolError, tool

log = logging.getLogger("hilo.packs.trading_mentor")

AnalysisType = Literal["complete", "trend", "support_resistance", "patterns", "indicators"]


def _settings(ctx: ToolContext | None) -> Settings:
    return (ctx.services.settings if ctx else None) or get_settings()


def _number(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.8g}"


def _quote_dict(quote: Quote) -> dict:
    change = quote.change_24h_pct
    return {**quote.to_dict(), "price_text": _number(quote.price),
            "change_text": "—" if change is None else f"{change:+.2f} %"}


async def _quote(ctx: ToolContext | None, kind: str, text: str) -> dict:
    market = market_for(_settings(ctx))
    try:
        quote = await (market.crypto(text) if kind == "crypto" else market.forex(text))
    except MarketError as exc:
        raise ToolError(str(exc)) from None
    return _quote_dict(quote)


@tool(
    examples=[
        "¿cuál es el precio de bitcoin?", "¿cuánto vale BTC hoy?", "precio de ethereum",
        "¿a cuánto está el ETH?", "dame la cotización de solana", "¿cómo está el bitcoin ahora?",
        "¿cuánto cuesta un dogecoin?", "precio actual de XRP en USDT", "cotización BTC/USDT",
        "¿subió o bajó bitcoin en las últimas 24 horas?",
        "what's the price of bitcoin?", "how much is ETH right now?", "BTC price",
        "current price of solana", "how is bitcoin doing today?",
    ],
    template={
        "es": "{base} cotiza a {price_text} {quote} ({change_text} en 24 h). "
              "Fuente: {source}, cotización de {quoted_at}.",
        "en": "{base} is trading at {price_text} {quote} ({change_text} over 24 h). "
              "Source: {source}, quoted at {quoted_at}.",
    },
    timeout=20,
    access="public",  # public market data
)
async def get_crypto_price(symbol: str, ctx: ToolContext) -> dict:
    """Current price of a cryptocurrency on the configured exchange, with its 24 h change.

    Args:
        symbol: Ticker such as BTC or ETH, or a pair such as BTC/USDT (a bare ticker is quoted in USDT).
    """
    return await _quote(ctx, "crypto", symbol)


@tool(
    examples=[
        "¿cómo está el euro dólar?", "precio del EUR/USD", "tasa de cambio euro a dólar",
        "¿a cuánto está la libra frente al dólar?", "cotización GBP/JPY", "¿cuánto vale el dólar en yenes?",
        "dame el par USD/CHF", "¿cuántos pesos mexicanos da un dólar?", "tipo de cambio EUR GBP",
        "¿cómo cotiza el par eurodólar hoy?",
        "EUR/USD rate", "what's the euro dollar exchange rate?", "how much is GBP in USD?",
        "forex price of USD/JPY", "convert euros to dollars rate",
    ],
    template={
        "es": "1 {base} = {price_text} {quote} (tasa de referencia diaria). Fuente: {source}, fecha {quoted_at}.",
        "en": "1 {base} = {price_text} {quote} (daily reference rate). Source: {source}, date {quoted_at}.",
    },
    timeout=20,
    access="public",  # public market data
)
async def get_forex_price(pair: str, ctx: ToolContext) -> dict:
    """Reference exchange rate of a currency pair (European Central Bank daily rates).

    Args:
        pair: Currency pair such as EUR/USD, GBP/JPY or USD/MXN.
    """
    return await _quote(ctx, "forex", pair)


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
              "bytes": len(data), "size_text": images.size_text(len(data)), "analysis_type": analysis_type,
              "vision": False, "model": None, "analysis": None, "nota": _NO_VISION["es"], "note": _NO_VISION["en"]}
    vision = await _vision_provider(ctx, settings)
    if vision is None:
        return result
    provider, model = vision
    try:
        text = await _describe(provider, model, picture, analysis_type)
    except Exception as exc:  # the model failing must not lose what was read without it
        log.warning("vision model %s failed: %s", model, exc)
        result["nota"] = f"El modelo de visión falló ({exc}); solo puedo darte el formato y el tamaño."
        result["note"] = f"The vision model failed ({exc}); I can only give the format and size."
        return result
    return {**result, "vision": True, "model": model, "analysis": text, "nota": text, "note": text}


TOOLS = [get_crypto_price, get_forex_price, analyze_image]
