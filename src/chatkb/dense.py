"""The dense index: FAISS over L2-normalised vectors (inner product = cosine).

Exact search (``IndexFlatIP``) while it is fast enough; HNSW beyond ``hnsw_threshold`` vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HNSW_THRESHOLD = 300_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def _faiss():
    import faiss

    return faiss


def build_dense(vectors: np.ndarray, *, hnsw_threshold: int = HNSW_THRESHOLD):
    """Build a FAISS index over ``vectors`` (n, dim), unit-normalised float32.

    Returns:
        The index; its ids are the rows of ``vectors``.
    """
    faiss = _faiss()
    n, dim = vectors.shape
    if n >= hnsw_threshold:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    if n:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def index_kind(index) -> str:
    return "hnsw" if "HNSW" in type(index).__name__ else "flat"


def save_dense(index, path: Path) -> None:
    _faiss().write_index(index, str(path))


def load_dense(path: Path):
    faiss = _faiss()
    index = faiss.read_index(str(path))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search_dense(index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows for one query vector: (scores, ids), best first; ids -1 are padding."""
    if index.ntotal == 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32, copy=False), min(k, index.ntotal))
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]
