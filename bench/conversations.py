"""Multi-turn guided conversations (issue 10): per-turn tool and argument accuracy, no model.

    .venv/bin/python bench/conversations.py [--part dev|heldout|both] [--db sqlite|postgresql]
                                            [--show-failures] [--reveal-heldout] [--hilo-src DIR]

Starts hilo in-process with ``hilo.testing.server.start_server`` as ``make serve`` runs it with no
keys (every pack enabled, ``HILO_LLM_PROVIDER=auto`` with no endpoint: the guided provider), on a
free loopback port, SQLite in a temporary directory (or a fresh PostgreSQL database
``hilo_conv_<hex>`` on ``HILO_TEST_DATABASE_URL``'s server, default
``postgresql://postgres@127.0.0.1:5432/postgres``, dropped at the end), with the loopback fakes of
Binance and Frankfurter (``hilo.testing.fake_markets``: no internet). Drives every conversation of
``tests/data/conversations/<part>.jsonl`` with the official ``openai`` SDK, one thread per
conversation, scores every turn with ``tests/guided_conversations.py`` (its docstring says how),
prints the report and writes ``bench/results/conversations.json`` (the parts run replace theirs;
the others are kept).

The held-out part is kept out of any tuning: its failures are printed and stored only as where
they are (conversation and turn, kinds, which check failed), unless ``--reveal-heldout``, which
only whoever writes the held-out set should use (and then the JSON still keeps them masked).
``--show-failures`` prints the dev failures in full: utterance, expected, got, why, reply.
``--hilo-src DIR`` puts DIR (e.g. ``git archive HEAD hilo | tar -x -C /tmp/snap``) first on the
path, to score a snapshot while the working tree changes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "conversations.json"


def _commit(hilo_src: str | None) -> str | None:
    """HEAD, marked dirty when the scored package is the working tree's and hilo/ has changes."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        if hilo_src:
            return f"package from {hilo_src} (HEAD was {head})"
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "hilo"], capture_output=True,
                               text=True, check=True).stdout.strip()
        return head + ("+dirty(hilo/)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def _pg_admin(url: str, sql: str) -> None:
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)

    async def run() -> None:
        conn = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                                     password=parsed.password, database=parsed.database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["dev", "heldout", "both"], default="both")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--show-failures", action="store_true", help="print the failures (held-out ones masked)")
    parser.add_argument("--reveal-heldout", action="store_true", help="print held-out failures in full (not for tuning)")
    parser.add_argument("--hilo-src", help="directory holding the hilo package to score (default: the installed one)")
    opts = parser.parse_args()
    if opts.hilo_src:
        sys.path.insert(0, str(Path(opts.hilo_src).resolve()))
    sys.path.insert(1 if opts.hilo_src else 0, str(ROOT))

    from openai import OpenAI
    from sqlalchemy.engine import make_url

    import hilo
    from tests import guided_conversations as gc

    parts = gc.PARTS if opts.part == "both" else (opts.part,)
    reveal = ("dev", "heldout") if opts.reveal_heldout else ("dev",)
    created = None
    with tempfile.TemporaryDirectory(prefix="hilo-conv-") as tmp:
        if opts.db == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/hilo.db"
        else:
            admin = os.environ.get("HILO_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
            created = f"hilo_conv_{uuid.uuid4().hex[:10]}"
            _pg_admin(admin, f'CREATE DATABASE "{created}"')
            url = make_url(admin).set(drivername="postgresql+asyncpg", database=created).render_as_string(hide_password=False)
        try:
            start = time.perf_counter()
            with gc.serve(url, Path(tmp) / "data") as live, \
                    OpenAI(base_url=live.url + "/v1", api_key="unused", max_retries=0, timeout=120) as client:
                results = gc.run_parts(client, parts)
            elapsed = time.perf_counter() - start
        finally:
            if created:
                _pg_admin(admin, f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')

    shown = gc.summarize(results, reveal=reveal)
    print(f"hilo {hilo.__version__} from {Path(hilo.__file__).parent}, commit {_commit(opts.hilo_src)}, {opts.db}, {elapsed:.1f} s")
    print(gc.format_report(shown, show_failures=opts.show_failures))

    stored = gc.summarize(results, reveal=("dev",))  # the file never holds held-out details
    previous = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else {}
    run_info = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _commit(opts.hilo_src), "db": opts.db,
                "hilo": hilo.__version__, "python": platform.python_version(), "cores": os.cpu_count(),
                "seconds": round(elapsed, 1)}
    out = {"target": gc.TARGET, "scoring": "tests/guided_conversations.py", "parts": previous.get("parts", {})}
    for part in parts:
        out["parts"][part] = {"run": run_info, **stored[part]}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
