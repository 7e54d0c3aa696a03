"""Joke structure: split one block of text into setup and punchline (English and Russian), deterministically.

:func:`split_joke` applies rule 1 below, and otherwise lets the learned boundary model
(:mod:`jokemine.cleaning.boundary`) choose among candidate boundaries, with the rules' picks among its features.
:func:`rule_split` is the rule cascade alone: it tries these rules in order and returns the first that applies
(``method``, the rule's prior ``confidence``):

1. ``qa_marker`` (0.95): inline question/answer markers, ``Q: ... A: ...``, ``Question: ... Answer: ...``,
   ``В: ... О: ...``, ``Вопрос: ... Ответ: ...``; the markers are not part of the parts.
2. ``dialogue`` (0.8): an anecdote told in turns, at least two lines starting with ``-``, ``–`` or ``—`` (the
   Russian typographic convention for direct speech). The punchline is the last turn (to the end of the text);
   when the last turn is a one-word tag ("— Да.", "— Угу!") after at least two turns, the last exchange: the
   turn before it and the tag. Turns also count inline, after ``.``, ``!``, ``?``, ``…`` or ``:`` in a text that
   opens with a dash or a colon ("- Чай? - Кофе!").
3. ``question`` (0.85): the text opens with a question (its first sentence ends with the first ``?``; a run of
   questions counts as one setup) and what follows is a short answer: one sentence of at most
   :data:`MAX_ANSWER_WORDS` words, not itself a question.
4. ``last_sentence`` (0.6): narrative jokes: the last sentence (see :func:`sentences`) is the punchline, the rest
   the setup. A last paragraph that is a credit or an edit ("Source", "Edit: ...", "Shamelessly stolen from
   ...") is never the punchline; it stays in the punchline's text.
5. ``one_liner`` (0.5): one sentence, nothing to split: empty setup, the whole text as punchline.

:func:`split_post` shapes a Reddit post: the title is the setup and the body the punchline, unless the title is
a label rather than a setup ("A classic", "My favorite joke", "[OC]") or the body repeats the title; then the
body alone is split with :func:`split_joke` (method ``body:<rule>``).

Offsets are character offsets into the text as given (already :func:`jokemine.cleaning.text.fix_text`-ed);
``setup`` and ``punchline`` are stripped slices of it, so ``text[offset:].strip() == punchline``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

MAX_ANSWER_WORDS = 25
"""Longest answer (in words) after an opening question for the ``question`` rule."""

_QA = re.compile(
    r"^\s*(?:q|question|в|вопрос)\s*[:.)]\s*(?P<q>.+?)\s+(?:a|answer|о|ответ)\s*[:.)]\s*(?P<a>\S.*)$",
    re.IGNORECASE | re.DOTALL,
)
_TURN = re.compile(r"^[ \t]*[-–—]+[ \t]*\S", re.MULTILINE)
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")

# Abbreviations whose dot does not end a sentence (lowercase, without the final dot).
_ABBREV_EN = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "prof", "inc", "ltd", "co", "mt", "no",
    "u.s", "u.k", "sgt", "capt", "lt", "col", "gen", "rev", "hon", "ave", "approx", "dept", "fig", "a.m", "p.m",
}  # fmt: skip
_ABBREV_RU = {
    "т.д", "т.п", "т.е", "т.к", "т.н", "др", "пр", "г", "гг", "ул", "им", "св", "проф", "тов", "руб", "коп", "тыс",
    "млн", "млрд", "см", "ст", "д", "кв", "с", "стр", "акад", "доц", "рис", "напр", "мин", "сек", "ч", "н.э",
}  # fmt: skip
_ABBREV = _ABBREV_EN | _ABBREV_RU
# A sentence ends after . ! ? … (runs of them), optional closing quotes/brackets, then whitespace, when the next
# character opens a sentence: an uppercase letter, a digit, a currency sign, an opening quote, a dash (Russian
# direct speech) or ©.
# In a text without any capital letter (lowercased corpora), any letter opens a sentence.
_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s+[\"'«“„(\[—–-]?\s*[A-ZА-ЯЁ0-9©$€£₽])")
_END_LOWER = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s+[\"'«“„(\[—–-]?\s*[\w©$€£₽])")
# Direct-speech turns inside one line: a dash at the start or after . ! ? … or : ("- Чай? - Кофе!").
_INLINE_TURN = re.compile(r"(?:^|(?<=[.!?…:]))\s*([-–—])\s*(?=\w)")
# A last paragraph that is an aside, not the joke: credits, sources, edits ("Source", "Edit: ...", "© ...").
_ASIDE = re.compile(
    r"\n\s*(?:(?:edit|update|eta|source|credit|credits|courtesy|via|h/?t|stolen|shamelessly|borrowed|sorry|"
    r"no,? no|i'?ll (?:see|show) myself)\b[^\n]*)\s*$",
    re.IGNORECASE,
)
_LABEL = re.compile(
    r"^\W*(?:\[?(?:oc|nsfw|repost|long|short|clean|dirty|dark|true story)\]?|"
    r"(?:(?:an?|my|the|this|one|another|our|his|her|dad'?s?|grandpa'?s?|grandma'?s?)\s+)*"
    r"(?:(?:old|oldie|classic|favou?rite|personal|all[- ]time|best|worst|new|good|great|funny|stupid|silly|"
    r"corny|lame|terrible|bad|clean|dirty|dark|dad|quick|little|short|long|original|true|fav|fave)\s+)*"
    r"(?:joke|one|pun|story|classic|oldie|favou?rite|goodie|gem)s?"
    r"(?:\s+(?:but|of)\s+(?:an?\s+|the\s+|a\s+)?(?:goodie|gold|classic|mine|all time|the day|the week|ever)s?)?|"
    r"heard (?:this|it) (?:today|yesterday|at work)|found (?:this|it)|saw this|this one|oldie but goodie|"
    r"old but gold|(?:an?\s+)?(?:[\w'-]+\s+){0,2}jokes?|spoilers?(?: alert| warning)?|(?:no |un)?titled?|"
    r"https?://\S+|www\.\S+|\[(?:url|user|deleted|removed)\])?\W*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class JokeParts:
    """A joke split in two. ``setup``: the first part (``""`` when nothing is split off); ``punchline``: the rest;
    ``method``: the rule that split it, or ``turn`` (see :func:`split_joke`); ``confidence``: in [0, 1], the
    calibrated probability that the boundary is exactly right (:func:`split_joke`) or the rule's prior
    (:func:`rule_split`); ``offset``: where the punchline starts in the text (0 when nothing is split off)."""

    setup: str
    punchline: str
    method: str
    confidence: float
    offset: int = 0


def _is_abbrev(text: str, dot: int) -> bool:
    """Whether the ``.`` at ``dot`` closes an abbreviation or an initial ("Mr.", "т.д.", "A. Pushkin")."""
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    token = text[start:dot].lower()
    if not token:
        return False
    return token in _ABBREV or (len(token) == 1 and text[start].isupper())


def sentence_ends(text: str) -> list[int]:
    """Offsets where sentences after the first start: after sentence-ending punctuation (``.``, ``!``, ``?``,
    ``…``, runs like ``?!`` or ``...``) followed by whitespace and a capital, digit, opening quote, dash or ``©``
    (any letter in a text with no capitals), except after abbreviations and initials; and after every line
    break. Sorted, unique."""
    out = set()
    end = _END if any(c.isupper() for c in text) else _END_LOWER
    for m in end.finditer(text):
        if m.group()[0] == "." and len(m.group().rstrip("\"'»”’)]")) == 1 and _is_abbrev(text, m.start()):
            continue
        j = m.end()
        while j < len(text) and text[j].isspace():
            j += 1
        out.add(j)
    for m in re.finditer(r"\n\s*", text):
        if m.end() < len(text):
            out.add(m.end())
    return sorted(out)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (see :func:`sentence_ends`), stripped, empty ones dropped."""
    cuts = [0, *sentence_ends(text), len(text)]
    return [s for a, b in itertools.pairwise(cuts) if (s := text[a:b].strip())]


