"""Core records: what a parsed document is made of.

Small frozen dataclasses with a JSON round trip (``to_dict`` / ``from_dict``). Line numbers
are 1-based lines of the file as given, after decoding.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Question:
    """One question as asked: its text, who asked (``None`` when unknown) and its line."""

    text: str
    speaker: str | None
    line: int

    def to_dict(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "text": self.text, "line": self.line}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Question":
        return cls(text=d["text"], speaker=d.get("speaker"), line=int(d["line"]))


@dataclass(frozen=True)
class Answer:
    """The expert's answer: its text (lines joined with ``\\n``) and its line range."""

    text: str
    speaker: str | None
    start_line: int
    end_line: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "text": self.text,
            "start_line": self.start_line,
            "end_line": self.end_line,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Answer":
        return cls(
            text=d["text"],
            speaker=d.get("speaker"),
            start_line=int(d["start_line"]),
            end_line=int(d["end_line"]),
        )


@dataclass(frozen=True)
class Skipped:
    """A line that is not part of any thread, and why (``greeting``, ``preamble`` …)."""

    line: int
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Skipped":
        return cls(line=int(d["line"]), kind=d["kind"])


@dataclass(frozen=True)
class Thread:
    """One or more questions and the expert answer that replies to them."""

    id: str
    source: str
    position: int
    questions: tuple[Question, ...]
    answer: Answer | None
    topic: str | None = None

    @property
    def question_text(self) -> str:
        return "\n".join(q.text for q in self.questions)

    @property
    def start_line(self) -> int:
        return self.questions[0].line if self.questions else (self.answer.start_line if self.answer else 0)

    @property
    def end_line(self) -> int:
        if self.answer is not None:
            return self.answer.end_line
        return max(q.line for q in self.questions) if self.questions else 0

    def content_hash(self) -> str:
        """Hash of what the thread says (questions, answer, topic), not where it is."""
        return content_hash(self.topic or "", self.question_text, self.answer.text if self.answer else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "questions": [q.to_dict() for q in self.questions],
            "answer": self.answer.to_dict() if self.answer else None,
            "topic": self.topic,
        }

    def to_record(self) -> dict[str, Any]:
        """Full serialisation (with source and position) as stored in the index."""
        return {**self.to_dict(), "source": self.source, "position": self.position}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str | None = None) -> "Thread":
        return cls(
            id=d["id"],
            source=d.get("source", source or ""),
            position=int(d.get("position", 0)),
            questions=tuple(Question.from_dict(q) for q in d["questions"]),
            answer=Answer.from_dict(d["answer"]) if d.get("answer") else None,
            topic=d.get("topic"),
        )


@dataclass(frozen=True)
class Document:
    """A parsed file: its threads, the lines it skipped, and what it says about itself."""

    source: str
    format: str  # "chat" | "markdown"
    threads: tuple[Thread, ...]
    skipped: tuple[Skipped, ...] = ()
    title: str | None = None
    expert: str | None = None
    encoding: str = "utf-8"
    lines: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``chatkb parse --json`` contract (plus ``title`` and ``expert``)."""
        return {
            "source": self.source,
            "format": self.format,
            "title": self.title,
            "expert": self.expert,
            "threads": [t.to_dict() for t in self.threads],
            "skipped": [s.to_dict() for s in self.skipped],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Document":
        return cls(
            source=d["source"],
            format=d["format"],
            threads=tuple(Thread.from_dict(t, d["source"]) for t in d["threads"]),
            skipped=tuple(Skipped.from_dict(s) for s in d.get("skipped", ())),
            title=d.get("title"),
            expert=d.get("expert"),
        )


def content_hash(*parts: str) -> str:
    """SHA-1 hex digest of the parts, separated so that ("ab", "c") != ("a", "bc")."""
    h = hashlib.sha1()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


def slugify(text: str) -> str:
    """ASCII, lowercase, dash-separated: ``Réseaux sociaux.txt`` -> ``reseaux-sociaux-txt``."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "doc"


def thread_id(source: str, position: int, questions: tuple[Question, ...], answer: Answer | None, topic: str | None = None) -> str:
    """Stable id: source stem + position + content hash, e.g. ``apec-chat-3-1a2b3c4d``."""
    stem = source.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    digest = content_hash(topic or "", "\n".join(q.text for q in questions), answer.text if answer else "")
    return f"{slugify(stem)}-{position}-{digest[:8]}"


def make_thread(source: str, position: int, questions: list[Question] | tuple[Question, ...], answer: Answer | None, topic: str | None = None) -> Thread:
    """Build a :class:`Thread` with its stable id."""
    qs = tuple(questions)
    return Thread(
        id=thread_id(source, position, qs, answer, topic),
        source=source,
        position=position,
        questions=qs,
        answer=answer,
        topic=topic,
    )
