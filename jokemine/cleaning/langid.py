"""Language identification with langdetect (a port of Google's language-detection, 55 languages:
https://github.com/Mimino666/langdetect), deterministic and batched.

Determinism: langdetect samples n-grams at random; with ``DetectorFactory.seed = 0`` every text is classified
with the same random stream whatever the order or process, so labels are reproducible.

Speed: langdetect costs ~1.1-1.7 ms per r/Jokes post here, nearly all of it in ``Detector._detect_block``, a
Python loop that multiplies 55 language probabilities per sampled n-gram (~400 samples per text). That loop
does the same arithmetic for every text, so :func:`detect_langs_batch` runs it for a whole batch at once with
NumPy: each text keeps its own ``random.Random(seed)`` and draws exactly the calls langdetect makes
(``gauss`` per trial, ``choice`` per sample), the products are taken in langdetect's order, and the
normalising sum is accumulated left to right like Python's ``sum`` (a NumPy reduction over the outer axis), so
the probabilities are bit-identical to langdetect's (``tests/test_langid.py`` checks this on real posts). Text
preprocessing (URL/e-mail removal, Latin cleaning, n-gram extraction) is langdetect's own code; only the
per-character normalization is memoized. Only the first ``chars`` characters are classified.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from langdetect import DetectorFactory
from langdetect.detector import Detector
from langdetect.detector_factory import init_factory
from langdetect.language import Language
from langdetect.utils.ngram import NGram

DetectorFactory.seed = 0
SEED = 0
UNDETERMINED = "und"
BATCH = 2048


class _NGram(NGram):
    """langdetect's NGram with its pure per-character ``normalize`` memoized."""

    normalize = staticmethod(lru_cache(maxsize=1 << 16)(NGram.normalize))


def _factory() -> DetectorFactory:
    import langdetect.detector_factory as dfm

    if dfm._factory is None:
        init_factory()
    return dfm._factory


def warm_up() -> None:
    """Load the language profiles now (~0.3 s), e.g. in a parent process before forking workers."""
    _factory()


def ngrams_of(text: str) -> list[str]:
    """The n-grams langdetect samples from ``text`` (``Detector.append`` + ``cleaning_text`` +
    ``_extract_ngrams`` with ``NGram.add_char`` inlined), in its order."""
    fac = _factory()
    det = Detector(fac)
    det.append(text)
    det.cleaning_text()
    wmap = fac.word_lang_prob_map
    norm = _NGram.normalize
    out: list[str] = []
    grams, cap = " ", False
    for ch in det.text:
        ch = norm(ch)
        last = grams[-1]
        if last == " ":
            grams, cap = " ", False
            if ch == " ":
                continue
        elif len(grams) >= 3:
            grams = grams[1:]
        grams += ch
        if ch.isupper():
            if last.isupper():
                cap = True
        else:
            cap = False
        if cap:
            continue
        if ch != " " and ch in wmap:
            out.append(ch)
        if len(grams) >= 2:
            w = grams[-2:]
            if w in wmap:
                out.append(w)
            if len(grams) >= 3 and grams in wmap:
                out.append(grams)
    return out


def _fast_choice_ok() -> bool:
    """True when ``random.Random.choice`` is the 3.x ``getrandbits`` rejection sampler we inline."""
    a, b = random.Random(SEED), random.Random(SEED)
    for n in (1, 2, 3, 5, 37, 100, 1000):
        for _ in range(50):
            k = n.bit_length()
            r = b.getrandbits(k)
            while r >= n:
                r = b.getrandbits(k)
            if a.choice(range(n)) != r:
                return False
    return True


_FAST_CHOICE = _fast_choice_ok()


def _sum_like_python(p: np.ndarray) -> np.ndarray:
    """Column sums of ``p`` (languages x texts) with the rounding of Python's ``sum`` on each column."""
    if sys.version_info < (3, 12):
        if p.shape[1] >= 2 and p.flags.c_contiguous:
            return np.add.reduce(p, axis=0)  # outer-axis reduction: sequential, left to right
        total = p[0].copy()  # one column: NumPy would sum it pairwise
        for x in p[1:]:
            total += x
        return total
    # Python >= 3.12 sums floats with Neumaier compensation
    total = p[0].copy()
    comp = np.zeros_like(total)
    for x in p[1:]:
        t = total + x
        big = np.abs(total) >= np.abs(x)
        comp += np.where(big, (total - t) + x, (x - t) + total)
        total = t
    fix = (comp != 0) & np.isfinite(comp)
    return np.where(fix, total + comp, total)