def _words(s: str) -> int:
    return len(_WORD.findall(s))


def _parts(text: str, offset: int, method: str, confidence: float) -> JokeParts:
    return JokeParts(text[:offset].strip(), text[offset:].strip(), method, confidence, offset)


def _dialogue(text: str) -> JokeParts | None:
    turns = [m.start() + len(m.group()) - len(m.group().lstrip(" \t")) for m in _TURN.finditer(text)]
    if len(turns) < 2:
        inline = [m.start(1) for m in _INLINE_TURN.finditer(text)]
        if len(inline) < 2 or (text.lstrip()[:1] not in "-–—" and ":" not in text[: inline[0] + 1]):
            return None
        turns = inline
    last = turns[-1]
    if _words(text[last:]) <= 1 and len(turns) >= 3:  # "— Да." tags along with the turn before it
        last = turns[-2]
    return _parts(text, last, "dialogue", 0.8)


def _question(text: str, ends: list[int]) -> JokeParts | None:
    q = text.find("?")
    if q < 0 or any(e <= q for e in ends):  # no question, or it is not the opening sentence
        return None
    end = q + 1
    while True:  # a run of questions ("Cold outside? Want some sun?") is one setup
        while end < len(text) and text[end] in "?!.…\"'»”’)]":
            end += 1
        nxt = [e for e in ends if e >= end]
        if not nxt:
            break
        stop = nxt[1] if len(nxt) > 1 else len(text)
        if text[nxt[0] : stop].rstrip().endswith("?") and stop < len(text):
            end = text.rfind("?", nxt[0], stop) + 1
            continue
        break
    rest = text[end:].strip()
    if not rest or _words(rest) > MAX_ANSWER_WORDS or rest.rstrip("\"'»”’)] ").endswith("?"):
        return None
    while end < len(text) and text[end].isspace():
        end += 1
    if any(e > end for e in ends):  # a longer answer: the last sentence rule decides
        return None
    return _parts(text, end, "question", 0.85)


