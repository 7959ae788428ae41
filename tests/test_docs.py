"""The README documents every setting (datasette's habit: undocumented = failing)."""

from pathlib import Path

from hilo.kit.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [f"HILO_{name.upper()}" for name in Settings.model_fields if f"HILO_{name.upper()}" not in README]
    assert not missing, f"undocumented settings: {missing}"


def test_every_pack_setting_is_documented():
    """Packs read their own ``HILO_<PACK>_*`` variables (pydantic-settings classes of their own)."""
    from hilo.packs.commerce.settings import CommerceSettings
    from hilo.packs.council.settings import CouncilSettings

    missing = []
    for cls in (CommerceSettings, CouncilSettings):
        prefix = cls.model_config["env_prefix"]
        missing += [f"{prefix}{n.upper()}" for n in cls.model_fields if f"{prefix}{n.upper()}" not in README]
    assert not missing, f"undocumented settings: {missing}"


def test_readme_shows_the_ci_test_command():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README


ROOT = Path(__file__).parent.parent


def test_every_file_the_code_points_to_exists():
    """Docstrings and comments that name a document (``docs/x.md``, ``bench/README.md``) name a real one."""
    import re

    named = set()
    for path in (ROOT / "hilo").rglob("*.py"):
        named |= {(path, m) for m in re.findall(r"\b((?:docs|bench|tests)/[\w./-]+\.(?:md|py|toml|jsonl))\b",
                                                path.read_text())}
    missing = [f"{path.relative_to(ROOT)} -> {target}" for path, target in named if not (ROOT / target).exists()]
    assert not missing, missing


def test_readme_sections_the_code_points_to_exist():
    import re

    headings = {line.lstrip("#").strip() for line in README.splitlines() if line.startswith("#")}
    for path in (ROOT / "hilo").rglob("*.py"):
        for section in re.findall(r'README,? "([^"]+)"', path.read_text()):
            section = " ".join(section.split())
            assert any(h.startswith(section) for h in headings), f"{path.relative_to(ROOT)}: README section {section!r}"
