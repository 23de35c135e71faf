"""Chat transcript parser: lines of a chat export -> threads (questions + expert answer).

How a transcript is read, in five passes:

1. **Lines** (:mod:`chatkb.chatlines`). Each line loses its timestamp (``[14:02]``,
   ``14:02 -``, ``[14:02:33]``, ``Paul (14:02) :``, ``Paul  14:02`` above the message) and,
   when it has one, its ``prefix :`` is set apart.
2. **Speaker or label?** A prefix may be a speaker (``D.Peixoto : …``) or a label inside an
   answer (``Mon conseil : …``, ``4ème étape : …``, ``Attention : …``). This is decided from
   evidence, never from the words of one file: the prefix's linguistic shape (a French
   determiner, pronoun or ordinal starts a noun phrase, not a name; lowercase, digits, dots,
   inner capitals and several capitalised words make a pseudo or a name), the text after it
   (a greeting, a question or a first-person request is a participant speaking), whether
   the prefix also speaks elsewhere, whether the file is timestamped (a line without a
   timestamp continues the message above), and the neighbouring lines.
3. **Who is the expert?** From a role label (``Nathalie Roche (consultante)``), ``R :`` /
   ``Réponse :`` markers, the name given in the intro ("nous avons le plaisir d'accueillir
   X"), or else the speaker who answers others' questions and writes most. The layout
   follows: either the expert speaks with a prefix (unprefixed lines continue the message
   above) or, as in the Apec export, the expert's lines carry no prefix. A second look
   then turns quiet one-word prefixes inside a running answer (``Linkedin : …``) and
   header lines before the first question (``Date : …``) back into plain text.
4. **Messages.** Lines are grouped into messages; a lowercase line after a comma is joined
   to the line above.
5. **Threads.** Participants' messages that are not greetings/thanks/chit-chat are
   questions; consecutive questions share the expert answer that follows them. Moderator
   announcements, the preamble and the expert's greeting are skipped with a kind.

The parser never raises on text input and runs in linear time.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from .chatlines import (
    _BULLET, _EXPERT_ROLE, _FUNCTION_WORDS, _GUEST_ROLE, _LABEL_NOUNS, _Line,
    _NAME_PARTICLES, _Prefix, _QMARK, _analyse_lines, _fold, _key,
    _shape_score, _words,
)
from .records import Answer, Document, Question, Skipped, Thread, make_thread

__all__ = ["parse_chat"]

# --------------------------------------------------------------------------- what a message says


_RELAY_BODY = re.compile(
    r"^(?:(?:une|la|l')\s+)?(?:autre\s+|nouvelle\s+|derniere\s+)?question\s+(?:de|d'|posee\s+par)\s*"
    r"(?P<name>[^\s:,][^:,]{0,40}?)\s*(?:,[^:]{0,40})?\s*:\s*(?P<q>\S.*)$"
)
# "Paul demande : …" / "Paul nous demande comment … ?" (not "La demande doit être écrite.")
_ASKS_BODY = re.compile(r"^(?P<name>[^\s:,][^:,]{0,30}?)\s+(?:nous\s+|vous\s+)?demande(?!\w)\s*(?P<colon>:)?\s*(?P<q>\S.*)$")
_PASSED_ON = re.compile(r"\bquestion (?:de |d'|d’)(?P<name>[A-ZÀ-Þ][\w.'’-]*(?: [A-ZÀ-Þ]\.?)?)\b[^:?]{0,60}:\s*(?P<q>\S.*\?)\s*$")


_INTERROGATIVE = re.compile(
    r"^(?:\W*)(?:comment|pourquoi|quel|quelle|quels|quelles|combien|est-ce|est ce|qu'est|que faire"
    r"|faut-il|peut-on|dois-je|puis-je|ou trouver|existe-t-il|y a-t-il|pouvez-vous|pourriez|avez-vous"
    r"|auriez|vaut-il|serait-il|doit-on|quand|lequel|laquelle|lesquels)\b"
)
_REQUEST = re.compile(
    r"\b(?:je (?:voudrais|veux|souhaite\w*|aimerais|cherche|recherche|me demande|m'interroge|hesite"
    r"|n'arrive pas|ne sais pas|ne trouve pas)|j'(?:aimerais|hesite|ai une question|ai besoin"
    r"|ai deux questions|ai plusieurs questions|aurais)|est-ce|pouvez-vous|pourriez-vous|auriez-vous"
    r"|que pensez-vous|qu'en pensez|savoir (?:si|comment|quel|quand|ou|pourquoi|combien)|connaitre"
    r"|(?<!pour )(?:des conseils|un conseil|vos conseils|votre avis)|que faire)\b"  # not "merci pour vos conseils"
)
_FIRST_PERSON = re.compile(r"^(?:(?:bonjour|bonsoir|salut|hello)\W+)?(?:je|j'|moi|me|nous|mon|ma|mes)\b")
_QUESTION_WORD = re.compile(r"\b(?:comment faire|que faire|quels?|quelles?|pourquoi|combien|est-ce|faut-il|peut-on)\b")
_GREETING = re.compile(
    r"^\W*(?:bonjour|bonsoir|salut|hello|hi|hey|coucou|rebonjour|re|bienvenue|good (?:morning|afternoon|evening)"
    r"|bjr|bsr|slt|cc|yo)\b"
)
_THANKS = re.compile(
    r"^\W*(?:(?:ok|okay|oki|ah|oh|d'accord|daccord|super|top|parfait|genial|tres bien|oui)\W+)?"
    r"(?:un (?:grand |immense )?merci|merci|mille mercis|thanks|thank you|thx|je vous remercie"
    r"|nous vous remercions)\b"
)
_FAREWELL = re.compile(
    r"^\W*(?:au revoir|a bientot|a plus|bonne (?:journee|soiree|fin de journee|continuation)|bye"
    r"|a la prochaine|ciao)\b"
)
_CHITCHAT_WORDS = frozenset(
    """ok oki okay d'accord daccord super genial top cool parfait oui non ouais lol mdr +1
    moi aussi idem pareil meme question je suis la present presente hihi haha bravo
    excellent tres bien clair entendu ah oh ben bon vu note avec plaisir de rien je vous en prie
    merci beaucoup bonjour bonsoir salut hello coucou tous toutes a""".split()
)
_ANNOUNCE = re.compile(
    r"\b(?:(?:le|ce|notre) chat\b|poser vos questions|posez vos questions|il (?:nous )?reste \d|derniere question"
    r"|question suivante|fin (?:du|de ce|de notre) (?:chat|echange)|va commencer|est termine|touche a sa fin"
    r"|plaisir d'accueillir|accueillons|bienvenue (?:a|dans|sur)|merci (?:a|de) (?:tous|toutes|vous tous)"
    r"|merci pour vos questions|merci de votre participation|merci pour votre participation)"
)
_CLOSING = re.compile(
    r"\b(?:a tous|a toutes|a vous tous|tout le monde|vos questions|votre participation|ce chat|le chat"
    r"|cet echange|est termine|touche a sa fin)\b"
)
# The moderator's "time left" announcement: "Il nous reste un quart d'heure, n'hésitez pas !"
_TIME_LEFT = re.compile(
    r"\bil (?:ne )?(?:nous )?reste (?:encore |plus que |que |seulement |environ )?(?:un peu )?(?:(?:plus|moins) d'(?:une? )?)?"
    r"(?:(?:un|une|\d+|quelques|cinq|dix|quinze|vingt|trente)\s+)?"
    r"(?:petite?s?\s+)?(?:quart d'heure|demi-heure|(?:dizaine|quinzaine|vingtaine|trentaine) de minutes|minutes?|min)\b"
)
# The moderator on the running order: "Nous passons maintenant aux questions sur…", "Petite pause".
_RUNNING_ORDER = re.compile(
    r"\b(?:nous passons (?:maintenant )?(?:a|aux)|passons (?:maintenant )?(?:a|aux) (?:questions?|sujet|theme)"
    r"|petite pause|beaucoup de questions sur|nous y revenons|petite precision de l'equipe"
    r"|nous (?:avons (?:recu )?|recevons )(?:beaucoup|enormement|de nombreuses|pas mal)(?: de questions)?)\b"
)
# … and on what the expert will do: "Nathalie va y répondre", "Laurent y répond juste après".
_EXPERT_WILL = re.compile(
    r"\b(?:va (?:y |vous )?repondre|y repond|vous repond|repondra|revient|reviendra|dans un instant|juste apres"
    r"|tout de suite|va (?:y )?revenir)\b"
)
_SYSTEM = re.compile(  # applied to lowercased text (accents kept)
    r"^\W*(?:\*{2,}|={2,}|-{3,})|\b(?:a rejoint|a quitt|vient de (?:se connecter|rejoindre|quitter)"
    r"|s'est (?:connect|déconnect)|has (?:joined|left)\b)"
)
# What moderators say: welcome, start and end of the chat, the guest's introduction.
_WELCOME = re.compile(r"accueill|bienvenue|recevons")  # the moderator introducing the guest
_EVENT = re.compile(
    _WELCOME.pattern + r"|va (?:commencer|debuter|demarrer)|pos(?:er|ez) vos questions"
    r"|il (?:nous )?reste \d|est (?:maintenant )?termine|\ba (?:toutes )?vos questions"
)
# What chat tools write in place of a message: "<Médias omis>", "Ce message a été supprimé".
_PLACEHOLDER = re.compile(
    r"^\W*(?:m[ée]dias? omis|media omitted|image absente|ce message a [ée]t[ée] supprim[ée]|message supprim[ée]"
    r"|vous avez supprim[ée] ce message|this message was deleted|you deleted this message)\W*$"
)
# A greeting that asks how the expert is: "Bonjour Julie, vous allez bien ?"
_HOW_ARE_YOU = re.compile(
    r"^\W*(?:bonjour|bonsoir|salut|hello|coucou)\b[^?]{0,40}?\b(?:vous allez bien|comment allez[- ]vous|ca va|comment ca va)\W*$"
)
_SOCIAL_REPLY = re.compile(r"^\W*(?:avec plaisir|de rien|je vous en prie|merci a vous|c'est moi qui)\b")
_NAME = r"(?P<name>[A-ZÀ-ÖØ-Þ][\w'’.-]*(?:\s+(?:(?:de|du|des|d'|van|von|le|la)\s+)?[A-ZÀ-ÖØ-Þ][\w'’.-]*){0,3})"
_INTRO = re.compile(
    r"(?i:plaisir d['’]accueillir|joie d['’]accueillir|honneur d['’]accueillir|nous accueillons|accueillir"
    r"|nous recevons|recevoir|en compagnie de|avec nous|notre (?:invitée?|experte?|intervenante?|consultante?)"
    r"(?: du jour| d['’]aujourd['’]hui)?(?: est| sera)?\s*[,:]?)"
    r"(?:\s+(?i:aujourd['’]hui|ce soir|ce matin|cet après-midi|parmi nous|avec nous),?)?\s+" + _NAME
)
# "Isabelle Lemoine, consultante Apec, répond à vos questions": the guest named before their role.
_INTRO_ROLE = re.compile(
    r"(?:^|(?<=[.!?:,] ))" + _NAME + r"\s*,\s*(?i:notre\s+)?(?i:consultant\w*|conseill\w*|coach\w*|expert\w*|intervenant\w*|psycholog\w*)\b[^.!?]{0,80}?"
    r"\b(?i:r[ée]pond(?:ra)?|vous r[ée]pond|sera (?:avec nous|l[àa])|est (?:avec nous|l[àa]|parmi nous)|nous rejoint|anime)\b"
)
_ADDRESSES = re.compile(r"\b(?:vous|votre|vos)\b")  # the expert speaking to the asker
_SELF_INTRO = re.compile(r"(?i:je suis|je m['’]appelle|mon nom est|ici)\s+" + _NAME)
_TITLE = re.compile(
    r"(?i:(?:re)?transcription|compte[- ]rendu|verbatim|r[ée]sum[ée])\s+(?i:int[ée]grale?\s+)?"
    r"(?i:du|de la|de l['’]|des|de|d['’])\s*(?P<event>.+?)"
    r"(?:\s+(?i:que|qu['’]|qui|ayant|organis\w+|anim\w+|du|de ce|tenu)\b.*?)?"
    r"\s+(?i:sur|consacr[ée]e?s? (?:à|aux?)|r[ée]serv[ée]e?s? (?:à|aux?)|autour d[eu]s?|à propos d[eu]s?|au sujet d[eu]s?)\s+"
    r"(?P<topic>.+?)\s*[.!…]*$"
)

# "… du Chat Conseil Apec « Quitter son poste » du mardi 8 octobre": the theme in quotes.
_QUOTED_TITLE = re.compile(
    r"(?P<event>(?i:chat|tchat|webinaire|webinar|session|permanence)\b[^«“\",.!?]{0,60}?)\s*[«“\"]\s*(?P<topic>[^»”\"]{3,80}?)\s*[»”\"]"
)
# What a title's event and topic say besides them: "… du jeudi 14 mars :", "le thème « … »".
_EVENT_DATE = re.compile(
    r"\s+(?i:du|de|d['’]hier|d['’]aujourd['’]hui)\s+(?i:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|\d{1,2}\b|hier|ce)\b.*$|\s*:\s*$"
)
_THEME_WORD = re.compile(r"^(?i:(?:le |la )?(?:th[eè]me|th[ée]matique|sujet))\s*:?\s*")
_EVENT_TITLE = re.compile(
    r"(?P<event>(?i:chat|tchat|webinaire|session|permanence)\b[^,.!?:]{0,40}?)\s+"
    r"(?i:consacr[ée]e?s? (?:à|aux?)|dédiée? (?:à|aux?)|autour d[eu]s?|sur)\s+(?P<topic>[^.!?]+)"
)

# --------------------------------------------------------------------------- records of the passes


@dataclass
class _Msg:
    """A message: a head line and the lines that continue it."""

    lines: list[int]
    parts: list[str]
    prefix: _Prefix | None
    ts: bool
    role: str = "none"  # participant | expert | moderator | none
    cat: str = "skip"  # question | answer | skip
    kind: str = "chitchat"
    speaker: str | None = None
    qtext: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(p for p in self.parts if p)

    @property
    def head_text(self) -> str:
        return self.parts[0] if self.parts else ""


@dataclass
class _Open:
    """A thread being assembled."""

    questions: list[_Msg] = field(default_factory=list)
    answer: list[_Msg] = field(default_factory=list)
    social_since: bool = False  # a participant greeted/thanked after the answer began


# --------------------------------------------------------------------------- text evidence


def _is_questionlike(text: str) -> bool:
    folded = _fold(text)
    return "?" in text or bool(_INTERROGATIVE.match(folded)) or bool(_REQUEST.search(folded))


def _social_kind(text: str) -> str | None:
    """``greeting`` / ``thanks`` / ``chitchat`` for messages that ask nothing, else ``None``."""
    folded = _fold(text).strip()
    if not folded or not re.search(r"[a-z0-9]", folded):
        return "chitchat"  # emoticons, punctuation
    if _HOW_ARE_YOU.match(folded):
        return "greeting"
    if _is_questionlike(text):
        return None
    words = _words(folded)
    if _THANKS.match(folded) and len(words) <= 15:
        return "thanks"
    if (_GREETING.match(folded) or _FAREWELL.match(folded)) and len(words) <= 10 and not _says_more(folded):
        return "greeting"
    if len(words) <= 6 and all(w in _CHITCHAT_WORDS or w.isdigit() for w in words):
        return "chitchat"
    if _SOCIAL_REPLY.match(folded) and len(words) <= 10:
        return "chitchat"
    return None


def _says_more(folded: str) -> bool:
    """A greeting that goes on to ask or to tell one's situation, even without "?": "BONJOUR
    QUELLES SONT LES QUALITES D'UN BON MANAGER", "Bonjour, j'ai une sclérose en plaques…"."""
    rest = _GREETING.sub("", folded, count=1).lstrip(" ,!.-")
    rest = re.sub(r"^(?:a (?:tous|toutes)(?: et a tous)?|tout le monde|madame|monsieur)\b[\s,!.]*", "", rest)
    return bool(_INTERROGATIVE.match(rest) or (_FIRST_PERSON.match(rest) and len(_words(rest)) >= 4))


