"""The trading mentor pack: its tools called directly and through real runs."""

from __future__ import annotations

import io
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from openai import OpenAI
from PIL import Image

from hilo.packs.trading_mentor import pack
from hilo.packs.trading_mentor.tools import analyze_image, get_crypto_price, get_forex_price
from hilo.providers import scripted
from hilo.providers.registry import Providers
from hilo.testing.fake_markets import FakeBinance, FakeFrankfurter
from hilo.testing.fake_openai import FakeOpenAIServer
from hilo.testing.server import start_server
from hilo.tools import AssistantInfo, ToolContext, ToolServices
from tests.conftest import make_settings


def picture(fmt: str = "PNG", size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 40)).save(out, fmt)
    return out.getvalue()


class ImageServer:
    """Serves path -> (status, content type, body, extra headers)."""

    def __init__(self, routes):
        routes_ = routes

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                status, kind, body, headers = routes_.get(self.path, (404, "text/plain", b"nope", {}))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def markets():
    with FakeBinance() as binance, FakeFrankfurter() as ecb:
        yield binance, ecb


@pytest.fixture(scope="module")
def images():
    server = ImageServer({
        "/chart.png": (200, "image/png", picture("PNG", (640, 480)), {}),
        "/chart.jpg": (200, "image/jpeg; charset=binary", picture("JPEG", (320, 200)), {}),
        "/page.html": (200, "text/html", b"<html></html>", {}),
        "/fake.png": (200, "image/png", b"this is not a png", {}),
        "/huge.png": (200, "image/png", b"\x89PNG" + b"0" * 20000, {}),
        "/chart.bmp": (200, "image/bmp", picture("BMP"), {}),
        "/moved": (302, "text/plain", b"", {"Location": "/chart.png"}),
    })
    yield server
    server.stop()


@pytest.fixture
def ctx(markets, tmp_path):
    binance, ecb = markets
    settings = make_settings("sqlite+aiosqlite:///:memory:", tmp_path, crypto_api_url=binance.url,
                             forex_api_url=ecb.url, price_cache_s=0, image_url_allow_private=True)
    return ToolContext(run_id="run_t", thread_id="thread_t", assistant=AssistantInfo("asst_t"), services=ToolServices(settings=settings))


async def test_crypto_tool_states_price_source_and_time(ctx, markets):
    markets[0].set_price("ETH/USDT", 3456.789, change_pct=2.5, close_time_ms=1_795_000_000_000)
    out = await get_crypto_price.call({"symbol": "ethereum"}, ctx)
    assert out["symbol"] == "ETH/USDT" and out["price"] == 3456.789 and out["source"] == "Binance"
    assert out["quoted_at"] == "2026-11-18T11:06:40Z"
    text = get_crypto_price.template["es"].format(**out)
    assert text.startswith("ETH cotiza a 3.456,79 USDT (+2,50% en 24 h). Fuente: Binance, cotización de "
                           "18 nov 2026, 11:06 UTC.\nPrecio en USDT, una moneda estable que equivale a 1 dólar")
    assert "Source: Binance, quoted at 18 nov 2026, 11:06 UTC" in get_crypto_price.template["en"].format(**out)


async def test_forex_tool_states_rate_source_and_date(ctx):
    out = await get_forex_price.call({"pair": "eur/usd"}, ctx)
    text = get_forex_price.template["es"].format(**out)
    assert text == "1 EUR = 1,0500 USD (tasa de referencia diaria). Fuente: Frankfurter (ECB), 23 de noviembre de 2026.\n"
    assert out["quoted_at"] == "2026-11-23"
    small = await get_forex_price.call({"pair": "JPY/USD"}, ctx)
    assert small["price_text"] == "0,0065"  # Frankfurter rounds to 5 decimals


async def test_tool_errors_are_outputs(ctx):
    assert json.loads(await get_forex_price.invoke('{"pair": "EUR"}', ctx))["error"].startswith("«EUR» no es un par")
    assert "invalid arguments" in json.loads(await get_crypto_price.invoke('{"sym": "BTC"}', ctx))["error"]


async def test_analyze_image_without_a_vision_model(ctx, images):
    out = await analyze_image.call({"image_url": images.url + "/chart.png"}, ctx)
    assert (out["format"], out["width"], out["height"], out["vision"]) == ("PNG", 640, 480, False)
    assert out["bytes"] == len(picture("PNG", (640, 480))) and out["size_text"].endswith("KB")
    text = analyze_image.template["es"].format(**out)
    assert text.startswith("Imagen PNG de 640×480 px") and "No hay un modelo con visión configurado" in text
    assert "No vision-capable model is configured" in analyze_image.template["en"].format(**out)
    jpeg = await analyze_image.call({"image_url": images.url + "/moved"}, ctx)
    assert jpeg["format"] == "PNG"  # followed the redirect
    jpeg = await analyze_image.call({"image_url": images.url + "/chart.jpg", "analysis_type": "trend"}, ctx)
    assert (jpeg["format"], jpeg["width"], jpeg["analysis_type"]) == ("JPEG", 320, "trend")


