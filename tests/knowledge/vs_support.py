"""Shared by the vector store tests: small sample files of every format, uploads, waits, direct SQL."""

from __future__ import annotations

import asyncio
import io
import time

from openai import OpenAI
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

# Small chunks: the bundled embedder costs ~45 ms per 64 tokens, tests stay short.
SMALL = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20}}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63"
                    "f8cfc0f01f0005000201a5f0e7c70000000049454e44ae426082")


def pdf_bytes(lines: list[str]) -> bytes:
    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"), NameObject("/Encoding"): NameObject("/WinAnsiEncoding")}))
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        raw = line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
        ops.append(f"({raw.decode('latin-1')}) Tj T*")
    ops.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page = writer.add_blank_page(612, 792)
    page[NameObject("/Contents")] = writer._add_object(stream)
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes(title: str, body: str) -> bytes:
    import pptx

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = title
    slide.placeholders[1].text_frame.text = body
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def upload(client: OpenAI, name: str, data: bytes | str, content_type: str = "text/plain") -> str:
    raw = data.encode() if isinstance(data, str) else data
    return client.files.create(file=(name, io.BytesIO(raw), content_type), purpose="assistants").id


def counts_add_up(obj) -> None:
    c = obj.file_counts
    assert c.total == c.in_progress + c.completed + c.failed + c.cancelled, c


def wait_store(client: OpenAI, store_id: str, timeout: float = 120.0):
    """The store once nothing in it is in progress (counts checked at every read)."""
    deadline = time.monotonic() + timeout
    while True:
        store = client.vector_stores.retrieve(store_id)
        counts_add_up(store)
        if store.file_counts.in_progress == 0:
            return store
        assert time.monotonic() < deadline, f"{store_id} still in progress: {store.file_counts}"
        time.sleep(0.1)


def words(n: int, seed: str = "palabra") -> str:
    """About ``n`` tokens of varied Spanish text (sentences), for files that take a while."""
    base = ("La declaración de renta de las personas naturales se presenta cada año según el calendario. "
            "El contribuyente revisa sus ingresos, patrimonio, deducciones y retenciones antes de firmar. ")
    parts, i = [], 0
    while len(" ".join(parts)) < n * 4:
        parts.append(f"{seed} {i}: " + base)
        i += 1
    return "\n\n".join(parts)


def sql(database_url: str, statement: str, **params):
    """Run one statement on the server's database (from the test thread); rows for a SELECT."""
    from sqlalchemy import text

    from hilo.kit.db.session import Database

    async def go():
        db = Database(database_url)
        try:
            async with db.sessionmaker() as session:
                result = await session.execute(text(statement), params)
                rows = result.all() if result.returns_rows else None
                await session.commit()
                return rows
        finally:
            await db.dispose()

    return asyncio.run(go())


__all__ = ["PNG", "SMALL", "counts_add_up", "docx_bytes", "pdf_bytes", "pptx_bytes", "sql", "upload", "wait_store",
           "words"]
