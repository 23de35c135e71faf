"""Markdown FAQ parser: headings and bold questions become threads.

The document is read with markdown-it-py (CommonMark); only top-level blocks matter, and
their token maps give the line numbers (1-based lines of the text as given, split on
CRLF, CR or LF).

Rules, in short:

- Headings are questions, with or without ``?``. A heading whose sub-headings (or bold
  question paragraphs) are questions is their *topic* (``Thread.topic``), not a thread,
  unless it is itself question-shaped and has its own answer text.
- A question-shaped heading whose sub-headings are not questions (``#### Exemple``) keeps
  them: the whole section is its answer.
- The first H1 is the document's title when it heads the document (its sub-headings are
  the questions); its body, like any text before the first question, is an intro and is
  skipped, not a thread.
- ``**Question ?**`` paragraphs (entirely bold and ending with ``?``, or bold and
  question-shaped), a bold question followed by the answer on the same line, and
  ``**Question :** …`` / ``**Réponse :** …`` labels work too, mixed with headings.
  Under a question heading that already has answer text, bold questions stay in the
  answer (they are examples, not new questions).
- An answer is the source slice of the lines between its question and the next
  question or topic, trimmed of blank lines and separators (``---``): lists, bold, links
  and code stay Markdown, exactly as written.
- The expert (``Answer.speaker``) comes from the front matter (``author:``, ``auteur:``,
  ``expert:``) or the intro (``Rédigé par Claire Martin``), else ``None``.

The parser never raises on text: anything it cannot read as a question is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .records import Answer, Document, Question, Skipped, Thread, make_thread

BOLD_LEVEL = 7  # bold question paragraphs sit below every heading level
ITEM_LEVEL = 8  # list items that ask a question sit below bold paragraphs

_NEWLINES = re.compile(r"\r\n?")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_DETAILS_TAG = re.compile(r"^[ \t]*</?details\b[^>\n]*>[ \t]*$", re.MULTILINE | re.IGNORECASE)
_SUMMARY = re.compile(r"^[ \t]*<summary\b[^>\n]*>(.*?)</summary>[ \t]*$", re.MULTILINE | re.IGNORECASE)
_TAG = re.compile(r"<[^>\n]*>")
# A pandoc table (from Word) indents its rows and rules: "  Cadres   3 mois" then "  ---------".
_TABLE_RULE_UNDER_ROW = re.compile(r"(^ {1,3}\S[^\n]*\n) {1,3}-{3,}[ \t]*$", re.MULTILINE)
_HTML_HEADING = re.compile(r"^[ \t]*<h([1-6])\b[^>\n]*>(.*?)</h\1>[ \t]*$", re.MULTILINE | re.IGNORECASE)
_HTML_PARAGRAPH = re.compile(r"^[ \t]*<p\b[^>\n]*>(.*?)</p>[ \t]*$", re.MULTILINE | re.IGNORECASE)
# A quotation or an aside in parentheses closing a heading: its "?" is not the heading's.
_QUOTED_END = re.compile(r"(?:«[^«»]*»|“[^“”]*”|\"[^\"]*\"|\([^()]*\))[\s.…]*$")
INTRO_ANSWER_WORDS = 40  # a section heading's own text this long is an answer, not an intro
_PANDOC_ANCHOR = re.compile(r"\[\]\{#[^}\n]*\}|[ \t]*\{#[^}\n]*\}[ \t]*$", re.MULTILINE)
_ESCAPED_NUMBER = re.compile(r"^([ \t]*)\d{1,3}\\\.[ \t]+(?=\*\*|__)", re.MULTILINE)
_BOLD_ITALIC_LINE = re.compile(r"^([ \t]*)\*\*\*(\S(?:.*\S)?)\*\*\*[ \t]*$", re.MULTILINE)
# Emoji and :shortcodes: around a heading's text ("## ❓ Faut-il relancer ?")
_EMOJI_EDGES = re.compile(
    r"^(?:[\s\u200d\ufe0f]|:[a-z0-9_+-]+:|[^\w\s«\"'(\[])+|(?:[\s\u200d\ufe0f]|:[a-z0-9_+-]+:|[\U0001F000-\U0001FAFF\u2600-\u27BF])+$"
)
# Headings of a FAQ's closing sections, not questions: "Pour aller plus loin", "Liens utiles"…
# Lines shown by no Markdown renderer as answer text: footnote definitions ("[^1]: Article L1471-1"),
# and the pictures a Google Docs export appends as data URIs ("[image1]: <data:image/png;base64,…>").
_NOT_ANSWER_TEXT = re.compile(r"^ {0,3}\[(?:\^[^\]]+|[^\]]+\]:\s*<?data:)[^\n]*$")
# A closing invitation to write ("Une question ? Contactez-nous", "**Vous avez une autre question ?**"):
# the last section of a page, not a question it answers.
_CONTACT_PROMPT = re.compile(
    r"^(?:vous avez |encore )?(?:une |d['’]|des |encore des )?(?:autres? )?questions?\s*\??\s*"
    r"(?:(?:contactez|[ée]crivez|appelez|n['’]h[ée]sitez|posez)[\w\s'’-]*[.!]?)?$",
    re.IGNORECASE,
)
_FOOTNOTE_REF = re.compile(r"\[\^[^\]\s]+\]")
_RESOURCES_HEADING = re.compile(
    r"^(?:pour (?:aller|en savoir) plus(?: loin)?|en savoir plus|aller plus loin|liens? utiles?|ressources?(?: utiles)?"
    r"|voir aussi|(?:a|à) lire (?:aussi|également)|sources?|r[ée]f[ée]rences?|bibliographie|contribuer"
    r"|(?:contacts?|adresses|num[ée]ros)(?: utiles)?|licen[cs]e|cr[ée]dits|remerciements|nous [ée]crire"
    r"|nous contacter|mentions l[ée]gales|sommaire|table des mati[èe]res)\s*:?$",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
_ENDS_WITH_QUESTION_MARK = re.compile(r"\?[\s)\]»\"'”’.…*_]*$")
_INTERROGATIVE = re.compile(
    r"^(?:comment|pourquoi|quand|combien|où|quoi|qui|qu['’]|que|quel(?:le)?s?|"
    r"lequel|laquelle|lesquel(?:le)?s|est-ce)\b",
    re.IGNORECASE,
)
# Verb-subject inversion at the start: "Faut-il", "Peut-on", "Dois-je", "Y a-t-il".
_INVERSION = re.compile(
    r"^(?:y\s+)?(?!rendez-vous\b|(?:renseign|inscriv|prépar|prepar|adress|méfi|mefi|inform|organis|entraîn|entrain|pos|demand)ez-vous\b)"
    r"\w+-(?:t-)?(?:je|tu|il|elle|on|nous|vous|ils|elles|ce)\b", re.IGNORECASE
)  # "Pouvez-vous…", "Faut-il…"; not the noun "Rendez-vous" nor advice ("Renseignez-vous…")
# "3. ", "1.2) ", "Q1 : ", "Question 4 - " in front of a question.
_NUMBERING = re.compile(
    r"^\s*(?:q(?:uestion)?\s*(?:n°\s*)?\d*\s*[.):–-]|(?:n°\s*)?(?:\d+(?:\.\d+)+\.?|\d+\s*[.)]))\s+",
    re.IGNORECASE,
)
_QUESTION_LABEL = re.compile(r"^\s*q(?:uestion)?\s*(?:n°\s*)?\d*\s*[:.)–-]?\s*$", re.IGNORECASE)
_QUESTION_LABEL_PREFIX = re.compile(r"^\s*(?:q(?:uestion)?\s*(?:n°\s*)?\d*\s*[:–-]|q\s*\d*\.)\s*", re.IGNORECASE)
_ANSWER_LABEL_PLAIN = re.compile(r"^\s*(?:(?:r|réponse|reponse)\s*\d*\s*[:–-]|r\s*\d*\.)", re.IGNORECASE)
# The same label in the source, with its optional bold markers: "**Réponse :**", "R :".
_ANSWER_LABEL_SOURCE = re.compile(
    r"^\s*(?:\*{1,2}|_{1,2})?\s*(?:(?:r|réponse|reponse)\s*\d*\s*(?:\*{1,2}|_{1,2})?\s*[:–-]|r\s*\d*\.)\s*(?:\*{1,2}|_{1,2})?\s*",
    re.IGNORECASE
)
# A paragraph worth an inline parse: it starts bold, or with a "Question :" label.
_BOLD_CANDIDATE = re.compile(r"^(?:\*\*|__)|^q(?:uestion)?\s*(?:n°\s*)?\d*\s*[:–-]|^q\s*\d*\.\s", re.IGNORECASE)
_INLINE_MARKUP = re.compile(r"[*_`\[\]<>&\\!]")  # characters CommonMark inline rules act on
_QUESTION_MARK_THEN_CLOSE = re.compile(r"\?\s*(?:\*\*|__)")
_TOC_LINE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[[^\]]*\]\([^)]*\)\s*$")
_FRONT_MATTER_KEY = re.compile(r"^\s*([A-Za-zÀ-ÿ_-]+)\s*:\s*(.*?)\s*$")
_ATX = re.compile(r"^ {0,3}#{1,6}(?:\s|$)")
_NAME = r"[A-ZÀ-Ý][\w'’-]+(?:[ \u00a0][A-ZÀ-Ý][\w'’.-]+){0,3}"
_AUTHOR_IN_INTRO = re.compile(
    r"(?i:\b(?:rédigée?s?|écrite?s?|proposée?s?|préparée?s?|animée?s?)\s+par"
    r"|\bréponses?\s+(?:de|par)|\b(?:auteur|autrice|experte?)\s*:)"
    r"\s*(?:\*\*|__)?\s*(" + _NAME + r")"
)
_AUTHOR_KEYS = {"author", "auteur", "autrice", "expert", "experte"}
_TITLE_KEYS = {"title", "titre"}


@dataclass
class _Node:
    """A question candidate: a heading (level 1–6) or a bold question paragraph (level 7)."""

    level: int
    text: str
    start: int  # 0-based first line of the question
    end: int  # 0-based line after the question
    body_start: int  # 0-based first line of what follows (== end, or end - 1 with head_rest)
    head_rest: str | None = None  # answer text on the question's last line, if any
    bold: bool = False
    section_end: int = 0  # 0-based line where the next node of the same or a higher level starts
    item_end: int | None = None  # a list item's question ("- **Question ?**"): where the item ends
    indent: int = 0  # … and the indentation of its answer lines
    children: list["_Node"] = field(default_factory=list)

    @property
    def question_shaped(self) -> bool:
        return looks_like_question(self.text)


@dataclass
class _State:
    """What one parse accumulates: the lines, the threads' parts and the skipped lines."""

    lines: list[str]
    separators: set[int]
    expert: str | None = None
    end: int = 0  # where answers stop: the end of the text, or a closing footer (see _footer_start)
    footnotes: dict[str, str] = field(default_factory=dict)  # "[^1]" → its definition line
    found: list[tuple[_Node, tuple[int, int, str] | None, str | None]] = field(default_factory=list)
    kinds: dict[int, str] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _block_parser() -> MarkdownIt:
    """CommonMark block parser only: inline parsing is done on demand (it is the slow part)."""
    return MarkdownIt("commonmark").disable(["inline", "text_join"])


