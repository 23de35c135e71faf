"""The lexical index's scale paths give what bm25s gives (oracle: a full score array)."""

from __future__ import annotations

import numpy as np
import pytest

import chatkb.lexical as lexical
from chatkb.lexical import LexicalIndex, impact_lists, top_k


def _corpus(n_docs=6000, vocab=200, seed=0):
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, vocab + 1)
    p /= p.sum()
    docs = [[f"s{x}" for x in rng.choice(vocab, size=rng.integers(0, 40), p=p)] for _ in range(n_docs)]
    return docs, rng, p


@pytest.fixture(scope="module")
def indexes():
    docs, rng, p = _corpus()
    built = LexicalIndex.build(docs)
    vocab = built.vocab
    indptr, ids, tfs = [0], [], []
    for d in docs:
        counts: dict[int, int] = {}
        for t in d or [""]:
            counts[vocab[t]] = counts.get(vocab[t], 0) + 1
        ids += list(counts)
        tfs += list(counts.values())
        indptr.append(len(ids))
    counted = LexicalIndex.from_counts(np.array(indptr), np.array(ids, dtype=np.int32), np.array(tfs), vocab)
    return built, counted, rng, p


def test_from_counts_matches_bm25s(indexes):
    built, counted, rng, p = indexes
    for _ in range(30):
        q = np.unique(rng.choice(len(p), size=rng.integers(1, 6), p=p)) + 1
        np.testing.assert_allclose(built.scores(q), counted.scores(q), rtol=1e-5, atol=1e-6)


def _same_top(full, got, k):
    exact = top_k(full, k)
    return np.allclose(np.sort(full[exact]), np.sort(full[got]), atol=1e-6)


@pytest.mark.parametrize("force", ["exhaustive", "maxscore", "accumulate"])
def test_top_units_and_unit_scores_are_exact(indexes, monkeypatch, force):
    built, _, rng, p = indexes
    if force == "exhaustive":
        idx = built
    else:  # push every query off the exhaustive path, with short heads
        monkeypatch.setattr(lexical, "EXHAUSTIVE_POSTINGS", 0)
        monkeypatch.setattr(lexical, "MAXSCORE_POSTINGS", 10**9 if force == "maxscore" else 0)
        idx = LexicalIndex(built.bm25, built.vocab, impact_lists(built._indptr, built._indices, built._data, depth=40))
    for _ in range(150):
        q = np.unique(rng.choice(len(p), size=rng.integers(1, 6), p=p)) + 1
        full = idx.scores(q)
        for k in (1, 10, 64):
            got = idx.top_units(q, k)
            assert len(got) == min(k, int((full > 0).sum()))
            assert _same_top(full, got, k)
            assert np.all(np.diff(full[got]) <= 1e-6)  # best first
        units = rng.choice(idx.num_docs, 300)
        np.testing.assert_allclose(idx.unit_scores(q, units), full[units], atol=1e-6)
        assert not idx._scratch().any()  # the scratch array is left clean
    assert idx.stats[force] > 0


def test_impacts_saved_and_loaded(indexes, tmp_path):
    built, _, _, _ = indexes
    built.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    for a, b in zip((built._top_indptr, built._top_units, built._top_scores), (loaded._top_indptr, loaded._top_units, loaded._top_scores)):
        np.testing.assert_array_equal(a, b)
