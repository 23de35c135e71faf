"""The dense index returns exactly what brute force returns (oracle test)."""

import numpy as np
import pytest

from chatkb.dense import build_dense, index_kind, load_dense, save_dense, search_dense


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_flat_topk_equals_numpy_bruteforce(tmp_path):
    rng = np.random.default_rng(0)
    vecs = _unit(rng.normal(size=(2000, 48)))
    index = build_dense(vecs)
    save_dense(index, tmp_path / "d.faiss")
    index = load_dense(tmp_path / "d.faiss")
    for q in _unit(rng.normal(size=(20, 48))):
        scores, ids = search_dense(index, q, 10)
        expected = np.argsort(-(vecs @ q), kind="stable")[:10]
        assert list(ids) == list(expected)
        np.testing.assert_allclose(scores, (vecs @ q)[expected], rtol=1e-5, atol=1e-5)


def test_hnsw_recall_on_clustered_vectors():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(50, 32))
    vecs = _unit(centers[rng.integers(0, 50, 5000)] + 0.3 * rng.normal(size=(5000, 32)))
    index = build_dense(vecs, hnsw_threshold=1000, kind="hnsw")
    assert "HNSW" in type(index).__name__
    queries = _unit(centers[rng.integers(0, 50, 50)] + 0.3 * rng.normal(size=(50, 32)))
    recall = []
    for q in queries:
        _, ids = search_dense(index, q, 10)
        truth = set(np.argsort(-(vecs @ q))[:10])
        recall.append(len(truth & set(ids)) / 10)
    assert np.mean(recall) >= 0.95


def test_empty_index_returns_nothing():
    index = build_dense(np.zeros((0, 8), dtype=np.float32))
    scores, ids = search_dense(index, np.ones(8, dtype=np.float32), 5)
    assert len(ids) == 0


def test_ivf_beyond_threshold_recall_and_reload(tmp_path):
    """Above the threshold: IVF-PQ candidates re-ranked exactly on the stored vectors (memory-mapped)."""
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(200, 64))
    vecs = _unit(centers[rng.integers(0, 200, 20000)] + 0.4 * rng.normal(size=(20000, 64)))
    index = build_dense(vecs, hnsw_threshold=1000)
    assert index_kind(index) == "ivfpq-refine" and index.ntotal == len(vecs)
    np.save(tmp_path / "vectors.npy", vecs)
    save_dense(index, tmp_path / "dense.faiss")
    index = load_dense(tmp_path / "dense.faiss")
    assert index_kind(index) == "ivfpq-refine" and isinstance(index.vectors, np.memmap)
    queries = _unit(centers[rng.integers(0, 200, 50)] + 0.4 * rng.normal(size=(50, 64)))
    recall = []
    for q in queries:
        scores, ids = search_dense(index, q, 10)
        exact = vecs @ q
        truth = set(np.argsort(-exact)[:10])
        recall.append(len(truth & set(ids)) / 10)
        np.testing.assert_allclose(scores, exact[ids], rtol=1e-5, atol=1e-5)  # re-ranked on the real vectors
    assert np.mean(recall) >= 0.95


@pytest.mark.parametrize("min_bytes", [0, 1 << 40])
def test_read_range_equals_slicing_through_pread_or_the_map(tmp_path, min_bytes):
    from chatkb.dense import read_range

    a = np.arange(100_000, dtype=np.int32) * 7
    np.save(tmp_path / "a.npy", a)
    m = np.load(tmp_path / "a.npy", mmap_mode="r")
    for lo, hi in [(0, 1), (123, 4567), (99_990, 100_000), (5, 5)]:
        got = read_range(m, lo, hi, min_bytes=min_bytes)
        assert got.dtype == a.dtype and np.array_equal(got, a[lo:hi])
