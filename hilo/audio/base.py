"""What every transcription backend shares: the transcript, the refusals, and the checks made on
the audio before any backend sees it (empty, too large, not a container a transcriber reads)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from hilo.kit.errors import InvalidRequest, Unavailable

__all__ = ["FORMATS", "AudioTooLarge", "InvalidAudio", "Segment", "Transcript", "TranscriptionUnavailable",
           "audio_filename", "check_audio", "safe_url", "sniff", "too_large"]


class TranscriptionUnavailable(Unavailable):
    """No transcription is configured, or the configured one failed (HTTP 503). The message says
    what to configure or what went wrong, and never holds a key or a URL's credentials."""

    code_default = "transcription_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, code=self.code_default)


class InvalidAudio(InvalidRequest):
    """The audio cannot be transcribed: empty, not a supported format, corrupt (HTTP 400)."""

    def __init__(self, message: str, *, code: str = "invalid_audio", param: str | None = "file",
                 status: int | None = None) -> None:
        super().__init__(message, param=param, code=code, status=status)


class AudioTooLarge(InvalidAudio):
    """Over ``HILO_MAX_AUDIO_MB`` (HTTP 413, as every other body over its limit in hilo)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="audio_too_large", status=413)


def too_large(settings) -> AudioTooLarge:
    return AudioTooLarge(f"Audio file too large: the limit is {settings.max_audio_mb:g} MB (HILO_MAX_AUDIO_MB).")


@dataclass(frozen=True)
class Segment:
    """A timed piece of the transcript (OpenAI's ``verbose_json`` segment)."""

    id: int
    start: float
    end: float
    text: str
    seek: int = 0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class Transcript:
    """``text`` as spoken; ``language`` (ISO-639-1 code, or the name an endpoint gave) and
    ``duration`` (seconds) when the backend knows them; ``segments`` when they were asked for."""

    text: str
    language: str | None = None
    duration: float | None = None
    segments: tuple[Segment, ...] = field(default=())
    backend: str = ""  # "endpoint" | "local"


# Containers OpenAI's endpoint takes (flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm) and AMR,
# by their first bytes; each with the file extensions an endpoint recognises it by.
FORMATS: dict[str, tuple[str, ...]] = {
    "wav": ("wav",), "ogg": ("ogg", "oga", "opus"), "flac": ("flac",), "mp3": ("mp3", "mpeg", "mpga"),
    "mp4": ("m4a", "mp4"), "webm": ("webm", "mkv"), "amr": ("amr",),
}


def _mpeg_frame(head: bytes) -> bool:
    """An MPEG audio frame header (11 sync bits, then no reserved version, layer, bitrate or
    sample rate), or an ADTS header (AAC: 12 sync bits, layer 00)."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    if head[1] & 0xF6 == 0xF0:
        return True
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def sniff(data: bytes) -> str | None:
    """The container of ``data`` (a key of :data:`FORMATS`) by its magic bytes, or None."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3" or _mpeg_frame(head):
        return "mp3"  # an ID3 tag, or an MPEG audio frame (or ADTS AAC, which shares the sync word)
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[:5] == b"#!AMR":
        return "amr"
    return None


def check_audio(settings, data: bytes) -> str:
    """Refuse what no backend can transcribe; returns the container's name."""
    if not data:
        raise InvalidAudio("The audio file is empty.")
    if len(data) > settings.max_audio_bytes:
        raise too_large(settings)
    kind = sniff(data)
    if kind is None:
        raise InvalidAudio("Invalid file format. Supported formats: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, "
                           "opus, wav, webm (and amr).", code="unsupported_audio")
    return kind


def audio_filename(filename: str | None, kind: str) -> str:
    """A file name whose extension says ``kind`` (endpoints such as OpenAI's go by the extension)."""
    name = os.path.basename((filename or "").replace("\\", "/")).strip() or "audio"
    stem, dot, ext = name.rpartition(".")
    if dot and ext.lower() in FORMATS[kind]:
        return name
    return f"{stem if dot and stem else name}.{FORMATS[kind][0]}"


def safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment: what an error message may show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", "")) or "the configured URL"
    except ValueError:
        return "the configured URL"