def _ends_chat(folded: str) -> bool:
    """"Le chat est maintenant terminé…", "Il nous reste un quart d'heure…"."""
    return "?" not in folded and bool(
        re.search(r"\b(?:(?:est|sont) (?:maintenant |desormais )?termine|touche a sa fin|c'est la fin"
                  r"|fin (?:du|de ce|de notre) (?:chat|echange))\b", folded) or _TIME_LEFT.search(folded)
    )


def _announces(text: str, expert_words: set[str]) -> bool:
    """The moderator speaking of the expert in the third person, or of the chat's running order:
    "Beaucoup de questions sur la retraite, Nathalie va y répondre dans un instant"."""
    folded = _fold(text)
    if "?" in text or len(folded.split()) > 30:
        return False
    if _RUNNING_ORDER.search(folded):
        return True
    return bool(expert_words & set(_words(folded))) and bool(_EXPERT_WILL.search(folded))


def _is_closing(text: str, expert_words: set[str]) -> bool:
    """A moderator's or expert's sign-off: thanks/farewell to everyone, end of the chat, time left."""
    folded = _fold(text)
    if "?" in text:
        return False
    if _ends_chat(folded):
        return True
    opener = _THANKS.match(folded) or _FAREWELL.match(folded) or _GREETING.match(folded)
    mentions_expert = bool(expert_words & set(_words(folded)))
    return bool(opener) and (bool(_CLOSING.search(folded)) or mentions_expert)