@lru_cache(maxsize=1)
def _inline_parser() -> MarkdownIt:
    return MarkdownIt("commonmark")


def parse_markdown(text: str, source: str) -> Document:
    """Split a Markdown FAQ into threads.

    Args:
        text: the decoded text (any line endings; a leading BOM is ignored).
        source: the path shown in records and used in thread ids.

    Returns:
        A ``Document`` with ``format="markdown"``; never raises on text.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    text = _clean_source(_NEWLINES.sub("\n", text))
    lines = text.split("\n")
    meta, fm_end = _front_matter(lines)
    if fm_end:  # blank the front matter out, keeping the line numbers
        text = "\n" * fm_end + "\n".join(lines[fm_end:])
    env: dict = {}
    tokens = _block_parser().parse(text, env)
    nodes, separators = _collect_nodes(tokens, lines, env)
    _link_tree(nodes, len(lines))

    state = _State(lines=lines, separators=separators, end=_footer_start(lines, nodes, separators))
    for i in range(fm_end):
        state.kinds[i] = "front_matter"
    for i in range(state.end, len(lines)):
        if lines[i].strip():
            state.kinds[i] = "footer"
    note = None  # the footnote being read: pandoc indents its next lines
    for i, line in enumerate(lines):
        if _NOT_ANSWER_TEXT.match(line):
            state.kinds[i] = "reference"
            note = line.strip().split("]", 1)[0] + "]" if line.lstrip().startswith("[^") else None
            if note:
                state.footnotes[note] = line.strip()
        elif note and line.startswith((" ", "\t")) and line.strip():
            state.kinds[i] = "reference"
            state.footnotes[note] += " " + line.strip()
        elif line.strip():
            note = None
    title_node = _find_title(nodes)
    state.expert = meta.get("author") or _author_in_intro(lines, fm_end, nodes, title_node)
    _walk(nodes, title_node, state)

    threads = _build_threads(state, source)
    skipped = _skipped_lines(state, threads)
    title = meta.get("title") or (title_node.text if title_node else None)
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return Document(
        source=source,
        format="markdown",
        threads=tuple(threads),
        skipped=tuple(skipped),
        title=title or None,
        expert=state.expert,
        lines=tuple(lines),
    )


def _clean_source(text: str) -> str:
    """What exports leave around FAQs, line numbers kept: pandoc's bookmarks and escaped
    numbers go, ``***Question ?***`` is read as bold; HTML comments go (they are notes for the authors, not
    answers), ``<details><summary>Question ?</summary> answer </details>`` (GitHub style)
    becomes a bold question followed by its answer, and one-line ``<h3>…</h3>`` and ``<p>…</p>``
    become a heading and a paragraph."""
    if "{#" in text:  # pandoc's bookmarks from Word: "## Titre {#_Toc123}", "[]{#_Toc123 .anchor}"
        text = _PANDOC_ANCHOR.sub("", text)
    text = _ESCAPED_NUMBER.sub(r"\1", text)  # "1\. **Question ?**" (pandoc): the bold question alone
    text = _TABLE_RULE_UNDER_ROW.sub(r"\1", text)  # a pandoc table's last rule is no setext underline
    text = _BOLD_ITALIC_LINE.sub(r"\1**\2**", text)
    if "<" not in text:
        return text
    text = _HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    if "<summary" in text:
        text = _DETAILS_TAG.sub("", text)
        text = _SUMMARY.sub(lambda m: "**" + _SPACES.sub(" ", _TAG.sub("", m.group(1))).strip() + "**", text)
    if "<h" in text or "<H" in text:  # an FAQ written in HTML: "<h3>Question ?</h3>", "<p>Réponse</p>"
        text = _HTML_HEADING.sub(lambda m: "#" * int(m.group(1)) + " " + _SPACES.sub(" ", _TAG.sub("", m.group(2))).strip(), text)
        text = _HTML_PARAGRAPH.sub(lambda m: m.group(1).strip(), text)
    return text


def looks_like_question(text: str) -> bool:
    """Does this text read as a question: a final ``?``, an interrogative word, an inversion?"""
    text = text.strip()
    asks = bool(_INTERROGATIVE.match(text) or _INVERSION.match(text))
    if not asks and _ENDS_WITH_QUESTION_MARK.search(text):
        quoted = _QUOTED_END.search(text)  # "Exemple de réponse à « Quel est votre défaut ? »", "Entretien (que préparer ?)"
        return quoted is None or "?" in text[: quoted.start()]
    return asks


# --- reading the blocks --------------------------------------------------------------


def _front_matter(lines: list[str]) -> tuple[dict[str, str], int]:
    """YAML-like front matter (``---`` … ``---``): its author and title, and where it ends."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return {}, 0
    inside = lines[1:end]
    if not any(_FRONT_MATTER_KEY.match(line) for line in inside) or any(_ATX.match(line) for line in inside):
        return {}, 0
    meta: dict[str, str] = {}
    for line in inside:
        m = _FRONT_MATTER_KEY.match(line)
        if not m:
            continue
        key, value = m.group(1).lower(), m.group(2).strip().strip("\"'").strip()
        if not value:
            continue
        if key in _AUTHOR_KEYS and "author" not in meta:
            meta["author"] = value
        elif key in _TITLE_KEYS and "title" not in meta:
            meta["title"] = value
    return meta, end + 1


