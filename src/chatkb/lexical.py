"""The lexical index: BM25 (bm25s, Lucene variant) over the French analyser's stems.

Token ids are ours (a stem → id vocabulary saved beside bm25s's arrays), so a query maps its
stems to ids once and asks bm25s for the scores of every unit (``get_scores_from_ids``); the
top units are then taken with ``np.argpartition``, which at 1M units is ~15× faster than
``retrieve()``.

At scale (millions of units) a fresh score array over every unit and its ``argpartition``
cost more than the rest of a query (~60 ms at 6M units), so :meth:`LexicalIndex.top_units`
finds the same best units (exactly) without them. Few postings: they are added up in a
per-thread scratch array. More: a MaxScore search seeds a threshold from each term's
highest-impact postings (kept at build time), keeps only the terms that can still lift a unit
over it and scores their units by binary search in every term's (sorted) postings. Only very
common terms: every posting is added up in the scratch array, which is then scanned for the
units over the seeds' threshold. :meth:`LexicalIndex.unit_scores` gives exact scores of given
units (the search's features need no more).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

IMPACT_DEPTH = 1024  # per-term highest-impact postings kept (for terms with more postings than that)
EXHAUSTIVE_POSTINGS = 150_000  # up to this many postings in all, a query just adds them up (exact)
MAXSCORE_POSTINGS = 10_000  # up to this many postings of its essential terms, MaxScore (exact); beyond, adding up is cheaper
IMPACT_FILES = ("impacts.indptr.npy", "impacts.units.npy", "impacts.scores.npy")


class LexicalIndex:
    """BM25 scores of units for a bag of stems.

    Args:
        bm25: a fitted ``bm25s.BM25``.
        vocab: stem → token id.
    """

    def __init__(self, bm25, vocab: dict[str, int], impacts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None):
        self.bm25 = bm25
        self.vocab = vocab
        indptr = np.asarray(bm25.scores["indptr"])
        n = int(bm25.scores["num_docs"])
        df = np.diff(indptr).astype(np.float64)
        # Lucene's idf: the most a term can add to one unit's score.
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.num_docs = n
        self._indptr = indptr.astype(np.int64, copy=False)
        self._indices = bm25.scores["indices"]
        self._data = bm25.scores["data"]
        self.df = np.diff(self._indptr)
        if impacts is None:
            impacts = impact_lists(self._indptr, self._indices, self._data)
        self._top_indptr, self._top_units, self._top_scores = impacts
        # The most one posting of a term adds to a unit (the head of its impact list, else a max).
        self.max_impact = np.zeros(len(self.df), dtype=np.float32)
        nonempty = np.flatnonzero(self.df > 0)
        if nonempty.size:
            self.max_impact[nonempty] = np.maximum.reduceat(np.asarray(self._data), self._indptr[nonempty])
        self._local = threading.local()
        self.stats: Counter = Counter()  # how queries were answered (exhaustive / maxscore / fallback)

    @property
    def num_postings(self) -> int:
        return int(self._indptr[-1])

    @classmethod
    def from_counts(
        cls, doc_indptr: np.ndarray, token_ids: np.ndarray, tf: np.ndarray, vocab: dict[str, int], *, k1: float = 1.2, b: float = 0.75
    ) -> "LexicalIndex":
        """Index from unit-major counts: unit ``i`` holds the distinct ``token_ids[doc_indptr[i]:doc_indptr[i+1]]``
        with counts ``tf``. The arrays are bm25s's (Lucene BM25, CSC), computed in numpy in
        O(postings) memory and time, with no Python list per unit.
        """
        import bm25s
        from scipy.sparse import csr_matrix

        n_docs = len(doc_indptr) - 1
        n_vocab = len(vocab)
        tf = np.asarray(tf)
        doc_indptr = np.asarray(doc_indptr, dtype=np.int64)
        dl = np.bincount(np.repeat(np.arange(n_docs), np.diff(doc_indptr)), weights=tf, minlength=n_docs).astype(np.int64)
        avg = float(dl.mean()) if n_docs else 1.0
        df = np.bincount(token_ids, minlength=n_vocab).astype(np.float64)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = k1 * ((1 - b) + b * dl.astype(np.float64) / avg)  # per unit
        data = np.repeat(norm, np.diff(doc_indptr))
        data += tf
        np.divide(tf, data, out=data)
        data *= idf[token_ids]
        data = data.astype(np.float32)
        itype = np.int32 if len(token_ids) < 2**31 - 1 else np.int64
        csc = csr_matrix((data, token_ids.astype(itype, copy=False), doc_indptr.astype(itype)), shape=(n_docs, n_vocab)).tocsc()
        del data
        csc.sort_indices()
        bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        bm25.scores = {"data": csc.data, "indices": csc.indices.astype(np.int32, copy=False), "indptr": csc.indptr, "num_docs": n_docs}
        bm25.vocab_dict = dict(vocab)
        bm25.nonoccurrence_array = None
        return cls(bm25, dict(vocab))

    @classmethod
    def from_words(cls, counts: "WordCounts", *, keep: np.ndarray | None = None, k1: float = 1.2, b: float = 0.75) -> "LexicalIndex":
        """Index from each unit's word counts (:meth:`WordCounts.stems`); with ``keep``, of
        those units only (document ``i`` is then the ``i``-th kept unit)."""
        vocab, indptr, ids, tf = counts.stems()
        if keep is not None:
            indptr, ids, tf = select_rows(indptr, ids, tf, keep)
        return cls.from_counts(indptr, ids, tf, vocab, k1=k1, b=b)

    @classmethod
    def build(cls, token_lists: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> "LexicalIndex":
        """Index one token list per unit."""
        import bm25s

        vocab: dict[str, int] = {"": 0}  # id 0 is a never-matching placeholder for empty units
        ids = [[vocab.setdefault(t, len(vocab)) for t in tokens] or [0] for tokens in token_lists]
        bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
        return cls(bm25, vocab)

    def token_ids(self, stems: Sequence[str]) -> np.ndarray:
        """Known, distinct token ids of a query's stems."""
        ids = {self.vocab[s] for s in stems if s and s in self.vocab}
        return np.fromiter(sorted(ids), dtype=np.int32, count=len(ids))

    def scores(self, token_ids: np.ndarray) -> np.ndarray:
        """BM25 score of every unit (zeros when no token is known)."""
        if token_ids.size == 0:
            return np.zeros(self.num_docs, dtype=np.float32)
        return self.bm25.get_scores_from_ids(token_ids.tolist())

    def contains(self, token_id: int, units: np.ndarray) -> np.ndarray:
        """Which of ``units`` contain the token (postings are sorted: a binary search each)."""
        indptr, indices = self.bm25.scores["indptr"], self.bm25.scores["indices"]
        postings = indices[int(indptr[token_id]) : int(indptr[token_id + 1])]
        pos = np.searchsorted(postings, units)
        pos[pos >= len(postings)] = max(len(postings) - 1, 0)
        return (postings[pos] == units) if len(postings) else np.zeros(len(units), dtype=bool)

    def ideal(self, token_ids: np.ndarray) -> float:
        """Sum of the query terms' idf: a ceiling that makes scores comparable across queries."""
        return float(self.idf[token_ids].sum()) if token_ids.size else 0.0

    # ------------------------------------------------------------ best units without a full array
    def top_units(self, token_ids: np.ndarray, k: int) -> np.ndarray:
        """Ids of the ``k`` units with the highest positive BM25 score, best first (exact).

        The units of ``top_k(self.scores(token_ids), k)`` (ties aside), without a score array
        built and partitioned over every unit for each query.
        """
        t = unique(np.asarray(token_ids, dtype=np.int64))
        if t.size == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64)
        total = int(self.df[t].sum())
        if total <= max(EXHAUSTIVE_POSTINGS, 4 * k):
            self.stats["exhaustive"] += 1
            return self._accumulate(t, k)
        # MaxScore: a threshold from real units (every term's highest-impact postings, scored
        # exactly); terms that cannot lift a unit over it on their own are not essential.
        seed = unique(np.concatenate([self._head(int(x)) for x in t]))
        seed_scores = self.unit_scores(t, seed)
        theta = float(np.partition(seed_scores, len(seed) - k)[len(seed) - k]) if len(seed) >= k else 0.0
        order = np.argsort(self.max_impact[t], kind="stable")
        bound = np.cumsum(self.max_impact[t][order].astype(np.float64))
        n_lazy = int(np.searchsorted(bound, theta, side="left")) if theta > 0 else 0
        essential = t[order[n_lazy:]]
        if int(self.df[essential].sum()) <= MAXSCORE_POSTINGS:
            self.stats["maxscore"] += 1
            # a unit over theta holds an essential term: score their postings exactly
            cand = unique(np.concatenate([self._postings(int(x))[0] for x in essential] + [seed]))
            return _best(cand, self.unit_scores(t, cand), k)
        # Only common terms: add every posting up.
        self.stats["accumulate"] += 1
        return self._accumulate(t, k)

    def unit_scores(self, token_ids: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Exact BM25 scores of ``units`` (binary search in each term's sorted postings)."""
        units = np.asarray(units)
        out = np.zeros(len(units), dtype=np.float32)
        if len(units) == 0:
            return out
        for tid in unique(np.asarray(token_ids, dtype=np.int64)):
            ids, vals = self._postings(int(tid))
            if len(ids) == 0:
                continue
            if len(ids) < 8 * len(units):  # short postings: lay them out in the scratch array, read the units
                buf = self._scratch()
                buf[ids] = vals
                out += buf[units]
                buf[ids] = 0.0
                continue
            pos = np.searchsorted(ids, units)
            np.minimum(pos, len(ids) - 1, out=pos)
            hit = ids[pos] == units
            out[hit] += vals[pos[hit]]
        return out

    def _scratch(self) -> np.ndarray:
        """A zeroed float32 array over all units, one per thread, left zeroed after each use."""
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) != self.num_docs:
            buf = self._local.buf = np.zeros(self.num_docs, dtype=np.float32)
        return buf

    def _postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self._indptr[tid]), int(self._indptr[tid + 1])
        return self._indices[lo:hi], self._data[lo:hi]

    def _head(self, tid: int) -> np.ndarray:
        """The term's highest-impact postings (all of them when it has few)."""
        lo, hi = int(self._top_indptr[tid]), int(self._top_indptr[tid + 1])
        return self._top_units[lo:hi] if hi > lo else self._postings(tid)[0]

    def _accumulate(self, t: np.ndarray, k: int) -> np.ndarray:
        """Exact top ``k`` by adding up the terms' postings in a reusable per-thread array.

        When the postings are many against the number of units, the array is then scanned for
        the units scoring at least the k-th best of the terms' heads (exact sums by now) and
        cleared whole; otherwise the touched units are gathered and cleared one by one.
        """
        buf = self._scratch()
        total = 0
        for tid in t:
            ids, vals = self._postings(int(tid))
            np.add.at(buf, ids, vals)  # numpy >= 2: faster than buf[ids] += vals
            total += len(ids)
        if total * 8 >= self.num_docs:
            seed = unique(np.concatenate([self._head(int(x)) for x in t]))
            if len(seed) >= k:
                s = buf[seed]
                theta = float(np.partition(s, len(s) - k)[len(s) - k])
                mask = getattr(self._local, "mask", None)
                if mask is None or len(mask) != self.num_docs:
                    mask = self._local.mask = np.empty(self.num_docs, dtype=bool)
                np.greater_equal(buf, theta, out=mask) if theta > 0 else np.greater(buf, 0, out=mask)
                cand = np.flatnonzero(mask)
                scores = buf[cand]
                buf.fill(0.0)
                return _best(cand, scores, k)
        cand = np.concatenate([self._postings(int(tid))[0] for tid in t])
        scores = buf[cand]
        buf[cand] = 0.0
        if len(t) > 1:  # a unit appears once per term it holds: the best k*len(t) entries hold the best k units
            m = k * len(t)
            if len(cand) > m:
                part = np.argpartition(-scores, m - 1)[:m]
                cand, scores = cand[part], scores[part]
            cand, first = np.unique(cand, return_index=True)
            scores = scores[first]
        return _best(cand, scores, k)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(folder), allow_pickle=False, show_progress=False)
        (folder / "stems.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        for name, arr in zip(IMPACT_FILES, (self._top_indptr, self._top_units, self._top_scores)):
            np.save(folder / name, arr, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = False) -> "LexicalIndex":
        import bm25s

        bm25 = bm25s.BM25.load(str(folder), mmap=mmap, allow_pickle=False, load_vocab=False, show_progress=False)
        vocab = json.loads((folder / "stems.json").read_text(encoding="utf-8"))
        impacts = None
        if all((folder / name).is_file() for name in IMPACT_FILES):
            impacts = tuple(np.load(folder / name, allow_pickle=False) for name in IMPACT_FILES)
        return cls(bm25, vocab, impacts)


class WordCounts:
    """Each unit's folded words and their counts (CSR rows): the analyser's work on the units,
    kept between builds so that an incremental build analyses only new texts.

    BM25's stems (:meth:`LexicalIndex.from_words`) and the typo-correction vocabulary are both
    derived from it. Row ``i`` holds the word ids ``ids[indptr[i]:indptr[i+1]]`` with counts
    ``tf``; ``words`` is sorted and holds only words that some unit contains.
    """

    FILES = ("words.json", "indptr.npy", "ids.npy", "tf.npy")

    def __init__(self, words: list[str], indptr: np.ndarray, ids: np.ndarray, tf: np.ndarray):
        self._stems = None
        self.words = words
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.ids = np.asarray(ids, dtype=np.int32)
        self.tf = np.asarray(tf, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def gather(cls, texts: Sequence[str | None], *, previous: "WordCounts | None" = None, reuse: Sequence[int] | np.ndarray | None = None) -> "WordCounts":
        """Counts for ``texts``: row ``reuse[i]`` of ``previous`` when it is ≥ 0, else analysed now.

        Args:
            texts: one text per unit (``None`` where a previous row is reused).
            previous: the counts of a previous build.
            reuse: for each text, the row of ``previous`` holding the same text, or -1.
        """
        from .analyzer import words as analyse_words

        n = len(texts)
        rows = np.asarray(reuse if reuse is not None and previous is not None else np.full(n, -1), dtype=np.int64)
        vocab: dict[str, int] = {w: i for i, w in enumerate(previous.words)} if previous is not None else {}
        fresh: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i in np.flatnonzero(rows < 0).tolist():
            counts = Counter(analyse_words(texts[i]))
            fresh[i] = (np.fromiter((vocab.setdefault(w, len(vocab)) for w in counts), dtype=np.int32, count=len(counts)),
                        np.fromiter(counts.values(), dtype=np.int32, count=len(counts)))
        lengths = np.zeros(n, dtype=np.int64)
        old = np.flatnonzero(rows >= 0)
        if len(old):
            lengths[old] = np.diff(previous.indptr)[rows[old]]
        for i, (row_ids, _) in fresh.items():
            lengths[i] = len(row_ids)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        ids = np.empty(int(indptr[-1]), dtype=np.int32)
        tf = np.empty(int(indptr[-1]), dtype=np.int32)
        if len(old):  # reused rows, copied as one gather
            src, dst = ranges(previous.indptr[rows[old]], lengths[old]), ranges(indptr[old], lengths[old])
            ids[dst], tf[dst] = previous.ids[src], previous.tf[src]
        for i, (row_ids, row_tf) in fresh.items():
            ids[indptr[i] : indptr[i + 1]], tf[indptr[i] : indptr[i + 1]] = row_ids, row_tf
        # Keep the words still in use, sorted, so the result does not depend on the build history.
        names = sorted(vocab, key=vocab.__getitem__)
        used = np.flatnonzero(np.bincount(ids, minlength=len(vocab)))
        kept = [names[u] for u in used]
        order = sorted(range(len(kept)), key=kept.__getitem__)
        remap = np.full(len(names), -1, dtype=np.int32)
        remap[used[order]] = np.arange(len(order), dtype=np.int32)
        return cls([kept[j] for j in order], indptr, remap[ids], tf)

    def stems(self) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
        """Each unit's stem counts: ``(vocab, indptr, ids, tf)``, computed once and kept.

        Every word is stemmed once (not once per occurrence); a unit's words that share a stem
        are counted together. Stem id 0 is a placeholder that never matches.
        """
        if self._stems is None:
            from scipy.sparse import csr_matrix

            from .analyzer import stem

            vocab: dict[str, int] = {"": 0}
            stem_of_word = np.fromiter((vocab.setdefault(s, len(vocab)) for s in stem(self.words)), dtype=np.int32, count=len(self.words))
            m = csr_matrix((self.tf.copy(), stem_of_word[self.ids], self.indptr.copy()), shape=(len(self), len(vocab)))
            m.sum_duplicates()  # sorts each row and merges the words of one stem
            self._stems = (vocab, m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.int32))
        return self._stems

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "words.json").write_text(json.dumps(self.words, ensure_ascii=False), encoding="utf-8")
        for name, arr in zip(self.FILES[1:], (self.indptr, self.ids, self.tf)):
            np.save(folder / name, arr, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> "WordCounts":
        """Read the counts saved by :meth:`save`.

        Raises:
            ValueError: the files do not fit together.
        """
        words = json.loads((folder / "words.json").read_text(encoding="utf-8"))
        indptr, ids, tf = (np.load(folder / name, allow_pickle=False) for name in cls.FILES[1:])
        if not isinstance(words, list) or len(ids) != len(tf) or (len(indptr) and indptr[-1] != len(ids)) or (len(ids) and int(ids.max()) >= len(words)):
            raise ValueError("inconsistent word counts")
        return cls(words, indptr, ids, tf)


def unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``x``: ``np.unique`` by sorting (numpy 2's default hash-based
    ``np.unique`` is ~4x slower on the arrays a query handles)."""
    s = np.sort(np.asarray(x))
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if len(s) > 1 else s


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``, in one pass."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)


def select_rows(indptr: np.ndarray, ids: np.ndarray, tf: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a CSR ``(indptr, ids, tf)`` where ``keep`` is true, in order."""
    keep = np.asarray(keep, dtype=bool)
    lengths = np.diff(indptr)
    mask = np.repeat(keep, lengths)
    out = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(lengths[keep], out=out[1:])
    return out, ids[mask], tf[mask]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest positive scores, best first."""
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, scores.size)
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[scores[idx] > 0]
    return idx[np.argsort(-scores[idx], kind="stable")]


def _best(cand: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` candidates with the highest positive scores, best first (ties: lower id first)."""
    keep = scores > 0
    cand, scores = cand[keep], scores[keep]
    if len(cand) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        cand, scores = cand[part], scores[part]
    order = np.lexsort((cand, -scores))
    return cand[order].astype(np.int64, copy=False)


def impact_lists(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, depth: int = IMPACT_DEPTH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each term with more than ``depth`` postings, its ``depth`` highest-scoring units (best first).

    Returns ``(indptr, units, scores)``: term ``t``'s list is ``units[indptr[t]:indptr[t+1]]``
    (empty for terms with few postings, whose whole posting list is used instead).
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    df = np.diff(indptr)
    big = np.flatnonzero(df > depth)
    top_indptr = np.zeros(len(df) + 1, dtype=np.int64)
    top_indptr[big + 1] = depth
    np.cumsum(top_indptr, out=top_indptr)
    units = np.empty(len(big) * depth, dtype=np.int32)
    scores = np.empty(len(big) * depth, dtype=np.float32)
    for j, tid in enumerate(big):
        lo, hi = int(indptr[tid]), int(indptr[tid + 1])
        d = np.asarray(data[lo:hi])
        part = np.argpartition(-d, depth - 1)[:depth]
        part = part[np.argsort(-d[part], kind="stable")]
        units[j * depth : (j + 1) * depth] = np.asarray(indices[lo:hi])[part]
        scores[j * depth : (j + 1) * depth] = d[part]
    return top_indptr, units, scores
