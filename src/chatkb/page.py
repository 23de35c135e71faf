"""Pure helpers behind the Streamlit page (``app.py``): safe HTML, highlighting, previews.

Nothing here imports Streamlit, so every function is unit-tested directly.

Safety rule: corpus text and uploaded text are never trusted. They reach the page only
through :func:`html.escape` or through markdown-it with raw HTML disabled (which escapes
it), images disabled (no remote content is loaded) and its link validation (no
``javascript:`` links). The only tags added are our own (``<mark>``, ``<p>``, lists …).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Sequence

from markdown_it import MarkdownIt

from .analyzer import analyze, stem, words
from .records import Document, Thread

__all__ = [
    "CSS",
    "answer_html",
    "answer_plain",
    "card_html",
    "context_html",
    "copy_button_html",
    "format_date",
    "highlight_html",
    "markdown_to_plain",
    "md_escape",
    "preview_rows",
    "preview_summary",
    "query_stems",
    "source_label",
]

_WORD = re.compile(r"\w+")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:=])")

# Styles for the blocks rendered by :func:`card_html` and :func:`context_html`.
CSS = """
<style>
.ckb-card { line-height: 1.55; }
.ckb-card mark, .ckb-context mark { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: .2em; }
.ckb-q { font-weight: 600; margin: 0 0 .25rem 0; }
.ckb-who { color: #6b7280; font-weight: 500; }
.ckb-far { display: inline-block; font-size: .8rem; font-weight: 600; color: #92400e; background: #fef3c7; border-radius: .6rem; padding: 0 .5rem; margin-bottom: .3rem; }
.ckb-by { color: #6b7280; font-size: .85rem; margin: .6rem 0 .2rem 0; }
.ckb-answer { margin-top: .2rem; }
.ckb-answer p { margin: 0 0 .45rem 0; }
.ckb-answer ul, .ckb-answer ol { margin: 0 0 .45rem 0; }
.ckb-src { color: #6b7280; font-size: .85rem; border-top: 1px solid rgba(128,128,128,.25); padding-top: .35rem; margin-top: .5rem; }
.ckb-context .ckb-turn { padding: .35rem .6rem; margin: .3rem 0; border-left: 3px solid rgba(128,128,128,.3); }
.ckb-context .ckb-current { border-left-color: #f59e0b; background: rgba(245,158,11,.08); }
.ckb-context p { margin: 0 0 .3rem 0; }
.ckb-copy { font: inherit; font-size: .875rem; line-height: 1.6; padding: .25rem .75rem; cursor: pointer; white-space: nowrap;
  border: 1px solid rgba(49,51,63,.2); border-radius: .5rem; background: transparent; color: inherit; }
.ckb-copy:hover { border-color: #ff4b4b; color: #ff4b4b; }
.st-key-chatkb-copy { display: none; }  /* the copy buttons' script takes no room */
/* Streamlit's own English bits: the deploy button, the uploader's button and size note. */
[data-testid="stAppDeployButton"] { display: none; }
[data-testid="stFileUploaderDropzoneInstructions"] { display: none; }
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p { font-size: 0; }
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p::after { content: "Choisir un fichier"; font-size: .875rem; }
</style>
"""


# ----------------------------------------------------------------------------- highlighting


def query_stems(query: str, analyzer: Callable[[str], Iterable[str]] | None = None) -> frozenset[str]:
    """The stems to highlight for ``query``: its own, plus what the search analyser adds.

    Args:
        query: the question as typed.
        analyzer: the knowledge base's query analyser (glossary expansion, typo
            correction), so that "reseau sociaus" highlights "réseaux sociaux".
    """
    stems = set(analyze(query))
    if analyzer is not None:
        try:
            stems.update(analyzer(query))
        except Exception:  # noqa: BLE001 - highlighting is a nicety, never an error
            pass
    # A lone digit ("2 sites") would light up every "2" of the answer.
    return frozenset(s for s in stems if not (s.isdigit() and len(s) < 2))


@lru_cache(maxsize=65536)
def _word_stem(word: str) -> str | None:
    """The stem of one word as the analyser indexes it (``None`` for stopwords)."""
    w = words(word)
    return stem(w)[0] if len(w) == 1 else None


def highlight_html(text: str, stems: frozenset[str] | set[str]) -> str:
    """``text`` escaped for HTML, with the words whose stem is in ``stems`` in ``<mark>``.

    Matching folds accents and stems like the analyser: the query "reseaux" marks
    "Réseaux" and "réseau".
    """
    if not stems:
        return html.escape(text, quote=False)
    out: list[str] = []
    last = 0
    for m in _WORD.finditer(text):
        s = _word_stem(m.group())
        if s is not None and s in stems:
            out.append(html.escape(text[last : m.start()], quote=False))
            out.append("<mark>" + html.escape(m.group(), quote=False) + "</mark>")
            last = m.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


# ----------------------------------------------------------------------------- Markdown


def _render_text(self, tokens, idx, options, env) -> str:
    return highlight_html(tokens[idx].content, env.get("stems") or frozenset())


def _render_link_open(self, tokens, idx, options, env) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    tokens[idx].attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


def _render_heading(self, tokens, idx, options, env) -> str:
    # An answer's own headings must not outshout the page's: ## → h5, ### → h6.
    tok = tokens[idx]
    tok.tag = f"h{min(6, int(tok.tag[1]) + 3)}"
    return self.renderToken(tokens, idx, options, env)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.add_render_rule("text", _render_text)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("heading_open", _render_heading)
    md.add_render_rule("heading_close", _render_heading)
    return md


_MD_DOC = _markdown()


def answer_html(text: str, stems: frozenset[str] | set[str] = frozenset(), *, format: str = "markdown") -> str:
    """An answer rendered from Markdown to safe HTML, with the query's words marked.

    In a chat answer each line is a message of the expert: it becomes a paragraph.
    Raw HTML in ``text`` is escaped, images are dropped, unsafe links are not linked.
    """
    if format == "chat":
        text = re.sub(r"\n+", "\n\n", text)
    return _MD_DOC.render(text, {"stems": frozenset(stems)})


def markdown_to_plain(text: str) -> str:
    """Markdown as the plain text a user pastes into a chat: no ``**``, lists as ``- ``.

    Links become ``text (url)``; paragraphs are separated by a blank line.
    """
    out: list[str] = []
    lists: list[list] = []  # [ordered, next number]
    for tok in _MD_DOC.parse(text):
        t = tok.type
        if t in ("bullet_list_open", "ordered_list_open"):
            lists.append([t == "ordered_list_open", int(tok.attrGet("start") or 1)])
        elif t in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                out.append("\n")
        elif t == "list_item_open":
            ordered = lists[-1]
            marker = f"{ordered[1]}. " if ordered[0] else "- "
            if ordered[0]:
                ordered[1] += 1
            out.append("  " * (len(lists) - 1) + marker)
        elif t == "inline":
            out.append(_inline_plain(tok.children or []))
        elif t == "paragraph_close":
            out.append("\n" if tok.hidden else "\n\n")
        elif t == "heading_close":
            out.append("\n\n")
        elif t in ("fence", "code_block"):
            out.append(tok.content.rstrip("\n") + "\n\n")
        elif t == "hr":
            out.append("\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


def _inline_plain(children) -> str:
    out: list[str] = []
    href: str | None = None
    start = 0
    for tok in children:
        if tok.type in ("text", "code_inline", "html_inline"):
            out.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif tok.type == "link_open":
            href, start = str(tok.attrGet("href") or ""), len(out)
        elif tok.type == "link_close":
            label = "".join(out[start:])
            if href and href not in label:
                out.append(f" ({href})")
            href = None
        elif tok.type == "image":
            out.append(tok.content)
    return "".join(out)


def answer_plain(thread: Thread, format: str = "markdown") -> str:
    """The answer as plain text, for the copy button (chat text is already plain)."""
    if thread.answer is None:
        return ""
    if format == "chat":
        return thread.answer.text.strip()
    return markdown_to_plain(thread.answer.text)


def md_escape(text: str) -> str:
    """Text shown through ``st.markdown``/``st.caption``: Markdown, LaTeX and directives escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


# ----------------------------------------------------------------------------- cards


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _questions_html(thread: Thread, stems: frozenset[str]) -> str:
    parts = []
    for q in thread.questions:
        who = f'<span class="ckb-who">{_esc(q.speaker)} :</span> ' if q.speaker else ""
        parts.append(f'<div class="ckb-q">{who}{highlight_html(q.text, stems)}</div>')
    return "".join(parts)


def _answerer(thread: Thread, expert: str | None) -> str:
    if thread.answer is not None and thread.answer.speaker:
        return thread.answer.speaker
    return expert or ""


def card_html(thread: Thread, source, stems: frozenset[str] = frozenset(), *, far: bool = False) -> str:
    """One answer card: the question(s) with who asked, the answer, the source.

    Args:
        thread: the thread found.
        source: its :class:`~chatkb.search.SourceInfo` (path, title, expert, format).
        stems: the query's stems to highlight (:func:`query_stems`).
        far: mark the card as a distant match (when the base declines).
    """
    parts = ['<div class="ckb-card">']
    if far:
        parts.append('<span class="ckb-far">Éloigné : à lire avec prudence</span>')
    parts.append(_questions_html(thread, stems))
    who = _answerer(thread, source.expert)
    parts.append(f'<div class="ckb-by">Réponse{(" de " + _esc(who)) if who else ""} :</div>')
    if thread.answer is not None:
        parts.append(f'<div class="ckb-answer">{answer_html(thread.answer.text, stems, format=source.format)}</div>')
    else:
        parts.append('<div class="ckb-answer"><p><em>Question restée sans réponse.</em></p></div>')
    src = [f"Source : <strong>{_esc(source.title or Path(source.path).name)}</strong>"]
    if source.expert:
        src.append(f"expert : {_esc(source.expert)}")
    if thread.topic:
        src.append(f"rubrique : {_esc(thread.topic)}")
    src.append(f"{_esc(Path(source.path).name)}, l. {thread.start_line}–{thread.end_line}")
    parts.append(f'<div class="ckb-src">{" · ".join(src)}</div>')
    parts.append("</div>")
    return "".join(parts)


def _excerpt(text: str, *, max_chars: int = 280) -> str:
    """The beginning of an answer (its first lines, up to ``max_chars``), for the context view."""
    out, size = [], 0
    for line in text.strip().split("\n"):
        if size + len(line) > max_chars:
            if not out:  # one long line: cut it between words
                out.append(line[:max_chars].rsplit(" ", 1)[0])
            return "\n".join(out).rstrip() + " …"
        out.append(line)
        size += len(line)
    return "\n".join(out)


def context_html(threads: Sequence[Thread], current_id: str, stems: frozenset[str] = frozenset(), *, format: str = "chat", expert: str | None = None) -> str:
    """The thread among its neighbours in the transcript: the found one outlined and in full,
    the exchanges before and after it with the beginning of their answers."""
    parts = ['<div class="ckb-context">']
    for t in threads:
        current = t.id == current_id
        parts.append(f'<div class="{"ckb-turn ckb-current" if current else "ckb-turn"}">')
        marks = stems if current else frozenset()
        if t.topic and format != "chat":
            parts.append(f'<div class="ckb-who">{_esc(t.topic)}</div>')
        parts.append(_questions_html(t, marks))
        if t.answer is not None:
            who = _answerer(t, expert)
            parts.append(f'<div class="ckb-by">{_esc(who) if who else "Réponse"} :</div>')
            parts.append(answer_html(t.answer.text if current else _excerpt(t.answer.text), marks, format=format))
        else:
            parts.append("<p><em>Sans réponse.</em></p>")
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def copy_button_html(text: str, label: str = "📋 Copier la réponse") -> str:
    """A copy button carrying ``text`` in an escaped ``data-copy`` attribute.

    The page wires every ``button.ckb-copy`` to the clipboard with one delegated listener
    (:data:`COPY_JS`): the text is only ever read back from the attribute, never parsed.
    """
    return f'<button type="button" class="ckb-copy" data-copy="{html.escape(text, quote=True)}">{_esc(label)}</button>'


# One listener for every copy button of the page (installed once per browser tab).
COPY_JS = """export default function () {
    if (window.__chatkbCopy) return;
    window.__chatkbCopy = true;
    document.addEventListener("click", async (event) => {
        const button = event.target.closest ? event.target.closest("button.ckb-copy") : null;
        if (!button) return;
        const text = button.dataset.copy || "";
        try {
            await navigator.clipboard.writeText(text);
        } catch (err) {
            const area = document.createElement("textarea");
            area.value = text;
            document.body.appendChild(area);
            area.select();
            document.execCommand("copy");
            area.remove();
        }
        button.dataset.label = button.dataset.label || button.textContent;
        button.textContent = "✅ Copié";
        setTimeout(() => { button.textContent = button.dataset.label; }, 1500);
    });
}"""


# ----------------------------------------------------------------------------- sidebar, uploads


def source_label(meta: dict) -> str:
    """How a source is named in the filter: its title, else its file name."""
    name = Path(str(meta.get("path", ""))).name
    title = meta.get("title")
    return f"{title} ({name})" if title else name


def format_date(value: str | None) -> str:
    """``2025-05-12T14:03:00+0200`` → ``12/05/2025 à 14:03`` (the input when unparsable)."""
    if not value:
        return "inconnue"
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).strftime("%d/%m/%Y à %H:%M")
        except ValueError:
            continue
    return value


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def preview_summary(doc: Document) -> str:
    """One French sentence on how an upload was parsed."""
    kind = "conversation (chat)" if doc.format == "chat" else "FAQ (Markdown)"
    n_q = sum(len(t.questions) for t in doc.threads)
    n_a = sum(1 for t in doc.threads if t.answer is not None)
    parts = [f"Format : {kind}", f"{len(doc.threads)} fil(s)", f"{n_q} question(s)", f"{n_a} réponse(s)"]
    if doc.title:
        parts.append(f"titre : {doc.title}")
    if doc.expert:
        parts.append(f"expert : {doc.expert}")
    return " · ".join(parts)


def preview_rows(doc: Document, *, width: int = 160) -> list[dict]:
    """The threads of a parsed upload, as table rows (plain text: shown in ``st.dataframe``)."""
    rows = []
    for n, t in enumerate(doc.threads, 1):
        rows.append(
            {
                "N°": n,
                "Question(s)": _short(" / ".join(q.text for q in t.questions), width),
                "Posée(s) par": ", ".join(dict.fromkeys(q.speaker for q in t.questions if q.speaker)) or "—",
                "Réponse (début)": _short(t.answer.text, width) if t.answer else "(sans réponse)",
                "Lignes": f"{t.start_line}–{t.end_line}",
            }
        )
    return rows