def _collect_nodes(tokens: list[Token], lines: list[str], env: dict) -> tuple[list[_Node], set[int]]:
    """Top-level headings and bold question paragraphs, in order; and the ``---`` lines."""
    nodes: list[_Node] = []
    separators: set[int] = set()
    items = _items_per_list(tokens)
    unindented: list[_Node] = []  # list questions answered at the margin
    for i, tok in enumerate(tokens):
        if tok.map is None or tok.level != (1 if tok.type == "list_item_open" else 0):
            continue  # top-level blocks, and the items of top-level lists
        if tok.type == "hr":
            separators.add(tok.map[0])
        elif tok.type == "heading_open" and i + 1 < len(tokens):
            node = _heading_node(tok, tokens[i + 1], env)
            if node is not None:
                nodes.append(node)
        elif tok.type == "list_item_open" and i + 2 < len(tokens) and tokens[i + 1].type == "paragraph_open":
            node = _item_node(tok, tokens[i + 2].content, lines, env, alone=items.get(i) == 1)
            if node is not None:
                nodes.append(node)
                if node.level == BOLD_LEVEL:
                    unindented.append(node)
        elif tok.type == "paragraph_open" and i + 1 < len(tokens):
            content = tokens[i + 1].content
            if _BOLD_CANDIDATE.match(content):
                node = _bold_node(tok.map[0], content, lines, env)
                if node is not None:
                    nodes.append(node)
    # "1. **Question ?**" alone in its list, its answer a paragraph at the margin below: read as a
    # bold question when the document does it at least twice (one such item is a list in an answer).
    if len(unindented) < 2:
        nodes = [n for n in nodes if all(n is not u for u in unindented)]
    return nodes, separators