# --------------------------------------------------------------------------- pass 2: speakers


def _intro_expert(lines: list[_Line]) -> str | None:
    """The expert's name when the transcript introduces them (first 60 lines)."""
    for ln in lines[:60]:
        pfx = ln.prefix
        if pfx is not None and pfx.kind == "expert" and pfx.name is None and _looks_like_bare_name(ln.body):
            return _trim_name(ln.body)  # header "Invitée : Hélène Garnier, consultante"
        for rx in (_INTRO, _INTRO_ROLE) + ((_SELF_INTRO,) if pfx is None or pfx.kind in ("expert", "moderator") else ()):
            m = rx.search(ln.text if rx is not _SELF_INTRO or pfx is None else ln.body)
            if m:
                name = _trim_name(m.group("name"))
                if name:
                    return name
    return None


def _looks_like_bare_name(text: str) -> bool:
    head = re.split(r"[,(–—]", text)[0].strip()
    toks = head.split()
    return 1 <= len(toks) <= 4 and all(t[:1].isupper() or t.lower() in _NAME_PARTICLES for t in toks)


def _trim_name(name: str) -> str | None:
    """Drop role words and acronyms trailing a name ("Nathalie Roche Consultante APEC")."""
    name = re.split(r"[,(–—]", name)[0].strip().rstrip(".")
    tokens = name.split()
    while tokens and (_EXPERT_ROLE.match(_fold(tokens[-1])) or (tokens[-1].isupper() and len(tokens[-1]) > 1)):
        tokens.pop()
    if not tokens or _fold(tokens[0]) in _FUNCTION_WORDS or _fold(tokens[0]) in _LABEL_NOUNS:
        return None
    return " ".join(tokens)


def _same_person(key: str | None, expert_key: str | None) -> bool:
    """``nathalie`` matches ``nathalie roche``; whole words only."""
    if not key or not expert_key or len(key) < 3:
        return False
    return key == expert_key or expert_key.startswith(key + " ") or key.startswith(expert_key + " ")


def _is_timestamped(lines: list[_Line]) -> bool:
    """Most messages carry a timestamp: then a line without one continues the message above."""
    n_ts = sum(1 for ln in lines if ln.ts)
    return n_ts >= 3 and n_ts >= 0.25 * len(lines)