def rule_split(text: str) -> JokeParts:
    """The rule cascade alone (see the module docstring, rules 1-5, in order); the learned boundary model uses its
    pick as a feature. Never raises; an empty text gives an empty ``one_liner``."""
    text = text or ""
    m = _QA.match(text)
    if m:
        return JokeParts(m.group("q").strip(), m.group("a").strip(), "qa_marker", 0.95, m.start("a"))
    d = _dialogue(text)
    if d is not None:
        return d
    ends = sentence_ends(text)
    q = _question(text, ends)
    if q is not None:
        return q
    aside = _ASIDE.search(text)
    body_end = aside.start() if aside else len(text)  # a trailing credit or edit is never the punchline
    ends = [e for e in ends if e < body_end and text[e:body_end].strip()]
    if ends:
        return _parts(text, ends[-1], "last_sentence", 0.6)
    return JokeParts("", text.strip(), "one_liner", 0.5, 0)


def split_joke(text: str, lang: str | None = None) -> JokeParts:
    """Split one joke: inline ``Q: ... A: ...`` markers first (``qa_marker``); otherwise the learned boundary
    model (:func:`jokemine.cleaning.boundary.pick`) chooses among sentence starts, turns, quotes and clause
    starts. ``method`` names the rule whose boundary the model chose (``dialogue``, ``question``,
    ``last_sentence``), else ``sentence`` for another sentence, line, turn or quote start, ``turn`` for a cut
    inside a sentence, ``one_liner`` for no split;
    ``confidence`` is the calibrated probability that the boundary is exactly right. ``lang`` is accepted for
    callers that know it; the model covers English and Russian at once. Never raises."""
    del lang
    from jokemine.cleaning.boundary import pick

    text = text or ""
    rule = rule_split(text)
    if rule.method == "qa_marker" or not text.strip():
        return rule
    choice = pick(text, rule=rule)
    if choice.offset < 0:
        return JokeParts("", text.strip(), "one_liner", choice.confidence, 0)
    if rule.offset == choice.offset and rule.method != "one_liner":
        method = rule.method
    else:  # another sentence, turn or quote start than the rule's, or a cut inside a sentence
        method = "sentence" if choice.sentence_level else "turn"
    return _parts(text, choice.offset, method, choice.confidence)


def _key(s: str) -> str:
    return " ".join(_WORD.findall(s.casefold()))


def title_is_label(title: str) -> bool:
    """Whether a Reddit title names the post instead of starting the joke ("A classic", "My favorite joke",
    "[OC]", "Heard this today", "Spoiler alert!"), holds no setup at all (a link, "[url]", only punctuation), or
    is only a note about the post ("Stolen from 1946...", "Let me get my coat!":
    :func:`jokemine.cleaning.notes.strip_notes`)."""
    from jokemine.cleaning.notes import strip_notes

    return bool(_LABEL.match(title.strip())) or not strip_notes(title)


def split_post(title: str | None, body: str | None, lang: str | None = None) -> JokeParts:
    """Setup and punchline of a Reddit-style post: ``title_body`` (title = setup, body = punchline,
    confidence 0.9) unless the title is a label (:func:`title_is_label`), the body repeats the title, or one of
    them is empty; then the body (or the one text there is) is split with :func:`split_joke` and the method gets
    a ``body:`` prefix. ``offset`` refers to the body for ``body:`` methods, else 0."""
    title, body = (title or "").strip(), (body or "").strip()
    if title and body and not title_is_label(title) and not _key(body).startswith(_key(title)):
        return JokeParts(title, body, "title_body", 0.9, 0)
    parts = split_joke(body or title, lang)  # a label title, or a body that repeats it: the body is the joke
    return JokeParts(parts.setup, parts.punchline, f"body:{parts.method}", parts.confidence, parts.offset)
