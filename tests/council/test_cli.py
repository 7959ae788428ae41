"""``hilo council``: a backtest from bundled data or a CSV writes its reports; bad input exits
with code 2 and a message, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hilo.packs.council import bars
from hilo.packs.council.cli import council_app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return runner.invoke(council_app, list(args))


def test_datasets_lists_the_bundled_data():
    r = invoke("datasets")
    assert r.exit_code == 0
    for name in bars.DATASETS:
        assert name in r.output


def test_backtest_writes_json_and_html(tmp_path):
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    r = invoke("backtest", "--dataset", "btc-usd-1d", "--first", "300", "--fee-bps", "20", "--slippage-bps", "3",
               "--threshold", "0.4", "--weights", '{"technical_analyst": 0.4}', "--cash", "5000",
               "--out", str(out), "--html", str(page))
    assert r.exit_code == 0, r.output
    assert "Consejo" in r.output and "Comprar y mantener" in r.output and "300 barras" in r.output
    data = json.loads(out.read_text())
    assert data["data"]["bars"] == 300 and data["data"]["source"] == "dataset:btc-usd-1d"
    assert data["config"]["fee_bps"] == 20 and data["config"]["slippage_bps"] == 3
    assert data["config"]["threshold"] == 0.4 and data["weights"]["technical_analyst"] == 0.4
    assert data["metrics"]["initial_cash"] == 5000 and len(data["decisions"]) == 300
    assert "<svg" in page.read_text()


def test_first_n_bars_from_the_cli_decide_as_the_whole_file(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert invoke("backtest", "--dataset", "btc-usd-1d", "--first", "350", "--no-baselines", "--out", str(a)).exit_code == 0
    assert invoke("backtest", "--dataset", "btc-usd-1d", "--no-baselines", "--out", str(b)).exit_code == 0
    short, full = json.loads(a.read_text())["decisions"], json.loads(b.read_text())["decisions"]
    keys = ("time", "action", "confidence", "outcome", "votes", "size_pct")
    assert [[d[k] for k in keys] for d in short] == [[d[k] for k in keys] for d in full[:350]]


def test_backtest_from_a_csv_infers_the_timeframe(tmp_path):
    frame = bars.load_dataset("btc-usd-15m").iloc[:400]
    path = tmp_path / "btc15.csv"
    frame.reset_index().to_csv(path, index=False)
    out = tmp_path / "r.json"
    r = invoke("backtest", "--csv", str(path), "--symbol", "BTC/USDT", "--out", str(out))
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["data"]["timeframe"] == "15m" and data["data"]["symbol"] == "BTC/USDT"
    assert data["data"]["source"] == "csv:btc15.csv"


@pytest.mark.parametrize("args, message", [
    (["--dataset", "nope"], "unknown data set"),
    ([], "--dataset"),
    (["--dataset", "btc-usd-1d", "--csv", "x.csv"], "uno de los dos"),
    (["--dataset", "btc-usd-1d", "--weights", "{nope"], "no es JSON"),
    (["--dataset", "btc-usd-1d", "--weights", '{"oracle": 1}'], "oracle"),
    (["--dataset", "btc-usd-1d", "--weights", "[1, 2]"], "objeto JSON"),
    (["--dataset", "btc-usd-1d", "--limits", '{"max_position_pct": 3}'], "max_position_pct"),
    (["--dataset", "btc-usd-1d", "--threshold", "1.5"], "threshold"),
    (["--dataset", "btc-usd-1d", "--first", "100000"], "solo tienen"),
    (["--dataset", "btc-usd-1d", "--escalated", "maybe"], "skip o execute"),
    (["--dataset", "btc-usd-1d", "--fee-bps", "-1"], "fee_bps"),
])
def test_bad_input_exits_2_with_a_message(args, message):
    r = invoke("backtest", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_a_bad_csv_exits_2(tmp_path):
    text = tmp_path / "notes.csv"
    text.write_text("hola,mundo\n1,2\n")
    r = invoke("backtest", "--csv", str(text))
    assert r.exit_code == 2 and "no timestamp column" in r.output
    broken = tmp_path / "broken.csv"
    broken.write_text("timestamp,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,10\n2024-01-02,x,2,0.5,1.5,10\n")
    r = invoke("backtest", "--csv", str(broken))
    assert r.exit_code == 2 and "row 2" in r.output
    r = invoke("backtest", "--csv", str(tmp_path / "missing.csv"))
    assert r.exit_code == 2 and "no such file" in r.output


def test_the_module_runs_as_a_command(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "hilo.packs.council.cli", "backtest", "--dataset", "btc-usd-1d",
                           "--first", "260", "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["data"]["bars"] == 260
    bad = subprocess.run([sys.executable, "-m", "hilo.packs.council.cli", "backtest", "--dataset", "nope"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "unknown data set" in bad.stderr


def test_keygen_prints_a_usable_fernet_key():
    from hilo.packs.council import keys

    r = invoke("keygen")
    assert r.exit_code == 0
    key = r.output.strip()
    assert keys.decrypt(key, keys.encrypt(key, "secreto")) == "secreto"
    assert invoke("keygen").output.strip() != key
