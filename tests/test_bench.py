"""The benchmark runs end to end at smoke size (shape of its report, not its timings), and the
int8 embedder stays close to the fp32 one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import CORPUS

from chatkb import bench


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """A whole run with the hashed stand-in for the model, tiny bases, phases in this process."""
    work = tmp_path_factory.mktemp("bench")
    opts = bench.Options(
        quick=True, fake=True, in_process=True, pairs=12, sizes=(400, 1_500), queries=20, corpus=str(CORPUS),
        incremental_base=200, incremental_add=10, pool_questions=120, pool_lines=200, work=str(work / "work"), out=None, docs=None,
    )
    report = bench.run(opts)
    return report, work


def test_report_shape(smoke_report):
    report, _ = smoke_report
    assert set(report) >= {"meta", "synthetic", "build", "eval", "incremental", "query", "cold_start", "targets"}
    meta = report["meta"]
    assert meta["fake_model"] is True and isinstance(meta["wall_seconds"], float) and meta["machine"]["cpus"] >= 1
    build = report["build"]
    for key in ("units", "bare_encode_units_per_s", "build_units_per_s", "build_vs_bare", "peak_rss_building_gib", "parsed_threads"):
        assert isinstance(build[key], (int, float)), key
    inc = report["incremental"]
    assert inc["added_threads"] > 0 and inc["embedded_units"] > 0 and isinstance(inc["seconds"], float)
    assert inc["reused_units"] > inc["embedded_units"]  # the base's vectors are reused
    assert set(report["query"]) == {"400", "1500"}
    for size, q in report["query"].items():
        assert q["threads"] == int(size)
        assert q["units"] > q["threads"]
        for part in ("search", "bare_encode"):
            assert set(q[part]) == {"median_ms", "p95_ms", "n"} and q[part]["n"] == 20
        assert isinstance(q["ratio_median"], float) and isinstance(q["ratio_p95"], float)
        assert 0.0 <= q["dense_recall@10"] <= 1.0
        assert set(q["rss_gib"]) >= {"model", "opened", "peak_serving", "serving_anon"}
        assert q["disk_bytes"] > 0 and q["written"]["disk_by_file"]["vectors.npy"] > 0
        lex = q["lexical"]
        assert set(lex) >= {"full_scores_then_argpartition", "top_units", "paths", "top_units_recall@64"}
        assert lex["top_units_recall@64"] == 1.0  # small bases: always the exact paths
    syn = report["synthetic"]
    assert syn["pool"]["questions"] == 120 and syn["queries"]["n"] == 20
    assert set(syn["validation"]) >= {"real_corpus_units", "synthetic_units_same_n", "pairwise_by_kind"}
    for t in report["targets"]:
        assert set(t) == {"name", "value", "target", "ok"}
    json.dumps(report)  # serialisable as is


def test_outputs(smoke_report, tmp_path):
    report, _ = smoke_report
    table = bench.render_table(report)
    assert "threads" in table and "targets" in table
    bench.write_docs(report, tmp_path)
    md = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    assert "## Targets" in md and "bench-latency.png" in md
    assert (tmp_path / "bench-latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_written_generation_is_a_chatkb_index(tmp_path):
    """What the writer leaves opens and searches like any index; its units mirror make_units."""
    from chatkb.index import open_index
    from chatkb.search import KnowledgeBase
    from chatkb.units import make_units

    model = bench.read_corpus(CORPUS)
    pool = bench.make_pool(model, 60, 120)
    emb = bench.HashEmbedder()
    bench.embed_pool(pool, emb.encode_passages)
    info = bench.write_generation(tmp_path / "idx", pool, model, 250, emb.spec, queries=emb.encode_passages(["cv photo", "salaire"]))
    data = open_index(tmp_path / "idx")
    assert len(data.threads) == 250 and info["units"] == len(data.unit_thread)
    assert [u.kind for u in make_units(data.threads)] == data.unit_kind.tolist()  # same units as a build would make
    kb = KnowledgeBase.open(tmp_path / "idx", embedder=emb, glossary=CORPUS / "glossaire.tsv")
    assert kb.search("comment négocier son salaire", k=3).hits
    assert (tmp_path / "idx" / "exact-neighbours.npz").is_file()


def test_int8_embedder_close_to_fp32(monkeypatch):
    """The int8 path (ONNX Runtime, built locally from the packaged model) is the default and
    stays close to fp32, which ``CHATKB_INT8=0`` selects."""
    from chatkb.embed import Embedder, resolve_model

    monkeypatch.delenv("CHATKB_INT8", raising=False)
    spec = resolve_model("all-MiniLM-L6-v2+int8")
    assert spec.int8 and spec.name == "all-MiniLM-L6-v2+int8"
    assert resolve_model(None, int8=True) == spec == resolve_model(None) == resolve_model("all-MiniLM-L6-v2")
    monkeypatch.setenv("CHATKB_INT8", "0")
    fp32 = resolve_model(None)
    assert not fp32.int8 and fp32.name == "all-MiniLM-L6-v2" and fp32.sha256 == spec.sha256
    real_embedder = Embedder(fp32)
    int8 = Embedder(spec)
    sentences = [
        "Comment rendre son profil visible sur internet ?",
        "Faut-il mettre une photo sur son CV ?",
        "Je suis en période d'essai et mon employeur veut y mettre fin, quels sont mes droits ?",
        "Combien de temps faut-il pour trouver un emploi après une reconversion professionnelle ?",
        "cmt negocier mon salaire qd on me fait une offre",
        "Les recruteurs consultent LinkedIn et Viadeo avant de convoquer un candidat en entretien.",
    ]
    a = real_embedder.encode_passages(sentences)
    b = int8.encode_passages(sentences)
    assert b.shape == a.shape and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.95, cos
    q = int8.encode_query(sentences[0])
    assert float(q @ real_embedder.encode_query(sentences[0])) > 0.95


def test_int8_index_is_refused_by_the_fp32_model(tmp_path, fake_embedder):
    """int8 and fp32 vectors never mix: the spec's name differs, so the manifest check refuses."""
    from chatkb.embed import ModelSpec
    from chatkb.errors import IndexMismatchError
    from chatkb.index import build_index
    from chatkb.search import check_model
    from chatkb.index import open_index

    build_index([CORPUS / "faq-recherche-emploi.md"], tmp_path / "idx", embedder=fake_embedder)
    other = ModelSpec(name=fake_embedder.spec.name + "+int8", path="", sha256=fake_embedder.spec.sha256, int8=True)
    with pytest.raises(IndexMismatchError):
        check_model(open_index(tmp_path / "idx"), other)
