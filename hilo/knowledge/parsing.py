"""Parsing: an uploaded file's bytes to the plain text that file search chunks and indexes.

The format comes from the file name's extension, else from the declared content type (a file
with neither is sniffed: PDF, Word and PowerPoint by their signatures, UTF-8 text as text):

=======  ==========================================================================================
txt      as decoded (also the source-code types OpenAI lists: .py, .js, .c, .java, .sh, .tex, ...)
md       markdown-it-py (when installed): headings, paragraphs, list items and code as lines,
         markup dropped; tables as rows like csv's; else the Markdown source as it is
html     lxml's HTML parser (libxml2: linear on hostile input, where the stdlib parser is
         quadratic): scripts and styles dropped, block elements end paragraphs
csv      one line per row, ``header: value · header: value``; the delimiter sniffed
json     one line per leaf, ``path.to.key: value`` (``items[0].name``); JSON Lines too
pdf      pypdf, page by page; lines wrapped inside a sentence joined again
docx     python-docx: paragraphs and tables, in document order
pptx     python-pptx: each slide's text frames, tables and notes
=======  ==========================================================================================

Text is decoded as UTF-8 (a BOM for UTF-16/32 is honoured), else as Windows-1252 when that
reads as cleanly as anything (it is what a Spanish "ANSI" or Latin-1 file is; charset-normalizer
alone takes short Spanish texts for Mac Central European or cp1250), else as charset-normalizer
detects. Paragraphs come out separated by a blank line (pages and slides too), lines by
``\\n``, in Unicode NFC, without control characters.

A type not listed is :class:`UnsupportedFile` (``last_error.code`` ``unsupported_file``). A
file that does not parse, is not what its name says, is encrypted, holds no text, or passes a
guard (:data:`MAX_BYTES` in, :data:`MAX_TEXT_CHARS` out, :data:`MAX_UNZIPPED_BYTES` inside a
.docx/.pptx, :data:`PDF_SECONDS` of reading) is :class:`InvalidFile` (``invalid_file``), with a
one-line message: whatever the parser libraries raise on hostile input ends there.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

# pypdf logs a warning for every flaw of a broken PDF; the file's last_error says what matters
logging.getLogger("pypdf").setLevel(logging.ERROR)

MAX_BYTES = 128 * 1024 * 1024  # a file larger than this is not read
MAX_TEXT_CHARS = 10_000_000  # ~2M tokens of Spanish: what OpenAI accepts in one file
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024  # a .docx/.pptx's parts, as their zip directory declares them
MAX_ZIP_ENTRIES = 20_000
PDF_SECONDS = 120.0  # reading a PDF's pages stops (invalid_file) past this
MARKDOWN_CHARS = 1_000_000  # longer Markdown is kept as its source (markdown-it-py: 2-15 s per MB)

_CODE = (".c", ".cc", ".cpp", ".cs", ".css", ".go", ".h", ".hpp", ".java", ".js", ".php", ".py", ".rb",
         ".sh", ".tex", ".ts")
_EXTENSIONS = {".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md", ".html": "html",
               ".htm": "html", ".csv": "csv", ".json": "json", ".jsonl": "json", ".pdf": "pdf",
               ".docx": "docx", ".pptx": "pptx", **dict.fromkeys(_CODE, "txt")}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_EXTENSIONS)  # lowercase, with the dot
_DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_CONTENT_TYPES = {
    "text/plain": "txt", "text/markdown": "md", "text/x-markdown": "md", "text/html": "html",
    "application/xhtml+xml": "html", "text/csv": "csv", "application/csv": "csv",
    "application/json": "json", "text/json": "json", "application/x-ndjson": "json",
    "application/jsonl": "json", "application/pdf": "pdf", _DOCX_TYPE: "docx", _PPTX_TYPE: "pptx",
    **dict.fromkeys(["text/x-c", "text/x-c++", "text/x-csharp", "text/css", "text/x-golang",
                     "text/x-java", "text/javascript", "text/x-php", "text/x-python",
                     "text/x-script.python", "text/x-ruby", "text/x-sh", "application/x-sh",
                     "text/x-tex", "application/typescript"], "txt"),
}
_NAMES = {"txt": "text", "md": "Markdown", "html": "HTML", "csv": "CSV", "json": "JSON", "pdf": "PDF",
          "docx": "Word (.docx)", "pptx": "PowerPoint (.pptx)"}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc/.ppt/.xls


class UnsupportedFile(ValueError):
    """A type file search does not read (``last_error.code`` ``unsupported_file``)."""


class InvalidFile(ValueError):
    """A file that cannot be read: corrupt, not what its name says, encrypted, undecodable, too
    large, or without text (``last_error.code`` ``invalid_file``)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    text: str  # plain text; paragraphs, pages and slides separated by "\n\n"
    format: str  # "txt" | "md" | "html" | "csv" | "json" | "pdf" | "docx" | "pptx"