@pytest.mark.parametrize("args, message", [
    ({}, "Envía la imagen como image_url o como file_id"),
    ({"image_url": "http://x/a.png", "file_id": "file_1"}, "Envía la imagen como image_url o como file_id"),
    ({"image_url": "ftp://example.com/a.png"}, "debe empezar por http:// o https://"),
    ({"image_url": "/page.html"}, "La URL no es una imagen (tipo de contenido: text/html)"),
    ({"image_url": "/fake.png"}, "no es una imagen legible"),
    ({"image_url": "/chart.bmp"}, "Formato de imagen no admitido (BMP)"),
    ({"image_url": "/missing.png"}, "respondió HTTP 404"),
    ({"file_id": "file_doesnotexist"}, "No hay almacenamiento de archivos disponible"),
    ({"image_url": "/chart.png", "analysis_type": "astrology"}, "invalid arguments for analyze_image"),
])
async def test_analyze_image_refusals(ctx, images, args, message):
    if args.get("image_url", "").startswith("/"):
        args = {**args, "image_url": images.url + args["image_url"]}
    out = json.loads(await analyze_image.invoke(json.dumps(args), ctx))
    assert message in out["error"]


async def test_analyze_image_size_limit_and_private_hosts(ctx, images):
    small = ctx.services.settings.model_copy(update={"max_upload_mb": 0.01})
    tight = ToolContext(run_id="r", thread_id="t", assistant=AssistantInfo("a"), services=ToolServices(settings=small))
    out = json.loads(await analyze_image.invoke(json.dumps({"image_url": images.url + "/huge.png"}), tight))
    assert out["error"] == "La imagen supera el máximo de 0.01 MB."
    closed = ctx.services.settings.model_copy(update={"image_url_allow_private": False})
    guarded = ToolContext(run_id="r", thread_id="t", assistant=AssistantInfo("a"), services=ToolServices(settings=closed))
    for url in (images.url + "/chart.png", "http://localhost:1/x.png", "http://169.254.169.254/latest"):
        out = json.loads(await analyze_image.invoke(json.dumps({"image_url": url}), guarded))
        assert "No descargo imágenes de direcciones internas" in out["error"], url


async def test_analyze_image_with_a_vision_model(ctx, images, tmp_path):
    with FakeOpenAIServer() as model:
        settings = ctx.services.settings.model_copy(update={
            "llm_base_url": model.base_url, "llm_api_key": "k", "vision_model": "openai/vision-test",
            "llm_max_retries": 0})
        providers = Providers(settings)
        vctx = ToolContext(run_id="r", thread_id="t", assistant=AssistantInfo("a"), services=ToolServices(settings=settings, providers=providers))
        model.queue({"text": "Tendencia alcista con soporte en 95.000. No es asesoría financiera."})
        out = await analyze_image.call({"image_url": images.url + "/chart.png", "analysis_type": "trend"}, vctx)
        assert out["vision"] is True and out["model"] == "vision-test"
        assert out["nota"] == out["analysis"] == "Tendencia alcista con soporte en 95.000. No es asesoría financiera."
        sent = model.requests[-1]
        assert sent["model"] == "vision-test"
        parts = sent["messages"][-1]["content"]
        assert parts[0]["text"].startswith("Describe la tendencia")
        assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
        model.queue({"status": 500})
        out = await analyze_image.call({"image_url": images.url + "/chart.png"}, vctx)
        assert out["vision"] is False and out["width"] == 640
        assert out["nota"].startswith("El modelo de visión falló") and "500" not in out["nota"]
        await providers.aclose()


# -- through real runs ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live(markets, database_factory, tmp_path_factory):
    binance, ecb = markets
    settings = make_settings(database_factory("sqlite"), tmp_path_factory.mktemp("data"),
                             crypto_api_url=binance.url, forex_api_url=ecb.url, packs="trading_mentor",
                             image_url_allow_private=True)
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture
def sdk(live):
    with OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        yield client


def run_script(sdk, turns, tools, message="hola"):
    name = f"t{uuid.uuid4().hex[:10]}"
    scripted.register(name, turns)
    try:
        assistant = sdk.beta.assistants.create(
            model=f"scripted/{name}", instructions="mentor",
            tools=[{"type": "function", "function": {"name": t}} for t in tools])
        thread = sdk.beta.threads.create(messages=[{"role": "user", "content": message}])
        run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                    poll_interval_ms=20)
        steps = sdk.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc").data
        calls = [c for s in steps if s.type == "tool_calls" for c in s.step_details.tool_calls]
        return run, calls, scripted.requests[name]
    finally:
        scripted.reset(name)


