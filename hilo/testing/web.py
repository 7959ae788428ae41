"""The web pages in a real browser: headless Chromium (Debian's package) driven by Playwright, and
data that makes the pages show something (shop sales over several days, an escalated council
decision). Shared by ``tests/web`` and ``make screenshots`` (:mod:`hilo.testing.screenshots`)."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from hilo.testing.server import LiveServer

CHROMIUM = os.environ.get("HILO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
COUNCIL_ROLES = ("market_monitor", "technical_analyst", "fundamental_analyst", "risk_manager", "strategist",
                 "executor", "auditor")
# only the strategist counts, and a rule that always holds makes it say BUY: a decision to act
STRATEGIST_ONLY = {r: 0.0 for r in COUNCIL_ROLES} | {"strategist": 1.0}
ALWAYS_BUY = [{"indicator": "price", "op": ">", "value": 0, "action": "BUY", "note": "comprar siempre (demostración)"}]


def off_loop(fn, *args, **kwargs):
    """``fn(*args)`` in a thread of its own: Playwright's sync API keeps an asyncio loop running on
    the calling thread, where ``asyncio.run`` (migrations, direct SQL) refuses to start."""
    import threading

    result: dict = {}

    def go():
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed back to the caller
            result["error"] = exc

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def chromium_args(fake_audio: Path | None = None) -> list[str]:
    """Flags for a headless Chromium in a container; with ``fake_audio`` (a WAV file) the microphone
    is that file, and permission prompts for the microphone and the screen are accepted."""
    args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", "--auto-select-desktop-capture-source=Entire screen",
            "--autoplay-policy=no-user-gesture-required"]
    if fake_audio is not None:
        args.append(f"--use-file-for-fake-audio-capture={fake_audio}")
    return args


def launch(playwright, fake_audio: Path | None = None):
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(fake_audio))


def sign_in(page, base_url: str, credential: str, next_page: str = "/web/chat") -> None:
    """Through the sign-in page, as a person would: type the key, press Enter."""
    from urllib.parse import quote, urlsplit

    page.goto(f"{base_url}/web/login?next={quote(next_page)}")
    page.fill("#credential", credential)
    page.press("#credential", "Enter")
    path = urlsplit(next_page).path
    page.wait_for_url(lambda url: urlsplit(url).path == path)


def new_key(admin: httpx.Client, user: str, scope: str = "user") -> str:
    made = admin.post("/admin/keys", json={"user": user, "scope": scope, "name": "web"})
    made.raise_for_status()
    return made.json()["secret"]


# ------------------------------------------------------------------ the shop's sales


NAMES = ("Ana", "Luis", "Marta", "Jorge", "Lucía", "Camilo", "Sofía")
SURNAMES = ("Gómez", "Restrepo", "Pérez", "Valencia", "Rojas", "Muñoz")


def shop_sales(live: LiveServer, admin: httpx.Client, days: int = 14, per_day: tuple[int, ...] = (1, 3, 0, 2)) -> int:
    """Close orders of demo products through ``POST /pedidos/``, then date them over the last
    ``days`` days (``per_day`` repeats: how many sales each day). Returns how many were made."""
    from sqlalchemy import update

    from hilo.packs.commerce.models import Order

    products = admin.get("/productos/", params={"limit": 100, "en_stock": True}).json()["productos"]
    products = [p for p in products if p["stock"] >= 10][:12]
    today = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0)
    moves, made = [], 0
    for day in range(days):
        for k in range(per_day[day % len(per_day)]):
            product = products[(day * 3 + k) % len(products)]
            first, last = NAMES[(day + k) % len(NAMES)], SURNAMES[(day * 2 + k) % len(SURNAMES)]
            who = {"cedula": f"10{day:03d}{k:03d}45", "nombre": f"{first} {last}", "telefono": "3001234567",
                   "direccion": "Calle 10 # 20-30, Medellín"}
            order = admin.post("/pedidos/", json={"cliente": who, "items": [
                {"producto_id": product["id"], "cantidad": 1 + (day + k) % 3}]})
            order.raise_for_status()
            closed = admin.post(f"/pedidos/{order.json()['id']}/confirmar")
            closed.raise_for_status()
            ts = int((today - timedelta(days=days - 1 - day, hours=k)).timestamp())
            moves.append(update(Order).where(Order.id == order.json()["id"]).values(
                created_at=ts, updated_at=ts, closed_at=ts))
            made += 1
    _run_sql(live, moves)
    return made


def _run_sql(live: LiveServer, statements) -> None:
    from hilo.kit.db.session import Database

    async def go():
        db = Database(live.settings.database_url)
        try:
            async with db.sessionmaker() as session:
                for statement in statements:
                    await session.execute(statement)
                await session.commit()
        finally:
            await db.engine.dispose()

    off_loop(asyncio.run, go())


# ------------------------------------------------------------------ the council


def escalate(http: httpx.Client, symbol: str = "BTC/USDT") -> dict:
    """A decision the council sends to the user: only the strategist votes, its rule says BUY, and
    nothing executes by itself."""
    r = http.put("/council/config", json={"assistant_weights": STRATEGIST_ONLY, "custom_rules": ALWAYS_BUY,
                                          "auto_execute": False, "threshold": 0.5})
    r.raise_for_status()
    d = http.post("/council/trading/decide", json={"symbol": symbol})
    d.raise_for_status()
    return d.json()


__all__ = ["ALWAYS_BUY", "CHROMIUM", "STRATEGIST_ONLY", "chromium_args", "escalate", "launch", "new_key", "off_loop",
           "shop_sales", "sign_in"]
