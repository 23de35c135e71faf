"""Chat transcript parser: the seed's threads exactly, every layout and behaviour, encodings.

The fixtures in ``tests/fixtures/`` are original transcripts, one layout each:
- ``chat-horodate-entretien.txt``: ``[14:02] pseudo : …`` (and ``[14:12:30]``), expert with a
  role label speaking in several messages, moderator relaying a question;
- ``chat-tirets-reconversion.txt``: ``18:02 - Question de X : …``, moderator's question;
- ``chat-sans-prefixe-salaire.txt``: the Apec layout (expert unprefixed), answer labels;
- ``chat-questions-reponses-cv.txt``: ``Q :``/``R :`` and ``Question :``/``Réponse :``;
- ``chat-blocs-bilan.txt``: ``Name (14:02) :`` alone on a line, message below, blank lines.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkb.chat import parse_chat
from chatkb.errors import NoQuestionsError
from chatkb.parse import parse_bytes, parse_file, require_threads
from chatkb.records import Document

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "corpus" / "apec-chat-reseaux-sociaux.txt"
FIXTURES = ROOT / "tests" / "fixtures"
ALL_FIXTURES = sorted(FIXTURES.glob("chat-*.txt"))


def shape(doc: Document) -> list[tuple[list[tuple[int, str | None]], tuple[int, int] | None]]:
    """Threads as ([(question line, speaker)], (answer start, end) or None)."""
    return [
        (
            [(q.line, q.speaker) for q in t.questions],
            (t.answer.start_line, t.answer.end_line) if t.answer else None,
        )
        for t in doc.threads
    ]


def skipped_kinds(doc: Document) -> dict[int, str]:
    return {s.line: s.kind for s in doc.skipped}


def parse_fixture(name: str) -> Document:
    return parse_file(FIXTURES / name, format="chat")


def parse_lines(text: str) -> Document:
    return parse_chat(text.split("\n"), "inline.txt")


# --------------------------------------------------------------------------- the seed

SEED_THREADS = [
    ([(12, "Chenatlia")], (13, 21)),
    ([(22, "julienceindrial")], (23, 27)),
    ([(28, "Chenatlia"), (29, "AndréaM"), (30, "Satolas")], (31, 45)),
    ([(46, "Adeline"), (47, "Stéphane Barsacq")], (48, 50)),
    ([(51, "AndréaM")], (52, 56)),
    ([(57, "D.Peixoto")], (58, 63)),
    ([(64, "D.Peixoto"), (65, "AndréaM")], (66, 85)),
    ([(86, "D.Peixoto")], (87, 90)),
    ([(91, "mamzelleb")], (92, 101)),
    ([(102, "D.Peixoto")], (103, 109)),
    ([(110, None)], (111, 111)),
]


@pytest.fixture(scope="module")
def seed() -> Document:
    return parse_file(SEED, format="chat")


def test_seed_threads_exactly(seed: Document) -> None:
    assert shape(seed) == SEED_THREADS


def test_seed_preamble_greetings_and_moderator_are_skipped_with_a_kind(seed: Document) -> None:
    kinds = skipped_kinds(seed)
    assert sorted(kinds) == list(range(1, 12))
    assert all(kinds[n] == "greeting" for n in range(7, 12))
    assert kinds[5] == "moderator"  # "nous avons le plaisir d'accueillir …"
    assert kinds[6] == "expert_greeting"
    assert kinds[1] == "preamble"


def test_seed_answer_labels_stay_in_answers(seed: Document) -> None:
    t3, t4, t7 = seed.threads[2], seed.threads[3], seed.threads[6]
    assert "\nMon conseil : ne choisissez pas forcément a priori !\n" in t3.answer.text
    assert "\nPremier réflexe : allez sur Google" in t4.answer.text
    assert "\nPremière étape : \"Social Media Monitoring\"" in t7.answer.text
    for n in range(2, 8):
        assert f"\n{n}ème étape : " in t7.answer.text
    assert "4ème étape : Quelles cibles ? Pour toucher qui ?" in t7.answer.text


def test_seed_lowercase_continuation_is_joined(seed: Document) -> None:
    t9 = seed.threads[8]
    assert "lesquels sont utilisés par l'entreprise et pourquoi, comment s'y exprimer au nom de son entreprise, ..." in t9.answer.text
    assert "\ncomment s'y exprimer" not in t9.answer.text


def test_seed_expert_title_and_answer_speaker(seed: Document) -> None:
    assert seed.expert == "Jean-Christophe Anna"
    assert seed.title == "Chat Conseil Apec : les Réseaux sociaux"
    assert {t.answer.speaker for t in seed.threads} == {"Jean-Christophe Anna"}


def test_seed_texts_have_no_prefix(seed: Document) -> None:
    assert seed.threads[0].questions[0].text == "Comment rendre son profil visible sur internet ?"
    assert seed.threads[10].questions[0].text == "Merci Jean-Christophe, le mot de la fin ?"
    assert seed.threads[0].answer.text.startswith("Internet vous permet en effet")
    assert seed.threads[0].answer.text.endswith("Et à connecter vos différentes présences entre elles !")
    assert seed.threads[0].answer.text.count("\n") == 8  # lines 13–21, one per line


def test_seed_ids_are_stable_and_unique(seed: Document) -> None:
    again = parse_file(SEED, format="chat")
    assert [t.id for t in seed.threads] == [t.id for t in again.threads]
    assert len({t.id for t in seed.threads}) == 11
    assert seed.threads[0].id.startswith("apec-chat-reseaux-sociaux-0-")
    assert [t.position for t in seed.threads] == list(range(11))


def test_seed_json_contract(seed: Document) -> None:
    d = seed.to_dict()
    assert d["format"] == "chat"
    t = d["threads"][2]
    assert set(t) == {"id", "questions", "answer", "topic"}
    assert t["questions"][1] == {"speaker": "AndréaM", "text": "Faut-il être présents sur tous, sur certains seulement ?", "line": 29}
    assert {k: t["answer"][k] for k in ("speaker", "start_line", "end_line")} == {
        "speaker": "Jean-Christophe Anna", "start_line": 31, "end_line": 45,
    }
    back = Document.from_dict(d).threads
    assert [(t.id, t.questions, t.answer) for t in back] == [(t.id, t.questions, t.answer) for t in seed.threads]


# --------------------------------------------------------------------------- the fixtures, exactly


def test_bracket_timestamps_layout() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    assert shape(doc) == [
        ([(7, "kevin_l")], (8, 16)),
        ([(17, "Sandrine B."), (18, "marc.durand")], (19, 22)),
        ([(24, "Paul")], (25, 27)),
        ([(28, "AudeR")], (29, 30)),
        ([(32, "julien_83")], None),
    ]
    assert doc.threads[0].questions[0].text == "Comment préparer un entretien quand on n'a que deux jours devant soi ?"
    assert "[14:" not in "".join(t.answer.text for t in doc.threads if t.answer)


def test_timestamps_with_seconds() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    t4 = doc.threads[3]
    assert t4.questions[0].text.startswith("Bonjour, je souhaiterais savoir comment relancer")
    assert t4.answer.text == (
        "Une semaine après l'entretien, un court mail suffit.\n"
        "Rappelez votre intérêt pour le poste et un élément précis de l'échange."
    )


def test_dash_timestamps_and_question_de_labels() -> None:
    doc = parse_fixture("chat-tirets-reconversion.txt")
    assert shape(doc) == [
        ([(7, "Karim")], (8, 10)),
        ([(11, "Lucie_M")], (12, 16)),
        ([(18, "Hélène")], (19, 20)),
        ([(22, "Thomas")], (23, 24)),
        ([(25, "Animateur")], (26, 26)),
    ]
    assert doc.threads[3].questions[0].text == "Faut-il démissionner avant de se reconvertir ?"
    assert doc.title == "Chat Conseil Apec – Se reconvertir après 40 ans"


def test_apec_layout_fixture() -> None:
    doc = parse_fixture("chat-sans-prefixe-salaire.txt")
    assert shape(doc) == [
        ([(8, "Fabrice")], (9, 11)),
        ([(12, "lea.martin")], (13, 16)),
        ([(17, "Sophie Lemoine"), (18, "Olivier34")], (19, 21)),
        ([(23, "Paul")], (24, 25)),
        ([(26, None)], (27, 27)),
        ([(28, "Karima")], None),
    ]
    assert doc.expert == "Hélène Garnier"
    assert doc.title == "Chat Apec : la négociation salariale"
    assert sorted(skipped_kinds(doc)) == [1, 2, 3, 4, 5, 6, 7, 22]


def test_q_r_and_question_reponse_forms() -> None:
    doc = parse_fixture("chat-questions-reponses-cv.txt")
    assert shape(doc) == [
        ([(4, None)], (5, 6)),
        ([(8, None)], (9, 11)),
        ([(13, None)], (14, 14)),
        ([(16, None)], (17, 18)),
        ([(20, None)], None),
    ]
    assert doc.threads[0].questions[0].text == "Faut-il mettre une photo sur son CV ?"
    assert doc.threads[0].answer.text.startswith("Ce n'est pas obligatoire en France.\nSi vous en mettez une")
    assert doc.threads[2].answer.text.startswith("Sans la cacher : indiquez")
    assert "\nAstuce : un titre de CV" in doc.threads[1].answer.text
    assert doc.expert == "Claire Besson"
    assert {t.answer.speaker for t in doc.threads if t.answer} == {"Claire Besson"}


def test_name_with_time_alone_on_its_line_then_message_below() -> None:
    doc = parse_fixture("chat-blocs-bilan.txt")
    assert shape(doc) == [([(9, "Marc-Antoine")], (12, 17)), ([(22, "Marc-Antoine")], None)]
    assert doc.threads[0].questions[0].text == "Combien de temps dure un bilan de compétences ?"
    assert doc.threads[0].answer.text.endswith("Important : le bilan est confidentiel, votre employeur n'en connaît pas les résultats.")
    assert doc.expert == "Isabelle Fournier"
    assert {6, 7, 19, 20} <= set(skipped_kinds(doc))


# --------------------------------------------------------------------------- one behaviour each


def test_expert_named_with_role_speaks_in_several_messages() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    answer = doc.threads[0].answer
    assert doc.expert == "Nathalie Roche"
    assert answer.speaker == "Nathalie Roche"
    assert answer.text.startswith("Deux jours, c'est suffisant si vous vous organisez.\nCommencez par relire")
    assert "Enfin, entraînez-vous à voix haute" in answer.text  # 4th message of the same answer
    assert "(consultante)" not in answer.text


def test_bullet_lines_stay_in_their_message() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    assert (
        "listez :\n- les trois compétences clés demandées,\n- les réalisations qui les prouvent,\n"
        "- les questions que vous voulez poser.\n"
    ) in doc.threads[0].answer.text
    doc = parse_fixture("chat-tirets-reconversion.txt")
    assert "existent :\n- le compte personnel de formation,\n- le projet" in doc.threads[1].answer.text


def test_lowercase_continuation_lines_are_joined() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    assert "sans gravité pour le poste, et montrez ce que vous faites pour le corriger." in doc.threads[1].answer.text
    doc = parse_fixture("chat-sans-prefixe-salaire.txt")
    assert "affichent une fourchette, et bien sûr votre réseau." in doc.threads[1].answer.text


def test_question_left_unanswered_at_the_end() -> None:
    for name, line in [
        ("chat-horodate-entretien.txt", 32),
        ("chat-sans-prefixe-salaire.txt", 28),
        ("chat-questions-reponses-cv.txt", 20),
        ("chat-blocs-bilan.txt", 22),
    ]:
        last = parse_fixture(name).threads[-1]
        assert last.questions[0].line == line and last.answer is None, name


def test_question_relayed_by_the_moderator() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    q = doc.threads[2].questions[0]
    assert (q.speaker, q.text) == ("Paul", "un entretien en visio se prépare-t-il différemment ?")
    doc = parse_fixture("chat-sans-prefixe-salaire.txt")
    q = doc.threads[3].questions[0]
    assert (q.speaker, q.text) == ("Paul", "faut-il accepter une baisse de salaire pour changer de secteur ?")


def test_participant_thank_you_is_not_a_question() -> None:
    assert skipped_kinds(parse_fixture("chat-horodate-entretien.txt"))[23] == "thanks"
    assert skipped_kinds(parse_fixture("chat-sans-prefixe-salaire.txt"))[22] == "thanks"
    # even under a "Question de X :" label
    assert skipped_kinds(parse_fixture("chat-tirets-reconversion.txt"))[17] == "thanks"


def test_greeting_in_the_middle_does_not_cut_the_answer() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    assert skipped_kinds(doc)[15] == "greeting"  # "Sandrine B. : Bonjour à tous", mid-answer
    assert (doc.threads[0].answer.start_line, doc.threads[0].answer.end_line) == (8, 16)
    assert "Bonjour à tous" not in doc.threads[0].answer.text
    doc = parse_fixture("chat-tirets-reconversion.txt")
    assert skipped_kinds(doc)[21] == "moderator"  # "Bonjour aux personnes qui viennent de nous rejoindre !"


def test_answer_labels_attention_exemple_regle_dor() -> None:
    salaire = parse_fixture("chat-sans-prefixe-salaire.txt")
    assert "\nAttention : évitez d'en parler" in salaire.threads[0].answer.text
    assert "\nExemple : pour un poste de contrôleur" in salaire.threads[1].answer.text
    assert "\nMa règle d'or : visez le haut" in salaire.threads[1].answer.text
    assert "\nDeuxième piste : si le salaire fixe" in salaire.threads[2].answer.text
    horodate = parse_fixture("chat-horodate-entretien.txt")
    assert "\nExemple : « J'ai réduit" in horodate.threads[0].answer.text
    assert "\nMa règle d'or : renseignez-vous" in horodate.threads[1].answer.text
    tirets = parse_fixture("chat-tirets-reconversion.txt")
    assert "\nAttention : une démission" in tirets.threads[3].answer.text


def test_several_questions_in_a_row_share_one_answer() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    assert [q.speaker for q in doc.threads[1].questions] == ["Sandrine B.", "marc.durand"]
    doc = parse_fixture("chat-sans-prefixe-salaire.txt")
    assert [q.speaker for q in doc.threads[2].questions] == ["Sophie Lemoine", "Olivier34"]


def test_question_beginning_with_a_greeting_is_a_question() -> None:
    doc = parse_fixture("chat-sans-prefixe-salaire.txt")
    q = doc.threads[2].questions[0]  # no question mark at all
    assert q.text == "Bonjour, je suis en CDD depuis un an et mon employeur me propose un CDI au même salaire."
    doc = parse_fixture("chat-horodate-entretien.txt")
    assert doc.threads[3].questions[0].speaker == "AudeR"


def test_moderator_unprefixed_question_has_no_speaker() -> None:
    doc = parse_fixture("chat-sans-prefixe-salaire.txt")
    t = doc.threads[4]
    assert [(q.line, q.speaker, q.text) for q in t.questions] == [(26, None, "Merci Hélène, un dernier conseil pour conclure ?")]
    assert t.answer.text == "Ne sous-estimez jamais votre valeur : un salaire se prépare comme un entretien."


def test_moderator_announcements_and_sign_off_are_not_answers() -> None:
    doc = parse_fixture("chat-horodate-entretien.txt")
    kinds = skipped_kinds(doc)
    assert (kinds[2], kinds[3], kinds[31]) == ("moderator", "moderator", "moderator")
    doc = parse_lines(
        "Sophie : Comment rédiger une lettre de motivation ?\n"
        "Faites court : trois paragraphes suffisent.\n"
        "Merci à notre experte pour ses réponses, le chat est maintenant terminé !"
    )
    assert shape(doc) == [([(1, "Sophie")], (2, 2))]
    assert skipped_kinds(doc) == {3: "moderator"}


def test_pseudos_with_dots_digits_spaces_and_accents() -> None:
    doc = parse_lines(
        "Jérôme.B : Comment se préparer à un entretien collectif ?\n"
        "Observez, écoutez les autres et prenez la parole au bon moment.\n"
        "marie_2024 : Faut-il envoyer un CV en PDF ?\n"
        "Oui, toujours en PDF pour garder la mise en page.\n"
        "Anne-Sophie Le Goff : je voudrais savoir comment valoriser un congé parental\n"
        "Présentez-le simplement, avec ce que vous avez appris.\n"
        "Élodie : Bonjour, quel est le bon moment pour postuler ?\n"
        "Le mardi matin, selon plusieurs études."
    )
    assert shape(doc) == [
        ([(1, "Jérôme.B")], (2, 2)),
        ([(3, "marie_2024")], (4, 4)),
        ([(5, "Anne-Sophie Le Goff")], (6, 6)),
        ([(7, "Élodie")], (8, 8)),
    ]


def test_labels_are_decided_by_shape_not_by_a_word_list() -> None:
    """Labels no file here uses: determiners, ordinals, prepositions, noun + adjective."""
    doc = parse_lines(
        "Lou Tran : Comment préparer une reconversion vers les métiers du soin ?\n"
        "Commencez par une immersion.\n"
        "Point important : renseignez-vous sur les concours.\n"
        "Troisième piste : la validation des acquis.\n"
        "1er réflexe : parler à des professionnels.\n"
        "Notre recommandation : un bilan de compétences.\n"
        "Pour aller plus loin : consultez les fiches métiers.\n"
        "Bon à savoir : certaines formations sont rémunérées.\n"
        "En résumé : prenez votre temps.\n"
        "Les deux erreurs à éviter : démissionner trop tôt et se former seul.\n"
        "Marie-Claire : Et pour les plus de 50 ans ?\n"
        "C'est possible aussi."
    )
    assert shape(doc) == [([(1, "Lou Tran")], (2, 10)), ([(11, "Marie-Claire")], (12, 12))]


def test_capitalised_labels_in_a_list_stay_in_the_answer() -> None:
    doc = parse_lines(
        "Yannick : Quels sites utiliser pour chercher un stage ?\n"
        "Trois sites sont utiles :\n"
        "Linkedin : soignez votre profil.\n"
        "Indeed : créez des alertes.\n"
        "Welcome : regardez les vidéos d'entreprise.\n"
        "Ensuite, relancez les entreprises."
    )
    assert shape(doc) == [([(1, "Yannick")], (2, 6))]


def test_timestamped_file_a_line_without_timestamp_continues_the_message() -> None:
    doc = parse_lines(
        "[09:00] Julie Martin (consultante) : Bonjour à tous !\n"
        "[09:01] Rémi : Comment négocier une rupture conventionnelle ?\n"
        "[09:02] Julie Martin (consultante) : Préparez vos arguments.\n"
        "Conseil : chiffrez ce que vous demandez.\n"
        "Rémi : cette ligne sans horodatage continue le message.\n"
        "[09:03] Rémi : Merci !"
    )
    assert shape(doc) == [([(2, "Rémi")], (3, 5))]
    assert doc.threads[0].answer.text.endswith("Rémi : cette ligne sans horodatage continue le message.")


def test_expert_found_from_who_answers_when_not_named() -> None:
    doc = parse_lines(
        "14:00 - Léa : Bonjour, j'ai une question sur le portage salarial, est-ce adapté à un cadre ?\n"
        "14:01 - Martine : Le portage convient bien aux cadres expérimentés qui veulent garder un statut de salarié.\n"
        "14:02 - Martine : Il faut cependant un niveau de facturation suffisant pour que ce soit intéressant.\n"
        "14:03 - Hugo : Et pour un premier emploi ?\n"
        "14:04 - Martine : C'est plus difficile, les sociétés de portage demandent en général de l'expérience.\n"
        "14:05 - Léa : Merci beaucoup !"
    )
    assert shape(doc) == [([(1, "Léa")], (2, 3)), ([(4, "Hugo")], (5, 5))]
    assert doc.expert == "Martine"


def test_header_lines_are_not_questions() -> None:
    doc = parse_lines(
        "Chat Conseil Apec : Le bilan de mi-carrière\n"
        "Date : 12 mars\n"
        "Invitée : Pascale Morin, consultante\n"
        "bernard.t : À 50 ans, est-il trop tard pour changer de métier ?\n"
        "Non, il n'est jamais trop tard !"
    )
    assert shape(doc) == [([(4, "bernard.t")], (5, 5))]
    assert doc.expert == "Pascale Morin"
    assert doc.title == "Chat Conseil Apec : Le bilan de mi-carrière"


def test_system_lines_are_skipped() -> None:
    doc = parse_lines(
        "Paul : Comment trouver une alternance ?\n"
        "Commencez tôt, dès le mois de février.\n"
        "*** Inès a rejoint le salon ***\n"
        "Inès : Bonjour"
    )
    assert shape(doc) == [([(1, "Paul")], (2, 2))]
    assert skipped_kinds(doc) == {3: "system", 4: "greeting"}


def test_transcript_without_question_has_zero_threads() -> None:
    text = (
        "Compte rendu de la réunion d'information Apec.\n"
        "Bonjour à toutes et à tous.\n"
        "Paul : Bonjour\n"
        "Inès : Merci !\n"
        "La séance est terminée.\n"
    )
    doc = parse_bytes(text.encode("utf-8"), "sans-question.txt", format="chat")
    assert doc.threads == ()
    assert doc.format == "chat"
    with pytest.raises(NoQuestionsError):
        require_threads(doc)


@pytest.mark.parametrize("lines", [[], [""], ["   "], ["?"], [":"], ["Paul :"], ["Q :", "R :"], ["\x00\x01"]])
def test_degenerate_inputs_do_not_raise(lines: list[str]) -> None:
    doc = parse_chat(lines, "x.txt")
    assert all(q.text for t in doc.threads for q in t.questions)


# --------------------------------------------------------------------------- encodings

ENCODING_TEXT = (
    "Chat Apec : l’été, saison des candidatures\n"
    "Bonjour, nous avons le plaisir d'accueillir Hélène Dupré, consultante Apec.\n"
    "Zoé : Bonjour à tous\n"
    "Gaël : Faut-il relancer un recruteur après une candidature spontanée ?\n"
    "Oui, une semaine après, par un court message.\n"
    "Précisez le poste visé et votre disponibilité à échanger,\n"
    "même brièvement.\n"
    "Zoé : Merci beaucoup pour ces conseils !\n"
)
EXPECTED_ENCODING_SHAPE = [([(4, "Gaël")], (5, 7))]


@pytest.mark.parametrize(
    "name, data",
    [
        ("utf8", ENCODING_TEXT.encode("utf-8")),
        ("utf8-bom", b"\xef\xbb\xbf" + ENCODING_TEXT.encode("utf-8")),
        ("cp1252", ENCODING_TEXT.encode("cp1252")),
        ("latin-1", ENCODING_TEXT.replace("’", "'").encode("latin-1")),
        ("crlf", ENCODING_TEXT.replace("\n", "\r\n").encode("utf-8")),
        ("cp1252-crlf", ENCODING_TEXT.replace("\n", "\r\n").encode("cp1252")),
        ("bom-crlf", b"\xef\xbb\xbf" + ENCODING_TEXT.replace("\n", "\r\n").encode("utf-8")),
    ],
)
def test_encodings_and_line_endings(name: str, data: bytes) -> None:
    doc = parse_bytes(data, f"{name}.txt", format="chat")
    assert shape(doc) == EXPECTED_ENCODING_SHAPE
    assert doc.expert == "Hélène Dupré"
    assert doc.threads[0].questions[0].text == "Faut-il relancer un recruteur après une candidature spontanée ?"
    assert doc.threads[0].answer.text.endswith("disponibilité à échanger, même brièvement.")
    assert doc.title.startswith("Chat Apec : l")
    assert "\r" not in doc.threads[0].answer.text and "\ufeff" not in (doc.title or "")


def test_mixed_line_endings_keep_line_numbers() -> None:
    lines = ENCODING_TEXT.split("\n")
    endings = ["\r\n", "\n", "\r", "\r\n", "\n", "\r", "\n", "\r\n"]
    data = "".join(ln + end for ln, end in zip(lines, endings)).encode("utf-8")
    doc = parse_bytes(data, "mixed.txt", format="chat")
    assert shape(doc) == EXPECTED_ENCODING_SHAPE


def test_seed_file_in_cp1252_with_crlf_gives_the_same_threads() -> None:
    data = SEED.read_text(encoding="utf-8").replace("\n", "\r\n").encode("cp1252")
    doc = parse_bytes(data, "apec-chat-reseaux-sociaux.txt", format="chat")
    assert shape(doc) == SEED_THREADS
    assert doc.expert == "Jean-Christophe Anna"


# --------------------------------------------------------------------------- invariants, fuzzing, speed


def _check_invariants(doc: Document, lines: list[str], *, full_cover: bool) -> None:
    """Line numbers in range, questions before their answer, no line in two threads."""
    n = len(lines)
    claimed: set[int] = set()
    starts = [min(q.line for q in t.questions) for t in doc.threads] + [n + 1]
    for i, t in enumerate(doc.threads):
        assert t.questions
        assert all(1 <= q.line <= n and q.text for q in t.questions)
        # an unanswered question may run on below its line, up to the next thread
        end = t.answer.end_line if t.answer else starts[i + 1] - 1
        if t.answer:
            assert 1 <= t.answer.start_line <= t.answer.end_line <= n
            assert max(q.line for q in t.questions) < t.answer.start_line
        span = set(range(min(q.line for q in t.questions), end + 1))
        assert not span & claimed
        claimed |= span
    skipped = {s.line for s in doc.skipped}
    assert all(1 <= s <= n for s in skipped)
    if full_cover:  # every non-blank line is in a thread or skipped
        assert {i + 1 for i, ln in enumerate(lines) if ln.strip()} <= claimed | skipped


@pytest.mark.parametrize("path", [SEED, *ALL_FIXTURES], ids=lambda p: p.name)
def test_invariants_on_every_transcript(path: Path) -> None:
    doc = parse_file(path, format="chat")
    _check_invariants(doc, list(doc.lines), full_cover=True)


_FRAGMENTS = st.sampled_from([
    "Paul", "D.Peixoto", "Mon conseil", "Q", "R", "Question", "Réponse", "Modérateur", "Nathalie Roche (consultante)",
    "[14:02]", "14:02 -", "(14:02)", " : ", ":", "?", "Bonjour", "merci", "- ", "Une question de Paul : ", "é",
    "\u00a0:", "<Paul>", "Question de ", "Merci Nathalie, ", "accueillir Jean Dupont", "***", "\t", "2ème étape",
    "http://x", "14h02 :", "İ", "ﬁ", "…",
])
_LINE = st.one_of(
    st.text(max_size=40).map(lambda s: s.replace("\n", " ").replace("\r", " ")),
    st.lists(_FRAGMENTS, max_size=6).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_LINE, max_size=25))
def test_parser_never_raises_and_keeps_invariants(lines: list[str]) -> None:
    doc = parse_chat(lines, "fuzz.txt")
    _check_invariants(doc, lines, full_cover=False)


def test_parse_time_for_10000_lines() -> None:
    seed = SEED.read_text(encoding="utf-8").split("\n")[:111]
    lines = list(seed[:11])
    k = 0
    while len(lines) < 10_000:  # distinct lines, so no cache flatters the figure
        k += 1
        lines.extend(f"{ln} ({k})" for ln in seed[11:])
    lines = lines[:10_000]
    runs = [_timed(lines) for _ in range(3)]
    cpu = min(c for c, _ in runs)
    wall = min(w for _, w in runs)
    print(f"\nparse_chat: 10,000 lines in {cpu * 1000:.0f} ms CPU ({wall * 1000:.0f} ms wall)")
    assert cpu < 1.0  # CPU time: the machines are shared, wall time is noisy


def _timed(lines: list[str]) -> tuple[float, float]:
    from chatkb import chat

    chat._fold.cache_clear()
    wall, cpu = time.perf_counter(), time.process_time()
    doc = parse_chat(lines, "big.txt")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(doc.threads) > 900
    return cpu, wall


def test_parse_time_grows_linearly_when_answers_go_by_name() -> None:
    """Two askers a thread, the expert answering one by name: the other waits for an answer by
    name. The waiting questions were scanned for every answer line: 2.8 s for a 1.4 MB chat,
    four times the time of half of it."""
    from chatkb import chat

    def lines(n: int) -> list[str]:
        out = [SOPHIE.strip()]
        for k in range(1, n):
            out += [f"Karim : Comment négocier mon salaire numéro {k} ?", f"Marie : Et pour le variable {k} ?",
                    f"Marie, le variable se négocie aussi ({k})."] + [f"Avec des chiffres du marché ({k}, {j})." for j in range(4)]
        return out

    def cpu(n: int) -> float:
        text = lines(n)
        chat._fold.cache_clear()
        t0 = time.process_time()
        doc = parse_chat(text, "big.txt")
        assert len(doc.threads) == n - 1 and [q.speaker for q in doc.threads[0].questions] == ["Karim", "Marie"]
        return time.process_time() - t0

    small, large = min(cpu(1_500) for _ in range(2)), min(cpu(3_000) for _ in range(2))
    print(f"\nanswers by name: 10,500 lines in {small:.2f} s CPU, 21,000 in {large:.2f} s")
    assert large < 3 * small


def test_demande_inside_an_answer_is_not_a_relayed_question() -> None:
    # "Paul demande : …" relays a question; "vos demandes", "lui demander", "La demande …" are
    # answer lines (a held-out transcript had its answers cut in three by them).
    doc = parse_lines(
        "Bonjour à toutes et à tous, nous avons le plaisir d'accueillir Anne Roux, Consultante Apec.\n"
        "alice : Comment préparer mon entretien annuel ?\n"
        "Relisez vos objectifs de l'an dernier.\n"
        "Préparez aussi vos demandes : une formation, un nouveau périmètre.\n"
        "Vous pouvez lui demander un entretien dédié.\n"
        "La demande doit être écrite.\n"
        "Paul demande : faut-il accepter une baisse de salaire ?\n"
        "Pas forcément.\n"
        "Sophie nous demande comment relancer un recruteur ?\n"
        "Par téléphone."
    )
    assert shape(doc) == [([(2, "alice")], (3, 6)), ([(7, "Paul")], (8, 8)), ([(9, "Sophie")], (10, 10))]
    assert doc.threads[1].questions[0].text == "faut-il accepter une baisse de salaire ?"
    assert doc.threads[2].questions[0].text == "comment relancer un recruteur ?"


APEC_HEAD = "Bonjour à tous, nous avons le plaisir d'accueillir Anne Martin, consultante Apec.\n"


def test_pseudo_of_a_first_name_and_a_number_speaks() -> None:
    doc = parse_lines(
        APEC_HEAD + "paul75 : Comment préparer un entretien ?\n"
        "Préparez trois exemples concrets.\n"
        "Mélanie 31 : Comment valoriser une alternance sur le CV ?\n"
        "Présentez-la dans la rubrique Expérience, avec des résultats.\n"
        "Étape 1 : listez vos missions.\n"
        "Article 12 : la convention collective le prévoit."
    )
    assert shape(doc) == [([(2, "paul75")], (3, 3)), ([(4, "Mélanie 31")], (5, 7))]


def test_a_list_of_names_with_descriptions_stays_in_the_answer() -> None:
    doc = parse_lines(
        APEC_HEAD + "paul75 : Comment financer le démarrage ?\n"
        "Plusieurs réseaux peuvent vous aider :\n"
        "Initiative France : des prêts d'honneur à taux zéro.\n"
        "Réseau Entreprendre : des prêts plus importants, avec un mentor.\n"
        "Pensez aussi à votre banque.\n"
        "Stéphane Barsacq : Et pour un cadre au chômage, est-ce possible ?\n"
        "Oui, l'ARCE peut aider."
    )
    assert shape(doc) == [([(2, "paul75")], (3, 6)), ([(7, "Stéphane Barsacq")], (8, 8))]


def test_numbered_question_labels_in_an_answer_are_not_a_qr_layout() -> None:
    doc = parse_lines(
        APEC_HEAD + "paul75 : Par où commencer mon projet de création ?\n"
        "Posez-vous trois questions.\n"
        "Question n°1 : qui sont vos clients ?\n"
        "Question n°2 : qui sont vos concurrents ?\n"
        "Ensuite, rédigez un business plan."
    )
    assert shape(doc) == [([(2, "paul75")], (3, 6))]


@pytest.mark.parametrize(
    "announcement",
    [
        "Il nous reste un quart d'heure, n'hésitez pas à poser vos dernières questions !",
        "Il nous reste une vingtaine de minutes, profitez-en pour poser vos questions !",
        "Il nous reste un peu plus d'une demi-heure, et encore beaucoup de questions en attente...",
    ],
)
def test_time_left_announcement_is_not_part_of_the_answer(announcement: str) -> None:
    doc = parse_lines(
        APEC_HEAD + "paul75 : Faut-il annoncer un chiffre précis ?\n"
        "Oui, un chiffre précis, légèrement au-dessus de votre objectif.\n"
        f"{announcement}\n"
        "julie.b : Et pour une prime ?\n"
        "C'est plus facile à obtenir qu'une augmentation."
    )
    assert shape(doc) == [([(2, "paul75")], (3, 3)), ([(5, "julie.b")], (6, 6))]
    assert skipped_kinds(doc)[4] == "moderator"


def test_numbered_question_and_answer_markers() -> None:
    doc = parse_lines(
        "1. Question de Amélie R. : Par où commencer pour devenir consultante ?\n"
        "Réponse de l'expert : Testez votre projet avant de quitter votre poste.\n"
        "Étape 1 : définissez votre offre en une phrase.\n"
        "\n"
        "2. Question de Karim : Quel statut choisir pour démarrer ?\n"
        "Réponse de l'expert : La micro-entreprise est la plus simple."
    )
    assert shape(doc) == [([(1, "Amélie R.")], (2, 3)), ([(5, "Karim")], (6, 6))]


def test_block_layout_finds_the_expert_without_an_announcement() -> None:
    # "Name (14:02) :" alone on its line, the message below: whoever answers the others is
    # the expert, as in the one-line layout (the whole file was one thread of questions).
    doc = parse_lines(
        "Yannick Le Goff (14:02) :\n"
        "Comment préparer son entretien annuel quand on veut demander une promotion ?\n"
        "\n"
        "Thomas Lefèvre (14:04) :\n"
        "Préparez-le comme un entretien de recrutement, au moins deux semaines avant.\n"
        "\n"
        "Hélène Brécourt (14:05) :\n"
        "Mon manager me répond toujours « on verra l'an prochain ». Que faire ?\n"
        "\n"
        "Thomas Lefèvre (14:07) :\n"
        "Demandez des critères précis et faites-les écrire dans le compte rendu."
    )
    assert shape(doc) == [([(1, "Yannick Le Goff")], (4, 5)), ([(7, "Hélène Brécourt")], (10, 11))]
    assert doc.expert == "Thomas Lefèvre"


def test_organiser_under_own_name_and_thanks_after_ok_are_not_questions() -> None:
    doc = parse_lines(
        "12/03/2024 12:28 - Laurent Apec Rennes: Bonjour à tous ! Notre consultante répond à vos questions de 12h30 à 13h30.\n"
        "12/03/2024 12:30 - Karine Dubois: Bonjour à toutes et à tous, je réponds à vos questions pendant une heure.\n"
        "12/03/2024 12:31 - Thierry Morel: Par quoi commencer après un licenciement économique ?\n"
        "12/03/2024 12:33 - Karine Dubois: Inscrivez-vous à France Travail sans attendre.\n"
        "12/03/2024 12:38 - Nadia B.: Ok merci, c'est plus clair\n"
        "12/03/2024 12:39 - Thierry Morel: Et sur le CV, comment présenter le licenciement ?\n"
        "12/03/2024 12:41 - Karine Dubois: Vous n'avez pas à le mentionner sur le CV.\n"
        "12/03/2024 13:28 - Laurent Apec Rennes: Merci Karine pour toutes ces réponses !"
    )
    assert shape(doc) == [([(3, "Thierry Morel")], (4, 4)), ([(6, "Thierry Morel")], (7, 7))]
    assert doc.expert == "Karine Dubois"
    kinds = skipped_kinds(doc)
    assert (kinds[1], kinds[2], kinds[5]) == ("moderator", "expert_greeting", "thanks")


def test_whatsapp_placeholders_phone_speakers_and_how_are_you() -> None:
    doc = parse_lines(
        "12/03/2024 12:30 - Karine Dubois: Bonjour à toutes et à tous, je réponds à vos questions pendant une heure.\n"
        "12/03/2024 12:31 - Thierry Morel: Par quoi commencer après un licenciement économique ?\n"
        "12/03/2024 12:33 - Karine Dubois: Inscrivez-vous à France Travail sans attendre.\n"
        "12/03/2024 12:42 - Nadia B.: <Médias omis>\n"
        "12/03/2024 12:43 - Sébastien R.: Ce message a été supprimé\n"
        "12/03/2024 12:44 - Sophie L.: Bonjour Karine, vous allez bien ?\n"
        "12/03/2024 12:44 - Karine Dubois: Très bien, merci Sophie !\n"
        "12/03/2024 12:46 - +33 6 71 28 44 90: Est-ce que ça vaut encore le coup de chercher un CDI à 57 ans ?\n"
        "12/03/2024 12:48 - Karine Dubois: Oui, les entreprises industrielles manquent de profils expérimentés."
    )
    assert shape(doc) == [([(2, "Thierry Morel")], (3, 3)), ([(8, "+33 6 71 28 44 90")], (9, 9))]
    kinds = skipped_kinds(doc)
    assert (kinds[4], kinds[5], kinds[6]) == ("system", "system", "greeting")


def test_moderator_announcements_around_answers_and_a_late_unanswered_question() -> None:
    doc = parse_lines(
        "Bonjour à toutes et à tous, nous avons le plaisir d'accueillir Nathalie Moreau, consultante Apec.\n"
        "jpdupont : faut-il enlever les dates sur le CV quand on a 55 ans ?\n"
        "Je vous le déconseille : un CV sans dates éveille la méfiance du recruteur.\n"
        "Beaucoup de questions sur la retraite, Nathalie va y répondre dans un instant\n"
        "julien.m : Est-ce qu'on peut négocier la durée de la période d'essai ?\n"
        "Nous avons reçu beaucoup de questions sur la période d'essai, Nathalie y répond juste après.\n"
        "Oui, mais uniquement à la baisse.\n"
        "Merci Nathalie, le mot de la fin ?\n"
        "Merci à tous pour vos questions, bonne continuation !\n"
        "julie.r : Merci ! Une dernière question : le portage est-il possible à l'étranger ?\n"
        "Le chat est maintenant terminé, merci à tous pour votre participation !"
    )
    assert shape(doc) == [
        ([(2, "jpdupont")], (3, 3)),
        ([(5, "julien.m")], (7, 7)),
        ([(8, None)], (9, 9)),  # the expert's last words stay the answer to "le mot de la fin"
        ([(10, "julie.r")], None),
    ]
    kinds = skipped_kinds(doc)
    assert (kinds[4], kinds[6], kinds[11]) == ("moderator", "moderator", "moderator")


def test_a_question_continued_under_the_same_pseudo_is_one_question() -> None:
    doc = parse_lines(
        APEC_HEAD + "Sandrine : Bonjour,\n"
        "Sandrine : je voudrais savoir si le CDD senior existe toujours ?\n"
        "Oui, il existe toujours."
    )
    assert shape(doc) == [([(2, "Sandrine")], (4, 4))]
    assert doc.threads[0].questions[0].text == "Bonjour, je voudrais savoir si le CDD senior existe toujours ?"


def test_plain_text_faq_without_speakers() -> None:
    doc = parse_lines(
        "FAQ : rechercher un emploi quand on est cadre\n\n"
        "Combien de temps dure une recherche d'emploi ?\n"
        "En moyenne six mois. Pourquoi ? Le marché des cadres est plus lent.\n\n"
        "Faut-il accepter un poste moins bien payé ?\n\n"
        "Tout dépend de votre situation.\nUn poste moins payé peut être un tremplin.\n\n"
        "Et à temps partiel ?\nC'est possible en fin de carrière."
    )
    assert [(q.line, len(t.questions), t.answer.start_line, t.answer.end_line) for t in doc.threads for q in t.questions[:1]] == [
        (3, 1, 4, 4), (6, 1, 8, 9), (11, 1, 12, 12)
    ]
    assert doc.threads[0].questions[0].text == "Combien de temps dure une recherche d'emploi ?"
    assert skipped_kinds(doc) == {1: "preamble"}


def test_answers_addressed_by_name_go_to_their_question() -> None:
    doc = parse_lines(
        APEC_HEAD + "Karim B. : Me reconvertir dans la formation après la banque, est-ce réaliste ?\n"
        "marie.l@orange.fr : Puis-je utiliser mon CPF pour une formation longue ?\n"
        "Marie, oui, le CPF peut financer une formation longue.\n"
        "Olivier : Quels réseaux activer quand on n'a jamais fait de réseau ?\n"
        "Karim, pour revenir à votre question : c'est tout à fait réaliste.\n"
        "La banque est un secteur qui forme beaucoup.\n"
        "Olivier, vous avez plus de réseau que vous ne le pensez.\n"
        "Marc D. : L'intérim cadre, ça existe ?\n"
        "jpdupont : un intérimaire cadre a-t-il droit à la prime de fin de mission ?\n"
        "Marc, oui, il existe bel et bien.\n"
        "Et pour votre question jpdupont : oui, 10 % de la rémunération.\n"
        "Léa : Et en portage ?\n"
        "Sophie : Et pour un CDD ?\n"
        "Léa, en portage, la société vous salarie.\n"
        "Pour un CDD, la prime de précarité s'applique."
    )
    assert shape(doc) == [
        ([(2, "Karim B.")], (6, 7)),
        ([(3, "marie.l@orange.fr")], (4, 4)),
        ([(5, "Olivier")], (8, 8)),
        ([(9, "Marc D.")], (11, 11)),
        ([(10, "jpdupont")], (12, 12)),
        ([(13, "Léa"), (14, "Sophie")], (15, 16)),  # Sophie never named: she shares the answer
    ]


def test_thanks_then_the_moderators_closing_question() -> None:
    doc = parse_lines(
        "Voici la retranscription du Chat Conseil Apec réservé aux cadres de plus de 50 ans, animé mardi.\n"
        "Bonjour à tous, nous avons le plaisir d'accueillir Patrick Duval, consultant Apec.\n"
        "Bernard57 : Comment valoriser le tutorat ?\n"
        "Présentez-le comme une compétence.\n"
        "Bernard57 : Merci Patrick pour vos conseils\n"
        "Merci Patrick, un dernier conseil pour nos participants ?\n"
        "Ne restez pas seul."
    )
    assert doc.title == "Chat Conseil Apec : cadres de plus de 50 ans"
    assert shape(doc) == [([(3, "Bernard57")], (4, 4)), ([(6, None)], (7, 7))]
    assert skipped_kinds(doc)[5] == "thanks"


def test_pseudos_that_describe_or_end_with_an_initial_and_job_titles_ask() -> None:
    doc = parse_lines(
        "Bonjour à toutes et à tous, nous avons le plaisir d'accueillir Nathalie Perrin, consultante Apec.\n"
        "Cadre sup : Est-ce que je dois accepter une promotion sans augmentation ?\n"
        "Non, c'est le moment de négocier.\n"
        "Côté employeur : la promotion se prépare aussi.\n"
        "Karine L : Comment négocier une augmentation quand l'entreprise va mal ?\n"
        "Demandez plutôt des éléments non salariaux.\n"
        "Paul (RH) : Faut-il afficher le salaire dans nos annonces ?\n"
        "Oui, je vous le recommande."
    )
    assert shape(doc) == [([(2, "Cadre sup")], (3, 4)), ([(5, "Karine L")], (6, 6)), ([(7, "Paul")], (8, 8))]
    assert doc.expert == "Nathalie Perrin" and doc.threads[2].answer.speaker == "Nathalie Perrin"


def test_a_pending_question_passed_on_by_the_moderator_keeps_its_asker() -> None:
    doc = parse_lines(
        "Bonjour à toutes et à tous, nous avons le plaisir d'accueillir Nathalie Perrin, consultante Apec.\n"
        "Karim : Quel pourcentage demander quand on change d'entreprise ?\n"
        "Comptez en général 5 à 15 %.\n"
        "Nathalie, une question de Sandrine est restée en suspens : les femmes doivent-elles négocier différemment ?\n"
        "Non, les règles sont les mêmes."
    )
    assert shape(doc) == [([(2, "Karim")], (3, 3)), ([(4, "Sandrine")], (5, 5))]
    assert doc.threads[1].questions[0].text == "les femmes doivent-elles négocier différemment ?"


def test_label_shaped_pseudos_ask_when_the_layout_shows_a_question_answered() -> None:
    # "Info", "RH en devenir" and a lone "Question" are pseudos here: each asks, and the
    # expert's unprefixed reply starts answering, follows another question, or follows the
    # moderator's "Il nous reste…" line.
    doc = parse_lines(
        APEC_HEAD + "paul75 : Comment négocier mon salaire ?\n"
        "Venez avec des chiffres du marché.\n"
        "Info : Les tickets resto sont-ils négociables ?\n"
        "Tout à fait.\n"
        "Attention : les délais sont courts !\n"
        "Question : COMMENT SAVOIR SI JE SUIS BIEN PAYE ???\n"
        "Croisez plusieurs études de rémunération.\n"
        "Hélène : Comment évaluer un télétravailleur ?\n"
        "RH en devenir : Et comment mesurer sa performance sans flicage ?\n"
        "Fixez des objectifs clairs.\n"
        "Il nous reste une dizaine de minutes, n'hésitez pas !\n"
        "Info : Quelle est la différence entre télétravail et travail hybride ?\n"
        "Le télétravail se fait hors des locaux."
    )
    assert shape(doc) == [
        ([(2, "paul75")], (3, 3)),
        ([(4, "Info")], (5, 6)),
        ([(7, "Question")], (8, 8)),
        ([(9, "Hélène"), (10, "RH en devenir")], (11, 11)),
        ([(13, "Info")], (14, 14)),
    ]


def test_a_rhetorical_question_under_a_label_stays_in_the_answer() -> None:
    # The same shapes inside a running answer, with nothing that shows a participant asking.
    doc = parse_lines(
        APEC_HEAD + "paul75 : Comment relancer un recruteur ?\n"
        "Attendez une semaine.\n"
        "Astuce : pourquoi ne pas l'appeler directement ?\n"
        "Vous montrerez votre motivation.\n"
        "4ème étape : Quelles cibles ? Listez dix entreprises.\n"
        "Posez-vous deux questions :\n"
        "Question : qui décide du recrutement ?\n"
        "Ensuite, préparez votre message."
    )
    assert shape(doc) == [([(2, "paul75")], (3, 9))]


def test_teams_copy_with_name_and_time_above_each_message() -> None:
    # Teams/Slack copy-paste: "Name  14:02" alone on a line, the message below, blank lines between.
    doc = parse_lines(
        "Conversation : Chat Apec – Évoluer dans son entreprise\n\n"
        "Équipe Événements Apec  14:00\n"
        "Bonjour à tous ! Thomas Lefèvre, consultant Apec, répond à vos questions.\n\n"
        "Yannick Le Goff  14:02\n"
        "Comment préparer son entretien annuel ?\n\n"
        "Thomas Lefèvre  14:04\n"
        "Préparez-le deux semaines avant.\n\n"
        "Listez vos réalisations chiffrées.\n\n"
        "Hélène B.  2:05 PM\n"
        "Mon manager répond toujours « on verra ». Que faire ?\n\n"
        "Thomas Lefèvre  2:07 PM\n"
        "Demandez des critères précis.\n"
        "Rendez-vous avec les RH à 14:30\n"
    )
    assert shape(doc) == [([(6, "Yannick Le Goff")], (9, 12)), ([(14, "Hélène B.")], (17, 19))]
    assert doc.expert == "Thomas Lefèvre"
    assert doc.threads[1].answer.text.endswith("Rendez-vous avec les RH à 14:30")


def test_a_few_lines_ending_with_a_time_are_not_a_teams_layout() -> None:
    doc = parse_lines(
        APEC_HEAD + "paul75 : Quand ont lieu les ateliers ?\n"
        "Le premier atelier commence à 14:00\n"
        "Venez un peu avant.\n"
        "Le second est à 16:00\n"
        "Inscrivez-vous en ligne."
    )
    assert shape(doc) == [([(2, "paul75")], (3, 6))]


@pytest.mark.parametrize(
    "text",
    [
        # Zoom's chat export, French interface, one line a message
        "14:00:12 De Apec Événements à Tout le monde : Bonjour à tous, nous avons le plaisir d'accueillir Claire Dumas, consultante Apec.\n"
        "14:02:40 De Paul Martin à Tout le monde : Comment savoir si une reconversion est réaliste à 45 ans ?\n"
        "14:04:10 De Claire Dumas à Tout le monde : À 45 ans, une reconversion est tout à fait réaliste.\n"
        "14:05:02 De Sophie L. à Tout le monde : Le CPF peut-il financer un bilan de compétences ?\n"
        "14:06:15 De Claire Dumas à Tout le monde : Oui, le bilan de compétences est éligible au CPF.\n",
        # newer English interface, the message indented below its header
        "14:00:12 From Apec Événements to Everyone:\n\tBonjour à tous, nous avons le plaisir d'accueillir Claire Dumas, consultante Apec.\n"
        "14:02:40 From Paul Martin to Everyone:\n\tComment savoir si une reconversion est réaliste à 45 ans ?\n"
        "14:04:10 From Claire Dumas to Everyone:\n\tÀ 45 ans, une reconversion est tout à fait réaliste.\n"
        "14:05:02 From Sophie L. to Everyone:\n\tLe CPF peut-il financer un bilan de compétences ?\n"
        "14:06:15 From Claire Dumas to Everyone:\n\tOui, le bilan de compétences est éligible au CPF.\n",
    ],
    ids=["zoom-fr-inline", "zoom-en-blocks"],
)
def test_zoom_chat_exports(text: str) -> None:
    doc = parse_lines(text)
    assert [[q.speaker for q in t.questions] for t in doc.threads] == [["Paul Martin"], ["Sophie L."]]
    assert [t.answer.text for t in doc.threads] == [
        "À 45 ans, une reconversion est tout à fait réaliste.",
        "Oui, le bilan de compétences est éligible au CPF.",
    ]
    assert doc.expert == "Claire Dumas"


def test_an_english_phrase_opening_an_answer_line_is_no_zoom_speaker() -> None:
    doc = parse_lines(APEC_HEAD + "paul75 : Comment démarrer en freelance ?\nFrom scratch : repartez de vos réseaux.\nPuis contactez dix personnes.")
    assert shape(doc) == [([(2, "paul75")], (3, 4))]


ROLE_INTRO = "Bonjour et bienvenue à ce Chat Conseil Apec. Isabelle Lemoine, consultante Apec, répond à vos questions.\n"


@pytest.mark.parametrize("signature", ["Isabelle Lemoine", "Isabelle"])
def test_an_expert_named_before_her_role_may_sign_a_line(signature: str) -> None:
    doc = parse_lines(
        ROLE_INTRO + "fredo47 : J'ai 47 ans, est-il trop tard pour changer de métier ?\n"
        "Non, absolument pas !\n"
        "Aurélie D : Comment financer un bilan de compétences ?\n"
        "Mobilisez votre CPF.\n"
        "SteFaure : Faut-il démissionner pour se reconvertir ?\n"
        f"{signature} : Pas nécessairement, pas tant que votre projet n'est pas validé.\n"
        "Une démission peut ouvrir droit au chômage si le projet est validé avant."
    )
    assert doc.expert == "Isabelle Lemoine"
    assert shape(doc) == [([(2, "fredo47")], (3, 3)), ([(4, "Aurélie D")], (5, 5)), ([(6, "SteFaure")], (7, 8))]
    assert doc.threads[2].answer.text.startswith("Pas nécessairement")


def test_as_many_signed_answers_as_unsigned_ones_keep_the_apec_layout() -> None:
    # Two signed, two unsigned: the unsigned lines below the questions reply to them.
    doc = parse_lines(
        ROLE_INTRO + "fredo47 : J'ai 47 ans, est-il trop tard pour changer de métier ?\n"
        "Non, absolument pas !\n"
        "Aurélie D : Comment financer un bilan de compétences ?\n"
        "Mobilisez votre CPF.\n"
        "SteFaure : Faut-il démissionner pour se reconvertir ?\n"
        "Isabelle Lemoine : Pas nécessairement.\n"
        "mel_r : Comment tester un métier avant de me lancer ?\n"
        "Isabelle Lemoine : Bonne question !\n"
        "Les immersions sont idéales."
    )
    assert shape(doc) == [
        ([(2, "fredo47")], (3, 3)),
        ([(4, "Aurélie D")], (5, 5)),
        ([(6, "SteFaure")], (7, 7)),
        ([(8, "mel_r")], (9, 10)),
    ]


# The same short session as each chat tool copies it: a header line (who, when), the message below.
_SESSION = [
    ("Marc Lefèvre", "Bonjour à tous, je suis Marc Lefèvre, consultant Apec, prêt à répondre à vos questions."),
    ("Sophie Bernard", "À quel moment de l'entretien faut-il parler du salaire ?"),
    ("Marc Lefèvre", "Idéalement, laissez le recruteur aborder le sujet en premier."),
    ("Hugo Lambert", "Peut-on négocier autre chose que le salaire fixe ?"),
    ("Marc Lefèvre", "Bien sûr ! Le télétravail, les RTT, une prime sur objectifs."),
]
_HEADERS = {
    "teams-brackets": lambda name, i: f"[04/06/2024 14:0{i}] {name}",
    "teams-guest": lambda name, i: f"{name}{'' if name.startswith('Marc') else ' (Invité)'} 04/06/2024 14:0{i}",
    "teams-short-date": lambda name, i: f"{name} Hier 14:0{i}",
    "slack-brackets": lambda name, i: f"{name} [14:0{i}]",
    "discord": lambda name, i: f"{name} — Aujourd’hui à 14:0{i}",
    "meet": lambda name, i: f"{'Vous' if name.startswith('Marc') else name}\n14:0{i}",
    "linkedin": lambda name, i: f"{name} a envoyé le message suivant à 14:0{i}\nVoir le profil de {name}\n{name}  14:0{i}",
}


@pytest.mark.parametrize("layout", sorted(_HEADERS))
def test_chat_tools_copies_with_a_header_above_each_message(layout: str) -> None:
    text = "\n".join(f"{_HEADERS[layout](name, i)}\n{message}\n" for i, (name, message) in enumerate(_SESSION))
    doc = parse_lines(text)
    assert [[q.speaker for q in t.questions] for t in doc.threads] == [["Sophie Bernard"], ["Hugo Lambert"]]
    assert [q.text for t in doc.threads for q in t.questions] == [_SESSION[1][1], _SESSION[3][1]]
    assert [t.answer.text for t in doc.threads] == [_SESSION[2][1], _SESSION[4][1]]


def test_slack_time_line_between_two_messages_of_one_writer_is_dropped() -> None:
    doc = parse_lines(
        "Claire Dumas [14:01]\nBonjour à tous, je suis Claire Dumas, consultante Apec.\n"
        "Paul Martin [14:02]\nFaut-il encore mettre une photo sur son CV ?\n"
        "Claire Dumas [14:03]\nCe n'est pas obligatoire en France.\n[14:04]\nSi vous en mettez une, choisissez-la professionnelle.\n"
        "Nadia Benali [14:05]\nComment présenter un congé parental ?\n"
        "Claire Dumas [14:06]\nIndiquez simplement les dates."
    )
    assert doc.threads[0].answer.text == "Ce n'est pas obligatoire en France.\nSi vous en mettez une, choisissez-la professionnelle."


@pytest.mark.parametrize("when", ["", " à 14:02", " (14:02)"])
def test_webinar_export_with_the_asker_above_each_question(when: str) -> None:
    doc = parse_lines(
        f"Question posée par Frédéric Blanc{when}\nJ'ai 47 ans, est-il trop tard pour changer de métier ?\n"
        "Réponse :\nNon, absolument pas !\n\n"
        f"Question posée par Aurélie Dubois{when}\nComment financer un bilan de compétences ?\n"
        "Réponse :\nMobilisez votre CPF.\n"
    )
    assert [(q.speaker, q.text) for t in doc.threads for q in t.questions] == [
        ("Frédéric Blanc", "J'ai 47 ans, est-il trop tard pour changer de métier ?"),
        ("Aurélie Dubois", "Comment financer un bilan de compétences ?"),
    ]
    assert [t.answer.text for t in doc.threads] == ["Non, absolument pas !", "Mobilisez votre CPF."]


def test_live_chat_handles_and_emoji_names_speak() -> None:
    doc = parse_lines(
        "14:01 Claire Dumas: Bonjour à tous, je suis Claire Dumas, consultante Apec, prête à répondre à vos questions.\n"
        "14:02 @paulmartin-pm7: Faut-il encore mettre une photo sur son CV ?\n"
        "14:03 Claire Dumas: Ce n'est pas obligatoire en France.\n"
        "14:04 🌻 Sandrine: Comment passer les logiciels de tri des CV ?\n"
        "14:05 Claire Dumas: Reprenez les mots clés de l'annonce.\n"
        "14:06 @nadia.b: Merci @Claire Dumas : et pour un congé parental ?\n"
        "14:07 Claire Dumas: Indiquez simplement les dates."
    )
    assert [[q.speaker for q in t.questions] for t in doc.threads] == [["paulmartin-pm7"], ["Sandrine"], ["nadia.b"]]
    assert [t.answer.text for t in doc.threads] == [
        "Ce n'est pas obligatoire en France.", "Reprenez les mots clés de l'annonce.", "Indiquez simplement les dates.",
    ]


SOPHIE = "Bonjour à tous, nous avons le plaisir d'accueillir Sophie Marchand, consultante Apec.\n"


def test_moderator_lines_and_a_question_received_beforehand() -> None:
    doc = parse_lines(
        SOPHIE + "Paul : Faut-il parler en brut ou en net ?\n"
        "On parle toujours en brut annuel.\n"
        "Nous avons beaucoup de questions, Sophie va essayer de répondre au plus grand nombre.\n"
        "Une question reçue par mail avant le chat : comment négocier le variable ?\n"
        "Précisez toujours s'il est inclus dans le package.\n"
        "Il ne reste que quelques minutes !\n"
        "Léa : Et les tickets resto ?\n"
        "Ils se négocient rarement."
    )
    assert shape(doc) == [([(2, "Paul")], (3, 3)), ([(5, None)], (6, 6)), ([(8, "Léa")], (9, 9))]
    assert doc.threads[1].questions[0].text == "comment négocier le variable ?"
    assert skipped_kinds(doc)[4] == skipped_kinds(doc)[7] == "moderator"


def test_a_greeting_that_goes_on_to_ask_or_to_tell_is_kept() -> None:
    doc = parse_lines(
        SOPHIE + "GÉRALDINE : BONJOUR QUELLES SONT LES QUALITÉS D'UN BON MANAGER SELON VOUS\n"
        "L'écoute, la clarté et l'exemplarité.\n"
        "Maman solo : Bonjour, j'ai une sclérose en plaques diagnostiquée l'an dernier\n"
        "Maman solo : est-ce que je peux demander un temps partiel ?\n"
        "Oui, voyez le médecin du travail.\n"
        "Julie : Bonjour à tous !\n"
    )
    assert shape(doc) == [([(2, "GÉRALDINE")], (3, 3)), ([(4, "Maman solo"), (5, "Maman solo")], (6, 6))]
    assert skipped_kinds(doc)[7] == "greeting"


def test_the_expert_asking_back_is_the_answer_not_the_question() -> None:
    doc = parse_lines(
        SOPHIE + "Paul : je voudrais savoir comment annoncer ma démission\n"
        "Vous avez peur de la réaction de votre manager ?\n"
        "C'est normal. Demandez un entretien en face à face.\n"
        "Léa : j'ai 45 ans et je suis cadre\n"
        "Est-ce trop tard pour changer de métier ?\n"
        "Non."
    )
    assert shape(doc) == [([(2, "Paul")], (3, 4)), ([(5, "Léa")], (7, 7))]
    assert doc.threads[1].questions[0].text.endswith("Est-ce trop tard pour changer de métier ?")


def test_advice_labels_that_look_like_speakers_stay_in_the_answer() -> None:
    doc = parse_lines(
        SOPHIE + "Paul : Mon employeur me fait une contre-offre, je fais quoi ?\n"
        "Question à vous poser : qu'est-ce qui vous motive le plus ?\n"
        "Posez-vous la question : pourquoi vouliez-vous partir ?\n"
        "Demandez-vous : est-ce le bon moment ?\n"
        "Principalement :\n"
        "- le salaire,\n"
        "- les perspectives.\n"
        "Jean-Marie : Et si je refuse ?\n"
        "Rien de grave."
    )
    assert shape(doc) == [([(2, "Paul")], (3, 8)), ([(9, "Jean-Marie")], (10, 10))]


def test_expert_named_after_a_comma_and_a_title_in_quotes() -> None:
    doc = parse_lines(
        "Retranscription du Chat Conseil Apec « Quitter son poste » du mardi 8 octobre.\n"
        "Bonjour à tous ! Aujourd'hui, Nathalie Roux, consultante Apec, répond à vos questions.\n"
        "Paul : Combien de temps pour avoir la RQTH ?\n"
        "Comptez environ 4 mois.\n"
        "Merci Nathalie. Le mot de la fin ?\n"
        "Votre handicap ne vous définit pas."
    )
    assert (doc.title, doc.expert) == ("Chat Conseil Apec : Quitter son poste", "Nathalie Roux")
    assert shape(doc) == [([(3, "Paul")], (4, 4)), ([(5, None)], (6, 6))]


def test_a_reply_to_the_expert_s_question_back_stays_in_the_answer_in_order() -> None:
    doc = parse_lines(
        SOPHIE + "Marie-Pierre : J'ai 52 ans, une RQTH et je suis cadre commerciale.\n"
        "Marie-Pierre : que me conseillez vous ?\n"
        "Marie-Pierre, quel type de poste visez-vous ?\n"
        "Marie-Pierre : le même métier, dans le secteur médical\n"
        "Marie-Pierre : j'ai 20 ans d'expérience\n"
        "C'est un vrai atout : ciblez les entreprises qui ont un accord handicap.\n"
        "Paul : Peut-on être licencié à cause de son handicap ?\n"
        "Non."
    )
    assert shape(doc) == [([(2, "Marie-Pierre"), (3, "Marie-Pierre")], (4, 7)), ([(8, "Paul")], (9, 9))]
    assert doc.threads[0].answer.text.split("\n") == [
        "Marie-Pierre, quel type de poste visez-vous ?",
        "Marie-Pierre : le même métier, dans le secteur médical",
        "Marie-Pierre : j'ai 20 ans d'expérience",
        "C'est un vrai atout : ciblez les entreprises qui ont un accord handicap.",
    ]


def test_anonymous_guests_camel_case_pseudos_and_sms_greetings() -> None:
    doc = parse_lines(
        "Bonjour à tous, nous avons le plaisir d'accueillir Nathalie Perrin, consultante Apec.\n"
        "Marc : bjr\n"
        "lolo92 : est ce que l'employeur peut refuser ?\n"
        "Oui, la rupture conventionnelle repose sur un accord mutuel.\n"
        "Sophie : slt\n"
        "Invité_2207 : on a combien de temps pour se rétracter ?\n"
        "Chaque partie dispose de 15 jours calendaires.\n"
        "Invité : et l'indemnité est-elle imposable ?\n"
        "En partie seulement.\n"
        "Karine.T : Comment faire un bilan de compétences discrètement ?\n"
        "TonyM : c'est quoi le CDD senior ?\n"
        "Tony, c'est un CDD réservé aux demandeurs d'emploi de plus de 57 ans.\n"
        "Karine, mobilisez votre CPF en dehors de votre temps de travail."
    )
    assert shape(doc) == [
        ([(3, "lolo92")], (4, 4)),
        ([(6, "Invité_2207")], (7, 7)),
        ([(8, "Invité")], (9, 9)),
        ([(10, "Karine.T")], (13, 13)),
        ([(11, "TonyM")], (12, 12)),
    ]
    assert skipped_kinds(doc)[2] == skipped_kinds(doc)[5] == "greeting"


@pytest.mark.parametrize(
    "first, title",
    [
        ("Retranscription du Chat Conseil Apec du jeudi 14 mars : « Négocier une rupture conventionnelle ».",
         "Chat Conseil Apec : Négocier une rupture conventionnelle"),
        ('Voici la retranscription du Chat Conseil Apec de mardi sur le thème "Trouver un emploi après 50 ans".',
         "Chat Conseil Apec : Trouver un emploi après 50 ans"),
        ("Bonjour à tous, nous avons le plaisir d'accueillir Sophie Marchand, consultante Apec.", None),
    ],
)
def test_titles(first: str, title: str | None) -> None:
    doc = parse_lines(first + "\npaul75 : Comment faire ?\nAinsi.")
    assert doc.title == title
