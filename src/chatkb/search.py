"""Search: the one library call behind the CLI and the page.

    kb = KnowledgeBase.open("index")
    result = kb.search("cmt etre visible sur internet", k=5)

A query is encoded by MiniLM and by the French encoder (:mod:`chatkb.french`); BM25 (French
analyser, glossary, typo correction) proposes its best questions and whole-thread units, FAISS
its nearest units of every kind; the threads behind them are rescored on all their units by
BM25 and both encoders, their features fused (:mod:`chatkb.fusion`), and the first answer is
given only when its confidence clears the calibrated threshold.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .analyzer import QueryAnalyzer, load_glossary, words
from .errors import IndexMismatchError, QueryError
from .fusion import FusionParams, confidence, fuse, thread_features, units_of
from .index import IndexData, current_generation, open_index
from .lexical import unique
from .records import Thread
from .units import THREAD

MAX_QUERY_CHARS = 1000
# Blanks, control and invisible format characters (and lone surrogates) before the first word.
_LEADING_JUNK = re.compile("[\\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ud800-\udfff]*")
# Terminal escape sequences (colours pasted from a terminal): dropped whole, not just their ESC.
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
CANDIDATE_UNITS = 64


@dataclass(frozen=True)
class SourceInfo:
    path: str
    title: str | None
    expert: str | None
    format: str

    def to_dict(self) -> dict:
        return {"path": self.path, "title": self.title, "expert": self.expert, "format": self.format}


@dataclass(frozen=True)
class Hit:
    """One thread found for a query."""

    thread: Thread
    score: float
    confidence: float
    source: SourceInfo
    features: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        t = self.thread.to_dict()
        return {
            "thread_id": self.thread.id,
            "score": round(float(self.score), 6),
            "confidence": round(float(self.confidence), 4),
            "questions": t["questions"],
            "answer": t["answer"],
            "topic": t["topic"],
            "source": self.source.to_dict(),
        }


@dataclass(frozen=True)
class SearchResult:
    """The answer to a query: ``answered`` is false when nothing is close enough."""

    query: str
    answered: bool
    hits: tuple[Hit, ...]
    generation: str = ""
    timings: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {"query": self.query, "answered": self.answered, "results": [h.to_dict() for h in self.hits]}


def clean_query(text: str, *, max_chars: int = MAX_QUERY_CHARS) -> str:
    """Drop control characters, collapse spaces, truncate. Raises :class:`QueryError` if empty."""
    text = _ANSI_ESCAPE.sub(" ", str(text))
    text = text[_LEADING_JUNK.match(text).end() :]  # so a flood of blanks/NULs does not hide the question
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text[: max_chars * 4])
    text = " ".join(text.split())[:max_chars]
    if not any(c.isalnum() for c in text):
        raise QueryError("Question vide : tapez quelques mots.")
    return text


class KnowledgeBase:
    """An opened index and the model that queries it.

    Args:
        data: a loaded generation (:func:`chatkb.index.open_index`).
        embedder: the query encoder (loaded from the manifest's model when omitted).
        french: the French encoder (:func:`chatkb.french.default_french` when omitted).
        params: fusion weights and confidence model.
        glossary: path of the glossary (``$CHATKB_CORPUS/glossaire.tsv`` by default).
    """

    def __init__(self, data: IndexData, embedder=None, *, french=None, params: FusionParams = FusionParams(), glossary: str | Path | None = None):
        if french is None:
            from .french import default_french

            french = default_french()
        check_french(data, french.spec)
        self.params = params
        self._glossary_path = glossary
        self._embedder = embedder
        self._french = french
        # The French encoder runs beside MiniLM: with one thread each (the page), a query is
        # encoded in 3.0 ms instead of 4.7 (median, measured on tests/eval).
        self._beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatkb-french")
        self._lock = threading.Lock()
        self._state = self._prepare(data)
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self.reloads = 0

    # -------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path | None = None, *, model: str | None = None, embedder=None, watch: bool = False, **kwargs) -> "KnowledgeBase":
        """Open the index at ``path`` (``$CHATKB_INDEX`` or ``index``) with its model.

        Raises:
            IndexMissingError, IndexCorruptError, IndexMismatchError, ModelError.
        """
        path = Path(path or os.environ.get("CHATKB_INDEX") or "index")
        data = open_index(path)
        if embedder is None:
            embedder = load_embedder_for(data, model)
        else:
            check_model(data, embedder.spec)
        kb = cls(data, embedder, **kwargs)
        if watch:
            kb.watch()
        return kb

    def _prepare(self, data: IndexData) -> dict:
        glossary_path = self._glossary_path
        if glossary_path is None:
            glossary_path = Path(os.environ.get("CHATKB_CORPUS") or "corpus") / "glossaire.tsv"
        analyzer = QueryAnalyzer(data.words, load_glossary(glossary_path))
        sources = {
            path: SourceInfo(path=path, title=meta.get("title"), expert=meta.get("expert"), format=meta.get("format", "chat"))
            for path, meta in data.documents.items()
        }
        # The whole-thread unit of each thread (coverage is read from it); -1 when it has none.
        thread_unit = np.full(len(data.threads), -1, dtype=np.int64)
        is_thread = np.flatnonzero(data.unit_kind == THREAD)
        thread_unit[data.unit_thread[is_thread]] = is_thread
        word_row = {w: i for i, w in enumerate(data.words)}  # word form → its row in data.word_vectors
        return {"data": data, "analyzer": analyzer, "sources": sources, "thread_unit": thread_unit, "word_row": word_row}

    @property
    def data(self) -> IndexData:
        return self._state["data"]

    @property
    def analyzer(self):
        """The query analyser of the live generation (glossary, typo correction)."""
        return self._state["analyzer"]

    @property
    def generation(self) -> str:
        return self.data.generation

    def reload(self) -> bool:
        """Load the live generation if it changed; searches in flight finish on the old one."""
        with self._lock:
            live = current_generation(self.data.path)
            if live is None or live == self.data.generation:
                return False
            data = open_index(self.data.path)
            check_model(data, self._embedder.spec)
            check_french(data, self._french.spec)
            self._state = self._prepare(data)
            self.reloads += 1
            return True

    def watch(self, interval: float = 0.5) -> None:
        """Pick up new generations in a background thread (never on the query path)."""
        if self._watcher is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reload()
                except Exception:  # noqa: BLE001 - a half-written index is retried next tick
                    pass

        self._watcher = threading.Thread(target=loop, name="chatkb-index-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()

    # -------------------------------------------------------------- search
    def search(self, question: str, k: int = 5, *, sources: list[str] | None = None) -> SearchResult:
        """The ``k`` threads closest to ``question``, best first.

        Args:
            question: free text, as typed (cleaned and truncated to 1,000 characters).
            k: number of threads to return.
            sources: keep only threads from these source paths.

        Returns:
            A :class:`SearchResult`; ``answered`` is false when the best thread's confidence
            is below the threshold (the nearest threads are still returned).

        Raises:
            QueryError: the question is empty once cleaned.
        """
        t0 = time.perf_counter()
        query = clean_query(question)
        state = self._state  # one generation for the whole query, even if a swap happens now
        data: IndexData = state["data"]
        french = self._beside.submit(self._french.encode_query, query)
        qvec = self._embedder.encode_query(query)
        fvec = french.result()
        t1 = time.perf_counter()
        hits, timings = self._rank(state, query, qvec, fvec, max(1, k), sources)
        answered = bool(hits) and hits[0].confidence >= self.params.threshold
        timings.update(encode=t1 - t0, total=time.perf_counter() - t0)
        return SearchResult(query=query, answered=answered, hits=tuple(hits), generation=data.generation, timings=timings)

    def _rank(self, state: dict, query: str, qvec: np.ndarray, fvec: np.ndarray, k: int, sources: list[str] | None) -> tuple[list[Hit], dict]:
        from .dense import read_rows, search_dense

        data: IndexData = state["data"]
        t0 = time.perf_counter()
        terms = state["analyzer"].terms(query)
        token_ids = data.lexical.token_ids(terms.stems)
        ideal = data.lexical.ideal(token_ids)
        n_cand = max(CANDIDATE_UNITS, 4 * k)
        # The best questions and whole threads (exact, without a score array over every unit).
        lex_top = data.candidate_units[data.candidates.top_units(token_ids, n_cand)]
        t1 = time.perf_counter()
        _, dense_top = search_dense(data.dense, qvec, n_cand)
        t2 = time.perf_counter()
        cand = unique(np.concatenate([data.unit_thread[lex_top], data.unit_thread[dense_top]]).astype(np.int64))
        if sources:
            wanted = set(sources)
            allowed = np.array([p in wanted for p in data.documents], dtype=bool)
            cand = cand[allowed[data.thread_doc[cand]]]
        if cand.size == 0:
            return [], {"lexical": t1 - t0, "dense": t2 - t1}
        unit_ids = units_of(cand, data.unit_offsets)
        dense_scores = read_rows(data.vectors, unit_ids) @ qvec  # pread for big files (see chatkb.dense.read_rows)
        # the French encoder's vectors: questions and whole threads only (units.FRENCH_KINDS)
        frows = data.french_rows[unit_ids]
        reads = frows >= 0
        french_scores = np.zeros(len(unit_ids), dtype=np.float32)
        french_scores[reads] = read_rows(data.french_vectors, frows[reads]) @ fvec
        # BM25 of the candidates' units only, with the candidates' units renumbered 0..n-1.
        lex_scores = data.lexical.unit_scores(token_ids, unit_ids)
        local = np.concatenate([[0], np.cumsum(data.unit_offsets[cand + 1] - data.unit_offsets[cand])])
        feats = thread_features(np.arange(len(cand)), local, data.unit_kind[unit_ids], dense_scores, lex_scores, ideal, french_scores)
        scores = fuse(feats, self.params)
        ranked = np.argsort(-scores, kind="stable")
        order = ranked[:k]
        # margin over the best other candidate, whatever k (with k=1 there is still a runner-up)
        best_other = np.where(np.arange(len(scores)) == ranked[0], scores[ranked[1]] if len(ranked) > 1 else 0.0, scores[ranked[0]])
        coverage, found = self._coverage(state, terms, cand[order])
        threads = [data.threads[int(cand[i])] for i in order]
        # soft coverage of every returned thread (the first decides declining; the others' must be
        # shown too: with their plain coverage a related thread read "Éloigné (1%)")
        qvecs = self._query_word_vectors(state, terms, found)
        units = state["thread_unit"][cand[order]]
        soft = np.array([self._soft_coverage(state, terms, t, int(units[r]), found[:, r], float(coverage[r]), qvecs) for r, t in enumerate(threads)], dtype=np.float32)
        hits = []
        ceiling = 1.0  # a thread is never shown as more likely than one ranked above it
        for rank, i in enumerate(order):
            thread = threads[rank]
            ceiling = min(ceiling, confidence(float(scores[i]), float(best_other[i]), float(coverage[rank]), float(soft[rank]), self.params))
            hits.append(
                Hit(
                    thread=thread,
                    score=float(scores[i]),
                    confidence=ceiling,
                    source=state["sources"].get(thread.source, SourceInfo(thread.source, None, None, "chat")),
                    features=tuple(float(x) for x in feats[i]) + (float(coverage[rank]), float(soft[rank])),
                )
            )
        return hits, {"lexical": t1 - t0, "dense": t2 - t1, "fusion": time.perf_counter() - t2}

    @staticmethod
    def _coverage(state: dict, terms, threads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Share of the query's information that each thread contains (see ``QueryTerms``), and
        which of the query's words each thread contains (groups × threads)."""
        data: IndexData = state["data"]
        units = state["thread_unit"][threads]
        found = np.zeros((len(terms.groups), len(units)), dtype=bool)
        total = sum(w for w, _ in terms.groups)
        if total <= 0 or len(units) == 0:
            return np.zeros(len(units)), found
        vocab = data.lexical.vocab
        for g, (_, stems) in enumerate(terms.groups):
            for s in stems:
                if s in vocab:
                    found[g] |= data.lexical.contains(vocab[s], units)
        weights = np.array([w for w, _ in terms.groups])
        return weights @ found / total, found

    def _query_word_vectors(self, state: dict, terms, found: np.ndarray) -> dict[int, np.ndarray]:
        """The French vector of each query word that some returned thread lacks (by group):
        from ``words-fr.npy``, or encoded now, in one call, for words the corpus never uses."""
        data: IndexData = state["data"]
        rows = state["word_row"]
        missing = [g for g in range(len(terms.groups)) if not found[g].all()] if found.size else []
        out = {g: np.asarray(data.word_vectors[rows[terms.words[g]]], dtype=np.float32) for g in missing if terms.words[g] in rows}
        unknown = [g for g in missing if g not in out]
        if unknown:
            for g, v in zip(unknown, self._french.encode_passages([terms.words[g] for g in unknown], threads=1)):
                out[g] = np.asarray(v, dtype=np.float32)
        return out

    def _soft_coverage(self, state: dict, terms, thread: Thread, unit: int, found: np.ndarray, coverage: float, qvecs: dict[int, np.ndarray]) -> float:
        """Like ``coverage``, but a query word the thread does not contain (``found`` is false)
        counts for the French encoder's best cosine between it and the thread's words (0 to 1):
        "visage" is partly covered by a thread on photos, "crous" by none.

        ``qvecs`` holds the query words' vectors (:meth:`_query_word_vectors`). The thread's
        words are those the build counted in its whole-thread unit ``unit`` (``analysis/``, rows
        of ``words-fr.npy``); a thread with no answer has no such unit and is read now.
        """
        data: IndexData = state["data"]
        total = sum(w for w, _ in terms.groups)
        if total <= 0 or found.all():
            return coverage
        if unit >= 0:
            from .dense import read_range

            lo, hi = read_range(data.unit_word_ptr, unit, unit + 2).tolist()
            tw = read_range(data.unit_word_ids, lo, hi).astype(np.int64)
        else:
            rows = state["word_row"]
            texts = [q.text for q in thread.questions] + ([thread.topic] if thread.topic else [])
            tw = np.array(sorted({rows[w] for w in words(" ".join(texts)) if w in rows}), dtype=np.int64)
        if not len(tw):
            return coverage
        missing = np.flatnonzero(~found)
        q = np.stack([qvecs[int(g)] for g in missing])
        best = np.clip((q @ np.asarray(data.word_vectors[tw], dtype=np.float32).T).max(axis=1), 0.0, 1.0)
        weights = np.array([w for w, _ in terms.groups], dtype=np.float32)
        return float(coverage + weights[missing] @ best / total)

    # -------------------------------------------------------------- context
    def context(self, thread: Thread, *, before: int = 2, after: int = 2) -> list[Thread]:
        """The thread with its neighbours in the same source, in document order."""
        data = self.data
        span = data.document_threads(thread.source)
        same = data.threads[span.start : span.stop]
        pos = next((i for i, t in enumerate(same) if t.id == thread.id), None)
        if pos is None:
            return [thread]
        return same[max(0, pos - before) : pos + after + 1]

    def stats(self) -> dict:
        """What the base holds: files, threads, experts, last build."""
        data = self.data
        return {
            "files": len(data.documents),
            "threads": len(data.threads),
            "units": int(len(data.unit_thread)),
            "experts": sorted({m["expert"] for m in data.documents.values() if m.get("expert")}),
            "sources": [
                {"path": p, "title": m.get("title"), "expert": m.get("expert"), "format": m.get("format"), "threads": m.get("threads")}
                for p, m in data.documents.items()
            ],
            "built_at": data.manifest.get("created_at"),
            "generation": data.generation,
            "model": data.manifest.get("model", {}).get("name"),
        }


def check_model(data: IndexData, spec) -> None:
    """Refuse an index built with another model than the one that will encode queries."""
    m = data.manifest.get("model", {})
    if m.get("name") != spec.name or m.get("sha256") != spec.sha256:
        raise IndexMismatchError(
            f"L'index {data.path} a été construit avec le modèle {m.get('name')} ; le modèle configuré est {spec.name} : relancez « chatkb build »."
        )


def check_french(data: IndexData, spec) -> None:
    """Refuse an index whose French vectors come from another French encoder."""
    m = data.manifest.get("french") or {}
    if m.get("name") != spec.name or m.get("sha256") != spec.sha256:
        raise IndexMismatchError(
            f"L'index {data.path} a été construit avec l'encodeur français {m.get('name')} ; l'encodeur installé est {spec.name} ({spec.sha256[:12]}…) : relancez « chatkb build »."
        )


# ONNX Runtime threads of the query encoder (int8). A query is a few tokens, encoded beside the
# French encoder: with one thread each, both encode in 2.5 ms (median over tests/eval); with
# two, MiniLM's threads spin against the French encoder's and the pair takes 4.2 ms.
QUERY_THREADS = 1


def load_embedder_for(data: IndexData, model: str | None = None):
    """The query encoder matching ``data``'s manifest (default: the configured model)."""
    from .embed import Embedder, resolve_model

    spec = resolve_model(model)
    check_model(data, spec)
    return Embedder(spec, threads=QUERY_THREADS)
