"""The admin console in headless Chromium against hilo with the shop and the council (a fake
Binance on a loopback port, no model): an escalated decision approved from the page, the sales
chart drawn from the dashboard's figures, every section rendering, admin scope only, and a
pack that is not enabled shown as not installed."""

from __future__ import annotations

import httpx
import pytest

from hilo.packs.council.bars import load_dataset
from hilo.testing.fake_markets import FakeBinance
from hilo.testing.server import start_server
from hilo.testing.web import escalate, new_key, off_loop, shop_sales, sign_in
from tests.conftest import make_settings
from tests.web.conftest import ADMIN_TOKEN, admin_http

SECTIONS = ("resumen", "asistentes", "usuarios", "conversaciones", "conocimiento", "tienda", "consejo", "webhooks",
            "salud")


@pytest.fixture(scope="module")
def binance():
    with FakeBinance() as fake:
        fake.set_bars("BTC/USDT", "1d", load_dataset("btc-usd-1d"))
        fake.set_order_book("BTC/USDT", bids=[[61000.0, 0.5], [60990.0, 2.0]], asks=[[61010.0, 0.5], [61020.0, 5.0]])
        yield fake


@pytest.fixture(scope="module")
def shop(binance, database_factory, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HILO_COUNCIL_EXCHANGE_URL", binance.url)
    mp.setenv("HILO_COUNCIL_SCHEDULES", "false")
    mp.setenv("HILO_COUNCIL_TIMEFRAME", "1d")
    settings = make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"), auth="on",
                             admin_token=ADMIN_TOKEN, packs="commerce,council", llm_provider="guided")
    live = off_loop(start_server, settings, timeout=180)
    yield live
    live.stop()
    mp.undo()


