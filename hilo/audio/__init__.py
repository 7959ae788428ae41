"""Speech to text: one function, :func:`transcribe`, for every caller.

    from hilo.audio import transcribe, InvalidAudio, TranscriptionUnavailable

    transcript = await transcribe(settings, data, "nota.ogg", "audio/ogg", language="es")
    transcript.text, transcript.language, transcript.duration

Backends, chosen by the settings (:func:`configured`):

- ``remote``: an OpenAI-compatible ``POST {base}/audio/transcriptions`` (OpenAI, faster-whisper-server,
  LocalAI) through the ``openai`` SDK, when ``HILO_TRANSCRIPTION_BASE_URL`` is set;
- ``local``: faster-whisper in this process (the ``hilo[audio]`` extra) when ``HILO_WHISPER_MODEL``
  names a local CTranslate2 Whisper model directory (never a hub name: nothing is downloaded);
- nothing configured: :class:`TranscriptionUnavailable` saying what to set.

``base`` holds the transcript, the errors and the checks made on every file (empty, over
``HILO_MAX_AUDIO_MB``, not a known audio container). No FastAPI here: the HTTP endpoint is
``hilo.api.audio``; WhatsApp voice notes go through ``hilo.channels.whatsapp``.
"""

from hilo.audio.base import (
           AudioTooLarge,
           InvalidAudio,
           Segment,
           Transcript,
           TranscriptionUnavailable,
           too_large,
)
from hilo.audio.remote import aclose
from hilo.audio.service import NOTHING_CONFIGURED, announce, configured, transcribe

__all__ = ["NOTHING_CONFIGURED", "AudioTooLarge", "InvalidAudio", "Segment", "Transcript",
           "TranscriptionUnavailable", "aclose", "announce", "configured", "too_large", "transcribe"]
