"""faster-whisper in this process, on a local CTranslate2 Whisper model directory.

``HILO_WHISPER_MODEL`` names the directory (``model.bin``, ``tokenizer.json``, ``config.json``):
never a model name, since faster-whisper would download a name from the Hugging Face hub; a value
that is not such a directory is refused with a clear :class:`TranscriptionUnavailable`. faster-whisper
is the optional extra ``hilo[audio]``.

The model is loaded once per process (and per thread count) and runs on one dedicated thread with
``HILO_WHISPER_THREADS`` CPU threads, so that transcriptions queue behind each other instead of
fighting over the cores, and the event loop never waits on one. Audio is decoded with PyAV (which
bundles FFmpeg's decoders: ogg/opus, mp3, wav, flac, m4a, webm, amr) to 16 kHz mono, stopping at
``HILO_MAX_AUDIO_SECONDS`` so that a small, highly compressed file cannot fill the memory.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hilo.audio.base import InvalidAudio, Segment, Transcript, TranscriptionUnavailable
from hilo.kit.errors import InvalidRequest

__all__ = ["LocalTranscriber", "check_model_dir", "decode", "local_for"]

log = logging.getLogger("hilo.audio")

RATE = 16000  # what Whisper listens at
REQUIRED = ("model.bin", "tokenizer.json")
EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hilo-whisper")


def check_model_dir(value: str) -> str:
    """The model directory ``value`` names, or a :class:`TranscriptionUnavailable` saying why not."""
    path = os.path.expanduser(value.strip())
    if not os.path.isdir(path):
        if os.sep not in path and "/" not in path:
            raise TranscriptionUnavailable(
                f"HILO_WHISPER_MODEL is '{value}', a model name, not a directory: hilo never downloads models. "
                "Set it to a local CTranslate2 Whisper model directory (holding model.bin and tokenizer.json).")
        raise TranscriptionUnavailable(
            "HILO_WHISPER_MODEL is not an existing directory: set it to a local CTranslate2 Whisper model "
            "directory (holding model.bin and tokenizer.json).")
    missing = [name for name in REQUIRED if not os.path.isfile(os.path.join(path, name))]
    if missing:
        raise TranscriptionUnavailable(
            f"HILO_WHISPER_MODEL is a directory without {', '.join(missing)}: it must hold a CTranslate2 Whisper "
            "model (as faster-whisper's converted models do).")
    return path


def decode(data: bytes, max_seconds: float) -> tuple[Any, float]:
    """``data`` as 16 kHz mono float32 samples, and their duration; :class:`InvalidAudio` when it
    holds no decodable audio or more than ``max_seconds`` of it."""
    import av
    import numpy as np

    limit = int(max_seconds * RATE)
    pieces: list[Any] = []
    total = 0
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=RATE)

    def keep(frames) -> None:
        nonlocal total
        for frame in frames:
            samples = frame.to_ndarray().reshape(-1)
            total += samples.size
            if total > limit:
                raise InvalidAudio(f"The audio is longer than {max_seconds:g} s (HILO_MAX_AUDIO_SECONDS).",
                                   code="audio_too_long")
            pieces.append(samples)

    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InvalidAudio("The file holds no audio stream.", code="invalid_audio")
            packets = container.demux(container.streams.audio[0])
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.InvalidDataError:  # a damaged packet: skip it, as players do
                    continue
                try:
                    for frame in packet.decode():
                        keep(resampler.resample(frame))
                except av.error.InvalidDataError:
                    continue
            keep(resampler.resample(None))  # what the resampler still holds
    except InvalidAudio:
        raise
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        if not pieces:
            raise InvalidAudio("The audio file could not be decoded (corrupt, or not audio).") from exc
        log.info("audio decoding stopped early (%s): keeping the %.1f s decoded", type(exc).__name__, total / RATE)
    finally:
        del resampler
        gc.collect()  # PyAV's resampler keeps buffers until a collection (faster-whisper does the same)
    if not total:
        raise InvalidAudio("The audio file holds no sound.")
    samples = np.concatenate(pieces).astype(np.float32) / 32768.0
    return samples, total / RATE


class LocalTranscriber:
    name = "local"

    def __init__(self, path: str, threads: int = 2) -> None:
        self.path = path
        self.threads = max(1, int(threads))
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                try:
                    from faster_whisper import WhisperModel
                except ImportError:
                    raise TranscriptionUnavailable(
                        "HILO_WHISPER_MODEL is set but faster-whisper is not installed: pip install 'hilo[audio]'.") \
                        from None
                started = time.perf_counter()
                try:
                    self._model = WhisperModel(self.path, device="cpu", compute_type="int8",
                                               cpu_threads=self.threads, local_files_only=True)
                except Exception as exc:  # a damaged or foreign model directory
                    log.warning("the Whisper model in HILO_WHISPER_MODEL failed to load: %s: %s",
                                type(exc).__name__, exc)
                    raise TranscriptionUnavailable(
                        f"the Whisper model in HILO_WHISPER_MODEL failed to load ({type(exc).__name__}).") from None
                log.info("Whisper model loaded in %.1f s (%d CPU threads, %s)", time.perf_counter() - started,
                         self.threads, "multilingual" if self._model.model.is_multilingual else "English only")
            return self._model

    def languages(self) -> list[str]:
        return list(self._load().supported_languages)

    def _run(self, data: bytes, language: str | None, prompt: str | None, temperature: float | None,
             max_seconds: float) -> Transcript:
        model = self._load()
        if language and language not in model.supported_languages:
            known = model.supported_languages
            raise InvalidRequest(
                f"Language '{language}' is not one the local Whisper model knows "
                f"({', '.join(known) if len(known) <= 10 else f'{len(known)} languages'}).", param="language",
                code="unsupported_language")
        samples, duration = decode(data, max_seconds)
        options: dict[str, Any] = {"beam_size": 5, "vad_filter": False}
        if temperature:  # 0 or none: Whisper's fallback ladder, as OpenAI does for 0
            options["temperature"] = float(temperature)
        started = time.perf_counter()
        pieces, info = model.transcribe(samples, language=language or None, initial_prompt=prompt or None, **options)
        found = tuple(Segment(id=s.id, start=float(s.start), end=float(s.end), text=s.text, seek=int(s.seek),
                              tokens=tuple(s.tokens), temperature=float(s.temperature or 0.0),
                              avg_logprob=float(s.avg_logprob), compression_ratio=float(s.compression_ratio),
                              no_speech_prob=float(s.no_speech_prob)) for s in pieces)
        log.debug("transcribed %.1f s of audio in %.2f s", duration, time.perf_counter() - started)
        text = "".join(s.text for s in found).strip()
        return Transcript(text=text, language=info.language, duration=round(duration, 3), segments=found,
                          backend=self.name)

    async def transcribe(self, data: bytes, filename: str, kind: str, *, content_type: str | None = None,
                         language: str | None = None, prompt: str | None = None,
                         temperature: float | None = None, segments: bool = False,
                         max_seconds: float = 1800.0) -> Transcript:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(EXECUTOR, self._run, data, language, prompt, temperature, max_seconds)


_cache: dict[tuple[str, int], LocalTranscriber] = {}
_cache_lock = threading.Lock()


def local_for(settings) -> LocalTranscriber:
    """The in-process model ``settings`` configure (loaded at its first transcription, then kept)."""
    path = check_model_dir(settings.whisper_model)
    key = (os.path.realpath(path), int(settings.whisper_threads))
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = LocalTranscriber(key[0], key[1])
        return found
