"""``hilo knowledge add`` / ``list``: a folder into a vector store from the command line, on SQLite
and PostgreSQL, then searched through a server on the same database."""

from __future__ import annotations

import pytest
from openai import OpenAI
from typer.testing import CliRunner

from hilo.kit.config import get_settings
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings
from tests.knowledge.vs_support import PNG


@pytest.fixture(params=BACKENDS)
def cli_env(request, database_factory, tmp_path, monkeypatch):
    url = database_factory(request.param)
    monkeypatch.setenv("HILO_DATABASE_URL", url)
    monkeypatch.setenv("HILO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HILO_PACKS", "none")
    get_settings.cache_clear()
    yield url, tmp_path
    get_settings.cache_clear()


def test_knowledge_add_a_folder_then_list_and_search(cli_env):
    from hilo.cli import app as cli

    url, tmp = cli_env
    docs = tmp / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "rut.txt").write_text("El RUT es el registro único tributario que administra la DIAN.")
    (docs / "sub" / "firma.md").write_text("# Firma\n\nLa firma electrónica se solicita en el portal de la DIAN.")
    (docs / "roto.pdf").write_bytes(b"%PDF-1.4 nothing else")
    (docs / "foto.png").write_bytes(PNG)  # not a format hilo parses: not picked from a folder
    (docs / ".oculto.txt").write_text("hidden files are skipped")
    runner = CliRunner()
    args = ["knowledge", "add", str(docs), "--store", "ayuda", "--chunk-size", "100", "--chunk-overlap", "20"]
    out = runner.invoke(cli, args)
    assert out.exit_code == 1, out.output  # one file failed
    assert "created vector store vs_" in out.output and "3 file(s) queued, 0 unchanged" in out.output
    assert "2 completed, 1 failed" in out.output and "docs/roto.pdf: invalid_file" in out.output
    store_id = out.output.split("created vector store ")[1].split()[0]

    (docs / "rut.txt").write_text("El RUT se actualiza en línea con la firma electrónica.")  # changed
    (docs / "roto.pdf").unlink()
    again = runner.invoke(cli, args)
    assert "1 file(s) queued, 1 unchanged" in again.output and "1 completed, 0 failed" in again.output, again.output
    assert again.exit_code == 0

    listing = runner.invoke(cli, ["knowledge", "list", "--store", "ayuda"])
    assert listing.exit_code == 0, listing.output
    assert f"{store_id}  ayuda  [completed]  2/3 completed" in listing.output
    assert "docs/sub/firma.md  completed" in listing.output and "docs/roto.pdf  failed" in listing.output
    assert runner.invoke(cli, ["knowledge", "list", "--store", "nada"]).exit_code == 1
    assert runner.invoke(cli, ["knowledge", "add", str(tmp / "missing"), "--store", "x"]).exit_code != 0

    live = start_server(make_settings(url, tmp / "data", packs="none"), migrate=False)
    try:
        with OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0) as client:
            hits = client.vector_stores.search(store_id, query="actualizar el RUT en línea")
            assert hits.data[0].filename == "rut.txt" and "se actualiza" in hits.data[0].content[0].text
            assert hits.data[0].attributes["path"] == "docs/rut.txt"
            assert all("administra" not in r.content[0].text for r in hits.data)  # the old version left
    finally:
        live.stop()