def _items_per_list(tokens: list[Token]) -> dict[int, int]:
    """Token index of each top-level list item → how many items its list has."""
    out: dict[int, int] = {}
    current: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.level != 0 and not (tok.level == 1 and tok.type == "list_item_open"):
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            current = []
        elif tok.type == "list_item_open":
            current.append(i)
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            out.update((j, len(current)) for j in current)
    return out


def _item_node(tok: Token, content: str, lines: list[str], env: dict, *, alone: bool = False) -> _Node | None:
    """A list item that asks a question and answers it below, indented: ``- **Question ?**``
    or ``- Question ?`` (Notion's toggles). An item with no answer is a list, not a FAQ, unless
    it is ``alone`` in its list: then its answer may follow at the margin ("1. **Question ?**",
    a blank line, the answer, "2. **Question ?**"…), see :func:`_collect_nodes`."""
    start, end = tok.map or (0, 0)
    first = content.split("\n", 1)[0]
    if "?" not in first:
        return None  # most items are answers' bullets: no inline parse for them
    if _BOLD_CANDIDATE.match(content):
        node = _bold_node(start, content, lines, env)
    else:
        text = _question_text(first if not _INLINE_MARKUP.search(first) else _plain(_inline_children(first, env)))
        node = _Node(BOLD_LEVEL, text, start, start + 1, start + 1, bold=True) if _ENDS_WITH_QUESTION_MARK.search(text) else None
    if node is None:
        return None
    body = [ln for ln in lines[node.end:end] if ln.strip()]
    if not body and node.head_rest is None:
        if not alone:
            return None
        node.level = BOLD_LEVEL  # read as a bold question, if the document does this twice (_collect_nodes)
        return node
    node.level, node.item_end = ITEM_LEVEL, end
    node.indent = min((len(ln) - len(ln.lstrip(" ")) for ln in body), default=0)
    return node


