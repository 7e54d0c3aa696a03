"""What posters write around a joke, and how it is taken off: edit notes, signatures, sign-offs, title tags, and
texts that are only a placeholder.

Found by reading rows of the real release (Reddit dumps and the Reddit-derived Kaggle tables, whose line breaks
are often lost):

* edit notes: ``Edit: thanks for the gold``, ``EDIT 2: ...``, ``**Update**: ...``, ``UPD: ...`` at the start of
  a line, or inside one after the joke ("... Pizza Hutt a lot. Edit: Best flair 2016");
* signatures: ``Source: bash.org``, ``(Credit: Kenny Hotz)``, ``x-post from /r/puns``, ``Stolen from ...``;
* sign-offs: ``I'll see myself out``, ``I'll get my coat``, ``*ba dum tss*``, ``*rimshot*``;
* title tags: ``[OC]``, ``(Serious)``, ``[NSFW]`` before the setup (kept as ``tags``);
* placeholders: a body that is only ``[deleted]``/``[removed]`` (or Reddit's "[ Removed by reddit on account of
  violating the content policy ]"), a title that is only a link, ``[url]``, or punctuation.

A sentinel *inside* a sentence is kept: "The [deleted] was delicious!" is the joke.
"""

from __future__ import annotations

import re

# --- edit notes ---------------------------------------------------------------------------------------------
_EDIT_WORD = (
    r"(?:(?:ninja|obligatory|pre-?emptive|quick|late|later|final|last|small|minor|(?:near[- ])?immediate|"
    r"mandatory|another|one more|important|actual|real|serious|ps|p\.s\.)[ \t]+)?"
    r"(?:edit(?:ed)?|update[d]?|upd|eta)(?:[ \t]*#?\d+)?(?![^\W\d_])"
)
_EDIT_LINE = re.compile(
    rf"^[ \t]*[-–—~*_(\[\"'“]*[ \t]*{_EDIT_WORD}[ \t]*[*_)\]]*[ \t]*(?:[:\-–—.]|\d+[:.)]|\*\*)", re.I | re.M
)


def strip_edit_trailer(body: str) -> str:
    """Remove "Edit:"-style notes that start a line: everything from the first such line after the start, and a
    leading note line (or paragraph) when more text follows it.

    Matches ``Edit:``, ``EDIT 2:``, ``Edit1:``, ``**Edit**:``, ``-Edit:``, ``Ninja edit:``, ``Edit -``,
    ``Update:``, ``UPD:``, ``ETA:``. A body that is only a note is returned unchanged.
    """
    if _EDIT_LINE.match(body):
        head, sep, rest = body.partition("\n\n")
        if not sep:
            head, sep, rest = body.partition("\n")
        if sep and rest.strip() and not _EDIT_LINE.match(rest.lstrip()):
            body = rest.lstrip()
    for m in _EDIT_LINE.finditer(body):
        if m.start() == 0:
            continue
        head = body[: m.start()].rstrip()
        return head if head else body
    return body


