"""Pass 1 of the chat parser (:mod:`chatkb.chat`): each line's timestamp and ``prefix :``.

A line may carry a timestamp (``[14:02]``, ``14:02 -``, ``Paul (14:02) :``), a prefix that names
a speaker or labels a line of an answer (``D.Peixoto : …``, ``Mon conseil : …``), or be a header
that only says who wrote the message below and when, as chat tools copy them (Teams, Slack,
Discord, Google Meet, LinkedIn, Zoom, webinar exports). Here each prefix gets a kind (a name,
a Q/R marker, a relay, the expert, the moderator) and a shape score (how much it looks like a
person's name); :mod:`chatkb.chat` weighs that evidence against the rest of the transcript.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# ------------------------------------------------------------------------------------ text helpers


_COMBINING = re.compile(r"[\u0300-\u036f]")
_PUNCT_FOLD = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00a0": " ", "\u202f": " "})


@lru_cache(maxsize=32768)
def _fold(text: str) -> str:
    """Lowercase, accent-free, straight apostrophes; same length as ``text`` for French.

    (NFD splits "é" into "e" + a combining accent, which is then dropped; callers that
    slice the original text with positions found in the folded one check the lengths.)
    """
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFD", text)).translate(_PUNCT_FOLD).lower()


def _words(folded: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:['-][a-z0-9]+)*", folded)


# ------------------------------------------------------------- a prefix's words, a line's patterns

# Closed grammatical classes of French: a prefix starting with one of these is a phrase
# ("Mon conseil", "En résumé", "Pour aller plus loin"), not somebody's name.
_FUNCTION_WORDS = frozenset(
    """le la les l un une des du de d mon ma mes ton ta tes son sa ses notre nos votre vos
    leur leurs ce cet cette ces c ca cela ceci tout toute tous toutes chaque quelques
    plusieurs certains certaines aucun aucune nul en au aux a pour par sur sous dans avec
    sans selon apres avant entre vers chez contre et ou mais donc car or ni si quand comme
    que qu qui quoi quel quelle quels quelles il elle ils elles on je j nous vous tu y voici
    voila dont ne n pas plus moins tres bien autre autres meme ensuite enfin puis alors aussi
    sinon bref concretement personnellement perso franchement finalement ainsi surtout
    d'abord dabord deja encore toujours jamais parfois souvent oui non ok""".split()
)
_IMPERATIVE = re.compile(r"^[a-z]+(?:ez|ons|e|s)-(?:vous|nous|toi|moi|le|la|les|lui|leur|en|y)$")
_NAME_PARTICLES = frozenset("de du des d le la van von der di da dos del".split())
# Generic labels that open a line of advice or a header field (metadiscourse), any topic.
_LABEL_NOUNS = frozenset(
    """attention exemple exemples ex astuce astuces conseil conseils remarque rq important
    importante rappel note nb ps resume conclusion objectif objectifs definition avantage
    avantages inconvenient inconvenients bonus info infos information precision piege
    erreur erreurs solution solutions methode etape regle principe alternative option
    source sources lien liens site resultat idee cle vigilance recommandation strategie
    priorite point theme sujet date lieu heure horaire duree titre format contexte probleme
    constat enjeu bilan synthese verdict pourquoi comment cas mise article top partie phase
    piste niveau semaine jour mois annee chapitre section annexe scenario numero cote
    """.split()
)
_ORDINAL = re.compile(
    r"^(?:\d+\s*(?:e|er|ere|re|eme|ieme|nd|nde|d|de|o|°|st|th)"
    r"|premier|premiere|second|seconde|dernier|derniere|[a-z]+iemes?)$"
)
_MODERATOR_ROLE = re.compile(
    r"^(?:(?:le|la|l')\s*)?(?:moderat\w*|modo|admin\w*|animat\w*|organisat\w*|community manager)$"
)
_EXPERT_ROLE = re.compile(
    r"^(?:(?:l'|le|la)\s*)?(?:expert\w*|consultant\w*|conseill\w*|coach\w*|intervenant\w*|invite\w*"
    r"|specialiste\w*|psycholog\w*|recrut\w*|drh|rh|avocat\w*|juriste|format(?:eur|rice)\w*"
    r"|charge\w* (?:de|d')\s?\w+.*|responsable\w*.*|direct(?:eur|rice)\w*.*|chasseu\w*.*)$"
)
# Roles that say "the guest of this chat" (others are jobs participants may have too).
_GUEST_ROLE = re.compile(r"^(?:(?:l'|le|la)\s*)?(?:expert\w*|consultant\w*|conseill\w*|coach\w*|intervenant\w*|invite\w*|specialiste\w*)\b")
_ORG_ROLE = re.compile(r"^(?:apec|pole emploi|france travail|cabinet .*|[A-Z]{2,6})$")
_QMARK = re.compile(r"^(?:q|question)\s*(?:n\s*°?\s*)?\d*\s*\.?$")
_RMARK = re.compile(r"^(?:r|rep|reponse)\s*\d*\s*\.?$")
_RELAY = re.compile(
    r"^(?:(?:une|la|l')\s+)?(?:autre\s+|nouvelle\s+|derniere\s+)?question\s+(?:suivante\s+)?"
    r"(?:de|d'|posee\s+par|from)\s*(?P<name>[^\s:,].{0,40}?)\s*(?:,[^:]{0,40})?$"
)
_ASKS_PREFIX = re.compile(
    r"^(?P<name>[^\s].{0,30}?)\s+(?:nous\s+|vous\s+)?"
    r"(?:demande|aimerait savoir|voudrait savoir|souhaite savoir|s'interroge)$"
)
_NEXT_QUESTION = re.compile(
    r"^(?:(?:une|la)\s+)?(?:autre|nouvelle|derniere|prochaine)\s+question$|^question\s+suivante$"
    r"|^(?:une|la|cette)\s+question\s+(?:recue|envoyee|arrivee|posee)\s+(?:par|sur|via|avant|en amont|lors)\b.{0,60}$"
)
_ANSWER_BY = re.compile(r"^(?:la\s+)?(?:reponse|rep)\s+(?:de|d')\s*(?P<name>.+)$")
_TIME = r"(?:[01]?\d|2[0-3])\s?[:hH]\s?[0-5]\d(?:\s?:\s?[0-5]\d)?(?:\s?[AaPp]\.?[Mm]\.?)?"
# A webinar's Q&A export: "Question posée par Paul Martin à 14:02" alone above the question.
_ASKED_BY_LINE = re.compile(
    r"^(?i:question\s+(?:pos[ée]e\s+par|de|d['’]))\s*(?P<name>[^\s:,].{0,40}?)"
    r"(?P<time>\s+(?:à|a|at)\s+" + _TIME + r"|\s*[\[(]\s*" + _TIME + r"\s*[\])])?\s*:?$"
)
_DATE = r"(?:\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}[\sT,]+)?"
_TS_BRACKET = re.compile(r"^\s*[\[(]\s*" + _DATE + _TIME + r"\s*[\])]\s*(?:[-–—|>:]\s*)?")
_TS_DASH = re.compile(r"^\s*" + _DATE + _TIME + r"\s*(?:[-–—|>]|:(?=\s))\s*")
_TS_BARE = re.compile(r"^\s*" + _DATE + _TIME + r"\s+(?=\S)")
_TS_FIRST = frozenset("[(0123456789")
_DAY = r"(?:aujourd['’]hui|hier|avant-hier|today|yesterday|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)"
_SHORT_DATE = r"\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?"
# A line that is only a writer and a time (see _message_headers).
_HEADER_NAME_TIME = re.compile(
    r"^(?P<name>[^\s\d:\[(<][^:]{0,50}?)\s*(?:[,—–]\s*|\s)\s*(?:(?i:" + _DAY + r")\s*(?:à|a|at)?\s*|" + _SHORT_DATE + r"\s*,?\s*)?"
    r"\[?" + _TIME + r"\]?$"
)
_HEADER_TIME_NAME = re.compile(r"^\[\s*(?:" + _SHORT_DATE + r"\s*,?\s*)?" + _TIME + r"\s*\]\s*(?P<name>[^\s\d:\[][^:]{0,50})$")
_TIME_ONLY = re.compile(r"^\[?\s*(?:(?i:" + _DAY + r")\s*(?:à|a|at)?\s*|" + _SHORT_DATE + r"\s*,?\s*)?" + _TIME + r"\s*\]?$")
# What LinkedIn's messaging adds around each message when copied ("Voir le profil de X").
_COPY_NOISE = re.compile(
    r"^(?:.{1,60}? a envoyé (?:le message suivant|les messages suivants) (?:à|a) " + _TIME + r"|Voir le profil de .{1,60}"
    r"|AUJOURD['’]HUI|HIER|Aujourd['’]hui|Hier)$"
)
_SELF_LABELS = frozenset({"Vous", "You", "Moi", "Me"})  # how Meet names whoever copied the chat
_ACCOUNT_LABEL = re.compile(r"\s*\((?i:invit[ée]e?|guest|externe?|external)\)")
_TS_IN_PREFIX = re.compile(r"\s*[\[(]\s*" + _DATE + _TIME + r"\s*[\])]\s*")
# A number before a question/answer marker, in edited Q/R documents: "1. Question de Paul :", "2) Q :"
_NUMBERED_MARKER = re.compile(r"^\s*\d{1,3}\s*[.)-]\s+(?=(?:question|reponse|q|r)\b)")
_BULLET = re.compile(r"^(?:[-–—•·*+>▪◦]|\d{1,2}[.)]|[a-z][)])\s")
_PREFIX = re.compile(r"^(?P<pre>(?:[^:]|(?<=\d):(?=\d)){1,80}?)(?:\s*:(?=\s|$)|\s+:)\s*(?P<body>.*)$")
_IRC = re.compile(r"^<(?P<pre>[^<>]{1,40})>\s*(?P<body>.*)$")
_SAYS = re.compile(r"\s+(?:a\s+)?(?:dit|ecrit|says|said|wrote)$")
# Zoom's chat export: "14:02:33 De Paul Martin à Tout le monde : …", "From Paul to Everyone: …",
# and the older "From Paul Martin : …" (a capitalised name: "From scratch" is no speaker).
_ZOOM = re.compile(
    r"^(?:from|de)\s+(?P<name>.+?)\s+(?:to|à|a)\s+(?:everyone|tout le monde|tous|moi|me|vous)(?:\s*\(.*\))?$",
    re.IGNORECASE,
)
_ZOOM_OLD = re.compile(r"^From\s+(?P<name>[A-ZÀ-Þ][\w.'’-]*(?:\s+[A-ZÀ-Þ][\w.'’-]*){0,3})$")