def _decide_speakers(lines: list[_Line], expert_key: str | None, ts_mode: bool) -> None:
    """Pass 2: set ``head`` on lines whose prefix is a speaker (see module docstring)."""
    names = [ln for ln in lines if ln.prefix is not None and ln.prefix.kind == "name"]
    for ln in lines:
        pfx = ln.prefix
        if pfx is not None and pfx.kind != "name":
            # Q/R/relay markers always speak; a bare "Expert :" without timestamp in a
            # timestamped file is a label inside the message above.
            ln.head = not (ts_mode and not ln.ts and pfx.kind in ("expert", "moderator") and pfx.name is None)
            ln.score = 9
    base: dict[int, int] = {}
    following = {lines[i].no: lines[i + 1] for i in range(len(lines) - 1)}
    for ln in names:
        pfx = ln.prefix
        assert pfx is not None
        s = pfx.shape
        body = ln.body
        nxt = following.get(ln.no)
        if not body and nxt is not None and nxt.no == ln.no + 1:
            if _BULLET.match(nxt.text) and not ln.ts:
                s -= 4  # "Principalement :" above "- avoir travaillé 5 ans": a list's introduction
            body = nxt.text  # "Paul (14:02) :" alone on its line: the message is below
        if _social_kind(body) is not None and body:
            s += 3
            ln.cue = True
        elif _is_questionlike(body) or _QUESTION_WORD.search(_fold(body)):
            s += 2
            ln.cue = True
        if _FIRST_PERSON.match(_fold(body)):
            s += 2
            ln.cue = True
        first = _words(_fold(pfx.name or ""))[:1]
        if first and first[0] in _LABEL_NOUNS:
            s -= 3
        if _same_person(pfx.key, expert_key):
            s += 6
        base[ln.no] = s
    # who speaks like a participant somewhere (a question or a greeting): their other lines too
    strong = {ln.prefix.key for ln in names if ln.prefix is not None and (base[ln.no] >= 2 or (base[ln.no] >= 0 and ln.cue))}
    uses = Counter(ln.prefix.key for ln in names if ln.prefix is not None)
    for ln in names:
        pfx = ln.prefix
        assert pfx is not None
        s = base[ln.no]
        if pfx.key in strong and uses[pfx.key] > 1 and base[ln.no] > -4:
            s += 3
            ln.recurs = True
        if ts_mode:
            s += 1 if ln.ts else -5
        ln.score = s
        ln.head = s > 0
    # Ties: a bare capitalised word with no evidence either way. Labels come in runs or
    # after a line that announces them ("Trois règles :"); otherwise it is a speaker.
    by_index = {id(ln): i for i, ln in enumerate(lines)}
    for ln in names:
        if ln.score != 0:
            continue
        i = by_index[id(ln)]
        prev = lines[i - 1] if i > 0 else None
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        in_run = any(o is not None and o.prefix is not None and not o.head and o.score < 0 for o in (prev, nxt))
        after_colon = prev is not None and prev.text.rstrip().endswith(":")
        ln.head = not (in_run or after_colon)


# --------------------------------------------------------------------------- pass 3: expert, layout, second look


def _participants_with_job_titles(lines: list[_Line], expert_key: str) -> None:
    """When the chat names its expert, "Paul (RH) :" or "Nadia (recruteuse) :" is a participant
    saying what they do, not another expert: only "consultant", "expert"… roles say that; and
    "Invité :" asking a question is an anonymous participant."""
    for ln in lines:
        pfx = ln.prefix
        if (
            pfx is not None and pfx.kind == "expert" and pfx.name and pfx.role
            and not _same_person(pfx.key, expert_key) and not _GUEST_ROLE.match(_fold(pfx.role))
        ):
            ln.prefix = _Prefix("name", pfx.name, pfx.key, shape=_shape_score(pfx.name) + 1, role=pfx.role)
        elif (
            pfx is not None and pfx.kind == "expert" and pfx.name is None and pfx.role
            and _fold(pfx.role).startswith("invit") and _is_questionlike(ln.body)
        ):  # "Invité : on a combien de temps… ?": an anonymous participant, the chat has its expert
            ln.prefix = _Prefix("name", pfx.role, pfx.key, shape=1)


def _find_experts(lines: list[_Line], expert_key: str | None) -> tuple[set[str], set[str]]:
    """Keys of the expert(s) and moderator(s) among the speakers."""
    experts: set[str] = set()
    moderators: set[str] = set()
    announcers: set[str] = set()  # speakers who said what moderators say (the expert may, too)
    for i, ln in enumerate(lines):
        pfx = ln.prefix
        if not ln.head or pfx is None or not pfx.key:
            continue
        body = _message_body(lines, i)[0]
        if pfx.kind == "expert":
            experts.add(pfx.key)
        elif pfx.kind == "moderator":
            moderators.add(pfx.key)
        elif pfx.kind == "name" and _same_person(pfx.key, expert_key):
            experts.add(pfx.key)
        elif pfx.kind == "name" and "?" not in body and _EVENT.search(_fold(body)):
            announcers.add(pfx.key)  # "Apec : Bienvenue à tous, posez vos questions…"
    if not experts and not any(ln.head and ln.prefix is not None and ln.prefix.kind == "r" for ln in lines):
        # "Karine : Bonjour, je réponds à vos questions…" then answers them: the expert
        dominant = _dominant_answerer(lines, moderators)
        if dominant:
            experts.add(dominant)
    return experts, (moderators | announcers) - experts


def _message_body(lines: list[_Line], i: int) -> tuple[str, int]:
    """The text of head line ``i``'s message, and how many lines below belong to it: a header
    alone on its line ("Paul (14:02) :") owns the lines right below it, up to a blank line."""
    ln = lines[i]
    if ln.body:
        return ln.body, 0
    j = i + 1
    while j < len(lines) and lines[j].no == lines[j - 1].no + 1 and not lines[j].head:
        j += 1
    return " ".join(x.text for x in lines[i + 1: j]), j - i - 1


