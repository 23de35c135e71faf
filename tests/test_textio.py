"""Decoding files: encodings, BOMs, line endings, and refusing what is not text."""

import codecs

import pytest

from chatkb.errors import UnreadableFileError
from chatkb.textio import decode_bytes, read_text

TEXT = "Réponse : élégance, façon, œuvre, déjà vu — « guillemets »\nDeuxième ligne"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        TEXT.encode("cp1252"),
        TEXT.replace("œ", "oe").replace("—", "-").replace("« ", '"').replace(" »", '"').encode("latin-1"),
        codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
    ],
    ids=["utf8", "utf8-bom", "cp1252", "latin1", "utf16"],
)
def test_encodings_are_detected(data):
    decoded = decode_bytes(data)
    assert decoded.lines[0].startswith("Réponse : élégance, façon")
    assert decoded.lines[1] == "Deuxième ligne"
    assert "\ufeff" not in decoded.text


def test_line_endings_crlf_cr_and_mixed_give_the_same_lines():
    for sep in ("\r\n", "\r", "\n"):
        assert decode_bytes(f"a{sep}b{sep}c{sep}".encode()).lines == ["a", "b", "c"]
    assert decode_bytes(b"a\r\nb\nc\rd").lines == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "vide"),
        (b"  \n\n \t", "vide"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "binaire"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binaire"),
        (bytes(range(256)) * 20, "binaire"),
    ],
    ids=["empty", "blank", "pdf", "png", "random-bytes"],
)
def test_unreadable_input_gets_a_one_line_message(data, message):
    with pytest.raises(UnreadableFileError) as err:
        decode_bytes(data, name="x.txt")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_too_large_and_missing_files(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2000)
    with pytest.raises(UnreadableFileError, match="volumineux"):
        read_text(big, max_bytes=1000)
    with pytest.raises(UnreadableFileError, match="introuvable"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(UnreadableFileError, match="dossier"):
        read_text(tmp_path)
