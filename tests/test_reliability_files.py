"""Reliability — whatever files advisors drop into the corpus: each bad one gets a one-line
message and the rest of the corpus is still indexed; uploads land under safe names inside
``corpus/`` only.

Rows of docs/reliability.md, section "Files".
"""

from __future__ import annotations

import codecs
import json
import os
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkb.cli import cli
from chatkb.index import open_index
from chatkb.parse import parse_file
from chatkb.uploads import UploadError, safe_filename, save_upload

from conftest import SEED, FakeEmbedder
from reliability_support import assert_answers, fake_build, make_corpus

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) * 4
DOCX = b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4

TRANSCRIPT = """Chat Apec : le télétravail
Modératrice : Bonjour à tous, nous avons le plaisir d'accueillir Élodie Marchand, consultante Apec.
Élodie Marchand : Bonjour à tous !
Hélène : Peut-on négocier deux jours de télétravail dès l'embauche ?
Oui, c'est même le meilleur moment : préparez des arguments sur votre autonomie et votre efficacité.
Proposez une période d'essai du rythme, puis un bilan après trois mois.
Frédéric : Faut-il un accord écrit pour le télétravail ?
Un avenant ou un accord d'entreprise est préférable : il précise les jours, l'équipement et les frais.
"""


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "corpus")


def _build(corpus: Path, tmp_path: Path):
    report = fake_build(corpus, tmp_path / "index")
    for w in report.warnings:
        assert "\n" not in w and "\r" not in w and "Traceback" not in w
    assert_answers(tmp_path / "index")  # the rest of the corpus is indexed and answers
    return report, open_index(tmp_path / "index")


def _warned(report, name: str, word: str) -> str:
    hits = [w for w in report.warnings if w.startswith(name + " ")]
    assert len(hits) == 1, (name, report.warnings)
    assert word in hits[0], hits[0]
    return hits[0]


def _indexed(data, name: str) -> bool:
    return any(Path(src).name == name for src in data.documents)


# ----------------------------------------------------------------------------- bad files


BAD_FILES = [
        ("vide.txt", b"", "vide"),
        ("blanc.txt", b" \r\n\t\n  \n", "vide"),
        ("document.pdf", PDF, "extension non prise en charge"),
        ("pdf-renomme.txt", PDF, "binaire"),
        ("image.md", PNG, "binaire"),
        ("photo.txt", JPEG, "binaire"),
        ("export.docx", DOCX, "extension non prise en charge"),
        ("rapport.docx.txt", DOCX, "binaire"),
        ("zeros.txt", b"\x00" * 5000, "binaire"),
        ("table.csv", b"question;reponse\nA;B\n", "extension non prise en charge"),
        ("chat.log", TRANSCRIPT.encode(), "extension non prise en charge"),
        ("LISEZMOI", b"Ceci n'est pas un document.", "extension non prise en charge"),
        ("sans-question.txt", "Bonjour à tous.\nMerci d'être là !\nBonne journée.\n".encode(), "aucune question"),
        ("prose.md", "Un paragraphe de texte, sans titre ni question.\n\nUn autre paragraphe.\n".encode(), "aucune question"),
]