def parse(data: bytes, filename: str, content_type: str | None = None) -> Parsed:
    """The text of a file (CPU-bound and synchronous: run it off the event loop)."""
    fmt = detect_format(data, filename, content_type)
    if len(data) > MAX_BYTES:
        raise InvalidFile(f"The file is {len(data) / 2**20:.0f} MB; file search reads files of up to "
                          f"{MAX_BYTES // 2**20} MB.")
    try:
        text = _PARSERS[fmt](data)
    except (InvalidFile, UnsupportedFile):
        raise
    except Exception as exc:  # hostile input makes the parser libraries raise anything
        raise InvalidFile(f"The file could not be read as {_NAMES[fmt]}: {_reason(exc)}.") from exc
    text = _clean(text)
    if not text:
        hint = " (a scanned PDF needs OCR, which file search does not do)" if fmt == "pdf" else ""
        raise InvalidFile(f"The {_NAMES[fmt]} file has no text to index{hint}.")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidFile(f"The file has {len(text):,} characters of text; file search reads up to "
                          f"{MAX_TEXT_CHARS:,} (about 2 million tokens).")
    return Parsed(text=text, format=fmt)


def detect_format(data: bytes, filename: str, content_type: str | None = None) -> str:
    """The format ``parse`` reads the file as: by extension, else by content type, else by its
    first bytes (only for a name without an extension); :class:`UnsupportedFile` otherwise."""
    ext = PurePosixPath((filename or "").replace("\\", "/")).suffix.lower()
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared in _CONTENT_TYPES:
        return _CONTENT_TYPES[declared]
    if not ext and declared in ("", "application/octet-stream"):
        sniffed = _sniff(data)
        if sniffed:
            return sniffed
    what = (f"'{ext}' files" if ext else f"Files of type '{declared}'" if declared
            else "Files without an extension or a content type")
    if ext == ".doc" or ext == ".ppt":
        what += f" (the old binary format: save it as {ext}x)"
    raise UnsupportedFile(f"{what} are not supported by file search; supported: "
                          f"{', '.join(sorted(SUPPORTED_EXTENSIONS))}.")


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        head = data[:4096]
        if b"word/" in head:
            return "docx"
        if b"ppt/" in head:
            return "pptx"
        return None
    try:
        text = data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < 65530:  # not a character cut at the end of the sample
            return None
        text = data[:exc.start].decode("utf-8")
    return "txt" if text.strip() and "\x00" not in text else None


def _reason(exc: BaseException) -> str:
    """One short line for an exception from a parser library (bytes it quotes left out)."""
    message = _BYTES_LITERAL.sub("…", " ".join(str(exc).split())).rstrip(".")
    if len(message) > 120:
        message = message[:117].rstrip() + "…"
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


_BYTES_LITERAL = re.compile(r"b'(?:[^'\\]|\\.)*'" + r'|b"(?:[^"\\]|\\.)*"')


