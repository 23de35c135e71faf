"""Fusion: from unit scores of three scorers to one score and one confidence per thread.

For each candidate thread, eight features: the best MiniLM cosine of its questions (``dq``), of
its answer or passages (``da``) and of the whole thread (``dt``); the best BM25 score of its
questions (``lq``), of its answer or passages (``la``) and of the whole thread (``lt``), each
divided by the query's ideal BM25 score (sum of its terms' idf) so that it means the same
whatever the query; the best cosine of the French encoder (:mod:`chatkb.french`) of its
questions (``fq``) and of the whole thread (``ft``; it reads no answer or passage alone, see
``units.FRENCH_KINDS``). The thread's score is a weighted sum of the eight. The
confidence is a logistic function of the thread's score, of its margin over the best other
thread, of its *coverage* (the share of the query's information — rarer words weigh more —
found in the thread) and of its *soft coverage* (the same, where a word the thread lacks counts
for its closest word in the thread, by the French encoder), fitted on the development queries:
it estimates the probability that the thread is the right answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .units import ANSWER, PASSAGE, QUESTION, THREAD

FEATURES = ("dq", "da", "dt", "lq", "la", "lt", "fq", "ft")
# A hit's features are these eight, then its coverage and its soft coverage (chatkb.search).
COVERAGE, SOFT_COVERAGE = len(FEATURES), len(FEATURES) + 1


@dataclass(frozen=True)
class FusionParams:
    """Weights of the fused score and the confidence model.

    The defaults were fitted on the development half of ``tests/eval/queries.jsonl`` with
    ``chatkb tune tests/eval/queries.jsonl --split dev`` (see :func:`chatkb.evaluate.tune`).
    """

    w_dense_question: float = 0.022
    w_dense_answer: float = 0.022
    w_dense_thread: float = 0.067
    w_lex_question: float = 0.089
    w_lex_answer: float = 0.0
    w_lex_thread: float = 0.356
    w_french_question: float = 0.089
    w_french_thread: float = 0.356
    conf_bias: float = -18.321
    conf_score: float = 4.481
    conf_margin: float = 6.778
    conf_coverage: float = -6.686  # with soft coverage beside it: what counts is the covered meaning
    conf_soft: float = 26.523
    threshold: float = 0.28  # answered when the first thread's confidence is at least this

    @property
    def weights(self) -> np.ndarray:
        return np.array(
            [
                self.w_dense_question, self.w_dense_answer, self.w_dense_thread,
                self.w_lex_question, self.w_lex_answer, self.w_lex_thread,
                self.w_french_question, self.w_french_thread,
            ],
            dtype=np.float32,
        )


def thread_features(
    threads: np.ndarray,
    unit_offsets: np.ndarray,
    unit_kind: np.ndarray,
    dense_scores: np.ndarray,
    lex_scores: np.ndarray,
    lex_ideal: float,
    french_scores: np.ndarray | None = None,
) -> np.ndarray:
    """Features of the candidate threads.

    Args:
        threads: candidate thread indexes, shape (t,).
        unit_offsets: CSR offsets, thread ``i``'s units are ``unit_offsets[i]:unit_offsets[i+1]``.
        unit_kind: kind of every unit (``QUESTION`` or other).
        dense_scores: cosine of the query with each unit of the candidates, in the order of
            ``units_of(threads)``.
        lex_scores: BM25 score of every unit, indexed by unit id.
        lex_ideal: the query's ideal BM25 score (0 when no term is known).
        french_scores: the French encoder's cosine, in the order of ``dense_scores`` (its
            features are 0 when omitted).

    Returns:
        Array (t, 8): dq, da, dt, lq, la, lt, fq, ft (0 where a thread has no unit of that
        kind).
    """
    out = np.zeros((len(threads), len(FEATURES)), dtype=np.float32)
    norm = 1.0 / lex_ideal if lex_ideal > 0 else 0.0
    if len(threads) == 0:
        return out
    # One pass over the candidates' units (no Python loop per thread: ~0.2 ms instead of ~10 ms
    # for 128 candidates): each unit falls in the cell (thread, group of its kind).
    threads = np.asarray(threads, dtype=np.int64)
    counts = np.asarray(unit_offsets[threads + 1] - unit_offsets[threads], dtype=np.int64)
    units = units_of(threads, unit_offsets)
    group = _GROUP_OF_KIND[np.asarray(unit_kind[units], dtype=np.int64)]
    keep = group >= 0
    cell = (np.repeat(np.arange(len(threads)), counts) * 3 + group)[keep]

    def best(scores: np.ndarray, cell: np.ndarray, keep: np.ndarray, groups: int = 3) -> np.ndarray:
        cells = np.full(len(threads) * groups, -np.inf, dtype=np.float32)
        np.maximum.at(cells, cell, np.asarray(scores, dtype=np.float32)[keep])
        return np.where(np.isfinite(cells), cells, 0.0).reshape(-1, groups)

    out[:, :3] = best(np.asarray(dense_scores)[: len(units)], cell, keep)
    out[:, 3:6] = best(np.asarray(lex_scores)[units], cell, keep) * norm
    if french_scores is not None:
        fgroup = _FRENCH_GROUP_OF_KIND[np.asarray(unit_kind[units], dtype=np.int64)]
        fkeep = fgroup >= 0
        fcell = (np.repeat(np.arange(len(threads)), counts) * 2 + fgroup)[fkeep]
        out[:, 6:] = best(np.asarray(french_scores)[: len(units)], fcell, fkeep, 2)
    return out


# Feature group of each unit kind: questions, answer and passages, whole thread (-1: none).
_GROUP_OF_KIND = np.full(max(QUESTION, ANSWER, PASSAGE, THREAD) + 1, -1, dtype=np.int64)
_GROUP_OF_KIND[[QUESTION, ANSWER, PASSAGE, THREAD]] = [0, 1, 1, 2]
# The French encoder's: questions, whole thread (answers and passages have no French vector).
_FRENCH_GROUP_OF_KIND = np.full(len(_GROUP_OF_KIND), -1, dtype=np.int64)
_FRENCH_GROUP_OF_KIND[[QUESTION, THREAD]] = [0, 1]


def units_of(threads: np.ndarray, unit_offsets: np.ndarray) -> np.ndarray:
    """All unit ids of the given threads, thread by thread."""
    from .lexical import ranges

    threads = np.asarray(threads, dtype=np.int64)
    starts = np.asarray(unit_offsets[threads], dtype=np.int64)
    return ranges(starts, np.asarray(unit_offsets[threads + 1], dtype=np.int64) - starts)


def fuse(features: np.ndarray, params: FusionParams = FusionParams()) -> np.ndarray:
    """Fused score of each thread: the weighted sum of its features."""
    return features @ params.weights


def confidence(score: float, best_other: float, coverage: float, soft: float = 0.0, params: FusionParams = FusionParams()) -> float:
    """Probability-like confidence in [0, 1] that a thread answers the query.

    Args:
        score: the thread's fused score.
        best_other: the best fused score among the other candidates.
        coverage: share of the query's information found in the thread, in [0, 1].
        soft: the same where a missing word counts for its best French cosine to the thread's
            words (``KnowledgeBase._soft_coverage``), in [0, 1].
    """
    z = (
        params.conf_bias
        + params.conf_score * score
        + params.conf_margin * (score - best_other)
        + params.conf_coverage * coverage
        + params.conf_soft * soft
    )
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
