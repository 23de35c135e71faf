"""The labelled query sets: every expected text is in exactly one thread, or in none.

``tests/eval/queries.jsonl`` covers ``corpus/``; ``tests/eval/outofsample/queries.jsonl``
covers ``corpus/`` plus ``tests/eval/outofsample/docs/`` (see that folder's README), and
``outofsample2`` and ``outofsample3`` likewise. A label
that matched two threads, or none, would make R@1 and the declines mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatkb.evaluate import is_hit, load_queries
from chatkb.parse import parse_file

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "eval"


def threads_of(*folders: Path):
    return [t for folder in folders for f in sorted(folder.glob("*")) if f.suffix in (".txt", ".md") for t in parse_file(f).threads]


@pytest.mark.parametrize(
    ("queries", "folders", "answerable", "unanswerable"),
    [
        (EVAL / "queries.jsonl", (ROOT / "corpus",), 159, 36),
        (EVAL / "outofsample" / "queries.jsonl", (ROOT / "corpus", EVAL / "outofsample" / "docs"), 118, 22),
        (EVAL / "outofsample2" / "queries.jsonl", (ROOT / "corpus", EVAL / "outofsample2" / "docs"), 80, 20),
        (EVAL / "outofsample3" / "queries.jsonl", (ROOT / "corpus", EVAL / "outofsample3" / "docs"), 80, 20),
    ],
    ids=["own", "outofsample", "outofsample2", "outofsample3"],
)
def test_every_label_names_exactly_one_thread(queries, folders, answerable, unanswerable):
    threads = threads_of(*folders)
    rows = load_queries(queries)
    assert sum(q["expect"] is not None for q in rows) == answerable
    assert sum(q["expect"] is None for q in rows) == unanswerable
    for q in rows:
        if q["expect"] is not None:
            matching = [t.id for t in threads if is_hit(t, q["expect"])]
            assert len(matching) == 1, (q["query"], q["expect"], matching)


def test_out_of_sample_documents_parse_into_their_threads():
    docs = EVAL / "outofsample" / "docs"
    chat = parse_file(docs / "apec-chat-cadres-seniors-et-evolution.txt")
    faq = parse_file(docs / "faq-mobilite-international-et-freelance.md")
    assert (chat.format, len(chat.threads), chat.expert) == ("chat", 14, "Nathalie Béranger")
    assert [len(t.questions) for t in chat.threads].count(2) == 2  # two threads of two questions
    assert all(t.answer is not None for t in chat.threads)
    assert (faq.format, len(faq.threads)) == ("markdown", 15)
