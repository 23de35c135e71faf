"""Fusion equals a hand-computed result on a three-thread case."""

import numpy as np
import pytest

from chatkb.fusion import FusionParams, confidence, fuse, thread_features, units_of
from chatkb.units import ANSWER, PASSAGE, QUESTION, THREAD


def test_three_threads_by_hand():
    # thread 0: question, answer, thread ; thread 1: 2 questions, answer, passage, thread ;
    # thread 2: one unanswered question
    kinds = np.array([QUESTION, ANSWER, THREAD, QUESTION, QUESTION, ANSWER, PASSAGE, THREAD, QUESTION], dtype=np.int8)
    offsets = np.array([0, 3, 8, 9])
    cand = np.array([0, 1, 2])
    assert list(units_of(cand, offsets)) == list(range(9))
    dense = np.array([0.5, 0.2, 0.3, 0.1, 0.7, 0.3, 0.6, 0.4, 0.4], dtype=np.float32)
    lex = np.array([2.0, 0.0, 1.0, 0.0, 1.0, 4.0, 3.0, 2.0, 0.0], dtype=np.float32)
    french = np.array([0.1, 0.4, 0.2, 0.3, 0.2, 0.5, 0.1, 0.6, 0.9], dtype=np.float32)
    feats = thread_features(cand, offsets, kinds, dense, lex, 4.0, french)
    expected = np.array(  # dq, da, dt, lq, la, lt, fq, ft (the French encoder reads no answer or passage)
        [
            [0.5, 0.2, 0.3, 0.5, 0.0, 0.25, 0.1, 0.2],
            [0.7, 0.6, 0.4, 0.25, 1.0, 0.5, 0.3, 0.6],
            [0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.0],
        ],
        dtype=np.float32,
    )
    np.testing.assert_allclose(feats, expected, atol=1e-6)
    params = FusionParams(
        w_dense_question=0.2, w_dense_answer=0.1, w_dense_thread=0.2,
        w_lex_question=0.1, w_lex_answer=0.2, w_lex_thread=0.2,
        w_french_question=0.5, w_french_thread=0.25,
    )
    scores = fuse(feats, params)
    # 0.28 + 0.5*0.1 + 0.25*0.2 ; 0.605 + 0.5*0.3 + 0.25*0.6 ; 0.08 + 0.5*0.9
    np.testing.assert_allclose(scores, [0.38, 0.905, 0.53], atol=1e-6)
    assert int(np.argmax(scores)) == 1
    # without French scores, its three features are 0 and the rest is unchanged
    np.testing.assert_allclose(thread_features(cand, offsets, kinds, dense, lex, 4.0), np.hstack([expected[:, :6], np.zeros((3, 2))]), atol=1e-6)


def test_confidence_by_hand_monotonic_and_bounded():
    p = FusionParams(conf_bias=-5, conf_score=10, conf_margin=5, conf_coverage=2, conf_soft=3)
    assert confidence(0.615, 0.37, 0.5, 0.8, p) == pytest.approx(1 / (1 + np.exp(-(-5 + 6.15 + 1.225 + 1.0 + 2.4))))
    values = [confidence(s, 0.2, 0.5, 0.5, p) for s in (0.0, 0.3, 0.6, 0.9)]
    assert values == sorted(values)
    assert confidence(0.4, 0.2, 1.0, 0.5, p) > confidence(0.4, 0.2, 0.0, 0.5, p)  # covering the query helps
    assert confidence(0.4, 0.2, 0.5, 0.9, p) > confidence(0.4, 0.2, 0.5, 0.5, p)  # so do words close in meaning
    assert all(0.0 <= v <= 1.0 for v in values)
    assert confidence(1e9, 0, 0, 0, p) == 1.0


def test_unknown_terms_give_zero_lexical_features():
    kinds = np.array([QUESTION, ANSWER], dtype=np.int8)
    feats = thread_features(np.array([0]), np.array([0, 2]), kinds, np.array([0.3, 0.1], np.float32), np.zeros(2, np.float32), 0.0)
    assert feats[0, 3] == 0 and feats[0, 4] == 0 and feats[0, 5] == 0


def test_units_of_equals_each_threads_range():
    rng = np.random.default_rng(3)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 6, size=200))])
    for _ in range(20):
        threads = rng.choice(200, size=rng.integers(0, 40), replace=False)
        expected = [u for t in threads for u in range(offsets[t], offsets[t + 1])]
        assert units_of(threads, offsets).tolist() == expected
