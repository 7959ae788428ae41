"""The backtest report: the JSON's shape (every decision, orders, trades, metrics, baselines,
config, data, code version; no NaN) and an HTML page in Spanish with its plots inline and no
reference to anything outside the file."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from hilo.packs.council import bars, report
from hilo.packs.council.backtest import BASELINES, BacktestConfig, run_backtest
from hilo.packs.council.frame import MarketFrame

METRICS = {"total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "exposure", "trades",
           "orders", "fees_paid", "final_equity", "initial_cash"}


@pytest.fixture(scope="module")
def result():
    frame = MarketFrame.build(bars.load_dataset("btc-usd-1d"), "BTC/USD", "1d")
    return run_backtest(frame, BacktestConfig(volume_in_quote=True), source="dataset:btc-usd-1d")


@pytest.fixture(scope="module")
def data(result):
    return report.to_json(result, max_points=200)


def test_json_carries_everything_needed_to_audit_the_run(result, data):
    assert data["schema"] == report.SCHEMA
    assert {"schema", "data", "config", "weights", "code_version", "metrics", "baselines", "decisions",
            "orders", "trades", "equity", "periods_per_year", "strategy"} <= set(data)
    assert data["data"]["source"] == "dataset:btc-usd-1d" and data["data"]["bars"] == len(result.frame)
    assert data["data"]["symbol"] == "BTC/USD" and data["data"]["timeframe"] == "1d"
    assert re.fullmatch(r"[0-9a-f]{64}", data["data"]["sha256"])
    assert data["code_version"]["hilo"] and "commit" in data["code_version"]
    assert data["config"]["fee_bps"] == 10.0 and data["config"]["escalated"] == "skip"
    assert METRICS <= set(data["metrics"])
    assert set(data["baselines"]) == set(BASELINES)
    for m in data["baselines"].values():
        assert METRICS <= set(m)
    assert len(data["decisions"]) == len(result.frame)
    for d in data["decisions"]:
        assert {"time", "action", "confidence", "votes", "outcome", "status"} <= set(d)
    voted = next(d for d in data["decisions"] if d["action"] != "HOLD")
    assert set(voted["votes"]) == set(data["weights"]) and len(voted["votes"]["strategist"]) == 2
    assert len(data["orders"]) == len(result.council.orders) > 0
    assert data["trades"] and {"entry_time", "exit_time", "pnl", "return_pct"} <= set(data["trades"][0])
    json.dumps(data, allow_nan=False)  # NaN would make the file unreadable to strict parsers


def test_equity_is_downsampled_keeping_both_ends(result, data):
    eq = data["equity"]
    assert eq["points"] <= 200 and eq["of_bars"] == len(result.frame)
    assert len(eq["time"]) == len(eq["council"]) == len(eq["buy_and_hold"]) == len(eq["close"]) == eq["points"]
    assert eq["time"][0] == result.frame.time(0).isoformat()
    assert eq["council"][-1] == pytest.approx(result.council.equity[-1])
    assert max(eq["council_drawdown"]) <= data["metrics"]["max_drawdown"] + 1e-12
    assert list(report.sample_indices(10, 200)) == list(range(10))


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_is_spanish_self_contained_with_inline_plots(result, data, tmp_path):
    path = tmp_path / "r.html"
    report.write_html(result, path, data)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'lang="es"' in page
    for text in ("Curva de capital", "Caída desde el máximo", "Precio y operaciones", "Comprar y mantener",
                 "Rentabilidad total", "Ratio de Sharpe", "Decisiones", "Operaciones"):
        assert text in page
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.tags.count("svg") == 3 and parsed.tags.count("path") > 30
    assert not {"script", "link", "img", "iframe", "object"} & set(parsed.tags)
    assert "http://" not in page and "https://" not in page
    for name, value in parsed.attrs:
        if name in ("src", "href", "xlink:href") and value:
            assert value.startswith("#"), f"external reference {name}={value}"
    assert "url(" not in page.replace("url(#", "") and "@import" not in page
    # trades are marked on the price plot: the council's buys and sells as point markers
    assert "Compra" in page and "Venta" in page


def test_the_same_run_renders_the_same_page(result, data):
    assert report.render_html(result, data) == report.render_html(result, data)
