"""Real local HTTP servers that speak Twilio's Messages API and Meta's WhatsApp Cloud API.

    with FakeTwilio(sid, token) as twilio, FakeMeta(token) as meta:
        settings = Settings(twilio_api_url=twilio.url, whatsapp_api_url=meta.url, ...)
        url = twilio.add_media(b"...", "image/png")      # a MediaUrl0 that needs the account's auth
        twilio.fail(500, times=2)                         # the next two sends answer HTTP 500
        twilio.wait_for(1)                                # the messages hilo sent
        media_id = meta.add_media(b"...", "audio/ogg")    # a Cloud API media id

Twilio: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (HTTP basic auth, form fields
``From``/``To``/``Body``; 201 with a message resource), media at
``/2010-04-01/Accounts/{sid}/Messages/{MM}/Media/{ME}`` (basic auth; 307 to a CDN path, as
Twilio does). Meta: ``POST /{phone_number_id}/messages`` (bearer token, JSON),
``GET /{media_id}`` (the media's URL) and the download itself (bearer token).
:func:`twilio_signature` and :func:`meta_signature` sign webhooks the way each provider does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hilo.testing.http import QuietHandler, QuietServer

__all__ = ["FakeMeta", "FakeTwilio", "meta_payload", "meta_signature", "twilio_signature"]


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature`` as Twilio computes it (what twilio's RequestValidator checks)."""
    from twilio.request_validator import RequestValidator

    return RequestValidator(auth_token).compute_signature(url, params)


