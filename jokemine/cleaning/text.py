"""Text normalization: ftfy + NFC + whitespace, Reddit markdown and HTML to plain text, dedup keys. (What posters
write around a joke, "Edit: ..." notes and the like, is :mod:`jokemine.cleaning.notes`.)

* :func:`fix_text`: HTML entities (``&amp;``), mojibake and line breaks (U+2028 etc. become ``\\n``) fixed with
  ftfy (https://ftfy.readthedocs.io, default config: curly quotes straightened, NFC), zero-width characters
  removed, runs of spaces collapsed, at most one blank line between paragraphs, ends stripped.
* :func:`markdown_to_text`: the Reddit markdown subset that shows up in jokes (links, ``**bold**``, ``*it*``,
  ``~~strike~~``, ``^super``, headings, quotes, rules, code spans, backslash escapes) reduced to its text, per
  Reddit's formatting guide (https://support.reddithelp.com/hc/en-us/articles/360043033952).
* :func:`html_text`: HTML-ish text (``<br/>``, ``<p>``, entities) to plain text with line breaks.
* :func:`normalize_key` / :func:`key_hash`: case-, punctuation- and whitespace-insensitive key for exact
  duplicates and split groups.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

import ftfy

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NL = re.compile(r" *\n *")
_MANY_NL = re.compile(r"\n{3,}")


def fix_text(s: str | None, *, unescape_html: bool | str = "auto") -> str:
    """Normalize one text (see the module docstring). ``None`` gives ``""``. ``unescape_html`` is passed to
    ftfy (``"auto"``: unescape entities unless the text contains ``<``)."""
    if not s:
        return ""
    s = ftfy.fix_text(s, normalization="NFC", unescape_html=unescape_html)
    s = _ZERO_WIDTH.sub("", s)
    s = _SPACES.sub(" ", s)
    s = _SPACE_AROUND_NL.sub("\n", s)
    s = _MANY_NL.sub("\n\n", s)
    return s.strip()


# --- markdown -----------------------------------------------------------------------------------------------
_MD_HINT = re.compile(r"[*_~\[\]#>^`\\|&]|^\s*[-=]{3,}\s*$", re.M)
_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*(?:[^()\s\\]|\\.|\([^()\s]*\))+(?:\s+\"[^\"]*\")?\s*\)")
# Links Reddit's old renderer accepted that the strict form misses: a space before "(", "[...]" inside the
# text, parentheses in the URL or a missing last ")" ("[mace](http://en.wikipedia.org/wiki/Mace_(spray)").
_LINK_LOOSE = re.compile(
    r"\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\][ \t]*\n?[ \t]*\(\s*(?:https?://|www\.|/?r/|/?u/|#|/)"
    r"[^\s()]*(?:\([^\s()]*\)?[^\s()]*)*\)?"
)
_EMPTY_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*\)")  # "[Part 4 is here]()"
_DANGLING_LINK = re.compile(
    r"\]\(\s*(?:https?://|www\.)[^\s()]*(?:\([^\s()]*\)?[^\s()]*)*\)?"
)  # "Answer here!](http://..)"
_OPEN_BOLD = re.compile(r"(?:^|(?<=\s))(?:\*{2,3}|_{2,3})(?=[^\W\d_])", re.M)  # an unclosed "**Note"
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
# ** may end inside a word (**boo**berry) and wrap a word's end (Cand**Y**), but never opens after a letter
# with spaces inside: "f**k ... a**" is censoring, not bold
_STRONG = re.compile(r"(?<!\w)(\*{2,3})(?=\S)(.+?)(?<=\S)\1|(?<=\w)(\*{2,3})([^\s*]+)\3(?!\w)", re.S)
_EMPH = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", re.S)  # * only between words: 2*3*4 stays
_UNDERSCORE = re.compile(r"(?<![\w_])(_{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w_])", re.S)
_STRIKE = re.compile(r"~~[ \t]*(?=\S)(.+?)(?<=\S)[ \t]*~~", re.S)
_SUPER_PAREN = re.compile(r"\^+\(([^)\n]*)\)")
_SUPER = re.compile(r"\^+(?=\S)")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|(?=[^\W\d_]))(.*?)[ \t#]*$", re.M)
_QUOTE = re.compile(r"^ {0,3}(?:> ?)+", re.M)
_RULE = re.compile(r"^ {0,3}(?:(?:\* *){3,}|(?:- *){3,}|(?:_ *){2,})$", re.M)
_CODE = re.compile(r"`([^`\n]+)`")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~^|<&])")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$", re.M)


def markdown_to_text(s: str) -> str:
    """Reddit markdown (already HTML-unescaped) to plain text; text without markdown is returned unchanged.

    Escaped characters (``\\*``) survive as literals; link targets are dropped, link texts kept.
    """
    if not _MD_HINT.search(s):
        return s
    s = _LINK.sub(r"\1", s)
    s = _LINK_LOOSE.sub(r"\1", s)
    s = _EMPTY_LINK.sub(r"\1", s)
    s = _DANGLING_LINK.sub("", s)
    # protect escapes so the emphasis rules do not see them
    s = _ESCAPE.sub(lambda m: f"\x00{ord(m.group(1))}\x01", s)
    s = _CODE.sub(r"\1", s)
    s = _AUTOLINK.sub(r"\1", s)
    s = _RULE.sub("", s)
    s = _TABLE_SEP.sub("", s)
    s = _HEADING.sub(r"\1", s)
    s = _QUOTE.sub("", s)
    s = _STRIKE.sub(r"\1", s)
    for _ in range(2):  # nested bold/italic
        s = _STRONG.sub(lambda m: m.group(2) or m.group(4), s)
        s = _EMPH.sub(r"\1", s)
        s = _UNDERSCORE.sub(r"\2", s)
    s = _OPEN_BOLD.sub("", s)
    s = _SUPER_PAREN.sub(r"\1", s)
    s = _SUPER.sub("", s)
    return re.sub("\x00(\\d+)\x01", lambda m: chr(int(m.group(1))), s)


def reddit_text(s: str | None, *, markdown: bool = True) -> str:
    """A Reddit title (``markdown=False``) or selftext to clean plain text: entities, markdown, :func:`fix_text`.
    Titles are not rendered as markdown by Reddit, but posters still type ``**bold**`` and ``~~strike~~`` in
    them; only those (balanced) are removed from a title."""
    if not s:
        return ""
    s = html.unescape(s)
    if markdown:
        s = markdown_to_text(s)
    elif "**" in s or "~~" in s:
        s = _STRONG.sub(lambda m: m.group(2) or m.group(4), _STRIKE.sub(r"\1", s))
    return fix_text(s, unescape_html=False)


_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>|</?p[^>]*>|</div>\s*<div[^>]*>", re.I)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")


def html_text(s: str | None) -> str:
    """HTML-ish text (``<br/>``, ``<p>``, entities) to plain text: line and paragraph breaks become newlines, other
    tags are removed, entities decoded, then :func:`fix_text`."""
    if not s:
        return ""
    s = _BREAK.sub(lambda m: "\n\n" if m.group().lower().startswith(("</p", "<p", "</div")) else "\n", s)
    s = html.unescape(_TAG.sub("", s))
    return fix_text(s, unescape_html=False)


# --- keys ---------------------------------------------------------------------------------------------------
_NON_WORD = re.compile(r"[\W_]+")


def normalize_key(s: str) -> str:
    """Case-, punctuation- and whitespace-insensitive form: NFKC, casefold, only letters and digits kept."""
    key = _NON_WORD.sub("", unicodedata.normalize("NFKC", s).casefold())
    return key or s.strip()


def key_hash(s: str) -> str:
    """Hex BLAKE2b-64 of :func:`normalize_key` of ``s`` (16 hex characters)."""
    return hashlib.blake2b(normalize_key(s).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
