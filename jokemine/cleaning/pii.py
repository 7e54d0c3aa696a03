"""PII scrubbing: e-mail addresses, URLs, Reddit ``u/name`` mentions, ``@handle`` mentions and phone numbers are
replaced by placeholders before a joke is released.

* e-mail: ``local@domain.tld`` (a pragmatic subset of RFC 5322's addr-spec: no quoted local parts or IP literals);
* URL: ``http://``/``https://``/``ftp://`` links and ``www.`` hosts (RFC 3986 characters up to whitespace, trailing
  punctuation left in the text);
* user: ``u/name`` and ``/u/name`` (Reddit usernames: 3-20 letters, digits, ``_`` or ``-``);
* handle: ``@name`` not inside a word or an e-mail (2-30 letters, digits or ``_``);
* phone: numbers found by Google's libphonenumber (the ``phonenumbers`` port,
  https://github.com/daviddrysdale/python-phonenumbers) with leniency ``VALID``, region ``RU`` for Russian texts
  and ``US`` otherwise: ``+7 (495) 123-45-67``, ``(212) 736-5000``, ``1-855-333-4469``. Only numbers that could
  be dialed in that region count (fictional 555-01xx numbers, years, prices and counts are left alone), and
  not right after ``#``, a currency sign or a decimal separator, nor before decimals.

Placeholders: :data:`PLACEHOLDERS`. Counts per kind go to the clean stats (``pii`` per source).
"""

from __future__ import annotations

import re
from collections import Counter

import phonenumbers
from phonenumbers import Leniency

PLACEHOLDERS = {"email": "[email]", "url": "[url]", "user": "[user]", "handle": "[user]", "phone": "[phone]"}
"""Replacement text per PII kind."""

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,24}\b")
_URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'«»]+[^\s<>\"'«».,;:!?)\]]", re.IGNORECASE)
_USER = re.compile(r"(?<![\w/])/?u/[A-Za-z0-9_-]{3,20}\b")
_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_]{2,30}\b")
_DIGITS = re.compile(r"\d")
# a number glued to "#", "$", a decimal point or more digits is a count, a price or a decimal, not a phone
_NOT_PHONE_BEFORE = re.compile(r"[#$€£₽]\s?$|\d[.,]$")
_NOT_PHONE_AFTER = re.compile(r"[.,]\d")


def scrub_pii(text: str, lang: str | None = None) -> tuple[str, Counter[str]]:
    """``(scrubbed text, counts per kind)``; ``lang`` ``"ru"`` picks the Russian phone-number region. Never
    raises; text without PII comes back unchanged (the same string)."""
    counts: Counter[str] = Counter()
    if not text:
        return text, counts
    out = text
    for kind, rx in (("email", _EMAIL), ("url", _URL), ("user", _USER), ("handle", _HANDLE)):
        out, n = rx.subn(PLACEHOLDERS[kind], out)
        if n:
            counts[kind] += n
    if len(_DIGITS.findall(out)) >= 7:  # a phone number has at least 7 digits
        region = "RU" if lang == "ru" else "US"
        spans = [
            (m.start, m.end)
            for m in phonenumbers.PhoneNumberMatcher(out, region, leniency=Leniency.VALID)
            if not _NOT_PHONE_BEFORE.search(out[: m.start]) and not _NOT_PHONE_AFTER.match(out[m.end :])
        ]
        for start, end in reversed(spans):
            out = out[:start] + PLACEHOLDERS["phone"] + out[end:]
        if spans:
            counts["phone"] += len(spans)
    return out, counts