# An edit note inside a line: after a sentence end, a bracket or a space; after a plain word, "update"/"upd"/
# "eta" only capitalized ("Update:"), so "a news update: ..." stays ("edit:" after a word is always a note).
_INLINE_EDIT = re.compile(
    rf"(?:(?<=[.!?…)\]\"'”’*~])|(?<=\s))[ \t]*[-–—*_(\[]*[ \t]*(?P<kw>{_EDIT_WORD})[ \t]*[*_)\]]*[ \t]*"
    r"(?::|\s[-–—]\s)",
    re.IGNORECASE,
)
# Signatures: phrases that are one whatever follows them, and words that are one only before ":" or a link.
_SIG_STRONG = (
    r"(?:credit goes to|courtesy of|h/t|hat ?tip|(?:shamelessly |blatantly )?stolen (?:from|off)|borrowed from|"
    r"x-?post(?:ed)?|cross-?post(?:ed)?|originally (?:posted|found) (?:on|in|at|by)|modified from|adapted from|"
    r"credit where credit is due|credits? (?:goes |go |for this (?:one )?goes )?to|cross[- ]?post(?:ed)? from)"
)
_SIG_WEAK = r"(?:sources?|credits?|via|ht)"
_LINKISH = r"(?:/?r/|/?u/|@\w|\[url\]|\[user\]|https?:|www\.)"
_I = r"i(?:['’´`]?ll| will| am going to|['’´`]?m gonna|['’´`]?m going to)?"
_SIGNOFF = (
    rf"(?:(?:(?:i (?:suppose|guess) )?(?:this is where|that['’]?s when|time for me to|time to) )?"
    rf"(?:{_I}|let me|now {_I}|owl|[^\W\d_]+)(?:[\s,]+(?:just|also|uh+|um+|now|quietly|promptly|kindly))*[\s,]+"
    r"(?:see|show|let|walk|excuse)\s+myself\s+(?:out|off)|(?:i['’´`]?ll|let me) get my coat|"
    r"ba+[ -]?du+m+[ -]?(?:ts+[hk]*|ch+|ps+h+|tish+)|rim ?shot|i['’´`]?ll be here all (?:week|night)|"
    r"thank you,? thank you)"
)
_SIG = (
    rf"(?:{_SIG_STRONG}\b|{_SIG_WEAK}[ \t]*(?::|[-–—][ \t]|[ \t]+{_LINKISH})|(?:from|by)[ \t]+{_LINKISH}|"
    r"(?<=\()via\b|(?:sources?|credits?)(?: unknown)?[ \t\])*.:]*$)"  # "(via a friend ...)", "Source", "[credit]"
)
# A whole line that is a signature or a sign-off (markdown/brackets around it allowed).
_NOTE_LINE = re.compile(
    rf"^[ \t]*[-–—*_(\[~.…#]*[ \t]*(?:(?P<sig>{_SIG})|(?P<off>{_SIGNOFF})\b)[^\n]*$", re.IGNORECASE | re.MULTILINE
)
# The same inside a line ("... grounded! (I'll see myself out)", "... 90°. Credit: [user]", "... Foot Longs I'll
# be here all week cause ..."): a sign-off anywhere after the joke, with all that follows it; a signature in the
# last line after a sentence end, a dash or a bracket, or capitalized ("... A velcrow Courtesy of Jokels.com").
_NOTE_TAIL = re.compile(
    rf"(?:(?P<pre>[.!?…\"'”’)\]])|(?<!\w))[ \t]*(?P<mark>[-–—*_(\[~#]*)[ \t]*"
    rf"(?:(?P<off>{_SIGNOFF})\b[\s\S]*|(?P<sig>{_SIG_STRONG}\b|{_SIG_WEAK}[ \t]*:)[^\n]*)$",
    re.IGNORECASE,
)
_HAS_WORD = re.compile(r"\w")


_TRAIL_DOTS = re.compile(r"(?<=[.!?])\s+(?:\.{2,}|…)$")


def _cut(text: str, at: int) -> str:
    """``text[:at]`` without trailing space, brackets, dots after a sentence end, and lines without a word ("" when
    no word is left)."""
    head = _TRAIL_DOTS.sub("", text[:at].rstrip(" \t\n([{-–—*_~"))
    while "\n" in head and not _HAS_WORD.search(head.rsplit("\n", 1)[1]):
        head = head.rsplit("\n", 1)[0].rstrip()
    return head if _HAS_WORD.search(head) else ""


def _strip_once(text: str) -> str:
    """One pass of :func:`strip_notes`."""
    low = " " + text.lower().translate(_SPACES)
    edits, notes = any(h in low for h in _EDIT_HINTS), any(h in low for h in _NOTE_HINTS)
    if not (edits or notes):
        return text
    out = strip_edit_trailer(text) if edits else text
    if edits and _EDIT_LINE.match(out) and out == text and "\n" not in out.strip():
        return ""  # only an edit note
    for m in _INLINE_EDIT.finditer(out) if edits else ():
        kw = m.group("kw")
        before = out[: m.start()].rstrip(" \t*_([-–—")
        if before and before[-1].isalnum() and "edit" not in kw.lower() and not kw[:1].isupper():
            continue
        if _HAS_WORD.search(before):
            return _cut(out, m.start())
    if not notes:
        return out
    for m in _NOTE_LINE.finditer(out):
        if m.start() == 0 or not _HAS_WORD.search(out[: m.start()]):
            rest = out[m.end() :].strip()  # a note before the joke ("Source: [url]\n\nAfter a night ...")
            return rest if _HAS_WORD.search(rest) else ""
        return _cut(out, m.start())  # a note line, and what follows it, after the joke
    for m in _NOTE_TAIL.finditer(out):
        sig = m.group("sig")
        if sig and not (m.group("pre") or m.group("mark") or sig[0].isupper()):
            continue  # "... the flowers, courtesy of the mafia" is the joke
        return _cut(out, m.start() + len(m.group("pre") or ""))
    return out