def _heading_node(tok: Token, inline: Token, env: dict) -> _Node | None:
    start, end = tok.map or (0, 0)
    try:
        level = int(tok.tag[1:])
    except ValueError:
        return None
    content = inline.content
    plain = content if not _INLINE_MARKUP.search(content) else _plain(_inline_children(content, env))
    text = _question_text(plain)
    return _Node(level=level, text=text, start=start, end=end, body_start=end)


def _bold_node(start: int, content: str, lines: list[str], env: dict) -> _Node | None:
    """A paragraph that asks a question in bold (or after a ``Question :`` label), if it does."""
    children = _inline_children(content, env)
    per_line = _split_lines(children)
    close = _matching_close(children)
    if close is not None:
        on_first_line = close < len(per_line[0])
        if on_first_line and _QUESTION_LABEL.match(_plain(children[1:close])):
            return _labelled_node(start, per_line, label_end=close + 1)
        return _bold_question(start, children, close, lines)
    if _QUESTION_LABEL_PREFIX.match(_plain(per_line[0])):
        return _labelled_node(start, per_line, label_end=None)
    return None


def _bold_question(start: int, children: list[Token], close: int, lines: list[str]) -> _Node | None:
    """``**Question ?**``, possibly over several lines, possibly followed by its answer."""
    question = _question_text(_plain(children[1:close]))
    close_line = sum(1 for t in children[:close] if t.type in ("softbreak", "hardbreak"))
    rest_of_line = _plain(_split_lines(children[close + 1 :])[0]).strip()
    if rest_of_line.startswith("?") and not rest_of_line.strip(" ?:"):
        question += " ?"  # **Faut-il une photo** ?
    if not question or not looks_like_question(question) or not (_ENDS_WITH_QUESTION_MARK.search(question) or not rest_of_line):
        return None  # "**Préparez la question « Pourquoi maintenant ? »** Ayez…": advice in an answer
    q_end = start + close_line + 1
    head_rest = None
    if rest_of_line.strip(" ?:"):  # the answer starts on the question's own line
        source = lines[q_end - 1] if q_end - 1 < len(lines) else ""
        m = _QUESTION_MARK_THEN_CLOSE.search(source)
        if m:
            head_rest = source[m.end() :].lstrip(" :")
    body_start = q_end - 1 if head_rest else q_end
    return _Node(BOLD_LEVEL, question, start, q_end, body_start, head_rest=head_rest, bold=True)


