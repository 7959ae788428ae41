"""The sales agent's tools: every product, price and stock figure comes from the database.

The order in progress belongs to the conversation (its thread). Each tool answers with what
the customer needs next and, when it needs something from them, ends with one of the questions
of :mod:`hilo.packs.commerce.parsers`, so that with no model the guided provider reads their
next message as the answer (a name, a cédula, "sí").
"""

from __future__ import annotations

from typing import Any

from hilo.packs.commerce import catalog, views
from hilo.packs.commerce.models import CLOSED, PENDING, Order, Product
from hilo.packs.commerce.orders import Line, ShopError, items_of, missing_fields
from hilo.packs.commerce.parsers import CONFIRM_QUESTION, FIELD_QUESTIONS
from hilo.packs.commerce.settings import shop_for
from hilo.packs.commerce.validation import validate
from hilo.tools import ToolContext
from hilo.tools.function import ToolError, tool

MAX_ID = 2**31 - 1
# with no model, adding and removing need the customer to ask for it: a question about a
# product ("¿cuánto cuesta la licuadora?") never puts it in the order
ADD_CUE = (r"\b(?:quier|quisier|queri|llev|agreg|añad|compr|separ|reserv|apart|dame|deme|me das|me da\b|"
           r"pon(?:me|ga|lo|la|le|los|las)?\b|tomo\b|take|add|buy|want|i'?ll have)")
REMOVE_CUE = (r"\b(?:quita|quitar|quitale|quitame|saca|sacar|sacame|elimina|eliminar|borra|borrar|remueve|"
              r"ya no quiero|no quiero|mejor no|remove|delete|drop)\b")
_ORDER_FIELDS = ("name", "cedula", "phone", "address")


def _db(ctx: ToolContext):
    db = ctx.services.db if ctx else None
    if db is None:
        raise ToolError("La tienda no está disponible en este momento.")
    return db


def _line(product: Product) -> dict[str, Any]:
    stock = "agotado" if product.stock <= 0 else (f"{product.stock} disponibles" if product.stock != 1 else "1 disponible")
    return {"id": product.id, "nombre": product.name, "categoria": product.category, "precio": views.money(product.price),
            "precio_texto": views.money_text(product.price, product.currency), "stock": product.stock,
            "stock_texto": stock}


def _thread(ctx: ToolContext) -> str:
    if not ctx.thread_id:
        raise ToolError("Este pedido necesita una conversación.")
    return ctx.thread_id


async def _summary(ctx: ToolContext, order: Order) -> dict[str, Any]:
    async with _db(ctx).sessionmaker() as session:
        items = (await items_of(session, [order.id]))[order.id]
    lines = [f"{i.quantity} x {i.name} ({views.money_text(i.unit_price, order.currency)} c/u)" for i in items]
    return {"pedido_id": order.id, "estado": order.state, "items": [views.item(i) for i in items],
            "resumen": "\n".join(f"- {text}" for text in lines) or "(vacío)", "total": views.money(order.total),
            "total_texto": views.money_text(order.total, order.currency)}


def _next_question(order: Order) -> str:
    for name in _ORDER_FIELDS:
        if not getattr(order, name):
            return FIELD_QUESTIONS[name]["es"]
    return CONFIRM_QUESTION["es"]


async def _product(ctx: ToolContext, producto_id: int | None, producto: str | None) -> Product:
    db = _db(ctx)
    if producto_id is not None:
        found = None
        if 0 < producto_id <= MAX_ID:
            async with db.sessionmaker() as session:
                found = await session.get(Product, producto_id)
        if found is None or not found.active:
            raise ToolError(f"No tenemos un producto con el número {producto_id}. Dime qué buscas y te muestro opciones.")
        return found
    if not producto or not producto.strip():
        raise ToolError("¿Qué producto quieres? Dime su nombre o su número.")
    hits = await catalog.search(db, ctx.settings, producto, limit=3)
    if not hits:
        raise ToolError(f"No encontré «{producto}» en el inventario. Dime qué buscas y te muestro lo que hay.")
    return hits[0].product


