"""The index folder: build a generation, swap it in atomically, open and verify it.

Layout::

    index/
      CURRENT            name of the live generation (replaced atomically)
      .lock              held by the build in progress
      gen-<id>/          one complete generation
        manifest.json    model, checksum, dimension, analyser, parser, corpus hashes, counts,
                         versions, and the SHA-256 of every file below
        threads.jsonl    the thread records, one JSON line each (read on demand)
        threads.offsets.npy  byte offset of each record (and the file size last)
        documents.json   the parsed files: title, expert, format, first thread, thread count
        units.thread.npy unit → thread (int32)
        units.kind.npy   unit → kind (int8)
        units.keys.npy   unit → vector cache key (20-byte SHA-1 of model and text)
        vectors.npy      unit vectors (float32, L2-normalised)
        dense.faiss      FAISS index over vectors.npy
        vectors-fr.npy   vectors of the French encoder (float16, L2-normalised) of the units it
                         reads (units.FRENCH_KINDS), in unit order (units.french_rows)
        words.json       corpus word forms (typo correction)
        words-fr.npy     the French encoder's vector of each of them (float16; soft coverage)
        analysis/        each unit's word counts (the analyser's work, reused by the next build)
        bm25/            bm25s arrays + params + our stem vocabulary + impact lists
        bm25-candidates/ the same over the units that propose candidates (questions, whole
                         threads), and units.npy: their unit ids

A build writes ``gen-<id>.tmp``, renames it, then replaces ``CURRENT``: a build that fails or
is killed leaves the previous generation live. Nothing is ever loaded with pickle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import __version__
from .analyzer import ANALYZER_VERSION
from .errors import (
    BuildLockedError,
    ChatkbError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
)
from .records import Document, Thread
from .store import ThreadStore, record_lines, write_threads
from .textio import sha256_file
from .units import ANSWER, CANDIDATE_KINDS, FRENCH_KINDS, PASSAGE, Unit, french_rows, make_units

FORMAT_VERSION = 4  # 3: vectors-fr.npy holds the French encoder's units only; 4: words-fr.npy
CORPUS_SUFFIXES = (".txt", ".md", ".markdown")
# Every file a generation is opened from: each must be listed (with its SHA-256) in the manifest.
REQUIRED_FILES = frozenset({
    "threads.jsonl", "threads.offsets.npy", "documents.json", "units.thread.npy", "units.kind.npy", "units.keys.npy",
    "words.json", "words-fr.npy", "vectors.npy", "dense.faiss", "vectors-fr.npy", "bm25/stems.json",
    "bm25/params.index.json", "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy", "bm25/indptr.csc.index.npy",
    "bm25-candidates/stems.json", "bm25-candidates/data.csc.index.npy", "bm25-candidates/indices.csc.index.npy",
    "bm25-candidates/indptr.csc.index.npy", "bm25-candidates/units.npy",
})
# Written by every build but optional when opening: without them a build re-analyses every unit.
ANALYSIS_DIR = "analysis"
# Files whose source code decides how a corpus file is parsed: a build reuses the previous
# generation's threads of an unchanged file only when none of them changed.
PARSER_MODULES = ("chat.py", "chatlines.py", "faq.py", "parse.py", "records.py", "textio.py")


@dataclass(frozen=True)
class BuildReport:
    """What a build did."""

    index: str
    generation: str
    files: int
    threads: int
    units: int
    added: int
    updated: int
    removed: int
    unchanged: int
    embedded: int  # units whose vector was computed now (by the model, or as the mean of passages)
    reused: int
    seconds: float
    warnings: tuple[str, ...] = ()
    changed: bool = True
    embedded_french: int = 0  # units whose French encoder vector was computed now

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class IndexData:
    """A loaded generation (read-only once built).

    ``threads`` decodes records from disk on demand; ``thread_doc`` gives each thread's
    document (an index into the keys of ``documents``, in order).
    """

    path: Path
    generation: str
    manifest: dict
    threads: ThreadStore
    documents: dict[str, dict]
    thread_doc: np.ndarray
    unit_thread: np.ndarray
    unit_kind: np.ndarray
    unit_offsets: np.ndarray
    vectors: np.ndarray
    dense: object
    french_vectors: np.ndarray  # (units it reads, 512) float16, the French encoder's (chatkb.french) ...
    french_rows: np.ndarray  # ... unit → its row there, -1 for the units it does not read
    word_vectors: np.ndarray  # (len(words), 512) float16: the French encoder's vector of each word
    unit_word_ptr: np.ndarray  # CSR over units: unit u's words are rows
    unit_word_ids: np.ndarray  # unit_word_ids[unit_word_ptr[u]:unit_word_ptr[u+1]] of word_vectors
    lexical: object
    candidates: object  # BM25 over the units that propose threads (units.CANDIDATE_KINDS) ...
    candidate_units: np.ndarray  # ... whose document i is unit candidate_units[i]
    words: list[str] = field(default_factory=list)

    def document_threads(self, source: str) -> range:
        """Positions in ``threads`` of the threads of one source file (empty when unknown)."""
        meta = self.documents.get(source) or {}
        first = int(meta.get("first_thread", 0))
        return range(first, first + int(meta.get("threads", 0))) if source in self.documents else range(0)


# ----------------------------------------------------------------------------- discovery


# Files that live in the corpus folder but are not documents (read by the search itself).
AUXILIARY_FILES = frozenset({"glossaire.tsv"})


def one_line(message: str) -> str:
    """A message fit for one line of a terminal: no line breaks or control characters, valid UTF-8."""
    text = "".join(" " if (ord(c) < 32 or ord(c) == 127) else c for c in str(message))
    return " ".join(text.encode("utf-8", "replace").decode("utf-8").split())


def _name_ok(f: Path) -> bool:
    try:
        str(f).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """Corpus files below ``paths`` (sorted), and one-line warnings for what was passed over."""
    files: list[Path] = []
    warnings: list[str] = []
    unsupported = "extension non prise en charge (attendu : .txt, .md), ignoré."
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if any(part.startswith(".") for part in f.relative_to(p).parts):
                    continue
                if f.is_dir() or f.name in AUXILIARY_FILES:
                    continue
                if not _name_ok(f):
                    warnings.append(one_line(f"{f.name} : nom de fichier illisible (encodage), ignoré."))
                elif f.suffix.lower() not in CORPUS_SUFFIXES:
                    warnings.append(one_line(f"{f.name} : {unsupported}"))
                elif not f.is_file():
                    warnings.append(one_line(f"{f.name} : pas un fichier lisible (lien cassé ou fichier spécial), ignoré."))
                else:
                    files.append(f)
        elif p.is_file():
            if not _name_ok(p):
                warnings.append(one_line(f"{p.name} : nom de fichier illisible (encodage), ignoré."))
            elif p.suffix.lower() in CORPUS_SUFFIXES:
                files.append(p)
            else:
                warnings.append(one_line(f"{p.name} : {unsupported}"))
        else:
            warnings.append(one_line(f"{p} : introuvable, ignoré."))
    seen: set[Path] = set()
    unique = [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]
    return unique, warnings


def source_name(path: Path) -> str:
    """How a file is named in records: relative to the working folder when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


