"""``POST /v1/audio/transcriptions`` in OpenAI's shape, on whichever backend :mod:`hilo.audio`
is configured with (an OpenAI-compatible endpoint, or faster-whisper in-process).

Multipart fields as OpenAI's: ``file`` and ``model`` (required; the configured backend answers
whatever the model's name), ``language``, ``prompt``, ``response_format`` (``json``, ``text``,
``verbose_json``, ``srt``, ``vtt``), ``temperature``, ``timestamp_granularities[]`` (``segment``).
Bad or empty audio, an unknown format or parameter: 400; audio over ``HILO_MAX_AUDIO_MB``: 413;
nothing configured, or the backend failing: 503 with the reason.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse

from hilo import audio
from hilo.api.deps import SettingsDep
from hilo.kit.errors import bad_request

router = APIRouter(prefix="/v1/audio", tags=["audio"])

PATH = "/v1/audio/transcriptions"
FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
# ISO-639-1 codes as OpenAI's verbose_json names them
LANGUAGE_NAMES = {
    "ar": "arabic", "ca": "catalan", "de": "german", "en": "english", "es": "spanish", "eu": "basque",
    "fr": "french", "gl": "galician", "hi": "hindi", "it": "italian", "ja": "japanese", "ko": "korean",
    "nl": "dutch", "pl": "polish", "pt": "portuguese", "ru": "russian", "tr": "turkish", "uk": "ukrainian",
    "zh": "chinese",
}
_RESPONSES = {200: {"description": "The transcript, in the response_format asked for", "content": {
    "application/json": {"schema": {"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string"}, "language": {"type": "string"}, "duration": {"type": "number"},
        "segments": {"type": "array", "items": {"type": "object"}}, "usage": {"type": "object"}}}},
    "text/plain": {"schema": {"type": "string"}}}}}


def _stamp(seconds: float, separator: str) -> str:
    millis = max(0, int(round(seconds * 1000)))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _segments(transcript: audio.Transcript) -> list[audio.Segment]:
    if transcript.segments:
        return list(transcript.segments)
    return [audio.Segment(id=0, start=0.0, end=transcript.duration or 0.0, text=transcript.text)]


def _subtitles(transcript: audio.Transcript, vtt: bool) -> str:
    blocks = []
    for number, seg in enumerate(_segments(transcript), start=1):
        times = f"{_stamp(seg.start, '.' if vtt else ',')} --> {_stamp(seg.end, '.' if vtt else ',')}"
        blocks.append(f"{times}\n{seg.text.strip()}\n" if vtt else f"{number}\n{times}\n{seg.text.strip()}\n")
    return ("WEBVTT\n\n" if vtt else "") + "\n".join(blocks) + "\n"


def _verbose(transcript: audio.Transcript) -> dict:
    duration = transcript.duration or 0.0
    language = transcript.language or ""
    body = {"task": "transcribe", "language": LANGUAGE_NAMES.get(language, language), "duration": duration,
            "text": transcript.text,
            "segments": [{"id": s.id, "seek": s.seek, "start": s.start, "end": s.end, "text": s.text,
                          "tokens": list(s.tokens), "temperature": s.temperature, "avg_logprob": s.avg_logprob,
                          "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
                         for s in _segments(transcript)]}
    if transcript.duration is not None:
        body["usage"] = {"type": "duration", "seconds": transcript.duration}
    return body


@router.post("/transcriptions", responses=_RESPONSES)
async def create_transcription(
    settings: SettingsDep,
    file: UploadFile,
    model: Annotated[str, Form(min_length=1, max_length=256)],
    language: Annotated[str | None, Form(max_length=64)] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[float | None, Form()] = None,
    timestamp_granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
    stream: Annotated[bool | None, Form()] = None,
):
    if response_format not in FORMATS:
        raise bad_request(f"Invalid 'response_format': '{response_format[:40]}'. Expected one of {', '.join(FORMATS)}.",
                          param="response_format")
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= 1):
        raise bad_request("Invalid 'temperature': a number between 0 and 1.", param="temperature")
    for granularity in timestamp_granularities or ():
        if granularity != "segment":
            raise bad_request(f"Invalid 'timestamp_granularities[]': '{granularity[:40]}'. Only 'segment' is "
                              "supported here.", param="timestamp_granularities[]")
    if timestamp_granularities and response_format != "verbose_json":
        raise bad_request("'timestamp_granularities[]' needs response_format 'verbose_json'.",
                          param="timestamp_granularities[]")
    if stream:
        raise bad_request("Streamed transcriptions are not supported: leave 'stream' out.", param="stream")
    data = await file.read()
    transcript = await audio.transcribe(settings, data, file.filename, file.content_type, language=language,
                                        prompt=prompt, temperature=temperature,
                                        segments=response_format in ("verbose_json", "srt", "vtt"))
    if response_format == "text":
        return PlainTextResponse(transcript.text)
    if response_format in ("srt", "vtt"):
        return PlainTextResponse(_subtitles(transcript, vtt=response_format == "vtt"))
    if response_format == "verbose_json":
        return JSONResponse(_verbose(transcript))
    body: dict = {"text": transcript.text}
    if transcript.duration is not None:
        body["usage"] = {"type": "duration", "seconds": math.ceil(transcript.duration)}
    return JSONResponse(body)
