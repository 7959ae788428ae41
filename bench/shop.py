"""The shop (seed 002) on the path users take: ``hilo serve`` as shipped, driven over HTTP.

Three figures, each printed and written to ``bench/results/shop-<database>.json``:

* **search**: ``GET /productos/?q=...`` over a catalogue of ``--products`` (default 100,000)
  products, one client, distinct queries, latency p50/p99 measured by the client, in two
  classes: queries in the catalogue's own words (answered lexically, no embedding) and
  typos, synonyms and English (the hybrid path: each pays its e5 query embedding; nothing is
  cached). The products are made from the demo shop's
  families, variants and invented brands (so texts, BM25 statistics and the number of
  entries are those of a real 100k catalogue); their vectors are the shipped demo vectors of
  their family plus a little noise, because embedding 100,000 texts here takes over an hour.
  The first search loads the index from the database: its time is reported apart.
* **sale**: a whole guided sale (no model: search, add by position, add by name, check out,
  name, a wrong cédula, cédula, phone, address, yes) through ``POST /chat/texto``, repeated
  for ``--sales`` conversations; turn latency p50/p99 by step.
* **oversell**: ``--buyers`` concurrent buyers (``--concurrency`` at a time) each
  ``POST /pedidos/`` + ``/confirmar`` for one unit of a product with ``--units`` units;
  checks exactly ``--units`` were sold and reports orders per second.

Usage::

    .venv/bin/python bench/shop.py                       # SQLite in a temporary directory
    .venv/bin/python bench/shop.py --database postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable

from hilo.packs.commerce import demo  # noqa: E402
from hilo.packs.commerce.catalog import text_key  # noqa: E402
from hilo.packs.commerce.models import Product  # noqa: E402

BRANDS = ("Andina Caribe Pacífico Llanera Cafetera Paisa Rola Costeña Valluna Santandereana Boyacense "
          "Nariño Tolima Huila Cauca Chocó Guajira Magdalena Cesar Sucre Córdoba Bolívar Atlántico Meta "
          "Casanare Arauca Vichada Guainía Vaupés Amazonas Putumayo Caquetá Quindío Risaralda Caldas Antioquia "
          "Cundinamarca Capital Sabana Altiplano").split()
QUERIES = ["tenis para correr", "audífonos inalámbricos", "olla a presión", "camiseta negra talla M", "jean de mujer",
           "chaqueta impermeable", "concentrado para perro", "protector solar", "morral para el colegio",
           "licuadora", "cafetera", "balón de fútbol", "colchoneta de yoga", "reloj inteligente", "cargador usb-c",
           "power bank", "parlante bluetooth", "sábanas dobles", "toalla de baño", "perfume de mujer", "secador de pelo",
           "botas de cuero", "sandalias de playa", "memoria usb 64", "teclado en español", "mouse inalámbrico",
           "lámpara led", "termo de acero", "mancuernas", "casco de ciclismo", "bicicleta de montaña", "agenda",
           "cuaderno argollado", "colores", "cama para perro", "arena para gato", "hamaca", "ventilador",
           "sartén de hierro", "guantes de boxeo", "ruana de lana", "gorra", "pijama", "medias deportivas"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 1), "p99_ms": round(pct(ms, 99), 1),
            "max_ms": round(max(ms), 1)}


class Hilo:
    """``hilo serve`` (the console script) with only the database, data dir and shop variables set."""

    def __init__(self, tmp: Path, url: str, **env_extra: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HILO_")}
        env.update({"HILO_DATABASE_URL": url, "HILO_DATA_DIR": str(tmp / "data"), "HILO_PACKS": "commerce",
                    "HILO_LOG_LEVEL": "warning", **env_extra})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / f"hilo-{self.port}.log", "wb")
        self.proc = subprocess.Popen([str(Path(PY).parent / "hilo"), "serve", "--host", "127.0.0.1", "--port",
                                      str(self.port)], env=env, cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("hilo did not start: " + (tmp / f"hilo-{self.port}.log").read_text(errors="replace")[-2000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


# --------------------------------------------------------------------------- the catalogue
def synthetic_rows(count: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    base = demo.products()
    vectors = demo.shipped_vectors()
    at = int(time.time())
    for i in range(count):
        row = base[i % len(base)]
        brand = BRANDS[(i // len(base)) % len(BRANDS)]
        line = (i // (len(base) * len(BRANDS))) + 1
        name = f"{row['name']} {brand}" + (f" línea {line}" if line > 1 else "")
        product = Product(**{**row, "name": name})
        vec = np.frombuffer(vectors[text_key(Product(**row))], dtype=np.float32)
        vec = vec + rng.normal(0, 0.015, vec.shape).astype(np.float32)
        vec /= np.linalg.norm(vec)
        yield (f"B-{i:06d}", name, row["description"], row["category"], float(row["price"]), "COP",
               int(row["stock"]), True, at, at, vec.astype(np.float32).tobytes(), text_key(product))


INSERT = ("INSERT INTO shop_products (sku, name, description, category, price, currency, stock, active, created_at, "
          "updated_at, embedding, embedding_key) VALUES ({})")


def load_catalogue(url: str, count: int) -> float:
    from hilo.migrations import upgrade

    upgrade(url, extra_versions=[ROOT / "hilo/packs/commerce/migrations"])
    started = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.executemany(INSERT.format(",".join("?" * 12)), synthetic_rows(count))
        conn.execute("INSERT INTO shop_meta (key, value) VALUES ('catalog_version', 1)")
        conn.commit()
        conn.close()
    else:
        import asyncpg

        async def run():
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
            try:
                await conn.copy_records_to_table("shop_products", records=list(synthetic_rows(count)), columns=[
                    "sku", "name", "description", "category", "price", "currency", "stock", "active", "created_at",
                    "updated_at", "embedding", "embedding_key"])
                await conn.execute("INSERT INTO shop_meta (key, value) VALUES ('catalog_version', 1)")
            finally:
                await conn.close()
        asyncio.run(run())
    return time.perf_counter() - started


# words the catalogue does not have: typos, synonyms, English (these take the hybrid path and
# pay the query embedding)
OTHER_WORDS = ["audifonos blutuz", "zapatillas deportivas", "comida para perro", "cobija", "cargador de celular",
               "tenis pa trotar", "audifonos inalambricoz", "olla express", "sneakers", "headphones",
               "ropa de baño", "maleta escolar", "alimento para gato", "bafle", "smartwatch barato", "morral escolr",
               "pantalon de mezclilla", "cafetera electrica", "pesas para gimnasio", "tapete de yoga",
               "bloqueador solar", "audífonos gamer", "batería portátil", "balon futbol 5", "sandalias playa mujer"]


def other_queries(n: int) -> list[str]:
    rng = random.Random(5)
    out, seen = [], set()
    while len(out) < n:
        q = rng.choice(OTHER_WORDS) + ("" if rng.random() < 0.5 else f" {rng.choice(['negro', 'azul', 'grande', 'barato', 'original'])}")
        if q not in seen or len(seen) >= len(OTHER_WORDS) * 6:
            seen.add(q)
            out.append(q)
    return out


def distinct_queries(n: int) -> list[str]:
    rng = random.Random(3)
    extra = ["", " barato", " negro", " azul", " grande", " para regalo", " en oferta", " talla L", " original", " 20 W"]
    out, seen = [], set()
    while len(out) < n:
        q = rng.choice(QUERIES) + rng.choice(extra) + ("" if rng.random() < 0.5 else f" {rng.choice(BRANDS)}")
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def bench_search(tmp: Path, url: str, products: int, queries: int) -> dict:
    load_s = load_catalogue(url, products)
    hilo = Hilo(tmp, url, HILO_COMMERCE_DEMO="false")
    try:
        with httpx.Client(base_url=hilo.url, timeout=600) as http:
            started = time.perf_counter()
            first = http.get("/productos/", params={"q": "tenis para correr"}).json()
            index_s = time.perf_counter() - started
            assert first["productos"], first
            for q in QUERIES[:5]:  # warm the connection and the embedder
                http.get("/productos/", params={"q": q + " warm"})
            figures = {}
            for label, batch in (("catalogue_words", distinct_queries(queries)),
                                 ("typos_synonyms_english", other_queries(max(queries // 3, 10)))):
                ms, empty = [], 0
                for q in batch:
                    started = time.perf_counter()
                    r = http.get("/productos/", params={"q": q, "limit": 10})
                    ms.append((time.perf_counter() - started) * 1000)
                    empty += not r.json()["productos"]
                figures[label] = {**summary(ms), "with_no_result": empty}
            every = figures["catalogue_words"]["n"], figures["typos_synonyms_english"]["n"]
        return {"products": products, "insert_s": round(load_s, 1), "first_search_with_index_load_s": round(index_s, 1),
                "http": figures, "queries": every}
    finally:
        hilo.stop()


# --------------------------------------------------------------------------- the sale
SALE = [("search", "busco audífonos inalámbricos"), ("add_position", "quiero 2 del primero"),
        ("add_name", "agrega una licuadora"), ("checkout", "finalizar compra"), ("name", "Ana Gómez"),
        ("bad_cedula", "12"), ("cedula", "1023456789"), ("phone", "3001234567"),
        ("address", "Calle 10 # 20-30, Medellín"), ("yes", "sí")]
# every sale is another customer's (hilo keeps recent query embeddings: ten identical
# conversations would route from memory after the first)
_SEARCHES = ["busco audífonos inalámbricos", "necesito una licuadora", "quiero ver tenis para correr",
             "tienen parlantes bluetooth", "busco una cafetera", "me muestras ollas a presión",
             "quiero un reloj inteligente", "tienen morrales para el colegio", "busco sábanas dobles",
             "necesito un secador de pelo"]
_SECOND = ["agrega una licuadora", "agrega un ventilador", "súmale una toalla de baño", "agrega una hamaca",
           "también una lámpara led", "agrega un termo de acero", "y una gorra", "agrega unas medias deportivas",
           "súmale un cuaderno argollado", "agrega una pijama"]
_NAMES = ["Ana Gómez", "Luis Pérez", "María Rodríguez", "Carlos Martínez", "Sofía Ramírez", "Jorge Herrera",
          "Valentina Castro", "Andrés Moreno", "Camila Torres", "Felipe Rojas"]


def sale_steps(n: int) -> list[tuple[str, str]]:
    """Customer ``n``'s conversation: the steps of :data:`SALE` in that customer's own words and data."""
    k = n % len(_NAMES)
    own = {"search": _SEARCHES[k], "add_position": f"quiero {n % 3 + 1} del primero", "add_name": _SECOND[k],
           "name": _NAMES[k], "bad_cedula": str(10 + n), "cedula": str(1023456789 + 7919 * n),
           "phone": str(3001234567 + 1031 * n), "address": f"Calle {10 + n} # {20 + n}-{30 + n}, Medellín"}
    return [(step, own.get(step, text)) for step, text in SALE]


def bench_sale(tmp: Path, url: str, sales: int) -> dict:
    hilo = Hilo(tmp, url)
    try:
        by_step: dict[str, list[float]] = {step: [] for step, _ in SALE}
        closed = 0
        with httpx.Client(base_url=hilo.url, timeout=120) as http:
            http.post("/chat/texto", json={"mensaje": "hola", "chat_id": "warm"})
            for n in range(sales):
                chat = f"venta-{n}-{uuid.uuid4().hex[:6]}"
                for step, text in sale_steps(n):
                    started = time.perf_counter()
                    r = http.post("/chat/texto", json={"mensaje": text, "chat_id": chat})
                    by_step[step].append((time.perf_counter() - started) * 1000)
                    assert r.status_code == 200, r.text
                closed += (r.json().get("pedido") or {}).get("estado") == "cerrada"
        every = [v for values in by_step.values() for v in values]
        return {"sales": sales, "closed": closed, "turn": summary(every),
                "by_step_p50_ms": {k: round(pct(v, 50), 1) for k, v in by_step.items()}}
    finally:
        hilo.stop()


# --------------------------------------------------------------------------- oversell
def bench_oversell(tmp: Path, url: str, buyers: int, units: int, concurrency: int) -> dict:
    hilo = Hilo(tmp, url, HILO_COMMERCE_DEMO="false")
    try:
        with httpx.Client(base_url=hilo.url, timeout=60) as http:
            product = http.post("/productos/", json={"nombre": "Edición limitada", "precio": 1000, "stock": units,
                                                     "categoria": "Pruebas"}).json()["producto"]

        def buy(n: int) -> int:
            with httpx.Client(base_url=hilo.url, timeout=300) as client:
                r = client.post("/pedidos/", json={"cliente": {"cedula": str(10_000_000 + n), "nombre": "Ana Gómez",
                                                               "telefono": "3001234567",
                                                               "direccion": "Calle 10 # 20-30"},
                                                   "items": [{"producto_id": product["id"]}]})
                if r.status_code != 201:
                    return r.status_code
                return client.post(f"/pedidos/{r.json()['id']}/confirmar").status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            codes = list(pool.map(buy, range(buyers)))
        wall = time.perf_counter() - started
        with httpx.Client(base_url=hilo.url, timeout=60) as http:
            left = http.get(f"/productos/{product['id']}").json()["producto"]["stock"]
        return {"buyers": buyers, "units": units, "concurrency": concurrency, "sold": codes.count(200),
                "refused_409": codes.count(409), "other": len(codes) - codes.count(200) - codes.count(409),
                "stock_left": left, "oversold": codes.count(200) > units, "wall_s": round(wall, 2),
                "requests_per_s": round((buyers + codes.count(200)) / wall, 1)}
    finally:
        hilo.stop()


def fresh_database(base: str | None, tmp: Path, name: str) -> str:
    if base is None:
        return f"sqlite+aiosqlite:///{tmp / (name + '.db')}"
    import asyncpg

    db = f"hilo_bench_{name}_{uuid.uuid4().hex[:8]}"

    async def create():
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(f'CREATE DATABASE "{db}"')
        finally:
            await conn.close()
    asyncio.run(create())
    return base.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + "/" + db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", help="a PostgreSQL URL (postgresql://...); default SQLite in a temp dir")
    ap.add_argument("--products", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--sales", type=int, default=10)
    ap.add_argument("--buyers", type=int, default=1000)
    ap.add_argument("--units", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--only", choices=["search", "sale", "oversell"], action="append")
    args = ap.parse_args()
    parts = args.only or ["search", "sale", "oversell"]
    kind = "postgresql" if args.database else "sqlite"
    result = {"database": kind, "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "load_before": round(os.getloadavg()[0], 2), "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "search" in parts:
            result["search"] = bench_search(tmp, fresh_database(args.database, tmp, "search"), args.products, args.queries)
            print("search", json.dumps(result["search"]), flush=True)
        if "sale" in parts:
            result["sale"] = bench_sale(tmp, fresh_database(args.database, tmp, "sale"), args.sales)
            print("sale", json.dumps(result["sale"]), flush=True)
        if "oversell" in parts:
            result["oversell"] = bench_oversell(tmp, fresh_database(args.database, tmp, "oversell"), args.buyers,
                                                args.units, args.concurrency)
            print("oversell", json.dumps(result["oversell"]), flush=True)
    result["load_after"] = round(os.getloadavg()[0], 2)
    out = ROOT / "bench" / "results" / f"shop-{kind}.json"
    if out.exists() and args.only:  # keep the parts not run this time
        kept = json.loads(out.read_text())
        result = {**{k: v for k, v in kept.items() if k in ("search", "sale", "oversell")}, **result}
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
