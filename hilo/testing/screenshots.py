"""``make screenshots``: start hilo with every pack and some data, sign in through the page, and save
PNG screenshots of the main pages (chat, chat on a phone, console overview, shop, council).

    python -m hilo.testing.screenshots docs/screenshots

Nothing leaves the machine: no model (the guided provider answers), the council's market is a fake
Binance on a loopback port, the browser is Debian's Chromium.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

QUESTION = "¿Qué formulario de renta uso si soy residente?"


def _wait_for_knowledge(http: httpx.Client, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        stores = http.get("/v1/vector_stores", params={"limit": 100}).json()["data"]
        if stores and all(s["file_counts"]["in_progress"] == 0 for s in stores):
            return
        time.sleep(1)


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from hilo.kit.config import Settings
    from hilo.packs.council.bars import load_dataset
    from hilo.testing.fake_markets import FakeBinance
    from hilo.testing.server import start_server
    from hilo.testing.web import escalate, launch, new_key, shop_sales, sign_in

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="hilo-screens-"))
    report = tmp / "report.json"  # a backtest report for the council page to draw
    subprocess.run([sys.executable, "-c", "from hilo.cli import app; app()", "council", "backtest", "--dataset",
                    "btc-usd-1d", "--out", str(report)], check=True, capture_output=True, timeout=300)
    admin_token = secrets.token_urlsafe(24)
    with FakeBinance() as binance:
        binance.set_bars("BTC/USDT", "1d", load_dataset("btc-usd-1d"))
        binance.set_order_book("BTC/USDT", bids=[[61000.0, 0.5], [60990.0, 2.0]], asks=[[61010.0, 0.5], [61020.0, 5.0]])
        os.environ.update(HILO_COUNCIL_EXCHANGE_URL=binance.url, HILO_COUNCIL_SCHEDULES="false",
                          HILO_COUNCIL_TIMEFRAME="1d")
        settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp}/hilo.db", data_dir=tmp / "data",
                            auth="on", admin_token=admin_token, llm_provider="guided",
                            packs="trading_mentor,courses,tax_help,commerce,council")
        live = start_server(settings, timeout=300)
        try:
            with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=120) as root:
                owner = new_key(root, "dueña", scope="admin")
            with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {owner}"}, timeout=120) as http:
                shop_sales(live, http, days=21)
                http.put("/council/config", json={"auto_execute": True, "assistant_weights": {}, "custom_rules": []})
                http.post("/council/trading/decide", json={"symbol": "BTC/USDT"})
                escalate(http)
                _wait_for_knowledge(http)
                tax = next(a for a in http.get("/v1/assistants", params={"limit": 100}).json()["data"]
                           if (a.get("metadata") or {}).get("hilo_pack") == "tax_help")
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
                sign_in(page, live.url, owner, next_page=f"/web/chat?assistant={tax['id']}")
                page.wait_for_selector("body[data-ready='1']")
                page.fill("#input", QUESTION)
                page.press("#input", "Enter")
                page.wait_for_selector(".msg.assistant.complete", timeout=120_000)
                page.locator(".msg.assistant a.cite").first.click()  # a citation opens its passage
                page.fill("#input", "¿Hasta cuándo puedo declarar?")
                page.locator(".msg.user").first.scroll_into_view_if_needed()
                page.screenshot(path=out / "chat.png")
                phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                            is_mobile=True, has_touch=True, storage_state=page.context.storage_state())
                mobile = phone.new_page()
                mobile.goto(f"{live.url}/web/chat?assistant={tax['id']}")
                mobile.wait_for_selector("body[data-ready='1']")
                mobile.wait_for_timeout(300)
                mobile.screenshot(path=out / "chat-phone.png")
                for name, hash_ in (("console", "resumen"), ("shop", "tienda"), ("council", "consejo")):
                    page.goto(f"{live.url}/web/admin#{hash_}")
                    page.wait_for_selector(f"body[data-ready='{hash_}']")
                    if hash_ == "consejo":
                        page.set_input_files("[data-view='consejo'] input[type=file]", report)
                        page.wait_for_selector("#backtest svg.chart")
                    page.wait_for_timeout(300)
                    page.screenshot(path=out / f"{name}.png", full_page=True)
                browser.close()
        finally:
            live.stop()
    for png in sorted(out.glob("*.png")):
        print(f"{png} {png.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
