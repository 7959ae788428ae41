"""Catalogue search on the knowledge layer's hybrid index (:class:`hilo.knowledge.index.StoreIndex`).

Each product is one entry of a per-process index (dense e5 vectors + Spanish-aware BM25, fused
by reciprocal rank fusion), loaded from the rows' stored vectors and kept current by the
catalogue version that every write of a product's text bumps in the same transaction
(``shop_meta``). Filters (category, highest price, in stock) apply to the best candidates
read back from the database, so price and stock always come from the rows, never the index.

A result must be *about* the query: it shares a term with it, or its vector is close
(:data:`SEMANTIC_FLOOR`); a question about nothing the shop sells finds nothing rather than
the nearest unrelated product. When every word of the query is a word of the catalogue, the
lexical ranking is the answer (products naming all the words first) and no query embedding is
computed; a word the catalogue lacks (a typo, a synonym, another language) takes the hybrid
path, where the vectors find what the words cannot.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from hilo.kit.db.session import Database
from hilo.kit.ids import now
from hilo.knowledge.embeddings import EmbeddingsUnavailable, embeddings_for
from hilo.knowledge.index import StoreIndex
from hilo.knowledge.lexical import terms as lexical_terms
from hilo.packs.commerce.models import Meta, Product, SearchLog

LOCAL = "e5-small-q4"  # the bundled embedder's name (the demo shop ships its vectors)
# words that say how the customer wants it, not what: they need not name the product
_ASKING = set(lexical_terms("barato barata baratos baratas economico economica oferta ofertas promocion descuento "
                            "original originales bueno buena buenos buenas bonito bonita regalo regalar nuevo nueva"))
log = logging.getLogger("hilo.packs.commerce")
SEMANTIC_FLOOR = 0.855  # e5 cosines: unrelated query-product pairs reach 0.85 ("carro" - cargador), real matches 0.86-0.90
DEPTH = 60  # candidates read back before the filters
GROUP = 500  # consecutive product ids indexed (and re-indexed) together
COVERAGE_DEPTH = 20  # lexical candidates checked for naming every word of the query


def product_text(product: Product) -> str:
    return f"{product.name}. {product.category}. {product.description}"


def text_key(product: Product, embedder: str = LOCAL) -> str:
    """The hash of the product's text and the embedder that reads it: a vector made by another
    embedder (HILO_EMBEDDINGS_BASE_URL) or for an older text is made again."""
    return hashlib.sha1(f"{embedder}\n{product_text(product)}".encode()).hexdigest()


async def bump_version(session: AsyncSession) -> None:
    """Call in the transaction that changes a product's name, description, category or activity."""
    moved = await session.execute(update(Meta).where(Meta.key == "catalog_version")
                                  .values(value=Meta.value + 1))
    if moved.rowcount == 0:
        session.add(Meta(key="catalog_version", value=1))
        await session.flush()


async def ensure_vectors(session: AsyncSession, settings: Any, products: list[Product]) -> int:
    """Embed the products whose text changed since their vector (the caller commits)."""
    embedder = embeddings_for(settings)
    name = embedder.name
    stale = [p for p in products if p.embedding is None or p.embedding_key != text_key(p, name)]
    if not stale:
        return 0
    for start in range(0, len(stale), 256):
        batch = stale[start:start + 256]
        vectors = await embedder.passages([product_text(p) for p in batch])
        for product, vector in zip(batch, vectors, strict=True):
            product.embedding = np.asarray(vector, dtype=np.float32).tobytes()
            product.embedding_key = text_key(product, name)
    return len(stale)


@dataclass(slots=True)
class Found:
    product: Product
    score: float  # in [0, 1]
    lexical: bool  # shares a term with the query