_PHONE = re.compile(r"(?:\+\d{1,3}[ .-]?\d{1,4}|0\d)(?:[ .-]?\d{2,4}){3,5}")


# ----------------------------------------------------------------------------------------- records


@dataclass
class _Prefix:
    """What a ``prefix :`` says on its own: its kind, the speaker it names, a shape score."""

    kind: str  # "name" | "q" | "r" | "relay" | "expert" | "moderator"
    name: str | None = None
    key: str | None = None
    shape: int = 0
    role: str | None = None


@dataclass
class _Line:
    """One non-blank line after timestamp and prefix analysis."""

    no: int
    text: str  # the line without its timestamp
    ts: bool
    prefix: _Prefix | None
    body: str  # text after the prefix, when the prefix is a speaker
    head: bool = False  # decided: the prefix is a speaker (or Q/R marker)
    score: int = 0
    cue: bool = False  # the text reads like a participant: greeting, question, first person
    recurs: bool = False  # the prefix speaks elsewhere with such cues


# ------------------------------------------------------------------- a line's timestamp and prefix


def _strip_timestamp(line: str, bare_ok: bool) -> tuple[bool, str]:
    """Remove a leading timestamp; ``bare_ok`` allows ``14:02 pseudo : …`` (no bracket/dash)."""
    if line.lstrip()[:1] not in _TS_FIRST:
        return False, line.strip()
    for rx in (_TS_BRACKET, _TS_DASH) + ((_TS_BARE,) if bare_ok else ()):
        m = rx.match(line)
        if m:
            return True, line[m.end():].strip()
    return False, line.strip()


