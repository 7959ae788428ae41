"""A backtest's report: JSON for machines (every decision, every order, the metrics and the
baselines, the config, the data and the code that produced it) and one self-contained HTML
page for people, in Spanish, that opens offline: the plots are matplotlib SVG written inline
into the page (no CDN, no external file, no script).

Why so much in the JSON: the council promises that every decision can be audited and replayed;
a report that keeps only the totals cannot be checked. The equity series is downsampled to at
most ``max_points`` evenly spaced bars (the first and the last always kept); the metrics are
computed on the full series before that.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from hilo import __version__
from hilo.packs.council.backtest import (
    BASELINE_LABELS,
    HELD,
    BacktestResult,
    Run,
)
from hilo.packs.council.core import BUY, HOLD, SELL, jsonable

SCHEMA = "hilo.council.backtest/1"
MAX_POINTS = 1000
HTML_ROWS = 300  # decisions and trades listed in the page (the JSON has them all)


# --- JSON -------------------------------------------------------------------------------------

def code_version() -> dict[str, Any]:
    """hilo's version and, when run from a git checkout, the commit (and whether it was edited)."""
    root = Path(__file__).resolve().parents[3]
    out: dict[str, Any] = {"hilo": __version__, "commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            out["commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=5)
            out["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def data_fingerprint(result: BacktestResult) -> str:
    """sha256 of the bars replayed (times and OHLCV), to tell two data files apart."""
    bars = result.frame.bars
    h = hashlib.sha256(bars.index.as_unit("ms").asi8.tobytes())
    h.update(np.ascontiguousarray(bars[["open", "high", "low", "close", "volume"]].to_numpy(dtype=float)).tobytes())
    return h.hexdigest()


def sample_indices(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def drawdown_series(equity: np.ndarray, initial: float) -> np.ndarray:
    peaks = np.maximum.accumulate(np.concatenate(([initial], equity)))[1:]
    return 1.0 - equity / peaks


def to_json(result: BacktestResult, *, max_points: int = MAX_POINTS) -> dict[str, Any]:
    frame, council = result.frame, result.council
    idx = sample_indices(len(frame), max_points)
    times = frame.bars.index[idx]
    initial = result.config.cash
    equity: dict[str, Any] = {
        "points": len(idx), "of_bars": len(frame),
        "time": [t.isoformat() for t in times],
        "close": frame.close[idx].tolist(),
        "council": council.equity[idx].tolist(),
        "council_drawdown": drawdown_series(council.equity, initial)[idx].tolist(),
    }
    for name, run in result.baselines.items():
        equity[name] = run.equity[idx].tolist()
    index = frame.bars.index
    head = jsonable({
        "schema": SCHEMA,
        "data": {"source": result.source, "symbol": frame.symbol, "timeframe": frame.timeframe,
                 "bars": len(frame), "start": index[0].isoformat(), "end": index[-1].isoformat(),
                 "sha256": data_fingerprint(result)},
        "config": result.config.to_dict(),
        "weights": result.weights,
        "votes_format": "role: [recommendation, confidence]",
        "strategy": result.strategy,
        "code_version": code_version(),
        "periods_per_year": result.periods_per_year,
        "metrics": council.metrics,
        "baselines": {name: run.metrics for name, run in result.baselines.items()},
        "ml": result.ml,
        "timings": result.timings,
    })
    # the long lists hold plain Python floats from finite arithmetic: walking them again to
    # replace NaN would double the cost of the report; :func:`write_json` refuses NaN anyway
    head["decisions"] = [d.to_dict() for d in council.decisions]
    head["orders"] = [o.to_dict() for o in council.orders]
    head["trades"] = [t.to_dict() for t in council.trades]
    head["equity"] = equity
    return head


def dumps(data: dict[str, Any]) -> str:
    """Strict JSON (no NaN); a value that is not finite after all is replaced by null."""
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(jsonable(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def write_json(result: BacktestResult, path: str | Path, *, max_points: int = MAX_POINTS) -> dict[str, Any]:
    data = to_json(result, max_points=max_points)
    Path(path).write_text(dumps(data), encoding="utf-8")
    return data


# --- HTML -------------------------------------------------------------------------------------

METRIC_ROWS = (  # key, Spanish label, format
    ("total_return", "Rentabilidad total", "pct"),
    ("cagr", "Rentabilidad anual compuesta (CAGR)", "pct"),
    ("sharpe", "Ratio de Sharpe", "num"),
    ("sortino", "Ratio de Sortino", "num"),
    ("max_drawdown", "Máxima caída desde un pico", "pct"),
    ("win_rate", "Operaciones ganadoras", "pct"),
    ("exposure", "Tiempo en el mercado", "pct"),
    ("trades", "Operaciones cerradas", "int"),
    ("orders", "Órdenes ejecutadas", "int"),
    ("fees_paid", "Comisiones pagadas", "money"),
    ("final_equity", "Capital final", "money"),
)
STATUS_TEXT = {
    "executed": "ejecutada", "partially_executed": "ejecutada en parte", "rejected": "rechazada en el bróker",
    "hold": "mantener", "escalated_not_executed": "escalada (sin usuario: no ejecutada)",
    "no_next_bar": "última barra (sin apertura siguiente)", "no_position": "sin posición que vender",
    "size_zero": "tamaño cero",
}
ACTION_TEXT = {BUY: "COMPRA", SELL: "VENTA", HOLD: "MANTENER"}


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if kind == "pct":
        text = f"{value * 100:.2f} %"
    elif kind == "num":
        text = f"{value:.2f}"
    elif kind == "money":
        text = f"{value:,.2f}".replace(",", " ")
    else:
        text = str(int(value))
    return text.replace(".", ",")


def _svg(fig) -> str:
    """A figure as SVG markup to paste into HTML5: no XML prolog, DOCTYPE, metadata or namespace
    URLs (inline SVG needs none, and the page must hold no external reference)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buf.getvalue()
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    return text.strip()


def plots(result: BacktestResult) -> dict[str, str]:
    """Three inline SVG plots: equity against buy and hold, drawdown, trades on the price."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "hilo-council"  # the same run renders the same bytes
    plt.rcParams["svg.fonttype"] = "none"
    frame, council = result.frame, result.council
    t = frame.bars.index.tz_localize(None).to_numpy()
    initial = result.config.cash
    out = {}

    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.plot(t, council.equity, color="#1f5fa8", lw=1.4, label="Consejo")
    if "buy_and_hold" in result.baselines:
        ax.plot(t, result.baselines["buy_and_hold"].equity, color="#888888", lw=1.0, label="Comprar y mantener")
    ax.axhline(initial, color="#cccccc", lw=0.8, ls=":")
    ax.set_ylabel("Capital")
    ax.set_title("Curva de capital")
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.25)
    out["equity"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(10, 2.6))
    ax.fill_between(t, -drawdown_series(council.equity, initial) * 100, 0, color="#c0392b", alpha=0.35,
                    label="Consejo")
    if "buy_and_hold" in result.baselines:
        ax.plot(t, -drawdown_series(result.baselines["buy_and_hold"].equity, initial) * 100, color="#888888",
                lw=0.9, label="Comprar y mantener")
    ax.set_ylabel("Caída (%)")
    ax.set_title("Caída desde el máximo")
    ax.legend(loc="lower left", frameon=False)
    ax.grid(alpha=0.25)
    out["drawdown"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.plot(t, frame.close, color="#333333", lw=0.9, label="Cierre")
    index = {ts: i for i, ts in enumerate(frame._times)}
    for side, marker, color, label in ((BUY, "^", "#1e8449", "Compra"), (SELL, "v", "#c0392b", "Venta")):
        fills = [(index[o.time], o.average_price) for o in council.orders
                 if o.request.side == side and o.filled_quantity > 0 and o.time in index]
        if fills:
            xs, ys = zip(*fills, strict=True)
            ax.scatter(t[list(xs)], ys, marker=marker, color=color, s=26, zorder=3, label=label)
    ax.set_ylabel("Precio")
    ax.set_title("Precio y operaciones del consejo")
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.25)
    out["trades"] = _svg(fig)
    return out


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{padding:.25rem .6rem;border-bottom:1px solid #eee;
text-align:right}th:first-child,td:first-child{text-align:left}thead th{background:#f5f5f5}
td.l{text-align:left}.muted{color:#666;font-size:.85rem}figure{margin:1rem 0}svg{max-width:100%;height:auto}
.buy{color:#1e8449}.sell{color:#c0392b}code{background:#f5f5f5;padding:0 .2rem}
"""


def _table(head: list[str], rows: list[list[str]], left: int = 1) -> str:
    e = html.escape
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        cells = (f"<td class=\"l\">{c}</td>" if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_html(result: BacktestResult, data: dict[str, Any] | None = None) -> str:
    """The page; ``data`` is :func:`to_json`'s answer when already computed."""
    e = html.escape
    data = data or to_json(result)
    frame, council, cfg = result.frame, result.council, result.config
    runs: list[tuple[str, Run]] = [("Consejo", council)] + [(BASELINE_LABELS[n], r) for n, r in result.baselines.items()]
    metric_rows = [[e(label)] + [e(_fmt(run.metrics.get(key), kind)) for _, run in runs]
                   for key, label, kind in METRIC_ROWS]
    svgs = plots(result)
    counts = Counter((d.decision.action, d.status) for d in council.decisions)
    count_rows = [[e(ACTION_TEXT.get(a, a)), e(STATUS_TEXT.get(s, s)), str(c)]
                  for (a, s), c in sorted(counts.items(), key=lambda kv: -kv[1])]
    acted = [d for d in council.decisions if d.decision.action != HOLD or d.status != HELD]
    decision_rows = []
    for rec in acted[-HTML_ROWS:]:
        d = rec.decision
        cls = "buy" if d.action == BUY else "sell" if d.action == SELL else ""
        votes = ", ".join(f"{role}: {v.get('recommendation')} {float(v.get('confidence') or 0):.2f}"
                          for role, v in (d.votes or {}).items())
        decision_rows.append([e(d.time.strftime("%Y-%m-%d %H:%M")), f"<span class=\"{cls}\">{e(ACTION_TEXT[d.action])}</span>",
                              e(_fmt(d.confidence, "num")), e(d.outcome), e(STATUS_TEXT.get(rec.status, rec.status)),
                              e(rec.limit or ""), f"<span class=\"muted\">{e(votes)}</span>"])
    trade_rows = [[e(t.entry_time.strftime("%Y-%m-%d %H:%M")),
                   e(t.exit_time.strftime("%Y-%m-%d %H:%M")) if t.exit_time else "abierta",
                   e(_fmt(t.cost, "money")), e(_fmt(t.pnl, "money")), e(_fmt(t.return_pct, "pct")), str(t.orders)]
                  for t in council.trades[-HTML_ROWS:]]
    limits = ", ".join(f"{k} = {_fmt(v, 'pct')}" for k, v in cfg.limits.to_dict().items())
    version = data["code_version"]
    escalation = ("no se ejecutan (en un backtest no hay usuario que apruebe)" if cfg.escalated == "skip"
                  else "se ejecutan como si el usuario las aprobara")
    ml = (f"sí: {result.ml['trainings']} reentrenamientos walk-forward, cada {result.ml['retrain_every']} barras"
          if result.ml else "no")
    parts = [
        "<!DOCTYPE html><html lang=\"es\"><head><meta charset=\"utf-8\">",
        f"<title>Backtest del consejo — {e(frame.symbol)} {e(frame.timeframe)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Backtest del consejo de trading — {e(frame.symbol)} ({e(frame.timeframe)})</h1>",
        f"<p class=\"muted\">Datos: {e(result.source or 'barras propias')} · {len(frame)} barras · "
        f"del {e(data['data']['start'][:16].replace('T', ' '))} al {e(data['data']['end'][:16].replace('T', ' '))} · "
        f"estrategia: {e(result.strategy)} · hilo {e(str(version['hilo']))}"
        + (f" ({e(str(version['commit'])[:12])}{' con cambios' if version.get('dirty') else ''})" if version.get("commit") else "")
        + "</p>",
        "<h2>Resultados frente a las estrategias de referencia</h2>",
        _table(["Métrica"] + [name for name, _ in runs], metric_rows),
        "<p class=\"muted\">Las referencias pasan por el mismo motor y el mismo bróker simulado (comisiones, "
        "deslizamiento, ejecución en la apertura siguiente), invertidas al 100 % y sin los límites de riesgo del "
        "usuario. Sharpe y Sortino anualizados con "
        f"{result.periods_per_year:.0f} barras por año, sin tasa libre de riesgo.</p>",
        f"<figure>{svgs['equity']}</figure>",
        f"<figure>{svgs['drawdown']}</figure>",
        f"<figure>{svgs['trades']}</figure>",
        "<h2>Decisiones</h2>",
        _table(["Acción", "Resultado", "Barras"], count_rows, left=2),
        f"<p class=\"muted\">Las decisiones escaladas {e(escalation)}. La tabla muestra las últimas "
        f"{min(len(acted), HTML_ROWS)} de {len(acted)} decisiones que no fueron «mantener»; el informe JSON "
        f"las guarda todas ({len(council.decisions)}).</p>",
        _table(["Fecha", "Acción", "Confianza", "Consenso", "Resultado", "Límite", "Votos"], decision_rows, left=7),
        "<h2>Operaciones</h2>",
        _table(["Entrada", "Salida", "Coste", "Resultado", "Rentabilidad", "Órdenes"], trade_rows, left=2)
        if trade_rows else "<p>El consejo no abrió ninguna operación.</p>",
        "<h2>Configuración</h2>",
        "<ul>",
        f"<li>Capital inicial: {e(_fmt(cfg.cash, 'money'))}; comisión {e(_fmt(cfg.fee_bps, 'num'))} pb; "
        f"deslizamiento {e(_fmt(cfg.slippage_bps, 'num'))} pb.</li>",
        f"<li>Umbral de consenso: {e(_fmt(cfg.threshold, 'num'))}; pesos: "
        f"{e(json.dumps(cfg.weights, ensure_ascii=False) if cfg.weights else 'los de por defecto')}.</li>",
        f"<li>Límites de riesgo (aplicados por el gestor de riesgo y otra vez en el bróker): {e(limits)}.</li>",
        f"<li>Órdenes a mercado ejecutadas en la apertura de la barra siguiente; como máximo el "
        f"{e(_fmt(cfg.participation, 'pct'))} del volumen de esa barra, en {cfg.book_levels} niveles; "
        "el resto se cancela.</li>",
        f"<li>Modelo de aprendizaje automático: {e(ml)}.</li>",
        f"<li>Huella de los datos (sha256): <code>{e(data['data']['sha256'][:16])}…</code></li>",
        "</ul></body></html>",
    ]
    return "\n".join(parts)


def write_html(result: BacktestResult, path: str | Path, data: dict[str, Any] | None = None) -> None:
    Path(path).write_text(render_html(result, data), encoding="utf-8")