def _labelled_node(start: int, per_line: list[list[Token]], label_end: int | None) -> _Node | None:
    """``**Question :** … ?`` then ``**Réponse :** …`` (in the same paragraph or the next)."""
    texts = [_plain(t) for t in per_line]
    if label_end is not None:
        texts[0] = _plain(per_line[0][label_end:]).lstrip(" :")
    else:
        texts[0] = _QUESTION_LABEL_PREFIX.sub("", texts[0], count=1)
    answer_at = next((k for k in range(1, len(texts)) if _ANSWER_LABEL_PLAIN.match(texts[k])), len(texts))
    question = _question_text(" ".join(texts[:answer_at]))
    if not question:
        return None
    q_end = start + answer_at
    return _Node(BOLD_LEVEL, question, start, q_end, q_end, bold=True)


# --- inline helpers --------------------------------------------------------------------


def _inline_children(content: str, env: dict) -> list[Token]:
    """The inline tokens of a heading's or paragraph's content."""
    if not content:
        return []
    parsed = _inline_parser().parseInline(content, dict(env))
    children = parsed[0].children if parsed else None
    return [t for t in (children or []) if not (t.type == "text" and t.content == "")]


def _split_lines(children: list[Token]) -> list[list[Token]]:
    """Inline tokens grouped by source line (split on soft and hard breaks)."""
    out: list[list[Token]] = [[]]
    for tok in children:
        if tok.type in ("softbreak", "hardbreak"):
            out.append([])
        else:
            out[-1].append(tok)
    return out


def _matching_close(tokens: list[Token]) -> int | None:
    """Index of the ``strong_close`` that closes ``tokens[0]`` (a ``strong_open``)."""
    if not tokens or tokens[0].type != "strong_open":
        return None
    depth = 0
    for k, tok in enumerate(tokens):
        if tok.type == "strong_open":
            depth += 1
        elif tok.type == "strong_close":
            depth -= 1
            if depth == 0:
                return k
    return None


def _plain(tokens: Iterable[Token]) -> str:
    """Readable text of inline tokens: markup dropped, breaks as spaces."""
    parts: list[str] = []
    for tok in tokens:
        if tok.type in ("text", "code_inline", "text_special"):
            parts.append(tok.content)
        elif tok.type == "image":
            parts.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def _question_text(text: str) -> str:
    """Collapse spaces and drop a leading number or ``Q :`` label."""
    text = _EMOJI_EDGES.sub("", _SPACES.sub(" ", text).strip()).strip() or text
    stripped = _NUMBERING.sub("", text, count=1).strip()
    return (stripped or text).rstrip(" :") or text  # "**Comment calculer son préavis :**"


# --- structure --------------------------------------------------------------------------


def _link_tree(nodes: list[_Node], n_lines: int) -> None:
    """Give every node its children and the line where its section ends."""
    stack: list[_Node] = []
    for node in nodes:
        while stack and stack[-1].level >= node.level:
            stack.pop().section_end = node.start
        if stack:
            stack[-1].children.append(node)
        stack.append(node)
    for node in stack:
        node.section_end = n_lines


def _roots(nodes: list[_Node]) -> list[_Node]:
    children = {id(c) for n in nodes for c in n.children}
    return [n for n in nodes if id(n) not in children]


def _find_title(nodes: list[_Node]) -> _Node | None:
    """The first H1 when it heads the document: it holds the questions, other H1s don't."""
    if not nodes or nodes[0].level != 1 or not nodes[0].text:
        return None
    first = nodes[0]
    other_h1 = [n for n in nodes[1:] if n.level == 1]
    if first.children:
        return None if any(n.children for n in other_h1) else first
    if len(nodes) == 1 and not first.question_shaped:
        return first  # a lone non-question H1: the title of a document with no question
    if not first.question_shaped and other_h1 and all(n.question_shaped or n.children for n in other_h1):
        return first  # "FAQ emploi\n===" then "Question ?\n===" (setext has two levels only)
    return None


def _walk(nodes: list[_Node], title: _Node | None, state: _State) -> None:
    roots = _roots(nodes)
    first_start = roots[0].start if roots else len(state.lines)
    _mark(state, 0, first_start, "intro")
    for root in roots:
        if root is title:
            _mark(state, root.start, root.end, "title")
            intro_end = root.children[0].start if root.children else root.section_end
            _mark(state, root.body_start, intro_end, "intro")
            for child in root.children:
                _visit(child, None, state)
        else:
            _visit(root, None, state)


