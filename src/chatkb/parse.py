"""Parse a file into threads: detect its format and hand it to the right parser."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import ChatkbError, NoQuestionsError
from .records import Document
from .textio import MAX_FILE_BYTES, DecodedText, decode_bytes, read_text

FORMATS = ("auto", "chat", "markdown")
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.M)
_MD_BOLD_Q = re.compile(r"^\s*\*\*[^*\n]+\?\s*\*\*\s*$", re.M)


def detect_format(name: str, text: str) -> str:
    """``markdown`` for ``.md`` files or text with Markdown headings / bold questions, else ``chat``."""
    suffix = Path(name).suffix.lower()
    if suffix in (".md", ".markdown"):
        return "markdown"
    if len(_MD_HEADING.findall(text[:200000])) >= 2 or len(_MD_BOLD_Q.findall(text[:200000])) >= 2:
        return "markdown"
    return "chat"


def parse_text(decoded: DecodedText | str, source: str, *, format: str = "auto") -> Document:
    """Parse decoded text.

    Args:
        decoded: the text (or a :class:`DecodedText` carrying its encoding).
        source: the path shown in records and used in thread ids.
        format: ``auto``, ``chat`` or ``markdown``.

    Returns:
        The parsed :class:`Document` (possibly with no threads).
    """
    if isinstance(decoded, str):
        decoded = DecodedText(text=decoded, encoding="utf-8")
    if format not in FORMATS:
        raise ChatkbError(f"Format inconnu : {format!r} (attendu : auto, chat ou markdown).")
    fmt = detect_format(source, decoded.text) if format == "auto" else format
    if fmt == "markdown":
        from .faq import parse_markdown

        doc = parse_markdown(decoded.text, source)
    else:
        from .chat import parse_chat

        doc = parse_chat(decoded.lines, source)
    return Document(
        source=doc.source,
        format=doc.format,
        threads=doc.threads,
        skipped=doc.skipped,
        title=doc.title,
        expert=doc.expert,
        encoding=decoded.encoding,
        lines=tuple(decoded.lines),
    )


def parse_file(path: str | Path, *, format: str = "auto", source: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read, decode and parse a file. Raises :class:`UnreadableFileError` for non-text input."""
    decoded = read_text(path, max_bytes=max_bytes)
    return parse_text(decoded, source if source is not None else str(path), format=format)


def parse_bytes(data: bytes, name: str, *, format: str = "auto", max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Parse uploaded bytes (for the page's upload preview)."""
    return parse_text(decode_bytes(data, name=name, max_bytes=max_bytes), name, format=format)


def require_threads(doc: Document) -> Document:
    """Raise :class:`NoQuestionsError` when the document holds no thread."""
    if not doc.threads:
        name = Path(doc.source).name
        raise NoQuestionsError(f"{name} : aucune question trouvée dans ce document.")
    return doc


def unread_lines(doc: Document) -> int:
    """How many lines of a chat transcript the parser could not place: before its first thread,
    neither a greeting, an announcement nor a header ("preamble"). Zero for a clean transcript
    (a few lines of introduction); most of the file when its layout is not recognised."""
    n = sum(1 for s in doc.skipped if s.kind == "preamble") if doc.format == "chat" else 0
    return n if n >= 10 and n >= 0.3 * max(_text_lines(doc), 1) else 0


def unread_warning(doc: Document) -> str | None:
    """A one-line French warning when much of a transcript was not read (see :func:`unread_lines`)."""
    n = unread_lines(doc)
    if not n or not doc.threads:
        return None
    return (
        f"{Path(doc.source).name} : {n} lignes sur {_text_lines(doc)} n'ont été lues ni comme des questions ni comme "
        "des réponses (mise en page non reconnue ?) ; vérifiez avec « chatkb parse »."
    )


def _text_lines(doc: Document) -> int:
    return sum(1 for line in doc.lines if line.strip())
