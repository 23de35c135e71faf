"""The dense index returns exactly what brute force returns (oracle test)."""

import numpy as np

from chatkb.dense import build_dense, load_dense, save_dense, search_dense


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
    index = build_dense(vecs, hnsw_threshold=1000)
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
