"""The page (app.py) through Streamlit's AppTest, and its helpers: page, feedback, uploads.

The AppTest tests run the real app on an index of the bundled corpus built once per session
with the real model (``real_index``). Tests that add documents work on copies of the corpus
and of the index in a temporary folder: the repository's ``corpus/`` is never modified.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from chatkb.feedback import FeedbackStore, feedback_path, query_key, to_csv
from chatkb.labels import confidence_label
from chatkb.page import (
    answer_html,
    answer_plain,
    card_html,
    context_html,
    format_date,
    highlight_html,
    markdown_to_plain,
    md_escape,
    preview_rows,
    preview_summary,
    query_stems,
)
from chatkb.parse import parse_bytes
from chatkb.records import Answer, Question, make_thread
from chatkb.search import SourceInfo
from chatkb.uploads import MAX_UPLOAD_BYTES, UploadError, check_upload, find_same_content, safe_filename, save_upload

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
CORPUS = ROOT / "corpus"
DECLINE = "Aucune réponse suffisamment proche dans la base"

NEW_TRANSCRIPT = """\
Bonjour à toutes et à tous, nous avons le plaisir d'accueillir Marie Durand, consultante Apec, pour répondre à vos questions sur le portage salarial.
Bonjour à tous, ravie d'être avec vous aujourd'hui !
Paul : Bonjour
Paul : Qu'est-ce que le portage salarial exactement ?
Le portage salarial est une relation tripartite entre une société de portage, un consultant porté et une entreprise cliente.
Vous trouvez vous-même vos missions et négociez votre tarif ; la société de portage vous salarie et facture le client.
Vous gardez ainsi le statut de salarié <script>alert("x")</script> tout en travaillant comme un indépendant.
Sophie B. : Combien coûtent les frais de gestion d'une société de portage ?
Comptez en général entre 5 et 10 % du chiffre d'affaires facturé, selon les services inclus <img src=x onerror=alert(1)>.
Comparez plusieurs sociétés : le taux seul ne dit pas tout.
"""


# ============================================================================ AppTest helpers


def corpus_files(folder: Path = CORPUS) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def repo_corpus_before():
    return corpus_files()


@pytest.fixture
def app_env(real_index, tmp_path, monkeypatch):
    """The app on the session index (read-only use), feedback in a fresh database."""
    fb = tmp_path / "feedback.sqlite3"
    monkeypatch.setenv("CHATKB_INDEX", str(real_index))
    monkeypatch.setenv("CHATKB_CORPUS", str(CORPUS))
    monkeypatch.setenv("CHATKB_FEEDBACK", str(fb))
    monkeypatch.delenv("CHATKB_MODEL", raising=False)
    return {"index": real_index, "corpus": CORPUS, "feedback": fb}


@pytest.fixture
def writable_env(real_index, real_embedder, tmp_path, monkeypatch):
    """The app on copies of the corpus and of the index (uploads add files there)."""
    from chatkb.index import build_index

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    index = tmp_path / "index"
    shutil.copytree(real_index, index, ignore=shutil.ignore_patterns("feedback.sqlite3*", ".lock"))
    build_index([corpus], index, embedder=real_embedder)  # same texts: vectors reused, sources renamed
    monkeypatch.setenv("CHATKB_INDEX", str(index))
    monkeypatch.setenv("CHATKB_CORPUS", str(corpus))
    monkeypatch.delenv("CHATKB_FEEDBACK", raising=False)
    monkeypatch.delenv("CHATKB_MODEL", raising=False)
    return {"index": index, "corpus": corpus, "feedback": index / "feedback.sqlite3"}


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=240)


def run(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(question: str, at=None):
    at = at or run(new_app())
    at.text_input(key="q").input(question)
    return run(at)


def cards(at) -> list[str]:
    return [h.value for h in at.get("html") if 'class="ckb-card"' in h.value]


def contexts(at) -> list[str]:
    return [h.value for h in at.get("html") if 'class="ckb-context"' in h.value]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def open_gaps_tab(at):
    at.session_state["onglet"] = "❓ Questions sans réponse"
    run(at)
    return at.tabs[1]


def button(at, prefix: str):
    return next(b for b in at.button if (b.key or "").startswith(prefix))


# ============================================================================ search


@pytest.mark.parametrize(
    "question, expected",
    [
        ("homonymes google", "Jean Martin"),
        ("linkedin ou viadeo", "Viadeo"),
        ("quelle longueur pour un CV", "une page"),
        ("cmt rendre mon profil visible sur internet", "identité numérique"),
    ],
)
def test_search_shows_the_right_answer_first(app_env, question, expected):
    at = ask(question)
    found = cards(at)
    assert len(found) == 5
    assert expected in found[0]
    assert at.query_params["q"] == question  # the question is kept in the URL
    bars = at.get("progress")
    assert len(bars) == 5 and bars[0].text.startswith("**1.**")
    assert [b.value for b in bars] == sorted((b.value for b in bars), reverse=True)  # best first


def test_answer_card_shows_who_asked_expert_source_and_highlights(app_env):
    at = ask("homonymes google")
    card = cards(at)[0]
    assert '<span class="ckb-who">julienceindrial :</span>' in card
    assert "Réponse de Jean-Christophe Anna" in card
    assert "Chat Conseil Apec" in card or "apec-chat-reseaux-sociaux.txt" in card
    assert "<mark>homonymes</mark>" in card and "<mark>Google</mark>" in card


def test_highlight_ignores_accents(app_env):
    card = cards(ask("reseaux sociaux specialises"))[0]
    assert "<mark>réseaux</mark>" in card.lower()


def test_an_exact_question_of_the_base_is_answered(app_env):
    at = ask("Comment rendre son profil visible sur internet ?")
    assert DECLINE not in texts(at.warning)
    label = at.get("progress")[0].text
    assert "Très proche" in label or "Proche" in label
    assert "Éloigné :" not in cards(at)[0]


def test_off_topic_question_is_declined_and_nearest_marked(app_env):
    at = ask("recette de la tarte aux pommes")
    assert DECLINE in texts(at.warning)
    found = cards(at)
    assert found and all("Éloigné" in c for c in found)
    assert all("Éloigné" in b.text for b in at.get("progress"))
    run(at)  # a rerun (any click) does not log the same declined question twice
    events = FeedbackStore(app_env["feedback"]).events("declined")
    assert [e["query"] for e in events] == ["recette de la tarte aux pommes"]
    assert len(events[0]["shown"]) == 5


def test_url_question_prefills_and_answers(app_env):
    at = new_app()
    at.query_params["q"] = "homonymes google"
    run(at)
    assert at.text_input(key="q").value == "homonymes google"
    assert "Jean Martin" in cards(at)[0]


def test_empty_and_blank_questions_show_a_hint(app_env):
    at = run(new_app())
    assert "Tapez une question" in texts(at.info)
    assert not cards(at)
    at = ask("?!  …")
    assert "Question vide" in texts(at.info)
    assert not cards(at)


def test_context_shows_the_thread_among_its_neighbours(app_env):
    at = ask("homonymes google")
    assert at.expander[0].label == "Voir dans la conversation"
    assert not contexts(at)  # nothing rendered before it is opened (lazy: off the query path)
    thread_id = button(at, "up-1-").key.split("-", 2)[2]
    at.session_state[f"ctx-1-{thread_id}"] = True  # the user opens the first expander
    run(at)
    ctx = contexts(at)[0]
    assert ctx.count('class="ckb-turn') >= 3
    assert 'class="ckb-turn ckb-current"' in ctx
    before, current = ctx.split("ckb-current", 1)
    assert "Comment rendre son profil visible" in before  # the exchange before it
    assert "Jean Martin" in current
    assert " …</p>" in before  # neighbours: the beginning of their answers


def test_sidebar_stats_filter_and_number_of_results(app_env):
    from chatkb.index import open_index

    at = run(new_app())
    metrics = {m.label: m.value for m in at.sidebar.get("metric")}
    assert metrics["Fichiers"] == "2"
    assert int(metrics["Fils"]) > 20
    assert "Jean-Christophe Anna" in texts(at.sidebar.caption).replace("\\", "")  # Markdown-escaped
    assert "Dernière construction" in texts(at.sidebar.caption)
    faq = next(p for p in open_index(app_env["index"]).documents if p.endswith("faq-recherche-emploi.md"))
    at.multiselect[0].set_value([faq])
    at.slider[0].set_value(3)
    at.text_input(key="q").input("réseaux sociaux linkedin")
    run(at)
    found = cards(at)
    assert len(found) == 3
    assert all("faq-recherche-emploi.md" in c for c in found)


def test_missing_index_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATKB_INDEX", str(tmp_path / "nothing"))
    at = run(new_app())
    assert "Pas d'index" in texts(at.info)
    assert not at.text_input


def test_corrupt_index_is_reported(real_index, tmp_path, monkeypatch):
    index = tmp_path / "index"
    shutil.copytree(real_index, index, ignore=shutil.ignore_patterns("feedback.sqlite3*"))
    gen = (index / "CURRENT").read_text().strip()
    with open(index / gen / "threads.jsonl", "a", encoding="utf-8") as f:
        f.write("garbage\n")
    monkeypatch.setenv("CHATKB_INDEX", str(index))
    at = run(new_app())
    assert "La base ne peut pas être ouverte" in texts(at.error)
    assert "relancez" in texts(at.error)


# ============================================================================ feedback


def test_votes_and_no_good_answer_are_stored_and_listed(app_env):
    at = ask("homonymes google")
    down = button(at, "down-1-")
    thread_id = down.key.split("-", 2)[2]
    down.click()
    run(at)
    assert button(at, "down-1-").disabled and button(at, "up-1-").disabled  # one vote per answer
    next(b for b in at.button if b.label.startswith("🙁")).click()
    run(at)

    store = FeedbackStore(app_env["feedback"])
    down_events = store.events("down")
    assert len(down_events) == 1
    assert down_events[0]["thread_id"] == thread_id and down_events[0]["rank"] == 1
    assert down_events[0]["query"] == "homonymes google"
    assert [s["thread_id"] for s in down_events[0]["shown"]][0] == thread_id
    assert len(down_events[0]["shown"]) == 5
    assert len(store.events("no_answer")) == 1

    gaps = open_gaps_tab(at)
    table = gaps.dataframe[0].value
    assert "homonymes google" in list(table["Question"])
    assert gaps.get("download_button")


def test_thumbs_up_is_stored_and_keeps_the_question_off_the_list(app_env):
    at = ask("linkedin ou viadeo")
    button(at, "up-1-").click()
    run(at)
    store = FeedbackStore(app_env["feedback"])
    assert len(store.events("up")) == 1
    assert store.unanswered() == []
    assert "Aucune question sans réponse" in texts(open_gaps_tab(at).info)


# ============================================================================ uploads through the page


def test_upload_preview_add_then_found(writable_env, repo_corpus_before):
    at = run(new_app())
    at.file_uploader[0].upload("Portage salarial (chat).txt", NEW_TRANSCRIPT.encode("utf-8"), "text/plain")
    run(at)
    summary = texts(at.sidebar.caption).replace("\\", "")  # Markdown-escaped
    assert "2 fil(s)" in summary and "Marie Durand" in summary
    preview = at.sidebar.dataframe[0].value
    assert list(preview["Posée(s) par"]) == ["Paul", "Sophie B."]
    add = next(b for b in at.button if b.label == "Ajouter à la base")
    add.click()
    run(at)
    saved = writable_env["corpus"] / "portage-salarial-chat.txt"
    assert saved.read_bytes() == NEW_TRANSCRIPT.encode("utf-8")
    assert "portage-salarial-chat.txt ajouté : 2 fil(s)" in texts(at.sidebar.success)
    assert at.sidebar.get("metric")[0].value == "3"

    at.text_input(key="q").input("combien coûtent les frais de gestion d'une société de portage")
    run(at)
    found = cards(at)
    assert '<span class="ckb-who">Sophie B. :</span>' in found[0]  # "Combien coûtent les frais…", highlighted
    assert "Réponse de Marie Durand" in found[0] and "portage-salarial-chat.txt, l. 8–10" in found[0]
    # Corpus text is escaped: it never injects HTML into the page.
    for card in found:
        assert_only_our_tags(card)
    assert "&lt;img src=x onerror=alert(1)&gt;" in found[0]
    assert corpus_files() == repo_corpus_before  # the repository's corpus is untouched


def test_upload_of_a_file_already_in_the_base_is_not_added_twice(writable_env):
    at = run(new_app())
    data = (writable_env["corpus"] / "apec-chat-reseaux-sociaux.txt").read_bytes()
    at.file_uploader[0].upload("copie.txt", data, "text/plain")
    run(at)
    assert "déjà dans la base" in texts(at.sidebar.info)
    assert not any(b.label == "Ajouter à la base" for b in at.button)


def test_upload_read_only_in_part_is_flagged_before_adding(writable_env):
    text = "".join(f">> message {i} de l'outil, sans locuteur reconnaissable\n" for i in range(14)) + (
        "Bonjour, nous avons le plaisir d'accueillir Anne Martin, consultante Apec.\n"
        "paul75 : Comment préparer un entretien ?\nPréparez trois exemples concrets.\n"
    )
    at = run(new_app())
    at.file_uploader[0].upload("export.txt", text.encode("utf-8"), "text/plain")
    run(at)
    assert "14 lignes n'ont été lues ni comme des questions" in texts(at.sidebar.warning)
    assert any(b.label == "Ajouter à la base" for b in at.button)  # the advisor decides


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("rapport.txt", b"%PDF-1.7\n\x00\x01binary", "binaire"),
        ("vide.md", b"", "vide"),
        ("script.exe", b"Q : bonjour ?\nR : oui", "extension"),
        ("gros.txt", b"a" * (MAX_UPLOAD_BYTES + 1), "trop volumineux"),
    ],
)
def test_unreadable_or_refused_uploads_change_nothing(writable_env, name, data, message):
    before = corpus_files(writable_env["corpus"])
    at = run(new_app())
    at.file_uploader[0].upload(name, data, "application/octet-stream")
    run(at)
    assert message in texts(at.sidebar.error)
    assert not any(b.label == "Ajouter à la base" for b in at.button)
    assert corpus_files(writable_env["corpus"]) == before


def test_an_upload_s_name_cannot_inject_markdown(writable_env):
    at = run(new_app())
    at.file_uploader[0].upload("[clic](https://evil.example) ![x](https://evil.example/p.png).pdf", b"x", "application/pdf")
    run(at)
    message = texts(at.sidebar.error)
    assert r"\[clic\]\(https\:" in message and r"\!\[x\]" in message  # shown as text, not as a link or image


# ============================================================================ page helpers (no Streamlit)


def _thread(answer: str, *, source="corpus/x.txt", speaker="Léa", questions=("Comment écrire un CV ?",)):
    qs = tuple(Question(text=q, speaker=speaker, line=i + 1) for i, q in enumerate(questions))
    return make_thread(source, 0, qs, Answer(text=answer, speaker=None, start_line=3, end_line=4))


def test_highlight_escapes_then_marks_folded_stems():
    stems = query_stems("reseaux sociaux")
    out = highlight_html('Les Réseaux <b>sociaux</b> & "réseau"', stems)
    assert out == 'Les <mark>Réseaux</mark> &lt;b&gt;<mark>sociaux</mark>&lt;/b&gt; &amp; "<mark>réseau</mark>"'
    assert highlight_html("<script>", frozenset()) == "&lt;script&gt;"


def test_query_stems_use_the_search_analyser_for_typos_and_glossary():
    analyzer = lambda q: ["reseau"] if "reseua" in q else []  # noqa: E731 - stand-in for QueryAnalyzer
    assert "reseau" in query_stems("reseua", analyzer)
    assert query_stems("2 sites") == frozenset({"sit"})  # a lone digit is not highlighted


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<iframe src='https://evil.example'></iframe>",
        '<a href="javascript:alert(1)">clic</a>',
        "[clic](javascript:alert(1))",
        "![pixel](https://evil.example/p.png)",
        "<style>body{display:none}</style>",
    ],
)
@pytest.mark.parametrize("fmt", ["chat", "markdown"])
def test_answer_html_never_injects_html(evil, fmt):
    out = answer_html(f"Avant {evil} après", query_stems("avant"), format=fmt)
    assert_only_our_tags(out)
    assert "<mark>Avant</mark>" in out


SAFE_TAGS = {"p", "mark", "strong", "em", "ul", "ol", "li", "a", "code", "pre", "h4", "h5", "h6", "br", "blockquote", "hr", "div", "span"}


def assert_only_our_tags(fragment: str) -> None:
    """Every tag in ``fragment`` is one we emit, with no attribute that could run code."""
    from html.parser import HTMLParser

    seen: list[tuple[str, list]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen.append((tag, attrs))

    Collect().feed(fragment)
    for tag, attrs in seen:
        assert tag in SAFE_TAGS, tag
        for name, value in attrs:
            assert name in {"class", "href", "rel", "target", "start"}, (tag, name)
            if name == "href":
                assert value.startswith(("http://", "https://", "mailto:")), value


def test_answer_html_renders_markdown_and_chat_lines():
    md = answer_html("Intro :\n\n- **une page** ;\n- deux pages\n\n## Titre", frozenset({"pag"}))
    assert "<li><strong>une <mark>page</mark></strong> ;</li>" in md
    assert "<h5>Titre</h5>" in md  # an answer's headings stay below the page's
    chat = answer_html("Ligne un.\nLigne deux.", format="chat")
    assert chat.count("<p>") == 2
    link = answer_html("[Apec](https://www.apec.fr)")
    assert 'href="https://www.apec.fr"' in link and 'rel="noopener noreferrer nofollow"' in link


def test_plain_text_for_copy():
    text = "Il n'existe pas de règle :\n\n- **une page** pour un jeune ;\n- voir [Apec](https://apec.fr).\n\n1. un\n2. deux\n\nFin."
    assert markdown_to_plain(text) == (
        "Il n'existe pas de règle :\n\n- une page pour un jeune ;\n- voir Apec (https://apec.fr).\n\n1. un\n2. deux\n\nFin."
    )
    t = _thread("Ligne **un**\nLigne deux")
    assert answer_plain(t, "chat") == "Ligne **un**\nLigne deux"  # chat text is already plain
    assert answer_plain(t, "markdown") == "Ligne un\nLigne deux"


def test_card_and_context_escape_every_corpus_field():
    evil = "<script>x</script>"
    t = _thread(f"Réponse {evil}", speaker=evil, questions=(f"Question {evil} ?",))
    src = SourceInfo(path=f"corpus/{evil}.txt", title=evil, expert=evil, format="chat")
    for out in (card_html(t, src, query_stems("question"), far=True), context_html([t], t.id, frozenset(), expert=evil)):
        assert_only_our_tags(out)
        assert "&lt;script&gt;" in out
    card = card_html(t, src, far=True)
    assert "Éloigné" in card and "l. 1–4" in card


def test_context_outlines_the_thread_and_shortens_its_neighbours():
    long_answer = "\n".join(f"Ligne {i} de la réponse, assez longue pour compter." for i in range(20))
    before = make_thread("corpus/x.txt", 0, (Question("Avant ?", "Ana", 1),), Answer(long_answer, None, 2, 21))
    found = make_thread("corpus/x.txt", 1, (Question("Trouvé ?", "Léo", 22),), Answer(long_answer, "Experte", 23, 42))
    out = context_html([before, found], found.id, query_stems("ligne"), expert="Experte")
    first, current = out.split("ckb-current", 1)
    assert "Ligne 19" not in first and " …</p>" in first and "<mark>" not in first
    assert "<mark>Ligne</mark> 19 de la réponse" in current
    assert_only_our_tags(out)


def test_labels_dates_and_markdown_escaping():
    from chatkb.labels import CLOSE, VERY_CLOSE

    assert [confidence_label(c) for c in (1.0, VERY_CLOSE, CLOSE, 0.0)] == ["Très proche", "Très proche", "Proche", "Éloigné"]
    assert format_date("2025-05-12T14:03:00+0200") == "12/05/2025 à 14:03"
    assert format_date(None) == "inconnue"
    assert md_escape("Jean *X* :red[y] $z$") == r"Jean \*X\* \:red\[y\] \$z\$"


def test_preview_of_an_upload():
    doc = parse_bytes(NEW_TRANSCRIPT.encode("utf-8"), "portage.txt")
    rows = preview_rows(doc)
    assert [r["Posée(s) par"] for r in rows] == ["Paul", "Sophie B."]
    assert rows[0]["Question(s)"] == "Qu'est-ce que le portage salarial exactement ?"
    summary = preview_summary(doc)
    assert "conversation (chat)" in summary and "2 fil(s)" in summary and "Marie Durand" in summary


# ============================================================================ feedback store


@pytest.fixture
def store(tmp_path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "fb" / "feedback.sqlite3")


SHOWN = [{"rank": 1, "thread_id": "t1", "confidence": 0.3, "source": "a.txt"}, {"rank": 2, "thread_id": "t2", "confidence": 0.1, "source": "a.txt"}]


def test_store_uses_wal_and_keeps_events(store):
    assert store.journal_mode() == "wal"
    store.vote("Linkedin ?", "t1", 1, True, SHOWN)
    store.vote("Linkedin ?", "t2", 2, False, SHOWN)
    store.no_answer("Linkedin ?", SHOWN)
    store.declined("tarte aux pommes", SHOWN, generation="gen-1")
    kinds = [(e["kind"], e["thread_id"], e["rank"]) for e in store.events()]
    assert kinds == [("up", "t1", 1), ("down", "t2", 2), ("no_answer", None, None), ("declined", None, None)]
    assert store.events("declined")[0]["shown"] == SHOWN
    assert store.events("declined")[0]["generation"] == "gen-1"


def test_store_queries_are_parameterised(store):
    evil = "x'); DROP TABLE events; --"
    store.declined(evil, [{"thread_id": "'; DELETE FROM events; --"}])
    assert store.events()[0]["query"] == evil
    assert [u.query for u in store.unanswered()] == [evil]


def test_unanswered_lists_declined_and_badly_rated_until_a_thumbs_up(store):
    store.declined("Tarte aux pommes", SHOWN)
    store.vote("linkedin ou viadeo", "t1", 1, False, SHOWN)
    store.no_answer("contrat de portage", SHOWN)
    store.vote("bien noté", "t1", 1, True, SHOWN)
    listed = {u.query: u for u in store.unanswered()}
    assert set(listed) == {"Tarte aux pommes", "linkedin ou viadeo", "contrat de portage"}
    assert listed["Tarte aux pommes"].reason_text == "Refusée par la base"
    assert listed["linkedin ou viadeo"].reasons == ("down",)
    assert list(listed)[0] == "contrat de portage"  # most recent first

    store.vote("Linkedin  ou VIADÉO", "t2", 2, True, SHOWN)  # the same question, typed differently
    assert "linkedin ou viadeo" not in {u.query.lower() for u in store.unanswered()}
    store.declined("linkedin ou viadeo", SHOWN)  # declined again later: back on the list
    assert "linkedin ou viadeo" in {u.query for u in store.unanswered()}
    assert query_key("  Réseaux   Sociaux ") == "reseaux sociaux"


def test_csv_export_is_readable_and_neutralises_formulas(store):
    store.declined("=HYPERLINK(\"http://evil\")", SHOWN)
    store.vote("réseaux sociaux, lesquels ?", "t1", 1, False, SHOWN)
    data = store.unanswered_csv()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the accents
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["Question"] for r in rows] == ["réseaux sociaux, lesquels ?", "'=HYPERLINK(\"http://evil\")"]
    assert rows[0]["Motif"] == "Réponse mal notée" and rows[0]["Votes 👎"] == "1"
    assert rows[1]["Réponses proposées"] == "t1 ; t2"
    assert to_csv([], ["a"]).decode("utf-8-sig") == "a\r\n"


def test_store_rejects_bad_input(store):
    with pytest.raises(ValueError):
        store.declined("   ")
    with pytest.raises(ValueError):
        store._add("other", "q")
    with pytest.raises(sqlite3.IntegrityError):
        with sqlite3.connect(store.path) as conn:
            conn.execute("INSERT INTO events (created_at, kind, query, query_key) VALUES ('x', 'bad', 'q', 'q')")


def test_concurrent_writes_from_threads_lose_nothing(store):
    def write(i: int) -> None:
        for j in range(25):
            FeedbackStore(store.path).vote(f"question {i}", f"t{j}", 1 + j % 5, j % 2 == 0, SHOWN)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    assert len(store.events()) == 200
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _write_from_process(args) -> int:
    path, n = args
    s = FeedbackStore(path)
    for i in range(n):
        s.declined(f"processus question {i}", SHOWN)
    return n


def test_concurrent_writes_from_processes_lose_nothing(store):
    with ProcessPoolExecutor(3) as pool:
        assert sum(pool.map(_write_from_process, [(str(store.path), 30)] * 3)) == 90
    assert len(store.events("declined")) == 90


def test_feedback_lives_beside_the_index_and_survives_rebuilds(tmp_path, fake_embedder, monkeypatch):
    from chatkb.index import build_index

    monkeypatch.delenv("CHATKB_FEEDBACK", raising=False)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "faq-recherche-emploi.md", corpus)
    index = tmp_path / "index"
    build_index([corpus], index, embedder=fake_embedder)
    assert feedback_path(index) == index / "feedback.sqlite3"
    FeedbackStore.beside(index).declined("question gardée", SHOWN)
    (corpus / "autre.txt").write_text(NEW_TRANSCRIPT, encoding="utf-8")
    build_index([corpus], index, embedder=fake_embedder)
    build_index([corpus], index, embedder=fake_embedder)
    assert [e["query"] for e in FeedbackStore.beside(index).events()] == ["question gardée"]
    monkeypatch.setenv("CHATKB_FEEDBACK", str(tmp_path / "ailleurs.sqlite3"))
    assert feedback_path(index) == tmp_path / "ailleurs.sqlite3"


# ============================================================================ uploads


@pytest.mark.parametrize(
    "name, safe",
    [
        ("Réseaux sociaux.TXT", "reseaux-sociaux.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\Windows\\win.ini.md", "win-ini.md"),
        ("/abs/path/faq.markdown", "faq.md"),
        (".cache.md", "cache.md"),
        ("....md", "document.md"),
        ("../.md", "document.md"),
        ("<script>alert(1)</script>.txt", "script.txt"),
        ("chat\x00\n\r.txt", "chat.txt"),
        ("a" * 300 + ".txt", "a" * 80 + ".txt"),
    ],
)
def test_safe_filename(name, safe):
    assert safe_filename(name) == safe


@pytest.mark.parametrize("name", ["notes", "rapport.pdf", "photo.png", "x.txt.exe", "corpus/../script.sh", "x.", "..", ""])
def test_unknown_extensions_are_refused_in_french(name):
    with pytest.raises(UploadError) as err:
        safe_filename(name)
    assert "non prise en charge" in str(err.value) and ".txt" in str(err.value)


def test_save_upload_stays_inside_the_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("../../evil.txt", "../evil.md", "/tmp/evil.txt", "sub/../../evil.txt"):
        path = save_upload(corpus, name, b"Q ?\nR.")
        assert path.parent == corpus.resolve()
    assert not list(tmp_path.glob("evil*"))
    assert sorted(p.name for p in corpus.iterdir()) == ["evil-2.txt", "evil-3.txt", "evil.md", "evil.txt"]


def test_save_upload_never_overwrites(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "faq.md").write_bytes(b"original")
    paths = [save_upload(corpus, "FAQ.md", f"v{i}".encode()) for i in range(3)]
    assert [p.name for p in paths] == ["faq-2.md", "faq-3.md", "faq-4.md"]
    assert (corpus / "faq.md").read_bytes() == b"original"
    assert [p.read_bytes() for p in paths] == [b"v0", b"v1", b"v2"]
    assert not list(corpus.glob(".upload-*"))  # no temporary file left behind


def test_concurrent_uploads_of_the_same_name_get_distinct_files(tmp_path):
    corpus = tmp_path / "corpus"
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda i: save_upload(corpus, "chat.txt", f"contenu {i}".encode()), range(16)))
    assert len({p.name for p in paths}) == 16
    assert sorted(p.read_bytes() for p in paths) == sorted(f"contenu {i}".encode() for i in range(16))


def test_size_limit_and_empty_files(tmp_path):
    corpus = tmp_path / "corpus"
    assert check_upload("ok.txt", b"a" * MAX_UPLOAD_BYTES) == "ok.txt"  # exactly the limit is accepted
    with pytest.raises(UploadError, match="trop volumineux.*maximum 5 Mo"):
        save_upload(corpus, "gros.txt", b"a" * (MAX_UPLOAD_BYTES + 1))
    with pytest.raises(UploadError, match="vide"):
        save_upload(corpus, "vide.txt", b"")
    assert not corpus.exists() or not any(corpus.iterdir())


def test_find_same_content(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(b"bonjour")
    (corpus / "notes.tsv").write_bytes(b"autre")
    assert find_same_content(corpus, b"bonjour") == corpus / "a.txt"
    assert find_same_content(corpus, b"autre") is None  # only corpus documents count
    assert find_same_content(tmp_path / "absent", b"x") is None


def test_threads_use_their_own_connections(store):
    errors: list[BaseException] = []

    def read_while_writing() -> None:
        try:
            for _ in range(20):
                store.unanswered()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=read_while_writing)
    t.start()
    for i in range(20):
        store.declined(f"q{i}", SHOWN)
    t.join()
    assert not errors
    assert json.loads(json.dumps(store.unanswered()[0].shown[0])) == SHOWN[0]
