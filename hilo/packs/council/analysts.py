"""The deterministic analysts: each council role as rules over indicators, the ensemble's
prediction, the portfolio and the user's limits. They need no model, answer in microseconds,
and are what the council uses when no model is configured, when a model fails, and in backtests.

Each analyst is a function ``Snapshot -> Analysis`` and a debate rule
``(Snapshot, own Analysis, objections) -> Analysis``. Reasons are written in Spanish: they are
shown to the user next to the decision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from hilo.packs.council.core import BUY, HOLD, SELL, Analysis, Snapshot
from hilo.packs.council.risk import LIMIT_TEXT, headroom

Analyst = Callable[[Snapshot], Analysis]


def _ok(*values: float) -> bool:
    """No value is NaN (``v != v`` only for NaN: the cheapest test, run ~40 times a bar)."""
    for v in values:
        if v != v:
            return False
    return True


def _pct(x: float) -> str:
    return f"{x * 100:+.2f} %"


# --- market monitor ------------------------------------------------------------------------

def move_threshold(s: Snapshot) -> float:
    """A move is significant above 3 % or three times the usual bar move, whichever is larger."""
    vol = s.value("volatility_20")
    return max(0.03, 3 * vol) if _ok(vol) else 0.03


def market_monitor(s: Snapshot) -> Analysis:
    r1, r5, vr = s.value("return_1"), s.value("return_5"), s.value("volume_sma_ratio")
    if not _ok(r1):
        return Analysis("market_monitor", HOLD, 0.0, "Sin historia suficiente para medir el movimiento.")
    threshold = move_threshold(s)
    data = {"price_change": r1, "price_change_5": r5, "volume_ratio": vr, "threshold": threshold,
            "timeframe": s.timeframe}
    if abs(r1) <= threshold:
        return Analysis("market_monitor", HOLD, 0.2, f"Movimiento normal ({_pct(r1)}); volumen "
                        f"{vr:.2f}x su media." if _ok(vr) else f"Movimiento normal ({_pct(r1)}).", data)
    confirmed = _ok(vr) and vr >= 1.5
    action = BUY if r1 > 0 else SELL
    confidence = min(0.9, 0.5 + abs(r1) / threshold * 0.1 + (0.2 if confirmed else 0.0))
    volume = f"con volumen {vr:.2f}x su media" if _ok(vr) else "sin dato de volumen"
    return Analysis("market_monitor", action, confidence,
                    f"Movimiento significativo de {_pct(r1)} {volume}.", data)


def monitor_triggers(s: Snapshot) -> bool:
    """Whether the monitor calls the council: a significant move, an unusual volume, or a
    momentum turn (MACD crossing its signal) since the last bar."""
    r1, vr, hist = s.value("return_1"), s.value("volume_sma_ratio"), s.value("macd_hist")
    if _ok(r1) and abs(r1) > move_threshold(s):
        return True
    if _ok(vr) and vr >= 2.5:
        return True
    prev = s.value("macd_hist_prev")
    return _ok(hist, prev) and (hist > 0) != (prev > 0)


# --- technical analyst ---------------------------------------------------------------------

def _technical_signals(s: Snapshot) -> dict[str, float]:
    """Each of the nine indicators as a vote in [-1, 1] (positive: bullish); NaN: no value yet."""
    v = s.value
    price = s.price
    sig: dict[str, float] = {}
    rsi = v("rsi_14")
    sig["RSI"] = math.nan if not _ok(rsi) else (1.0 if rsi < 30 else -1.0 if rsi > 70 else (50 - rsi) / 40)
    hist, macd = v("macd_hist"), v("macd")
    sig["MACD"] = math.nan if not _ok(hist, macd) else (1.0 if hist > 0 else -1.0) * (1.0 if (hist > 0) == (macd > 0) else 0.5)
    pos = v("bb_position")
    sig["Bollinger Bands"] = math.nan if not _ok(pos) else (1.0 if pos < 0.05 else -1.0 if pos > 0.95 else 0.0)
    cross = v("ema_cross")
    sig["EMA"] = math.nan if not _ok(cross) else cross
    s50, s200 = v("sma_50"), v("sma_200")
    if _ok(s50, s200):
        sig["SMA"] = 0.5 * (1 if price > s50 else -1) + 0.5 * (1 if s50 > s200 else -1)
    else:
        sig["SMA"] = math.nan if not _ok(s50) else (1.0 if price > s50 else -1.0)
    k, d = v("stoch_k"), v("stoch_d")
    sig["Stochastic"] = math.nan if not _ok(k, d) else (
        1.0 if k < 20 and k > d else -1.0 if k > 80 and k < d else 0.0)
    wr = v("willr_14")
    sig["Williams %R"] = math.nan if not _ok(wr) else (1.0 if wr < -80 else -1.0 if wr > -20 else 0.0)
    cci = v("cci_20")
    sig["CCI"] = math.nan if not _ok(cci) else (1.0 if cci < -100 else -1.0 if cci > 100 else 0.0)
    return sig


# trend-following signals count more when ADX says there is a trend; oscillators when it says not
_TREND = ("MACD", "EMA", "SMA")


def technical_analyst(s: Snapshot) -> Analysis:
    signals = _technical_signals(s)
    adx = s.value("adx_14")
    trending = _ok(adx) and adx >= 25
    total = weight = 0.0
    for name, value in signals.items():
        if math.isnan(value):
            continue
        w = (1.5 if trending else 0.75) if name in _TREND else (0.75 if trending else 1.25)
        total += w * value
        weight += w
    data = {"signals": {k: (None if v != v else v) for k, v in signals.items()},
            "ADX": None if adx != adx else adx, "trending": trending}
    pred = s.prediction
    if pred and _ok(pred.get("p_up", math.nan)):
        edge = (pred["p_up"] - 0.5) * 2  # the ensemble's lean, in [-1, 1]
        total += 2.0 * edge * pred.get("confidence", 1.0)
        weight += 2.0
        data["ensemble_p_up"] = round(pred["p_up"], 4)
    if weight == 0:
        return Analysis("technical_analyst", HOLD, 0.0, "Indicadores aún sin datos (calentamiento).", data)
    score = total / weight
    data["score"] = round(score, 4)
    bull = [k for k, v in signals.items() if _ok(v) and v > 0]
    bear = [k for k, v in signals.items() if _ok(v) and v < 0]
    if score > 0.2:
        action, why = BUY, f"Señales alcistas: {', '.join(bull) or 'modelo'}"
    elif score < -0.2:
        action, why = SELL, f"Señales bajistas: {', '.join(bear) or 'modelo'}"
    else:
        action, why = HOLD, "Señales mixtas"
    regime = "tendencia" if trending else "rango"
    return Analysis("technical_analyst", action, min(0.95, abs(score) * 1.2),
                    f"{why} (puntaje {score:+.2f}, mercado en {regime}).", data)


# --- fundamental analyst -------------------------------------------------------------------

def fundamental_analyst(s: Snapshot) -> Analysis:
    sentiment = s.sentiment or {}
    combined = sentiment.get("combined_score")
    s200, r5 = s.value("sma_200"), s.value("return_5")
    data: dict = {"sentiment_available": bool(sentiment.get("available")), "combined_score": combined}
    parts: list[str] = []
    score, weight = 0.0, 0.0
    if sentiment.get("available") and isinstance(combined, int | float) and not math.isnan(combined):
        score += 2.0 * float(combined)
        weight += 2.0
        parts.append(f"sentimiento de noticias y redes {float(combined):+.2f}")
    else:
        parts.append(sentiment.get("note") or "sin fuente de noticias configurada")
    if _ok(s200):
        regime = 1.0 if s.price > s200 else -1.0
        score += regime
        weight += 1.0
        data["long_term_regime"] = "alcista" if regime > 0 else "bajista"
        parts.append(f"régimen de largo plazo {data['long_term_regime']} (precio vs SMA 200)")
    if weight == 0:
        return Analysis("fundamental_analyst", HOLD, 0.0, "; ".join(parts) + ".", data)
    value = score / weight
    # with no feed the view rests on the price alone: it speaks softly
    cap = 0.8 if data["sentiment_available"] else 0.35
    action = BUY if value > 0.3 else SELL if value < -0.3 else HOLD
    if action == BUY and _ok(r5) and r5 < -0.1:
        action = HOLD
        parts.append("caída reciente fuerte: espera confirmación")
    data["score"] = round(value, 4)
    return Analysis("fundamental_analyst", action, min(cap, abs(value)), "; ".join(parts).capitalize() + ".", data)


# --- risk manager --------------------------------------------------------------------------

LOSS_LIMITS = ("max_drawdown_pct", "max_daily_loss_pct")


def risk_manager(s: Snapshot) -> Analysis:
    """The user's limits through the very function the broker edge applies (:func:`headroom`),
    and a stop 2.5 ATR under the entry."""
    p = s.portfolio
    atr, vol = s.value("atr_14"), s.value("volatility_20")
    data: dict = {"limits": s.limits.to_dict()}
    if p is None:
        return Analysis("risk_manager", HOLD, 0.0, "Sin cartera: no hay riesgo que evaluar.", data)
    equity = p.equity(s.price)
    room = headroom(p, s.price, s.limits)
    room_pct = room.value / equity if equity > 0 else 0.0
    data.update({"max_buy_pct": round(room_pct, 6), "binding_limit": room.limit,
                 "exposure": round(p.exposure(s.price), 4)})
    if p.quantity > 0 and _ok(atr) and s.price < p.avg_price - 2.5 * atr:
        data["stop"] = p.avg_price - 2.5 * atr
        return Analysis("risk_manager", SELL, 0.9,
                        f"Stop de pérdida: el precio cayó más de 2.5 ATR bajo la entrada ({p.avg_price:.2f}).", data)
    if room.limit in LOSS_LIMITS and room.value <= 0:
        why = f"{LIMIT_TEXT[room.limit]} ({room.limit})"
        if p.quantity > 0:
            return Analysis("risk_manager", SELL, 0.8, f"Límite de riesgo superado: {why}. Reducir la posición.", data)
        data["veto_buy"] = True
        return Analysis("risk_manager", HOLD, 0.8, f"Límite de riesgo superado: {why}.", data)
    if room_pct <= 0:
        data["veto_buy"] = True
        return Analysis("risk_manager", HOLD, 0.5,
                        f"Sin espacio para comprar: {LIMIT_TEXT.get(room.limit, room.limit)} ({room.limit}).", data)
    high_vol = _ok(vol) and vol > 0.06
    if high_vol:
        data["max_buy_pct"] = round(room_pct / 2, 6)
    return Analysis("risk_manager", HOLD, 0.3 if high_vol else 0.1,
                    (f"Riesgo dentro de los límites; volatilidad alta ({vol:.1%}): tamaño reducido a la mitad."
                     if high_vol else f"Riesgo dentro de los límites; espacio para comprar hasta {room_pct:.0%} "
                     "del capital."), data)


# --- strategist ----------------------------------------------------------------------------

def strategist(s: Snapshot) -> Analysis:
    """Trend and the ensemble together, with the user's custom rules on top."""
    v = s.value
    s50, s200, hist, adx = v("sma_50"), v("sma_200"), v("macd_hist"), v("adx_14")
    data: dict = {}
    rule = matching_rule(s)
    if rule is not None:
        data["rule"] = rule
        action = str(rule.get("action", HOLD)).upper()
        note = rule.get("note") or f"{rule.get('indicator')} {rule.get('op')} {rule.get('value')}"
        return Analysis("strategist", action if action in (BUY, SELL, HOLD) else HOLD, 0.9,
                        f"Regla del usuario: {note}.", data)
    score, weight = 0.0, 0.0
    if _ok(s50):
        score += 1.0 if s.price > s50 else -1.0
        weight += 1.0
    if _ok(s50, s200):
        score += 1.0 if s50 > s200 else -1.0
        weight += 1.0
    if _ok(hist):
        score += 0.5 if hist > 0 else -0.5
        weight += 0.5
    pred = s.prediction
    if pred and _ok(pred.get("p_up", math.nan)):
        edge = (pred["p_up"] - 0.5) * 2
        magnitude = pred.get("magnitude", math.nan)
        score += 2.0 * edge
        weight += 2.0
        data.update({"p_up": round(pred["p_up"], 4),
                     "magnitude": None if not _ok(magnitude) else round(magnitude, 5)})
    if weight == 0:
        return Analysis("strategist", HOLD, 0.0, "Sin historia suficiente para una estrategia.", data)
    value = score / weight
    if _ok(adx) and adx < 15:
        value *= 0.6  # no trend: weaker conviction
    data["score"] = round(value, 4)
    action = BUY if value > 0.25 else SELL if value < -0.25 else HOLD
    label = {BUY: "Estrategia de tendencia: comprar", SELL: "Estrategia de tendencia: salir",
             HOLD: "Sin ventaja clara: esperar"}[action]
    return Analysis("strategist", action, min(0.9, abs(value)), f"{label} (puntaje {value:+.2f}).", data)


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def matching_rule(s: Snapshot) -> dict | None:
    """The first of the user's ``custom_rules`` whose condition holds at this bar."""
    for rule in s.rules:
        name = rule.get("indicator")
        value = s.price if name == "price" else s.value(str(name))
        if _ok(value) and _OPS[rule["op"]](value, float(rule["value"])):
            return rule
    return None