_SPACES = str.maketrans("\n\t\r", "   ")
# Every note holds one of these (lowercase, whitespace as " ") strings: the patterns run only on texts that have one.
_EDIT_HINTS = ("edit", "updat", "upd", "eta")
_NOTE_HINTS = (
    "sourc", "credit", " via", "(via", "h/t", " ht", "hat tip", "hattip", "courtesy", "stolen", "borrowed",
    "x-post", "xpost", "x post", "crossp", "cross-p", "cross p", "ly posted", "ly found", "modified", "adapted",
    "r/", "u/", "@", "[url]", "[user]", "http", "www.", "myself o", "my coat", "a dum", "adum", "a-dum", "rimshot",
    "rim shot", "here all", "thank you, thank", "thank you thank",
)  # fmt: skip


def strip_notes(text: str) -> str:
    """``text`` without edit notes, signatures and sign-offs (module docstring), applied until nothing changes:
    a note line and everything after it; a note line before the joke; an inline edit note to the end; a trailing
    signature or sign-off sentence or parenthesis. ``""`` when the text is only notes (see :func:`signoff_only`
    for the one case where that is the joke)."""
    while True:
        out = _strip_once(text)
        if out == text or not out:
            return out
        text = out


def signoff_only(text: str) -> bool:
    """Whether ``text`` is only a sign-off ("I'll see myself out..."): after a question it may be the punchline
    ("What will I do when I have an out-of-body experience?" / "I'll see myself out.")."""
    m = _NOTE_LINE.match(text.strip())
    return bool(m and m.group("off") and "\n" not in text.strip())


_TAG_WORDS = (
    r"oc|nsfw|nsfl|long|short|repost|re-?post|pun|puns|meta|serious|spoilers?|clean|dirty|dark|request|joke|"
    r"true story|x-?post|translated|translation|original|long one|kinda long|not oc|possible repost|maybe repost"
)
_ONE_TAG = rf"[\[(]\s*(?:{_TAG_WORDS})\s*[\])]"
# "(x-post /r/dadjokes)", "[x-post from askreddit]", "xpost from /r/tellmeajoke"
_ASIDE = (
    r"(?:\((?=[^()]*\b(?:repost|re-post|x-?post|cross-?post|oc)\b)[^()]*\)|"
    r"\[(?=[^\[\]]*\b(?:repost|re-post|x-?post|cross-?post)\b)[^\[\]]*\]|"
    r"(?:x-?post(?:ed)?|cross-?post(?:ed)?) from \S+)"
)
_LEAD_TAGS = re.compile(rf"^\s*(?:(?:{_ONE_TAG}|{_ASIDE})\s*[:\-–—]?\s*)+", re.IGNORECASE)
# At the end: tags, and asides about the post ("(sorry if repost)", "(x-post /r/dadjokes)", "(Not sure if repost.)").
_TRAIL_TAGS = re.compile(rf"(?:\s*(?:{_ONE_TAG}|{_ASIDE}))+\s*$", re.IGNORECASE)
_TAG = re.compile(r"[\[(]\s*([^\])]+?)\s*[\])]")


def strip_title_tags(title: str) -> tuple[str, list[str]]:
    """A title without its leading and trailing tags (``[OC]``, ``(Serious)``, ``[NSFW]``, ``[Long]`` ...) and
    trailing asides about the post ("(sorry if repost)"), and the tags as written inside the brackets (asides are
    not tags). A title that is only tags is returned as it is (it is a label, see
    :func:`jokemine.cleaning.structure.title_is_label`)."""
    tags: list[str] = []
    out = title
    for rx in (_LEAD_TAGS, _TRAIL_TAGS):
        m = rx.search(out)
        if m and _HAS_WORD.search(out[: m.start()] + out[m.end() :]):
            tags += [t.group(1) for t in _TAG.finditer(m.group()) if re.fullmatch(_ONE_TAG, t.group(), re.I)]
            out = (out[: m.start()] + " " + out[m.end() :]).strip()
    return out, tags


_SENTINEL = re.compile(r"^\W*\[\s*(?P<what>deleted|removed)(?:\s+by\s+[^\]]*)?\s*\]\W*$", re.IGNORECASE)


def placeholder(text: str | None) -> str | None:
    """``"deleted"`` or ``"removed"`` when ``text`` is only Reddit's sentinel (``[deleted]``, ``[removed]``,
    ``[removed by moderator]``, "[ Removed by reddit on account of violating the content policy ]", with
    punctuation around it), else None."""
    if not text:
        return None
    m = _SENTINEL.match(text)
    if not m:
        return None
    return m.group("what").lower()
