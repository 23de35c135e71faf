"""What users say about the answers: votes, "aucune bonne réponse", declined questions.

A small SQLite database beside the index (``<index>/feedback.sqlite3`` by default, or
``$CHATKB_FEEDBACK``): outside the ``gen-*`` folders, so rebuilds keep it. WAL mode (the page
reads while other sessions write), one short transaction per write, parameterised queries
only. Every event stores the query and the answers that were shown (JSON), so that advisors
can see what the base lacks: :meth:`FeedbackStore.unanswered` lists the questions the base
declined or that users rated badly, and :meth:`FeedbackStore.unanswered_csv` exports them.

    store = FeedbackStore.beside("index")
    store.vote("linkedin ou viadeo", "apec-chat-3-1a2b3c4d", rank=1, up=True, shown=[...])
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

from .analyzer import fold

FILENAME = "feedback.sqlite3"
KINDS = ("up", "down", "no_answer", "declined")
REASONS = {"declined": "Refusée par la base", "no_answer": "Aucune bonne réponse", "down": "Réponse mal notée"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('up', 'down', 'no_answer', 'declined')),
    query      TEXT    NOT NULL,
    query_key  TEXT    NOT NULL,
    thread_id  TEXT,
    rank       INTEGER,
    shown      TEXT    NOT NULL DEFAULT '[]',
    answered   INTEGER,
    generation TEXT
);
CREATE INDEX IF NOT EXISTS events_by_query ON events (query_key, id);
"""


def feedback_path(index_dir: str | Path) -> Path:
    """``$CHATKB_FEEDBACK``, else ``<index_dir>/feedback.sqlite3`` (beside the generations)."""
    return Path(os.environ.get("CHATKB_FEEDBACK") or Path(index_dir) / FILENAME)


def query_key(query: str) -> str:
    """What makes two questions "the same" in the listing: case, accents and spaces ignored."""
    return " ".join(fold(query).split())


def shown_from_hits(hits: Iterable) -> list[dict]:
    """The answers shown for a query, as stored: id, confidence, source (from ``Hit``s)."""
    return [
        {"rank": i, "thread_id": h.thread.id, "confidence": round(float(h.confidence), 4), "source": h.source.path}
        for i, h in enumerate(hits, 1)
    ]


@dataclass(frozen=True)
class Unanswered:
    """A question the base does not answer well (one row of "Questions sans réponse")."""

    query: str
    reasons: tuple[str, ...]
    declined: int
    no_answer: int
    down: int
    last_at: str
    shown: tuple[dict, ...]

    @property
    def reason_text(self) -> str:
        return ", ".join(REASONS[r] for r in self.reasons)

    @property
    def best_shown(self) -> str:
        return self.shown[0]["thread_id"] if self.shown else ""


