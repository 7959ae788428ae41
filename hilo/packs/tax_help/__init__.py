"""Seed 003's tax help desk: the "Asistente Virtual DIAN" and the documents it answers from.

The documents in ``knowledge/`` (written for hilo about Colombian income tax for individuals,
each stating its tax year and citing its public sources) are loaded into the assistant's vector
store on first start and whenever they change (:mod:`hilo.packs.knowledge`); the assistant uses
``file_search`` over them, with citations, on any model or none. It answers the seed's WebSocket
``/ws/assistant/`` by default.
"""

from pathlib import Path

from hilo.packs import Pack

pack = Pack(
    name="tax_help",
    description="Mesa de ayuda tributaria (DIAN): declaración de renta de personas naturales, con fuentes.",
    assistants=[Path(__file__).parent / "dian.toml"],
)
