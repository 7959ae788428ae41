"""Files: upload, retrieve, list, content, delete, and the size limit."""

import httpx
import openai
import pytest


def test_file_lifecycle(client):
    f = client.files.create(file=("notes.txt", b"hola mundo", "text/plain"), purpose="assistants")
    assert f.id.startswith("file_") and f.bytes == 10 and f.filename == "notes.txt" and f.purpose == "assistants"
    assert client.files.retrieve(f.id).bytes == 10
    assert f.id in [x.id for x in client.files.list(purpose="assistants")]
    assert client.files.content(f.id).read() == b"hola mundo"
    assert client.files.delete(f.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)


def test_upload_limit(server):
    limit = int(server.settings.max_upload_bytes)
    r = httpx.post(server.url + "/v1/files", data={"purpose": "assistants"},
                   files={"file": ("big.bin", b"x" * (limit + 1), "application/octet-stream")}, timeout=60)
    assert r.status_code == 413
    assert "10 MB" in r.json()["error"]["message"]
    r = httpx.post(server.url + "/v1/files", data={"purpose": "nonsense"},
                   files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 400
    r = httpx.post(server.url + "/v1/files", data={"purpose": "assistants"})
    assert r.status_code == 400
    listed = httpx.get(server.url + "/v1/files", params={"limit": 100}).json()["data"]
    assert all(f["filename"] != "big.bin" for f in listed)
