"""Word-list NSFW flag for sources without Reddit's ``over_18``.

Word lists: the English and Russian dictionaries bundled with glin-profanity (MIT,
https://github.com/GLINCKER/glin-profanity, ``glin_profanity/data/dictionaries``), themselves derived from the
LDNOOBW lists (https://github.com/LDNOOBW/List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words). They are read
through the package's ``DictionaryLoader`` and matched here as whole words, case-insensitively:

- entries in :data:`NOT_NSFW` are left out: everyday words and phrases of the lists that are not sexual or obscene
  in jokes (English "sucks", "wtf", "escort"; Russian "какая разница" — "what is the difference", the opening of
  thousands of Q/A jokes —, "мент", "хрен", "фига");
- an English entry also matches with a plural ``-s``/``-es``;
- a Russian one-word entry of a stem of >= 4 letters (the entry less a final vowel, ``ь`` or ``й``) matches with
  up to 3 more letters, so inflected forms ("жопу", "сексом") count; Russian obscene vocabulary (мат) is built on
  a few roots with many prefixes and suffixes that no list of words covers, so :data:`RU_MAT_ROOTS` adds them
  (the roots of хуй, пизда, ебать, блядь, plus мудак, манда, залупа, шлюха, гандон, пидор, дрочить, сука), at
  the start of a word after an optional verbal prefix.

Why not ``glin_profanity.Filter`` itself: on the same real texts it is 5-20x slower (leetspeak and homoglyph
variants of every word; ``bench/nsfw.py``) and its Russian list matches "какая разница"; the lists are the
package's.
"""

from __future__ import annotations

import re
from functools import cache

NOT_NSFW: dict[str, frozenset[str]] = {
    "en": frozenset(
        {
            "suck",
            "sucks",
            "xx",
            "mf",
            "wtf",
            "lmfao",
            "omfg",
            "stfu",
            "simp",
            "escort",
            "domination",
            "twinkie",
            "testbad01",
            "how to kill",
            "how to murder",
            "girl on",
            "taste my",
            "tongue in a",
            "tied up",
            "tight white",
            "hot chick",
            "huge fat",
            "jelly donut",
            "dirty pillows",
            "pleasure chest",
            "hard core",
            "hardcore",
            "god damn",
            "jackass",
            "dumbass",
            "eunuch",
            "grope",
            "voyeur",
            "undressing",
            "snatch",
            "swinger",
            "hoe",
            "poof",
            "scat",
            "santorum",
            "sadism",
            "lolita",
            "playboy",
            "yaoi",
            "hentai",
        }
    ),
    "ru": frozenset(
        {
            "какая разница",
            "мент",
            "хрен",
            "фига",
            "на фиг",
            "офигеть",
            "бугор",
            "хапать",
            "бардак",
            "другой дразнится",
            "ты мне ваньку не валяй",
            "gol",
            "byk",
            "uboy",
            "padlo",
            "petuh",
            "svoloch",
            "styervo",
        }
    ),
}
"""List entries not taken as NSFW (see the module docstring)."""

RU_MAT_ROOTS = (
    r"(?:на|по|за|от|ото|вы|при|рас|раз|у|с|об|обо|до|пере|недо|под|про|из|въ|съ|объ|отъ|разъ|подъ|о|ни|не)?"
    r"(?:ху[йяеёию]|пи[зс]д|[её]б(?:а[лнтшкр]|у[тчн]|[ил]|н[уа]|[её]т|ыр|ись|ись|ош|ищ)|бля(?:[дт]|\b)|"
    r"муда[кч]|мудил|мудо|залуп|манд(?:[аеуыо]|ой|ою)\b|мандав|шлюх|[гк][ао]ндон|пид[оа]?р|дроч|"
    r"сук(?:[аиуе]|ой)\b|сучк|сучар)"
)
"""Russian obscene roots after an optional prefix, at the start of a word (a regular expression)."""

WORDLIST_LANGS = {"en": "english", "ru": "russian"}
"""Languages with a word list: ISO 639-1 code -> glin-profanity dictionary name."""

_WORD = r"[0-9A-Za-zА-Яа-яЁё]"
_RU_ENDING = re.compile(r"[аеёиоуыэюяьй]$")


def _entry_pattern(word: str, lang: str) -> str:
    w = word.lower()
    if lang == "ru" and " " not in w and re.fullmatch(r"[а-яё]+", w):
        stem = _RU_ENDING.sub("", w)
        if len(stem) >= 4:
            return re.escape(stem) + r"[а-яё]{0,3}"
        return re.escape(w)
    body = r"\s+".join(re.escape(p) for p in w.split())
    if lang == "en" and re.fullmatch(r"[a-z]+", w):
        body += r"(?:e?s)?"
    return body


@cache
def wordlist_pattern(lang: str) -> re.Pattern[str] | None:
    """The compiled matcher for ``lang`` (``en``/``ru``), None for a language without a list.

    Raises ImportError when glin-profanity is not installed (it is a core dependency)."""
    if lang not in WORDLIST_LANGS:
        return None  # None, "und" and languages without a list
    from glin_profanity.data.dictionary import DictionaryLoader

    words = DictionaryLoader().get_words(WORDLIST_LANGS[lang])
    entries = sorted({w.lower() for w in words} - NOT_NSFW[lang], key=lambda w: (-len(w), w))
    alts = [_entry_pattern(w, lang) for w in entries]
    if lang == "ru":
        alts.append(RU_MAT_ROOTS + r"[а-яё]*")
    return re.compile(rf"(?<!{_WORD})(?:{'|'.join(alts)})(?!{_WORD})", re.IGNORECASE)


_CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def wordlist_lang(text: str, lang: str | None) -> str | None:
    """The word list to use: ``lang`` itself; for an undetermined language (None or ``und``: mostly short texts
    langdetect cannot place) ``ru`` when the text has Cyrillic letters, else ``en``."""
    if lang in (None, "und"):
        return "ru" if _CYRILLIC.search(text) else "en"
    return lang


def nsfw_terms(text: str, lang: str | None) -> list[str] | None:
    """The NSFW words or phrases found in ``text`` (lowercased, in order, repeats kept); ``[]`` when clean;
    None when ``lang`` has no word list (the flag is unknown then). ``lang`` None or ``und``: see
    :func:`wordlist_lang`."""
    pattern = wordlist_pattern(wordlist_lang(text, lang))
    if pattern is None:
        return None
    return [m.group(0).lower() for m in pattern.finditer(text)]


def is_nsfw(text: str, lang: str | None) -> bool | None:
    """True when :func:`nsfw_terms` finds anything, False when nothing, None for a language without a list."""
    pattern = wordlist_pattern(wordlist_lang(text, lang))
    if pattern is None:
        return None
    return pattern.search(text) is not None
