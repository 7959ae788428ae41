"""The demo shop the pack seeds on a new database: "Tienda Hilo", a Colombian general store.

Written for the project: each line is a product family (category, name, description, base
price in pesos) and its variants (colour, size, capacity...), which makes about 270
products in eight categories. Prices and stock are deterministic, so tests and the README
can quote them.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.kit.ids import now
from hilo.packs.commerce.catalog import bump_version, product_text, text_key
from hilo.packs.commerce.models import Product
from hilo.packs.commerce.settings import CommerceSettings

DEMO_VECTORS = Path(__file__).parent / "demo_vectors.npz"
COLORS = ["negro", "blanco", "azul", "rojo", "gris", "verde"]
SIZES = ["S", "M", "L", "XL"]
SHOE_SIZES = ["36", "37", "38", "39", "40", "41", "42", "43"]


def sized(colors: list[str], sizes: list[str]) -> list[str]:
    return [f"{color} talla {size}" for color in colors for size in sizes]

# (category, family name, description, base price COP, variants)
FAMILIES: list[tuple[str, str, str, int, list[str]]] = [
    ("Ropa", "Camiseta básica de algodón", "Camiseta de cuello redondo en algodón peinado de 180 g, "
     "suave y fresca para el clima cálido; no destiñe con el lavado.", 39900, sized(COLORS, SIZES)),
    ("Ropa", "Camisa de lino manga larga", "Camisa de lino natural, ideal para tierra caliente y "
     "eventos de día; botones de coco y corte regular.", 119900, ["blanco", "azul", "beige"]),
    ("Ropa", "Jean clásico de hombre", "Jean de corte recto en denim de 12 onzas con algo de "
     "elasticidad; cinco bolsillos.", 129900, ["30", "32", "34", "36"]),
    ("Ropa", "Jean tiro alto de mujer", "Jean skinny de tiro alto en denim elástico que moldea "
     "la figura; bota ajustada.", 139900, ["6", "8", "10", "12", "14"]),
    ("Ropa", "Chaqueta impermeable", "Chaqueta liviana con capucha, resistente al agua y al viento, "
     "que se guarda en su propio bolsillo; para moto, viaje o montaña.", 189900, sized(["negro", "azul"], SIZES)),
    ("Ropa", "Buzo con capota", "Buzo de felpa perchada con capota y bolsillo canguro, abrigado "
     "para la noche bogotana.", 99900, sized(["negro", "gris", "azul"], SIZES)),
    ("Ropa", "Vestido de baño de mujer", "Vestido de baño entero con protección UV 50 y secado rápido.",
     89900, sized(["negro", "azul", "rojo"], SIZES)),
    ("Ropa", "Pantaloneta deportiva", "Pantaloneta de tela liviana con malla interna y bolsillo "
     "con cremallera, para correr o el gimnasio.", 59900, sized(["negro", "gris"], SIZES)),
    ("Calzado", "Tenis para correr", "Tenis de running con suela amortiguada y malla transpirable, "
     "para entrenar en calle o trotadora.", 249900, sized(["negro", "blanco"], SHOE_SIZES)),
    ("Calzado", "Botas de cuero", "Botas de cuero genuino hechas en Colombia, con suela de caucho "
     "antideslizante.", 289900, ["38", "39", "40", "41", "42"]),
    ("Calzado", "Sandalias de playa", "Sandalias de caucho ligeras y cómodas para la piscina y la playa.",
     29900, ["36", "38", "40", "42"]),
    ("Calzado", "Zapatos de vestir de hombre", "Zapatos tipo oxford en cuero con suela de goma, "
     "para la oficina y ocasiones formales.", 219900, ["39", "40", "41", "42", "43"]),
    ("Calzado", "Baletas de mujer", "Baletas planas en cuero sintético, acolchadas, para todo el día.",
     79900, ["35", "36", "37", "38", "39"]),
    ("Tecnología", "Audífonos inalámbricos", "Audífonos bluetooth con estuche de carga, 24 horas "
     "de batería y micrófono para llamadas.", 159900, ["negro", "blanco"]),
    ("Tecnología", "Cargador rápido USB-C", "Cargador de pared de carga rápida con cable USB-C de 1 metro.",
     49900, ["20 W", "33 W", "65 W"]),
    ("Tecnología", "Power bank", "Batería externa con dos salidas USB y pantalla de carga.",
     89900, ["10.000 mAh", "20.000 mAh"]),
    ("Tecnología", "Parlante bluetooth", "Parlante portátil resistente al agua, con 12 horas de "
     "música y radio FM.", 179900, ["negro", "azul", "rojo"]),
    ("Tecnología", "Reloj inteligente", "Smartwatch con ritmo cardiaco, pasos, sueño y notificaciones "
     "del celular; batería de una semana.", 229900, ["negro", "rosado", "gris"]),
    ("Tecnología", "Mouse inalámbrico", "Mouse silencioso con receptor USB y pilas incluidas.",
     45900, ["negro", "blanco", "azul"]),
    ("Tecnología", "Teclado inalámbrico en español", "Teclado con ñ, distribución latinoamericana "
     "y teclas silenciosas.", 99900, ["negro", "blanco"]),
    ("Tecnología", "Memoria USB", "Memoria USB 3.0 de alta velocidad con tapa.", 29900,
     ["32 GB", "64 GB", "128 GB"]),
    ("Tecnología", "Protector de pantalla de vidrio", "Vidrio templado 9H para celular, con kit de "
     "instalación.", 19900, ["iPhone 13", "iPhone 15", "Galaxy A54", "Redmi Note 13", "Moto G84"]),
    ("Hogar", "Juego de sábanas", "Juego de sábanas de microfibra con funda de almohada, suave y "
     "que no se arruga.", 89900, ["sencilla", "semidoble", "doble", "queen"]),
    ("Hogar", "Almohada de fibra", "Almohada hipoalergénica de fibra siliconada, firmeza media.",
     49900, ["estándar", "king"]),
    ("Hogar", "Olla a presión", "Olla a presión en aluminio con válvula de seguridad, para fríjoles "
     "y sancocho en minutos.", 189900, ["4 litros", "6 litros", "8 litros"]),
    ("Hogar", "Juego de ollas antiadherentes", "Cinco piezas antiadherentes con tapas de vidrio, aptas "
     "para estufa de gas y eléctrica.", 259900, ["negro", "rojo", "gris"]),
    ("Hogar", "Licuadora", "Licuadora de vaso de vidrio de 1,5 litros con cuchillas de acero, para "
     "jugos y salsas.", 169900, ["400 W", "600 W"]),
    ("Hogar", "Cafetera de goteo", "Cafetera para 12 tazas con filtro permanente y placa que "
     "mantiene el café caliente.", 139900, ["negro", "blanco"]),
    ("Hogar", "Termo de acero", "Termo de acero inoxidable que mantiene bebidas frías 24 horas y "
     "calientes 12.", 69900, ["500 ml", "750 ml", "1 litro"]),
    ("Hogar", "Toalla de baño", "Toalla de algodón 100 % de 500 g/m², absorbente y suave.", 44900,
     ["blanco", "azul", "gris", "verde"]),
    ("Hogar", "Lámpara de escritorio LED", "Lámpara LED con brazo flexible, tres tonos de luz y "
     "puerto USB.", 79900, ["negro", "blanco"]),
    ("Deportes", "Balón de fútbol", "Balón cosido a máquina, tamaño oficial, para grama natural y "
     "sintética.", 89900, ["número 4", "número 5"]),
    ("Deportes", "Mancuernas de neopreno", "Par de mancuernas recubiertas de neopreno para "
     "entrenar en casa.", 59900, ["2 kg", "3 kg", "5 kg"]),
    ("Deportes", "Colchoneta de yoga", "Colchoneta antideslizante de 6 mm con correa para llevarla.",
     69900, ["morado", "azul", "negro"]),
    ("Deportes", "Bicicleta de montaña", "Bicicleta rin 29 con 21 cambios, frenos de disco y "
     "suspensión delantera.", 1299900, ["talla M", "talla L"]),
    ("Deportes", "Casco de ciclismo", "Casco ventilado con ajuste trasero y luz LED.", 119900,
     ["S/M", "L/XL"]),
    ("Deportes", "Termo deportivo", "Botella deportiva de 1 litro libre de BPA con marcas de tiempo.",
     34900, ["negro", "rosado", "verde"]),
    ("Belleza", "Protector solar facial", "Protector solar de toque seco FPS 50 para piel mixta a "
     "grasa.", 59900, ["50 ml", "100 ml"]),
    ("Belleza", "Crema hidratante corporal", "Crema corporal con manteca de karité y aloe, sin "
     "parabenos.", 34900, ["200 ml", "400 ml"]),
    ("Belleza", "Secador de pelo", "Secador de 2.000 W con iones, dos velocidades y boquilla "
     "concentradora.", 149900, ["negro", "rosado"]),
    ("Belleza", "Plancha para el cabello", "Plancha de cerámica con temperatura ajustable hasta 230 °C.",
     129900, ["negro", "morado"]),
    ("Belleza", "Perfume de mujer", "Eau de parfum floral con notas de jazmín y vainilla.", 179900,
     ["50 ml", "100 ml"]),
    ("Belleza", "Perfume de hombre", "Eau de toilette amaderado con notas cítricas.", 169900,
     ["50 ml", "100 ml"]),
    ("Papelería", "Cuaderno argollado", "Cuaderno de 5 materias, 200 hojas cuadriculadas, tapa dura.",
     18900, ["azul", "rojo", "verde", "negro"]),
    ("Papelería", "Morral escolar", "Morral con espaldar acolchado, compartimento para portátil de "
     "15 pulgadas y bolsillo para termo.", 129900, ["negro", "azul", "gris", "rosado"]),
    ("Papelería", "Colores x 24", "Caja de 24 lápices de colores de mina suave con sacapuntas.",
     22900, ["estándar"]),
    ("Papelería", "Agenda 2027", "Agenda diaria de tapa dura con calendario y festivos de Colombia.",
     39900, ["negro", "café", "azul"]),
    ("Mascotas", "Cama para perro", "Cama acolchada lavable con bordes altos.", 99900,
     ["pequeña", "mediana", "grande"]),
    ("Mascotas", "Concentrado para gato", "Alimento seco para gato adulto con pollo y arroz.", 64900,
     ["1,5 kg", "3 kg", "7 kg"]),
    ("Mascotas", "Concentrado para perro", "Alimento seco para perro adulto de raza mediana.", 89900,
     ["2 kg", "4 kg", "8 kg", "15 kg"]),
    ("Mascotas", "Collar con placa", "Collar ajustable de nailon con placa grabada con el nombre.",
     29900, ["rojo", "azul", "negro", "rosado"]),
    ("Ropa", "Medias deportivas x 3", "Tres pares de medias tobilleras de algodón con refuerzo en talón "
     "y punta.", 24900, ["blanco", "negro", "surtido"]),
    ("Ropa", "Gorra bordada", "Gorra de algodón con visera curva y cierre ajustable.", 34900,
     ["negro", "azul", "beige", "verde"]),
    ("Ropa", "Ruana de lana", "Ruana tejida en lana virgen de oveja, tradicional de Boyacá.", 149900,
     ["gris", "café", "negro"]),
    ("Ropa", "Pijama de algodón", "Pijama de dos piezas en algodón suave, pantalón largo.", 79900,
     sized(["azul", "gris"], SIZES)),
    ("Calzado", "Chanclas de descanso", "Chanclas acolchadas tipo slide para la casa.", 39900,
     ["37", "39", "41", "43"]),
    ("Tecnología", "Cámara de seguridad WiFi", "Cámara IP de 1080p con visión nocturna, detección de "
     "movimiento y aplicación para el celular.", 139900, ["interior", "exterior"]),
    ("Tecnología", "Bombillo inteligente", "Bombillo LED WiFi de colores que se controla con el "
     "celular o por voz.", 39900, ["9 W", "12 W"]),
    ("Tecnología", "Soporte para portátil", "Base de aluminio plegable y ajustable en altura.",
     69900, ["plateado", "negro"]),
    ("Tecnología", "Cable HDMI", "Cable HDMI 2.1 para 4K a 120 Hz.", 24900, ["1 m", "2 m", "3 m", "5 m"]),
    ("Hogar", "Sartén de hierro", "Sartén de hierro fundido curado, ideal para arepas y carnes.",
     89900, ["20 cm", "26 cm", "30 cm"]),
    ("Hogar", "Ventilador de pie", "Ventilador de 16 pulgadas con tres velocidades y oscilación.",
     149900, ["negro", "blanco"]),
    ("Hogar", "Hamaca", "Hamaca tejida a mano en algodón, de San Jacinto, Bolívar.", 189900,
     ["sencilla", "doble", "matrimonial"]),
    ("Hogar", "Set de vasos de vidrio", "Seis vasos de vidrio grueso de 350 ml.", 39900, ["transparente", "ámbar"]),
    ("Deportes", "Lazo para saltar", "Lazo de velocidad con rodamientos y mangos de espuma.", 24900,
     ["negro", "rojo"]),
    ("Deportes", "Guantes de boxeo", "Guantes de entrenamiento con relleno de espuma de alta densidad.",
     129900, ["10 oz", "12 oz", "14 oz"]),
    ("Belleza", "Kit de brochas de maquillaje", "Doce brochas de cerdas sintéticas con estuche.",
     59900, ["rosado", "negro"]),
    ("Belleza", "Champú sin sal", "Champú sin sal ni sulfatos para cabello tinturado.", 29900,
     ["400 ml", "1 litro"]),
    ("Papelería", "Calculadora científica", "Calculadora de 252 funciones para colegio y universidad.",
     79900, ["negro", "azul"]),
    ("Mascotas", "Arena para gato", "Arena aglutinante sin olor.", 34900, ["4 kg", "10 kg"]),
    ("Mascotas", "Juguete mordedor", "Mordedor de caucho resistente para perros.", 19900,
     ["pequeño", "mediano", "grande"]),
]


def _rand(key: str, low: int, high: int) -> int:
    digest = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)
    return low + digest % (high - low + 1)


def products() -> list[dict]:
    rows: list[dict] = []
    for family_number, (category, family, description, base, variants) in enumerate(FAMILIES, start=1):
        for number, variant in enumerate(variants, start=1):
            sku = f"TH-{family_number:03d}-{number:02d}"
            step = _rand(sku + "p", 0, 4) * 5000 if len(variants) > 1 and number > 1 else 0
            stock = _rand(sku + "s", 0, 40)
            if stock < 3:  # a few products run out or nearly: the low-stock list has something to show
                stock = stock * 2
            name = family if variant == "estándar" else f"{family} {variant}"
            rows.append({"sku": sku, "name": name, "category": category, "description": description,
                         "price": Decimal(base + step), "stock": stock})
    return rows


def shipped_vectors() -> dict[str, bytes]:
    """The bundled embedder's vectors of the demo products, by text key (see :func:`write_vectors`)."""
    if not DEMO_VECTORS.exists():
        return {}
    with np.load(DEMO_VECTORS) as shipped:
        return {key: shipped[key].astype(np.float32).tobytes() for key in shipped.files}


async def seed(session: AsyncSession) -> None:
    """Seed the demo shop on a database with no products; never touches a shop in use. The
    vectors ship with the pack, so a new shop is searchable at once."""
    if not CommerceSettings().demo or await session.scalar(select(func.count()).select_from(Product)):
        return
    at = now()
    vectors = shipped_vectors()
    for row in products():
        product = Product(**row, currency="COP", active=True, created_at=at, updated_at=at)
        key = text_key(product)
        if key in vectors:
            product.embedding, product.embedding_key = vectors[key], key
        session.add(product)
    await bump_version(session)
    await session.commit()


def write_vectors() -> int:
    """Embed the demo products with the bundled e5 and write ``demo_vectors.npz`` (float16)."""
    from hilo.nlu import embed

    rows = [Product(**row) for row in products()]
    vectors = embed.passage_vectors([product_text(p) for p in rows])
    np.savez_compressed(DEMO_VECTORS, **{text_key(p): v.astype(np.float16) for p, v in zip(rows, vectors, strict=True)})
    return len(rows)


if __name__ == "__main__":  # python -m hilo.packs.commerce.demo: after changing FAMILIES
    print(f"wrote {write_vectors()} vectors to {DEMO_VECTORS}")
