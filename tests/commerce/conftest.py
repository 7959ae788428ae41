"""A live hilo with the shop pack (and the demo shop) on each database."""

from __future__ import annotations

import httpx
import pytest

from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings


def shop_settings(url, data_dir, **overrides):
    return make_settings(url, data_dir, **{"packs": "commerce", "llm_provider": "guided", **overrides})


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request, database_factory, tmp_path_factory):
    live = start_server(shop_settings(database_factory(request.param), tmp_path_factory.mktemp("data")))
    yield live
    live.stop()


@pytest.fixture
def http(shop):
    with httpx.Client(base_url=shop.url, timeout=60) as client:
        yield client


def new_product(http, nombre="Producto de prueba", stock=10, precio=10000, categoria="Pruebas", **extra):
    r = http.post("/productos/", json={"nombre": nombre, "descripcion": extra.pop("descripcion", "Un producto para probar."),
                                       "precio": precio, "stock": stock, "categoria": categoria, **extra})
    assert r.status_code == 201, r.text
    return r.json()["producto"]


CUSTOMER = {"cedula": "1023456789", "nombre": "Ana Gómez", "telefono": "3001234567",
            "direccion": "Calle 10 # 20-30, Medellín"}