def _dominant_answerer(lines: list[_Line], moderators: set[str]) -> str | None:
    """The speaker who answers others' questions and writes most, if one stands out.

    A message "answers" when it comes right after another speaker's question, with no
    unprefixed line in between (else somebody unprefixed answered). Greetings and thanks
    count for nothing.
    """
    stats: dict[str, list[int]] = {}  # key -> [messages, words, question-like, answers]
    prev_question: str | None = None  # key of the question just asked, while unanswered
    owned = 0  # lines below a "Paul (14:02) :" header that are its message
    for i, ln in enumerate(lines):
        pfx = ln.prefix
        if owned:
            owned -= 1
            continue
        if not ln.head or pfx is None:
            if not ln.text[:1].islower() and not _BULLET.match(ln.text):
                prev_question = None
            continue
        body, owned = _message_body(lines, i)
        if pfx.kind != "name" or not pfx.key or _social_kind(body) is not None:
            prev_question = None if pfx.kind != "name" else prev_question
            continue
        st = stats.setdefault(pfx.key, [0, 0, 0, 0])
        st[0] += 1
        st[1] += len(body.split())
        asks = _is_questionlike(body)
        st[2] += asks
        if prev_question is not None and prev_question != pfx.key:
            st[3] += 1
        prev_question = pfx.key if asks else None
    total = sum(st[1] for st in stats.values()) or 1
    best = None
    for key, (n, w, q, answers) in stats.items():
        if key in moderators or n < 2 or answers < 1 or q > 0.4 * n or w < 0.25 * total:
            continue
        if best is None or w > stats[best][1]:
            best = key
    return best


def _expert_is_prefixed(lines: list[_Line], experts: set[str], moderators: set[str], ts_mode: bool) -> bool:
    """Does the expert answer with a prefix (E) rather than in unprefixed lines (U)?"""
    e = u = replies = 0
    for i, ln in enumerate(lines[:-1]):
        if not _is_participant_head(ln, experts, moderators):
            continue
        own_block = not ln.body  # "Paul :" alone: the lines right below are Paul's message
        prev_no = ln.no
        for nxt in lines[i + 1:]:
            if own_block and nxt.no == prev_no + 1 and not nxt.head:
                prev_no = nxt.no
                continue
            own_block = False
            if ts_mode and not nxt.ts:
                continue
            if nxt.head:
                pfx = nxt.prefix
                e += pfx is not None and (pfx.kind in ("r", "expert") or pfx.key in experts)
                break
            if not nxt.text[:1].islower() and not _BULLET.match(nxt.text):
                u += 1
                replies += bool(_ANSWER_OPENER.match(_fold(nxt.text)) or _asks_back(nxt.text))
                break
    # A tie (the expert signed as many answers as they left unsigned, as in a short Apec chat
    # where "Isabelle Lemoine : Pas nécessairement…" is the exception) goes to unprefixed answers
    # when a line right below a question reads as a reply to it ("Non, absolument pas !",
    # "Mobilisez votre CPF."), not as the asker going on.
    return e > 0 and (e > u or (e == u and not replies))


def _is_participant_head(ln: _Line, experts: set[str], moderators: set[str]) -> bool:
    pfx = ln.prefix
    if not ln.head or pfx is None:
        return False
    if pfx.kind in ("q", "relay"):
        return True
    return pfx.kind == "name" and pfx.key not in experts and pfx.key not in moderators and _social_kind(ln.body) is None


def _second_look(
    lines: list[_Line], experts: set[str], moderators: set[str], prefixed_expert: bool, ts_mode: bool
) -> None:
    """Inside a running expert answer, a bare capitalised prefix whose text gives no sign of
    a participant (no question, greeting or first person) is a label: ``Linkedin : …``.

    Only one-word prefixes are reconsidered: pseudos with a pseudo's marks (lowercase,
    digits, dots) and full names ("Marie Dupont") keep speaking. Before anybody has asked
    anything, a prefix with no such cue and no pseudo marks is a header line.
    """
    expert_speaking = False
    asked = False
    listing = False  # the line above announced a list ("… peuvent vous aider :") or was in one
    for ln in lines:
        pfx = ln.prefix
        announced, listing = listing, False
        if ln.head and pfx is not None:
            quiet = (
                pfx.kind == "name" and not ln.cue and not ln.recurs and pfx.role is None
                and pfx.key not in experts and pfx.key not in moderators
            )
            name = pfx.name or ""
            if quiet and not asked and not _has_pseudo_marks(name):
                ln.head = False  # a header before anyone asked: "Chat Conseil Apec : Le bilan…"
                continue
            if quiet and expert_speaking and asked and not (ts_mode and ln.ts) and (
                _label_shaped(name) or (announced and not _has_pseudo_marks(name))
            ):
                ln.head = False  # "Linkedin : …"; "Initiative France : des prêts…" in a list
                listing = True
                continue
            expert_speaking = pfx.kind in ("r", "expert") or pfx.key in experts
            asked = asked or (not expert_speaking and pfx.key not in moderators)
        elif not prefixed_expert and not (ts_mode and not ln.ts):
            expert_speaking = True  # an unprefixed line: the expert's, in this layout
        listing = expert_speaking and ln.text.rstrip().endswith(":")


# How an expert starts answering a question put to them.
_ANSWER_OPENER = re.compile(
    r"^(?:oui|non|si|tout a fait|absolument|effectivement|bien sur|en effet|exactement|pas du tout"
    r"|pas (?:forcement|necessairement|toujours|vraiment|obligatoirement)|(?:cela|ca|tout) depend"
    r"|(?:c'est une |une )?(?:bonne|excellente|vaste) question|helas|malheureusement)\b"
)


def _asked_and_answered(
    lines: list[_Line], experts: set[str], moderators: set[str], prefixed_expert: bool, ts_mode: bool
) -> None:
    """Where the expert's lines carry no prefix, a prefixed question that the prefix's shape
    kept as a label ("Info : … ?", "RH en devenir : … ?", a lone "Question : … ?") is a
    participant's when the layout shows it asked and answered: its text asks, it is not
    announced by the line above ("Trois questions à vous poser :"), an unprefixed line follows,
    and either that line starts answering ("Oui", "Tout à fait", "Cela dépend"…), or the line
    above is another participant's question or the moderator's "Il nous reste dix minutes" (no
    answer runs there for a label to sit in), or the prefix itself says "Question".

    Ordinals, numbering and phrases opened by a determiner ("4ème étape : Quelles cibles ?",
    "Mon conseil : …") stay labels whatever follows.
    """
    if prefixed_expert or ts_mode:
        return
    for i in range(1, len(lines) - 1):
        ln, prev, nxt = lines[i], lines[i - 1], lines[i + 1]
        pfx = ln.prefix
        if ln.head or pfx is None or pfx.kind != "name" or "?" not in ln.body or nxt.prefix is not None:
            continue
        marker = bool(_QMARK.match(_fold(pfx.name or "")))
        if (pfx.shape <= -6 and not marker) or prev.text.rstrip().endswith(":") or _social_kind(ln.body):
            continue
        if _asks_back(f"{pfx.name} {ln.body}"):
            continue  # "Question à vous poser : qu'est-ce qui vous motive ?": the expert, to the asker
        if marker and prev.prefix is not None and _QMARK.match(_fold(prev.prefix.name or "")):
            continue  # "Question n°1 : …", "Question n°2 : …": a list in the answer
        after_question = _is_participant_head(prev, experts, moderators) and "?" in prev.body
        after_announcement = prev.prefix is None and _ends_chat(_fold(prev.text))  # "Il nous reste dix minutes"
        if marker or after_question or after_announcement or _ANSWER_OPENER.match(_fold(nxt.text)):
            ln.head = ln.cue = True


