"""Reliability — parser fuzzing (hypothesis): random text, random transcripts and Markdown,
and the seed, the corpus FAQ and the fixtures MUTATED (lines dropped, duplicated, swapped,
prefixed, re-cased, cut; CR, BOM, NUL inserted…), through both parsers and through the byte
path (decoding). Properties: never raises (bytes: only a one-line ``UnreadableFileError``),
every line number inside the file, no line in two threads, answer ranges ordered, ids unique.

Rows of docs/reliability.md, section "Parser fuzzing".
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkb.errors import UnreadableFileError
from chatkb.parse import parse_bytes, parse_text
from chatkb.textio import DecodedText

from conftest import CORPUS, FIXTURES, SEED

BASES = {p.name: p.read_text(encoding="utf-8") for p in [SEED, CORPUS / "faq-recherche-emploi.md", *sorted(FIXTURES.iterdir())]}
FORMATS = ("auto", "chat", "markdown")
SCALE = float(os.environ.get("CHATKB_FUZZ_SCALE", "1"))  # e.g. 30 for a long hunt
FUZZ = settings(max_examples=int(150 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_document(doc, n_lines: int) -> None:
    """The structural promises of a parsed document."""
    claimed: dict[int, str] = {}
    ids = set()
    previous_end = 0
    for t in doc.threads:
        assert t.id not in ids, f"duplicate thread id {t.id}"
        ids.add(t.id)
        assert t.questions or t.answer, t.id
        lines = set()
        for q in t.questions:
            assert 1 <= q.line <= n_lines, (t.id, q.line, n_lines)
            assert q.text.strip(), t.id
            lines.add(q.line)
        if t.answer is not None:
            a = t.answer
            assert 1 <= a.start_line <= a.end_line <= n_lines, (t.id, a.start_line, a.end_line, n_lines)
            # a question comes before its answer (or on its first line: "**Q ?** answer…")
            assert all(q.line <= a.start_line for q in t.questions), (t.id, [q.line for q in t.questions], a.start_line)
            assert a.start_line > previous_end, f"answer ranges out of order at {t.id}"
            previous_end = a.end_line
            lines.update(range(a.start_line, a.end_line + 1))
        for line in lines:
            assert line not in claimed, f"line {line} in {claimed[line]} and {t.id}"
            claimed[line] = t.id
    for s in doc.skipped:
        assert 1 <= s.line <= n_lines, (s, n_lines)
    json.dumps(doc.to_dict(), ensure_ascii=False).encode("utf-8")  # the `chatkb parse --json` contract holds


def check_text(text: str, name: str = "fuzz.txt") -> None:
    decoded = DecodedText(text=text, encoding="utf-8")
    n = len(decoded.lines)
    for fmt in FORMATS:
        doc = parse_text(decoded, name, format=fmt)
        check_document(doc, n)
        assert len(doc.lines) == n


def check_bytes(data: bytes, name: str) -> None:
    try:
        doc = parse_bytes(data, name)
    except UnreadableFileError as exc:
        assert "\n" not in str(exc)
        return
    check_document(doc, len(doc.lines))


# ----------------------------------------------------------------------------- strategies

NAMES = st.sampled_from(["Paul", "D.Peixoto", "Stéphane Barsacq", "mamzelle_b", "AndréaM", "Modératrice", "Jean-Christophe Anna",
                         "Nathalie Roche (consultante)", "Q", "R", "Question", "Réponse", "Mon conseil", "4ème étape", "Attention"])
WORDS = st.sampled_from(["bonjour", "merci", "comment", "faire", "un", "CV", "linkedin", "réseau", "entretien", "salaire", "?", "!",
                         ":", "…", "Bonjour", "Merci !", "Hello", "est-ce", "que", "je", "peux", "la", "l'expert", "**", "#", "-", "1."])
SENTENCE = st.lists(WORDS, min_size=0, max_size=14).map(" ".join)
TIMESTAMPS = st.sampled_from(["", "[14:02] ", "14:02 - ", "[14:02:33] ", "(14:02) "])

CHAT_LINE = st.one_of(
    st.tuples(TIMESTAMPS, NAMES, SENTENCE).map(lambda t: f"{t[0]}{t[1]} : {t[2]}"),
    st.tuples(TIMESTAMPS, NAMES, SENTENCE).map(lambda t: f"{t[0]}{t[1]} : {t[2]} ?"),
    SENTENCE,
    SENTENCE.map(lambda s: s + " ?"),
    st.just(""),
    st.sampled_from(["Bonjour à tous, nous avons le plaisir d'accueillir Marie Durand, consultante Apec.", "Merci X, le mot de la fin ?",
                     "Le chat est terminé, merci à tous !", "Q : Comment faire ?", "R : Comme ceci.", "Question de Paul : et alors ?"]),
)
MD_LINE = st.one_of(
    st.tuples(st.integers(1, 6), SENTENCE).map(lambda t: "#" * t[0] + " " + t[1]),
    st.tuples(st.integers(1, 6), SENTENCE).map(lambda t: "#" * t[0] + " " + t[1] + " ?"),
    SENTENCE.map(lambda s: f"**{s} ?**"),
    SENTENCE.map(lambda s: f"- {s}"),
    SENTENCE.map(lambda s: f"> {s}"),
    SENTENCE,
    st.sampled_from(["", "---", "```", "~~~", "title: FAQ", "author: Marie", "<!-- commentaire -->", "| a | b |", "|---|---|",
                     "    code indenté", "1. premier", "**Q :** quoi ?", "*R :* ceci", "[lien](http://x)", "<div>", "</div>"]),
)
EOLS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def joined(draw, lines_strategy, min_size=0, max_size=60):
    lines = draw(st.lists(lines_strategy, min_size=min_size, max_size=max_size))
    out = ""
    for line in lines:
        out += line + draw(EOLS)
    return out


PREFIXES = ["Paul : ", "[14:02] ", "14:02 - ", "Q : ", "R : ", "Réponse : ", "- ", "## ", "# ", "**", "> ", "    ", "\t", "Mon conseil : ",
            "\ufeff", "\x00", "\u200b", "1. ", "Question de Marie : ", "Modératrice : "]
INSERTS = ["\r", "\ufeff", "\x00", "\x0b", "\x0c", "\x1b", "\u2028", "\u0085", " : ", "?", "**", "`", "\t", "é", "\u0301", "💬"]


@st.composite
def mutated(draw, bases=tuple(BASES)):
    """A seed, FAQ or fixture, with 1–12 random edits, joined with random line endings."""
    name = draw(st.sampled_from(bases))
    lines = BASES[name].splitlines()
    for _ in range(draw(st.integers(1, 12))):
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "prefix", "upper", "lower", "title", "insert", "cut", "join", "blank",
                                   "new-line", "no-colon", "question", "move-block"]))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "prefix":
            lines[i] = draw(st.sampled_from(PREFIXES)) + lines[i]
        elif op in ("upper", "lower", "title"):
            lines[i] = getattr(lines[i], op)()
        elif op == "insert":
            k = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:k] + draw(st.sampled_from(INSERTS)) + lines[i][k:]
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "join" and i + 1 < len(lines):
            lines[i : i + 2] = [lines[i] + " " + lines[i + 1]]
        elif op == "blank":
            lines.insert(i, "")
        elif op == "new-line":
            lines.insert(i, draw(st.one_of(CHAT_LINE, MD_LINE)))
        elif op == "no-colon":
            lines[i] = lines[i].replace(":", "")
        elif op == "question":
            lines[i] = lines[i].rstrip() + " ?"
        elif op == "move-block":
            j = draw(st.integers(i, min(len(lines), i + 10)))
            block, rest = lines[i:j], lines[:i] + lines[j:]
            k = draw(st.integers(0, len(rest)))
            lines = rest[:k] + block + rest[k:]
    eol = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    if eol == "mixed":
        text = "".join(line + draw(EOLS) for line in lines)
    else:
        text = eol.join(lines) + draw(st.sampled_from(["", eol]))
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", "\ufeff"])) + text
    return name, text


# ----------------------------------------------------------------------------- properties


@FUZZ
@given(st.text(max_size=3000))
def test_random_text_never_breaks_either_parser(text):
    check_text(text)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("Paul :?\n\r\t#*-_>[]()0123456789éÉ \ufeff\x00\u2028\u0085\x0b\x0c`~|!")), max_size=2000))
def test_random_text_from_a_hostile_alphabet(text):
    check_text(text)


@FUZZ
@given(joined(CHAT_LINE, max_size=80))
def test_random_transcripts(text):
    check_text(text, "chat.txt")


@FUZZ
@given(joined(MD_LINE, max_size=80))
def test_random_markdown(text):
    check_text(text, "faq.md")


@settings(max_examples=int(400 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_seed_faq_and_fixtures(case):
    name, text = case
    check_text(text, name)


@FUZZ
@given(mutated(), st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]), st.binary(max_size=16), st.integers(0, 10_000))
def test_mutated_files_through_the_byte_path(case, encoding, noise, where):
    """As an upload or a corpus file: encoded, maybe with raw bytes spliced in, then decoded."""
    name, text = case
    data = text.encode(encoding, errors="replace")
    where = min(where, len(data))
    check_bytes(data[:where] + noise + data[where:], name)


@FUZZ
@given(st.binary(max_size=4000), st.sampled_from(["x.txt", "x.md"]))
def test_random_bytes_are_parsed_or_refused_in_one_line(data, name):
    check_bytes(data, name)


@pytest.mark.parametrize("name", list(BASES))
def test_the_unmutated_bases_satisfy_the_properties(name):
    """The properties hold on the real files (so a fuzz failure is the mutation's doing)."""
    check_text(BASES[name], name)
    check_bytes(BASES[name].encode("utf-8"), name)


def test_the_checker_catches_overlaps_and_bad_lines():
    """The property checker itself fails on a broken document (a fuzz test that cannot fail proves nothing)."""
    from chatkb.records import Answer, Document, Question, make_thread

    def doc(*threads):
        return Document(source="x", format="chat", threads=tuple(threads), skipped=(), title=None, expert=None)

    t1 = make_thread("x", 0, [Question("a ?", "P", 1)], Answer("r", None, 2, 4))
    t2 = make_thread("x", 1, [Question("b ?", "P", 4)], Answer("r", None, 5, 6))
    t3 = make_thread("x", 1, [Question("c ?", "P", 7)], Answer("r", None, 8, 12))
    t4 = make_thread("x", 2, [Question("d ?", "P", 9)], Answer("r", None, 3, 3))
    with pytest.raises(AssertionError, match="line 4"):
        check_document(doc(t1, t2), 10)
    with pytest.raises(AssertionError):
        check_document(doc(t1, t3), 10)  # answer past the end of the file
    with pytest.raises(AssertionError):
        check_document(doc(t1, t4), 20)  # question after its answer / out of order
    check_document(doc(t1), 4)