class FeedbackStore:
    """The feedback database at ``path`` (created on first use)."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Switching to WAL takes an exclusive lock, and SQLite answers "database is locked" at
        # once (no busy wait) when two processes create the database together or one recovers
        # after another was killed: retry until the timeout. WAL is then recorded in the file.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with closing(self._connect()) as conn:
                    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                        conn.execute("PRAGMA journal_mode=WAL")
                    with conn:
                        conn.executescript(_SCHEMA)
                        conn.execute("PRAGMA user_version = 1")
                return
            except sqlite3.OperationalError as exc:
                if not any(w in str(exc) for w in ("locked", "busy")) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @classmethod
    def beside(cls, index_dir: str | Path) -> "FeedbackStore":
        """The store for an index (see :func:`feedback_path`)."""
        return cls(feedback_path(index_dir))

    def _connect(self) -> sqlite3.Connection:
        # One connection per call: Streamlit runs each session in its own thread.
        conn = sqlite3.connect(self.path, timeout=self.timeout)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.row_factory = sqlite3.Row
        return conn

    def journal_mode(self) -> str:
        with closing(self._connect()) as conn:
            return conn.execute("PRAGMA journal_mode").fetchone()[0]

    # ------------------------------------------------------------------ writes
    def _add(self, kind: str, query: str, *, thread_id: str | None = None, rank: int | None = None,
             shown: Sequence[dict] = (), answered: bool | None = None, generation: str | None = None) -> int:
        if kind not in KINDS:
            raise ValueError(f"type d'avis inconnu : {kind}")
        query = " ".join(str(query).split())
        if not query:
            raise ValueError("question vide")
        row = (
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
            kind,
            query,
            query_key(query),
            thread_id,
            rank,
            json.dumps(list(shown), ensure_ascii=False),
            None if answered is None else int(bool(answered)),
            generation,
        )
        with closing(self._connect()) as conn:
            with conn:  # one transaction
                cur = conn.execute(
                    "INSERT INTO events (created_at, kind, query, query_key, thread_id, rank, shown, answered, generation)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                return int(cur.lastrowid)

    def vote(self, query: str, thread_id: str, rank: int, up: bool, shown: Sequence[dict] = (), **kw) -> int:
        """👍 (``up=True``) or 👎 on the answer ``thread_id`` shown at ``rank`` for ``query``."""
        return self._add("up" if up else "down", query, thread_id=thread_id, rank=rank, shown=shown, **kw)

    def no_answer(self, query: str, shown: Sequence[dict] = (), **kw) -> int:
        """"Aucune bonne réponse": none of the answers shown for ``query`` helped."""
        return self._add("no_answer", query, shown=shown, **kw)

    def declined(self, query: str, shown: Sequence[dict] = (), **kw) -> int:
        """The base found nothing close enough for ``query``."""
        return self._add("declined", query, shown=shown, answered=False, **kw)

    # ------------------------------------------------------------------ reads
    def events(self, kind: str | None = None) -> list[dict]:
        """Every event (oldest first), ``shown`` decoded."""
        sql = "SELECT * FROM events" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
        with closing(self._connect()) as conn:
            rows = conn.execute(sql, (kind,) if kind else ()).fetchall()
        return [{**dict(r), "shown": json.loads(r["shown"])} for r in rows]

    def unanswered(self) -> list[Unanswered]:
        """Questions declined, marked "aucune bonne réponse" or rated 👎, most recent first.

        A question leaves the list once an answer to it gets a 👍 after its last bad event
        (and comes back if it is declined or badly rated again).
        """
        sql = """
            WITH per_query AS (
                SELECT query_key,
                       MAX(CASE WHEN kind IN ('declined', 'no_answer', 'down') THEN id END) AS last_bad,
                       MAX(CASE WHEN kind = 'up' THEN id END) AS last_up,
                       SUM(kind = 'declined') AS n_declined,
                       SUM(kind = 'no_answer') AS n_no_answer,
                       SUM(kind = 'down') AS n_down
                FROM events GROUP BY query_key
            )
            SELECT p.n_declined, p.n_no_answer, p.n_down, e.query, e.created_at, e.shown
            FROM per_query AS p JOIN events AS e ON e.id = p.last_bad
            WHERE p.last_bad IS NOT NULL AND (p.last_up IS NULL OR p.last_up < p.last_bad)
            ORDER BY p.last_bad DESC
        """
        with closing(self._connect()) as conn:
            rows = conn.execute(sql).fetchall()
        out = []
        for r in rows:
            counts = {"declined": r["n_declined"], "no_answer": r["n_no_answer"], "down": r["n_down"]}
            out.append(
                Unanswered(
                    query=r["query"],
                    reasons=tuple(k for k in ("declined", "no_answer", "down") if counts[k]),
                    declined=counts["declined"],
                    no_answer=counts["no_answer"],
                    down=counts["down"],
                    last_at=r["created_at"],
                    shown=tuple(json.loads(r["shown"] or "[]")),
                )
            )
        return out

    def unanswered_rows(self) -> list[dict]:
        """:meth:`unanswered` as table rows with French headers (for the page and the CSV)."""
        return [
            {
                "Question": u.query,
                "Motif": u.reason_text,
                "Refus de la base": u.declined,
                "Aucune bonne réponse": u.no_answer,
                "Votes 👎": u.down,
                "Dernière fois (UTC)": u.last_at.replace("T", " ").split("+")[0],
                "Réponses proposées": " ; ".join(s.get("thread_id", "") for s in u.shown),
            }
            for u in self.unanswered()
        ]

    def unanswered_csv(self) -> bytes:
        """The "Questions sans réponse" listing as CSV (UTF-8 with BOM, so Excel reads accents)."""
        return to_csv(self.unanswered_rows(), ["Question", "Motif", "Refus de la base", "Aucune bonne réponse", "Votes 👎", "Dernière fois (UTC)", "Réponses proposées"])


def _cell(value) -> object:
    """Neutralise spreadsheet formulas in user text (CSV injection): ``=cmd`` → ``'=cmd``."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: Sequence[dict], columns: Sequence[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in columns])
    return buf.getvalue().encode("utf-8-sig")
