"""Reliability — many searches at once against one open knowledge base while rebuilds swap
the index under it: no error, every result from exactly one generation, the swap picked up.

Rows of docs/reliability.md, section "Concurrency".
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from chatkb.errors import QueryError
from chatkb.index import build_index, current_generation, open_index
from chatkb.search import KnowledgeBase

from conftest import CORPUS, FakeEmbedder
from reliability_support import extra_faq, make_corpus

THREADS = 8
SEARCHES = 2000
QUERIES = [
    "photo sur le CV",
    "comment être visible sur internet",
    "linkedin ou viadeo",
    "badge zorglub0 guichet",
    "où se trouve le guichet 12",
    "cmt preparer un entretien",
    "homonymes google",
    "zorglub14",
]


class Generations:
    """What each generation holds, recorded as soon as it is published: its threads, its
    sources and (``embedder`` given) the exact answers to QUERIES, computed alone on it."""

    def __init__(self, index: Path, embedder=None):
        self.index = index
        self.embedder = embedder
        self.threads: dict[str, set[str]] = {}
        self.sources: dict[str, set[str]] = {}
        self.answers: dict[str, dict[str, tuple[str, ...]]] = {}
        self.order: list[str] = []
        self.record()

    def record(self) -> str:
        data = open_index(self.index)
        self.threads[data.generation] = {t.id for t in data.threads}
        self.sources[data.generation] = set(data.documents)
        if self.embedder is not None:
            alone = KnowledgeBase(data, self.embedder, glossary=CORPUS / "glossaire.tsv")
            self.answers[data.generation] = {q: tuple(h.thread.id for h in alone.search(q, k=5).hits) for q in QUERIES}
        self.order.append(data.generation)
        return data.generation


def _hammer(kb, gens: Generations, rebuild, *, threads: int, searches: int, builds: int, k: int = 5):
    """``threads`` threads share ``searches`` searches; ``rebuild`` (``builds`` swaps) runs
    alongside, from the start; the last 20 % of each thread's searches run after the last swap."""
    per_thread = searches // threads
    rng = random.Random()
    seen = Counter()
    errors: list[str] = []
    results: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = []
    lock = threading.Lock()
    done = [0]
    rebuilt = threading.Event()
    start = threading.Barrier(threads + 1)

    def searcher(n: int) -> None:
        start.wait()
        local = []
        for i in range(per_thread):
            if i == int(per_thread * 0.8):
                rebuilt.wait(120)  # the last fifth runs after the last swap: it must be picked up
                deadline = time.monotonic() + 30
                while kb.generation != gens.order[-1] and time.monotonic() < deadline:
                    time.sleep(0.01)
            if not rebuilt.is_set():
                time.sleep(rng.uniform(0, 0.004))  # users' pace: the searches spread over the swaps
            q = QUERIES[(n + i) % len(QUERIES)]
            try:
                r = kb.search(q, k=k)
                local.append((r.generation, q, tuple(h.thread.id for h in r.hits), tuple(h.source.path for h in r.hits)))
            except Exception as exc:  # noqa: BLE001 - any exception is a failure, counted
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            with lock:
                done[0] += 1
        with lock:
            results.extend(local)

    def builder() -> None:
        start.wait()
        try:
            rebuild()
        except Exception as exc:  # noqa: BLE001
            errors.append(f"rebuild: {type(exc).__name__}: {exc}")
        finally:
            rebuilt.set()

    workers = [threading.Thread(target=searcher, args=(n,)) for n in range(threads)]
    b = threading.Thread(target=builder)
    for t in workers + [b]:
        t.start()
    for t in workers + [b]:
        t.join(600)
    bad = []
    for gen, q, ids, sources in results:
        seen[gen] += 1
        if gen not in gens.threads:
            bad.append(f"unknown generation {gen}")
        elif not set(ids) <= gens.threads[gen] or not set(sources) <= gens.sources[gen]:
            bad.append(f"{gen}: hits from another generation {set(ids) - gens.threads[gen]}")
        elif gen in gens.answers and ids != gens.answers[gen][q]:
            bad.append(f"{gen}: {q!r} answered {ids}, alone on this generation {gens.answers[gen][q]}")
    return {"searches": len(results) + len(errors), "errors": errors, "mixed": bad, "seen": seen}