def _clean_name(pre: str) -> tuple[str, str | None, bool]:
    """Strip markdown, 'dit', a timestamp and a role from a prefix: (name, role, had_ts)."""
    name = pre.strip().strip("*_`\"' ").strip()
    had_ts = False
    m = _TS_IN_PREFIX.search(name)
    if m:
        had_ts = True
        name = (name[: m.start()] + " " + name[m.end():]).strip()
    sm = _SAYS.search(_fold(name))
    if sm:
        name = name[: sm.start()].strip()
    zm = _ZOOM.match(name) or _ZOOM_OLD.match(name)
    if zm:
        name = zm.group("name").strip()
    role = None
    rm = re.match(r"^(?P<n>.+?)\s*[(\[](?P<r>[^()\[\]]{1,50})[)\]]$", name)
    if rm:
        name, role = rm.group("n").strip(), rm.group("r").strip()
    else:
        rm = re.match(r"^(?P<n>.+?)\s*(?:,|\s[-–—|]\s)\s*(?P<r>.{2,50})$", name)
        if rm and (_EXPERT_ROLE.match(_fold(rm.group("r"))) or _MODERATOR_ROLE.match(_fold(rm.group("r")))):
            name, role = rm.group("n").strip(), rm.group("r").strip()
    return name.strip("*_ "), role, had_ts


