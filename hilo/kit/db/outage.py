"""Telling a database that is away (restarting, unreachable) from one that answered an error.

A request that meets an outage answers 503 with ``Retry-After`` instead of a 500; the turn path's
raw connections are then dropped, with the whole pool, so that the first requests after the
database is back open fresh connections instead of failing on dead ones one by one.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

RETRY_AFTER_S = 2

_AWAY = (
    ConnectionError,  # refused, reset, aborted
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08, and "the database system is starting up"
    asyncpg.InterfaceError,  # "connection is closed", "connection was closed in the middle of operation"
    asyncpg.exceptions.OperatorInterventionError,  # class 57: admin shutdown, crash shutdown, cannot connect now
)


def unavailable(error: BaseException | None) -> bool:
    """Was ``error`` (or what caused it) the database going away?"""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, _AWAY):
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, OSError) and error.errno is not None and not isinstance(error, FileNotFoundError):
            return True  # e.g. "Connect call failed", "Network is unreachable"
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
        seen += 1
    return False


__all__ = ["RETRY_AFTER_S", "unavailable"]
