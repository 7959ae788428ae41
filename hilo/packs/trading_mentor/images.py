"""Images for analyze_image: fetched from a URL or read from an uploaded file, checked,
measured with Pillow, and sent to a vision-capable model when one is configured."""

from __future__ import annotations

import asyncio
import base64
import io
import ipaddress
import logging
import socket
import warnings
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from hilo.nlu.numbers import format_number
from hilo.tools import ToolContext
from hilo.tools.function import ToolError

log = logging.getLogger("hilo.packs.trading_mentor")
FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}  # what vision models accept
MAX_REDIRECTS = 3


@dataclass(slots=True)
class Picture:
    data: bytes
    name: str
    format: str
    width: int
    height: int


def _too_big(limit: int) -> ToolError:
    return ToolError(f"La imagen supera el máximo de {limit / 1024 / 1024:.3g} MB.")


async def _check_host(host: str) -> None:
    """Refuse hosts that resolve to loopback, private or link-local addresses (SSRF)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise ToolError(f"No pude resolver el servidor de la imagen ({host}).") from None
    for info in infos:
        if not ipaddress.ip_address(info[4][0].split("%")[0]).is_global:
            raise ToolError(f"No descargo imágenes de direcciones internas ({host}).")


async def fetch_url(url: str, limit: int, allow_private: bool, timeout: float = 20.0) -> tuple[bytes, str]:
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ToolError(f"La URL de la imagen debe empezar por http:// o https:// ({url}).")
            if not allow_private:
                await _check_host(parts.hostname)
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    return await _read_image(response, url, limit), url
            except httpx.HTTPError as exc:
                log.warning("image download from %s failed: %r", url, exc)
                raise ToolError("No pude descargar la imagen: el servidor no respondió. Revisa el enlace "
                                "o sube el archivo.") from None
    raise ToolError("La URL de la imagen redirige demasiadas veces.")


async def _read_image(response: httpx.Response, url: str, limit: int) -> bytes:
    if response.status_code != 200:
        raise ToolError(f"La URL de la imagen respondió HTTP {response.status_code}.")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not kind.startswith("image/"):
        raise ToolError(f"La URL no es una imagen (tipo de contenido: {kind or 'desconocido'}).")
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _too_big(limit)
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > limit:
            raise _too_big(limit)
    return bytes(data)


async def read_file(ctx: ToolContext, file_id: str, limit: int) -> tuple[bytes, str]:
    """A file the caller may read (its own: :meth:`ToolContext.read_file` applies the policy)."""
    try:
        found = await ctx.read_file(file_id, limit)
    except ValueError:
        raise _too_big(limit) from None
    except LookupError:
        raise ToolError("No hay almacenamiento de archivos disponible.") from None
    if found is None:
        raise ToolError(f"No existe el archivo '{file_id}'. Súbelo primero o envía la URL de la imagen.")
    data, row = found
    return data, row.filename


def inspect(data: bytes, name: str) -> Picture:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                fmt, (width, height) = image.format or "", image.size
    except Image.DecompressionBombError:
        raise ToolError("La imagen tiene demasiados píxeles para analizarla.") from None
    except (UnidentifiedImageError, OSError):
        raise ToolError("El archivo no es una imagen legible (formatos: PNG, JPEG, GIF o WebP).") from None
    if fmt not in FORMATS:
        raise ToolError(f"Formato de imagen no admitido ({fmt}); usa PNG, JPEG, GIF o WebP.")
    return Picture(data, name, fmt, width, height)


def data_url(picture: Picture) -> str:
    return f"data:image/{picture.format.lower()};base64,{base64.b64encode(picture.data).decode()}"


def size_text(size: int, locale: str = "es") -> str:
    """``1,5 MB`` / ``12 KB``, written as the locale writes numbers."""
    if size >= 1024 * 1024:
        return f"{format_number(round(size / 1024 / 1024, 1), locale, decimals=1)} MB"
    return f"{format_number(max(1, round(size / 1024)), locale)} KB"