def _key(name: str) -> str:
    return " ".join(_words(_fold(name)))


def _shape_score(name: str) -> int:
    """How much a prefix looks like a person's name or pseudo (>0) or a phrase (<0)."""
    tokens = name.split()
    if _PHONE.fullmatch(name.strip()):
        return 3  # "+33 6 71 28 44 90": a contact the export did not name
    if not tokens or len(name) > 40 or len(tokens) > 4 or name.startswith("@"):
        return -6  # a sentence, or "@Paul : …" (addressing someone, not speaking)
    if re.search(r"[!?;,\"«»“”]|[.:]$", name) and not re.search(r"(?:^|\s)[A-ZÀ-Þ]\.$", name):
        return -4
    folded = _fold(name)
    ftoks = folded.split()
    first = re.split(r"['’]", ftoks[0])[0] if "'" in ftoks[0] else ftoks[0]
    if re.fullmatch(r"[\divxlc]+[.)]?", ftoks[0]):
        return -6
    if _IMPERATIVE.match(ftoks[0]):
        return -6  # "Posez-vous la question", "Demandez-vous", "Renseignez-vous": advice, not a name
    if first in _FUNCTION_WORDS or ftoks[0] in _FUNCTION_WORDS or _ORDINAL.match(ftoks[0]):
        # "Le Gall", "La Fontaine": a determiner followed by a capitalised word may be a surname.
        return -1 if len(tokens) > 1 and tokens[1][:1].isupper() else -6
    score = 0
    if name[:1].islower():
        score += 3  # clspinnaker, mamzelleb: line-initial labels are capitalised
    if re.search(r"[^\W\d_]\d|\d[^\W\d_]", name):
        score += 3  # paul75
    if re.search(r"\w[._@]\w", name):
        score += 3  # D.Peixoto, said.eljaafari
    if re.search(r"[a-zà-ÿ][A-ZÀ-Þ]", name):
        score += 3  # AndréaM, TaNos
    if len(tokens) >= 2 and re.fullmatch(r"\d{2,4}", tokens[-1]) and ftoks[0] not in _LABEL_NOUNS:
        tokens, ftoks = tokens[:-1], ftoks[:-1]  # "Mélanie 31", "Léa 2024": a pseudo's number
        score += 3
    if len(tokens) >= 2:
        rest = ftoks[1:]
        caps = [t[:1].isupper() or t.lower() in _NAME_PARTICLES for t in tokens[1:]]
        initial = [bool(re.fullmatch(r"[A-ZÀ-Þ]\.?", t)) for t in tokens[1:]]  # "Karine L", not "l'"
        if any(t in _FUNCTION_WORDS and t not in _NAME_PARTICLES and not i for t, i in zip(rest, initial)):
            score -= 4  # "Bon à savoir", "Point de vue"
        elif all(caps) and tokens[0][:1].isupper():
            score += 3  # Stéphane Barsacq
        elif tokens[0][:1].isupper():
            # "Important maintenant", or a pseudo that describes ("Cadre sup"): a question tips it
            score -= 2
        else:
            score += 1
    return score


