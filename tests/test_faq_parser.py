"""Markdown FAQ parser: threads, topics, line numbers and Markdown kept in answers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkb.errors import NoQuestionsError
from chatkb.faq import looks_like_question, parse_markdown
from chatkb.parse import detect_format, parse_bytes, parse_file, require_threads
from chatkb.records import Document

FIXTURES = Path(__file__).parent / "fixtures"
CANDIDATURE = FIXTURES / "faq-candidature.md"
SALAIRE = FIXTURES / "faq-salaire-gras.md"
RECONVERSION = FIXTURES / "faq-reconversion.md"
ALL_FIXTURES = [CANDIDATURE, SALAIRE, RECONVERSION]


def parse(path: Path) -> Document:
    return parse_markdown(path.read_text(encoding="utf-8"), path.name)


def shape(doc: Document) -> list[tuple]:
    """(question line, question text, topic, answer start, answer end) for each thread."""
    out = []
    for t in doc.threads:
        assert len(t.questions) == 1
        q = t.questions[0]
        a = t.answer
        out.append((q.line, q.text, t.topic, a.start_line if a else None, a.end_line if a else None))
    return out


def file_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


# --- fixture 1: H1 title, intro, H2 topics, H3 questions ------------------------------


def test_candidature_threads_exact():
    doc = parse(CANDIDATURE)
    assert doc.format == "markdown"
    assert shape(doc) == [
        (8, "Faut-il mettre une photo sur son CV ?", "Le CV", 10, 11),
        (13, "Combien de pages pour un CV", "Le CV", 15, 16),
        (18, "Les trous dans le parcours", "Le CV", 20, 21),
        (27, "Est-elle encore utile ?", "La lettre de motivation", 29, 30),
        (32, "Que dire dans le premier paragraphe ?", "La lettre de motivation", None, None),
        (36, "Comment se préparer à un entretien d'embauche ?", "L'entretien", 38, 39),
        (41, "La question des prétentions salariales", "L'entretien", 43, 43),
    ]
    assert [t.position for t in doc.threads] == list(range(7))


def test_candidature_title_intro_and_expert():
    doc = parse(CANDIDATURE)
    assert doc.title == "FAQ : réussir sa candidature"
    assert doc.expert == "Claire Martin"
    assert {t.answer.speaker for t in doc.threads if t.answer} == {"Claire Martin"}
    assert all(q.speaker is None for t in doc.threads for q in t.questions)
    skipped = {s.line: s.kind for s in doc.skipped}
    assert skipped == {1: "title", 3: "intro", 4: "intro", 6: "topic", 23: "topic", 25: "intro", 34: "topic"}
    # Neither the title, the intro nor a topic's own intro is a thread.
    texts = " ".join(t.question_text + (t.answer.text if t.answer else "") for t in doc.threads)
    assert "ateliers" not in texts and "PME" not in texts


def test_heading_without_answer_gives_thread_with_no_answer():
    doc = parse(CANDIDATURE)
    empty = [t for t in doc.threads if t.answer is None]
    assert [t.questions[0].text for t in empty] == ["Que dire dans le premier paragraphe ?"]
    assert doc.threads[4].to_dict()["answer"] is None


def test_answers_are_exact_source_slices():
    for path in (CANDIDATURE, RECONVERSION):
        lines = file_lines(path)
        for t in parse(path).threads:
            if t.answer:
                assert t.answer.text == "\n".join(lines[t.answer.start_line - 1 : t.answer.end_line])


# --- fixture 2: **Question ?** paragraphs ---------------------------------------------


def test_bold_questions_threads_exact():
    doc = parse(SALAIRE)
    assert doc.title == "Salaire et télétravail : vos questions"
    assert doc.expert is None
    assert shape(doc) == [
        (7, "Quand parler de salaire pendant le recrutement ?", "Négocier son salaire", 9, 10),
        (12, "Comment connaître le salaire du marché ?", "Négocier son salaire", 13, 14),
        (16, "Peut-on renégocier après avoir accepté ?", "Négocier son salaire", 16, 17),
        (19, "Comment réagir à une offre trop basse", "Négocier son salaire", 21, 22),
        (26, "Puis-je demander du télétravail dès l'entretien ?", "Le télétravail", 27, 28),
        (30, "Combien de jours de télétravail sont courants ?", "Le télétravail", 32, 35),
    ]
    assert {s.line: s.kind for s in doc.skipped} == {1: "title", 3: "intro", 5: "topic", 24: "topic"}


def test_bold_question_with_answer_on_the_same_line():
    t = parse(SALAIRE).threads[2]
    assert t.answer.text == (
        "C'est délicat : mieux vaut\n"
        "négocier avant la signature, en incluant les avantages (primes, tickets restaurant)."
    )


def test_bold_question_with_answer_on_the_next_line_of_the_paragraph():
    t = parse(SALAIRE).threads[1]
    assert t.answer.text.startswith("Consultez les études de rémunération")


def test_question_and_answer_labels():
    t = parse(SALAIRE).threads[4]
    assert t.answer.text == "Oui, mais présentez-le comme une modalité d'organisation,\npas comme une condition."
    doc = parse_markdown("**Question :** Puis-je\nrefuser une offre ?\n\n**Réponse :**\nOui, poliment.\n", "q.md")
    assert shape(doc) == [(1, "Puis-je refuser une offre ?", None, 5, 5)]
    assert {s.line: s.kind for s in doc.skipped} == {4: "label"}


def test_bold_text_that_is_not_a_question_stays_in_the_answer():
    t = parse(SALAIRE).threads[5]
    assert t.answer.text.endswith("**À retenir** : le télétravail se négocie comme le salaire.")


# --- fixture 3: setext headings, front matter, rich Markdown ---------------------------


def test_reconversion_threads_exact():
    doc = parse(RECONVERSION)
    assert doc.title == "Reconversion professionnelle"  # setext H1
    assert doc.expert == "Karim Benali"  # front matter
    assert shape(doc) == [
        (14, "Comment financer une formation de reconversion ?", "Financer sa formation", 16, 23),
        (27, "Quelles étapes suivre ?", "Financer sa formation", 29, 35),
        (40, "Reconversion vers le développement web", "Changer de métier", 42, 49),
        (51, "Faut-il reprendre des études longues ?", "Changer de métier", None, None),
    ]
    skipped = {s.line: s.kind for s in doc.skipped}
    assert skipped == {
        1: "front_matter", 2: "front_matter", 3: "front_matter", 4: "front_matter",
        6: "title", 7: "title", 9: "intro", 11: "topic", 12: "topic",
        25: "separator", 37: "topic", 38: "topic",
    }


def test_markdown_is_kept_in_answers():
    threads = parse(RECONVERSION).threads
    first = threads[0].answer.text
    assert "- le **Compte personnel de formation** (CPF), consultable sur" in first
    assert "[moncompteformation.gouv.fr](https://www.moncompteformation.gouv.fr)" in first
    assert "- le *projet de transition professionnelle* (PTP) ;" in first
    assert "> Conseil : vérifiez vos droits" in first
    assert "---" not in first  # the separator after the answer is trimmed
    assert "2. Valider le projet par une **enquête métier**." in threads[1].answer.text
    code = threads[2].answer.text
    assert '```python\n# ceci n\'est pas un titre\nprint("Bonjour le monde")\n```' in code


def test_sub_heading_under_a_question_is_part_of_its_answer():
    answer = parse(RECONVERSION).threads[1].answer.text
    assert "#### Exemple" in answer
    assert answer.endswith("a suivi ce parcours en dix-huit mois.")


def test_hash_in_code_block_is_not_a_heading():
    questions = [t.question_text for t in parse(RECONVERSION).threads]
    assert not any("titre" in q for q in questions)


# --- line endings, BOM, detection ------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.stem)
@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_crlf_and_cr_give_the_same_threads(path, newline):
    lf = parse(path)
    data = path.read_bytes().replace(b"\n", newline.encode())
    other = parse_bytes(data, path.name)
    assert other.format == "markdown"
    assert [t.to_dict() for t in other.threads] == [t.to_dict() for t in lf.threads]
    assert other.skipped == lf.skipped
    assert all("\r" not in t.answer.text for t in other.threads if t.answer)


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.stem)
def test_utf8_bom_is_ignored(path):
    lf = parse(path)
    doc = parse_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"), path.name)
    assert doc.title == lf.title
    assert [t.to_dict() for t in doc.threads] == [t.to_dict() for t in lf.threads]


def test_bom_in_text_is_ignored():
    doc = parse_markdown("\ufeff# Titre\n\n## Faut-il une photo ?\nNon.\n", "b.md")
    assert doc.title == "Titre"
    assert shape(doc) == [(3, "Faut-il une photo ?", None, 4, 4)]


def test_markdown_without_heading_gives_no_thread():
    text = "Quelques notes sur la recherche d'emploi.\n\nPas de titre, pas de question ?\n"
    doc = parse_bytes(text.encode(), "notes.md")
    assert doc.format == "markdown"
    assert doc.threads == ()
    assert {s.kind for s in doc.skipped} == {"intro"}
    with pytest.raises(NoQuestionsError):
        require_threads(doc)


def test_detect_format():
    chat = "Modérateur : Bonjour à tous\nJulie : Comment faire ?\nIl faut commencer par…\n"
    assert detect_format("faq.md", chat) == "markdown"
    assert detect_format("FAQ.MARKDOWN", "x") == "markdown"
    md_txt = "# FAQ\n\n## Faut-il une photo ?\nNon.\n\n## Combien de pages ?\nUne.\n"
    assert detect_format("faq.txt", md_txt) == "markdown"
    bold_txt = "**Faut-il une photo ?**\nNon.\n\n**Combien de pages ?**\nUne.\n"
    assert detect_format("faq.txt", bold_txt) == "markdown"
    assert detect_format("chat.txt", chat) == "chat"
    doc = parse_bytes(md_txt.encode(), "faq.txt")
    assert doc.format == "markdown"
    assert shape(doc) == [(3, "Faut-il une photo ?", None, 4, 4), (6, "Combien de pages ?", None, 7, 7)]


def test_parse_file_and_json_round_trip():
    doc = parse_file(CANDIDATURE, format="markdown")
    d = doc.to_dict()
    assert d["format"] == "markdown" and d["title"] == "FAQ : réussir sa candidature"
    assert d["threads"][0]["topic"] == "Le CV"
    assert d["threads"][0]["questions"] == [
        {"speaker": None, "text": "Faut-il mettre une photo sur son CV ?", "line": 8}
    ]
    assert [t.to_dict() for t in Document.from_dict(d).threads] == d["threads"]


def test_thread_ids_are_stable():
    a, b = parse(SALAIRE), parse(SALAIRE)
    assert [t.id for t in a.threads] == [t.id for t in b.threads]
    assert len({t.id for t in a.threads}) == len(a.threads)
    assert a.threads[0].id.startswith("faq-salaire-gras-0-")


# --- structure rules on small documents --------------------------------------------------


def test_topic_is_the_nearest_heading_holding_questions():
    text = "# Guide\n\n## Le CV\n\n### La photo\n\nFacultative.\n\n## Conclusion\n\nBonne recherche !\n"
    doc = parse_markdown(text, "g.md")
    assert doc.title == "Guide"
    # A heading with a body and no sub-question is a thread too ("Conclusion").
    assert shape(doc) == [(5, "La photo", "Le CV", 7, 7), (9, "Conclusion", None, 11, 11)]


def test_several_h1_holding_questions_are_topics_not_title():
    doc = parse_markdown("# Le CV\n## Une photo ?\nNon.\n# L'entretien\n## Quelle tenue ?\nSobre.\n", "t.md")
    assert doc.title is None
    assert shape(doc) == [(2, "Une photo ?", "Le CV", 3, 3), (5, "Quelle tenue ?", "L'entretien", 6, 6)]


def test_lone_h1():
    doc = parse_markdown("# Mes notes\n\nDu texte.\n", "n.md")
    assert (doc.title, doc.threads) == ("Mes notes", ())
    doc = parse_markdown("# Comment négocier son salaire ?\n\nAvec des chiffres.\n", "n.md")
    assert shape(doc) == [(1, "Comment négocier son salaire ?", None, 3, 3)]


def test_flat_h2_questions_under_title_have_no_topic():
    doc = parse_markdown("# FAQ\n\nIntro.\n\n## 1. Faut-il une photo ?\nNon.\n\n## Q2 : Le salaire\nÀ négocier.\n", "f.md")
    assert shape(doc) == [(5, "Faut-il une photo ?", None, 6, 6), (8, "Le salaire", None, 9, 9)]


def test_bold_examples_inside_an_answer_are_not_questions():
    text = (
        "### Quelles questions pose le recruteur ?\nVoici les classiques.\n\n"
        "**Parlez-moi de vous ?**\nRestez bref.\n"
    )
    doc = parse_markdown(text, "e.md")
    assert shape(doc) == [(1, "Quelles questions pose le recruteur ?", None, 2, 5)]


def test_heading_without_body_over_bold_questions_is_their_topic():
    text = "## Les questions pièges\n\n**Parlez-moi de vous ?**\nRestez bref.\n\n**Pourquoi vous ?**\nVos atouts.\n"
    doc = parse_markdown(text, "e.md")
    assert shape(doc) == [
        (3, "Parlez-moi de vous ?", "Les questions pièges", 4, 4),
        (6, "Pourquoi vous ?", "Les questions pièges", 7, 7),
    ]


def test_mix_of_headings_and_bold_questions():
    text = (
        "## Le CV\n\n**Faut-il une photo ?**\nNon.\n\n### Et la date de naissance ?\nInutile.\n\n"
        "## L'entretien\n\n**Quelle tenue choisir ?** Sobre.\n"
    )
    assert shape(parse_markdown(text, "m.md")) == [
        (3, "Faut-il une photo ?", "Le CV", 4, 4),
        (6, "Et la date de naissance ?", "Le CV", 7, 7),
        (11, "Quelle tenue choisir ?", "L'entretien", 11, 11),
    ]


def test_table_of_contents_is_skipped():
    text = "## Sommaire\n\n- [Le CV](#le-cv)\n- [Entretien](#entretien)\n\n## Le CV\n\nTexte.\n"
    doc = parse_markdown(text, "s.md")
    assert shape(doc) == [(6, "Le CV", None, 8, 8)]
    assert {s.line: s.kind for s in doc.skipped} == {1: "toc", 3: "toc", 4: "toc"}


def test_empty_and_non_question_headings_without_body():
    doc = parse_markdown("#\n\n## Contact\n\n## Combien de temps dure la période d'essai\n", "h.md")
    assert shape(doc) == [(5, "Combien de temps dure la période d'essai", None, None, None)]


def test_looks_like_question():
    for text in ("Faut-il une photo", "Comment négocier", "Y a-t-il un âge limite", "Qu'attend le recruteur",
                 "Est-ce utile", "Le salaire ?"):
        assert looks_like_question(text), text
    for text in ("Le CV", "Quelques conseils", "Commentaires", "Conclusion", "Attention"):
        assert not looks_like_question(text), text


# --- robustness and speed ---------------------------------------------------------------

_PIECES = st.sampled_from([
    "# ", "## ", "### ", "**", "__", "?", "\n", "\r\n", "\r", "---", "===", "- ", "1. ", "> ", "```",
    "    ", "Question :", "**Réponse :**", "[a](b)", "`c`", "Faut-il", "Comment", "texte", " ",
    "\ufeff", "\x00", "\u2028", "\t", "<div>", "*", "é", "[x]: /u",
])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.lists(_PIECES, max_size=60).map("".join), st.text(max_size=300)))
def test_never_raises_and_line_numbers_hold(text):
    doc = parse_markdown(text, "fuzz.md")
    lines = re.split(r"\r\n|\r|\n", text[1:] if text.startswith("\ufeff") else text)
    for t in doc.threads:
        assert all(1 <= q.line <= len(lines) and q.text.strip() for q in t.questions)
        if t.answer:
            a = t.answer
            assert 1 <= a.start_line <= a.end_line <= len(lines)
            assert a.text.strip() and a.text.count("\n") == a.end_line - a.start_line
    assert all(1 <= s.line <= len(lines) for s in doc.skipped)


def test_one_megabyte_faq_is_fast():
    base = "".join(p.read_text(encoding="utf-8") for p in ALL_FIXTURES)
    text = (base * (1_000_000 // len(base) + 1))[:1_000_000]
    start = time.perf_counter()
    doc = parse_markdown(text, "big.md")
    elapsed = time.perf_counter() - start
    assert len(doc.threads) > 4000
    assert elapsed < 2.0, f"{elapsed:.2f} s"  # about 0.5 s on the dev machine


def qa(text: str) -> list[tuple[str, str, str | None]]:
    doc = parse_markdown(text, "faq.md")
    return [(t.questions[0].text, t.answer.text if t.answer else "", t.topic) for t in doc.threads]


def test_q_dot_r_dot_pairs_bold_or_plain() -> None:
    assert qa("**Q.** Peut-on négocier le télétravail ?\n\n**R.** Oui, avant de signer.\n") == [
        ("Peut-on négocier le télétravail ?", "Oui, avant de signer.", None)
    ]
    assert qa("**Q.** Peut-on négocier le télétravail ?\n**R.** Oui, avant de signer.\n\nFaites-le inscrire au contrat.\n") == [
        ("Peut-on négocier le télétravail ?", "Oui, avant de signer.\n\nFaites-le inscrire au contrat.", None)
    ]
    assert qa("Q. Peut-on négocier le télétravail ?\n\nR. Oui, avant de signer.\n") == [
        ("Peut-on négocier le télétravail ?", "Oui, avant de signer.", None)
    ]


def test_html_comments_and_closing_resource_sections_are_not_answers() -> None:
    text = (
        "# FAQ\n\n## Faut-il accepter le CSP ?\n\n<!-- source : fiche CSP -->\nOui, en général.\n\n"
        "<!-- TODO : ajouter une question\nsur le préavis -->\n\n## Comment parler de son licenciement ?\n\nSoyez bref.\n\n"
        "## Pour aller plus loin\n\n- le simulateur de France Travail ;\n- les fiches de l'Apec.\n"
    )
    assert qa(text) == [("Faut-il accepter le CSP ?", "Oui, en général.", None), ("Comment parler de son licenciement ?", "Soyez bref.", None)]
    doc = parse_markdown(text, "faq.md")
    assert (doc.threads[1].questions[0].line, doc.threads[1].answer.start_line) == (11, 13)  # line numbers kept through the comments


def test_details_summary_faq_and_bold_question_with_a_colon() -> None:
    text = (
        "# FAQ\n\n## Trouver un emploi\n\n<details>\n<summary>Comment trouver un premier emploi ?</summary>\n\n"
        "Activez votre réseau.\n\n</details>\n\n<details>\n<summary><b>Combien de candidatures par semaine ?</b></summary>\n\n"
        "Cinq à dix.\n\n</details>\n\n## Partir\n\n**Comment calculer son préavis :**\n\nCela dépend de la convention collective.\n"
    )
    assert qa(text) == [
        ("Comment trouver un premier emploi ?", "Activez votre réseau.", "Trouver un emploi"),
        ("Combien de candidatures par semaine ?", "Cinq à dix.", "Trouver un emploi"),
        ("Comment calculer son préavis", "Cela dépend de la convention collective.", "Partir"),
    ]


def test_questions_as_list_items_but_not_lists_inside_answers() -> None:
    text = (
        "# FAQ\n\n## Trouver un poste\n\n- **Faut-il relancer ?**\n\n    Oui, une fois, par courriel.\n\n"
        "- Comment se préparer ?\n    Relisez l'offre.\n1. **Combien de candidatures ?**  \n   Cinq par semaine.\n\n"
        "## Comment réussir l'entretien ?\n\n- **Pourquoi vous ?** : trois arguments.\n- **Vos défauts ?** : un vrai.\n"
    )
    assert qa(text) == [
        ("Faut-il relancer ?", "Oui, une fois, par courriel.", "Trouver un poste"),
        ("Comment se préparer ?", "Relisez l'offre.", "Trouver un poste"),
        ("Combien de candidatures ?", "Cinq par semaine.", "Trouver un poste"),
        ("Comment réussir l'entretien ?", "- **Pourquoi vous ?** : trois arguments.\n- **Vos défauts ?** : un vrai.", None),
    ]
    # a list of questions in a bold question's answer is that answer
    assert qa("**Comment négocier ?**\n\n- **Quel salaire ?** : une fourchette.\n\nFin.\n") == [
        ("Comment négocier ?", "- **Quel salaire ?** : une fourchette.\n\nFin.", None)
    ]


def test_export_leftovers_do_not_reach_questions_or_answers() -> None:
    text = (
        "FAQ emploi\n==========\n\nIntro courte.\n\nFaut-il relancer ?\n==================\n\nOui.\n\n"
        "## ❓ Comment négocier son salaire\n\nAvec une fourchette.\n\n"
        "## Comment calculer son préavis ? {#_Toc152637485}\n\nSelon la convention.\n\n"
        "## []{#_Toc152637486 .anchor}3.1 Peut-on refuser une mutation ?\n\nCela dépend.\n"
    )
    doc = parse_markdown(text, "faq.md")
    assert doc.title == "FAQ emploi"
    assert [(t.questions[0].text, t.answer.text) for t in doc.threads] == [
        ("Faut-il relancer ?", "Oui."),
        ("Comment négocier son salaire", "Avec une fourchette."),
        ("Comment calculer son préavis ?", "Selon la convention."),
        ("Peut-on refuser une mutation ?", "Cela dépend."),
    ]
    text = "1\\. **Faut-il un CV anonyme ?**\n\n**Réponse** : non.\n\n***Comment partir à l'étranger ?***\n\n*R.* Avec un VIE.\n"
    assert qa(text) == [("Faut-il un CV anonyme ?", "non.", None), ("Comment partir à l'étranger ?", "Avec un VIE.", None)]


def test_answered_section_heading_and_quoted_question_in_a_sub_heading() -> None:
    answer = "La période d'essai dure au plus quatre mois pour un cadre, " + "selon la convention collective " * 8
    text = (
        f"# FAQ\n\n## Durée de la période d'essai\n\n{answer}\n\n### Peut-elle être renouvelée ?\n\nUne fois.\n\n"
        "## Que répondre sur ses défauts ?\n\nUn vrai défaut.\n\n#### Exemple de réponse à « Quel est votre principal défaut ? »\n\n"
        "« Je suis parfois trop perfectionniste. »\n"
    )
    assert [(q, a.split("\n")[0][:30], t) for q, a, t in qa(text)] == [
        ("Durée de la période d'essai", answer[:30], None),
        ("Peut-elle être renouvelée ?", "Une fois.", "Durée de la période d'essai"),
        ("Que répondre sur ses défauts ?", "Un vrai défaut.", None),
    ]
    assert looks_like_question("Comment répondre à « Pourquoi vous ? »")
    assert not looks_like_question("Exemple de réponse à « Quel est votre principal défaut ? »")


def test_a_question_in_parentheses_does_not_make_a_section_a_question() -> None:
    text = (
        "# FAQ\n\n## Entretien (que faut-il préparer ?)\n\nLes questions ci-dessous concernent les entretiens.\n\n"
        "### Comment se préparer ?\n\nRelisez l'offre et préparez trois exemples.\n"
    )
    assert qa(text) == [("Comment se préparer ?", "Relisez l'offre et préparez trois exemples.", "Entretien (que faut-il préparer ?)")]
    assert looks_like_question("Faut-il une photo (couleur ou noir et blanc) ?")
    assert looks_like_question("Le CV (deux pages ?) est-il trop long ?")


@pytest.mark.parametrize("marker", ["1.", "-", "2)"])
def test_list_item_questions_answered_at_the_margin(marker: str) -> None:
    text = (
        f"# FAQ stagiaires\n\n{marker} **Comment obtenir ma convention de stage ?**\n\n"
        "La convention est générée par la plateforme de l'école.\n\n"
        f"{marker} Qui signe la convention ?\n\nL'étudiant, l'entreprise et l'école.\n"
    )
    assert qa(text) == [
        ("Comment obtenir ma convention de stage ?", "La convention est générée par la plateforme de l'école.", None),
        ("Qui signe la convention ?", "L'étudiant, l'entreprise et l'école.", None),
    ]


def test_a_lone_question_bullet_in_an_answer_stays_in_it() -> None:
    text = "## Comment préparer un entretien ?\n\nUne seule question compte :\n\n- Pourquoi vous ?\n\nPréparez-la avec des exemples.\n"
    assert qa(text) == [("Comment préparer un entretien ?", "Une seule question compte :\n\n- Pourquoi vous ?\n\nPréparez-la avec des exemples.", None)]


def test_what_closes_a_document_is_not_the_last_answer() -> None:
    text = (
        "# FAQ\n\n## Combien de temps pour contester mon licenciement ?\n\nDouze mois à compter de la notification[^1].\n\n"
        "## Ma clause de non-concurrence est-elle valable ?\n\nSeulement avec une contrepartie financière.\n\n"
        "![schéma][image1]\n\n"
        "## Contacts utiles\n\n- Maison de l'Emploi : 04 72 00 00 00\n\n"
        "[^1]: Article L1471-1 du Code du travail.\n\n"
        "[image1]: <data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB>\n\n"
        "---\n\n*Dernière mise à jour : janvier 2024.*\n"
    )
    assert qa(text) == [
        ("Combien de temps pour contester mon licenciement ?",
         "Douze mois à compter de la notification[^1].\n\n[^1]: Article L1471-1 du Code du travail.", None),
        ("Ma clause de non-concurrence est-elle valable ?", "Seulement avec une contrepartie financière.\n\n![schéma][image1]", None),
    ]
    kinds = {s.line: s.kind for s in parse_markdown(text, "faq.md").skipped}
    assert kinds[17] == kinds[19] == "reference" and kinds[23] == "footer" and kinds[13] == "heading"


def test_a_rule_before_a_long_last_part_keeps_it_in_the_answer() -> None:
    long_tail = " ".join(["Pensez aussi à relancer le recruteur une semaine après l'entretien."] * 5)
    text = f"## Comment relancer ?\n\nPar courriel.\n\n---\n\n{long_tail}\n"
    assert qa(text)[0][1].endswith(long_tail)


def test_a_sheet_whose_sub_headings_are_parts_of_its_answer_is_one_thread() -> None:
    text = (
        "# Fiches pratiques\n\n## Démission et chômage\n\nEn principe, la démission ne donne pas droit au chômage.\n\n"
        "### Les démissions légitimes\n\nSuivre un conjoint, salaires impayés.\n\n"
        "### Le réexamen à 121 jours\n\nAprès 121 jours, demandez un réexamen.\n\n"
        "## Inscription à France Travail\n\nInscrivez-vous dès le lendemain de la fin du contrat.\n"
    )
    assert qa(text) == [
        ("Démission et chômage",
         "En principe, la démission ne donne pas droit au chômage.\n\n### Les démissions légitimes\n\n"
         "Suivre un conjoint, salaires impayés.\n\n### Le réexamen à 121 jours\n\nAprès 121 jours, demandez un réexamen.", None),
        ("Inscription à France Travail", "Inscrivez-vous dès le lendemain de la fin du contrat.", None),
    ]


def test_two_question_headings_in_a_row_share_the_answer_below() -> None:
    text = (
        "## Dois-je déclarer mes heures de bénévolat ?\n## Le bénévolat réduit-il mon allocation ?\n\n"
        "Non : le bénévolat n'a aucun effet sur l'ARE.\n\n## Et sans réponse ?\n\n## Une autre ?\n\nOui.\n"
    )
    doc = parse_markdown(text, "faq.md")
    assert [[q.text for q in t.questions] for t in doc.threads] == [
        ["Dois-je déclarer mes heures de bénévolat ?", "Le bénévolat réduit-il mon allocation ?"],
        ["Et sans réponse ?", "Une autre ?"],
    ]
    assert doc.threads[0].answer.text == "Non : le bénévolat n'a aucun effet sur l'ARE."


def test_an_faq_written_in_html_headings_and_paragraphs() -> None:
    text = (
        "<h2>Questions fréquentes</h2>\n<h3>Comment obtenir ma convention de <b>stage</b> ?</h3>\n"
        "<p>La convention est générée par la plateforme de l'école.</p>\n"
        "<H3 class=\"q\">Qui signe la convention ?</H3>\n<p>L'étudiant, l'entreprise et l'école.</p>\n"
    )
    assert qa(text) == [
        ("Comment obtenir ma convention de stage ?", "La convention est générée par la plateforme de l'école.", "Questions fréquentes"),
        ("Qui signe la convention ?", "L'étudiant, l'entreprise et l'école.", "Questions fréquentes"),
    ]


def test_bold_advice_quoting_a_question_stays_in_the_answer() -> None:
    text = (
        "<details>\n<summary><b>Comment présenter une longue carrière dans une seule entreprise ?</b></summary>\n\n"
        "**1. Découpez votre parcours.** Présentez chaque poste à part.\n\n"
        "**2. Préparez la question « Pourquoi maintenant ? »** Ayez une réponse tournée vers l'avenir.\n\n"
        "Enfin, ne vous excusez jamais de votre fidélité.\n</details>\n"
    )
    [(question, answer, _)] = qa(text)
    assert question == "Comment présenter une longue carrière dans une seule entreprise ?"
    assert "« Pourquoi maintenant ? »** Ayez une réponse" in answer and answer.endswith("fidélité.")


def test_parts_of_an_answer_under_a_question_stay_in_it_even_named_rendez_vous() -> None:
    text = (
        "# FAQ\n\n## Candidater\n\n### Le service peut-il relire ma candidature ?\n\nOui, sur rendez-vous.\n\n"
        "#### Ateliers collectifs\n\nDeux heures en petit groupe.\n\n#### Rendez-vous individuels\n\nTrente minutes.\n\n"
        "### Où trouver des offres ?\n\nSur La bonne alternance.\n"
    )
    assert [(q, t) for q, _, t in qa(text)] == [
        ("Le service peut-il relire ma candidature ?", "Candidater"), ("Où trouver des offres ?", "Candidater"),
    ]
    assert qa(text)[0][1].endswith("#### Rendez-vous individuels\n\nTrente minutes.")
    assert not looks_like_question("Renseignez-vous auprès de votre OPCO") and looks_like_question("Pouvez-vous relire mon CV")


def test_list_questions_under_a_question_heading_with_no_text_of_its_own() -> None:
    text = (
        "# Bilan\n\n## Le bilan, c'est quoi ?\n\n1. **À quoi sert un bilan ?**\n\n   À définir un projet.\n\n"
        "2. **Combien de temps dure-t-il ?**\n\n   24 heures au maximum.\n"
    )
    assert qa(text) == [
        ("À quoi sert un bilan ?", "À définir un projet.", "Le bilan, c'est quoi ?"),
        ("Combien de temps dure-t-il ?", "24 heures au maximum.", "Le bilan, c'est quoi ?"),
    ]


@pytest.mark.parametrize(
    "ending",
    [
        "## Licence\n\nContenu publié sous licence CC BY-SA 4.0.\n",
        "## Une question ? Contactez-nous\n\nTéléphone : 04 78 00 00 00.\n",
        "---\n\n**Vous avez une autre question ?**\n\nÉcrivez-nous à contact@exemple.org.\n\n*Association Tremplin — Lyon*\n",
    ],
)
def test_how_to_reach_the_authors_is_not_a_thread(ending: str) -> None:
    text = f"# FAQ\n\n## Qui peut faire un bilan ?\n\nTous les actifs.\n\n{ending}"
    assert qa(text) == [("Qui peut faire un bilan ?", "Tous les actifs.", None)]


def test_pandoc_tables_and_wrapped_footnotes() -> None:
    text = (
        "## Quelle est la durée de mon préavis ?\n\nElle dépend de votre statut :\n\n"
        "  ------------------------------------\n  Statut        Préavis\n  ------------- ----------------------\n"
        "  Employés      1 mois\n\n  Cadres        3 mois\n  ------------------------------------\n\n"
        "Le préavis se compte de date à date[^1].\n\n## Puis-je être dispensé de préavis ?\n\nOui, sur demande écrite.\n\n"
        "[^1]: Voir l'article L1234-1 du Code du travail, relatif au\n    préavis de licenciement.\n"
    )
    [(q1, a1, _), (q2, a2, _)] = qa(text)
    assert (q1, q2, a2) == ("Quelle est la durée de mon préavis ?", "Puis-je être dispensé de préavis ?", "Oui, sur demande écrite.")
    assert "Cadres        3 mois" in a1 and "date à date[^1]." in a1
    assert a1.endswith("[^1]: Voir l'article L1234-1 du Code du travail, relatif au préavis de licenciement.")
