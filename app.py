"""chatkb — la page : posez votre question, lisez la réponse de l'expert, copiez-la.

    streamlit run app.py          (ou : make run)

Environnement : CHATKB_INDEX (défaut index/), CHATKB_CORPUS (défaut corpus/), CHATKB_MODEL.
The page is thin: search, rendering and storage live in the library (chatkb.search,
chatkb.page, chatkb.feedback, chatkb.uploads).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from chatkb import page
from chatkb.errors import ChatkbError, IndexMissingError, QueryError
from chatkb.feedback import FeedbackStore, feedback_path, query_key, shown_from_hits
from chatkb.labels import confidence_label
from chatkb.parse import unread_lines

INDEX = Path(os.environ.get("CHATKB_INDEX") or "index")
CORPUS = Path(os.environ.get("CHATKB_CORPUS") or "corpus")
MODEL = os.environ.get("CHATKB_MODEL") or None

st.set_page_config(page_title="Réponses d'experts · chatkb", page_icon="💬", layout="centered")


@st.cache_resource(show_spinner="Chargement du modèle…")
def load_embedder(model: str | None):
    from chatkb.embed import Embedder

    # One short query at a time: a single thread is 3x faster than two fighting for the
    # cores with the browser and other sessions (measured: 14 ms vs 46 ms median).
    embedder = Embedder.load(model, threads=1)
    if not embedder.spec.int8:
        import torch

        torch.set_num_threads(1)
    embedder.encode_query("bonjour")  # load the weights now, not on the first question
    from chatkb.french import default_french

    default_french().encode_query("bonjour")  # the French encoder too (about 1 s, once)
    return embedder


@st.cache_resource(show_spinner="Ouverture de la base…")
def open_kb(index: str, corpus: str, model: str | None):
    from chatkb.index import open_index
    from chatkb.search import KnowledgeBase, check_model

    data = open_index(index)  # a missing or damaged index is reported before the model loads
    embedder = load_embedder(model)
    check_model(data, embedder.spec)
    kb = KnowledgeBase(data, embedder, glossary=Path(corpus) / "glossaire.tsv")
    kb.watch()  # picks up a rebuild made elsewhere (CLI), off the query path
    return kb


@st.cache_resource
def feedback_store(path: str) -> FeedbackStore:
    return FeedbackStore(path)


# One script for all the copy buttons of the page (they are plain HTML buttons in st.html).
COPY_WIRING = st.components.v2.component("chatkb_copy", js=page.COPY_JS, isolate_styles=False)

# ------------------------------------------------------------------ the base
try:
    kb = open_kb(str(INDEX), str(CORPUS), MODEL)
except IndexMissingError as exc:
    st.info(f"{page.md_escape(str(exc))}\n\nDepuis le dossier du projet : `make build` (ou `make run`).")
    st.stop()
except ChatkbError as exc:
    st.error(f"La base ne peut pas être ouverte : {page.md_escape(str(exc))}")
    st.stop()
store = feedback_store(str(feedback_path(INDEX)))
st.session_state.setdefault("votes", {})
st.session_state.setdefault("logged", set())
st.html(page.CSS)
COPY_WIRING(key="chatkb-copy", height=1)


def add_document(name: str, data: bytes) -> None:
    """Save the upload in the corpus, rebuild the index incrementally, reload the base."""
    from chatkb.index import build_index
    from chatkb.uploads import save_upload

    bar = st.progress(0.0, text="Enregistrement du document…")
    path = None
    try:
        path = save_upload(CORPUS, name, data)
        stages = {"embed": "Calcul des embeddings", "index": "Écriture de l'index"}

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(1.0, done / total) if total else 1.0, text=f"{stages.get(stage, stage)} ({done}/{total})")

        # Another build (CLI, another advisor) may hold the lock: wait a little, not minutes.
        report = build_index([CORPUS], INDEX, embedder=load_embedder(MODEL), progress=progress, lock_timeout=30)
    except Exception as exc:  # noqa: BLE001 - disk full or anything else: the add is undone, one line shown
        if path is not None:
            path.unlink(missing_ok=True)  # a failed add changes nothing
        bar.empty()
        message = str(exc) if isinstance(exc, ChatkbError) else f"Ajout impossible ({type(exc).__name__}) ; la base est inchangée."
        st.error(page.md_escape(message))
        return
    bar.progress(1.0, text="Index à jour")
    kb.reload()
    st.session_state.upload_round = st.session_state.get("upload_round", 0) + 1
    st.session_state.added = f"{path.name} ajouté : {report.added} fil(s) nouveau(x), {report.threads} fils dans la base."
    st.rerun()


@st.cache_data(max_entries=8, show_spinner=False)
def parse_upload(name: str, data: bytes):
    from chatkb.parse import parse_bytes
    from chatkb.uploads import check_upload

    return parse_bytes(data, check_upload(name, data))


def show_upload() -> None:
    from chatkb.uploads import find_same_content

    st.subheader("Ajouter un document")
    if "added" in st.session_state:
        st.success(st.session_state.pop("added"))
    upload = st.file_uploader("Transcription de chat (.txt) ou FAQ (.md), 5 Mo maximum", key=f"upload-{st.session_state.get('upload_round', 0)}")
    if upload is None:
        return
    data = upload.getvalue()
    try:
        doc = parse_upload(upload.name, data)
    except ChatkbError as exc:  # unreadable, too large, wrong extension: nothing is written
        st.error(page.md_escape(str(exc)))  # the message quotes the file's name: no Markdown from it
        return
    st.caption(page.md_escape(page.preview_summary(doc)))
    if not doc.threads:
        st.warning("Aucune question trouvée dans ce document : rien à ajouter.")
        return
    if unread := unread_lines(doc):
        st.warning(f"{unread} lignes n'ont été lues ni comme des questions ni comme des réponses : la mise en page n'est peut-être pas reconnue. Vérifiez l'aperçu avant d'ajouter.")
    st.dataframe(page.preview_rows(doc, width=90), hide_index=True)
    same = find_same_content(CORPUS, data)
    if same is not None:
        st.info(f"Ce document est déjà dans la base ({page.md_escape(same.name)}).")
    elif st.button("Ajouter à la base", type="primary"):
        add_document(upload.name, data)


def show_gaps() -> None:
    rows = store.unanswered_rows()
    if not rows:
        st.info("Aucune question sans réponse pour l'instant.")
        return
    st.caption(f"{len(rows)} question(s) que la base a refusées ou que les utilisateurs ont mal notées : ce qui manque à la base.")
    st.dataframe(rows, hide_index=True)
    st.download_button("⬇️ Télécharger en CSV", store.unanswered_csv(), file_name="questions-sans-reponse.csv", mime="text/csv")


def vote(query: str, thread_id: str, rank: int, up: bool, shown: list[dict], generation: str) -> None:
    store.vote(query, thread_id, rank, up, shown, generation=generation)
    st.session_state.votes[(query_key(query), thread_id)] = up
    st.toast("Merci ! Votre avis est enregistré.")


def no_good_answer(query: str, shown: list[dict], generation: str) -> None:
    store.no_answer(query, shown, generation=generation)
    st.session_state.votes[(query_key(query), None)] = False
    st.toast("Merci ! La question est notée dans « Questions sans réponse ».")


def show_card(rank: int, hit, result, stems, shown: list[dict]) -> None:
    far = not result.answered
    label = "Éloigné" if far else confidence_label(hit.confidence, threshold=kb.params.threshold)
    thread_id = hit.thread.id
    with st.container(border=True):
        st.progress(max(0.0, min(1.0, hit.confidence)), text=f"**{rank}.** {label} · {hit.confidence:.0%}")
        st.html(page.card_html(hit.thread, hit.source, stems, far=far))
        voted = st.session_state.votes.get((query_key(result.query), thread_id))
        args = (result.query, thread_id, rank)
        with st.container(horizontal=True, vertical_alignment="center"):
            st.html(page.copy_button_html(page.answer_plain(hit.thread, hit.source.format)), width="content")
            st.button("👍", key=f"up-{rank}-{thread_id}", help="Bonne réponse", on_click=vote, args=(*args, True, shown, result.generation),
                      disabled=voted is not None, type="primary" if voted is True else "secondary")
            st.button("👎", key=f"down-{rank}-{thread_id}", help="Mauvaise réponse", on_click=vote, args=(*args, False, shown, result.generation),
                      disabled=voted is not None, type="primary" if voted is False else "secondary")
        title = "Voir dans la conversation" if hit.source.format == "chat" else "Voir dans le document"
        context = st.expander(title, key=f"ctx-{rank}-{thread_id}", on_change="rerun")
        if context.open:  # rendered only once opened: nothing more on the query path
            with context:
                neighbours = kb.context(hit.thread, before=2, after=2)
                st.html(page.context_html(neighbours, thread_id, stems, format=hit.source.format, expert=hit.source.expert))


def show_search(k: int, sources: list[str]) -> None:
    if "q" not in st.session_state:
        st.session_state.q = st.query_params.get("q", "")
    question = st.text_input("Votre question", key="q", placeholder="Ex. : comment être visible sur internet ?", label_visibility="collapsed")
    if not question.strip():
        st.query_params.pop("q", None)
        st.info("Tapez une question puis Entrée.")
        return
    try:
        result = kb.search(question, k=k, sources=sources or None)
    except QueryError as exc:
        st.info(page.md_escape(str(exc)))
        return
    st.query_params["q"] = result.query  # a search can be shared and bookmarked (cleaned, ≤ 1,000 chars)
    shown = shown_from_hits(result.hits)
    if not result.answered:
        st.warning("**Aucune réponse suffisamment proche dans la base.** Voici les fils les plus proches, marqués « éloigné » : à lire avec prudence.")
        if query_key(result.query) not in st.session_state.logged:  # once per session, not on every rerun
            store.declined(result.query, shown, generation=result.generation)
            st.session_state.logged.add(query_key(result.query))
    if not result.hits:
        st.info("Aucun fil dans les sources choisies.")
        return
    stems = page.query_stems(result.query, kb.analyzer)
    for rank, hit in enumerate(result.hits, 1):
        show_card(rank, hit, result, stems, shown)
    if (query_key(result.query), None) in st.session_state.votes:
        st.caption("Merci : la question est notée dans « Questions sans réponse ».")
    else:
        st.button("🙁 Aucune bonne réponse", on_click=no_good_answer, args=(result.query, shown, result.generation))


# ------------------------------------------------------------------ sidebar
with st.sidebar:
    stats = kb.stats()
    st.header("La base")
    c1, c2 = st.columns(2)
    c1.metric("Fichiers", stats["files"])
    c2.metric("Fils", stats["threads"], help="Un fil : une ou plusieurs questions et la réponse de l'expert.")
    st.caption(page.md_escape(f"Experts : {', '.join(stats['experts']) or 'non indiqués'}"))
    st.caption(f"Dernière construction : {page.format_date(stats['built_at'])}")
    labels = {s["path"]: page.source_label(s) for s in stats["sources"]}
    sources = st.multiselect("Filtrer par source", list(labels), format_func=labels.get, placeholder="Toutes les sources")
    k = st.slider("Nombre de réponses", 1, 10, 5)
    st.divider()
    show_upload()

# ------------------------------------------------------------------ main
st.title("💬 Réponses d'experts")
st.caption("Posez votre question avec vos mots : la base retrouve comment un expert Apec y a déjà répondu.")
TABS = ["🔎 Rechercher", "❓ Questions sans réponse"]
tab_search, tab_gaps = st.tabs(TABS, key="onglet", on_change="rerun")  # only the open tab runs
if tab_search.open:
    with tab_search:
        show_search(k, sources)
if tab_gaps.open:
    with tab_gaps:
        show_gaps()
