"""Learned punchline boundary: score every place a punchline could start and pick the best (English and Russian).

A one-piece joke has a handful of places where its punchline can start (:func:`candidates`): sentence and line
starts, dialogue turns, the opening quote of a final utterance, and clause starts inside a sentence (after a
comma, dash, colon or ellipsis, or before "but", "so", "а", "но" ...), plus "no split". Each candidate gets
the features of :func:`features` (where it is, what precedes it, what opens it, and whether the rules of
:mod:`jokemine.cleaning.structure` pick it), and a conditional logit model (McFadden 1974: one softmax over the
candidates of a text, https://eml.berkeley.edu/reprints/mcfadden/zarembka.pdf) picks the argmax; Russian texts
have a second copy of every weight (:data:`FEATURES`). The weights
(``boundary_model.json`` beside this module) are fitted by ``bench/structure_train.py`` on the labeled texts of
``tests/data/structure_heldout.csv``, the dev half of ``tests/data/structure_heldout_2.csv`` and the hand-labeled
tuning texts (weak supervision from jokes whose split is known, Reddit title + body and question/answer tables,
is offered to the fit and was not chosen by cross-validation), with the rules as features.

The model's probability of its pick is mapped to a calibrated ``structure_confidence`` by the reliability table
fitted on out-of-fold predictions over the labeled training texts (``calibration`` in the model file): in a bin
of confidence ``p``, about ``p`` of the boundaries were exactly right.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from jokemine.cleaning.structure import JokeParts

MODEL_PATH = Path(__file__).with_name("boundary_model.json")
_CONJ_EN = {
    "but", "so", "and", "because", "until", "then", "or", "instead", "without", "unless", "except", "which",
    "now", "turns", "that's", "thats", "it's", "its",
}  # fmt: skip
_CONJ_RU = {
    "а", "но", "и", "зато", "потому", "что", "чтобы", "когда", "если", "только", "хотя", "или", "так", "поэтому",
    "теперь", "значит", "оказывается", "вот", "даже",
}  # fmt: skip
_PREP = {
    "than", "to", "into", "in", "for", "with", "without", "as", "like", "at", "on", "from", "by", "of", "about",
    "в", "во", "на", "без", "с", "со", "для", "от", "до", "из", "за", "по", "под", "при", "через", "чем", "как",
}  # fmt: skip
_REL = {"that", "who", "which", "what", "when", "where", "whose", "is", "are", "was", "will", "чтобы", "который",
        "которая", "которые", "которых", "кто", "где"}  # fmt: skip
MAX_WORDS_ANYWHERE = 40
"""A text of at most this many words may split before any word (one-liners turn anywhere)."""
_OPEN_QUOTES = "\"«“„'"
_CLOSE_QUOTES = "\"»”'"
_SAY = re.compile(
    r"\b(?:says?|said|asks?|asked|repl(?:y|ies|ied)|answers?|answered|respond(?:s|ed)?|yells?|yelled|shouts?|"
    r"shouted|whispers?|whispered|exclaims?|exclaimed|thinks?|thought|goes|говорит|сказал[аи]?|спрашивает|"
    r"отвечает|ответил[аи]?|кричит|думает|спросил[аи]?)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
_TURN = re.compile(r"^[ \t]*[-–—]+[ \t]*\S", re.MULTILINE)
_INLINE_TURN = re.compile(r"(?:^|(?<=[.!?…:]))\s*([-–—])\s*(?=\w)")
BASE_FEATURES = [
    "none", "none_single", "frac_after", "log_words_after", "log_words_before", "sentence", "line", "last_sentence",
    "last_line", "turn", "last_turn", "prev_turn", "quote", "last_quote", "said_before", "in_quote", "clause",
    "after_comma", "after_dash", "after_colon", "after_ellipsis", "after_question", "after_stop", "conj",
    "rule", "rule_dialogue", "rule_question", "rule_last", "single_sentence_clause", "multi_sentence_sentence",
    "words_after_1", "words_after_2_3", "last_clause", "after_label_colon", "text_ends_quote", "upper_start",
    "word_only", "prep", "rel", "capital_mid", "single_word_only", "frac_after_single",
]  # fmt: skip
FEATURES = BASE_FEATURES + [f"ru_{name}" for name in BASE_FEATURES]
"""Each base feature, then the same feature again for texts in Cyrillic script (zero otherwise), so Russian texts
get their own weights where they differ (on the labeled sets: +1 to +1.5 points cross-validated)."""
_CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


@dataclass(frozen=True)
class Pick:
    """The chosen boundary: ``offset`` into the text (-1: no split), the model's ``probability`` of it,
    ``confidence``, that probability calibrated on held-out dev predictions, and ``sentence_level``: whether a
    sentence, line, dialogue turn or quotation starts there (else it cuts inside a sentence)."""

    offset: int
    probability: float
    confidence: float
    sentence_level: bool = False


@dataclass(frozen=True)
class _Scan:
    """What the candidates and features of one text are built from, computed once: sentence starts
    (:func:`jokemine.cleaning.structure.sentence_ends`), dialogue turns and quoted stretches."""

    ends: list[int]
    turns: list[int]
    quotes: list[tuple[int, int]]


def _scan(text: str) -> _Scan:
    from jokemine.cleaning.structure import sentence_ends

    return _Scan(sentence_ends(text), _turns(text), _quote_spans(text))


def _quote_spans(text: str) -> list[tuple[int, int]]:
    """(open, close) offsets of quoted stretches: an opening quote after a space, line start or ``:,(``, to the
    next closing quote character (``"``, ``»``, ``”``, or ``'`` followed by a non-letter)."""
    spans = []
    unclosed: set[str] = set()  # opening quotes with no closer after an earlier one: none after a later one either
    i = 0
    while i < len(text):
        c = text[i]
        prev = text[i - 1] if i else " "
        if (
            c in _OPEN_QUOTES
            and c not in unclosed
            and (prev.isspace() or prev in ":,(—–-." or i == 0)
            and i + 1 < len(text)
        ):
            if c == "'" and not text[i + 1].isalpha():
                i += 1
                continue
            closers = "»" if c == "«" else '”"' if c == "“" else '“”"' if c == "„" else c
            j = i + 1
            while j < len(text):
                if text[j] in closers and (c != "'" or j + 1 == len(text) or not text[j + 1].isalpha()):
                    break
                j += 1
            if j < len(text):
                spans.append((i, j))
                i = j + 1
                continue
            unclosed.add(c)
        i += 1
    return spans


def _turns(text: str) -> list[int]:
    turns = [m.start() + len(m.group()) - len(m.group().lstrip(" \t")) for m in _TURN.finditer(text)]
    if len(turns) < 2:
        inline = [m.start(1) for m in _INLINE_TURN.finditer(text)]
        if len(inline) >= 2:
            turns = inline
    return turns


def candidates(text: str) -> list[int]:
    """Offsets where a punchline may start (sorted, each with at least one word after it), not counting "no
    split" (-1)."""
    return _candidates(text, _scan(text))


def _candidates(text: str, scan: _Scan) -> list[int]:
    out = set(scan.ends) | set(scan.turns)
    out.update(a for a, _ in scan.quotes)
    for m in re.finditer(r"(?:[,;:]|\s[-–—]+|\.\.\.|…|[?!])\s+", text):
        out.add(m.end())
    words = list(_WORD.finditer(text))
    anywhere = len(words) <= MAX_WORDS_ANYWHERE
    for m in words:
        if m.start() > 0 and text[m.start() - 1].isspace() and (anywhere or m.group().lower() in _CONJ_EN | _CONJ_RU):
            out.add(m.start())
    if not words:
        return []
    first_end, last_start = words[0].end(), words[-1].start()
    return sorted(o for o in out if first_end <= o <= last_start)


def features(text: str, rule: JokeParts | None = None) -> tuple[list[int], np.ndarray]:
    """Candidates of ``text`` (``-1`` first, then :func:`candidates`) and their feature matrix ``(k, len(FEATURES))``
    (float64; names in :data:`FEATURES`). ``rule``: :func:`jokemine.cleaning.structure.rule_split` of ``text``
    when the caller has it already."""
    return _features(text, _scan(text), rule)


def _features(text: str, scan: _Scan, rule: JokeParts | None) -> tuple[list[int], np.ndarray]:
    from jokemine.cleaning.structure import rule_split

    cands = _candidates(text, scan)
    sents = [o for o in scan.ends if _WORD.search(text, o)]
    lines = [m.end() for m in re.finditer(r"\n\s*", text) if _WORD.search(text, m.end())]
    turns = scan.turns
    quotes = scan.quotes
    last_q = quotes[-1][0] if quotes else -1
    if len(quotes) >= 2:  # "...," he said, "...": one utterance in two quotes
        for (a0, b0), (a1, _) in zip(quotes[-2::-1], quotes[:0:-1], strict=False):
            gap = text[b0 + 1 : a1]
            if a1 == last_q and len(gap) < 50 and "\n" not in gap and _SAY.search(gap) and text[b0 - 1] in ",":
                last_q = a0
            else:
                break
    stripped = text.rstrip()
    ends_quote = (bool(stripped) and stripped[-1] in _CLOSE_QUOTES) or stripped[-2:-1] in set(_CLOSE_QUOTES)
    rule = rule if rule is not None else rule_split(text)
    starts = [m.start() for m in _WORD.finditer(text)]
    sent_set, line_set, turn_set = set(sents), set(lines), set(turns)  # O(1) membership: long texts stay linear
    quote_open = {a for a, _ in quotes}
    q_starts, q_ends = [a for a, _ in quotes], [b for _, b in quotes]
    single = len(sents) == 0
    rows = [[0.0] * len(BASE_FEATURES) for _ in range(len(cands) + 1)]
    idx = {name: i for i, name in enumerate(BASE_FEATURES)}
    none = rows[0]
    none[idx["none"]] = 1.0
    none[idx["none_single"]] = float(single)
    none[idx["rule"]] = float(rule.method == "one_liner")
    last_clause = max(cands) if cands else -1
    for row, o in zip(rows[1:], cands, strict=True):
        before = bisect.bisect_left(starts, o)
        after = len(starts) - before
        j = o
        while j > 0 and text[j - 1].isspace():
            j -= 1
        p = text[j - 1] if j else ""  # the last non-space character before the candidate
        word = _WORD.match(text, o)
        is_sent = o in sent_set
        is_turn = o in turn_set
        qk = bisect.bisect_left(q_starts, o) - 1  # the last quote opened before o (quotes do not overlap)
        low = word.group().lower() if word else ""
        word_only = not is_sent and not is_turn and p.isalnum() and low not in _CONJ_EN | _CONJ_RU
        f = {
            "frac_after": (len(text) - o) / max(1, len(text)),
            "log_words_after": math.log1p(after),
            "log_words_before": math.log1p(before),
            "sentence": float(is_sent),
            "line": float(o in line_set),
            "last_sentence": float(bool(sents) and o == sents[-1]),
            "last_line": float(bool(lines) and o == lines[-1]),
            "turn": float(is_turn),
            "last_turn": float(bool(turns) and o == turns[-1]),
            "prev_turn": float(len(turns) >= 2 and o == turns[-2]),
            "quote": float(o in quote_open),
            "last_quote": float(o == last_q),
            "said_before": float(bool(_SAY.search(text[max(0, o - 40) : o]))),
            "in_quote": float(qk >= 0 and o <= q_ends[qk]),
            "clause": float(not is_sent and not is_turn),
            "after_comma": float(p in ",;"),
            "after_dash": float(p in "-–—"),
            "after_colon": float(p == ":"),
            "after_ellipsis": float(text[max(0, j - 3) : j] == "..." or text[j - 1 : j] == "…" if j else False),
            "after_question": float(p == "?"),
            "after_stop": float(p in ".!"),
            "conj": float(low in _CONJ_EN | _CONJ_RU),
            "rule": float(rule.method != "one_liner" and rule.offset == o),
            "rule_dialogue": float(rule.method == "dialogue" and rule.offset == o),
            "rule_question": float(rule.method == "question" and rule.offset == o),
            "rule_last": float(rule.method == "last_sentence" and rule.offset == o),
            "single_sentence_clause": float(single and not is_sent),
            "multi_sentence_sentence": float(not single and is_sent),
            "words_after_1": float(after == 1),
            "words_after_2_3": float(2 <= after <= 3),
            "last_clause": float(o == last_clause),
            "after_label_colon": float(p == ":" and before <= 3),
            "text_ends_quote": float(ends_quote and o == last_q),
            "upper_start": float(text[o : o + 1].isupper()),
            "word_only": float(word_only),
            "prep": float(low in _PREP),
            "rel": float(low in _REL),
            "capital_mid": float(text[o : o + 1].isupper() and p.isalnum()),
            "single_word_only": float(single and word_only),
            "frac_after_single": float(single) * (len(text) - o) / max(1, len(text)),
        }
        for k, v in f.items():
            row[idx[k]] = v
    x = np.asarray(rows, dtype=np.float64)
    ru = x if _CYRILLIC.search(text) else np.zeros_like(x)
    return [-1, *cands], np.hstack([x, ru])


@cache
def _model(path: Path = MODEL_PATH) -> tuple[np.ndarray, list[float], list[float]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc["features"] != FEATURES:
        raise ValueError(f"{path}: fitted on other features than jokemine.cleaning.boundary.FEATURES; refit it")
    cal = doc["calibration"]
    return np.asarray(doc["weights"], dtype=np.float64), cal["edges"], cal["accuracy"]


def calibrate(p: float, edges: list[float], accuracy: list[float]) -> float:
    """The calibrated confidence of probability ``p``: the accuracy of its bin (``edges`` are the bins' upper
    bounds, ascending, the last 1.0)."""
    return accuracy[min(bisect.bisect_left(edges, p), len(accuracy) - 1)]


def pick(text: str, weights: np.ndarray | None = None, rule: JokeParts | None = None) -> Pick:
    """The best boundary of ``text`` under the fitted model (or ``weights``; then ``confidence`` is the raw
    probability); ``rule`` as in :func:`features`. Raises ValueError when the model file does not match
    :data:`FEATURES`."""
    scan = _scan(text)
    offs, x = _features(text, scan, rule)
    w = weights
    edges: list[float] = []
    acc: list[float] = []
    if w is None:
        w, edges, acc = _model()
    s = x @ w
    s = np.exp(s - s.max())
    prob = s / s.sum()
    k = int(prob.argmax())
    p = float(prob[k])
    o = offs[k]
    level = o in scan.ends or o in scan.turns or any(a == o for a, _ in scan.quotes)
    return Pick(o, p, calibrate(p, edges, acc) if edges else p, level)