# --- executor ------------------------------------------------------------------------------

def executor(s: Snapshot) -> Analysis:
    """Can an order be filled well now? Liquidity (volume against its mean) and the bar's range."""
    vr = s.value("volume_sma_ratio")
    atr = s.value("atr_14")
    data = {"volume_ratio": vr, "atr_pct": (atr / s.price) if _ok(atr) else None}
    if _ok(vr) and vr < 0.2:
        return Analysis("executor", HOLD, 0.6, f"Liquidez baja ({vr:.2f}x el volumen medio): mejor no operar.", data)
    return Analysis("executor", HOLD, 0.0, "Ejecución posible: liquidez normal.", data)


# --- auditor -------------------------------------------------------------------------------

def auditor(s: Snapshot) -> Analysis:
    """Checks the inputs before anything is decided: missing values, impossible prices."""
    findings = []
    if not math.isfinite(s.price) or s.price <= 0:
        findings.append("precio inválido")
    warm = [k for k in ("rsi_14", "macd_hist", "sma_50") if math.isnan(s.value(k))]
    if warm:
        findings.append(f"indicadores sin datos: {', '.join(warm)}")
    r1, vol = s.value("return_1"), s.value("volatility_20")
    if _ok(r1, vol) and vol > 0 and abs(r1) > 10 * vol and abs(r1) > 0.2:
        findings.append(f"movimiento anómalo de {_pct(r1)}: revisar los datos")
    data = {"findings": findings}
    if findings:
        return Analysis("auditor", HOLD, 0.7, "Objeciones del auditor: " + "; ".join(findings) + ".", data)
    return Analysis("auditor", HOLD, 0.0, "Datos consistentes; sin objeciones.", data)


