"""Reading files as text: encodings, BOMs, line endings, and refusing what is not text."""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UnreadableFileError

MAX_FILE_BYTES = 20 * 1024 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\x7fELF", b"\xd0\xcf\x11\xe0")
# Encodings a French document realistically comes in, when it is not UTF-8.
_CANDIDATES = ["cp1252", "latin_1", "iso8859_15", "mac_roman", "cp850"]
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class DecodedText:
    """A decoded file: its text (line endings kept as in the file) and its encoding."""

    text: str
    encoding: str

    @property
    def lines(self) -> list[str]:
        """The file's lines, split on CRLF, CR or LF only (so numbers match an editor's)."""
        lines = _LINE_BREAK.split(self.text)
        if lines and lines[-1] == "":
            lines.pop()
        return lines


def decode_bytes(data: bytes, *, name: str = "fichier", max_bytes: int = MAX_FILE_BYTES) -> DecodedText:
    """Decode bytes as text, detecting the encoding.

    Args:
        data: the raw file content.
        name: how to call the file in error messages.
        max_bytes: larger inputs are refused.

    Returns:
        The decoded text and the encoding used.

    Raises:
        UnreadableFileError: empty, too large, binary, or undecodable content.
    """
    if len(data) > max_bytes:
        raise UnreadableFileError(
            f"{name} : fichier trop volumineux ({len(data) / 1e6:.1f} Mo, maximum {max_bytes / 1e6:.0f} Mo)."
        )
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableFileError(f"{name} : encodage illisible ({encoding}).") from exc
            text = text.lstrip("\ufeff")
            return _check_text(text, encoding, name)
    if not data.strip():
        raise UnreadableFileError(f"{name} : fichier vide.")
    if data.startswith(_BINARY_MAGIC) or b"\x00" in data[:8192]:
        raise UnreadableFileError(f"{name} : fichier binaire (PDF, image…), pas un texte.")
    try:
        return _check_text(data.decode("utf-8"), "utf-8", name)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # lazy: only non-UTF-8 files pay for it

    best = from_bytes(data, cp_isolation=_CANDIDATES).best()
    if best is None:
        raise UnreadableFileError(f"{name} : encodage non reconnu, ou fichier binaire.")
    return _check_text(str(best), best.encoding, name)


def _check_text(text: str, encoding: str, name: str) -> DecodedText:
    if not text.strip():
        raise UnreadableFileError(f"{name} : fichier vide.")
    sample = text[:20000]
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\t\n\r\f\v")
    if controls > max(8, len(sample) // 100):
        raise UnreadableFileError(f"{name} : fichier binaire, pas un texte.")
    return DecodedText(text=text, encoding=encoding)


def read_text(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> DecodedText:
    """Read and decode a file. Raises :class:`UnreadableFileError` with a one-line message."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise UnreadableFileError(
                f"{p.name} : fichier trop volumineux ({size / 1e6:.1f} Mo, maximum {max_bytes / 1e6:.0f} Mo)."
            )
        data = p.read_bytes()
    except UnreadableFileError:
        raise
    except IsADirectoryError as exc:
        raise UnreadableFileError(f"{p} : c'est un dossier, pas un fichier.") from exc
    except FileNotFoundError as exc:
        raise UnreadableFileError(f"{p} : fichier introuvable.") from exc
    except OSError as exc:
        raise UnreadableFileError(f"{p} : lecture impossible ({exc.strerror or exc}).") from exc
    return decode_bytes(data, name=p.name, max_bytes=max_bytes)


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
