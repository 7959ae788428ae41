"""``hilo council``: backtests of the council from bundled data or a CSV file, and the list of
bundled data sets. Wired into ``hilo`` as ``app.add_typer(council_app, name="council")``; also
runnable alone as ``python -m hilo.packs.council.cli``.

Bad input (an unknown data set, a CSV that is not bars, weights that are not JSON or name no
member) exits with code 2 and one line that says what to fix, never a traceback: the same
code typer uses for a bad option.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

council_app = typer.Typer(help="Consejo de trading: backtests con el mismo código que opera en papel.",
                          no_args_is_help=True, add_completion=False)

BAD_INPUT = 2
PROGRESS_FROM_BARS = 2000  # shorter runs finish before a bar would be worth drawing


def _fail(message: str) -> typer.Exit:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=BAD_INPUT)


def _json_option(text: str | None, name: str) -> dict[str, Any] | None:
    """A JSON object given inline or as a path to a file holding one."""
    if text is None:
        return None
    raw = text
    path = Path(text)
    if not text.lstrip().startswith("{") and path.is_file():
        raw = path.read_text(encoding="utf-8")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _fail(f"--{name} no es JSON válido ({exc.msg}, posición {exc.pos}); "
                    f"ejemplo: --{name} '{{\"technical_analyst\": 0.4}}'") from None
    if not isinstance(value, dict):
        raise _fail(f"--{name} debe ser un objeto JSON ({{\"nombre\": número}})")
    return value


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.2f} %".replace(".", ",")


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}".replace(".", ",")


@council_app.command("datasets")
def datasets() -> None:
    """Lista los datos incluidos (OHLCV dentro de paquetes de PyPI, sin descargas)."""
    from hilo.packs.council.bars import DATASETS

    for d in DATASETS.values():
        typer.echo(f"{d.name:<13} {d.symbol:<8} {d.timeframe:<4} {d.description}")


@council_app.command("keygen")
def keygen() -> None:
    """Genera una clave para HILO_COUNCIL_SECRET_KEY (cifra las claves de exchange guardadas)."""
    from hilo.packs.council.keys import generate_secret_key

    typer.echo(generate_secret_key())


@council_app.command("backtest")
def backtest(
    dataset: Annotated[str | None, typer.Option("--dataset", help="Datos incluidos (ver `datasets`).")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="CSV con timestamp,open,high,low,close,volume.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Símbolo (por defecto el de los datos).")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Temporalidad (por defecto, deducida de los datos).")] = None,
    cash: Annotated[float, typer.Option(help="Capital inicial.")] = 10_000.0,
    fee_bps: Annotated[float, typer.Option("--fee-bps", help="Comisión en puntos básicos.")] = 10.0,
    slippage_bps: Annotated[float, typer.Option("--slippage-bps", help="Deslizamiento en puntos básicos.")] = 5.0,
    threshold: Annotated[float, typer.Option(help="Umbral de consenso (0-1).")] = 0.5,
    weights: Annotated[str | None, typer.Option(help="Pesos de los asistentes en JSON (o un fichero).")] = None,
    limits: Annotated[str | None, typer.Option(help="Límites de riesgo en JSON (o un fichero).")] = None,
    first: Annotated[int | None, typer.Option("--first", min=2, help="Solo las primeras N barras.")] = None,
    ml: Annotated[bool, typer.Option("--ml/--no-ml", help="Entrenar el modelo walk-forward.")] = False,
    escalated: Annotated[str, typer.Option(help="Decisiones escaladas: skip (no se ejecutan) o execute.")] = "skip",
    volume_in_quote: Annotated[bool | None, typer.Option(
        "--volume-in-quote/--volume-in-base", help="El volumen del CSV está en la moneda de cotización.")] = None,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Estrategias de referencia.")] = True,
    out: Annotated[Path | None, typer.Option("--out", help="Informe JSON.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Informe HTML con gráficos.")] = None,
) -> None:
    """Backtest del consejo sobre barras incluidas o un CSV: mismas reglas, bróker y límites que en papel."""
    from hilo.packs.council import bars as bars_mod
    from hilo.packs.council.backtest import BacktestConfig, infer_timeframe, run_backtest
    from hilo.packs.council.core import CouncilInputError, RiskLimits
    from hilo.packs.council.frame import MarketFrame

    started = time.perf_counter()
    if (dataset is None) == (csv is None):
        raise _fail("indica los datos con --dataset NOMBRE o con --csv FICHERO (uno de los dos)")
    try:
        if dataset is not None:
            key = dataset.strip().lower()
            frame_bars = bars_mod.load_dataset(key)
            info = bars_mod.DATASETS[key]
            source, default_symbol = f"dataset:{key}", info.symbol
            quote_volume = info.symbol.startswith("BTC/")  # Yahoo's crypto volume is in dollars
            default_tf = info.timeframe
        else:
            frame_bars = bars_mod.read_csv(csv)
            source, default_symbol, quote_volume = f"csv:{csv.name}", csv.stem.upper(), False
            default_tf = infer_timeframe(frame_bars)
    except bars_mod.BarsError as exc:
        raise _fail(str(exc)) from None
    if first is not None:
        if first > len(frame_bars):
            raise _fail(f"--first {first}: los datos solo tienen {len(frame_bars)} barras")
        frame_bars = frame_bars.iloc[:first]
    if escalated not in ("skip", "execute"):
        raise _fail("--escalated debe ser skip o execute")
    try:
        config = BacktestConfig(cash=cash, fee_bps=fee_bps, slippage_bps=slippage_bps, threshold=threshold,
                                weights=_json_option(weights, "weights"),
                                limits=RiskLimits.from_dict(_json_option(limits, "limits")),
                                escalated=escalated, ml=ml, baselines=baselines,
                                volume_in_quote=quote_volume if volume_in_quote is None else volume_in_quote)
        config.validate()
        frame = MarketFrame.build(frame_bars, symbol or default_symbol, timeframe or default_tf)
        result = _run(frame, config, source, run_backtest)
    except CouncilInputError as exc:
        raise _fail(str(exc)) from None
    data = None
    if out is not None or html is not None:
        from hilo.packs.council import report

        data = report.to_json(result)
        if out is not None:
            out.write_text(report.dumps(data), encoding="utf-8")
        if html is not None:
            report.write_html(result, html, data)
    _summary(result, time.perf_counter() - started, out, html)


def _run(frame, config, source, run_backtest):
    """The run, with a progress bar on the terminal when it is long enough to need one."""
    total_bars = len(frame) * (5 if config.baselines else 1)
    if len(frame) < PROGRESS_FROM_BARS and not config.ml:
        return run_backtest(frame, config, source=source)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("Backtest" + (" (entrenando el modelo…)" if config.ml else ""), total=total_bars)
        return run_backtest(frame, config, source=source,
                            progress=lambda done, total: bar.update(task, completed=done, total=total))


def _summary(result, seconds: float, out: Path | None, html: Path | None) -> None:
    from hilo.packs.council.backtest import BASELINE_LABELS

    m = result.council.metrics
    f = result.frame
    typer.echo(f"Backtest de {f.symbol} ({f.timeframe}): {len(f)} barras, {result.source}, {seconds:.2f} s")
    rows = [("Consejo", m)] + [(BASELINE_LABELS[n], r.metrics) for n, r in result.baselines.items()]
    typer.echo(f"{'':<28}{'rentab.':>10}{'CAGR':>10}{'Sharpe':>8}{'Sortino':>9}{'caída máx':>11}"
               f"{'aciertos':>10}{'exposic.':>10}{'operac.':>8}")
    for label, r in rows:
        typer.echo(f"{label:<28}{_pct(r['total_return']):>10}{_pct(r['cagr']):>10}{_num(r['sharpe']):>8}"
                   f"{_num(r['sortino']):>9}{_pct(r['max_drawdown']):>11}{_pct(r['win_rate']):>10}"
                   f"{_pct(r['exposure']):>10}{r['trades']:>8}")
    typer.echo(f"Comisiones del consejo: {m['fees_paid']:.2f}; órdenes ejecutadas {m['orders']}, "
               f"rechazadas en el bróker {m['orders_rejected']}")
    if out is not None:
        typer.echo(f"Informe JSON: {out}")
    if html is not None:
        typer.echo(f"Informe HTML: {html}")


if __name__ == "__main__":
    council_app(prog_name="hilo council")