def _has_pseudo_marks(name: str) -> bool:
    """Lowercase start, letters mixed with digits, dots/underscores inside: a pseudo."""
    return bool(name[:1].islower() or re.search(r"[^\W\d_]\d|\d[^\W\d_]|\w[._@]\w|\s\d{2,4}$", name))


def _label_shaped(name: str) -> bool:
    """A single capitalised word with no pseudo marks: could be a brand or a label."""
    return len(name.split()) == 1 and not _has_pseudo_marks(name)


# --------------------------------------------------------------------------- pass 4: messages


def _continues(prev: str, text: str) -> bool:
    """A lowercase line after a line that did not end a sentence continues it."""
    return bool(text[:1].islower()) and not _BULLET.match(text) and not re.search(r"[.!?…:)]\s*$", prev)


def _asks_back(text: str) -> bool:
    """The expert's clarifying question, which speaks to the asker ("Vous avez peur de la réaction
    de votre manager ?", "Quel est votre salaire actuel ?"), not the asker going on ("Est-ce
    trop tard ?")."""
    folded = _fold(text)
    return bool(_ADDRESSES.search(folded)) and not _FIRST_PERSON.match(folded) and not re.search(r"\b(?:je|j'|mon|ma|mes)\b", folded)


def _build_messages(lines: list[_Line], prefixed_expert: bool, ts_mode: bool) -> list[_Msg]:
    """Group lines into messages: a head line, then the lines that continue it."""
    msgs: list[_Msg] = []
    last_no = -10
    for ln in lines:
        cur = msgs[-1] if msgs else None
        adjacent = ln.no == last_no + 1
        last_no = ln.no
        if ln.head:
            if (
                cur is not None and adjacent and cur.prefix is not None and ln.prefix is not None
                and cur.prefix.kind == ln.prefix.kind == "name" and cur.prefix.key == ln.prefix.key
                and cur.parts[-1].rstrip().endswith(",") and ln.body[:1].islower()
            ):  # "Sandrine : Bonjour," then "Sandrine : je voudrais savoir si…": one message
                cur.lines.append(ln.no)
                cur.parts[-1] = cur.parts[-1].rstrip() + " " + ln.body
                continue
            msgs.append(_Msg([ln.no], [ln.body], ln.prefix, ln.ts))
            continue
        if cur is not None and adjacent and _continues(cur.parts[-1], ln.text):
            cur.lines.append(ln.no)
            cur.parts[-1] = (cur.parts[-1].rstrip() + " " + ln.text).strip()
            continue
        absorbs = cur is not None and (
            (ts_mode and not ln.ts)
            or (prefixed_expert and not (ts_mode and ln.ts))
            or (cur.prefix is not None and not cur.text)
            or (cur.prefix is not None and cur.prefix.kind in ("q", "relay", "name") and adjacent
                and cur.parts[-1].rstrip().endswith(":") and bool(_BULLET.match(ln.text)))
            or (cur.prefix is not None and cur.prefix.kind in ("q", "relay", "name") and adjacent
                and len(cur.lines) == 1 and "?" not in cur.text and ln.text.rstrip().endswith("?")
                and len(ln.text.split()) <= 25
                and _social_kind(cur.text) is None  # not "Merci beaucoup !" + "Merci X, le mot de la fin ?"
                and not _asks_back(ln.text))
        )
        if absorbs and cur is not None:
            cur.lines.append(ln.no)
            cur.parts.append(ln.text)
        else:
            msgs.append(_Msg([ln.no], [ln.text], None, ln.ts))
    return msgs


# --------------------------------------------------------------------------- pass 5: threads


def _classify(msg: _Msg, experts: set[str], moderators: set[str], prefixed_expert: bool,
              expert_name: str | None, expert_words: set[str]) -> None:
    """Give a message its role, category (question/answer/skip) and speaker."""
    pfx = msg.prefix
    text = msg.text
    if (pfx is None and _is_system(msg.head_text)) or _PLACEHOLDER.match(text.lower()):
        msg.role, msg.kind = "none", "system"
        return
    if pfx is None:
        msg.role = "none" if prefixed_expert else "expert"
    elif pfx.kind in ("q", "relay"):
        msg.role = "participant"
    elif pfx.kind in ("r", "expert") or pfx.key in experts:
        msg.role = "expert"
    elif pfx.kind == "moderator" or pfx.key in moderators:
        msg.role = "moderator"
    else:
        msg.role = "participant"

    if msg.role == "participant":
        kind = _social_kind(text)
        if kind:
            msg.kind = kind
            return
        msg.cat, msg.speaker, msg.qtext = "question", pfx.name if pfx else None, text
        relayed = _relayed(text) if pfx is not None and pfx.kind == "name" else None
        if relayed:  # "Apec : Une question de Paul : …"
            msg.speaker, msg.qtext = relayed
        return
    if msg.role == "expert":
        if not text.strip():
            msg.kind = "chitchat"  # "Nathalie :" with nothing after it
            return
        msg.cat = "answer"
        msg.speaker = (pfx.name if pfx is not None and pfx.name else None) or expert_name
        if msg.speaker is None and pfx is not None and pfx.kind == "expert":
            msg.speaker = pfx.role  # "Expert :" with no name anywhere in the file
        if pfx is None:  # in this layout, the moderator's lines carry no prefix either
            relayed = _relayed(text)
            if relayed:
                msg.cat, msg.speaker, msg.qtext = "question", relayed[0], relayed[1]
            elif _addresses_expert(text, expert_words):
                msg.cat, msg.speaker, msg.qtext = "question", None, text  # "Merci X, le mot de la fin ?"
                passed_on = _PASSED_ON.search(text)  # "Nathalie, une question de Sandrine est restée en suspens : …"
                if passed_on:
                    msg.speaker, msg.qtext = passed_on.group("name"), passed_on.group("q")
        return
    # moderator, or an unprefixed line in a prefixed layout
    relayed = _relayed(text)
    if relayed:
        msg.cat, msg.speaker, msg.qtext = "question", relayed[0], relayed[1]
    elif "?" in text and not _ANNOUNCE.search(_fold(text)) and (
        pfx is not None or _addresses_expert(text, expert_words)
    ):
        msg.cat, msg.speaker, msg.qtext = "question", pfx.name if pfx else None, text
    else:
        msg.kind = "moderator"