def _classify_prefix(pre: str, q_markers_ok: bool) -> _Prefix | None:
    """Give a prefix its kind; ``None`` when it cannot be a speaker at all."""
    name, role, _ = _clean_name(pre)
    if not name:
        return None
    folded = _fold(name)
    if _QMARK.match(folded):
        if not q_markers_ok:
            return _Prefix("name", name, _key(name), shape=-6)
        return _Prefix("q", role, _key(role)) if role else _Prefix("q")
    if _RMARK.match(folded):
        return _Prefix("r")
    relayed = _relayed_by_prefix(name, folded)
    if relayed:
        return _Prefix("relay", relayed, _key(relayed))
    if _NEXT_QUESTION.match(folded):
        return _Prefix("q")
    m = _ANSWER_BY.match(folded)
    if m and len(folded) == len(name):
        expert = name[m.start("name"): m.end("name")].strip()
        return _Prefix("expert", expert, _key(expert))
    if _MODERATOR_ROLE.match(folded):
        return _Prefix("moderator", name, _key(name))
    if _EXPERT_ROLE.match(folded) and len(folded.split()) <= 3 and not re.search(r"[\d_]", name):
        return _Prefix("expert", None, _key(name), role=name)  # not "Invité_2207", an anonymous participant
    if role is not None:
        frole = _fold(role)
        if _MODERATOR_ROLE.match(frole.split(",")[0].strip()) or _MODERATOR_ROLE.match(frole):
            return _Prefix("moderator", name, _key(name), role=role)
        if _EXPERT_ROLE.match(frole) or _ORG_ROLE.match(frole) or _ORG_ROLE.match(role):
            return _Prefix("expert", name, _key(name), role=role)
    shape = _shape_score(name) + (1 if role is not None else 0)
    return _Prefix("name", name, _key(name), shape=shape, role=role)


def _relayed_by_prefix(name: str, folded: str) -> str | None:
    """``Question de Paul`` / ``Paul demande`` -> ``Paul`` ("Le recruteur demande" is no name)."""
    if len(folded) != len(name):
        return None
    m = _RELAY.match(folded)
    if m is not None:
        return name[m.start("name"): m.end("name")].strip() or None
    m = _ASKS_PREFIX.match(folded)
    if m is not None:
        asker = name[m.start("name"): m.end("name")].strip()
        return asker if _shape_score(asker) >= 0 else None
    return None


_EMOJI_LEAD = re.compile("^[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]+\\s*")


def _split_prefix(text: str) -> tuple[str, str] | None:
    """``"Paul : texte"`` -> ``("Paul", "texte")``; bullets and URLs are not prefixes."""
    if (":" not in text[:90] and not text.startswith("<")) or _BULLET.match(text):
        return None
    m = _IRC.match(text) or _PREFIX.match(text)
    if not m:
        return None
    pre = _EMOJI_LEAD.sub("", m.group("pre"))  # "🌻 Sandrine : …"
    if not re.match(r"^[*_\"]*(?:[\w@]|\+\d)", pre) or pre.rstrip().endswith(("/", "http", "https")):
        return None
    return pre, m.group("body").strip()