def meta_signature(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` as Meta computes it."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_payload(sender: str, text: str | None = None, *, message_id: str | None = None,
                 phone_number_id: str = "PNID1", name: str = "Cliente", media: dict | None = None) -> dict:
    """A Cloud API ``messages`` webhook with one message (text, or ``media`` such as
    ``{"type": "audio", "audio": {"id": ..., "mime_type": "audio/ogg", "voice": True}}``)."""
    message: dict[str, Any] = {"from": sender, "id": message_id or "wamid." + secrets.token_hex(12),
                               "timestamp": str(int(time.time()))}
    if media is not None:
        message.update(media)
    else:
        message.update({"type": "text", "text": {"body": text or ""}})
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
             "contacts": [{"profile": {"name": name}, "wa_id": sender}], "messages": [message]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"value": value, "field": "messages"}]}]}


class _Handler(QuietHandler):
    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        owner: _FakeServer = self.server.owner  # type: ignore[attr-defined]
        status, headers, data = owner.handle(method, urlsplit(self.path), dict(self.headers.items()), body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _FakeServer:
    prefix = ""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self._failures: list[int] = []
        self._media: dict[str, tuple[bytes, str]] = {}
        self._cond = threading.Condition()
        self._httpd = QuietServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base + self.prefix

    def fail(self, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` sends with ``status``."""
        with self._cond:
            self._failures.extend([status] * times)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Block until ``count`` messages were sent (raises on timeout); returns them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.sent) >= count, timeout):
                raise TimeoutError(f"{len(self.sent)} message(s) sent, expected {count}: {self.sent}")
            return list(self.sent)

    def _record(self, message: dict[str, Any]) -> None:
        with self._cond:
            self.sent.append(message)
            self._cond.notify_all()

    def _failure(self) -> int | None:
        with self._cond:
            return self._failures.pop(0) if self._failures else None

    def handle(self, method, parts, headers, body) -> tuple[int, dict[str, str], bytes]:
        with self._cond:
            self.requests.append((method, parts.path))
        return self._handle(method, parts, {k.lower(): v for k, v in headers.items()}, body)

    def _handle(self, method, parts, headers, body):  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FakeTwilio(_FakeServer):
    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "twilio-test-token") -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        super().__init__()

    def _authorized(self, headers) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return hmac.compare_digest(headers.get("authorization", ""), expected)

    def add_media(self, data: bytes, content_type: str) -> str:
        media_sid = "ME" + secrets.token_hex(16)
        self._media[media_sid] = (data, content_type)
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/MM{secrets.token_hex(16)}/Media/{media_sid}"

    def _handle(self, method, parts, headers, body):
        path = parts.path
        account = f"/2010-04-01/Accounts/{self.account_sid}"
        if path.startswith("/cdn/") and method == "GET":
            found = self._media.get(path.rsplit("/", 1)[1])
            if found is None:
                return _json(404, {"code": 20404, "message": "not found"})
            return 200, {"Content-Type": found[1]}, found[0]
        if not path.startswith(account):
            return _json(404, {"code": 20404, "message": f"The requested resource {path} was not found"})
        if not self._authorized(headers):
            return _json(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if method == "GET" and "/Media/" in path:
            media_sid = path.rsplit("/", 1)[1]
            if media_sid not in self._media:
                return _json(404, {"code": 20404, "message": "not found"})
            return 307, {"Location": f"{self.base}/cdn/{media_sid}"}, b""
        if method == "POST" and path == account + "/Messages.json":
            failure = self._failure()
            if failure:
                return _json(failure, {"code": 20500, "message": "Internal Server Error", "status": failure})
            form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
            if not form.get("To") or not form.get("From"):
                return _json(400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400})
            if len(form.get("Body", "")) > 1600:
                return _json(400, {"code": 21617, "message": "The concatenated message body exceeds the 1600 character limit.",
                                   "status": 400})
            sid = "SM" + secrets.token_hex(16)
            self._record({"sid": sid, "From": form["From"], "To": form["To"], "Body": form.get("Body", "")})
            return _json(201, {"sid": sid, "account_sid": self.account_sid, "status": "queued", "from": form["From"],
                               "to": form["To"], "body": form.get("Body", ""), "num_segments": "1"})
        return _json(404, {"code": 20404, "message": "not found"})


class FakeMeta(_FakeServer):
    prefix = "/v21.0"

    def __init__(self, access_token: str = "meta-test-token") -> None:
        self.access_token = access_token
        super().__init__()

    def add_media(self, data: bytes, content_type: str) -> str:
        media_id = str(10**15 + secrets.randbelow(10**15))
        self._media[media_id] = (data, content_type)
        return media_id

    def _handle(self, method, parts, headers, body):
        if headers.get("authorization") != f"Bearer {self.access_token}":
            return _json(401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}})
        path = parts.path.removeprefix(self.prefix)
        segments = [s for s in path.split("/") if s]
        if method == "GET" and len(segments) == 2 and segments[0] == "download":
            found = self._media.get(segments[1])
            if found is None:
                return _json(404, {"error": {"message": "not found", "code": 100}})
            return 200, {"Content-Type": found[1]}, found[0]
        if method == "GET" and len(segments) == 1 and segments[0] in self._media:
            data, kind = self._media[segments[0]]
            return _json(200, {"url": f"{self.url}/download/{segments[0]}", "mime_type": kind,
                               "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data),
                               "id": segments[0], "messaging_product": "whatsapp"})
        if method == "POST" and len(segments) == 2 and segments[1] == "messages":
            failure = self._failure()
            if failure:
                return _json(failure, {"error": {"message": "Service temporarily unavailable", "code": 2}})
            try:
                message = json.loads(body)
                text = message["text"]["body"]
                to = message["to"]
            except (ValueError, KeyError, TypeError):
                return _json(400, {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}})
            if message.get("messaging_product") != "whatsapp" or len(text) > 4096:
                return _json(400, {"error": {"message": "(#100) Invalid parameter", "code": 100}})
            wamid = "wamid." + secrets.token_hex(12)
            self._record({"id": wamid, "phone_number_id": segments[0], "to": to, "body": text})
            return _json(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                               "messages": [{"id": wamid}]})
        return _json(404, {"error": {"message": "Unknown path components", "code": 2500}})