def _is_system(text: str) -> bool:
    """``*** Paul a rejoint le salon ***``: a short line written by the chat tool."""
    return len(text) < 120 and bool(_SYSTEM.search(text.lower()))


def _relayed(text: str) -> tuple[str, str] | None:
    """``Une question de Paul : … ?`` / ``Paul demande : …`` -> (Paul, question)."""
    lowered = text[:80].lower()
    if "question" not in lowered and "demande" not in lowered:
        return None
    folded = _fold(text)
    if len(folded) != len(text):
        return None
    m = _RELAY_BODY.match(folded)
    if m is None:
        m = _ASKS_BODY.match(folded)
        if (
            m is None
            or not text[:1].isupper()
            or _shape_score(text[m.start("name"): m.end("name")]) < 0  # "Vous pouvez lui demande…"
            or not (m.group("colon") or folded.rstrip().endswith("?"))
        ):
            return None
    return text[m.start("name"): m.end("name")].strip(), text[m.start("q"):].strip()


def _addresses_expert(text: str, expert_words: set[str]) -> bool:
    """A question put to the expert by someone else: "Merci Nathalie, le mot de la fin ?"."""
    if "?" not in text:
        return False
    folded = _fold(text)
    if expert_words & set(_words(folded)):
        return True
    return bool(re.match(r"^\W*merci\s+[A-ZÀ-Þ][\w-]+\s*[,!.]", text))


def _preamble_kind(msg: _Msg) -> str:
    """Kind of a message seen before the first question."""
    if msg.role == "participant" or msg.kind == "system":
        return msg.kind
    if msg.role == "moderator":
        return "moderator"
    folded = _fold(msg.text)
    if msg.role == "expert" and _GREETING.match(folded) and not _WELCOME.search(folded):
        return "expert_greeting"  # "Bonjour à tous, je suis ravi de répondre à vos questions"
    if _EVENT.search(folded):
        return "moderator"
    if _GREETING.match(folded):
        return "expert_greeting" if msg.role == "expert" else "greeting"
    return "preamble"


def _is_reply(msg: _Msg, cur: _Open | None) -> bool:
    """A participant answering the expert's clarifying question, inside the same thread: kept in
    the answer, where the exchange reads in order (its facts are searchable there too)."""
    if cur is None or not cur.answer or msg.prefix is None or msg.prefix.kind != "name":
        return False
    askers = {q.prefix.key for q in cur.questions if q.prefix is not None}
    expert_said = [m for m in cur.answer if m.cat != "reply"]  # a reply may take two lines
    return bool(expert_said) and msg.prefix.key in askers and expert_said[-1].text.rstrip().endswith("?") and "?" not in msg.text


def _assemble(msgs: list[_Msg], expert_words: set[str]) -> tuple[list[_Open], list[Skipped]]:
    """Walk the messages: questions open threads, answers fill them, the rest is skipped."""
    threads: list[_Open] = []
    skipped: list[Skipped] = []
    cur: _Open | None = None

    def skip(m: _Msg, kind: str) -> None:
        skipped.extend(Skipped(no, kind) for no in m.lines)

    def skip_said(m: _Msg) -> None:
        folded = _fold(m.text)
        announces = _ANNOUNCE.search(folded) or _TIME_LEFT.search(folded) or _announces(m.text, expert_words)
        skip(m, "moderator" if m.role in ("none", "moderator") or announces else "chitchat")

    def close(t: _Open | None) -> None:
        if t is None:
            return
        while t.answer and (
            (len(t.answer) > 1 and (
                _is_closing(t.answer[-1].text, expert_words)
                or (t.social_since and _social_kind(t.answer[-1].text) is not None)
            ))
            or _announces(t.answer[-1].text, expert_words)
            or _ends_chat(_fold(t.answer[-1].text))  # the only "answer" to a late question
        ):
            skip_said(t.answer.pop())
        while t.answer and _announces(t.answer[0].text, expert_words):
            skip_said(t.answer.pop(0))  # "… Laurent y répond juste après." before the answer
        threads.append(t)

    # The expert may answer by name, out of order: "Marie, oui, le CPF…" when Karim and Marie
    # asked in a row, then "Karim, pour revenir à votre question…" later. Questions whose asker
    # was passed over wait in ``waiting``; ``target`` is the thread the answer lines go to.
    waiting: list[tuple[_Open, _Open]] = []  # (passed-over questions, the thread they came from)
    late: list[_Open] = []  # waiting threads that got their answer, closed with the current one
    target: _Open | None = None
    for m in msgs:
        if m.cat == "question":
            if _is_reply(m, cur):  # in the answer, in order and by name: "Karim : 42k fixe plus variable"
                assert cur is not None
                said = f"{m.speaker} : {m.text}" if m.speaker else m.text
                (target or cur).answer.append(_Msg(m.lines, [said], m.prefix, m.ts, cat="reply"))
                continue
            if cur is not None and cur.answer:
                close(cur)
                cur = None
            for t in late:
                close(t)
            late = []
            if cur is None:
                cur = _Open()
            cur.questions.append(m)
            target = cur
        elif m.cat == "answer":
            if cur is None:
                skip(m, _preamble_kind(m))
                continue
            who = _addressee(m.text)
            head = set(_words(_fold(m.text))[:8])
            earlier = next((w for w in waiting if _askers(w[0]) & ({who} | head) - _askers(cur)), None)
            if earlier is not None:  # "Karim, pour revenir à…", "Et pour votre question jpdupont : …"
                waiting.remove(earlier)
                late.append(earlier[0])
                target = earlier[0]
            elif who is not None and who in _askers(cur) and not cur.answer and len(_askers(cur)) > 1:
                others = [q for q in cur.questions if _asker(q) != who]
                cur.questions = [q for q in cur.questions if _asker(q) == who]
                waiting.append((_Open(questions=others), cur))
                if len(waiting) > _MAX_WAITING:  # the expert does not come back that late: as before
                    _share_answer(*waiting.pop(0))
                target = cur
            elif who is not None and who in _askers(cur):
                target = cur
            (target or cur).answer.append(m)
        else:
            if cur is None:
                skip(m, _preamble_kind(m))
            else:
                if cur.answer and m.role == "participant":
                    cur.social_since = True
                skip(m, m.kind)
    for t in [cur, *late]:
        close(t)
    for t, origin in waiting:
        _share_answer(t, origin)
    threads.sort(key=lambda t: t.questions[0].lines[0])
    return threads, skipped


# Passed-over questions the expert may still answer by name (beyond, a long chat's scan of them
# for every answer line grew with the square of its length: 2.8 s for 1.4 MB, now linear).
_MAX_WAITING = 8


