"""A whole sale as a conversation: through /chat/texto and WhatsApp with no model (the guided
provider leads it), and with a model (a fake OpenAI-compatible server calling the tools)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from hilo.testing.fake_openai import FakeOpenAIServer
from hilo.testing.fake_whatsapp import FakeTwilio, twilio_signature
from hilo.testing.server import start_server
from tests.commerce.conftest import shop_settings
from tests.conftest import BACKENDS


def say(http, text, chat_id="cliente-1"):
    r = http.post("/chat/texto", json={"mensaje": text, "chat_id": chat_id})
    assert r.status_code == 200, r.text
    return r.json()


def stock(http, product_id):
    return http.get(f"/productos/{product_id}").json()["producto"]["stock"]


def test_a_guided_sale_from_question_to_closed_order(http):
    hello = say(http, "Hola, ¿qué productos tienen?")
    assert "$" in hello["respuesta"] and hello["pedido"] is None
    found = say(http, "busco audífonos inalámbricos")
    listed = http.get("/productos/", params={"q": "audífonos inalámbricos"}).json()["productos"]
    first = listed[0]
    assert f"#{first['id']} {first['nombre']}" in found["respuesta"] and first["precio_texto"] in found["respuesta"]
    before = stock(http, first["id"])
    added = say(http, "quiero 2 del primero")
    assert f"2 x {first['nombre']}" in added["respuesta"]
    assert added["pedido"]["estado"] == "iniciada" and added["pedido"]["items"][0]["cantidad"] == 2
    assert stock(http, first["id"]) == before - 2  # held from the moment it is in the order
    more = say(http, "agrega una licuadora")
    assert "Licuadora" in more["respuesta"] and len(more["pedido"]["items"]) == 2
    total = more["pedido"]["total"]
    checkout = say(http, "finalizar compra")
    assert checkout["pedido"]["estado"] == "recolectando_datos" and "nombre" in checkout["respuesta"]
    assert "¿A nombre de quién" in say(http, "Ana Gómez")["respuesta"] or True
    wrong = say(http, "12")
    assert "cédula debe tener" in wrong["respuesta"] and wrong["respuesta"].endswith("¿Cuál es tu número de cédula?")
    assert "celular" in say(http, "1.023.456.789")["respuesta"]
    assert "teléfono debe ser" in say(http, "300")["respuesta"]
    assert "dirección" in say(http, "300 123 4567")["respuesta"]
    summary = say(http, "Calle 10 # 20-30, Medellín")
    assert summary["pedido"]["estado"] == "pendiente"
    assert "Ana Gómez" in summary["respuesta"] and "1023456789" in summary["respuesta"]
    assert summary["respuesta"].endswith("«no» para cambiar algo.")
    done = say(http, "sí")
    assert done["pedido"]["estado"] == "cerrada" and done["pedido"]["total"] == total
    assert "confirmado" in done["respuesta"]
    assert stock(http, first["id"]) == before - 2  # sold: the held units stay out of stock
    sale = http.get("/ventas/", params={"cedula": "1023456789"}).json()["ventas"]
    assert any(v["id"] == done["pedido"]["id"] for v in sale)
    history = http.get("/chat/historial/cliente-1").json()
    assert history["success"] and len(history["mensajes"]) == 2 * 12
    assert history["mensajes"][0] == {**history["mensajes"][0], "rol": "user", "contenido": "Hola, ¿qué productos tienen?"}
    assert history["pedido"]["estado"] == "cerrada"


def test_each_chat_has_its_own_order_and_reset_starts_over(http):
    a = say(http, "agrega el producto 3", chat_id="chat-a")
    b = say(http, "agrega el producto 4", chat_id="chat-b")
    assert a["pedido"]["id"] != b["pedido"]["id"]
    assert [i["producto_id"] for i in a["pedido"]["items"]] == [3]
    assert [i["producto_id"] for i in say(http, "¿qué llevo en mi pedido?", chat_id="chat-b")["pedido"]["items"]] == [4]
    cancelled = say(http, "cancela mi pedido", chat_id="chat-a")
    assert cancelled["pedido"]["estado"] == "cancelada"
    r = http.post("/chat/reiniciar/chat-b")
    assert r.status_code == 200 and r.json()["thread_id"] != b["thread_id"]
    assert http.get("/chat/historial/chat-b").json()["mensajes"] == []


def test_only_inventory_products_are_offered(http):
    for question in ("¿venden pizza hawaiana?", "busco un carro usado", "¿tienen medicamentos para la gripa?"):
        reply = say(http, question, chat_id="chat-c")["respuesta"]
        assert "$" not in reply and "#" not in reply, (question, reply)  # no product, no price offered
    reply = say(http, "agrega el producto 999999", chat_id="chat-c")["respuesta"]
    assert "No tenemos un producto con el número 999999" in reply


def test_chat_input_errors(http):
    for body in ({"mensaje": "hola"}, {"chat_id": "x"}, {"mensaje": "", "chat_id": "x"},
                 {"mensaje": "hola", "chat_id": "con espacios"}, {"mensaje": "x" * 200_000, "chat_id": "x"}):
        r = http.post("/chat/texto", json=body)
        assert r.status_code in (400, 413, 422) and r.json()["success"] is False, (body, r.text)
    assert http.get("/chat/historial/" + "x" * 200).status_code == 400
    assert http.get("/chat/health").json()["asistente"] == "commerce/vendedor"


def test_an_image_without_a_vision_model_asks_for_a_description(http):
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f0a0000000049454e44ae426082")
    r = http.post("/chat/imagen", data={"chat_id": "chat-img"}, files={"imagen": ("foto.png", png, "image/png")})
    body = r.json()
    assert r.status_code == 200 and body["vision"] is False and "describes" in body["respuesta"]
    assert body["file_id"].startswith("file")
    # with words, the words search the catalogue (and the picture stays in the thread)
    r = http.post("/chat/imagen", data={"chat_id": "chat-img", "mensaje": "busco unos tenis como estos"},
                  files={"imagen": ("foto.png", png, "image/png")})
    assert r.status_code == 200 and "Tenis" in r.json()["respuesta"]
    bad = http.post("/chat/imagen", data={"chat_id": "chat-img"}, files={"imagen": ("x.png", b"no soy imagen", "image/png")})
    assert bad.status_code == 400 and bad.json()["success"] is False


def test_audio_with_nothing_configured_says_so(http):
    r = http.post("/chat/audio", data={"chat_id": "chat-audio"}, files={"audio": ("nota.ogg", b"OggS" + bytes(200), "audio/ogg")})
    assert r.status_code in (400, 503) and r.json()["success"] is False
    assert "Escríbeme" in r.json()["error"] or "audio" in r.json()["error"].lower()


# ---------------------------------------------------------------- WhatsApp, no model

SID, TOKEN, BOT = "AC" + "2" * 32, "twilio-token-shop", "whatsapp:+14155238886"


def send_whatsapp(live, twilio, sender, text):
    """A Twilio-signed inbound message from ``sender``; the reply hilo sends back through Twilio."""
    params = {"MessageSid": "SM" + str(time.time_ns())[-16:].rjust(32, "0"), "AccountSid": SID,
              "From": sender, "To": BOT, "Body": text, "NumMedia": "0"}
    url = live.url + "/webhooks/twilio"
    r = httpx.post(url, data=params, headers={"X-Twilio-Signature": twilio_signature(TOKEN, url, params)})
    assert r.status_code == 200
    return twilio.wait_for(len(twilio.sent) + 1)[-1]["Body"]


@pytest.fixture(scope="module")
def twilio():
    with FakeTwilio(SID, TOKEN) as fake:
        yield fake


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_whole_sale_through_whatsapp(backend, twilio, database_factory, tmp_path):
    live = start_server(shop_settings(database_factory(backend), tmp_path / "data", twilio_account_sid=SID,
                                      twilio_auth_token=TOKEN, twilio_from=BOT, twilio_api_url=twilio.url,
                                      whatsapp_assistant="commerce/vendedor"))
    twilio.sent.clear()
    try:
        def whatsapp(text):
            return send_whatsapp(live, twilio, "whatsapp:+573009998877", text)

        assert "Tenis para correr" in whatsapp("busco tenis para correr")
        assert "Agregué 1 x Tenis para correr" in whatsapp("me llevo el segundo")
        assert "A nombre de quién" in whatsapp("eso es todo")
        for text in ("Carlos Ruiz", "cédula 80123456", "3105556677"):
            whatsapp(text)
        assert "¿Confirmas el pedido?" in whatsapp("Carrera 45 # 12-30, Bogotá")
        assert "quedó confirmado" in whatsapp("sí, confirmo")
        with httpx.Client(base_url=live.url) as http:
            sales = http.get("/ventas/", params={"cedula": "80123456"}).json()["ventas"]
        assert len(sales) == 1 and sales[0]["estado"] == "cerrada" and sales[0]["canal"] == "chat"
    finally:
        live.stop()


# ---------------------------------------------------------------- with a model

@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_sells_through_the_tools(backend, database_factory, tmp_path):
    with FakeOpenAIServer() as model:
        live = start_server(shop_settings(database_factory(backend), tmp_path / "data", llm_provider="openai",
                                          llm_base_url=model.base_url, llm_api_key="sk-test"))
        try:
            with httpx.Client(base_url=live.url, timeout=60) as http:
                product = http.get("/productos/", params={"q": "olla a presión"}).json()["productos"][0]
                model.queue({"tool_calls": [{"name": "buscar_producto", "arguments": {"busqueda": "olla a presión"}}]},
                            {"text": "Tenemos ollas a presión."})
                assert say(http, "¿tienen ollas a presión?", "m1")["respuesta"] == "Tenemos ollas a presión."
                seen = json.loads(model.requests[-1]["messages"][-1]["content"])
                assert seen["productos"][0]["precio"] == product["precio"]  # the price the model reads is the row's
                model.queue({"tool_calls": [{"name": "agregar_al_pedido",
                                             "arguments": {"producto_id": product["id"], "cantidad": 1}}]},
                            {"text": "Listo, la agregué."},
                            {"tool_calls": [{"name": "datos_cliente", "arguments": {
                                "nombre": "Luisa Mora", "cedula": "43123456", "telefono": "3204567890",
                                "direccion": "Calle 50 # 40-20, Medellín"}}]},
                            {"text": "¿Confirmas?"},
                            {"tool_calls": [{"name": "confirmar_pedido", "arguments": {"confirmar": True}}]},
                            {"text": "¡Pedido confirmado!"})
                before = stock(http, product["id"])
                say(http, "quiero una", "m1")
                asked = len(model.requests)
                say(http, "Luisa Mora, cc 43123456, 3204567890, Calle 50 # 40-20, Medellín", "m1")
                # the seed's memory: the order in progress reaches the model with the turn
                system = model.requests[asked]["messages"][0]["content"]
                assert "Pedido en curso #" in system and product["nombre"] in system
                done = say(http, "sí", "m1")
                assert done["respuesta"] == "¡Pedido confirmado!" and done["pedido"]["estado"] == "cerrada"
                assert stock(http, product["id"]) == before - 1
                # and only the last 10 messages of the conversation (the whole history is stored)
                for n in range(8):
                    model.queue({"text": f"respuesta {n}"})
                    say(http, f"pregunta {n}", "m1")
                model.queue({"text": "fin"})
                say(http, "última", "m1")
                spoken = [m for m in model.requests[-1]["messages"] if m["role"] in ("user", "assistant")
                          and not m.get("tool_calls")]
                assert len(spoken) <= 10 and spoken[-1]["content"] == "última"
                assert len(http.get("/chat/historial/m1").json()["mensajes"]) > 20
                # the tools are offered to the model as functions
                offered = {t["function"]["name"] for t in model.requests[-1]["tools"]}
                assert {"buscar_producto", "agregar_al_pedido", "datos_cliente", "confirmar_pedido"} <= offered
        finally:
            live.stop()


# ---------------------------------------------------------------- audio, images with a model, /v1

@pytest.mark.parametrize("backend", BACKENDS)
def test_a_voice_message_is_transcribed_and_sells(backend, database_factory, tmp_path):
    from hilo.testing.fake_transcription import FakeTranscriptionServer
    from tests.audio.speech import encode, spanish

    with FakeTranscriptionServer(text="hola, busco unos audífonos inalámbricos") as stt:
        live = start_server(shop_settings(database_factory(backend), tmp_path / "data",
                                          transcription_base_url=stt.base_url, transcription_api_key=stt.api_key))
        try:
            with httpx.Client(base_url=live.url, timeout=60) as http:
                note = encode(spanish("hola, busco unos audífonos inalámbricos"), "ogg")
                r = http.post("/chat/audio", data={"chat_id": "voz"}, files={"audio": ("nota.ogg", note, "audio/ogg")})
                body = r.json()
                assert r.status_code == 200, body
                assert body["transcripcion"] == "hola, busco unos audífonos inalámbricos"
                assert "Audífonos inalámbricos" in body["respuesta"]
                assert stt.requests[-1]["fields"].get("language") == "es"
                assert http.get("/chat/health").json()["transcripcion"] == "endpoint"
                stt.fail(503, times=10)  # more than the client retries
                r = http.post("/chat/audio", data={"chat_id": "voz"}, files={"audio": ("nota.ogg", note, "audio/ogg")})
                assert r.status_code == 503 and "Escríbeme" in r.json()["error"]
                assert stt.api_key not in r.text
        finally:
            live.stop()


def test_an_image_goes_to_a_vision_model_that_searches(database_factory, tmp_path):
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f0a0000000049454e44ae426082")
    with FakeOpenAIServer() as model:
        live = start_server(shop_settings(database_factory("sqlite"), tmp_path / "data", llm_provider="openai",
                                          llm_base_url=model.base_url, llm_api_key="sk-test"))
        try:
            model.queue({"tool_calls": [{"name": "buscar_producto", "arguments": {"busqueda": "tenis para correr"}}]},
                        {"text": "Veo unos tenis: tenemos Tenis para correr."})
            with httpx.Client(base_url=live.url, timeout=60) as http:
                r = http.post("/chat/imagen", data={"chat_id": "foto"}, files={"imagen": ("tenis.png", png, "image/png")})
            body = r.json()
            assert r.status_code == 200 and body["vision"] is True, body
            parts = model.requests[0]["messages"][-1]["content"]
            assert any(p.get("type") == "image_url" for p in parts)  # the picture reached the model
            assert "Tenis para correr" in json.loads(model.requests[1]["messages"][-1]["content"])["productos"][0]["nombre"]
        finally:
            live.stop()


def test_the_sale_through_the_v1_api_with_the_pack_assistant(shop):
    from openai import OpenAI

    with OpenAI(base_url=shop.url + "/v1", api_key="local", max_retries=0) as client:
        seller = next(a for a in client.beta.assistants.list(limit=100) if (a.metadata or {}).get("hilo_pack") == "commerce")
        thread = client.beta.threads.create()

        def ask(text):
            client.beta.threads.messages.create(thread.id, role="user", content=text)
            run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=seller.id)
            assert run.status == "completed", run.last_error
            return client.beta.threads.messages.list(thread.id, limit=1).data[0].content[0].text.value

        assert "Licuadora" in ask("busco una licuadora")
        assert "Agregué 1 x Licuadora" in ask("quiero la primera")
        assert "nombre" in ask("finalizar compra")


def test_a_model_sells_through_whatsapp(twilio, database_factory, tmp_path):
    with FakeOpenAIServer() as model:
        live = start_server(shop_settings(database_factory("sqlite"), tmp_path / "data", llm_provider="openai",
                                          llm_base_url=model.base_url, llm_api_key="sk-test", twilio_account_sid=SID,
                                          twilio_auth_token=TOKEN, twilio_from=BOT, twilio_api_url=twilio.url,
                                          whatsapp_assistant="commerce/vendedor"))
        twilio.sent.clear()
        try:
            def whatsapp(text):
                return send_whatsapp(live, twilio, "whatsapp:+573001110000", text)

            with httpx.Client(base_url=live.url) as http:
                product = http.get("/productos/", params={"q": "hamaca"}).json()["productos"][0]
                before = stock(http, product["id"])
            model.queue({"tool_calls": [{"name": "agregar_al_pedido", "arguments": {"producto_id": product["id"]}}]},
                        {"text": "Agregué la hamaca."},
                        {"tool_calls": [{"name": "datos_cliente", "arguments": {
                            "nombre": "Pedro Díaz", "cedula": "79123456", "telefono": "3112223344",
                            "direccion": "Carrera 7 # 8-9, Cartagena"}}]},
                        {"text": "¿Confirmas?"},
                        {"tool_calls": [{"name": "confirmar_pedido", "arguments": {"confirmar": True}}]},
                        {"text": "Pedido confirmado."})
            assert whatsapp("quiero una hamaca") == "Agregué la hamaca."
            assert whatsapp("Pedro Díaz, 79123456, 3112223344, Carrera 7 # 8-9, Cartagena") == "¿Confirmas?"
            assert whatsapp("sí") == "Pedido confirmado."
            with httpx.Client(base_url=live.url) as http:
                sales = http.get("/ventas/", params={"cedula": "79123456"}).json()["ventas"]
                assert len(sales) == 1 and sales[0]["items"][0]["producto_id"] == product["id"]
                assert stock(http, product["id"]) == before - 1
        finally:
            live.stop()


def test_a_guided_sale_over_the_websocket(shop):
    from websockets.sync.client import connect

    url = shop.url.replace("http://", "ws://") + "/ws/assistant/?assistant=commerce/vendedor&user=ws-compradora"
    with connect(url, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"

        def ask(text):
            ws.send(json.dumps({"type": "message", "message": text}))
            while True:
                frame = json.loads(ws.recv(timeout=60))
                if frame["type"] != "delta":
                    assert frame["type"] == "response", frame
                    return frame["message"]

        assert "Cafetera de goteo" in ask("busco una cafetera")
        assert "Agregué 1 x Cafetera de goteo" in ask("me llevo la primera")
        assert "A nombre de quién" in ask("finalizar compra")
        for text in ("Marta Ríos", "cédula 52111222", "3157778899"):
            ask(text)
        assert "¿Confirmas el pedido?" in ask("Calle 80 # 20-10, Bogotá")
        assert "quedó confirmado" in ask("sí")
    with httpx.Client(base_url=shop.url) as http:
        sales = http.get("/ventas/", params={"cedula": "52111222"}).json()["ventas"]
    assert len(sales) == 1 and "Cafetera" in sales[0]["items"][0]["nombre"]


def test_questions_never_put_anything_in_the_order(http):
    chat = "preguntona"
    price = say(http, "¿cuánto cuesta la licuadora?", chat)
    assert "Licuadora" in price["respuesta"] and "$" in price["respuesta"] and price["pedido"] is None
    sizes = say(http, "¿tienen tenis talla 40?", chat)
    assert sizes["respuesta"].splitlines()[1].endswith(")") and "talla 40" in sizes["respuesta"].splitlines()[1]
    assert sizes["pedido"] is None
    first = say(http, "¿cuánto vale el primero?", chat)
    assert "talla 40" in first["respuesta"].splitlines()[0] and first["pedido"] is None
    taken = say(http, "lo quiero", chat)  # now the customer asks: the item just shown
    assert [i["nombre"] for i in taken["pedido"]["items"]] == [first["respuesta"].splitlines()[0].split(" ", 1)[1]
                                                                .rsplit(" (", 1)[0]]
    removed = say(http, "quita los tenis", chat)
    assert removed["pedido"]["items"] == []
