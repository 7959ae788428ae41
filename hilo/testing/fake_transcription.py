"""A real local HTTP server that speaks OpenAI's speech-to-text protocol,
``POST /v1/audio/transcriptions`` (multipart), as OpenAI, faster-whisper-server and LocalAI do.

    with FakeTranscriptionServer(text="hola, quiero comprar unas zapatillas", language="es") as fake:
        settings = Settings(transcription_base_url=fake.base_url, transcription_api_key=fake.api_key, ...)
        ...
        fake.requests[-1]["fields"]["model"], fake.requests[-1]["file"]["filename"]
        fake.fail(503, times=1)            # the next request answers HTTP 503
        fake.text = "otra cosa"            # what later requests transcribe to

It checks the request as OpenAI does: the bearer key (a wrong one answers 401 with OpenAI's
message, which echoes part of the key, so that tests can prove hilo never passes it on), a
multipart body with a non-empty ``file`` part whose name has a supported extension and whose
bytes start like audio, a ``model`` field, and ``response_format`` among json, text, srt,
verbose_json and vtt. It answers the configured ``text`` in the format asked for, with
``language`` and the duration (a WAV's own, else estimated from the size). Every request is recorded in
:attr:`FakeTranscriptionServer.requests`: ``headers`` (lower-case names), ``fields`` (the form's
text fields) and ``file`` (``filename``, ``content_type``, ``data``).
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
import wave
from typing import Any

from hilo.testing.http import QuietHandler, QuietServer

__all__ = ["FakeTranscriptionServer", "parse_multipart"]

EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "opus", "wav", "webm")
FORMATS = ("json", "text", "srt", "verbose_json", "vtt")


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any] | None]:
    """A ``multipart/form-data`` body as (text fields, the ``file`` part or None)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields: dict[str, str] = {}
    upload = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            if name == "file":
                upload = {"filename": part.get_filename(), "content_type": part.get_content_type(), "data": data}
            continue
        fields[name] = data.decode("utf-8")
    return fields, upload


def _looks_like_audio(data: bytes) -> bool:
    return data[:4] in (b"RIFF", b"OggS", b"fLaC", b"\x1a\x45\xdf\xa3") or data[:3] == b"ID3" \
        or data[4:8] == b"ftyp" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def _duration(data: bytes, seconds_per_kb: float) -> float:
    """A WAV's own length; for other containers an estimate from the size."""
    if data[:4] == b"RIFF":
        try:
            with wave.open(io.BytesIO(data)) as audio:
                return round(audio.getnframes() / audio.getframerate(), 2)
        except (wave.Error, EOFError, ZeroDivisionError):
            pass
    return round(max(0.5, len(data) / 1024 * seconds_per_kb), 2)


def _error(message: str, *, type_: str = "invalid_request_error", param: str | None = None,
           code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _stamp(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


class _Handler(QuietHandler):
    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = json.dumps(payload, ensure_ascii=False).encode() if content_type == "application/json" \
            else str(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type if "charset" in content_type or content_type.endswith("json")
                         else content_type + "; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._send(404, _error(f"Unknown path {self.path}"))

    def do_POST(self) -> None:  # noqa: N802
        owner: FakeTranscriptionServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, content_type = owner.answer(self.path.split("?", 1)[0], headers, body)
        self._send(status, payload, content_type)


class FakeTranscriptionServer:
    def __init__(self, text: str = "hola", *, language: str = "spanish", api_key: str | None = "fake-transcription-key",
                 seconds_per_kb: float = 0.1) -> None:
        self.text = text
        self.language = language
        self.api_key = api_key
        self.seconds_per_kb = seconds_per_kb
        self.requests: list[dict[str, Any]] = []
        self._failures: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = QuietServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def fail(self, status: int = 503, times: int = 1, message: str | None = None) -> None:
        """Answer the next ``times`` well-formed requests with ``status`` (OpenAI's error shape)."""
        with self._lock:
            self._failures.extend([(status, message)] * times)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, str]:
        record: dict[str, Any] = {"path": path, "headers": headers, "fields": {}, "file": None}
        with self._lock:
            self.requests.append(record)
        if path.rstrip("/") not in ("/v1/audio/transcriptions", "/audio/transcriptions"):
            return 404, _error(f"Unknown path {path}"), "application/json"
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            given = headers.get("authorization", "").removeprefix("Bearer ")
            shown = f"{given[:3]}{'*' * 8}{given[-4:]}" if len(given) > 8 else given
            return 401, _error(f"Incorrect API key provided: {shown}. You can find your API key at "
                               "https://platform.openai.com/account/api-keys.", code="invalid_api_key"), \
                "application/json"
        content_type = headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return 400, _error("Expected a multipart/form-data body."), "application/json"
        try:
            fields, upload = parse_multipart(content_type, body)
        except (ValueError, UnicodeDecodeError):
            return 400, _error("Could not parse multipart form"), "application/json"
        record["fields"], record["file"] = fields, upload
        if upload is None:
            return 400, _error("you must provide a file", param="file"), "application/json"
        if not fields.get("model"):
            return 400, _error("you must provide a model parameter", param="model"), "application/json"
        ext = upload["filename"].rsplit(".", 1)[-1].lower() if "." in upload["filename"] else ""
        if ext not in EXTENSIONS or not upload["data"] or not _looks_like_audio(upload["data"]):
            return 400, _error(f"Invalid file format. Supported formats: {list(EXTENSIONS)}", param="file",
                               code="invalid_value"), "application/json"
        response_format = fields.get("response_format", "json")
        if response_format not in FORMATS:
            return 400, _error(f"Invalid response_format '{response_format}'", param="response_format"), \
                "application/json"
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, message = failure
            return status, _error(message or "The server had an error while processing your request.",
                                  type_="server_error" if status >= 500 else "invalid_request_error"), \
                "application/json"
        duration = _duration(upload["data"], self.seconds_per_kb)
        text = self.text
        if response_format == "text":
            return 200, text, "text/plain"
        if response_format == "srt":
            return 200, f"1\n{_stamp(0, ',')} --> {_stamp(duration, ',')}\n{text}\n\n", "text/plain"
        if response_format == "vtt":
            return 200, f"WEBVTT\n\n{_stamp(0, '.')} --> {_stamp(duration, '.')}\n{text}\n\n", "text/vtt"
        if response_format == "verbose_json":
            segment = {"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": " " + text, "tokens": [50364],
                       "temperature": float(fields.get("temperature", 0) or 0), "avg_logprob": -0.2,
                       "compression_ratio": 1.1, "no_speech_prob": 0.01}
            return 200, {"task": "transcribe", "language": self.language, "duration": duration, "text": text,
                         "segments": [segment], "usage": {"type": "duration", "seconds": duration}}, \
                "application/json"
        return 200, {"text": text, "usage": {"type": "duration", "seconds": round(duration)}}, "application/json"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeTranscriptionServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