@tool(
    examples=[
        "¿qué productos tienen?", "busco tenis para correr", "¿tienen audífonos inalámbricos?",
        "quiero ver camisetas", "¿qué tienen en tecnología?", "necesito una olla a presión",
        "¿venden concentrado para perro?", "muéstrame chaquetas impermeables", "¿tienen algo para el gimnasio?",
        "busco un regalo para mi mamá", "¿qué perfumes hay?", "¿tienen jeans de mujer?",
        "do you sell headphones?", "I'm looking for running shoes", "¿qué hay en ropa?", "productos baratos",
        "¿tienen morrales para el colegio?", "¿cuánto cuestan los audífonos?",
    ],
    template={"es": "Esto encontré {busqueda}:\n- #{id} {nombre}: {precio_texto} ({stock_texto})\n"
                    "¿Cuál te interesa? Dime el número o el nombre y cuántas unidades quieres.",
              "en": "This is what I found {busqueda}:\n- #{id} {nombre}: {precio_texto} ({stock_texto})"},
)
async def buscar_producto(ctx: ToolContext, busqueda: str | None = None, categoria: str | None = None,
                          precio_max: float | None = None) -> dict:
    """Search the shop's inventory, best matches first, with price and stock; no query: the cheapest.

    Args:
        busqueda: What the customer is looking for, e.g. "tenis para correr", "audífonos".
        categoria: Optional category: Ropa, Calzado, Tecnología, Hogar, Deportes, Belleza, Papelería, Mascotas.
        precio_max: Optional highest price in pesos.
    """
    if precio_max is not None and not 0 < precio_max < 1e13:
        raise ToolError("El precio máximo debe ser un número positivo.")
    query = busqueda
    db = _db(ctx)
    found = await catalog.search(db, ctx.settings, query, category=categoria, max_price=precio_max, limit=5)
    if not found and categoria:  # a category the shop does not have: the words still search
        query = " ".join(filter(None, [query, categoria]))
        found = await catalog.search(db, ctx.settings, query, max_price=precio_max, limit=5)
    await catalog.log_search(db, ctx.thread_id, query or "", [f.product.id for f in found])
    if not found:
        raise ToolError(f"No tenemos productos para «{query}» en el inventario. ¿Buscas otra cosa?" if query
                        else "No encontré productos con esos filtros.")
    where = f"para «{query}»" if query else "en el catálogo (los más económicos)"
    return {"query": query, "busqueda": where, "productos": [_line(f.product) for f in found]}


@tool(
    examples=[
        "¿cuánto cuesta el producto 12?", "¿hay stock del 5?", "detalle del producto 3",
        "¿cuántas unidades quedan del 8?", "más información del producto 20", "¿de qué es el 14?",
        "how much is product 7?", "¿cuánto vale ese?", "¿y ese de cuánto es?", "¿qué precio tiene ese producto?",
        "¿cuántas unidades quedan de ese?", "¿hay stock de ese artículo?", "¿de qué material es?",
    ],
    template={"es": "#{id} {nombre} ({categoria})\n{descripcion}\nPrecio: {precio_texto}\nDisponibles: {stock}\n"
                    "Si lo quieres, dime «lo quiero» y cuántas unidades.",
              "en": "#{id} {nombre} ({categoria})\n{descripcion}\nPrice: {precio_texto}\nIn stock: {stock}"},
)
async def detalle_producto(ctx: ToolContext, producto_id: int | None = None, producto: str | None = None) -> dict:
    """Price, stock and description of one product of the inventory, by number or by name.

    Args:
        producto_id: The product number (the # shown by buscar_producto).
        producto: The product's name when there is no number.
    """
    product = await _product(ctx, producto_id, producto)
    return {**_line(product), "descripcion": product.description}