ANALYSTS: dict[str, Analyst] = {
    "market_monitor": market_monitor, "technical_analyst": technical_analyst,
    "fundamental_analyst": fundamental_analyst, "risk_manager": risk_manager,
    "strategist": strategist, "executor": executor, "auditor": auditor,
}

# Members bound by a hard constraint do not change their view in a debate.
FIRM = frozenset({"risk_manager", "auditor"})


def debate(s: Snapshot, own: Analysis, objections: Sequence[Analysis], leading: str) -> Analysis:
    """A deterministic member's answer to the objections of those who disagree with it.

    It weighs its own confidence against the confidence of the opposing side: outweighed, it
    moves to HOLD (it stops opposing without claiming the other view); otherwise it keeps its
    view with a reply. Firm members (limits, data checks) never move."""
    if own.assistant_id in FIRM or own.vote == leading:
        return Analysis(own.assistant_id, own.recommendation, own.confidence,
                        own.reasoning + " Mantengo mi posición.", dict(own.supporting_data))
    opposing = [o for o in objections if o.vote == leading]
    strength = max((o.confidence for o in opposing), default=0.0)
    if strength > own.confidence + 0.1 and own.vote != HOLD:
        names = ", ".join(o.assistant_id for o in opposing)
        return Analysis(own.assistant_id, HOLD, round(own.confidence / 2, 4),
                        f"Ante los argumentos de {names} ({leading}), retiro mi recomendación {own.vote}.",
                        {**own.supporting_data, "revised_from": own.vote})
    return Analysis(own.assistant_id, own.recommendation, own.confidence,
                    own.reasoning + " Los argumentos contrarios no superan mi evidencia.",
                    dict(own.supporting_data))