# ---------------------------------------------------------------------- text and its encoding
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode(data: bytes) -> str:
    """Bytes of a text file to text (see the module docstring); :class:`InvalidFile` when no
    encoding reads them as text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                break
    try:
        text = data.decode("utf-8")
        if not _mostly_nul(text):  # (UTF-16 without a BOM is valid UTF-8, every other byte NUL)
            return text
    except UnicodeDecodeError:
        pass
    import charset_normalizer
    from charset_normalizer.md import mess_ratio

    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise InvalidFile("The file is not text: no character encoding reads it cleanly.")
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and best.encoding != "cp1252" and not _mostly_nul(western):
        if mess_ratio(western[:65536], maximum_threshold=1.0) <= best.chaos:
            return western
    text = str(best)
    if _mostly_nul(text):
        raise InvalidFile("The file is not text: it is full of NUL bytes.")
    return text


def _mostly_nul(text: str) -> bool:
    sample = text[:65536]
    return sample.count("\x00") * 10 > len(sample)  # UTF-16 of Latin text: every other character


def _text(data: bytes) -> str:
    return decode(data)


# ---------------------------------------------------------------------- markdown
def _markdown(data: bytes) -> str:
    source = decode(data)
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # pragma: no cover - markdown-it-py comes with rich (typer)
        return source
    if len(source) > MARKDOWN_CHARS:
        return source
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").parse(source)
    blocks: list[str] = []
    items: list[str] = []  # the lines of the list being read
    rows: list[list[str]] = []
    cells: list[str] | None = None
    depth = 0  # of lists

    def put(text: str) -> None:
        text = text.strip()
        if not text:
            return
        if cells is not None:
            cells.append(" ".join(text.split()))
        elif depth:
            items.append(text)
        else:
            blocks.append(text)

    for token in tokens:
        kind = token.type
        if kind == "inline":
            put(_inline(token.children or []))
        elif kind in ("fence", "code_block"):
            put(token.content)
        elif kind == "html_block":
            put(_html_text(token.content))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            if not depth and items:
                blocks.append("\n".join(items))
                items = []
        elif kind == "tr_open":
            cells = []
        elif kind == "tr_close":
            rows.append(cells or [])
            cells = None
        elif kind == "table_close":
            put(_rows_text(rows))
            rows = []
    return "\n\n".join(blocks)


def _inline(children) -> str:
    out: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type == "softbreak":
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
        elif child.type == "image":
            out.append(child.content)  # its alt text
    return "".join(out)


# ---------------------------------------------------------------------- html
_SKIP = {"script", "style", "noscript", "template", "svg", "math", "canvas", "iframe", "object", "select",
         "button"}
_BLOCK = {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
          "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
          "h5", "h6", "header", "hgroup", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
          "title", "ul"}
_BREAK = "\x00"  # a <br> while a paragraph is gathered
_SPACES = re.compile(r"\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")  # lxml refuses a str that declares an encoding


def _html(data: bytes) -> str:
    return _html_text(decode(data))


def _html_text(source: str) -> str:
    import lxml.html
    from lxml import etree

    source = _XML_DECLARATION.sub("", source.replace("\x00", ""), count=1)
    if not source.strip():
        return ""
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = lxml.html.document_fromstring(source, parser=parser)
    except etree.ParserError:  # "Document is empty": only comments, or nothing lxml keeps
        return ""
    blocks: list[str] = []
    parts: list[tuple[str, bool]] = []  # (text, verbatim)
    pre = 0

    def flush() -> None:
        joined = "".join(t if verbatim else _SPACES.sub(" ", t) for t, verbatim in parts)
        parts.clear()
        lines = [line.strip() for line in joined.split(_BREAK)]
        text = "\n".join(line for line in lines if line)
        if text:
            blocks.append(text)

    walk = etree.iterwalk(root, events=("start", "end"))
    for event, el in walk:
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _SKIP:
                walk.skip_subtree()
                continue
            if tag == "table":
                flush()
                text = _rows_text([[" ".join(cell.text_content().split()) for cell in row
                                    if cell.tag in ("td", "th")] for row in el.iter("tr")])
                if text:
                    blocks.append(text)
                walk.skip_subtree()
                continue
            if tag in _BLOCK:
                flush()
            if tag == "pre":
                pre += 1
            if tag == "br":
                parts.append((_BREAK, True))
            if el.text:
                parts.append((el.text.replace("\n", _BREAK) if pre else el.text, bool(pre)))
        else:
            if tag == "pre":
                pre -= 1
            if tag in _BLOCK or tag == "table":
                flush()
            if el.tail:
                parts.append((el.tail.replace("\n", _BREAK) if pre else el.tail, bool(pre)))
    flush()
    return "\n\n".join(blocks)


# ---------------------------------------------------------------------- tables, csv, json
def _rows_text(rows: list[list[str]]) -> str:
    """A table as lines: with a header row, each row ``header: value · header: value`` (empty
    values left out); a one-row table is that row, ``a · b``."""
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return ""
    if len(rows) == 1:
        return " · ".join(cell for cell in rows[0] if cell.strip())
    header, lines = rows[0], []
    for row in rows[1:]:
        fields = []
        for i, value in enumerate(row):
            value = " ".join(value.split())
            if not value:
                continue
            name = " ".join(header[i].split()) if i < len(header) else ""
            fields.append(f"{name}: {value}" if name else value)
        if fields:
            lines.append(" · ".join(fields))
    return "\n".join(lines)


def _csv(data: bytes) -> str:
    source = decode(data)
    try:
        dialect = csv.Sniffer().sniff(source[:16384], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return _rows_text(list(csv.reader(io.StringIO(source, newline=""), dialect)))


def _json(data: bytes) -> str:
    source = decode(data)
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        if not exc.msg.startswith("Extra data"):
            raise
        value = [json.loads(line) for line in source.splitlines() if line.strip()]  # JSON Lines
    lines: list[str] = []
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{path}.{key}" if path else str(key), v) for key, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
        else:
            leaf = " ".join(item.split()) if isinstance(item, str) else json.dumps(item)
            if leaf:
                lines.append(f"{path}: {leaf}" if path else leaf)
    return "\n".join(lines)


# ---------------------------------------------------------------------- pdf
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\ufb05": "st", "\ufb06": "st"})
_SENTENCE_END = tuple(".!?:;…")


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    if b"%PDF" not in data[:1024]:
        raise InvalidFile("The file is not a PDF (it does not start with %PDF).")
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        raise InvalidFile("The PDF is encrypted with a password.")
    deadline = time.monotonic() + PDF_SECONDS
    pages, size = [], 0
    for page in reader.pages:
        if time.monotonic() > deadline:
            raise InvalidFile(f"Reading the PDF took longer than {PDF_SECONDS:g} s.")
        text = _reflow((page.extract_text() or "").translate(_LIGATURES))
        size += len(text)
        if size > MAX_TEXT_CHARS:
            raise InvalidFile(f"The file has more than {MAX_TEXT_CHARS:,} characters of text; file search "
                              "reads up to that (about 2 million tokens).")
        if text:
            pages.append(text)
    return "\n\n".join(pages)


def _reflow(page: str) -> str:
    """A page's lines, with the lines a sentence wraps over joined again (a line that does not
    end a sentence, followed by one that starts in lower case or with a digit)."""
    out: list[str] = []
    for raw in page.splitlines():
        line = " ".join(raw.split())
        if not line:
            if out and out[-1]:
                out.append("")
            continue
        prev = out[-1] if out else ""
        if prev and not prev.endswith(_SENTENCE_END) and (line[0].islower() or line[0].isdigit()):
            if prev.endswith("-") and prev[-2:-1].isalpha() and line[0].isalpha():
                out[-1] = prev[:-1] + line  # a word hyphenated at the end of the line
            else:
                out[-1] = f"{prev} {line}"
        else:
            out.append(line)
    return "\n".join(out).strip()


# ---------------------------------------------------------------------- docx, pptx
def _package(data: bytes, part: str, kind: str) -> None:
    """Refuse what is not an Office Open XML package of ``kind`` before a parser loads it all
    (python-docx/-pptx read every part into memory): a zip bomb, a legacy binary file."""
    if data.startswith(_OLE):
        raise InvalidFile(f"This is an old binary Office file, not {kind}: save it as {kind}.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidFile(f"The file is not a valid {kind} (not a zip archive: {_reason(exc)}).") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise InvalidFile(f"The {kind} holds {len(entries):,} parts; at most {MAX_ZIP_ENTRIES:,} are read.")
        unzipped = sum(e.file_size for e in entries)
        if unzipped > MAX_UNZIPPED_BYTES:
            raise InvalidFile(f"The {kind} unpacks to {unzipped / 2**20:,.0f} MB; at most "
                              f"{MAX_UNZIPPED_BYTES // 2**20} MB are read.")
        if part not in archive.namelist():
            raise InvalidFile(f"The file is not a valid {kind}: it has no {part}.")


def _docx(data: bytes) -> str:
    _package(data, "word/document.xml", ".docx")
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks.append(_rows_text(_table_rows(item)))
        else:
            blocks.append(item.text)
    return "\n\n".join(b.strip() for b in blocks if b.strip())


def _table_rows(table) -> list[list[str]]:
    """A python-docx/-pptx table's rows; a merged cell's text once, in its first column (the
    columns it spans stay, empty, so that values keep their headers)."""
    rows = []
    for row in table.rows:
        cells, seen = [], None
        for cell in row.cells:
            key = getattr(cell, "_tc", None)
            cells.append("" if key is not None and key is seen else " ".join(cell.text.split()))
            seen = key
        rows.append(cells)
    return rows


def _pptx(data: bytes) -> str:
    _package(data, "ppt/presentation.xml", ".pptx")
    import pptx

    slides: list[str] = []
    for slide in pptx.Presentation(io.BytesIO(data)).slides:
        parts = _shapes_text(slide.shapes)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            parts.append(slide.notes_slide.notes_text_frame.text)
        text = "\n".join(p.replace("\x0b", "\n").strip() for p in parts if p.strip())
        if text:
            slides.append(text)
    return "\n\n".join(slides)


def _shapes_text(shapes) -> list[str]:
    parts: list[str] = []
    stack = list(reversed(list(shapes)))
    while stack:
        shape = stack.pop()
        if getattr(shape, "shapes", None) is not None and not getattr(shape, "has_text_frame", False):
            stack.extend(reversed(list(shape.shapes)))  # a group
        elif getattr(shape, "has_table", False) and shape.has_table:
            parts.append(_rows_text(_table_rows(shape.table)))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            parts.append(shape.text_frame.text)
    return parts


# ---------------------------------------------------------------------- the last pass
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff]")
_TRAILING = re.compile(r"[ \t]+\n")
_BLANKS = re.compile(r"\n{3,}")


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n\n")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text))
    text = _BLANKS.sub("\n\n", _TRAILING.sub("\n", text))
    return text.strip()


_PARSERS: dict[str, Callable[[bytes], str]] = {"txt": _text, "md": _markdown, "html": _html, "csv": _csv,
                                               "json": _json, "pdf": _pdf, "docx": _docx, "pptx": _pptx}

__all__ = ["MAX_BYTES", "MAX_TEXT_CHARS", "SUPPORTED_EXTENSIONS", "InvalidFile", "Parsed", "UnsupportedFile",
           "decode", "detect_format", "parse"]