class CatalogIndex:
    """The index of one database's catalogue, in this process."""

    def __init__(self) -> None:
        self.index = StoreIndex()
        self.version = -1
        self.keys: dict[int, str] = {}
        self.embedder: str | None = None
        self.lock = asyncio.Lock()

    async def refresh(self, db: Database, settings: Any) -> None:
        """Bring the index to the catalogue's current version. Products are indexed in groups
        of :data:`GROUP` consecutive ids (one index entry per group, re-added whole when one of
        its products changes), so loading 100,000 products is 200 batched adds, not 100,000."""
        async with db.sessionmaker() as session:
            version = await session.scalar(select(Meta.value).where(Meta.key == "catalog_version")) or 0
        if version == self.version:
            return
        async with self.lock:
            if version == self.version:
                return
            name = embeddings_for(settings).name
            async with db.sessionmaker() as session:
                rows = (await session.execute(select(Product.id, Product.embedding_key)
                                              .where(Product.active.is_(True)))).all()
            current = {int(i): k for i, k in rows}
            every = self.embedder is not None and self.embedder != name  # another embedder: all again
            groups = {i // GROUP for i, k in current.items() if every or k is None or self.keys.get(i) != k}
            groups |= {i // GROUP for i in set(self.keys) - set(current)}
            for group in sorted(groups):
                await self._load_group(db, settings, group)
            self.version = version
            self.embedder = name

    async def _load_group(self, db: Database, settings: Any, group: int) -> None:
        async with db.sessionmaker() as session:
            products = list(await session.scalars(select(Product).where(
                Product.id >= group * GROUP, Product.id < (group + 1) * GROUP, Product.active.is_(True))
                .order_by(Product.id)))
            try:
                if await ensure_vectors(session, settings, products):
                    await session.commit()
            except EmbeddingsUnavailable as exc:  # searchable by its words until vectors can be made
                log.warning("catalogue vectors unavailable (%s); those products are searched lexically", exc)
        for stale in [i for i in self.keys if i // GROUP == group]:
            del self.keys[stale]
        if not products:
            self.index.remove(f"g{group}")
            return
        dim = next((len(p.embedding) // 4 for p in products if p.embedding), self.index.dim or 384)
        vectors = np.stack([np.frombuffer(p.embedding, dtype=np.float32) if p.embedding and len(p.embedding) == dim * 4
                            else np.zeros(dim, dtype=np.float32) for p in products])
        self.index.add(f"g{group}", [p.id for p in products], [product_text(p) for p in products], vectors)
        for product in products:
            if product.embedding is not None:
                self.keys[product.id] = product.embedding_key or ""


_indexes: dict[int, CatalogIndex] = {}


def index_for(db: Database) -> CatalogIndex:
    found = _indexes.get(id(db))
    if found is None:
        found = _indexes[id(db)] = CatalogIndex()
    return found


async def _rows(db: Database, ids: list[int], category: str | None, max_price: float | None,
                in_stock: bool) -> dict[int, Product]:
    """The candidates still matching the filters (without their vectors: the index has them)."""
    if not ids:
        return {}
    stmt = (select(Product).where(Product.id.in_(ids), *filters(category, max_price, in_stock))
            .options(defer(Product.embedding)))
    async with db.sessionmaker() as session:
        return {p.id: p for p in await session.scalars(stmt)}


def filters(category: str | None = None, max_price: float | None = None, in_stock: bool = False) -> list:
    where = [Product.active.is_(True)]
    if category:
        where.append(func.lower(Product.category) == category.lower())
    if max_price is not None:
        where.append(Product.price <= Decimal(str(max_price)))
    if in_stock:
        where.append(Product.stock > 0)
    return where


async def search(db: Database, settings: Any, query: str | None, *, category: str | None = None,
                 max_price: float | None = None, in_stock: bool = False, limit: int = 5) -> list[Found]:
    """The products best matching ``query`` under the filters, best first; no query: the
    catalogue under the filters, cheapest first."""
    query = (query or "").strip()
    if not query:
        async with db.sessionmaker() as session:
            rows = await session.scalars(select(Product).where(*filters(category, max_price, in_stock))
                                         .order_by(Product.price, Product.id).limit(limit))
            return [Found(p, 0.0, False) for p in rows]
    catalog = index_for(db)
    await catalog.refresh(db, settings)
    wanted = set(lexical_terms(query)) - _ASKING
    wanted = wanted or set(lexical_terms(query))
    if wanted and all(catalog.index.knows(t) for t in wanted):
        # Every word of the query is a word of the catalogue: BM25 ranks the products by the
        # words they share (those naming all of them lead), and the vectors, there for words the
        # catalogue lacks (typos, synonyms, another language), are not needed: no query embedding.
        hits, rows, shown = await _lexical(db, catalog, query, category, max_price, in_stock, limit)
        if shown:
            naming = [h for h in shown[:COVERAGE_DEPTH]
                      if wanted <= set(lexical_terms(product_text(rows[h.chunk_id])))]
            first = {h.chunk_id for h in naming}
            ordered = naming + [h for h in shown if h.chunk_id not in first]
            return [Found(rows[h.chunk_id], h.score, True) for h in ordered][:limit]
    try:
        vector = await embeddings_for(settings).query(query)
    except EmbeddingsUnavailable as exc:  # the words still search
        log.warning("query embedding unavailable (%s); the catalogue is searched by its words", exc)
        _hits, rows, shown = await _lexical(db, catalog, query, category, max_price, in_stock, limit)
        return [Found(rows[h.chunk_id], h.score, True) for h in shown][:limit]
    hits = catalog.index.search(query, vector, k=DEPTH)
    if not hits:
        return []
    rows = await _rows(db, [h.chunk_id for h in hits], category, max_price, in_stock)
    found: list[Found] = []
    for hit in hits:
        product = rows.get(hit.chunk_id)
        if product is None:  # filtered out (or gone since the index was read)
            continue
        lexical = hit.lexical_rank is not None
        # the index's exact cosine (None: not among the dense candidates, so only a shared word keeps it)
        if lexical or (hit.cosine is not None and hit.cosine >= SEMANTIC_FLOOR):
            found.append(Found(product, hit.score, lexical))
    # products that name the query first, then its close neighbours (a synonym, a typo)
    found = [f for f in found if f.lexical] + [f for f in found if not f.lexical]
    return found[:limit]


async def _lexical(db: Database, catalog: CatalogIndex, query: str, category: str | None, max_price: float | None,
                   in_stock: bool, limit: int) -> tuple[list, dict[int, Product], list]:
    """(hits, their rows under the filters, the hits shown) of the words alone."""
    hits = catalog.index.search(query, None, k=DEPTH, mode="lexical")
    # the first candidates, then the rest only if the filters left too few (rows cost ~80 us each)
    rows = await _rows(db, [h.chunk_id for h in hits[:COVERAGE_DEPTH]], category, max_price, in_stock)
    if len(rows) < limit and len(hits) > COVERAGE_DEPTH:
        rows |= await _rows(db, [h.chunk_id for h in hits[COVERAGE_DEPTH:]], category, max_price, in_stock)
    return hits, rows, [h for h in hits if h.chunk_id in rows]


def terms(text: str) -> list[str]:
    """The index's own terms of a text (folded, stemmed): what "names the query" means."""
    return lexical_terms(text)


async def log_search(db: Database, thread_id: str | None, query: str, product_ids: list[int]) -> None:
    """Keep what a conversation searched and found (``/exportar/conversaciones-rag``)."""
    async with db.sessionmaker() as session:
        session.add(SearchLog(thread_id=thread_id, query=query[:500], product_ids=",".join(map(str, product_ids))[:400],
                              created_at=now()))
        await session.commit()
