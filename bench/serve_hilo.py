"""Fallback launcher: what ``hilo serve`` does, for when ``hilo serve --workers N`` cannot start.

Up to commit 884687e, ``hilo serve --workers N`` (N > 1) called ``Multiprocess(config,
target=..., sockets=...)``, which uvicorn 0.54 refuses (``Multiprocess.__init__`` takes
``(config, sockets)``). ``bench/turns.py`` tries ``hilo serve`` first and uses this file only
if that fails, and records which one ran (``config.hilo_launcher`` in the results). Same steps otherwise: migrations, one recovery pass, a socket bound by
``hilo.cli.bind_socket`` (TCP_NODELAY), the ``hilo.api.app:create_app`` factory.

    python bench/serve_hilo.py --host 127.0.0.1 --port P --workers N
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os


def main() -> None:
    import uvicorn

    from hilo.cli import _log, bind_socket
    from hilo.config import get_settings
    from hilo.db.migrate import upgrade

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    settings = get_settings()
    _log(settings.log_level)
    upgrade(settings.database_url)
    if args.workers > 1:
        from hilo.db.session import Database
        from hilo.engine.events import EventBus
        from hilo.engine.runner import RunEngine
        from hilo.providers.registry import Providers

        async def _recover() -> int:
            db = Database(settings.database_url)
            try:
                return await RunEngine(db, Providers(settings), EventBus(), settings).recover()
            finally:
                await db.dispose()

        asyncio.run(_recover())
        os.environ["HILO_RECOVER_ON_START"] = "false"
    sock = bind_socket(args.host, args.port)
    logging.getLogger("hilo").info("bench launcher serving on %s:%d (%d workers)", args.host, args.port, args.workers)
    config = uvicorn.Config("hilo.api.app:create_app", factory=True, workers=args.workers,
                            log_level=settings.log_level.lower(), proxy_headers=True,
                            timeout_graceful_shutdown=5)
    if args.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