@pytest.fixture(scope="module")
def owner(shop):
    """An admin key of a named user (the console's owner), and an http client with it."""
    with admin_http(shop) as root:
        secret = new_key(root, "dueña", scope="admin")
    with httpx.Client(base_url=shop.url, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as http:
        yield secret, http


def open_console(page, live, secret: str, section: str) -> None:
    sign_in(page, live.url, secret, next_page="/web/admin")
    page.goto(f"{live.url}/web/admin#{section}")
    page.wait_for_selector(f"body[data-ready='{section.split('/')[0]}']")


def test_an_admin_approves_an_escalated_decision_from_the_console(page, shop, owner):
    secret, http = owner
    decision = escalate(http)
    assert decision["status"] == "pending_approval", decision
    open_console(page, shop, secret, "consejo")
    card = page.locator(f"#pending [data-decision='{decision['id']}']")
    assert "BUY" in card.inner_text() and "strategist" in card.inner_text()  # the votes and their reasons
    assert "comprar siempre" in card.inner_text()  # the rule's note, the strategist's reasoning
    card.locator("input").fill("adelante, desde la consola")
    card.get_by_role("button", name="Aprobar").click()
    page.wait_for_selector(f"[data-decision='{decision['id']}'][data-status='executed']")
    assert "Decisión aprobada: executed" in card.inner_text()
    done = http.get(f"/council/trading/decisions/{decision['id']}").json()
    assert done["status"] == "executed" and done["resolution"].startswith("aprobada por user_")
    assert done["orders"][0]["mode"] == "paper" and done["orders"][0]["filled_quantity"] > 0
    page.reload()
    page.wait_for_selector("body[data-ready='consejo']")
    assert page.locator(f"#pending [data-decision='{decision['id']}']").count() == 0
    assert "BTC/USDT" in page.inner_text("[data-view='consejo'] table")  # the position it opened


def test_the_sales_chart_is_drawn_from_the_dashboard(page, shop, owner):
    secret, http = owner
    shop_sales(shop, http, days=10, per_day=(2, 0, 1))
    dash = http.get("/admin/dashboard/ventas").json()
    open_console(page, shop, secret, "tienda")
    bars = page.locator("#sales-chart svg rect.bar")
    assert bars.count() == len(dash["ventas_por_dia"]) == dash["dias"]
    drawn = [(b.get_attribute("data-label"), float(b.get_attribute("data-value")), float(b.get_attribute("height")))
             for b in bars.all()]
    expected = [(d["fecha"][5:], float(d["ingresos"])) for d in dash["ventas_por_dia"]]
    assert [(label, value) for label, value, _ in drawn] == expected
    busiest = max(drawn, key=lambda b: b[1])
    assert busiest[1] > 0 and busiest[2] == max(h for _, _, h in drawn) > 0  # heights follow the figures
    assert all(h == 0 for _, v, h in drawn if v == 0)
    assert sum(1 for _, v, _ in drawn if v > 0) >= 6  # the sales made above, on their days
    low = sorted(b[2] for b in drawn if b[1] > 0)
    assert low[0] < low[-1]
    text = page.inner_text("[data-view='tienda']")
    assert "Productos más vendidos" in text and "Bajo stock" in text
    # Orders in every state, not only the closed sales: one left holding its stock is listed.
    listed = http.get("/productos/", params={"limit": 50}).json()["productos"]
    product_id = next(p["id"] for p in listed if p["stock"] > 0)
    held = http.post("/pedidos/", json={"items": [{"producto_id": product_id, "cantidad": 1}]})
    assert held.status_code == 201, held.text
    page.reload()
    page.wait_for_selector("body[data-ready='tienda']")
    orders = page.locator("[data-view='tienda'] table").nth(2)
    assert held.json()["estado"] in orders.inner_text() and str(held.json()["id"]) in orders.inner_text()
    assert "Ventas cerradas" in page.inner_text("[data-view='tienda']")
    export = page.locator("a[href^='/exportar/ventas']")
    with page.expect_download() as download:
        export.click()
    assert download.value.suggested_filename.startswith("ventas-") and download.value.suggested_filename.endswith(".csv")


def test_every_section_renders_without_an_error(page, shop, owner):
    secret, _ = owner
    open_console(page, shop, secret, "resumen")
    for section in SECTIONS:
        page.click(f"#sections a[data-section='{section}']")
        page.wait_for_selector(f"body[data-ready='{section}']")
        errors = page.locator("#view .error").all_inner_texts()
        assert not errors, (section, errors)
        assert page.get_attribute(f"#sections a[data-section='{section}']", "aria-current") == "page"
    page.click("#lang")
    page.wait_for_selector("body[data-ready='salud']")
    assert page.inner_text("#sections a[data-section='tienda']") == "Shop"


def test_the_console_edits_an_assistant_and_shows_its_conversation(page, shop, owner):
    secret, http = owner
    made = http.post("/v1/assistants", json={"model": "guided", "name": "Editable"}).json()
    open_console(page, shop, secret, "asistentes")
    row = page.locator("tr", has_text="Editable")
    row.get_by_role("button", name="Editar").click()
    form = page.locator(f"form[data-assistant='{made['id']}']")
    form.locator("textarea").first.fill("Responde siempre en español y con cortesía.")
    form.get_by_role("button", name="Guardar").click()
    form.locator(".notice, .error").wait_for()
    assert not form.locator(".error").count(), form.locator(".error").inner_text()
    assert http.get(f"/v1/assistants/{made['id']}").json()["instructions"] == "Responde siempre en español y con cortesía."


def test_a_user_session_is_not_an_admin(page, shop):
    with admin_http(shop) as root:
        secret = new_key(root, "cliente-web")
    sign_in(page, shop.url, secret, next_page="/web/admin")
    page.wait_for_selector("#view .error")
    assert "necesita una sesión de administrador" in page.inner_text("#view")
    assert page.evaluate("async () => (await fetch('/admin/keys')).status") == 403


def test_a_pack_that_is_not_enabled_is_shown_as_not_installed(page, site):
    sign_in(page, site.url, ADMIN_TOKEN, next_page="/web/admin")
    for section, pack in (("tienda", "commerce"), ("consejo", "council")):
        page.goto(f"{site.url}/web/admin#{section}")
        page.wait_for_selector(f"body[data-ready='{section}']")
        note = page.locator(f"[data-not-installed='{pack}']")
        assert "no está instalad" in note.inner_text() and "HILO_PACKS" in note.inner_text()


def test_knowledge_upload_into_a_store_and_its_ingestion(page, shop, owner):
    secret, http = owner
    store = http.post("/v1/vector_stores", json={"name": "manual de la tienda"}).json()
    open_console(page, shop, secret, f"conocimiento/{store['id']}")
    page.set_input_files("[data-view='conocimiento'] input[type=file]", files=[{
        "name": "garantia.txt", "mimeType": "text/plain",
        "buffer": "La garantía de los productos es de seis meses desde la compra.".encode()}])
    page.get_by_role("button", name="Subir archivo al almacén").click()
    page.wait_for_selector("text=Archivo subido")
    page.wait_for_selector("[data-view='conocimiento'] td:has-text('garantia.txt')", timeout=60_000)
    page.wait_for_selector("[data-view='conocimiento'] .pill:has-text('completed')", timeout=120_000)
    files = http.get(f"/v1/vector_stores/{store['id']}/files").json()["data"]
    assert [f["status"] for f in files] == ["completed"]