@pytest.mark.parametrize("name, content, word", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_file_gets_one_line_and_the_rest_is_indexed(corpus, tmp_path, name, content, word):
    (corpus / name).write_bytes(content)
    report, data = _build(corpus, tmp_path)
    _warned(report, name, word)
    assert not _indexed(data, name)
    assert len(report.warnings) == 1, report.warnings


def test_the_glossary_beside_the_documents_is_not_reported(corpus, tmp_path):
    assert (corpus / "glossaire.tsv").is_file()
    report, _ = _build(corpus, tmp_path)
    assert report.warnings == ()


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_windows_and_latin1_files_are_decoded_and_indexed(corpus, tmp_path, encoding):
    text = TRANSCRIPT.replace("\n", "\r\n")
    (corpus / "teletravail.txt").write_bytes(text.encode(encoding))
    faq = "# Télétravail\n\n### Qui paie l'équipement du télétravailleur ?\n\nL'employeur fournit et entretient l'équipement nécessaire.\n"
    (corpus / "teletravail-faq.md").write_bytes(faq.encode(encoding))
    report, data = _build(corpus, tmp_path)
    assert report.warnings == ()
    questions = {q.text for t in data.threads for q in t.questions}
    assert "Peut-on négocier deux jours de télétravail dès l'embauche ?" in questions
    assert "Qui paie l'équipement du télétravailleur ?" in questions
    for name in ("teletravail.txt", "teletravail-faq.md"):
        meta = next(m for src, m in data.documents.items() if Path(src).name == name)
        assert meta["encoding"].replace("_", "-").lower() in ("cp1252", "windows-1252", "latin-1", "iso8859-15", "iso8859-1")


def test_mixed_line_endings_give_the_same_threads_and_line_numbers(corpus, tmp_path):
    lines = TRANSCRIPT.splitlines()
    mixed = "".join(line + ("\r\n", "\r", "\n")[i % 3] for i, line in enumerate(lines))
    (tmp_path / "lf.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (corpus / "mixte.txt").write_bytes(mixed.encode("utf-8"))
    reference = parse_file(tmp_path / "lf.txt")
    doc = parse_file(corpus / "mixte.txt")
    assert [t.to_dict()["questions"] for t in doc.threads] == [t.to_dict()["questions"] for t in reference.threads]
    assert [t.to_dict()["answer"] for t in doc.threads] == [t.to_dict()["answer"] for t in reference.threads]
    assert len(doc.lines) == len(lines) and doc.threads
    report, data = _build(corpus, tmp_path)
    assert report.warnings == () and _indexed(data, "mixte.txt")


def test_markdown_without_any_heading_but_with_bold_questions_is_indexed(corpus, tmp_path):
    md = (
        "Questions fréquentes sur le télétravail, sans aucun titre.\n\n"
        "**Peut-on refuser le télétravail ?**\n\nOui, sauf circonstances exceptionnelles prévues par le code du travail.\n\n"
        "**Qui paie la connexion internet ?**\n\nL'accord d'entreprise peut prévoir une indemnité forfaitaire.\n"
    )
    (corpus / "sans-titre.md").write_text(md, encoding="utf-8")
    report, data = _build(corpus, tmp_path)
    assert report.warnings == ()
    assert {"Peut-on refuser le télétravail ?", "Qui paie la connexion internet ?"} <= {q.text for t in data.threads for q in t.questions}


def test_a_50_mb_file_is_refused_by_its_size_without_being_read(corpus, tmp_path, monkeypatch):
    big = corpus / "journal-50mo.txt"
    line = "Paul : une ligne de journal parmi d'autres, sans grand intérêt ?\n".encode()
    with open(big, "wb") as f:
        f.write(line * (50 * 1024 * 1024 // len(line) + 1))
    assert big.stat().st_size >= 50 * 1024 * 1024
    read_sizes = []
    real_read_bytes = Path.read_bytes

    def spy(self):
        data = real_read_bytes(self)
        read_sizes.append(len(data))
        return data

    monkeypatch.setattr(Path, "read_bytes", spy)
    t0 = time.perf_counter()
    report, data = _build(corpus, tmp_path)
    assert time.perf_counter() - t0 < 60  # generous: the point is that it is not parsed
    msg = _warned(report, big.name, "trop volumineux")
    assert "Mo" in msg and not _indexed(data, big.name)
    assert max(read_sizes, default=0) < 20 * 1024 * 1024  # never loaded into memory


def test_an_unreadable_file_in_a_folder_is_reported_and_skipped(corpus, tmp_path, monkeypatch):
    """Tests run as root (chmod 000 would not stop us): the read fails as it would for a user."""
    (corpus / "secret.txt").write_text(TRANSCRIPT, encoding="utf-8")
    real_read_bytes = Path.read_bytes

    def denied(self):
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    report, data = _build(corpus, tmp_path)
    assert "lecture impossible" in next(w for w in report.warnings if "secret.txt" in w)
    assert len(report.warnings) == 1 and not _indexed(data, "secret.txt")


def test_broken_symlinks_fifos_and_folders_named_like_files(corpus, tmp_path):
    (corpus / "lien-casse.txt").symlink_to(tmp_path / "nulle-part.txt")
    os.mkfifo(corpus / "tube.txt")  # reading it would block forever
    folder = corpus / "dossier.txt"
    folder.mkdir()
    (folder / "dedans.txt").write_text(TRANSCRIPT, encoding="utf-8")
    report, data = _build(corpus, tmp_path)
    _warned(report, "lien-casse.txt", "pas un fichier lisible")
    _warned(report, "tube.txt", "pas un fichier lisible")
    assert len(report.warnings) == 2
    assert _indexed(data, "dedans.txt")  # a folder is walked into, whatever its name


def test_a_parser_crash_on_one_file_does_not_sink_the_corpus(corpus, tmp_path, monkeypatch):
    import chatkb.parse

    (corpus / "piege.txt").write_text(TRANSCRIPT, encoding="utf-8")
    real = chatkb.parse.parse_file

    def crashing(path, **kw):
        if Path(path).name == "piege.txt":
            raise RecursionError("maximum recursion depth exceeded")
        return real(path, **kw)

    monkeypatch.setattr(chatkb.parse, "parse_file", crashing)
    report, data = _build(corpus, tmp_path)
    _warned(report, "piege.txt", "RecursionError")
    assert not _indexed(data, "piege.txt")


ODD_NAMES = [
    "Chat d'été (copie) #2 ;.txt",
    "$(touch pwned) `id`.md",
    "💬 conversation.txt",
    "-rf.txt",
    "--index.md",
    "espaces   multiples .txt",
    "nom\navec\nretours.txt",
    "tab\tet\x1bescape.txt",
    "<script>alert(1)<script>.md",
    "a" * 200 + ".txt",
]


def test_odd_file_names_are_indexed_and_messages_stay_on_one_line(corpus, tmp_path):
    for i, name in enumerate(ODD_NAMES):
        content = TRANSCRIPT if name.endswith(".txt") else f"# FAQ\n\n### Question numéro {i} ?\n\nRéponse numéro {i}.\n"
        (corpus / name).write_text(content, encoding="utf-8")
    (corpus / "vide \n bizarre.txt").write_bytes(b"")
    bad_name = os.fsdecode(b"caf\xe9-latin1.txt")  # not UTF-8: cannot be stored in the JSON records
    (corpus / bad_name).write_text(TRANSCRIPT, encoding="utf-8")
    report, data = _build(corpus, tmp_path)
    for name in ODD_NAMES:
        assert _indexed(data, name), name
    assert not (Path.cwd() / "pwned").exists()
    assert len(report.warnings) == 2, report.warnings
    assert any("vide" in w for w in report.warnings)
    assert any("nom de fichier illisible" in w for w in report.warnings)


def test_cli_build_on_a_messy_folder_prints_one_line_per_bad_file_and_indexes_the_rest(corpus, tmp_path, monkeypatch):
    import chatkb.embed

    bad = {"vide.txt": b"", "scan.pdf": PDF, "image.md": PNG, "notes.docx": DOCX, "sans-question.txt": b"Bonjour !\nMerci !\n"}
    for name, content in bad.items():
        (corpus / name).write_bytes(content)
    (corpus / "latin1.txt").write_bytes(TRANSCRIPT.encode("latin-1"))
    monkeypatch.setattr(chatkb.embed.Embedder, "load", classmethod(lambda cls, model=None, **kw: FakeEmbedder()))
    result = CliRunner().invoke(cli, ["build", str(corpus), "--index", str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Attention : ")]
    assert sorted(w.split(" : ")[1].split(" ")[0] for w in warnings) == sorted(bad)
    assert "Traceback" not in result.output
    data = open_index(tmp_path / "index")
    assert {Path(p).name for p in data.documents} == {"faq.md", SEED.name, "latin1.txt"}
    assert_answers(tmp_path / "index")


def test_a_folder_with_nothing_usable_is_one_error_and_the_previous_index_stays(corpus, tmp_path, monkeypatch):
    import chatkb.embed

    fake_build(corpus, tmp_path / "index")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.pdf").write_bytes(PDF)
    (junk / "b.txt").write_bytes(b"")
    monkeypatch.setattr(chatkb.embed.Embedder, "load", classmethod(lambda cls, model=None, **kw: FakeEmbedder()))
    result = CliRunner().invoke(cli, ["build", str(junk), "--index", str(tmp_path / "index")])
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[-1].startswith("Erreur : Aucune question")
    assert_answers(tmp_path / "index")


# ----------------------------------------------------------------------------- upload names

SAFE = re.compile(r"[a-z0-9][a-z0-9-]*\.(txt|md)")
EVIL_NAMES = [
    "../../etc/passwd.txt",
    "..\\..\\Windows\\system32\\evil.md",
    "/etc/cron.d/job.txt",
    "....//....//x.txt",
    "..",
    "../.txt",
    ".bashrc.txt",
    "~/.ssh/authorized_keys.md",
    "C:\\Users\\x\\Bureau\\FAQ Réseaux.MD",
    "nul\x00byte.txt",
    "con.txt",
    "\u202etxt.exe",
    "fichier.txt\u202e",
    "fichier.txt.exe",
    "fichier.txt ",
    "%2e%2e%2fescape.txt",
    "日本語.txt",
    "💬💬.md",
    "a" * 500 + ".txt",
    "Réseaux sociaux (v2) ; copie #3.txt",
    "file:///etc/passwd.txt",
]


@pytest.mark.parametrize("name", EVIL_NAMES, ids=range(len(EVIL_NAMES)))
def test_uploads_are_stored_under_safe_names_inside_the_corpus_only(tmp_path, name):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    before = {p for p in tmp_path.rglob("*")}
    try:
        path = save_upload(corpus, name, TRANSCRIPT.encode())
    except UploadError as exc:
        assert "\n" not in str(exc)
        assert {p for p in tmp_path.rglob("*")} == before  # nothing written anywhere
        return
    assert path.parent == corpus.resolve() and SAFE.fullmatch(path.name), path
    assert path.read_bytes() == TRANSCRIPT.encode() and not path.is_symlink()
    assert {p for p in tmp_path.rglob("*")} - before == {corpus / path.name}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=300))
def test_safe_filename_of_any_name_is_a_plain_slug_or_a_refusal(name):
    try:
        safe = safe_filename(name)
    except UploadError as exc:
        assert "\n" not in str(exc)
        return
    assert SAFE.fullmatch(safe) and len(safe) <= 90, safe


def test_an_upload_never_writes_through_a_symlink_planted_in_the_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("ne pas toucher", encoding="utf-8")
    (corpus / "reseaux.txt").symlink_to(outside)
    try:
        path = save_upload(corpus, "Réseaux.txt", TRANSCRIPT.encode())
    except UploadError:
        path = None
    assert outside.read_text(encoding="utf-8") == "ne pas toucher"
    if path is not None:
        assert path.parent == corpus.resolve() and not path.is_symlink() and path.name != "reseaux.txt"


def test_an_uploaded_file_is_never_overwritten_and_temporaries_are_not_indexed(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    first = save_upload(corpus, "chat.txt", TRANSCRIPT.encode())
    second = save_upload(corpus, "../chat.txt", TRANSCRIPT.replace("Hélène", "Héloïse").encode())
    assert first.name == "chat.txt" and second.name == "chat-2.txt"
    assert "Hélène" in first.read_text(encoding="utf-8")
    (corpus / ".upload-0123.tmp").write_text(TRANSCRIPT, encoding="utf-8")  # a crash mid-upload
    report = fake_build(corpus, tmp_path / "index")
    assert report.warnings == ()
    assert {Path(p).name for p in json.loads((tmp_path / "index" / report.generation / "documents.json").read_text())} == {
        "faq.md", SEED.name, "chat.txt", "chat-2.txt"}


def test_utf16_and_bom_files_are_decoded(corpus, tmp_path):
    (corpus / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + TRANSCRIPT.encode("utf-16-le"))
    (corpus / "bom.md").write_bytes(codecs.BOM_UTF8 + "# FAQ\n\n### Faut-il une lettre de motivation ?\n\nOui, courte.\n".encode())
    report, data = _build(corpus, tmp_path)
    assert report.warnings == () and _indexed(data, "utf16.txt") and _indexed(data, "bom.md")