def _message_headers(raw: list[tuple[int, str]]) -> tuple[dict[int, str], set[int]]:
    """Lines that only say who wrote the message below them and when, as chat tools copy them:
    Teams ("Nom  14:02", "Nom 04/06/2024 14:02", "[04/06/2024 14:02] Nom"), Slack ("Nom
    [14:02]"), Discord ("Nom — Aujourd'hui à 14:02"), Google Meet ("Nom", then "14:02" on its own
    line), LinkedIn ("Nom  14:02" among its "Voir le profil de Nom" lines). Read as the block
    layout "Nom (14:02) :" when they head at least three messages (and a tenth of the lines): a
    few lines ending with a time ("Rendez-vous à 14:00") are text.

    Returns line number → the writer's name (Teams' "(Invité)" or "(Guest)" account label
    dropped), and the lines that say nothing more: Meet's name line (its time line stands for
    the header), a time alone between two messages of one writer (Slack), LinkedIn's extra lines
    and day separators ("AUJOURD'HUI").
    """
    nos = {no for no, _ in raw}
    text = dict(raw)
    headers: dict[int, str] = {}
    dropped: set[int] = set()
    for no, ln in raw:
        t = ln.strip()
        if no in headers or _ASKED_BY_LINE.match(t) or _COPY_NOISE.match(t):
            continue  # "Question posée par Paul à 14:02" is a relay marker, read in _analyse_lines
        m = _HEADER_NAME_TIME.match(t) or _HEADER_TIME_NAME.match(t)
        if m and no + 1 in nos:
            headers[no] = m.group("name")
        elif (
            no + 1 in nos and no + 2 in nos and _TIME_ONLY.match(text[no + 1].strip())
            and re.fullmatch(r"[^\W\d_@][\w'’@-]*(?:\s[\w'’.@-]+){0,3}", t) and (_shape_score(t) >= 0 or t in _SELF_LABELS)
        ):
            headers[no + 1] = t  # Google Meet: the name, then the time, on lines of their own
            dropped.add(no)
    if len(headers) < max(3, 0.1 * len(raw)):
        return {}, set()
    dropped |= {no for no, ln in raw if no not in headers and (_TIME_ONLY.match(ln.strip()) or _COPY_NOISE.match(ln.strip()))}
    return {no: _ACCOUNT_LABEL.sub("", name).strip() for no, name in headers.items()}, dropped


def _analyse_lines(lines: list[str]) -> tuple[list[_Line], set[int]]:
    """Pass 1: timestamps and prefixes for every non-blank line; also the header lines that
    say nothing more than the next one (see :func:`_message_headers`), left out."""
    raw = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    stamped = sum(1 for _, ln in raw if _TS_BARE.match(ln) or _TS_BRACKET.match(ln) or _TS_DASH.match(ln))
    bare_ok = stamped >= 3 and stamped >= 0.25 * len(raw)  # "14:02 Paul : …" only in stamped files
    headers, dropped = _message_headers(raw)
    raw = [(no, ln) for no, ln in raw if no not in dropped]
    asked_by_lines = sum(1 for _, ln in raw if _ASKED_BY_LINE.match(ln.strip()))
    split: list[tuple[int, bool, str, tuple[str, str] | None]] = []
    for no, ln in raw:
        if no in headers:
            split.append((no, True, ln.strip(), (headers[no], "")))
            continue
        asked = _ASKED_BY_LINE.match(ln.strip()) if asked_by_lines >= 2 else None
        if asked:  # "Question posée par Paul Martin (à 14:02)" above the question
            split.append((no, bool(asked.group("time")), ln.strip(), (f"Question de {asked.group('name')}", "")))
            continue
        ts, text = _strip_timestamp(ln, bare_ok)
        numbered = _NUMBERED_MARKER.match(_fold(text))  # "1. Question de Paul : …"
        sp = _split_prefix(text[numbered.end():] if numbered else text)
        if ts and sp is not None and sp[0].startswith("@"):
            sp = (sp[0][1:], sp[1])  # a live chat's handle after the time ("14:02 @paul_m: …") speaks
        split.append((no, ts, text, sp))
    folded_pres = [_fold(sp[0].strip()) for _, _, _, sp in split if sp]
    n_q = sum(1 for p in folded_pres if _QMARK.match(p))
    n_r = sum(1 for p in folded_pres if _RMARK.match(p))
    # Q markers alone make a Q/R layout when they are spread out; "Question n°1 : …",
    # "Question n°2 : …" one under the other, with no R marker, are a list inside an answer.
    q_at = [i for i, (_, _, _, sp) in enumerate(split) if sp and _QMARK.match(_fold(sp[0].strip()))]
    listed = all(i - 1 in q_at or i + 1 in q_at for i in q_at)
    q_ok = (n_q >= 2 and not listed) or (n_q >= 1 and n_r >= 1)
    out = []
    for no, ts, text, sp in split:
        prefix, body = None, text
        if sp is not None:
            prefix = _classify_prefix(sp[0], q_ok)
            if prefix is not None:
                body = sp[1]
                if _clean_name(sp[0])[2]:
                    ts = True
                if no in headers and prefix.kind == "name":
                    prefix.shape = max(prefix.shape, 0) + 3  # a header line names its writer, whatever the name
        out.append(_Line(no, text, ts, prefix, body))
    return out, dropped
