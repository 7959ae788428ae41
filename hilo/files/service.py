"""Files: bytes on disk under ``HILO_DATA_DIR/files``, metadata in the database.

Uploads are copied in chunks and refused (and removed) past ``HILO_MAX_UPLOAD_MB``; a row that
cannot be stored takes its bytes with it.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hilo.files.models import File
from hilo.kit.config import Settings
from hilo.kit.db.session import Database
from hilo.kit.errors import TooLarge
from hilo.kit.ids import new_id, now

PURPOSES = {"assistants", "vision", "batch", "fine-tune", "user_data", "evals"}
CHUNK = 1024 * 1024


class Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


def too_large(settings: Settings) -> TooLarge:
    return TooLarge(f"File too large: the limit is {settings.max_upload_mb:g} MB (HILO_MAX_UPLOAD_MB).",
                    code="file_too_large")


async def store_upload(upload: Readable, settings: Settings, file_id: str) -> int:
    """Copy the upload to disk in chunks; refuse (and remove) anything over the limit."""
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    path = settings.files_dir / file_id
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > settings.max_upload_bytes:
                out.close()
                path.unlink(missing_ok=True)
                raise too_large(settings)
            out.write(chunk)
    return size


async def add_file(session: AsyncSession, settings: Settings, file_id: str, size: int, filename: str,
                   purpose: str, content_type: str | None, user_id: str | None) -> File:
    """The row of bytes already stored under ``file_id``, committed; the bytes go if the row
    cannot be stored."""
    row = File(id=file_id, created_at=now(), bytes=size, filename=filename, purpose=purpose,
               content_type=content_type, storage_path=file_id, user_id=user_id)
    session.add(row)
    try:
        await session.commit()
    except BaseException:
        (settings.files_dir / file_id).unlink(missing_ok=True)
        raise
    return row


async def store_bytes(db: Database, settings: Settings, user_id: str | None, data: bytes, filename: str,
                      content_type: str | None, purpose: str = "vision") -> str:
    """Keep bytes (channel media) as a file the user owns; returns its id."""
    file_id = new_id("file")
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread((settings.files_dir / file_id).write_bytes, data)
    async with db.sessionmaker() as session:
        await add_file(session, settings, file_id, len(data), filename, purpose, content_type, user_id)
    return file_id


__all__ = ["CHUNK", "PURPOSES", "add_file", "store_bytes", "store_upload", "too_large"]
