"""The shop's words for the guided provider: the customer's data (name, cédula, phone, address),
quantities, the final "sí", and the questions that ask for each.

A tool that needs one of these ends its answer with the parser's question; the guided provider
then reads the customer's next message as the answer (a bare "Ana Gómez" or "1023456789").
Values are taken as written and validated by the tool, which says what is wrong and asks again.
"""

from __future__ import annotations

import re

from hilo.nlu.lang import fold
from hilo.nlu.parsers import (
    CORE,
    ArgumentParser,
    Vocabulary,
    parse_bool,
    parse_max_price,
    parse_query,
    phrases,
)
from hilo.packs.commerce import validation

FIELD_QUESTIONS = {
    "name": {"es": "¿A nombre de quién va el pedido? (nombre y apellido)", "en": "Whose name is the order under?"},
    "cedula": {"es": "¿Cuál es tu número de cédula?", "en": "What is your ID (cédula) number?"},
    "phone": {"es": "¿A qué número de celular te contactamos?", "en": "Which phone number can we reach you at?"},
    "address": {"es": "¿A qué dirección enviamos el pedido? (calle, número y ciudad)",
                "en": "Which address should we deliver to?"},
}
CONFIRM_QUESTION = {"es": "¿Confirmas el pedido? Responde «sí» para cerrarlo o «no» para cambiar algo.",
                    "en": "Do you confirm the order? Answer yes to close it or no to change something."}

_NOT_A_NAME = set(fold(
    "quiero deseo comprar pagar confirmar confirmo si no ok listo gracias hola buenas buenos dias tardes noches "
    "pedido producto productos carrito total cuanto cuesta precio envio enviar calle carrera cra avenida cedula "
    "telefono celular direccion nombre el la los las un una de del que y o con para por mi mis tu su es son "
    "me te se lo le ya tambien pero como cual cuales donde quien yes no thanks hello order cancelar cancela"
).split())


def _bare_name(text: str) -> str | None:
    words = text.strip(" .,!¡¿?").split()
    if not 2 <= len(words) <= 4 or any(not w.isalpha() or fold(w) in _NOT_A_NAME for w in words):
        return None
    return " ".join(words)


def parse_name(text: str) -> str | None:
    found = validation.extract(text)[0].name
    return found or _bare_name(text)


def _raw(field: str, text: str) -> str | None:
    good, errors = validation.extract(text)
    value = getattr(good, field)
    if value:
        return value
    if field in errors:  # given, but wrong: the tool says why and asks again
        match = {"cedula": validation._CEDULA_CUE, "phone": validation._PHONE_CUE}.get(field)
        found = match.search(text) if match else None
        return found.group(1) if found else text.strip()
    return None


def parse_cedula(text: str) -> str | None:
    value = _raw("cedula", text)
    if value is None and _BARE_NUMBER.fullmatch(text) and not validation.extract(text)[0].phone:
        return text.strip()  # a bare number answering the question (validated by the tool)
    return value


_BARE_NUMBER = re.compile(r"\s*\+?\d[\d.\-]{0,15}\s*")  # one token: "12", "1.023.456.789", "300-123-4567"


def parse_phone(text: str) -> str | None:
    value = _raw("phone", text)
    if value is None and _BARE_NUMBER.fullmatch(text):
        return text.strip()
    return value


def parse_address(text: str) -> str | None:
    value = _raw("address", text)
    if value is None and re.search(r"\d", text) and re.search(
            r"#|\b(?:casa|apto|apartamento|barrio|conjunto|torre|edificio|interior|bloque|lote|km)\b", fold(text)):
        return text.strip()
    return value