def _share_answer(t: _Open, origin: _Open) -> None:
    """Questions never answered by name share the answer of the thread they were asked in."""
    origin.questions = sorted(origin.questions + t.questions, key=lambda q: q.lines[0])


def _asker(q: _Msg) -> str | None:
    """The first name a question's asker goes by: "Karim B." -> "karim", "marie.l@x.fr" -> "marie"."""
    return _first_name(q.speaker or "")


@lru_cache(maxsize=4096)
def _first_name(speaker: str) -> str | None:
    words = re.findall(r"[a-z]{3,}", _fold(re.sub(r"([a-zà-ÿ])([A-ZÀ-Þ])", r"\1 \2", speaker)))  # "TonyM" -> "tony"
    return words[0] if words else None


def _askers(t: _Open) -> set[str]:
    return {a for a in map(_asker, t.questions) if a}


def _addressee(text: str) -> str | None:
    """Who an answer opens by addressing: "Karim, pour revenir à…", "@marie : oui"."""
    m = re.match(r"^\W{0,2}@?([^\W\d_][\w'-]{2,})\s*[,:]", _fold(text))
    return m.group(1) if m else None


# --------------------------------------------------------------------------- document


def _title(first: _Line | None) -> str | None:
    """A title from the first line: "Voici la retranscription du Chat Conseil Apec … sur les
    Réseaux sociaux." -> "Chat Conseil Apec : les Réseaux sociaux"; a title line is kept as
    it is; a first line that is a message gives its text ("chat … consacré au X"), unless it only
    greets or welcomes (then the page shows the file's name)."""
    if first is None:
        return None
    text = first.body if first.head else first.text
    for rx in (_TITLE, _QUOTED_TITLE, _EVENT_TITLE) if first.head else (_TITLE, _QUOTED_TITLE):
        m = rx.search(text)
        if m:
            event = _EVENT_DATE.sub("", m.group("event")).strip(" \"«»'“”:")
            topic = _THEME_WORD.sub("", m.group("topic").split(",")[0].strip(" \"«»'“”")).strip(" \"«»'“”")
            if event and topic:
                return f"{event[:1].upper()}{event[1:]} : {topic}"
    first = text.strip().rstrip(" .!…").strip()
    if _GREETING.match(_fold(first)) or _WELCOME.search(_fold(first)):
        m = _EVENT_TITLE.search(first)  # "Bonjour et bienvenue à ce Chat Conseil Apec sur la reconversion"
        if m:
            return f"{m.group('event').strip()} : {m.group('topic').split(',')[0].strip()}"
        return None  # "Bonjour à tous, nous avons le plaisir d'accueillir…" is no title: the file's name is better
    if len(first) > 120:
        first = first[:120].rsplit(" ", 1)[0] + "…"
    return first or None


def _to_thread(source: str, position: int, t: _Open, expert_name: str | None) -> Thread:
    """The record of an assembled thread (answer text: its messages joined with newlines)."""
    questions = [Question(text=(q.qtext or q.text).strip(), speaker=q.speaker, line=q.lines[0]) for q in t.questions]
    answer = None
    if t.answer:
        first_line = min(t.answer[0].lines)
        last_line = max(t.answer[-1].lines)
        text = "\n".join(m.text for m in t.answer if m.text).strip()
        speaker = t.answer[0].speaker or expert_name
        answer = Answer(text=text, speaker=speaker, start_line=first_line, end_line=last_line)
    return make_thread(source, position, questions, answer)


def parse_chat(lines: list[str], source: str) -> Document:
    """Parse a chat transcript into threads.

    Args:
        lines: the decoded lines of the file (no line terminators).
        source: the file's path, used in thread ids.

    Returns:
        A :class:`Document` with ``format="chat"``, its threads, the skipped lines with
        their kind, the title (from the first line) and the expert's name when known.
    """
    lines = [ln if isinstance(ln, str) else str(ln) for ln in lines]
    analysed, headers_only = _analyse_lines(lines)
    ts_mode = _is_timestamped(analysed)
    intro_name = _intro_expert(analysed)
    intro_key = _key(intro_name) if intro_name else None
    if intro_key:
        _participants_with_job_titles(analysed, intro_key)
    _decide_speakers(analysed, intro_key, ts_mode)
    experts, moderators = _find_experts(analysed, intro_key)
    prefixed_expert = _expert_is_prefixed(analysed, experts, moderators, ts_mode)
    _second_look(analysed, experts, moderators, prefixed_expert, ts_mode)
    _asked_and_answered(analysed, experts, moderators, prefixed_expert, ts_mode)
    msgs = _build_messages(analysed, prefixed_expert, ts_mode)

    expert_name = intro_name or _most_frequent_expert(analysed, experts)
    expert_words = {w for w in _words(_fold(expert_name or "")) if len(w) >= 3}
    for msg in msgs:
        _classify(msg, experts, moderators, prefixed_expert, expert_name, expert_words)
    opened, skipped = _assemble(msgs, expert_words)
    skipped += [Skipped(no, "header") for no in sorted(headers_only)]
    if not opened and not any(ln.head for ln in analysed):
        opened, skipped = _plain_qa(lines)  # no speaker anywhere: a plain-text FAQ?
    threads = tuple(_to_thread(source, i, t, expert_name) for i, t in enumerate(opened))
    return Document(
        source=source,
        format="chat",
        threads=threads,
        skipped=tuple(sorted(skipped, key=lambda s: s.line)),
        title=_title(analysed[0] if analysed else None),
        expert=expert_name,
    )


def _plain_qa(lines: list[str]) -> tuple[list[_Open], list[Skipped]]:
    """A text with no speaker at all, read as a plain FAQ: a line that opens a block and ends
    with "?" is a question, the lines below it are its answer, up to the next such line.
    Questions in a row share the answer that follows them, as in a chat."""
    opened: list[_Open] = []
    skipped: list[Skipped] = []
    cur: _Open | None = None
    block_start = True
    for no, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            block_start = True
            continue
        if block_start and text.endswith("?") and len(text) <= 300:
            if cur is None or cur.answer:
                cur = _Open()
                opened.append(cur)
            cur.questions.append(_Msg([no], [text], None, False, qtext=text))
        elif cur is None:
            skipped.append(Skipped(no, "preamble"))
        else:
            cur.answer.append(_Msg([no], [text], None, False))
        block_start = False
    return opened, skipped


def _most_frequent_expert(lines: list[_Line], experts: set[str]) -> str | None:
    counts: dict[str, int] = {}
    for ln in lines:
        if ln.head and ln.prefix is not None and ln.prefix.key in experts and ln.prefix.name:
            counts[ln.prefix.name] = counts.get(ln.prefix.name, 0) + 1
    return max(counts, key=lambda n: counts[n]) if counts else None