def _visit(node: _Node, topic: str | None, state: _State) -> None:
    """Classify one node (thread, topic, or nothing) and recurse into its kept children."""
    kids = node.children
    if node.question_shaped:
        # "- **« Parlez-moi de vous »** : …" in its answer; with no text of its own above them, list
        # questions answered below are its sub-questions ("## Le bilan, c'est quoi ?", "1. **À quoi sert… ?**")
        own_text = bool(kids) and _region(state, node, kids[0].start) is not None
        kids = [k for k in kids if k.item_end is None or (not own_text and k.head_rest is None)]
    if node.question_shaped and kids and node.text:
        if _region(state, node, kids[0].start):
            kids = [k for k in kids if not k.bold]  # bold examples inside an answer
        if not any(k.question_shaped for k in kids):
            kids = []  # "#### Exemple" under a question: part of its answer
    own_end = kids[0].start if kids else node.section_end
    if node.item_end is not None:
        own_end = min(own_end, node.item_end)
    region = _region(state, node, own_end)

    if node.start >= state.end:
        _mark(state, node.start, node.section_end, "footer")
        return
    if node.text and _CONTACT_PROMPT.match(node.text) and not any(k.question_shaped for k in kids) and node.section_end >= state.end:
        _mark(state, node.start, node.end, "heading")  # the page's last words: how to reach its authors
        _mark(state, node.body_start, node.section_end, "other")
        return
    if node.text and kids and _is_sheet(node, kids) and _region(state, node, kids[0].start):
        whole = _region(state, node, node.section_end)  # "## Démission et chômage", its parts below
        if whole:
            state.found.append((node, whole, topic))
            return
    if not node.text:
        _mark(state, node.start, node.end, "heading")
        _mark(state, node.body_start, own_end, "other")
    elif not kids:
        if region and _is_toc(state.lines, node.body_start, own_end):
            _mark(state, node.start, own_end, "toc")
        elif not node.question_shaped and not node.bold and _RESOURCES_HEADING.match(node.text):
            _mark(state, node.start, node.end, "heading")  # "Pour aller plus loin": links, not an answer
            _mark(state, node.body_start, own_end, "other")
        elif region or node.question_shaped:
            state.found.append((node, region, topic))
        else:
            _mark(state, node.start, node.end, "heading")
    elif region and node.question_shaped:
        state.found.append((node, region, topic))
    elif region and 1 < node.level < BOLD_LEVEL and len(region[2].split()) >= INTRO_ANSWER_WORDS:
        state.found.append((node, region, topic))  # "## Durée de la période d'essai", answered, then sub-questions
    else:
        _mark(state, node.start, node.end, "topic")
        _mark(state, node.body_start, own_end, "intro")
    for child in kids:
        _visit(child, node.text or topic, state)


def _is_sheet(node: _Node, kids: list[_Node]) -> bool:
    """A section heading whose sub-headings are parts of one answer, not questions: "## Démission
    et chômage", its first paragraph, then "### Les démissions légitimes", "### Le réexamen à 121
    jours". It is one thread, its parts in its answer (long answers are found through their
    passages too). With no text of its own before them ("## Le CV", then "### La photo"), it is
    the topic of its sub-headings, as before."""
    return (
        1 < node.level < BOLD_LEVEL and not node.question_shaped and not node.bold
        and all(k.level < BOLD_LEVEL and not k.question_shaped for k in kids)
        and not _RESOURCES_HEADING.match(node.text)
    )


def _region(state: _State, node: _Node, end: int) -> tuple[int, int, str] | None:
    """The answer after ``node`` up to ``end``: (first line, last line, text), 0-based, or None."""
    lines = state.lines
    entries: list[tuple[int, str]] = []
    for i in range(node.body_start, min(end, state.end)):
        if state.kinds.get(i) == "reference":
            continue
        text = node.head_rest if (i == node.body_start and node.head_rest is not None) else lines[i]
        if node.indent and text[: node.indent].strip() == "":
            text = text[node.indent :]  # a list item's answer, out of the list
        entries.append((i, text))

    def blank(entry: tuple[int, str]) -> bool:
        return not entry[1].strip() or entry[0] in state.separators

    lo, hi = 0, len(entries)
    while lo < hi:
        while lo < hi and blank(entries[lo]):
            lo += 1
        while hi > lo and blank(entries[hi - 1]):
            hi -= 1
        if lo < hi and _ANSWER_LABEL_SOURCE.match(entries[lo][1]):
            rest = _ANSWER_LABEL_SOURCE.sub("", entries[lo][1], count=1)
            entries[lo] = (entries[lo][0], rest)
            if not rest.strip():
                state.kinds.setdefault(entries[lo][0], "label")
                continue
        break
    if lo >= hi:
        return None
    kept = entries[lo:hi]
    text = "\n".join(t for _, t in kept)
    notes = [state.footnotes[ref] for ref in dict.fromkeys(_FOOTNOTE_REF.findall(text)) if ref in state.footnotes]
    if notes:  # the answer's own footnotes, from the end of the document
        text += "\n\n" + "\n".join(notes)
    return kept[0][0], kept[-1][0], text


