"""The README documents every setting (datasette's habit: undocumented = failing)."""

from pathlib import Path

from hilo.kit.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [f"HILO_{name.upper()}" for name in Settings.model_fields if f"HILO_{name.upper()}" not in README]
    assert not missing, f"undocumented settings: {missing}"


def test_readme_shows_the_ci_test_command():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README
