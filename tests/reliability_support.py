"""Shared material for the reliability tests (tests/test_reliability_*.py): small corpora,
a fake-embedder build, and the check that an index opens and answers."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import CORPUS, FIXTURES, SEED, FakeEmbedder

from chatkb.index import build_index, open_index
from chatkb.search import KnowledgeBase

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"

FAQ = """# FAQ fiabilité

## Le CV

### Faut-il mettre une photo sur son CV ?

Une photo n'est pas obligatoire en France. Choisissez une photo professionnelle et récente.

### Quelle longueur pour un CV ?

Une page pour un jeune diplômé, deux pages au maximum pour un cadre expérimenté.

## L'entretien

### Comment préparer un entretien d'embauche ?

Renseignez-vous sur l'entreprise, préparez des exemples concrets de réalisations et vos questions au recruteur.
"""

# A question each generation must answer with the thread below (the FAQ is in every corpus).
PROBE_QUESTION = "photo sur le CV"
PROBE_ANSWER = "Faut-il mettre une photo sur son CV ?"


def extra_faq(n: int) -> str:
    """A small FAQ whose questions are unique to ``n`` (to tell generations apart)."""
    return (
        f"# FAQ numéro {n}\n\n"
        f"### Comment obtenir le badge zorglub{n} ?\n\nDemandez le badge zorglub{n} au guichet {n}, muni d'une pièce d'identité.\n\n"
        f"### Où se trouve le guichet {n} ?\n\nAu rez-de-chaussée, porte {n}, ouvert du lundi au vendredi.\n"
    )


def make_corpus(folder: Path, *, seed: bool = True, fixtures: bool = False, extra: int = 0) -> Path:
    """A corpus folder: the FAQ above, the seed transcript, optionally the fixtures and extra FAQs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faq.md").write_text(FAQ, encoding="utf-8")
    if seed:
        shutil.copy(SEED, folder / SEED.name)
    if fixtures:
        for f in sorted(FIXTURES.iterdir()):
            shutil.copy(f, folder / f.name)
    shutil.copy(CORPUS / "glossaire.tsv", folder / "glossaire.tsv")
    for n in range(extra):
        (folder / f"extra-{n}.md").write_text(extra_faq(n), encoding="utf-8")
    return folder


def fake_build(corpus, index, **kw):
    return build_index([corpus], index, embedder=kw.pop("embedder", None) or FakeEmbedder(), **kw)


def assert_answers(index: Path, embedder=None) -> str:
    """The live generation opens (every file verified) and answers the probe question; its name."""
    data = open_index(index)
    kb = KnowledgeBase(data, embedder or FakeEmbedder(), glossary=CORPUS / "glossaire.tsv")
    result = kb.search(PROBE_QUESTION, k=3)
    assert result.hits, "no hit at all"
    assert result.hits[0].thread.questions[0].text == PROBE_ANSWER, result.hits[0].thread.questions[0].text
    assert result.generation == data.generation
    return data.generation


def thread_ids(index: Path) -> set[str]:
    return {t.id for t in open_index(index).threads}
