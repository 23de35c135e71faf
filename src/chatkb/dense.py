"""The dense index: FAISS over L2-normalised vectors (inner product = cosine).

The type follows the number of vectors (measured with ``chatkb bench`` on these 2-core
machines; see docs/benchmarks.md):

* below ``HNSW_THRESHOLD`` vectors, exact search (``IndexFlatIP``): a scan of the float32
  vectors, about 1 ms per 10,000 vectors for one query;
* from there on, IVF with 4-bit PQ fast-scan codes (``IndexIVFPQFastScan``, one 4-bit code
  per 2 dimensions: 96 bytes per 384-d vector) finds ``REFINE_FACTOR × k`` candidates, which
  are re-ranked exactly on the stored vectors (``vectors.npy`` beside ``dense.faiss``,
  memory-mapped: only the candidates' rows are read). Builds in seconds to minutes (k-means on
  a sample), answers in about 1 ms at millions of vectors, with recall@10 ≥ 0.95 against
  exact search on vectors with real-embedding neighbourhoods; only the codes live in RAM.

``build_dense(..., kind="hnsw")`` still builds an HNSW graph for whoever wants it (fast search,
but a slow build and all vectors in RAM).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

HNSW_THRESHOLD = 20_000  # vectors from which the index is approximate (name kept for callers)
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
REFINE_FACTOR = 8  # approximate candidates per result, re-ranked exactly ...
REFINE_MIN = 256  # ... and never fewer than this many
IVF_TRAIN_PER_LIST = 40  # k-means sample: this many vectors per list
IVF_KMEANS_ITER = 10
IVF_PQ_SUBDIM = 2  # dimensions per 4-bit PQ sub-quantiser (384 dims -> 192 x 4 bits = 96 bytes)


def _faiss():
    import faiss

    return faiss


def ivf_lists(n: int) -> int:
    """IVF lists for ``n`` vectors: a power of two near √n, 64 to 1024.

    Adding costs n × lists (the assignment), scanning costs n × probes / lists: with probes a
    fixed share of the lists, more lists only make the build slower.
    """
    return int(min(1024, max(64, 2 ** round(math.log2(max(1.0, math.sqrt(n)))))))


def ivf_probes(nlist: int) -> int:
    """Lists scanned per query: a sixteenth of them, at least 64 (with 8 candidates per result:
    recall@10 0.97 at 600k vectors, 0.96 at 6M, where the 10th and 11th neighbours are 0.0005 apart)."""
    return int(min(nlist, max(64, nlist // 16)))


PREAD_MIN_BYTES = 2 << 30  # memory maps larger than this are read row by row with pread


def read_rows(vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``vectors[ids]`` as float32 (from float32 or float16), for a memory-mapped ``.npy`` without mapping pages in.

    On these kernels a page-cache page of a memory map comes as a large folio (~1 MB): every
    row read through the map adds ~1 MB to the process's resident set and, when the file is
    not cached, reads that much from disk. Large maps are therefore read with ``pread``, one
    call per run of consecutive rows (a thread's units are consecutive), after
    ``POSIX_FADV_RANDOM``; small ones through the map.
    """
    ids = np.asarray(ids, dtype=np.int64)
    filename = getattr(vectors, "filename", None)
    if not (isinstance(vectors, np.memmap) and filename and vectors.nbytes >= PREAD_MIN_BYTES and vectors.flags.c_contiguous
            and hasattr(os, "preadv")):
        return np.asarray(vectors[ids], dtype=np.float32)
    fd = _random_access_fd(filename)
    row = vectors.shape[1] * vectors.dtype.itemsize
    out = np.empty((len(ids), vectors.shape[1]), dtype=vectors.dtype)
    if len(ids) == 0:
        return out.astype(np.float32, copy=False)
    buf = memoryview(out).cast("B")
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(ids)]])
    base = int(vectors.offset)
    for a, b in zip(starts.tolist(), ends.tolist()):
        os.preadv(fd, [buf[a * row : b * row]], base + int(ids[a]) * row)
    return out.astype(np.float32, copy=False)


def read_range(array: np.ndarray, lo: int, hi: int, *, min_bytes: int = 64 << 20) -> np.ndarray:
    """``array[lo:hi]`` of a 1-D ``.npy``, read like :func:`read_rows`: ``pread`` for a memory map
    of ``min_bytes`` or more, so that random reads do not map a ~1 MB folio each (a thread's
    words in ``analysis/ids.npy``: 4.15 GiB serving RSS at a million threads instead of 3.5)."""
    filename = getattr(array, "filename", None)
    if not (isinstance(array, np.memmap) and filename and array.nbytes >= min_bytes and array.ndim == 1
            and hasattr(os, "preadv")) or hi <= lo:
        return np.array(array[lo:hi])
    fd = _random_access_fd(filename)
    out = np.empty(hi - lo, dtype=array.dtype)
    os.preadv(fd, [memoryview(out).cast("B")], int(array.offset) + lo * array.dtype.itemsize)
    return out


_fds: dict[str, int] = {}


def _random_access_fd(filename: str) -> int:
    """A descriptor on ``filename``, opened once, with ``POSIX_FADV_RANDOM`` (no readahead)."""
    fd = _fds.get(filename)
    if fd is None:
        fd = os.open(filename, os.O_RDONLY)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        fd = _fds.setdefault(filename, fd)
    return fd