def detect_langs_batch(texts: Sequence[str], chars: int = 200) -> list[list[Language]]:
    """langdetect's ``detect_langs`` for each text (first ``chars`` characters), bit for bit; an empty list
    where langdetect raises "No features in text"."""
    out: list[list[Language]] = []
    for start in range(0, len(texts), BATCH):
        out.extend(_batch([t[:chars] for t in texts[start : start + BATCH]]))
    return out


def _batch(texts: list[str]) -> list[list[Language]]:
    fac = _factory()
    langlist = fac.langlist
    nl = len(langlist)
    feats = [ngrams_of(t) for t in texts]
    live = [i for i, f in enumerate(feats) if f]
    result: list[list[Language]] = [[] for _ in texts]
    if not live:
        return result
    vocab: dict[str, int] = {}
    idx_lists = []
    for i in live:
        idx_lists.append([vocab.setdefault(w, len(vocab)) for w in feats[i]])
    wmap = fac.word_lang_prob_map
    mt = np.array([wmap[w] for w in vocab], dtype=np.float64).T.copy()  # (languages, vocab)
    b = len(live)
    rnds = [random.Random(SEED) for _ in range(b)]
    n_trial = 7
    alpha0, width, base = Detector.ALPHA_DEFAULT, Detector.ALPHA_WIDTH, Detector.BASE_FREQ
    conv, limit = Detector.CONV_THRESHOLD, Detector.ITERATION_LIMIT
    init = 1.0 / nl
    prob = np.full((nl, b), init)
    langprob = np.zeros((nl, b))
    weight = np.array([(alpha0 + r.gauss(0.0, 1.0) * width) / base for r in rnds])
    trial = np.zeros(b, dtype=np.int64)
    next_check = np.zeros(b, dtype=np.int64)  # the loop index i at the next convergence check
    active = np.arange(b)
    while active.size:
        a = active.size
        k_first = next_check[active] == 0
        flat: list[int] = []
        for t, first in zip(active.tolist(), k_first.tolist(), strict=True):
            idx, n_idx = idx_lists[t], len(idx_lists[t])
            draws = 1 if first else 5
            if _FAST_CHOICE:  # random.Random.choice inlined: the same getrandbits calls
                grb, k = rnds[t].getrandbits, n_idx.bit_length()
                for _ in range(draws):
                    r = grb(k)
                    while r >= n_idx:
                        r = grb(k)
                    flat.append(idx[r])
            else:
                choice = rnds[t].choice
                flat.extend(choice(idx) for _ in range(draws))
            if draws == 1:
                flat.extend((0, 0, 0, 0))
        picks = np.array(flat, dtype=np.int64).reshape(a, 5).T
        p = np.ascontiguousarray(prob[:, active])  # C order: the sum below must run over the outer axis
        w = weight[active]
        for j in range(5):
            factor = w + mt[:, picks[j]]
            if j and k_first.any():
                factor[:, k_first] = 1.0  # first block of a trial has one sample (i == 0)
            p *= factor
        p /= _sum_like_python(p)
        maxp = p.max(axis=0)
        prob[:, active] = p
        done = (maxp > conv) | (next_check[active] >= limit)
        fin = active[done]
        if fin.size:
            langprob[:, fin] += prob[:, fin] / n_trial
            trial[fin] += 1
            restart = fin[trial[fin] < n_trial]
            prob[:, restart] = init
            next_check[restart] = 0
            for t in restart.tolist():
                weight[t] = (alpha0 + rnds[t].gauss(0.0, 1.0) * width) / base
        cont = active[~done]
        next_check[cont] += 5
        still = trial[active] < n_trial
        active = active[still]
    for col, i in enumerate(live):
        probs = [
            Language(lang, p)
            for lang, p in zip(langlist, langprob[:, col].tolist(), strict=True)
            if p > Detector.PROB_THRESHOLD
        ]
        probs.sort(reverse=True)
        result[i] = probs
    return result


def detect_batch(texts: Sequence[str], chars: int = 200) -> list[str]:
    """langdetect's ``detect`` for each text: the most probable ISO 639-1 code (``zh-cn``/``zh-tw`` for
    Chinese), or ``"und"`` where langdetect finds no features or no language above its 0.1 threshold."""
    return [p[0].lang if p else UNDETERMINED for p in detect_langs_batch(texts, chars)]


def detect_lang(text: str, chars: int = 200) -> str:
    """:func:`detect_batch` for one text."""
    return detect_batch([text], chars)[0]