# ----------------------------------------------------------------------------- generations


_GENERATION_NAME = re.compile(r"gen-[A-Za-z0-9_-]+")


def current_generation(index_dir: Path) -> str | None:
    """Name of the live generation, or ``None`` when there is no index.

    Raises:
        IndexCorruptError: ``CURRENT`` is unreadable or does not name a generation folder.
    """
    index_dir = Path(index_dir)
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"Index {index_dir} : fichier CURRENT illisible ; relancez « chatkb build ».") from exc
    if name and not _GENERATION_NAME.fullmatch(name):
        raise IndexCorruptError(f"Index {index_dir} : fichier CURRENT invalide ; relancez « chatkb build ».")
    return name or None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())


def _publish(index_dir: Path, tmp: Path, name: str, *, keep: int = 2) -> None:
    final = index_dir / name
    for f in tmp.rglob("*"):
        if f.is_file():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
    os.rename(tmp, final)
    _fsync_dir(index_dir)
    try:
        previous = current_generation(index_dir)
    except ChatkbError:
        previous = None
    pointer = index_dir / f"CURRENT.{uuid.uuid4().hex[:8]}.tmp"
    with open(pointer, "w", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, index_dir / "CURRENT")
    _fsync_dir(index_dir)
    _cleanup(index_dir, name, keep=keep, previous=previous)


