"""The French analyser: accents, elisions, stems, abbreviations and typos."""

from chatkb.analyzer import QueryAnalyzer, analyze, fold, load_glossary, words

from conftest import CORPUS


def test_accents_and_case_are_folded():
    assert fold("Réseaux SOCIAUX Élevés œuvre") == "reseaux sociaux eleves oeuvre"
    assert analyze("réseaux") == analyze("RESEAUX") == analyze("reseaux")


def test_elisions_are_removed():
    assert words("l'entreprise d'Apec qu'il j'ai") == ["entreprise", "apec"]
    assert analyze("l’entretien") == analyze("entretien")


def test_stems_join_inflections():
    assert analyze("recruteurs") == analyze("recruteur")
    assert analyze("professionnelle") == analyze("professionnels")
    assert analyze("licenciement")[0].startswith("licenci")


def test_stopwords_and_short_words_dropped_but_job_acronyms_kept():
    assert analyze("le cv et la lettre pour un cdi") == ["cv", "lettr", "cdi"]


def test_glossary_expands_abbreviations():
    glossary = load_glossary(CORPUS / "glossaire.tsv")
    qa = QueryAnalyzer(["comment", "entretien", "emploi", "rendez"], glossary)
    expanded = qa.expand("cmt trouver un taf")
    assert "comment" in expanded or "cmt" not in expanded
    assert any(w in expanded for w in ("travail", "emploi"))


def test_typos_are_corrected_towards_the_corpus_vocabulary():
    qa = QueryAnalyzer(["entretien", "visible", "linkedin", "recruteur"])
    assert qa.correct("entretein") == "entretien"
    assert qa.correct("recruteru") == "recruteur"
    assert qa.correct("visibel") == "visible"  # swapped letters count as one edit
    assert qa.correct("linkdin") == "linkedin"
    assert qa.correct("cv") is None  # short words are never "corrected"
    assert "entretien" in qa.expand("entretein d'embauche")
    assert qa.correct("evoquer") is None  # a French word is not a typo, even if the corpus lacks it


def test_glossary_file_format(tmp_path):
    p = tmp_path / "g.tsv"
    p.write_text("# comment\nqd\tquand\nBoîte\tentreprise société\nbad line\n", encoding="utf-8")
    g = load_glossary(p)
    assert g == {"qd": ["quand"], "boite": ["entreprise", "societe"]}
    assert load_glossary(tmp_path / "missing.tsv") == {}
