"""The ``chatkb`` command: contracts (JSON shapes) and one-line errors."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from chatkb.cli import cli

from conftest import SEED

EXPECTED = [  # (question lines, speakers, answer range) from issue 2
    ([12], ["Chenatlia"], (13, 21)),
    ([22], ["julienceindrial"], (23, 27)),
    ([28, 29, 30], ["Chenatlia", "AndréaM", "Satolas"], (31, 45)),
    ([46, 47], ["Adeline", "Stéphane Barsacq"], (48, 50)),
    ([51], ["AndréaM"], (52, 56)),
    ([57], ["D.Peixoto"], (58, 63)),
    ([64, 65], ["D.Peixoto", "AndréaM"], (66, 85)),
    ([86], ["D.Peixoto"], (87, 90)),
    ([91], ["mamzelleb"], (92, 101)),
    ([102], ["D.Peixoto"], (103, 109)),
    ([110], [None], (111, 111)),
]


def test_parse_json_contract_on_the_seed():
    result = CliRunner().invoke(cli, ["parse", str(SEED), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["source"] == str(SEED) and doc["format"] == "chat"
    got = [
        ([q["line"] for q in t["questions"]], [q["speaker"] for q in t["questions"]], (t["answer"]["start_line"], t["answer"]["end_line"]))
        for t in doc["threads"]
    ]
    assert got == EXPECTED
    for t in doc["threads"]:
        assert set(t) >= {"id", "questions", "answer", "topic"}
        assert set(t["answer"]) >= {"speaker", "text", "start_line", "end_line"}
    assert all(set(s) == {"line", "kind"} for s in doc["skipped"])
    assert {s["line"] for s in doc["skipped"]} >= set(range(1, 12))


def test_parse_readable_listing_shows_speakers_and_ranges():
    result = CliRunner().invoke(cli, ["parse", str(SEED)])
    assert result.exit_code == 0
    assert "Stéphane Barsacq" in result.output and "l.48–50" in result.output
    assert "Jean-Christophe Anna" in result.output


@pytest.mark.parametrize(
    "content,code,word",
    [(b"", 2, "vide"), (b"%PDF-1.4\n\x00\x01\x02binary", 2, "binaire")],
    ids=["empty", "binary"],
)
def test_parse_unreadable_files_exit_non_zero_with_one_line(tmp_path, content, code, word):
    f = tmp_path / "x.txt"
    f.write_bytes(content)
    result = CliRunner().invoke(cli, ["parse", str(f)])
    assert result.exit_code == code
    assert word in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_parse_file_without_questions_says_so(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("Bonjour à tous\nMerci !\nBonne journée\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["parse", str(f), "--json"])
    assert result.exit_code == 0
    assert "aucune question" in result.output
    assert json.loads(result.stdout)["threads"] == []


def test_help_is_fast_and_does_not_import_torch():
    code = "import sys; from chatkb.cli import cli; assert 'torch' not in sys.modules and 'faiss' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ask_and_eval_contracts(real_index, monkeypatch, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["ask", "homonymes google", "--index", str(real_index), "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"query", "answered", "results"} and len(out["results"]) == 2
    hit = out["results"][0]
    assert set(hit) >= {"thread_id", "score", "confidence", "questions", "answer", "source"}
    assert set(hit["source"]) >= {"path", "title"}
    assert "Jean Martin" in hit["questions"][0]["text"] + hit["answer"]["text"]

    batch = tmp_path / "q.txt"
    batch.write_text("linkedin ou viadeo\n\nrecette de la tarte aux pommes\n", encoding="utf-8")
    result = runner.invoke(cli, ["ask", "--batch", str(batch), "--index", str(real_index), "--json"])
    lines = [json.loads(x) for x in result.output.strip().splitlines()]
    assert [x["query"] for x in lines] == ["linkedin ou viadeo", "", "recette de la tarte aux pommes"]
    assert lines[0]["answered"] and not lines[2]["answered"]

    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "homonymes google", "expect": "Jean Martin"}\n{"query": "recette de crêpes", "expect": null}\n')
    result = runner.invoke(cli, ["eval", str(queries), "--index", str(real_index), "--json"])
    rep = json.loads(result.output)
    assert rep["r@1"] == 1.0 and rep["declined_correctly"] == 1
    assert set(rep) >= {"r@1", "r@3", "r@5", "mrr", "declined_correctly", "declined_wrongly"}


def test_ask_with_a_missing_index_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["ask", "cv", "--index", str(tmp_path / "none")])
    assert result.exit_code == 4 and "chatkb build" in result.output and "Traceback" not in result.output


def test_readable_ask_shows_plain_answers(real_index):
    """A FAQ answer prints without its Markdown markers, a line never starts with French
    punctuation cut from its word, and a declined result does not say "éloigné" twice."""
    runner = CliRunner()
    out = runner.invoke(cli, ["ask", "faut il une photo sur le cv", "--index", str(real_index), "-k", "2"]).output
    assert "ni obligatoire ni interdite" in out and "**" not in out
    assert not any(line.lstrip().startswith((":", "?", ";", "!")) for line in out.splitlines())
    out = runner.invoke(cli, ["ask", "recette de la tarte aux pommes", "--index", str(real_index), "-k", "2"]).output
    assert out.startswith("Aucune réponse suffisamment proche") and "Éloigné" in out and "— éloigné" not in out


PARTLY_READ = (
    "Export de la conversation, format maison\n"
    + "".join(f">> message {i} de l'outil, ligne sans locuteur reconnaissable\n" for i in range(14))
    + "Bonjour, nous avons le plaisir d'accueillir Anne Martin, consultante Apec.\n"
    "paul75 : Comment préparer un entretien ?\n"
    "Préparez trois exemples concrets.\n"
)


def test_a_transcript_read_only_in_part_gets_a_one_line_warning(tmp_path):
    f = tmp_path / "export.txt"
    f.write_text(PARTLY_READ, encoding="utf-8")
    result = CliRunner().invoke(cli, ["parse", str(f)])
    assert result.exit_code == 0
    warning = result.stderr.strip()
    assert warning.startswith("Attention : export.txt : 15 lignes sur 18") and "\n" not in warning
    build = CliRunner().invoke(cli, ["build", str(tmp_path), "--index", str(tmp_path / "index")])
    assert build.exit_code == 0 and "export.txt : 15 lignes sur 18" in build.output
    clean = CliRunner().invoke(cli, ["parse", str(SEED)])
    assert "Attention" not in clean.stderr
