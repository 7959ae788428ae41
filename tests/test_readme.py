"""The README's SDK example runs as printed, against a live hilo with no model configured."""

import re
from pathlib import Path

import pytest

from hilo.testing.server import start_server
from tests.conftest import make_settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def _first_python_block() -> str:
    section = README[README.index("## Use it from the `openai` SDK"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sdk_example_runs(database_factory, tmp_path, capsys):
    settings = make_settings(database_factory("sqlite"), tmp_path, llm_provider="auto")
    with start_server(settings) as live:
        code = _first_python_block().replace("http://127.0.0.1:8000", live.url)
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert out.startswith("completed ")  # the function-tool round trip
    assert "14" in out  # the tool output, phrased, then the streamed answer