class RefinedIndex:
    """An approximate FAISS index whose candidates are re-ranked exactly on the stored vectors.

    Behaves like a FAISS index for :func:`search_dense` (``ntotal``, ``search``).

    Args:
        index: the approximate index (its ids are rows of ``vectors``).
        vectors: the (n, dim) float32 unit vectors, usually memory-mapped.
        factor: candidates fetched per result.
    """

    def __init__(self, index, vectors: np.ndarray | None, factor: int = REFINE_FACTOR, *, trained_on: int = 0):
        self.index = index
        self.vectors = vectors
        self.factor = factor
        self.trained_on = trained_on or int(index.ntotal)  # vectors when the quantisers were trained

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def d(self) -> int:
        return int(self.index.d)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        _, cand = self.index.search(queries, min(self.ntotal, max(REFINE_MIN, self.factor * k)))
        out_d = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (q, ids) in enumerate(zip(queries, cand)):
            ids = np.sort(ids[ids >= 0])  # sorted rows: forward reads in the file
            if ids.size == 0:
                continue
            exact = read_rows(self.vectors, ids) @ q
            top = np.argsort(-exact, kind="stable")[:k]
            out_d[row, : len(top)] = exact[top]
            out_i[row, : len(top)] = ids[top]
        return out_d, out_i


def _chunks(vectors: np.ndarray, size: int = 262_144):
    """Contiguous float32 blocks of rows. A memory map is read with plain file reads, so that a
    build over a file larger than memory does not keep every page resident in this process."""
    n = vectors.shape[0]
    filename = getattr(vectors, "filename", None)
    if isinstance(vectors, np.memmap) and filename and vectors.dtype == np.float32 and vectors.flags.c_contiguous:
        row = vectors.shape[1]
        with open(filename, "rb") as f:
            for lo in range(0, n, size):
                m = min(size, n - lo)
                f.seek(int(vectors.offset) + lo * row * 4)
                yield np.fromfile(f, dtype=np.float32, count=m * row).reshape(m, row)
        return
    for lo in range(0, n, size):
        yield np.ascontiguousarray(vectors[lo : lo + size], dtype=np.float32)


def build_dense(vectors: np.ndarray, *, hnsw_threshold: int = HNSW_THRESHOLD, kind: str | None = None, seed: int = 1234,
                trained: RefinedIndex | None = None):
    """Build a FAISS index over ``vectors`` (n, dim), unit-normalised float32.

    Args:
        vectors: the vectors (a memory map is read in chunks, never copied whole).
        hnsw_threshold: from this many vectors on, an approximate index.
        kind: force ``flat``, ``ivf`` or ``hnsw`` (default: by size).
        trained: the previous build's IVF index: its quantisers are reused (no k-means) while
            the base has the same number of lists and at most doubled since they were trained.

    Returns:
        The index; its ids are the rows of ``vectors``.
    """
    faiss = _faiss()
    n, dim = vectors.shape
    if kind is None:
        kind = "ivf" if n >= hnsw_threshold and n >= 256 else "flat"
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
        for block in _chunks(vectors):
            index.add(block)
        return index
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        for block in _chunks(vectors):
            index.add(block)
        return index
    if kind != "ivf":
        raise ValueError(f"unknown dense index kind {kind!r}")
    nlist = ivf_lists(n)
    if trained is not None and trained.d == dim and int(trained.index.nlist) == nlist and n <= 2 * trained.trained_on:
        index = _faiss().clone_index(trained.index)
        index.reset()
        for block in _chunks(vectors):
            index.add(block)
        index.nprobe = ivf_probes(nlist)
        return RefinedIndex(index, vectors, trained_on=trained.trained_on)
    m = dim // IVF_PQ_SUBDIM if dim % IVF_PQ_SUBDIM == 0 else dim // 2 if dim % 2 == 0 else dim
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQFastScan(quantizer, dim, nlist, m, 4, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = IVF_KMEANS_ITER
    rng = np.random.default_rng(seed)
    n_train = min(n, max(nlist * IVF_TRAIN_PER_LIST, 20_000))
    sample = np.sort(rng.choice(n, size=n_train, replace=False)) if n_train < n else np.arange(n)
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for block in _chunks(vectors):
        index.add(block)
    index.nprobe = ivf_probes(nlist)
    return RefinedIndex(index, vectors)


def index_kind(index) -> str:
    if isinstance(index, RefinedIndex):
        return "ivfpq-refine"
    return "hnsw" if "HNSW" in type(index).__name__ else "flat"


def dense_info(index) -> dict:
    """What the manifest says about a dense index."""
    info = {"type": index_kind(index), "metric": "inner_product"}
    if isinstance(index, RefinedIndex):
        info["trained_on"] = index.trained_on
    return info


def load_trained(path: Path, info: dict) -> RefinedIndex | None:
    """A previous generation's IVF index, for its trained quantisers (``None`` for other kinds)."""
    if info.get("type") != "ivfpq-refine":
        return None
    try:
        index = _faiss().read_index(str(path))
    except RuntimeError:
        return None
    return RefinedIndex(index, None, trained_on=int(info.get("trained_on") or index.ntotal))


def save_dense(index, path: Path) -> None:
    _faiss().write_index(index.index if isinstance(index, RefinedIndex) else index, str(path))


def load_dense(path: Path, vectors: np.ndarray | None = None):
    """Read ``dense.faiss``; an IVF index is paired with the ``vectors.npy`` beside it (memory-mapped)."""
    faiss = _faiss()
    path = Path(path)
    index = faiss.read_index(str(path))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    if hasattr(index, "nprobe") and hasattr(index, "nlist"):
        index.nprobe = ivf_probes(int(index.nlist))
        if vectors is None:
            vectors = np.load(path.parent / "vectors.npy", mmap_mode="r", allow_pickle=False)
        return RefinedIndex(index, vectors)
    return index


def search_dense(index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows for one query vector: (scores, ids), best first; ids -1 are padding."""
    if index.ntotal == 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32, copy=False), min(k, index.ntotal))
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]
