"""Thread records on disk, read on demand.

``threads.jsonl`` holds one JSON record per line; ``threads.offsets.npy`` the byte offset of
every line (and the file's size last). :class:`ThreadStore` maps the file and decodes a record
only when asked for it, so that a base of a million threads costs a few MB of memory instead
of gigabytes of Python objects, and a query decodes only the threads it returns.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Iterable, overload

import numpy as np

from .records import Thread


def record_lines(records: Iterable[dict]) -> tuple[bytes, np.ndarray]:
    """Records as JSON lines, and the offset where each starts (and the end) in those bytes."""
    lines = [(json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8") for r in records]
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in lines], out=offsets[1:])
    return b"".join(lines), offsets


def write_threads(path: Path, chunks: Iterable[tuple[bytes, np.ndarray]]) -> np.ndarray:
    """Write chunks of JSON lines (bytes, their offsets from :func:`record_lines` or
    :meth:`ThreadStore.raw_lines`); return the offsets of all records (n + 1) to save beside."""
    offsets, base = [np.zeros(1, dtype=np.int64)], 0
    with open(path, "wb") as f:
        for blob, rel in chunks:
            f.write(blob)
            offsets.append(np.asarray(rel[1:], dtype=np.int64) + base)
            base += len(blob)
        f.flush()
        os.fsync(f.fileno())
    return np.concatenate(offsets)


class ThreadStore(Sequence):
    """The threads of a generation, decoded from a memory map when indexed.

    Args:
        path: ``threads.jsonl``.
        offsets: byte offset of each record, and the file size last.

    Raises:
        ValueError: the offsets do not describe the file.
    """

    def __init__(self, path: str | Path, offsets: np.ndarray):
        self.path = Path(path)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        size = self.path.stat().st_size
        if self._offsets.ndim != 1 or len(self._offsets) < 1 or self._offsets[0] != 0 or self._offsets[-1] != size or np.any(np.diff(self._offsets) <= 0):
            raise ValueError("threads.offsets.npy does not match threads.jsonl")
        if size:
            with open(self.path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            self._map = b""

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def raw_lines(self, lo: int, hi: int) -> tuple[bytes, np.ndarray]:
        """Records ``lo`` to ``hi`` as stored (JSON lines), and where each starts in those bytes."""
        a, b = int(self._offsets[lo]), int(self._offsets[hi])
        return bytes(self._map[a:b]), self._offsets[lo : hi + 1] - a

    def raw(self, i: int) -> dict:
        """Record ``i`` as stored (a dict)."""
        return json.loads(self._map[int(self._offsets[i]) : int(self._offsets[i + 1])])

    @overload
    def __getitem__(self, i: int) -> Thread: ...

    @overload
    def __getitem__(self, i: slice) -> list[Thread]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return Thread.from_dict(self.raw(i))
