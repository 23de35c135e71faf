"""Shared fixtures: a small fake embedder for mechanics, the real model once per session."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from chatkb.analyzer import analyze
from chatkb.embed import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = CORPUS / "apec-chat-reseaux-sociaux.txt"


class FakeEmbedder:
    """Hashed bag of stems: deterministic, instant, and similar texts get similar vectors."""

    def __init__(self, dim: int = 64, name: str = "fake-bow"):
        self.spec = ModelSpec(name=name, path="", sha256="0" * 64)
        self.dim = dim
        self.calls = 0
        self.encoded = 0

    @property
    def dimension(self) -> int:
        return self.dim

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for tok in analyze(text) or ["vide"]:
            h = int(hashlib.md5(tok.encode()).hexdigest(), 16)
            v[h % self.dim] += 1.0 if (h >> 8) & 1 else -1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode_query(self, text: str) -> np.ndarray:
        return self._vec(text)

    def encode_passages(self, texts, progress=None, threads=None) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        if progress:
            progress(len(texts))
        return out


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    from chatkb.embed import Embedder

    return Embedder.load("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def real_index(tmp_path_factory, real_embedder):
    """The bundled corpus indexed with the real model, once per session."""
    from chatkb.index import build_index

    path = tmp_path_factory.mktemp("real") / "index"
    build_index([CORPUS], path, embedder=real_embedder)
    return path


@pytest.fixture(scope="session")
def real_kb(real_index, real_embedder):
    from chatkb.search import KnowledgeBase

    return KnowledgeBase.open(real_index, embedder=real_embedder, glossary=CORPUS / "glossaire.tsv")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