@pytest.mark.slow
def test_8_threads_2000_searches_while_rebuilds_swap_the_index(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", fixtures=True, extra=1)
    index = tmp_path / "index"
    embedder = FakeEmbedder()
    build_index([corpus], index, embedder=embedder)
    gens = Generations(index, FakeEmbedder())
    kb = KnowledgeBase.open(index, embedder=embedder, glossary=CORPUS / "glossaire.tsv")
    kb.watch(interval=0.02)

    def rebuild():  # six swaps: files added (sorting first: every unit moves), changed, removed
        for step in range(6):
            (corpus / f"a-{9 - step}.md").write_text(extra_faq(10 + step), encoding="utf-8")
            if step == 2:
                (corpus / "faq.md").write_text((corpus / "faq.md").read_text(encoding="utf-8").replace("deux pages", "deux pages tout au plus"), encoding="utf-8")
            if step == 4:
                (corpus / "extra-0.md").unlink()
            build_index([corpus], index, embedder=FakeEmbedder())
            gens.record()
            time.sleep(0.1)  # let the watcher pick it up and the searches run on it

    try:
        stats = _hammer(kb, gens, rebuild, threads=THREADS, searches=SEARCHES, builds=6)
    finally:
        kb.close()
    print(f"\nconcurrency: {stats['searches']} searches, {len(stats['errors'])} errors, {kb.reloads} swaps picked up, "
          f"{len(stats['seen'])} generations seen of {len(gens.order)}: {dict(stats['seen'])}")
    assert stats["searches"] == SEARCHES
    assert not stats["errors"], stats["errors"][:5]
    assert not stats["mixed"], stats["mixed"][:5]
    assert kb.reloads >= 1 and kb.generation == gens.order[-1] == current_generation(index)
    assert len(stats["seen"]) >= 2 and stats["seen"][gens.order[0]] > 0 and stats["seen"][gens.order[-1]] > 0


@pytest.mark.slow
def test_searches_keep_answering_while_builds_are_killed_and_the_index_damaged(tmp_path):
    """A watcher that meets a damaged generation keeps serving the one it has."""
    corpus = make_corpus(tmp_path / "corpus", extra=1)
    index = tmp_path / "index"
    build_index([corpus], index, embedder=FakeEmbedder())
    gens = Generations(index)
    kb = KnowledgeBase.open(index, embedder=FakeEmbedder(), glossary=CORPUS / "glossaire.tsv")
    kb.watch(interval=0.02)

    def rebuild():
        (corpus / "extra-5.md").write_text(extra_faq(5), encoding="utf-8")
        report = build_index([corpus], index, embedder=FakeEmbedder())
        gens.record()  # sound when published: the watcher may load it before the damage below
        damaged = index / report.generation / "dense.faiss"
        damaged.write_bytes(damaged.read_bytes()[:50])  # published, then damaged on disk
        time.sleep(0.3)
        (index / "CURRENT").write_text("not a generation\n")  # then a garbage pointer
        time.sleep(0.3)
        (corpus / "extra-6.md").write_text(extra_faq(6), encoding="utf-8")
        build_index([corpus], index, embedder=FakeEmbedder())  # a good build repairs
        gens.record()

    try:
        stats = _hammer(kb, gens, rebuild, threads=4, searches=800, builds=1)
    finally:
        kb.close()
    assert not stats["errors"], stats["errors"][:5]
    assert not stats["mixed"], stats["mixed"][:5]
    assert kb.generation == gens.order[-1]


@pytest.mark.slow
def test_real_model_shared_by_threads_during_a_swap(tmp_path, real_embedder):
    """The page shares one real model between sessions (threads): same checks, fewer searches."""
    corpus = make_corpus(tmp_path / "corpus", seed=True)
    index = tmp_path / "index"
    build_index([corpus], index, embedder=real_embedder)
    gens = Generations(index)
    kb = KnowledgeBase.open(index, embedder=real_embedder, glossary=CORPUS / "glossaire.tsv")
    kb.watch(interval=0.05)
    reference = {q: kb.search(q, k=3).hits[0].thread.id for q in QUERIES[:3]}

    def rebuild():
        (corpus / "extra-9.md").write_text(extra_faq(9), encoding="utf-8")
        build_index([corpus], index, embedder=real_embedder)
        gens.record()

    try:
        stats = _hammer(kb, gens, rebuild, threads=THREADS, searches=240, builds=1, k=3)
    finally:
        kb.close()
    assert not stats["errors"], stats["errors"][:5]
    assert not stats["mixed"], stats["mixed"][:5]
    assert len(stats["seen"]) == 2 and kb.reloads == 1
    for q, tid in reference.items():  # answers unchanged by threads (the rebuild only added a file)
        assert kb.search(q, k=3).hits[0].thread.id == tid


def test_an_empty_query_in_one_thread_does_not_disturb_the_others(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", seed=False)
    index = tmp_path / "index"
    build_index([corpus], index, embedder=FakeEmbedder())
    kb = KnowledgeBase.open(index, embedder=FakeEmbedder(), glossary=CORPUS / "glossaire.tsv")
    errors, answers = [], []

    def run(q):
        for _ in range(50):
            try:
                answers.append(kb.search(q).hits[0].thread.questions[0].text)
            except QueryError:
                errors.append(q)

    ts = [threading.Thread(target=run, args=(q,)) for q in ("photo sur le CV", "", "   ", "photo sur le CV")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(errors) == 100 and set(errors) == {"", "   "}
    assert answers == ["Faut-il mettre une photo sur son CV ?"] * 100


def test_a_search_in_flight_during_a_swap_finishes_on_its_generation(tmp_path):
    """Deterministic companion of the 2,000-search run: a swap lands while a search is between
    reading the live state and ranking; the search answers wholly from the generation it began on."""
    corpus = make_corpus(tmp_path / "corpus", extra=1)
    index = tmp_path / "index"
    build_index([corpus], index, embedder=FakeEmbedder())
    gens = Generations(index, FakeEmbedder())
    old = gens.order[-1]

    class Blocking(FakeEmbedder):
        def __init__(self):
            super().__init__()
            self.entered, self.release = threading.Event(), threading.Event()

        def encode_query(self, text):
            self.entered.set()
            assert self.release.wait(30)
            return super().encode_query(text)

    embedder = Blocking()
    kb = KnowledgeBase.open(index, embedder=embedder, glossary=CORPUS / "glossaire.tsv")
    out = {}
    t = threading.Thread(target=lambda: out.update(r=kb.search(QUERIES[0], k=5)))
    t.start()
    assert embedder.entered.wait(30)
    (corpus / "a-0.md").write_text(extra_faq(50), encoding="utf-8")  # sorts first: every unit moves
    build_index([corpus], index, embedder=FakeEmbedder())
    new = gens.record()
    assert kb.reload() and kb.generation == new != old
    embedder.release.set()
    t.join(30)
    result = out["r"]
    assert result.generation == old
    assert tuple(h.thread.id for h in result.hits) == gens.answers[old][QUERIES[0]]
    after = kb.search(QUERIES[0], k=5)
    assert after.generation == new and tuple(h.thread.id for h in after.hits) == gens.answers[new][QUERIES[0]]
