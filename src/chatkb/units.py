"""Units: the pieces through which a thread is found.

Each question on its own (with its FAQ topic), the whole answer, passages of long answers, and
the whole thread (questions and answer together, so that a query whose words are spread over
both still matches). Each unit is indexed in both the dense and the lexical index and points
back to its thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .records import Thread, content_hash

QUESTION, ANSWER, PASSAGE, THREAD = 0, 1, 2, 3
KIND_NAMES = ("question", "answer", "passage", "thread")
PASSAGE_WORDS = 60  # a passage gathers whole answer lines up to about this many words
# Units through which BM25 proposes candidate threads. The whole-thread unit holds every word of
# the answer and its passages, with ~40% of all postings: at a million threads, proposing from
# it and the questions costs a third of proposing from every unit (docs/benchmarks.md); every
# unit of a proposed thread is then scored.
CANDIDATE_KINDS = (QUESTION, THREAD)
# Units the French encoder reads (chatkb.french). Answers and passages are left to MiniLM and
# BM25: on the development queries their French feature got no weight, and they are half the
# French encoder's work on a new transcript.
FRENCH_KINDS = (QUESTION, THREAD)


def french_rows(unit_kind: np.ndarray) -> np.ndarray:
    """Each unit's row in the French encoder's vectors (``vectors-fr.npy``), -1 for the units it
    does not read: the file holds the rows of ``FRENCH_KINDS`` units only, in unit order."""
    reads = np.isin(np.asarray(unit_kind), FRENCH_KINDS)
    rows = np.cumsum(reads, dtype=np.int64) - 1
    rows[~reads] = -1
    return rows.astype(np.int32)  # 24 MB at a million threads


@dataclass(frozen=True)
class Unit:
    """A searchable text pointing to its thread (by index in the build's thread list)."""

    thread: int
    kind: int
    text: str

    def key(self, model_key: str) -> str:
        """Cache key of this unit's vector: the model and the exact text embedded."""
        return content_hash(model_key, self.text)


def passages(answer_text: str, *, words: int = PASSAGE_WORDS) -> list[str]:
    """Split a long answer into consecutive groups of whole lines of about ``words`` words.

    Returns an empty list for answers short enough to be one passage.
    """
    groups: list[list[str]] = [[]]
    count = 0
    for line in (ln.strip() for ln in answer_text.split("\n")):
        if not line:
            continue
        n = len(line.split())
        if groups[-1] and count + n > words:
            groups.append([])
            count = 0
        groups[-1].append(line)
        count += n
    return [" ".join(g) for g in groups] if len(groups) > 1 else []


def thread_units(index: int, thread: Thread) -> list[Unit]:
    """The units of one thread."""
    prefix = f"{thread.topic} : " if thread.topic else ""
    units = [Unit(index, QUESTION, prefix + q.text) for q in thread.questions]
    if thread.answer is not None and thread.answer.text.strip():
        units.append(Unit(index, ANSWER, thread.answer.text))
        units.extend(Unit(index, PASSAGE, p) for p in passages(thread.answer.text))
        questions = " ".join(q.text for q in thread.questions)
        units.append(Unit(index, THREAD, f"{prefix}{questions}\n{thread.answer.text}"))
    return units


def make_units(threads: Iterable[Thread]) -> list[Unit]:
    """All units, grouped by thread in thread order."""
    return [u for i, t in enumerate(threads) for u in thread_units(i, t)]