@tool(
    examples=[
        "quiero comprar 2 camisetas negras talla M", "agrega el producto 5 al pedido", "me llevo 3 del 12",
        "quiero ese", "añade unos audífonos", "quiero dos del primero", "lo quiero", "agrégame una licuadora",
        "pon 1 del producto 40 en mi pedido", "I'll take two of product 3", "me lo llevo", "quiero 4 unidades",
        "agrega el producto 3", "añade el 7 a mi pedido", "quiero el producto 12", "agrégame 2 del producto 9",
        "add product 5 to my order",
    ],
    cue=ADD_CUE,
    template={"es": "Agregué {agregado} a tu pedido #{pedido_id}.\n{resumen}\nTotal: {total_texto}\n"
                    "¿Algo más? Cuando quieras terminar dime «finalizar compra».",
              "en": "I added {agregado} to your order #{pedido_id}.\n{resumen}\nTotal: {total_texto}"},
)
async def agregar_al_pedido(ctx: ToolContext, producto_id: int | None = None, producto: str | None = None,
                            cantidad: int | None = None) -> dict:
    """Add units of a product to the customer's order in progress (creating it); the units are held.

    Args:
        producto_id: The product number (the # shown by buscar_producto).
        producto: The product's name when there is no number.
        cantidad: How many units (1 when not said).
    """
    quantity = 1 if cantidad is None else cantidad
    if not 1 <= quantity <= 1000:
        raise ToolError("La cantidad debe estar entre 1 y 1000 unidades.")
    product = await _product(ctx, producto_id, producto)
    shop, _settings = shop_for(_db(ctx))
    thread = _thread(ctx)
    try:
        order = await shop.open_order(thread)
        if order is None:
            order = await shop.create([Line(product.id, quantity)], channel="chat", thread_id=thread,
                                      user_id=ctx.caller.user_id)
        else:
            order = await shop.add(order.id, [Line(product.id, quantity)])
    except ShopError as exc:
        raise ToolError(exc.message) from None
    return {**await _summary(ctx, order), "agregado": f"{quantity} x {product.name}"}


@tool(
    examples=["¿qué llevo en mi pedido?", "muéstrame mi carrito", "¿cuánto va mi pedido?", "ver pedido",
              "¿cuál es el total?", "what's in my order?"],
    template={"es": "Tu pedido #{pedido_id} ({estado}):\n{resumen}\nTotal: {total_texto}",
              "en": "Your order #{pedido_id} ({estado}):\n{resumen}\nTotal: {total_texto}"},
)
async def ver_pedido(ctx: ToolContext) -> dict:
    """The customer's order in progress: items, quantities and total."""
    order = await shop_for(_db(ctx))[0].open_order(_thread(ctx))
    if order is None:
        raise ToolError("Todavía no tienes un pedido abierto. Dime qué producto quieres y lo armamos.")
    return await _summary(ctx, order)


@tool(
    examples=["quita el producto 5 de mi pedido", "ya no quiero las camisetas", "elimina el 12 del carrito",
              "saca los audífonos", "remove product 3", "quita la licuadora", "mejor no quiero el termo",
              "borra los tenis del pedido"],
    cue=REMOVE_CUE,
    template={"es": "Listo, lo quité. Tu pedido #{pedido_id}:\n{resumen}\nTotal: {total_texto}",
              "en": "Done. Your order #{pedido_id}:\n{resumen}\nTotal: {total_texto}"},
)
async def quitar_del_pedido(ctx: ToolContext, producto_id: int | None = None, producto: str | None = None) -> dict:
    """Remove a product from the order in progress (its units go back to stock).

    Args:
        producto_id: The product number.
        producto: The product's name when there is no number.
    """
    shop, _settings = shop_for(_db(ctx))
    order = await shop.open_order(_thread(ctx))
    if order is None:
        raise ToolError("No tienes un pedido abierto.")
    async with _db(ctx).sessionmaker() as session:
        items = (await items_of(session, [order.id]))[order.id]
    target = None
    if producto_id is not None:
        target = next((i for i in items if i.product_id == producto_id), None)
    elif producto:
        words = set(catalog.terms(producto))
        scored = sorted(items, key=lambda i: -len(words & set(catalog.terms(i.name))))
        target = scored[0] if scored and words & set(catalog.terms(scored[0].name)) else None
    if target is None:
        raise ToolError("Ese producto no está en tu pedido.")
    try:
        order = await shop.set_quantity(order.id, target.product_id, 0)
    except ShopError as exc:
        raise ToolError(exc.message) from None
    return await _summary(ctx, order)