def test_pack_is_discovered_and_its_assistant_created(live, sdk):
    from hilo.packs.loader import discover

    assert discover()["trading_mentor"] is pack
    mentors = [a for a in sdk.beta.assistants.list(limit=100).data if a.name == "Mentor de trading"]
    assert len(mentors) == 1
    assert [t.function.name for t in mentors[0].tools] == ["get_crypto_price", "get_forex_price", "explicar_concepto",
                                                           "analyze_image"]
    assert mentors[0].metadata["hilo_locale"] == "es-CO"


def test_prices_through_a_scripted_run(sdk):
    run, calls, requests = run_script(sdk, [
        {"tool_calls": [{"name": "get_crypto_price", "arguments": {"symbol": "BTC"}},
                        {"name": "get_forex_price", "arguments": {"pair": "EUR/USD"}}]},
        {"text": "Listo."},
    ], ["get_crypto_price", "get_forex_price"], "precios de BTC y EUR/USD")
    assert run.status == "completed", run.last_error
    outputs = {c.function.name: json.loads(c.function.output) for c in calls}
    assert outputs["get_crypto_price"]["price"] == 97000.5
    assert outputs["get_crypto_price"]["source"] == "Binance"
    assert outputs["get_forex_price"]["quoted_at"] == "2026-11-23"
    tool_messages = [m for m in requests[-1].messages if m["role"] == "tool"]
    assert any("97000.5" in m["content"] for m in tool_messages)


def test_tool_error_goes_back_to_the_model(sdk):
    run, calls, _ = run_script(sdk, [
        {"tool_calls": [{"name": "get_crypto_price", "arguments": {"symbol": "NOPE"}}]},
        {"text": "Ese símbolo no existe."},
    ], ["get_crypto_price"])
    assert run.status == "completed"
    assert json.loads(calls[0].function.output) == {
        "error": "No encontré NOPE en Binance. Revisa el nombre o usa su ticker, por ejemplo BTC, ETH o SOL."}


def test_analyze_an_uploaded_chart_through_a_run(sdk):
    uploaded = sdk.files.create(file=("grafico.png", picture("PNG", (800, 600)), "image/png"), purpose="vision")
    run, calls, _ = run_script(sdk, [
        {"tool_calls": [{"name": "analyze_image", "arguments": {"file_id": uploaded.id}}]},
        {"text": "Hecho."},
    ], ["analyze_image"])
    assert run.status == "completed"
    out = json.loads(calls[0].function.output)
    assert (out["image"], out["format"], out["width"], out["height"]) == ("grafico.png", "PNG", 800, 600)
    assert out["vision"] is False  # the scripted model is no vision model


@pytest.mark.parametrize("message, expected", [
    ("¿cuánto vale bitcoin?", ["BTC cotiza a 97.000,50 USDT", "Binance"]),
    ("¿cómo está el euro dólar?", ["1 EUR = 1,0500 USD", "Frankfurter (ECB)", "23 de noviembre de 2026"]),
])
def test_pack_assistant_answers_through_the_guided_provider(live, sdk, message, expected):
    mentor = next(a for a in sdk.beta.assistants.list(limit=100).data if a.name == "Mentor de trading")
    sdk.beta.assistants.update(mentor.id, model="guided")
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": message}])
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=mentor.id, poll_interval_ms=20)
    assert run.status == "completed", run.last_error
    reply = sdk.beta.threads.messages.list(thread_id=thread.id).data[0].content[0].text.value
    for piece in expected:
        assert piece in reply, reply


def test_a_run_reads_only_its_users_files(markets, database_factory, tmp_path):
    settings = make_settings(database_factory("sqlite"), tmp_path, auth="on", admin_token="root",
                             packs="trading_mentor")
    with start_server(settings) as server:
        keys = {}
        for name in ("alice", "bob"):
            r = httpx.post(server.url + "/admin/keys", json={"user": name, "scope": "user"},
                           headers={"Authorization": "Bearer root"})
            keys[name] = r.json()["secret"]
        with OpenAI(base_url=server.url + "/v1", api_key=keys["alice"], max_retries=0) as alice:
            chart = alice.files.create(file=("a.png", picture(), "image/png"), purpose="vision").id
            assert run_script(alice, [{"tool_calls": [{"name": "analyze_image", "arguments": {"file_id": chart}}]},
                                      {"text": "ok"}], ["analyze_image"])[1][0].function.output.startswith('{"image"')
        with OpenAI(base_url=server.url + "/v1", api_key=keys["bob"], max_retries=0) as bob:
            _, calls, _ = run_script(bob, [{"tool_calls": [{"name": "analyze_image", "arguments": {"file_id": chart}}]},
                                           {"text": "ok"}], ["analyze_image"])
        assert json.loads(calls[0].function.output)["error"].startswith(f"No existe el archivo '{chart}'")
