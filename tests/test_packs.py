"""Packs: entry-point discovery, HILO_PACKS, pack migrations, assistants that keep their ids, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from hilo.app import create_app
from hilo.migrations import current, upgrade
from hilo.packs import Pack
from hilo.packs.loader import PackError, discover, select
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings
from tests.guided_tools import installed
from tests.guided_tools import pack as test_pack

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The test pack, installed through a real ``hilo.packs`` entry point."""
    folder = tmp_path_factory.mktemp("site")
    with installed(folder):
        yield folder


def test_entry_point_discovery(site):
    assert discover()["guided_test"] is test_pack


def test_builtin_packs_are_entry_points():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("entry-points", {}).get("hilo.packs", {})
    found = discover()
    for name in declared:
        assert name in found, f"{name} is declared in pyproject.toml but not installed: run pip install -e ."
        assert isinstance(found[name], Pack)


def test_select_all_none_and_lists():
    a, b = Pack(name="a"), Pack(name="b")
    available = {"a": a, "b": b}
    assert select(available, "all") == [a, b]
    assert select(available, "none") == []
    assert select(available, " b , a ") == [b, a]
    with pytest.raises(PackError, match=r"unknown pack\(s\): nope \(installed: a, b\)"):
        select(available, "a,nope")


def test_unknown_pack_is_a_clear_start_up_error(site, tmp_path):
    with pytest.raises(PackError, match="nope.*guided_test"):
        create_app(make_settings("sqlite+aiosqlite:///:memory:", tmp_path, packs="nope"))


def test_broken_entry_point_names_itself(tmp_path):
    with installed(tmp_path, name="broken", value="tests.no_such_module:pack"):
        with pytest.raises(PackError, match="broken"):
            discover()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_seed_routes_and_assistants_that_keep_their_ids(site, backend, database_factory, tmp_path):
    url = database_factory(backend)
    upgrade(url)
    heads = current(url).split(", ")
    assert "gt01" in heads and len(heads) >= 2  # hilo's own head and each pack's branch
    settings = make_settings(url, tmp_path / "data", packs="guided_test")
    with start_server(settings) as live:
        ids = dict(live.app.state.pack_assistants)
        assert set(ids) == {"guided_test/mentor", "guided_test/courses"}
        with OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0) as client:
            mentor = client.beta.assistants.retrieve(ids["guided_test/mentor"])
            assert mentor.name == "Mentor de prueba"
            assert [t.function.name for t in mentor.tools] == ["get_crypto_price", "get_forex_price", "analyze_image"]
            assert mentor.tools[0].function.parameters is None  # name only: hilo runs it
            assert mentor.metadata == {"hilo_pack": "guided_test", "hilo_key": "mentor", "hilo_language": "es"}
            client.beta.assistants.delete(ids["guided_test/courses"])
        assert httpx.get(live.url + "/guided-test/notes").json() == ["hola"]
    with start_server(settings) as live:
        assert live.app.state.pack_assistants == ids
        with OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0) as client:
            listed = client.beta.assistants.list().data
            assert sorted(a.id for a in listed) == sorted(ids.values())  # updated, re-created, never duplicated
        assert httpx.get(live.url + "/guided-test/notes").json() == ["hola"]  # the seed is idempotent


def test_packs_none_starts_no_pack(site, database_factory, tmp_path):
    url = database_factory("sqlite")
    with start_server(make_settings(url, tmp_path, packs="none")) as live:
        assert live.app.state.pack_assistants == {}
        assert httpx.get(live.url + "/guided-test/notes").status_code == 404


def test_cli_packs_list(site, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "HILO_PACKS": "guided_test",
           "HILO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    out = subprocess.run([sys.executable, "-m", "hilo.cli", "packs", "list"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "guided_test  [enabled]  Test pack" in out.stdout
    assert "tools: get_crypto_price, get_forex_price, analyze_image, buscar_curso, detalle_curso" in out.stdout
    assert "assistants: mentor (Mentor de prueba), courses (Course advisor (test))" in out.stdout
    out = subprocess.run([sys.executable, "-m", "hilo.cli", "packs", "list"], capture_output=True, text=True,
                         env={**env, "HILO_PACKS": "none"})
    assert "guided_test  [disabled]" in out.stdout
