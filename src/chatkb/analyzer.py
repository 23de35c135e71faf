"""The French analyser: one pipeline for documents and queries alike.

lowercase → accent folding → elisions (l', d', qu', j' …) → tokens → stopwords → stemming
(PyStemmer's Snowball French). At query time, two more steps help users who type the way
they speak: the glossary (``corpus/glossaire.tsv``: abbreviations and SMS spellings mapped
to the words experts use) and typo correction against the corpus vocabulary (rapidfuzz),
applied only to words that are not French words (pyspellchecker's French dictionary).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

ANALYZER_VERSION = "fr-1"
_ELISION = re.compile(r"\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu|quoiqu)['’`]", re.I)
_TOKEN = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
# Short forms that carry meaning in job search and must survive the length filter.
_KEEP_SHORT = frozenset({"cv", "rh", "ia", "pme", "tpe", "cdi", "cdd", "drh", "roi", "web", "job"})


def fold(text: str) -> str:
    """Lowercase and strip accents: ``Réseaux Élevés`` → ``reseaux eleves``."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("œ", "oe").replace("æ", "ae")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """French stopwords (bm25s's list, folded), plus chat fillers."""
    from bm25s.stopwords import STOPWORDS_FRENCH

    extra = {"bonjour", "merci", "svp", "stp", "etc", "ca", "cela", "ceci", "si", "plus", "tres", "tout", "tous", "toute", "toutes", "faire", "fait", "peut", "faut", "comme", "quoi", "quel", "quelle", "quels", "quelles", "comment", "pourquoi", "quand", "est", "sont", "etre", "avoir", "bien", "aussi", "donc", "alors"}
    return frozenset(fold(w) for w in STOPWORDS_FRENCH) | extra


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("french")


def words(text: str) -> list[str]:
    """Folded word forms, elisions removed, hyphenated words split, stopwords dropped."""
    text = _ELISION.sub(" ", text)
    out = []
    for tok in _TOKEN.findall(fold(text)):
        for part in re.split(r"[-.]", tok) if ("-" in tok or "." in tok) else (tok,):
            if part and part not in stopwords() and (len(part) > 2 or part in _KEEP_SHORT or part.isdigit()):
                out.append(part)
    return out


def stem(tokens: Iterable[str]) -> list[str]:
    """Snowball French stems of folded words."""
    return _stemmer().stemWords(list(tokens))


def analyze(text: str) -> list[str]:
    """Document-side analysis: the stems BM25 indexes."""
    return stem(words(text))


def load_glossary(path: str | Path | None) -> dict[str, list[str]]:
    """Read ``term<TAB>expansion`` lines (``#`` comments). Missing file → empty glossary."""
    glossary: dict[str, list[str]] = {}
    if path is None or not Path(path).is_file():
        return glossary
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#") or "\t" not in raw:
            continue
        term, expansion = raw.split("\t", 1)
        key = fold(term.strip())
        glossary.setdefault(key, []).extend(fold(expansion).split())
    return glossary


@lru_cache(maxsize=1)
def french_words() -> dict[str, int]:
    """Folded French words and their frequency (pyspellchecker's dictionary), loaded once."""
    try:
        from spellchecker import SpellChecker
    except ImportError:  # pragma: no cover - a dependency; degrade to corpus-only correction
        return {}
    freq: dict[str, int] = {}
    for word, count in SpellChecker(language="fr", distance=1).word_frequency.items():
        key = fold(word)
        freq[key] = max(count, freq.get(key, 0))
    return freq


@dataclass(frozen=True)
class QueryTerms:
    """A query's stems, grouped by the word they come from.

    ``groups`` holds, for each content word of the query, its information weight (rarer French
    words weigh more) and the stems that stand for it (itself, its glossary expansion, its typo
    correction). A thread *covers* a word when it contains any of those stems.
    """

    stems: tuple[str, ...]
    groups: tuple[tuple[float, tuple[str, ...]], ...]
    words: tuple[str, ...] = ()  # the query's word of each group, as typed (folded)


class QueryAnalyzer:
    """Query-side analysis: glossary expansion and typo correction, then :func:`analyze`.

    Args:
        vocabulary: folded word forms seen in the corpus (typos are corrected towards them).
        glossary: term → expansion words, from :func:`load_glossary`.
        min_typo_length: words shorter than this are never corrected.
        known_frequency: a word this frequent in the French dictionary is not a typo (the
            dictionary, built from real text, also lists rare misspellings).
    """

    def __init__(self, vocabulary: Iterable[str] = (), glossary: dict[str, list[str]] | None = None, *, min_typo_length: int = 6, known_frequency: int = 100):
        self.vocabulary = sorted(set(vocabulary) | stopwords())
        self._vocab_set = frozenset(self.vocabulary)
        self._french = french_words()
        self._total = sum(self._french.values()) or 1
        self.glossary = glossary or {}
        self.min_typo_length = min_typo_length
        self.known_frequency = known_frequency
        self._by_initial: dict[str, list[str]] = {}
        for w in self.vocabulary:
            self._by_initial.setdefault(w[0], []).append(w)

    def correct(self, word: str) -> str | None:
        """The corpus word closest to a misspelt ``word``, or ``None``.

        Words of the corpus, French words and short words are left alone. Candidates are corpus
        words (and stopwords) within edit distance 1, or 2 for long words (a swap of two
        letters counts as one); ties go to the more frequent French word.
        """
        if (
            word in self._vocab_set
            or self._french.get(word, 0) >= self.known_frequency
            or len(word) < self.min_typo_length
            or word.isdigit()
        ):
            return None
        from rapidfuzz.distance import OSA
        from rapidfuzz.process import extract

        max_dist = 1 if len(word) < 8 else 2
        candidates = [w for w in self._by_initial.get(word[0], ()) if abs(len(w) - len(word)) <= max_dist]
        found = extract(word, candidates, scorer=OSA.distance, score_cutoff=max_dist, limit=None)
        if not found:
            return None
        return min(found, key=lambda f: (f[1], -self._french.get(f[0], 0), f[0]))[0]

    def word_groups(self, text: str) -> list[tuple[str, list[str]]]:
        """Each content word of the query with its alternatives (glossary, typo correction)."""
        groups: list[tuple[str, list[str]]] = []
        for tok in _TOKEN.findall(fold(_ELISION.sub(" ", text))):
            if tok in self.glossary:
                alts = [w for w in self.glossary[tok] if w not in stopwords()]
                if alts:
                    groups.append((tok, alts))
                continue
            for w in words(tok):
                fixed = self.correct(w)
                groups.append((w, [w] if fixed is None or fixed in stopwords() else [w, fixed]))
        return groups

    def expand(self, text: str) -> list[str]:
        """Folded query words after glossary expansion and typo correction (before stemming)."""
        return [w for _, alts in self.word_groups(text) for w in alts]

    def information(self, word: str) -> float:
        """How much a word tells: -log of its frequency in French (digits tell little)."""
        if word.isdigit():
            return 0.5
        return math.log((self._total + 1) / (self._french.get(word, 0) + 1))

    def terms(self, text: str) -> QueryTerms:
        """Stems and word groups of a query."""
        word_groups = self.word_groups(text)
        groups = [(self.information(w), tuple(dict.fromkeys(stem(alts)))) for w, alts in word_groups]
        stems = tuple(dict.fromkeys(s for _, g in groups for s in g))
        return QueryTerms(stems=stems, groups=tuple(groups), words=tuple(w for w, _ in word_groups))

    def __call__(self, text: str) -> list[str]:
        """Stems to look up in the BM25 index."""
        return list(self.terms(text).stems)
