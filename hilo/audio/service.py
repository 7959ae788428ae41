"""One way to turn speech into text, whoever asks (``/v1/audio/transcriptions``, WhatsApp voice
notes, a pack's ``/chat/audio``): :func:`transcribe`."""

from __future__ import annotations

import logging
import math
import re

from hilo.audio.base import Transcript, TranscriptionUnavailable, audio_filename, check_audio
from hilo.kit.errors import InvalidRequest

__all__ = ["NOTHING_CONFIGURED", "announce", "configured", "transcribe"]

log = logging.getLogger("hilo.audio")

NOTHING_CONFIGURED = (
    "No transcription is configured: set HILO_TRANSCRIPTION_BASE_URL (with HILO_TRANSCRIPTION_MODEL and "
    "HILO_TRANSCRIPTION_API_KEY) to an OpenAI-compatible transcription endpoint (OpenAI, faster-whisper-server, "
    "LocalAI), or HILO_WHISPER_MODEL to a local CTranslate2 Whisper model directory (with hilo[audio] installed).")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})?")
MAX_PROMPT_CHARS = 4000


def configured(settings) -> str | None:
    """Which backend ``settings`` choose: ``"endpoint"``, ``"local"``, or None (nothing configured).
    The endpoint wins when both are set."""
    if (getattr(settings, "transcription_base_url", None) or "").strip():
        return "endpoint"
    if (getattr(settings, "whisper_model", None) or "").strip():
        return "local"
    return None


def announce(settings) -> None:
    """Log at start-up which transcription answers (or what is wrong with its configuration)."""
    backend = configured(settings)
    if backend is None:
        log.info("speech to text: none configured (HILO_TRANSCRIPTION_BASE_URL or HILO_WHISPER_MODEL)")
    elif backend == "endpoint":
        from hilo.audio.remote import endpoint_for

        log.info("speech to text: %s (model %s)", endpoint_for(settings).shown_url, settings.transcription_model)
    else:
        from hilo.audio.local import check_model_dir

        try:
            log.info("speech to text: faster-whisper in-process, model %s", check_model_dir(settings.whisper_model))
        except TranscriptionUnavailable as exc:
            log.warning("speech to text: %s (value: %r)", exc.message, settings.whisper_model)


def _language(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _LANGUAGE.fullmatch(value):
        raise InvalidRequest(f"Invalid language '{value[:40]}': use an ISO-639-1 code such as 'en' or 'es'.",
                             param="language")
    return re.split(r"[-_]", value, maxsplit=1)[0].lower()


async def transcribe(settings, data: bytes, filename: str | None = None, content_type: str | None = None,
                     language: str | None = None, prompt: str | None = None, *, temperature: float | None = None,
                     segments: bool = False) -> Transcript:
    """The words spoken in ``data`` (an audio file's bytes: ogg/opus, mp3, wav, flac, m4a, webm, ...).

    ``filename`` and ``content_type`` are the upload's (an endpoint reads the format from the file's
    extension, which is corrected to the container found when it disagrees); ``language`` an
    ISO-639-1 code (detected when None); ``prompt`` text that guides spelling and style;
    ``temperature`` 0-1 (None or 0: Whisper's fallback ladder); ``segments``: also return timed
    segments (the endpoint is asked for ``verbose_json``).

    Raises :class:`InvalidAudio` (400: empty, unsupported, corrupt; :class:`AudioTooLarge`, 413,
    over ``HILO_MAX_AUDIO_MB``), :class:`~hilo.kit.errors.InvalidRequest` (400: a bad language,
    prompt or temperature) and :class:`TranscriptionUnavailable` (503: nothing configured, or the
    configured backend failed). The audio is checked before the configuration, so bad input is a
    400 whatever is configured.
    """
    kind = check_audio(settings, data)
    language = _language(language)
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"Invalid 'prompt': at most {MAX_PROMPT_CHARS} characters.", param="prompt")
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= 1):
        raise InvalidRequest("Invalid 'temperature': a number between 0 and 1.", param="temperature")
    backend = configured(settings)
    if backend is None:
        raise TranscriptionUnavailable(NOTHING_CONFIGURED)
    name = audio_filename(filename, kind)
    if backend == "endpoint":
        from hilo.audio.remote import endpoint_for

        transcriber = endpoint_for(settings)
        return await transcriber.transcribe(data, name, kind, content_type=content_type, language=language,
                                            prompt=prompt, temperature=temperature, segments=segments)
    from hilo.audio.local import local_for

    return await local_for(settings).transcribe(data, name, kind, content_type=content_type, language=language,
                                                prompt=prompt, temperature=temperature, segments=segments,
                                                max_seconds=settings.max_audio_seconds)
