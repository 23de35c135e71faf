"""Saving an uploaded document into the corpus folder, safely.

The file name a browser sends is not trusted: only its last component is kept, turned into
an ASCII slug (no ``../``, no separators, no leading dot), with its extension (``.txt`` or
``.md`` only). A file is never overwritten: a name already taken gets ``-2``, ``-3`` …; the
content is written to a hidden temporary file first (ignored by the corpus scan) and then
linked to its final name, which fails rather than replaces when the name exists.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from pathlib import Path

from .errors import ChatkbError
from .index import CORPUS_SUFFIXES
from .records import slugify

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ALLOWED_SUFFIXES = {".txt": ".txt", ".md": ".md", ".markdown": ".md"}
MAX_STEM = 80


class UploadError(ChatkbError):
    """An upload refused before anything is written (name, extension, size)."""

    exit_code = 2


def _display(name: str) -> str:
    return " ".join(str(name).split())[:120] or "fichier"


def safe_filename(name: str) -> str:
    """A safe corpus file name for the uploaded ``name``.

    ``../../etc/Réseaux sociaux.TXT`` → ``reseaux-sociaux.txt``.

    Raises:
        UploadError: no extension, or one other than ``.txt``/``.md``.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", str(name)))[-1].strip()
    stem, dot, ext = base.rpartition(".")
    suffix = ALLOWED_SUFFIXES.get(("." + ext.lower().strip()) if dot else "")
    if suffix is None:
        shown = f"« .{_display(ext)[:20]} »" if dot and ext.strip() else "aucune"  # one line, whatever the name holds
        raise UploadError(
            f"{_display(name)} : extension {shown} non prise en charge ; déposez une transcription .txt ou une FAQ .md."
        )
    slug = slugify(stem)[:MAX_STEM].strip("-")
    if not slug or slug == "doc":
        slug = "document"
    return slug + suffix


def check_upload(name: str, data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """Check an upload's name and size; return its safe file name.

    Raises:
        UploadError: bad extension, empty, or larger than ``max_bytes``.
    """
    safe = safe_filename(name)
    if not data:
        raise UploadError(f"{_display(name)} : fichier vide.")
    if len(data) > max_bytes:
        raise UploadError(
            f"{_display(name)} : fichier trop volumineux ({len(data) / 1e6:.1f} Mo, maximum {max_bytes / 1e6:.0f} Mo)."
        )
    return safe


def find_same_content(corpus_dir: str | Path, data: bytes) -> Path | None:
    """A corpus file with exactly these bytes, if any (an upload already added)."""
    corpus = Path(corpus_dir)
    if not corpus.is_dir():
        return None
    digest = hashlib.sha256(data).hexdigest()
    for f in sorted(corpus.rglob("*")):
        if f.is_file() and f.suffix.lower() in CORPUS_SUFFIXES and f.stat().st_size == len(data):
            if hashlib.sha256(f.read_bytes()).hexdigest() == digest:
                return f
    return None


def save_upload(corpus_dir: str | Path, name: str, data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """Write an upload into ``corpus_dir`` under a safe, new name and return its path.

    Raises:
        UploadError: refused name, extension or size (nothing is written).
    """
    safe = check_upload(name, data, max_bytes=max_bytes)
    corpus = Path(corpus_dir).resolve()
    corpus.mkdir(parents=True, exist_ok=True)
    stem, suffix = safe.rsplit(".", 1)
    tmp = corpus / f".upload-{uuid.uuid4().hex}.tmp"
    with open(tmp, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        for n in range(1, 10_000):
            target = corpus / (safe if n == 1 else f"{stem}-{n}.{suffix}")
            if target.resolve().parent != corpus:  # never outside the corpus
                raise UploadError(f"{_display(name)} : nom de fichier refusé.")
            try:
                os.link(tmp, target)  # atomic, and fails if the name exists
            except FileExistsError:
                continue
            except OSError:  # a file system without hard links
                try:
                    with open(target, "xb") as out:
                        out.write(data)
                except FileExistsError:
                    continue
            return target
        raise UploadError(f"{_display(name)} : trop de fichiers portent déjà ce nom.")
    finally:
        tmp.unlink(missing_ok=True)