def _cleanup(index_dir: Path, live: str, *, keep: int, previous: str | None = None) -> None:
    """Remove unfinished generations and finished ones other than the live one and (``keep`` ≥ 2)
    the one it replaced, which readers may be opening right now. A finished generation that
    never went live (a build killed between its rename and the ``CURRENT`` swap) is removed.
    """
    protected = {live} | ({previous} if previous and keep >= 2 else set())
    for old in index_dir.glob("gen-*"):
        if old.is_dir() and not old.name.endswith(".tmp") and old.name not in protected:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in index_dir.glob("gen-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    for tmp in index_dir.glob("CURRENT.*.tmp"):
        tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- build


def build_index(
    paths: Sequence[str | Path],
    index_dir: str | Path,
    *,
    embedder=None,
    model: str | None = None,
    french=None,
    progress: Callable[[str, int, int], None] | None = None,
    lock_timeout: float = 600.0,
    parse_format: str = "auto",
    hnsw_threshold: int | None = None,
) -> BuildReport:
    """Parse the corpus, embed what changed, and publish a new index generation.

    Args:
        paths: files or folders (every ``.txt``/``.md`` below them).
        index_dir: the index folder (created when missing).
        embedder: an :class:`~chatkb.embed.Embedder` (loaded from ``model`` when omitted).
        model: model name or path when no embedder is given.
        french: the French encoder (:func:`chatkb.french.default_french` when omitted).
        progress: called as ``progress(stage, done, total)``.
        lock_timeout: seconds to wait for another build; 0 refuses at once.

    Returns:
        A :class:`BuildReport`. When nothing changed, no generation is written.

    Raises:
        BuildLockedError: another build holds the lock past ``lock_timeout``.
        ChatkbError: no thread at all in the corpus.
    """
    from filelock import FileLock, Timeout

    from .dense import HNSW_THRESHOLD, build_dense, dense_info, save_dense
    from .lexical import LexicalIndex, WordCounts
    from .parse import parse_file, unread_warning

    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"))
    try:
        lock.acquire(timeout=lock_timeout)
    except Timeout as exc:
        raise BuildLockedError(f"Une autre construction de l'index est en cours ({index_dir}) ; réessayez plus tard.") from exc
    try:
        files, warnings = discover(paths)
        parser = parser_fingerprint(parse_format)
        previous = _load_previous(index_dir)
        reusable = previous if previous is not None and previous["parser"] == parser else None
        parts: list[_Part] = []
        for f in files:
            try:
                digest = sha256_file(f)
                source = source_name(f)
                part = _previous_part(reusable, source, digest)
                if part is None:
                    doc = parse_file(f, format=parse_format, source=source)
                    if warning := unread_warning(doc):
                        warnings.append(one_line(warning))
                    part = _Part.parsed(doc, digest)
            except ChatkbError as exc:
                warnings.append(one_line(str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - one bad file (I/O race, parser bug) must not sink the corpus
                warnings.append(one_line(f"{f.name} : lecture ou analyse impossible ({type(exc).__name__}), ignoré."))
                continue
            if not part.n_threads:
                warnings.append(one_line(f"{f.name} : aucune question trouvée, ignoré."))
                continue
            parts.append(part)
        n_threads = sum(p.n_threads for p in parts)
        if not n_threads:
            raise ChatkbError("Aucune question trouvée dans le corpus : rien à indexer.")
        corpus_hashes = {p.source: p.digest for p in parts}

        if embedder is None:
            from .embed import Embedder

            embedder = Embedder.load(model)
        if french is None:
            from .french import default_french

            french = default_french()
        spec = embedder.spec
        model_key = f"{spec.name}|{spec.sha256}|{spec.passage_prompt}"
        same_model = previous is not None and _same_model(previous, spec)
        # unit keys name the text (and the dense model): the French vector of a reused key is reused
        same_french = same_model and previous["french"] is not None and previous["manifest"].get("french", {}).get("sha256") == french.spec.sha256
        same_analysis = previous is not None and previous["analyzer"] == ANALYZER_VERSION and previous["analysis"] is not None
        if not (same_model and same_french and same_analysis):  # the previous units cannot be reused as they are: make them again
            parts = [p.with_threads(reusable["threads"]) if p.doc is None else p for p in parts]
        units = _assemble_units(parts, previous, model_key)
        changes = _diff(previous, parts)
        if (
            same_model
            and same_french
            and np.array_equal(previous["keys"], units.keys)
            and previous["corpus"] == corpus_hashes
            and previous["analyzer"] == ANALYZER_VERSION
            and _healthy(index_dir, previous)
        ):
            return BuildReport(
                index=str(index_dir), generation=previous["generation"], files=len(parts), threads=n_threads,
                units=len(units.keys), added=0, updated=0, removed=0, unchanged=n_threads, embedded=0,
                reused=len(units.keys), seconds=time.perf_counter() - t0, warnings=tuple(warnings), changed=False,
            )

        rows = units.rows if same_model else np.full(len(units.keys), -1, dtype=np.int64)
        vectors, embedded = _embed_units(embedder, units, rows, previous["vectors"] if same_model else None, progress)
        # each unit's row in the previous generation's French vectors (-1: none)
        french_src = np.full(len(units.keys), -1, dtype=np.int64)
        if same_french:
            was = rows >= 0
            french_src[was] = french_rows(previous["unit_kind"])[rows[was]]
        # The French encoder works while this thread analyses, indexes, writes and checksums the
        # other files (mostly one core, so the encoder gets one BLAS thread): adding a 100-thread
        # transcript to a 10k base, 5.7 -> 5.1 s; then storing only the rows it reads and
        # checksumming the other files before waiting for it, 4.9 -> 4.4 s.
        beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatkb-build-french")
        shared = _SharedEncoder(french)  # this thread joins in once its own work is done
        french_job = beside.submit(
            _embed_units, shared, units, french_src, previous["french"] if same_french else None, None,
            only=np.isin(units.kind, FRENCH_KINDS), dtype=np.float16, threads=1,
        )
        if progress:
            progress("index", 0, 1)
        counts = WordCounts.gather(units.texts, previous=previous["analysis"] if same_analysis else None, reuse=rows if same_analysis else None)
        words_job = beside.submit(_word_vectors, french, counts.words, previous["word_vectors"] if same_french else None)
        beside.shutdown(wait=False)
        lexical = LexicalIndex.from_words(counts)
        proposing = np.isin(units.kind, CANDIDATE_KINDS)
        candidates = LexicalIndex.from_words(counts, keep=proposing)
        trained = previous["dense"] if same_model else None
        dense = build_dense(vectors, hnsw_threshold=hnsw_threshold or HNSW_THRESHOLD, trained=trained)

        name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = index_dir / f"{name}.tmp"
        tmp.mkdir()
        offsets = write_threads(tmp / "threads.jsonl", (p.records(reusable) for p in parts))
        np.save(tmp / "threads.offsets.npy", offsets, allow_pickle=False)
        documents, first = {}, 0
        for p in parts:
            documents[p.source] = {**p.meta, "first_thread": first, "threads": p.n_threads}
            first += p.n_threads
        _write_json(tmp / "documents.json", documents)
        np.save(tmp / "units.thread.npy", units.thread, allow_pickle=False)
        np.save(tmp / "units.kind.npy", units.kind, allow_pickle=False)
        np.save(tmp / "units.keys.npy", units.keys, allow_pickle=False)
        _write_json(tmp / "words.json", counts.words)
        counts.save(tmp / ANALYSIS_DIR)
        np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
        save_dense(dense, tmp / "dense.faiss")
        lexical.save(tmp / "bm25")
        candidates.save(tmp / "bm25-candidates")
        np.save(tmp / "bm25-candidates" / "units.npy", np.flatnonzero(proposing).astype(np.int32), allow_pickle=False)
        checksums = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        shared.help(french_job)
        french_vectors, embedded_french = french_job.result()  # the French encoder's work ends last
        np.save(tmp / "vectors-fr.npy", french_vectors, allow_pickle=False)
        np.save(tmp / "words-fr.npy", words_job.result(), allow_pickle=False)
        for rel in ("vectors-fr.npy", "words-fr.npy"):
            checksums[rel] = sha256_file(tmp / rel)
        manifest = {
            "format_version": FORMAT_VERSION,
            "generation": name,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": {
                "name": spec.name,
                "sha256": spec.sha256,
                "dimension": int(vectors.shape[1]),
                "query_prompt": spec.query_prompt,
                "passage_prompt": spec.passage_prompt,
            },
            "french": {"name": french.spec.name, "sha256": french.spec.sha256, "dimension": int(french_vectors.shape[1])},
            "analyzer": {"version": ANALYZER_VERSION, "stemmer": "snowball-french", "library": "bm25s"},
            "parser": parser,
            "dense": dense_info(dense),
            "counts": {"files": len(parts), "threads": n_threads, "units": len(units.keys), "vectors": int(vectors.shape[0])},
            "changes": dict(changes),
            "corpus": corpus_hashes,
            "versions": _versions(),
        }
        manifest["files"] = dict(sorted(checksums.items()))
        _write_json(tmp / "manifest.json", manifest)
        _publish(index_dir, tmp, name)
        return BuildReport(
            index=str(index_dir), generation=name, files=len(parts), threads=n_threads, units=len(units.keys),
            added=changes["added"], updated=changes["updated"], removed=changes["removed"],
            unchanged=changes["unchanged"], embedded=embedded, reused=len(units.keys) - embedded,
            seconds=time.perf_counter() - t0, warnings=tuple(warnings), embedded_french=embedded_french,
        )
    finally:
        lock.release()


def parser_fingerprint(parse_format: str = "auto") -> str:
    """What decides how a file is parsed: the parser's source code and the format asked for."""
    import hashlib

    h = hashlib.sha1(parse_format.encode("utf-8"))
    here = Path(__file__).parent
    for name in PARSER_MODULES:
        h.update(b"\x1f" + (here / name).read_bytes())
    return h.hexdigest()


@dataclass
class _Part:
    """One corpus file in a build: parsed now (``doc``), or reused from the previous
    generation (``prev_first``: its first thread there) because its bytes and the parser
    are unchanged."""

    source: str
    digest: str
    meta: dict
    n_threads: int
    doc: Document | None = None
    prev_first: int | None = None

    @classmethod
    def parsed(cls, doc: Document, digest: str) -> "_Part":
        meta = {"path": doc.source, "format": doc.format, "title": doc.title, "expert": doc.expert, "encoding": doc.encoding, "sha256": digest}
        return cls(doc.source, digest, meta, len(doc.threads), doc=doc)

    def with_threads(self, store: ThreadStore) -> "_Part":
        """The reused file as a document (its threads decoded), for a build that must redo its units."""
        threads = tuple(store[self.prev_first : self.prev_first + self.n_threads])
        doc = Document(source=self.source, format=self.meta.get("format", "chat"), threads=threads, title=self.meta.get("title"),
                       expert=self.meta.get("expert"), encoding=self.meta.get("encoding", "utf-8"))
        return _Part(self.source, self.digest, self.meta, self.n_threads, doc=doc)

    def records(self, previous: dict | None) -> tuple[bytes, np.ndarray]:
        """This file's thread records as JSON lines, and where each starts (a reused file's
        lines are copied as they were)."""
        if self.doc is not None:
            return record_lines(t.to_record() for t in self.doc.threads)
        return previous["threads"].raw_lines(self.prev_first, self.prev_first + self.n_threads)


def _previous_part(previous: dict | None, source: str, digest: str) -> _Part | None:
    """The previous generation's parse of an unchanged file (same bytes, same parser), if any."""
    if previous is None or previous["corpus"].get(source) != digest or source not in previous["documents"]:
        return None
    meta = dict(previous["documents"][source])
    first, n = int(meta.pop("first_thread")), int(meta.pop("threads"))
    return _Part(source, digest, meta, n, prev_first=first)


@dataclass
class _Units:
    """Every unit of a build, in order: thread, kind, cache key, the previous generation's row
    holding it (-1: none), and the text of each unit that is not in the previous generation."""

    thread: np.ndarray
    kind: np.ndarray
    keys: np.ndarray
    rows: np.ndarray
    texts: list[str | None]
    derived: dict[int, list[int]]


def _assemble_units(parts: list[_Part], previous: dict | None, model_key: str) -> _Units:
    """A reused file's units are the previous generation's rows, taken as a block; a parsed
    file's units are made from its threads and looked up in the previous keys by content."""
    thread, kind, keys, rows = [], [], [], []
    texts: list[str | None] = []
    derived: dict[int, list[int]] = {}
    where: dict[bytes, int] | None = None
    t_base = u_base = 0
    for p in parts:
        if p.doc is None:
            offsets = previous["unit_offsets"]
            u0, u1 = int(offsets[p.prev_first]), int(offsets[p.prev_first + p.n_threads])
            thread.append(previous["unit_thread"][u0:u1].astype(np.int32) - p.prev_first + t_base)
            kind.append(previous["unit_kind"][u0:u1])
            keys.append(previous["keys"][u0:u1])
            rows.append(np.arange(u0, u1, dtype=np.int64))
            texts.extend([None] * (u1 - u0))
            n_units = u1 - u0
        else:
            made = make_units(p.doc.threads)
            local = passage_means(made)
            k = np.array([bytes.fromhex(u.key(model_key + ("|mean-of-passages" if i in local else ""))) for i, u in enumerate(made)], dtype="S20")
            if where is None:
                where = {key: i for i, key in enumerate(previous["keys"].tolist())} if previous is not None else {}
            thread.append(np.array([u.thread + t_base for u in made], dtype=np.int32))
            kind.append(np.array([u.kind for u in made], dtype=np.int8))
            keys.append(k)
            rows.append(np.array([where.get(key, -1) for key in k.tolist()], dtype=np.int64))
            texts.extend(u.text for u in made)
            derived.update({u_base + i: [u_base + j for j in js] for i, js in local.items()})
            n_units = len(made)
        t_base += p.n_threads
        u_base += n_units
    cat = lambda arrays, dtype: np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)  # noqa: E731
    return _Units(cat(thread, np.int32), cat(kind, np.int8), cat(keys, "S20"), cat(rows, np.int64), texts, derived)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"chatkb": __version__}
    for pkg in ("faiss-cpu", "bm25s", "sentence-transformers", "torch", "onnxruntime", "PyStemmer"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _same_model(previous: dict, spec) -> bool:
    m = previous["manifest"]["model"]
    return m["name"] == spec.name and m["sha256"] == spec.sha256 and m.get("passage_prompt", "") == spec.passage_prompt


def _healthy(index_dir: Path, previous: dict) -> bool:
    """The live generation opens, every file matching its checksum (files the rebuild already
    hashed are not hashed again)."""
    if not all(previous["intact"](rel) for rel in previous["manifest"].get("files", {})):
        return False
    try:
        open_index(index_dir, verify=False)
    except ChatkbError:
        return False
    return True


def _load_previous(index_dir: Path) -> dict | None:
    """What the live generation offers a rebuild: its parsed files, vectors, word counts and
    trained dense index, each checked against the manifest before it is trusted."""
    from .dense import load_trained
    from .lexical import WordCounts

    try:
        gen = current_generation(index_dir)
    except ChatkbError:
        return None  # unreadable CURRENT: rebuild everything
    if gen is None:
        return None
    folder = index_dir / gen
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            return None
        files = manifest.get("files", {})
        checked: dict[str, bool] = {}

        def intact(rel: str) -> bool:
            """The file is listed and matches its checksum (each file is hashed once per build)."""
            if rel not in checked:
                try:
                    checked[rel] = rel in files and sha256_file(folder / rel) == files[rel]
                except OSError:
                    checked[rel] = False
            return checked[rel]

        if not all(intact(rel) for rel in ("units.keys.npy", "vectors.npy", "threads.jsonl", "threads.offsets.npy", "documents.json")):
            return None  # damaged: nothing in it can be trusted as a cache
        keys = np.load(folder / "units.keys.npy", allow_pickle=False)
        vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
        if vectors.shape[0] != len(keys):
            return None
        threads = ThreadStore(folder / "threads.jsonl", np.load(folder / "threads.offsets.npy", allow_pickle=False))
        documents = json.loads((folder / "documents.json").read_text(encoding="utf-8"))
        if not all(intact(rel) for rel in ("units.thread.npy", "units.kind.npy")):
            return None
        unit_thread = np.load(folder / "units.thread.npy", allow_pickle=False)
        unit_kind = np.load(folder / "units.kind.npy", allow_pickle=False)
        if len(unit_thread) != len(keys) or len(unit_kind) != len(keys) or np.any(np.diff(unit_thread) < 0) or sum(int(m["threads"]) for m in documents.values()) != len(threads):
            return None
        unit_offsets = np.searchsorted(unit_thread, np.arange(len(threads) + 1)).astype(np.int64)
    except (OSError, ValueError, KeyError):
        return None  # unreadable previous index: rebuild everything
    analysis = None
    try:
        if all(intact(f"{ANALYSIS_DIR}/{name}") for name in WordCounts.FILES):
            analysis = WordCounts.load(folder / ANALYSIS_DIR)
            if len(analysis) != len(keys):
                analysis = None
    except (OSError, ValueError):
        analysis = None
    dense = load_trained(folder / "dense.faiss", manifest.get("dense", {})) if intact("dense.faiss") else None
    french = None
    if intact("vectors-fr.npy"):
        try:
            french = np.load(folder / "vectors-fr.npy", mmap_mode="r", allow_pickle=False)
            if french.shape[0] != int(np.isin(unit_kind, FRENCH_KINDS).sum()):
                french = None
        except (OSError, ValueError):
            french = None
    word_vectors = None
    if intact("words.json") and intact("words-fr.npy"):
        try:
            words = json.loads((folder / "words.json").read_text(encoding="utf-8"))
            table = np.load(folder / "words-fr.npy", mmap_mode="r", allow_pickle=False)
            word_vectors = (words, table) if table.shape[0] == len(words) else None
        except (OSError, ValueError):
            word_vectors = None
    return {
        "generation": gen,
        "manifest": manifest,
        "keys": keys,
        "vectors": vectors,
        "threads": threads,
        "documents": documents,
        "unit_thread": unit_thread,
        "unit_kind": unit_kind,
        "unit_offsets": unit_offsets,
        "analysis": analysis,
        "dense": dense,
        "french": french,
        "word_vectors": word_vectors,
        "parser": manifest.get("parser"),
        "corpus": manifest.get("corpus", {}),
        "analyzer": manifest.get("analyzer", {}).get("version"),
        "intact": intact,
    }


def passage_means(units: list[Unit]) -> dict[int, list[int]]:
    """Answers split into passages → their passages' units (units are grouped by thread, the
    answer followed by its passages).

    Such an answer is longer than the model reads (256 tokens): its vector is the normalised
    mean of its passages' vectors, which covers all of it and costs no model pass. Measured
    on tests/eval: R@1 unchanged on both halves, a quarter fewer tokens to embed.
    """
    out: dict[int, list[int]] = {}
    for i, u in enumerate(units):
        if u.kind == ANSWER:
            j = i + 1
            while j < len(units) and units[j].kind == PASSAGE and units[j].thread == u.thread:
                j += 1
            if j > i + 1:
                out[i] = list(range(i + 1, j))
    return out


def _embed_units(embedder, units: _Units, rows: np.ndarray, previous: np.ndarray | None, progress, *, stage: str = "embed",
                 only: np.ndarray | None = None, dtype=np.float32, threads: int | None = None) -> tuple[np.ndarray, int]:
    """Each unit's vector: copied from ``previous[rows[i]]`` when there is one, else embedded
    now, or (units in ``units.derived``) the normalised mean of its passages' vectors.

    Args:
        rows: each unit's row in ``previous`` (-1: none).
        only: a mask of the units that get a vector; the result then holds their rows only, in
            unit order (derived units must be left out, or come with their passages).
        dtype: of the returned vectors.
        threads: passed to ``embedder.encode_passages`` when given.

    Returns:
        The vectors and how many of them are new (embedded or derived now).
    """
    n = len(units.keys)
    sel = np.arange(n) if only is None else np.flatnonzero(only)
    pos = np.full(n, -1, dtype=np.int64)  # unit → its row in the result
    pos[sel] = np.arange(len(sel))
    src = np.asarray(rows)[sel] if previous is not None else np.full(len(sel), -1, dtype=np.int64)
    known, new = np.flatnonzero(src >= 0), np.flatnonzero(src < 0)
    missing = [int(p) for p in new if int(sel[p]) not in units.derived]
    dim = previous.shape[1] if previous is not None else embedder.dimension
    vectors = np.zeros((len(sel), dim), dtype=dtype)
    if len(known):
        order = np.argsort(src[known], kind="stable")  # forward reads in the file
        vectors[known[order]] = previous[src[known][order]]
    if missing:
        done = [0]

        def tick(k: int) -> None:
            done[0] += k
            if progress:
                progress(stage, done[0], len(missing))

        if progress:
            progress(stage, 0, len(missing))
        extra = {"threads": threads} if threads else {}
        vectors[missing] = embedder.encode_passages([units.texts[int(sel[p])] for p in missing], progress=tick, **extra)
    for p in new:
        passages = units.derived.get(int(sel[p]))
        if passages is not None:
            mean = vectors[pos[passages]].mean(axis=0)
            vectors[p] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return vectors, len(new)


class _SharedEncoder:
    """An encoder whose one batch two threads share: the thread that called
    :meth:`encode_passages` and, once it has nothing else to do, the one that calls :meth:`help`.

    The build's French encoder starts on its own core while the build analyses and writes, then
    gets the second core for what is left: its part of building a 10k-thread base from scratch,
    127 -> 69 s (an incremental add, where the build has little else to do, gains ~0.05 s).
    """

    CHUNK = 16  # texts per call of the wrapped encoder

    def __init__(self, encoder):
        self.encoder = encoder
        self.dimension = encoder.dimension
        self._lock = threading.Condition()
        self._ready = threading.Event()
        self._texts: list[str] = []
        self._out = np.zeros((0, self.dimension), dtype=np.float32)
        self._next = self._finished = 0
        self._error: BaseException | None = None

    def encode_passages(self, texts, progress=None, threads=None) -> np.ndarray:
        with self._lock:
            self._texts = list(texts)
            self._out = np.empty((len(self._texts), self.dimension), dtype=np.float32)
        self._ready.set()
        self._work(progress)
        with self._lock:
            while self._finished < len(self._texts) and self._error is None:
                self._lock.wait()
            if self._error is not None:
                raise self._error
        return self._out

    def help(self, job) -> None:
        """Encode what is left of the batch, if the job has one (returns at once otherwise)."""
        while not self._ready.wait(0.005):
            if job.done():
                return
        try:
            self._work(None)
        except BaseException:  # noqa: BLE001 - recorded: the job's own thread raises it
            pass

    def _work(self, progress) -> None:
        while True:
            with self._lock:
                start = self._next
                if start >= len(self._texts) or self._error is not None:
                    return
                end = self._next = min(len(self._texts), start + self.CHUNK)
            try:
                vecs = self.encoder.encode_passages(self._texts[start:end], threads=1)
            except BaseException as exc:
                with self._lock:
                    self._error = exc
                    self._lock.notify_all()
                raise
            with self._lock:
                self._out[start:end] = vecs
                self._finished += end - start
                self._lock.notify_all()
            if progress:
                progress(end - start)


def _word_vectors(french, words: list[str], previous: tuple[list[str], np.ndarray] | None) -> np.ndarray:
    """The French encoder's vector of each corpus word form (for the soft coverage of
    :mod:`chatkb.search`), copied from the previous generation's table when it has the word."""
    known = {w: i for i, w in enumerate(previous[0])} if previous is not None else {}
    src = np.array([known.get(w, -1) for w in words], dtype=np.int64)
    out = np.zeros((len(words), previous[1].shape[1] if previous is not None else french.dimension), dtype=np.float16)
    reuse = np.flatnonzero(src >= 0)
    if len(reuse):
        out[reuse] = previous[1][src[reuse]]
    new = np.flatnonzero(src < 0)
    if len(new):
        out[new] = french.encode_passages([words[i] for i in new], threads=1)
    return out


def _diff(previous: dict | None, parts: list[_Part]) -> dict[str, int]:
    """Threads added, updated (same source and questions, new content), removed, unchanged.

    A file whose previous parse was reused is unchanged as a whole: only the threads of the
    other files are compared, by content.
    """
    reused = {p.source for p in parts if p.doc is None}
    unchanged = sum(p.n_threads for p in parts if p.doc is None)
    old: list[Thread] = []
    if previous is not None:
        for source, meta in previous["documents"].items():
            if source not in reused:
                first = int(meta["first_thread"])
                old.extend(previous["threads"][first : first + int(meta["threads"])])
    old_hash = {(t.source, t.content_hash()) for t in old}
    old_questions = {(t.source, t.question_text) for t in old}
    added = updated = same = 0
    for t in (t for p in parts if p.doc is not None for t in p.doc.threads):
        if (t.source, t.content_hash()) in old_hash:
            same += 1
        elif (t.source, t.question_text) in old_questions:
            updated += 1
        else:
            added += 1
    unchanged += same
    removed = max(0, len(old) - same - updated)
    return {"added": added, "updated": updated, "removed": removed, "unchanged": unchanged}


# ----------------------------------------------------------------------------- open


def open_index(index_dir: str | Path, *, verify: bool = True, mmap: bool = True) -> IndexData:
    """Load the live generation, checking every file against the manifest.

    Raises:
        IndexMissingError: no index in ``index_dir``.
        IndexCorruptError: a missing, truncated, edited or foreign file.
    """
    from .dense import load_dense
    from .lexical import LexicalIndex

    index_dir = Path(index_dir)
    gen = current_generation(index_dir)
    if gen is None:
        raise IndexMissingError(f"Pas d'index dans {index_dir} : lancez « chatkb build ».")
    folder = index_dir / gen
    where = f"Index {index_dir} ({gen})"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"{where} : manifest.json manquant ; relancez « chatkb build ».") from exc
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{where} : manifest.json illisible ; relancez « chatkb build ».") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{where} : format {manifest.get('format_version') if isinstance(manifest, dict) else '?'} au lieu de {FORMAT_VERSION} ; relancez « chatkb build »."
        )
    if manifest.get("generation") != gen:
        raise IndexCorruptError(f"{where} : le manifeste appartient à une autre génération ; relancez « chatkb build ».")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not REQUIRED_FILES <= set(listed):
        missing = sorted(REQUIRED_FILES - set(listed)) if isinstance(listed, dict) else ["files"]
        raise IndexCorruptError(f"{where} : manifeste incomplet ({', '.join(missing)}) ; relancez « chatkb build ».")
    if verify:
        for rel, digest in listed.items():
            p = folder / rel
            if not p.is_file():
                raise IndexCorruptError(f"{where} : fichier {rel} manquant ; relancez « chatkb build ».")
            if sha256_file(p) != digest:
                raise IndexCorruptError(f"{where} : fichier {rel} altéré ou d'une autre génération ; relancez « chatkb build ».")
    try:
        threads = ThreadStore(folder / "threads.jsonl", np.load(folder / "threads.offsets.npy", allow_pickle=False))
        documents = json.loads((folder / "documents.json").read_text(encoding="utf-8"))
        unit_thread = np.load(folder / "units.thread.npy", allow_pickle=False).astype(np.int32, copy=False)
        unit_kind = np.load(folder / "units.kind.npy", allow_pickle=False).astype(np.int8, copy=False)
        n_keys = len(np.load(folder / "units.keys.npy", mmap_mode="r", allow_pickle=False))
        vectors = np.load(folder / "vectors.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        dense = load_dense(folder / "dense.faiss", vectors)
        french_vectors = np.load(folder / "vectors-fr.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        lexical = LexicalIndex.load(folder / "bm25", mmap=False)
        candidates = LexicalIndex.load(folder / "bm25-candidates", mmap=False)
        candidate_units = np.load(folder / "bm25-candidates" / "units.npy", allow_pickle=False).astype(np.int64)
        vocab_words = json.loads((folder / "words.json").read_text(encoding="utf-8"))
        word_vectors = np.load(folder / "words-fr.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        # each unit's word ids (rows of words-fr.npy): the soft coverage reads a thread's words here
        unit_word_ptr = np.load(folder / ANALYSIS_DIR / "indptr.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        unit_word_ids = np.load(folder / ANALYSIS_DIR / "ids.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        thread_doc = np.zeros(len(threads), dtype=np.int32)
        for d, meta in enumerate(documents.values()):
            first, n = int(meta["first_thread"]), int(meta["threads"])
            if first < 0 or n < 0 or first + n > len(threads):
                raise ValueError("document thread range")
            thread_doc[first : first + n] = d
    except Exception as exc:  # noqa: BLE001 - any failure here means a damaged index
        raise IndexCorruptError(f"{where} : fichiers illisibles ({type(exc).__name__}) ; relancez « chatkb build ».") from exc
    n_units = len(unit_thread)
    unit_french_rows = french_rows(unit_kind)
    counts = manifest.get("counts") or {}
    if (
        not (vectors.shape[0] == n_units == dense.ntotal == lexical.num_docs == n_keys == len(unit_kind))
        or candidates.vocab != lexical.vocab
        or candidates.num_docs != len(candidate_units)
        or (len(candidate_units) and (candidate_units.min() < 0 or candidate_units.max() >= n_units))
        or (n_units and (unit_thread.min() < 0 or unit_thread.max() >= len(threads) or np.any(np.diff(unit_thread) < 0)))
        or counts.get("threads") != len(threads)
        or counts.get("units") != n_units
        or sum(int(m["threads"]) for m in documents.values()) != len(threads)
        or vectors.shape[1:] != (int((manifest.get("model") or {}).get("dimension", -1)),)
        or dense.d != vectors.shape[1]
        or french_vectors.shape != (int((unit_french_rows >= 0).sum()), int((manifest.get("french") or {}).get("dimension", -1)))
        or word_vectors.shape != (len(vocab_words), french_vectors.shape[1])
        or unit_word_ptr.shape != (n_units + 1,)
        or (n_units and int(unit_word_ptr[-1]) != len(unit_word_ids))
    ):
        raise IndexCorruptError(f"{where} : tailles incohérentes entre les fichiers ; relancez « chatkb build ».")
    offsets = np.searchsorted(unit_thread, np.arange(len(threads) + 1)).astype(np.int64)
    return IndexData(
        path=index_dir,
        generation=gen,
        manifest=manifest,
        threads=threads,
        documents=documents,
        thread_doc=thread_doc,
        unit_thread=unit_thread,
        unit_kind=unit_kind,
        unit_offsets=offsets,
        vectors=vectors,
        dense=dense,
        french_vectors=french_vectors,
        french_rows=unit_french_rows,
        word_vectors=word_vectors,
        unit_word_ptr=unit_word_ptr,
        unit_word_ids=unit_word_ids,
        lexical=lexical,
        candidates=candidates,
        candidate_units=candidate_units,
        words=vocab_words,
    )

