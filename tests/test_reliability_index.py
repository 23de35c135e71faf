"""Reliability — the index folder: missing, damaged, edited, mixed or foreign indexes are
detected when opened, with a one-line message; ``chatkb build`` repairs; nothing is unpickled.

Rows of docs/reliability.md, section "Index".
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from chatkb.cli import cli
from chatkb.errors import IndexCorruptError, IndexError_, IndexMismatchError, IndexMissingError, ModelError
from chatkb.index import build_index, current_generation, open_index
from chatkb.search import KnowledgeBase

from conftest import FakeEmbedder
from reliability_support import SRC, assert_answers, extra_faq, fake_build, make_corpus


@pytest.fixture
def built(tmp_path):
    """A corpus and its index (fake embedder); returns (corpus, index, generation folder)."""
    corpus = make_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    report = fake_build(corpus, index)
    return corpus, index, index / report.generation


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


def _refused(index: Path, exc_type=IndexError_, match: str = "chatkb build") -> str:
    """Opening is refused with a one-line message naming the repair; the message."""
    with pytest.raises(exc_type) as err:
        KnowledgeBase.open(index, embedder=FakeEmbedder())
    message = str(err.value)
    _one_line(message)
    assert match in message
    return message


def _repaired(corpus: Path, index: Path) -> None:
    """A build (as `chatkb build` does) rebuilds a healthy generation that answers."""
    report = fake_build(corpus, index)
    assert report.changed, "a damaged index must be rebuilt, not reported up to date"
    assert assert_answers(index) == report.generation == current_generation(index)


def _rewrite_manifest(gen: Path, edit) -> None:
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest)
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


# ----------------------------------------------------------------------------- missing


def test_missing_index_is_reported_with_the_command_to_run(tmp_path, built):
    corpus, _, gen = built
    (tmp_path / "empty").mkdir()
    without_pointer = tmp_path / "no-current"
    shutil.copytree(gen.parent, without_pointer)
    (without_pointer / "CURRENT").unlink()
    for index in (tmp_path / "nowhere", tmp_path / "empty", without_pointer):
        _refused(index, IndexMissingError, "chatkb build")
    _repaired(corpus, without_pointer)


def test_cli_ask_on_a_missing_or_damaged_index_prints_one_line_and_exit_code_4(tmp_path, built):
    _, index, gen = built
    (gen / "dense.faiss").write_bytes(b"")
    for path in (tmp_path / "nowhere", index):
        result = CliRunner().invoke(cli, ["ask", "photo sur le CV", "--index", str(path)])
        assert result.exit_code == 4, result.output
        assert result.output.startswith("Erreur : ") and "chatkb build" in result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00garbage\x81", b"../../etc", b"gen-does-not-exist\n", b"gen-x/../../y\n", "dir"],
    ids=["binary", "path-traversal", "unknown-generation", "traversal-in-name", "a-directory"],
)
def test_damaged_current_pointer_is_detected_and_repaired(built, content):
    corpus, index, _ = built
    pointer = index / "CURRENT"
    pointer.unlink()
    if content == "dir":
        pointer.mkdir()
    else:
        pointer.write_bytes(content)
    _refused(index, IndexCorruptError)
    if content == "dir":
        pointer.rmdir()  # a folder in the way cannot be replaced atomically: the one manual step
    _repaired(corpus, index)


# ----------------------------------------------------------------------------- damaged files


def _every_file(gen: Path) -> list[str]:
    return sorted(p.relative_to(gen).as_posix() for p in gen.rglob("*") if p.is_file() and p.name != "manifest.json")


@pytest.mark.parametrize("damage", ["truncate", "empty", "delete", "flip-byte"])
def test_every_file_of_a_generation_damaged_is_detected_then_repaired(built, damage):
    corpus, index, gen = built
    files = _every_file(gen)
    assert {"threads.jsonl", "threads.offsets.npy", "units.thread.npy", "units.keys.npy", "vectors.npy", "dense.faiss", "bm25/stems.json", "analysis/tf.npy"} <= set(files)
    for rel in files:
        path = gen / rel
        original = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(original[: len(original) // 2])
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "delete":
            path.unlink()
        else:
            i = len(original) // 2
            path.write_bytes(original[:i] + bytes([original[i] ^ 0x01]) + original[i + 1 :])
        message = _refused(index, IndexCorruptError)
        assert rel in message, (rel, message)
        path.write_bytes(original)
    assert_answers(index)  # every file restored: it opens again
    (gen / "dense.faiss").write_bytes((gen / "dense.faiss").read_bytes()[:100])
    _repaired(corpus, index)


def test_truncated_faiss_file_is_detected_and_cli_build_repairs(built, monkeypatch):
    corpus, index, gen = built
    faiss_file = gen / "dense.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:64])
    assert "dense.faiss" in _refused(index, IndexCorruptError)
    import chatkb.embed

    monkeypatch.setattr(chatkb.embed.Embedder, "load", classmethod(lambda cls, model=None, **kw: FakeEmbedder()))
    result = CliRunner().invoke(cli, ["build", str(corpus), "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert_answers(index)


# ----------------------------------------------------------------------------- edited manifest


MANIFEST_EDITS = {
    "not-json": None,
    "deleted": None,
    "digest-changed": lambda m: m["files"].update({"threads.jsonl": "0" * 64}),
    "files-emptied": lambda m: m.update({"files": {}}),
    "files-removed": lambda m: m.pop("files"),
    "one-entry-removed": lambda m: m["files"].pop("dense.faiss"),
    "generation-changed": lambda m: m.update({"generation": "gen-00000000-000000-aaaaaa"}),
    "counts-changed": lambda m: m["counts"].update({"threads": m["counts"]["threads"] + 1}),
    "dimension-changed": lambda m: m["model"].update({"dimension": 128}),
    "format-version-changed": lambda m: m.update({"format_version": 99}),
    "model-changed": lambda m: m["model"].update({"name": "another-model"}),
    "model-checksum-changed": lambda m: m["model"].update({"sha256": "f" * 64}),
}


@pytest.mark.parametrize("edit", list(MANIFEST_EDITS))
def test_edited_or_missing_manifest_is_detected_then_repaired(built, edit):
    corpus, index, gen = built
    manifest = gen / "manifest.json"
    if edit == "not-json":
        manifest.write_text(manifest.read_text(encoding="utf-8")[:-20], encoding="utf-8")
    elif edit == "deleted":
        manifest.unlink()
    else:
        _rewrite_manifest(gen, MANIFEST_EDITS[edit])
    expected = IndexMismatchError if edit in ("format-version-changed", "model-changed", "model-checksum-changed") else IndexCorruptError
    _refused(index, expected)
    _repaired(corpus, index)


# ----------------------------------------------------------------------------- mixed generations


@pytest.fixture
def two_generations(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    first = fake_build(corpus, index).generation
    (corpus / "extra.md").write_text(extra_faq(1), encoding="utf-8")
    second = fake_build(corpus, index).generation
    assert first != second and (index / first).is_dir()  # the previous generation is kept
    return corpus, index, index / first, index / second


@pytest.mark.parametrize(
    "mix",
    ["threads.jsonl", "threads.offsets.npy", "dense.faiss", "vectors.npy", "units.thread.npy", "bm25/data.csc.index.npy", "bm25/stems.json",
     "manifest.json", "manifest-relabelled", "everything-but-the-manifest"],
)
def test_files_from_two_generations_mixed_are_detected_then_repaired(two_generations, mix):
    corpus, index, old, new = two_generations
    if mix == "manifest-relabelled":  # the old manifest, its generation field set to the new one
        shutil.copy(old / "manifest.json", new / "manifest.json")
        _rewrite_manifest(new, lambda m: m.update({"generation": new.name}))
    elif mix == "everything-but-the-manifest":
        for rel in _every_file(old):
            shutil.copy(old / rel, new / rel)
    else:
        shutil.copy(old / mix, new / mix)
    _refused(index, IndexCorruptError)
    _repaired(corpus, index)


def test_a_build_keeps_the_generation_it_replaced_and_drops_orphans(two_generations):
    """Readers that have just read CURRENT may be opening the replaced generation: it stays on
    disk. A finished generation that never went live (build killed before the CURRENT swap)
    is dropped, whatever its name; so are older ones."""
    corpus, index, old, new = two_generations
    orphan = index / "gen-99991231-235959-ffffff"  # sorts after every real name
    shutil.copytree(new, orphan)
    (corpus / "extra2.md").write_text(extra_faq(2), encoding="utf-8")
    third = fake_build(corpus, index).generation
    assert new.is_dir(), "the generation replaced by this build was removed under its readers"
    assert (index / third).is_dir() and current_generation(index) == third
    assert not orphan.exists() and not old.exists()
    assert sorted(p.name for p in index.glob("gen-*")) == sorted([new.name, third])


# ----------------------------------------------------------------------------- foreign model, bad weights


def test_index_built_with_another_model_is_refused(built):
    _, index, _ = built
    with pytest.raises(IndexMismatchError) as err:
        KnowledgeBase.open(index, embedder=FakeEmbedder(name="another-model"))
    _one_line(str(err.value))
    assert "chatkb build" in str(err.value)


@pytest.fixture
def tampered_default_model(tmp_path, monkeypatch):
    """The packaged all-MiniLM-L6-v2 with one changed byte in model.safetensors."""
    import chatkb.embed as embed

    src = embed._packaged_model_dir()
    fake = tmp_path / "model"
    shutil.copytree(src, fake, copy_function=os.symlink)
    weights = fake / "model.safetensors"
    data = bytearray((src / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.unlink()
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(embed, "_packaged_model_dir", lambda: fake)
    return fake


def test_weights_checksum_mismatch_is_refused_at_open_by_the_api_and_the_cli(tmp_path, tampered_default_model):
    from chatkb.embed import DEFAULT_MODEL, DEFAULT_MODEL_SHA256, ModelSpec

    corpus = make_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    genuine = FakeEmbedder()
    genuine.spec = ModelSpec(name=DEFAULT_MODEL, path="", sha256=DEFAULT_MODEL_SHA256)
    build_index([corpus], index, embedder=genuine)  # an index made with the genuine weights
    with pytest.raises(ModelError) as err:
        KnowledgeBase.open(index)
    _one_line(str(err.value))
    assert "contrôle" in str(err.value) and "refusé" in str(err.value)
    result = CliRunner().invoke(cli, ["ask", "photo sur le CV", "--index", str(index)])
    assert result.exit_code == 5 and "contrôle" in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(cli, ["build", str(corpus), "--index", str(index)])  # no build with bad weights either
    assert result.exit_code == 5 and "contrôle" in result.output
    assert_answers(index, genuine)  # and the index is left as it was


def test_local_model_whose_weights_changed_since_the_build_is_refused(tmp_path):
    from chatkb.embed import ModelSpec

    model = tmp_path / "my-model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights version 1")
    corpus = make_corpus(tmp_path / "corpus")
    embedder = FakeEmbedder()
    embedder.spec = ModelSpec(name=str(model), path=str(model), sha256=hashlib.sha256(b"weights version 1").hexdigest())
    build_index([corpus], tmp_path / "index", embedder=embedder)
    (model / "model.safetensors").write_bytes(b"weights version 2")
    with pytest.raises(IndexMismatchError) as err:
        KnowledgeBase.open(tmp_path / "index", model=str(model))
    _one_line(str(err.value))
    assert "chatkb build" in str(err.value)


# ----------------------------------------------------------------------------- no pickle

FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _python_sources() -> list[Path]:
    return sorted(SRC.rglob("*.py")) + [SRC.parent / "app.py"]


def test_no_pickle_anywhere_in_the_sources():
    """AST check: no pickle-family import, no torch.load, no allow_pickle other than False (numpy's default)."""
    problems = []
    for path in _python_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(SRC.parent)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                problems += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"{where} from {node.module} import")
            elif isinstance(node, ast.Call):
                func = ast.unparse(node.func)
                kw = {k.arg: k.value for k in node.keywords}
                if func in ("torch.load", "torch.serialization.load", "pd.read_pickle", "pandas.read_pickle"):
                    problems.append(f"{where} {func}()")
                if "allow_pickle" in kw and not (isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False):
                    problems.append(f"{where} {func}(allow_pickle={ast.unparse(kw['allow_pickle'])})")
                # (np.load without the keyword is fine: numpy's default is allow_pickle=False)
                if "weights_only" in kw and not (isinstance(kw["weights_only"], ast.Constant) and kw["weights_only"].value is True):
                    problems.append(f"{where} weights_only=False")
    assert not problems, problems
    text = "\n".join(p.read_text(encoding="utf-8") for p in _python_sources())
    assert "allow_pickle=True" not in text and "torch.load" not in text and "import pickle" not in text


def test_opening_and_searching_never_unpickles(built, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("pickle used")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert_answers(built[1])


class _Payload:
    """A pickle that, if ever loaded, leaves a file behind."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("rel", ["vectors.npy", "bm25/data.csc.index.npy"])
def test_a_forged_pickle_in_the_index_is_refused_and_never_executed(built, tmp_path, rel):
    """An attacker replaces an array with a pickled object array and rewrites the manifest to match."""
    _, index, gen = built
    marker = tmp_path / "pwned"
    np.save(gen / rel, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    digest = hashlib.sha256((gen / rel).read_bytes()).hexdigest()
    _rewrite_manifest(gen, lambda m: m["files"].update({rel: digest}))
    with pytest.raises(IndexCorruptError) as err:
        open_index(index)
    _one_line(str(err.value))
    assert not marker.exists()


def test_a_build_over_a_generation_missing_any_file_repairs_it(built):
    """The rebuild reads the live generation as a cache: a missing file (any of them) must make
    it rebuild, never fail with a traceback."""
    corpus, index, gen = built
    for rel in _every_file(gen) + ["manifest.json"]:
        (gen / rel).unlink()
        _repaired(corpus, index)
        gen = index / current_generation(index)
