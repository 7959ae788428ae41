"""/v1/files: uploads kept on disk under HILO_DATA_DIR, metadata in the database."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select

from hilo.api.deps import PageDep, PrincipalDep, SessionDep, SettingsDep
from hilo.files import objects
from hilo.files.models import File
from hilo.files.service import PURPOSES, add_file, store_upload
from hilo.identity.policy import owner_of_new, visible
from hilo.kit.errors import NotFound, bad_request
from hilo.kit.ids import new_id
from hilo.kit.pagination import get_or_404, page_of, paginate
from hilo.knowledge.service import forget_file

router = APIRouter(prefix="/v1/files", tags=["files"])


@router.post("")
async def upload_file(session: SessionDep, settings: SettingsDep, file: UploadFile, purpose: Annotated[str, Form()],
                      principal: PrincipalDep):
    if purpose not in PURPOSES:
        raise bad_request(f"Invalid purpose '{purpose}'. Expected one of {sorted(PURPOSES)}.", param="purpose")
    file_id = new_id("file")
    size = await store_upload(file, settings, file_id)
    row = await add_file(session, settings, file_id, size, os.path.basename(file.filename or "upload"), purpose,
                         file.content_type, owner_of_new(principal))
    return objects.file(row)


@router.get("")
async def list_files(session: SessionDep, page: PageDep, principal: PrincipalDep, purpose: str | None = None):
    query = select(File)
    narrowed = visible(principal, File.user_id)
    if narrowed is not None:
        query = query.where(narrowed)
    if purpose:
        query = query.where(File.purpose == purpose)
    rows, more = await paginate(session, query, File, page)
    return page_of([objects.file(f) for f in rows], more)


@router.get("/{file_id}")
async def retrieve_file(file_id: str, session: SessionDep):
    return objects.file(await get_or_404(session, File, file_id))


@router.get("/{file_id}/content")
async def file_content(file_id: str, session: SessionDep, settings: SettingsDep):
    row = await get_or_404(session, File, file_id)
    path = settings.files_dir / row.storage_path
    if not path.is_file():
        raise NotFound(f"The content of file '{file_id}' is missing from storage.")
    return FileResponse(path, media_type=row.content_type or "application/octet-stream", filename=row.filename)


@router.delete("/{file_id}")
async def delete_file(file_id: str, session: SessionDep, settings: SettingsDep):
    row = await get_or_404(session, File, file_id)
    await forget_file(session, file_id)  # it leaves every vector store (memberships and chunks)
    await session.delete(row)
    await session.commit()
    (settings.files_dir / row.storage_path).unlink(missing_ok=True)
    return {"id": file_id, "object": "file", "deleted": True}
