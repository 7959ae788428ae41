"""/v1/files: uploads kept on disk under HILO_DATA_DIR, metadata in the database."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select

from hilo import serialize
from hilo.api.deps import PageDep, SessionDep, SettingsDep
from hilo.api.errors import APIError, bad_request
from hilo.auth.deps import PrincipalDep, owner_for, visible
from hilo.config import Settings
from hilo.db import models as m
from hilo.ids import new_id
from hilo.store import get_or_404, now, paginate

router = APIRouter(prefix="/v1/files", tags=["files"])

PURPOSES = {"assistants", "vision", "batch", "fine-tune", "user_data", "evals"}
CHUNK = 1024 * 1024


def too_large(settings: Settings) -> APIError:
    return APIError(413, f"File too large: the limit is {settings.max_upload_mb:g} MB (HILO_MAX_UPLOAD_MB).",
                    code="file_too_large")


async def store_upload(upload: UploadFile, settings: Settings, file_id: str) -> int:
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


@router.post("")
async def upload_file(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    file: UploadFile,
    purpose: Annotated[str, Form()],
    principal: PrincipalDep,
):
    if purpose not in PURPOSES:
        raise bad_request(f"Invalid purpose '{purpose}'. Expected one of {sorted(PURPOSES)}.", param="purpose")
    file_id = new_id("file")
    size = await store_upload(file, settings, file_id)
    row = m.File(id=file_id, created_at=now(), bytes=size, filename=os.path.basename(file.filename or "upload"),
                 purpose=purpose, content_type=file.content_type, storage_path=file_id,
                 user_id=owner_for(principal, m.File))
    session.add(row)
    try:
        await session.commit()
    except BaseException:
        (settings.files_dir / file_id).unlink(missing_ok=True)
        raise
    return serialize.file(row)


@router.get("")
async def list_files(session: SessionDep, page: PageDep, principal: PrincipalDep, purpose: str | None = None):
    query = visible(principal, m.File, select(m.File))
    if purpose:
        query = query.where(m.File.purpose == purpose)
    rows, more = await paginate(session, query, m.File, page.limit, page.order, page.after, page.before)
    return serialize.page([serialize.file(f) for f in rows], more)


@router.get("/{file_id}")
async def retrieve_file(file_id: str, session: SessionDep):
    return serialize.file(await get_or_404(session, m.File, file_id))


@router.get("/{file_id}/content")
async def file_content(file_id: str, session: SessionDep, settings: SettingsDep):
    row = await get_or_404(session, m.File, file_id)
    path = settings.files_dir / row.storage_path
    if not path.is_file():
        raise APIError(404, f"The content of file '{file_id}' is missing from storage.")
    return FileResponse(path, media_type=row.content_type or "application/octet-stream", filename=row.filename)


@router.delete("/{file_id}")
async def delete_file(file_id: str, session: SessionDep, settings: SettingsDep):
    row = await get_or_404(session, m.File, file_id)
    await session.delete(row)
    await session.commit()
    (settings.files_dir / row.storage_path).unlink(missing_ok=True)
    return {"id": file_id, "object": "file", "deleted": True}