def _footer_start(lines: list[str], nodes: list[_Node], separators: set[int]) -> int:
    """The line after which the text is a footer, not the last answer: a short text (three lines,
    40 words at most: "*Dernière mise à jour : janvier 2024*", "© Apec", "**Une autre question
    ?** Écrivez-nous") below the last ``---`` of the document, with no question after it but an
    invitation to write. ``len(lines)`` when there is none."""
    if not separators:
        return len(lines)
    rule = max(separators)
    if any(n.start > rule and not _CONTACT_PROMPT.match(n.text) for n in nodes):
        return len(lines)  # questions below the rule; "**Vous avez une autre question ?**" is the footer's
    tail = [ln for ln in lines[rule + 1 :] if ln.strip()]
    if not tail or len(tail) > 3 or sum(len(ln.split()) for ln in tail) > 40:
        return len(lines)
    return rule + 1


def _is_toc(lines: list[str], start: int, end: int) -> bool:
    """A body made only of list items that are links: a table of contents."""
    body = [line for line in lines[start:end] if line.strip()]
    return bool(body) and all(_TOC_LINE.match(line) for line in body)


def _mark(state: _State, start: int, end: int, kind: str) -> None:
    for i in range(max(start, 0), min(end, len(state.lines))):
        if state.lines[i].strip():
            state.kinds.setdefault(i, kind)


def _author_in_intro(lines: list[str], fm_end: int, nodes: list[_Node], title: _Node | None) -> str | None:
    """The expert named before the first question (``Rédigé par Claire Martin``), if any."""
    if title is not None:
        end = title.children[0].start if title.children else title.section_end
    else:
        end = nodes[0].start if nodes else len(lines)
    intro = "\n".join(lines[fm_end : min(end, fm_end + 200)])
    m = _AUTHOR_IN_INTRO.search(intro)
    return m.group(1).strip() if m else None


# --- output -----------------------------------------------------------------------------


def _build_threads(state: _State, source: str) -> list[Thread]:
    threads: list[Thread] = []
    pending: list[Question] = []  # unanswered questions right above the next one share its answer
    found = sorted(state.found, key=lambda f: f[0].start)
    for i, (node, region, topic) in enumerate(found):
        question = Question(text=node.text, speaker=None, line=node.start + 1)
        nxt = found[i + 1] if i + 1 < len(found) else None
        if region is None and nxt is not None and nxt[2] == topic and _nothing_between(state.lines, node.end, nxt[0].start):
            pending.append(question)  # "## Dois-je déclarer… ?" then "## Le bénévolat réduit-il… ?", one answer
            continue
        answer = None
        if region is not None:
            first, last, text = region
            answer = Answer(text=text, speaker=state.expert, start_line=first + 1, end_line=last + 1)
        threads.append(make_thread(source, len(threads), [*pending, question], answer, topic))
        pending = []
    return threads


def _nothing_between(lines: list[str], start: int, end: int) -> bool:
    return not any(line.strip() for line in lines[start:end])


def _skipped_lines(state: _State, threads: list[Thread]) -> list[Skipped]:
    """Every non-blank line that no thread covers, with why it was left out."""
    covered: set[int] = set()
    for t in threads:
        for q in t.questions:
            covered.add(q.line - 1)
        if t.answer is not None:
            covered.update(range(t.answer.start_line - 1, t.answer.end_line))
    question_spans = {node.start: node.end for node, _, _ in state.found}
    for start, end in question_spans.items():
        covered.update(range(start, end))
    out: list[Skipped] = []
    for i, line in enumerate(state.lines):
        if i in covered or not line.strip():
            continue
        kind = state.kinds.get(i) or ("separator" if i in state.separators else "other")
        out.append(Skipped(line=i + 1, kind=kind))
    return out
