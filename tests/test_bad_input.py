"""Bad input is a 4xx naming what is wrong, the same on SQLite and PostgreSQL, and never harms
what is stored: integers beyond their columns, NUL characters and lone surrogates anywhere
(JSON bodies, metadata keys, paths, queries, form fields, upload file names), message content
over HILO_MAX_MESSAGE_CONTENT_CHARS, bodies over HILO_MAX_REQUEST_MB, unknown cursors,
duplicate course codes, and the WhatsApp webhooks of channels that are off."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from hilo.kit.schemas import INT32_MAX
from hilo.testing.server import start_server
from tests.conftest import make_settings

HUGE = 99999999999999999999999


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def objects(api):
    assistant = api.post("/v1/assistants", json={"model": "scripted/bad-input", "name": "keep"}).json()
    thread = api.post("/v1/threads", json={"messages": [{"role": "user", "content": "first"}]}).json()
    return assistant, thread


def refused(response: httpx.Response, status: int, param: str | None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    return error


def raw_json(api, method: str, path: str, text: str) -> httpx.Response:
    """``text`` sent as is: JSON escapes such as \\ud800 reach the server unchanged."""
    return api.request(method, path, content=text.encode(), headers={"content-type": "application/json"})


# ------------------------------------------------------------------ integers


@pytest.mark.parametrize("value", [INT32_MAX + 1, 9999999999, HUGE, -HUGE])
@pytest.mark.parametrize("field", ["max_prompt_tokens", "max_completion_tokens", "truncation_strategy"])
def test_run_integers_beyond_their_column_are_400(api, objects, field, value):
    assistant, thread = objects
    body = {"assistant_id": assistant["id"]}
    if field == "truncation_strategy":
        body[field], param = {"type": "last_messages", "last_messages": value}, "truncation_strategy.last_messages"
    else:
        body[field], param = value, field
    refused(api.post(f"/v1/threads/{thread['id']}/runs", json=body), 400, param)
    refused(api.post("/v1/threads/runs", json=body), 400, param)
    assert api.get(f"/v1/threads/{thread['id']}/runs").json()["data"] == []  # nothing started


def test_run_integers_at_the_column_limit_are_accepted(api, objects):
    assistant, thread = objects
    run = api.post(f"/v1/threads/{thread['id']}/runs",
                   json={"assistant_id": assistant["id"], "max_prompt_tokens": INT32_MAX,
                         "max_completion_tokens": INT32_MAX,
                         "truncation_strategy": {"type": "last_messages", "last_messages": INT32_MAX}})
    assert run.status_code == 200, run.text
    assert run.json()["max_prompt_tokens"] == INT32_MAX
    _wait_idle(api, thread["id"], run.json()["id"])


def _wait_idle(api, thread_id: str, run_id: str) -> None:
    for _ in range(200):
        if api.get(f"/v1/threads/{thread_id}/runs/{run_id}").json()["status"] not in ("queued", "in_progress"):
            return
        time.sleep(0.05)
    raise AssertionError("the run did not end")


def test_integers_in_free_json_must_fit_a_json_column(api):
    refused(api.post("/v1/assistants", json={"model": "m", "metadata": {}, "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "maximum": 2**64}}}]}),
        400, "tools.0.function.parameters.maximum")
    assert api.post("/v1/assistants", json={"model": "m", "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "maximum": 2**63 - 1}}}]}
    ).status_code == 200
    # tool_resources names only known resources (file_search, code_interpreter): a 400 naming it
    refused(api.post("/v1/assistants", json={"model": "m", "tool_resources": {"n": 1}}), 400, "tool_resources.n")


@pytest.mark.parametrize("path", ["/admin/courses/{huge}", "/admin/courses/2147483648", "/admin/courses?offset={huge}",
                                  "/admin/courses?offset=9223372036854775808"])
def test_course_ids_and_offsets_beyond_their_column_are_400(api, path):
    param = "offset" if "offset" in path else "course_id"
    url = path.format(huge=HUGE)
    refused(api.get(url), 400, param)
    if param == "course_id":
        refused(api.delete(url), 400, param)
        refused(api.patch(url, json={"name": "Otro nombre"}), 400, param)


def test_course_seats_beyond_their_column_are_400(api):
    course = api.get("/admin/courses").json()["data"][0]
    refused(api.patch(f"/admin/courses/{course['id']}", json={"seats": INT32_MAX + 1}), 400, "seats")
    assert api.get(f"/admin/courses/{course['id']}").json() == course


# ------------------------------------------------------------------ NUL and lone surrogates


@pytest.mark.parametrize("text", ['"a\\u0000b"', '"a \\ud800 b"', '"\\udfff"'])
def test_nul_and_lone_surrogates_in_bodies_are_400_naming_the_field(api, objects, text):
    assistant, thread = objects
    tid = thread["id"]
    refused(raw_json(api, "POST", "/v1/assistants", f'{{"model": "m", "name": {text}}}'), 400, "name")
    refused(raw_json(api, "POST", f"/v1/assistants/{assistant['id']}", f'{{"instructions": {text}}}'), 400,
            "instructions")
    refused(raw_json(api, "POST", f"/v1/threads/{tid}/messages", f'{{"role": "user", "content": {text}}}'), 400,
            "content")
    refused(raw_json(api, "POST", f"/v1/threads/{tid}/messages",
                     f'{{"role": "user", "content": [{{"type": "text", "text": {text}}}]}}'), 400, "content.0.text")
    refused(raw_json(api, "POST", "/v1/threads", f'{{"messages": [{{"role": "user", "content": {text}}}]}}'), 400,
            "messages.0.content")
    refused(raw_json(api, "POST", f"/v1/threads/{tid}", f'{{"metadata": {{"k": {text}}}}}'), 400, "metadata.k")
    refused(raw_json(api, "POST", f"/v1/threads/{tid}", f'{{"metadata": {{{text}: "v"}}}}'), 400, "metadata")
    refused(raw_json(api, "POST", f"/v1/threads/{tid}/runs",
                     f'{{"assistant_id": "{assistant["id"]}", "additional_messages": '
                     f'[{{"role": "user", "content": {text}}}]}}'), 400, "additional_messages.0.content")
    refused(raw_json(api, "POST", "/v1/threads/runs",
                     f'{{"assistant_id": {text}}}'), 400, "assistant_id")
    refused(raw_json(api, "POST", "/admin/courses", f'{{"name": {text}}}'), 400, "name")
    # Nothing was stored or changed.
    assert api.get(f"/v1/assistants/{assistant['id']}").json() == assistant
    assert api.get(f"/v1/threads/{tid}").json() == thread
    contents = [m["content"][0]["text"]["value"] for m in api.get(f"/v1/threads/{tid}/messages").json()["data"]]
    assert "first" in contents and not any("\x00" in c for c in contents)


def test_nul_in_the_seed_facade_is_a_400_in_its_envelope(api):
    r = api.post("/api/assistant/chat", json={"message": "ho\x00la"})
    assert r.status_code == 400 and r.json()["success"] is False and "'message'" in r.json()["error"]


def test_nul_in_paths_and_queries_is_400_naming_the_parameter(api, objects):
    _, thread = objects
    refused(api.get(f"/v1/threads/{thread['id']}%00"), 400, "thread_id")
    refused(api.post(f"/v1/threads/{thread['id']}%00/messages", json={"role": "user", "content": "x"}), 400,
            "thread_id")
    refused(api.get("/v1/assistants/asst_%00x"), 400, "assistant_id")
    refused(api.get("/admin/courses/1%00"), 400, "course_id")
    refused(api.get(f"/v1/threads/{thread['id']}/messages?after=msg_%00"), 400, "after")
    refused(api.get("/v1/files?purpose=a%00b"), 400, "purpose")
    refused(api.get("/admin/courses?q=a%00"), 400, "q")
    refused(api.get("/docs/assets/swagger-ui.css%00"), 400, "path")  # static files too


def _multipart(filename: bytes, purpose: bytes = b"assistants") -> tuple[bytes, str]:
    boundary = "hilo-bad-input"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n".encode() + purpose
            + f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".encode() + filename
            + b"\"\r\nContent-Type: text/plain\r\n\r\nhola\r\n" + f"--{boundary}--\r\n".encode())
    return body, f"multipart/form-data; boundary={boundary}"


def test_nul_in_upload_file_names_and_form_fields_is_400(api):
    before = api.get("/v1/files").json()["data"]
    body, content_type = _multipart(b"nota\x00.txt")
    refused(api.post("/v1/files", content=body, headers={"content-type": content_type}), 400, "file")
    body, content_type = _multipart(b"nota.txt", purpose=b"assis\x00tants")
    refused(api.post("/v1/files", content=body, headers={"content-type": content_type}), 400, "purpose")
    assert api.get("/v1/files").json()["data"] == before
    body, content_type = _multipart(b"nota.txt")
    assert api.post("/v1/files", content=body, headers={"content-type": content_type}).status_code == 200


def test_nul_and_lone_surrogates_over_the_websocket_are_refused(api, server):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    assistant = api.post("/v1/assistants", json={"model": "scripted/ws-bad"}).json()["id"]
    base = f"ws://127.0.0.1:{server.port}/ws/assistant/"
    with connect(f"{base}?assistant={assistant}&user=ws-bad", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        for text in ("ho\x00la", "a \ud800 b"):
            ws.send(json.dumps({"type": "message", "message": text}))  # json escapes the surrogate
            frame = json.loads(ws.recv(timeout=10))
            assert frame["type"] == "error" and "no permitido" in frame["message"], frame
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"  # the session goes on
    with connect(f"{base}?assistant=asst_%00x", open_timeout=10) as ws:
        frame = json.loads(ws.recv(timeout=10))
        assert frame["type"] == "error" and "'assistant'" in frame["message"], frame
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1008  # a policy refusal, not 1011 (internal error)


# ------------------------------------------------------------------ sizes


def test_message_content_over_the_limit_is_400_everywhere(database_factory, tmp_path):
    settings = make_settings(database_factory("sqlite"), tmp_path, max_message_content_chars=100)
    with start_server(settings) as live, httpx.Client(base_url=live.url, timeout=30) as api:
        assistant = api.post("/v1/assistants", json={"model": "scripted/size"}).json()["id"]
        thread = api.post("/v1/threads", json={}).json()["id"]
        long, parts = "x" * 101, [{"type": "text", "text": "x" * 60}, {"type": "text", "text": "y" * 41}]
        refused(api.post(f"/v1/threads/{thread}/messages", json={"role": "user", "content": long}), 400, "content")
        refused(api.post(f"/v1/threads/{thread}/messages", json={"role": "user", "content": parts}), 400, "content")
        refused(api.post("/v1/threads", json={"messages": [{"role": "user", "content": "ok"},
                                                           {"role": "user", "content": long}]}), 400,
                "messages.1.content")
        refused(api.post(f"/v1/threads/{thread}/runs", json={"assistant_id": assistant, "additional_messages": [
            {"role": "user", "content": long}]}), 400, "additional_messages.0.content")
        refused(api.post("/v1/threads/runs", json={"assistant_id": assistant, "thread": {"messages": [
            {"role": "user", "content": long}]}}), 400, "thread.messages.0.content")
        assert api.get(f"/v1/threads/{thread}/messages").json()["data"] == []
        ok = api.post(f"/v1/threads/{thread}/messages", json={"role": "user", "content": "x" * 100})
        assert ok.status_code == 200


def test_default_message_limit_is_openais_256000_characters(api, objects):
    _, thread = objects
    r = api.post(f"/v1/threads/{thread['id']}/messages", json={"role": "user", "content": "x" * 256_001})
    assert "256000" in refused(r, 400, "content")["message"]


def test_request_bodies_over_the_cap_are_413(database_factory, tmp_path):
    settings = make_settings(database_factory("sqlite"), tmp_path, max_request_mb=0.01)  # 10 KB
    with start_server(settings) as live, httpx.Client(base_url=live.url, timeout=30) as api:
        big = {"model": "m", "instructions": "x" * 20_000}
        before = api.get("/v1/assistants").json()["data"]  # the packs' own
        r = api.post("/v1/assistants", json=big)
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

        def chunks():  # no Content-Length: refused while streaming
            yield json.dumps(big).encode()

        r = api.post("/v1/assistants", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413, r.text
        r = api.post("/api/assistant/chat", json={"message": "x" * 20_000})
        assert r.status_code == 413 and r.json()["success"] is False  # the facade's envelope
        assert api.get("/v1/assistants").json()["data"] == before
        assert api.post("/v1/assistants", json={"model": "m"}).status_code == 200


# ------------------------------------------------------------------ cursors


def test_unknown_cursors_are_404_naming_the_cursor(api, objects):
    _, thread = objects
    tid = thread["id"]
    for param in ("after", "before"):
        for cursor in ("zzz", "msg_00000000000000000000000", "0"):
            refused(api.get(f"/v1/threads/{tid}/messages", params={param: cursor}), 404, param)
        refused(api.get("/v1/assistants", params={param: "asst_unknown"}), 404, param)
        refused(api.get(f"/v1/threads/{tid}/runs", params={param: "run_unknown"}), 404, param)
        refused(api.get("/v1/files", params={param: "zzz"}), 404, param)
    # Another thread's message is not a cursor of this thread's list.
    other = api.post("/v1/threads", json={"messages": [{"role": "user", "content": "otro"}]}).json()["id"]
    theirs = api.get(f"/v1/threads/{other}/messages").json()["data"][0]["id"]
    refused(api.get(f"/v1/threads/{tid}/messages", params={"after": theirs}), 404, "after")


def test_known_cursors_page_as_before(api):
    thread = api.post("/v1/threads", json={"messages": [{"role": "user", "content": str(i)} for i in range(5)]}).json()
    listed = api.get(f"/v1/threads/{thread['id']}/messages", params={"order": "asc"}).json()["data"]
    ids = [m["id"] for m in listed]
    page = api.get(f"/v1/threads/{thread['id']}/messages", params={"order": "asc", "after": ids[1], "limit": 2}).json()
    assert [m["id"] for m in page["data"]] == ids[2:4] and page["has_more"] is True
    page = api.get(f"/v1/threads/{thread['id']}/messages", params={"order": "asc", "before": ids[3]}).json()
    assert [m["id"] for m in page["data"]] == ids[:3]


# ------------------------------------------------------------------ courses: a refused update keeps the row


def test_duplicate_course_code_is_409_and_leaves_the_row_as_it_was(api):
    first, second = api.get("/admin/courses", params={"limit": 2}).json()["data"]
    taken = api.patch(f"/admin/courses/{first['id']}", json={"code": "0"})
    assert taken.status_code == 200 and taken.json()["code"] == "0"
    r = api.patch(f"/admin/courses/{second['id']}", json={"code": "0", "name": "Nombre que no debe quedar"})
    assert r.status_code == 409 and r.json()["error"]["param"] == "code", r.text
    assert api.get(f"/admin/courses/{second['id']}").json() == second
    new = {k: second[k] for k in ("name", "level", "modality", "price", "currency", "schedule", "duration_weeks",
                                  "hours", "description")}
    r = api.post("/admin/courses", json=new | {"code": "0"})
    assert r.status_code == 409, r.text
    total = api.get("/admin/courses").json()["total"]
    assert api.post("/admin/courses", json=new | {"code": "NUEVO-1"}).status_code == 201
    assert api.get("/admin/courses").json()["total"] == total + 1


# ------------------------------------------------------------------ channels that are off


def test_unconfigured_whatsapp_webhooks_are_not_mounted(api, server):
    assert not (server.settings.twilio_auth_token or server.settings.whatsapp_app_secret)
    for method, path in (("POST", "/webhooks/twilio"), ("POST", "/webhooks/whatsapp"), ("GET", "/webhooks/whatsapp")):
        r = api.request(method, path, data={"Body": "hola"})
        assert r.status_code == 404, (path, r.text)
    paths = api.get("/openapi.json").json()["paths"]
    assert "/webhooks/twilio" not in paths and "/webhooks/whatsapp" not in paths
    status = api.get("/webhooks/health").json()["channels"]
    assert status["twilio"]["configured"] is False and status["whatsapp"]["configured"] is False