@tool(
    examples=["quiero pagar", "finalizar compra", "eso es todo", "confirmo el pedido", "listo, ¿cómo pago?",
              "terminar pedido", "quiero hacer el pedido", "checkout", "sí, confirmo", "proceder con la compra"],
    template={"es": "{mensaje}", "en": "{mensaje}"},
)
async def confirmar_pedido(ctx: ToolContext, confirmar: bool | None = None) -> dict:
    """Check out the order in progress: ask for the customer's missing data, then, once they say yes,
    close the sale (the stock is discounted).

    Args:
        confirmar: True when the customer has said yes to the final summary; false when they said no.
    """
    shop, _settings = shop_for(_db(ctx))
    order = await shop.open_order(_thread(ctx))
    if order is None:
        raise ToolError("No tienes un pedido abierto. Dime qué producto quieres y lo armamos.")
    try:
        if confirmar is False:
            summary = await _summary(ctx, order)
            return {**summary, "mensaje": "Listo, el pedido sigue abierto. ¿Qué quieres cambiar?"}
        if confirmar and order.state == PENDING:
            order = await shop.confirm(order.id)
            summary = await _summary(ctx, order)
            return {**summary, "mensaje": f"¡Listo! Tu pedido #{order.id} quedó confirmado por "
                                          f"{summary['total_texto']}. Lo enviaremos a {order.address}. ¡Gracias por tu compra!"}
        order = await shop.collect(order.id)
    except ShopError as exc:
        raise ToolError(exc.message) from None
    summary = await _summary(ctx, order)
    if order.state == PENDING:
        text = (f"Tu pedido #{order.id}:\n{summary['resumen']}\nTotal: {summary['total_texto']}\n"
                f"A nombre de {order.name} (cédula {order.cedula}), teléfono {order.phone}, para enviar a "
                f"{order.address}.\n{_next_question(order)}")
    else:
        text = (f"Tu pedido #{order.id}:\n{summary['resumen']}\nTotal: {summary['total_texto']}\n"
                f"Para el envío necesito tus datos. {_next_question(order)}")
    return {**summary, "mensaje": text, "faltan": missing_fields(order)}


@tool(
    examples=["me llamo Ana Gómez", "mi cédula es 1023456789", "mi celular es 3001234567",
              "la dirección es Calle 10 # 20-30, Medellín", "soy Juan Pérez, cédula 80123456",
              "envíalo a la Carrera 45 # 12-30", "mi nombre es Carlos Ruiz", "cc 52345678"],
    template={"es": "{mensaje}", "en": "{mensaje}"},
)
async def datos_cliente(ctx: ToolContext, nombre: str | None = None, cedula: str | None = None,
                        telefono: str | None = None, direccion: str | None = None) -> dict:
    """Record the customer's data for the order in progress (name, cédula, phone, address); each is
    validated and asked again when wrong.

    Args:
        nombre: First name and surname.
        cedula: The customer's cédula number.
        telefono: A mobile or landline number.
        direccion: The delivery address.
    """
    shop, _settings = shop_for(_db(ctx))
    order = await shop.open_order(_thread(ctx))
    if order is None:
        raise ToolError("Primero armemos tu pedido: dime qué producto quieres.")
    good, errors = validate({"name": nombre, "cedula": cedula, "phone": telefono, "address": direccion})
    if not good.given() and not errors:
        return {"mensaje": _next_question(order), "pedido_id": order.id, "estado": order.state}
    try:
        if good.given():
            order = await shop.set_customer(order.id, good)
    except ShopError as exc:
        raise ToolError(exc.message) from None
    if errors:
        field = next(iter(errors))
        text = f"{errors[field]} {FIELD_QUESTIONS[field]['es']}"
        return {"mensaje": text, "pedido_id": order.id, "estado": order.state, "errores": errors}
    if order.state == PENDING:
        return await confirmar_pedido.fn(ctx)
    thanks = f"Gracias, {order.name.split()[0]}. " if order.name and good.name else "Anotado. "
    return {"mensaje": thanks + _next_question(order), "pedido_id": order.id, "estado": order.state,
            "faltan": missing_fields(order)}


@tool(
    examples=["cancela mi pedido", "ya no quiero nada", "anula el pedido", "cancel my order"],
    template={"es": "Cancelé tu pedido #{pedido_id}; los productos volvieron al inventario.",
              "en": "I cancelled your order #{pedido_id}."},
)
async def cancelar_pedido(ctx: ToolContext) -> dict:
    """Cancel the order in progress (its units go back to stock)."""
    shop, _settings = shop_for(_db(ctx))
    order = await shop.open_order(_thread(ctx))
    if order is None:
        raise ToolError("No tienes un pedido abierto.")
    try:
        order = await shop.cancel(order.id)
    except ShopError as exc:
        raise ToolError(exc.message) from None
    return {"pedido_id": order.id, "estado": order.state}


TOOLS = [buscar_producto, detalle_producto, agregar_al_pedido, ver_pedido, quitar_del_pedido, confirmar_pedido,
         datos_cliente, cancelar_pedido]
__all__ = ["CLOSED", "TOOLS"]