_QUANTITY_WORDS = {"un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
                   "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "un par de": 2, "par de": 2, "a pair of": 2,
                   "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_UNIT_AFTER = r"(?:ml|gb|kg|g|w|cm|m|mm|mah|oz|litros?|l|pulgadas|hz)\b"


def parse_quantity(text: str) -> int | None:
    """How many units: "2 camisetas", "dos del primero", "3 unidades"; never a size, a capacity
    or the product's number ("talla 40", "500 ml", "el producto 12", "#5")."""
    folded = fold(text)
    for match in re.finditer(r"(?<![\w#.,])(\d{1,4})(?![\w.,]*\d)", folded):
        before = folded[:match.start()].rstrip()
        after = folded[match.end():].lstrip()
        if re.search(r"(?:talla|numero|nro|no\.|#|producto|product|del|el|item|ref|referencia|rin|de)$", before):
            continue
        if re.match(_UNIT_AFTER, after):
            continue
        return int(match.group(1))
    for phrase in sorted(_QUANTITY_WORDS, key=len, reverse=True):
        if re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", folded):
            if phrase in ("un", "una", "uno", "one") and not re.search(
                    rf"(?:quiero|llevo|agrega|agregame|anade|pon|dame|compro|comprar|take)\s+{phrase}\b", folded):
                continue
            return _QUANTITY_WORDS[phrase]
    return None


CATEGORY_WORDS = {
    "Ropa": "ropa, prendas, prendas de vestir", "Calzado": "calzado", "Tecnología": "tecnologia, electronica",
    "Hogar": "hogar, para la casa", "Deportes": "deportes, deporte, deportivo, deportivos",
    "Belleza": "belleza, cuidado personal", "Papelería": "papeleria, utiles escolares, utiles",
    "Mascotas": "mascotas, mascota",
}
_CATEGORIES = {fold(w.strip()): c for c, words in CATEGORY_WORDS.items() for w in words.split(",")}


def parse_category(text: str) -> str | None:
    """A category only when the message names one ("¿qué tienen en tecnología?")."""
    found = phrases(text, _CATEGORIES)
    return found[0][1] if found else None


_PRODUCT_HINT = re.compile(r"(?:#|\b(?:producto|product|articulo|referencia|ref|numero|nro|id)\.?\s*#?)\s*(\d{1,9})\b")


def parse_product_id(text: str) -> int | None:
    """A product number only when it is said to be one ("el producto 12", "#12", or the message is
    just the number): "quiero 2 camisetas" is a quantity, not product 2."""
    folded = fold(text)
    hint = _PRODUCT_HINT.search(folded)
    if hint:
        return int(hint.group(1))
    alone = re.fullmatch(r"\s*(?:el|la|del|de la)?\s*(\d{1,9})\s*[?.!]*\s*", folded)
    return int(alone.group(1)) if alone else None


_SIZE = re.compile(r"(?i)\b(?:talla|numero|número|no\.?)\s*([0-9]{1,3}|xs|s|m|l|xl|xxl)\b|\b([0-9]+(?:[.,][0-9]+)?)\s*"
                   r"(ml|gb|kg|w|cm|mah|oz|litros?|l)\b")


def parse_product_words(text: str) -> str | None:
    """What product the customer names, without the words that only ask for it, keeping sizes,
    capacities and wattages ("tenis talla 40", "memoria 64 GB"), which the core query drops."""
    sizes = [" ".join(filter(None, m.groups())) if m.group(2) else m.group(0) for m in _SIZE.finditer(text)]
    taken = {w.lower() for size in sizes for w in size.split()}
    words = [w for w in (parse_query(text, _FILLER) or "").split() if w.lower() not in taken]
    kept = " ".join([*words, *sizes]).strip()
    return kept or None


def parse_confirmation(text: str) -> bool | None:
    folded = fold(text)
    if re.search(r"\b(?:confirmo|de una|dale|hagamoslo|perfecto|correcto|asi esta bien|esta bien|ok|okay)\b", folded):
        return True
    return parse_bool(text)


VOCABULARY = Vocabulary(
    parsers=[
        ArgumentParser("person_name", frozenset({"nombre"}), parse_name, FIELD_QUESTIONS["name"]),
        ArgumentParser("cedula", frozenset({"cedula"}), parse_cedula, FIELD_QUESTIONS["cedula"], strong=True),
        ArgumentParser("phone", frozenset({"telefono"}), parse_phone, FIELD_QUESTIONS["phone"], strong=True),
        ArgumentParser("address", frozenset({"direccion"}), parse_address, FIELD_QUESTIONS["address"], strong=True),
        ArgumentParser("product_id", frozenset({"producto_id"}), parse_product_id,
                       {"es": "¿Cuál producto? Dime su número (#) o su nombre.", "en": "Which product?"}, item_id=True),
        ArgumentParser("quantity", frozenset({"cantidad"}), parse_quantity,
                       {"es": "¿Cuántas unidades quieres?", "en": "How many units?"}),
        ArgumentParser("product_words", frozenset({"producto", "busqueda"}), parse_product_words,
                       {"es": "¿Qué producto buscas?", "en": "Which product are you looking for?"}),
        ArgumentParser("shop_max_price", frozenset({"precio_max"}), parse_max_price,
                       {"es": "¿Hasta qué precio buscas?", "en": "Up to what price?"}),
        ArgumentParser("category", frozenset({"categoria"}), parse_category,
                       {"es": "¿Qué categoría te interesa?", "en": "Which category?"}),
        ArgumentParser("order_confirmation", frozenset({"confirmar"}), parse_confirmation, CONFIRM_QUESTION),
    ],
    filler=("menos hasta maximo mil pesos barato baratos barata baratas economico economicos "
            "producto productos articulo articulos comprar compro quiero quisiera agrega agregar agregame añade "
            "añadir añademe pon llevo lleva me lo la los las unidades unidad und pedido carrito tienda venden vendes "
            "tienen tienes hay muestrame ver busco buscando necesito quita quitar quitame saca sacar elimina "
            "eliminar borra borrar"),
    id_words=("producto", "product", "articulo", "referencia"),
)

_FILLER = frozenset(CORE.filler | set(fold(VOCABULARY.filler).split()))

__all__ = ["CONFIRM_QUESTION", "FIELD_QUESTIONS", "VOCABULARY", "parse_address", "parse_cedula", "parse_confirmation",
           "parse_name", "parse_phone", "parse_quantity"]
