"""Vectorized shingling, MinHash signatures, LSH banding and exact-Jaccard verification for near-duplicates.

Everything works on a whole batch of texts at once with NumPy arrays, never one Python object per document:

* :func:`shingle_form`: the text as shingled: NFKC, casefold, every run of non-letters/digits becomes one space.
* :func:`shingle_hashes`: per text, the sorted set of 32-bit hashes of its character ``n``-grams (``unit="char"``)
  or word ``n``-grams (``unit="word"``) in CSR form (``offsets``, ``hashes``). A text shorter than ``n`` units is
  one shingle (itself). :func:`shingle_hash32` is the same hash for one shingle in pure Python.
* :func:`signatures`: MinHash signatures, ``(n_texts, num_perm)`` uint32, bit-identical to
  ``datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash32)`` (scheme ``affine32``, datasketch >= 2.0: the
  32-bit input hash is pre-mixed with the MurmurHash3 finalizer, then ``a_k * h + b_k mod 2**32``; Broder 1997,
  "On the resemblance and containment of documents").
* :func:`lsh_candidates`: band the signatures into ``bands`` x ``rows``; texts equal on one whole band are a
  candidate pair. A pair with Jaccard ``s`` becomes a candidate with probability ``1 - (1 - s**rows)**bands``
  (Leskovec, Rajaraman, Ullman, *Mining of Massive Datasets*, 3rd ed., section 3.4.2). Buckets are found by
  sorting the band keys, not with dicts.
* :func:`jaccard_pairs`: exact Jaccard of the shingle sets of given pairs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

_NON_WORD = re.compile(r"[\W_]+")
_MASK64 = (1 << 64) - 1
_BASE = 0x100000001B3  # FNV-1a 64-bit prime, used as the polynomial base
_WORD_BASE = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd
_M32 = np.uint32(0xFFFFFFFF)


def shingle_form(text: str) -> str:
    """The form a text is shingled in: NFKC, casefolded, runs of characters that are not letters or digits
    collapsed to one space, ends stripped. ``"Why did the chicken... cross?!"`` -> ``"why did the chicken cross"``.
    """
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _poly_int(values: Sequence[int], base: int) -> int:
    return sum(((v + 1) * pow(base, k, 1 << 64)) for k, v in enumerate(values)) & _MASK64


def _token_hash_int(token: str) -> int:
    return _fmix64_int(_poly_int([ord(c) for c in token], _BASE))


def shingle_hash32(shingle: str | bytes, unit: str = "char") -> int:
    """The 32-bit hash of one shingle, as :func:`shingle_hashes` computes it (reference implementation).

    A char shingle is a string of code points ``c_0..c_{n-1}``: ``h = fmix64(sum (c_k + 1) * B**k mod 2**64) >> 32``
    with ``B`` the FNV-1a 64-bit prime and ``fmix64`` the MurmurHash3 finalizer. A word shingle is its words joined
    by single spaces; each word is hashed like a char shingle (64 bits) and the word hashes ``w_k`` are combined the
    same way with base ``0x9E3779B97F4A7C15``. ``bytes`` are decoded as UTF-8 (datasketch passes what it is given).
    """
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8")
    if unit == "char":
        h = _poly_int([ord(c) for c in shingle], _BASE)
    elif unit == "word":
        h = _poly_int([_token_hash_int(w) for w in shingle.split(" ")], _WORD_BASE)
    else:
        raise ValueError(f"unit must be 'char' or 'word', not {unit!r}")
    return _fmix64_int(h) >> 32


def reference_shingles(form: str, n: int, unit: str = "char") -> list[str]:
    """The shingles of one :func:`shingle_form` text in pure Python (for tests and datasketch comparisons);
    ``[]`` for an empty form."""
    if not form:
        return []
    if unit == "char":
        return [form[i : i + n] for i in range(len(form) - n + 1)] or [form]
    words = form.split(" ")
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)] or [form]


@dataclass(frozen=True)
class Shingles:
    """Shingle hash sets of ``len(offsets) - 1`` texts in CSR form: text ``i`` has the sorted, unique uint32
    hashes ``hashes[offsets[i]:offsets[i + 1]]`` (empty for a text without letters or digits)."""

    offsets: np.ndarray  # int64, (n_texts + 1,)
    hashes: np.ndarray  # uint32, (offsets[-1],)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sizes(self) -> np.ndarray:
        """Number of distinct shingles per text, int64 ``(n_texts,)``."""
        return np.diff(self.offsets)


def _codepoints(forms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All forms' code points concatenated (uint64) and the start offset of each form (int64, n+1)."""
    lengths = np.fromiter((len(f) for f in forms), dtype=np.int64, count=len(forms))
    offsets = np.zeros(len(forms) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    cps = np.frombuffer("".join(forms).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return cps, offsets


def _windows(values: np.ndarray, offsets: np.ndarray, n: int, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial hashes ``sum (v_{i+k} + 1) * base**k`` (mod 2**64) of every length-``n`` window that lies inside
    one segment, and the segment of each window. A non-empty segment shorter than ``n`` gives one window: itself."""
    lengths = np.diff(offsets)
    total = len(values)
    m = max(total - n + 1, 0)
    acc = np.zeros(m, dtype=np.uint64)
    b = np.uint64(1)
    one = np.uint64(1)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc += (values[k : k + m] + one) * b
            b = b * np.uint64(base)
    seg = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)[:m]
    ends = offsets[1:][seg]
    ok = np.arange(m, dtype=np.int64) + n <= ends
    win, win_seg = acc[ok], seg[ok]
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short):  # whole-segment hash for segments shorter than n
        extra = np.zeros(len(short), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(int(lengths[short].max())):
                inside = k < lengths[short]
                pos = offsets[short] + k
                term = (values[np.where(inside, pos, 0)] + one) * np.uint64(pow(base, k, 1 << 64))
                extra += np.where(inside, term, np.uint64(0))
        win = np.concatenate([win, extra])
        win_seg = np.concatenate([win_seg, short])
    return win, win_seg


def _csr(hashes: np.ndarray, seg: np.ndarray, n_texts: int) -> Shingles:
    """Sort by (segment, hash) with one uint64 key, drop repeats within a segment."""
    key = (seg.astype(np.uint64) << np.uint64(32)) | hashes.astype(np.uint64)
    key.sort()
    keep = np.ones(len(key), dtype=bool)
    keep[1:] = key[1:] != key[:-1]
    key = key[keep]
    s = (key >> np.uint64(32)).astype(np.int64)
    offsets = np.zeros(n_texts + 1, dtype=np.int64)
    np.cumsum(np.bincount(s, minlength=n_texts), out=offsets[1:])
    return Shingles(offsets, (key & np.uint64(0xFFFFFFFF)).astype(np.uint32))


def shingle_hashes(forms: Sequence[str], n: int, unit: str = "char") -> Shingles:
    """Shingle hash sets of :func:`shingle_form` texts (``unit`` ``"char"`` or ``"word"``, ``n >= 1``).

    Raises ValueError for another unit or ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}")
    if unit == "char":
        cps, offsets = _codepoints(forms)
        win, seg = _windows(cps, offsets, n, _BASE)
    elif unit == "word":
        words = [f.split(" ") if f else [] for f in forms]
        counts = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        flat = [w for ws in words for w in ws]
        cps, w_off = _codepoints(flat)
        # hash every word: per-position terms summed per word (np.add.reduceat wraps mod 2**64)
        pos = np.arange(len(cps), dtype=np.int64) - np.repeat(w_off[:-1], np.diff(w_off))
        powers = np.ones(int(pos.max()) + 1 if len(pos) else 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(1, len(powers)):
                powers[k] = powers[k - 1] * np.uint64(_BASE)
            terms = (cps + np.uint64(1)) * powers[pos]
        word_h = np.add.reduceat(terms, w_off[:-1]) if len(flat) else np.zeros(0, dtype=np.uint64)
        word_h = _fmix64(word_h)
        offsets = np.zeros(len(forms) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        win, seg = _windows(word_h, offsets, n, _WORD_BASE)
    else:
        raise ValueError(f"unit must be 'char' or 'word', not {unit!r}")
    h32 = (_fmix64(win) >> np.uint64(32)).astype(np.uint32)
    return _csr(h32, seg, len(forms))


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` uint32 arrays of datasketch's ``affine32`` scheme for ``num_perm`` and ``seed``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def signatures(sh: Shingles, num_perm: int, seed: int = 1, chunk_elems: int = 1 << 23) -> np.ndarray:
    """MinHash signatures ``(len(sh), num_perm)`` uint32; a text without shingles gets all ``2**32 - 1``
    (datasketch's empty value). Works on about ``chunk_elems`` shingle x permutation cells at a time
    (``4 * chunk_elems`` bytes per temporary)."""
    a, b = permutations(num_perm, seed)
    n = len(sh)
    out = np.full((n, num_perm), _M32, dtype=np.uint32)
    sizes = sh.sizes()
    mixed = _fmix32(sh.hashes)
    step = max(1, chunk_elems // num_perm)
    lo = 0
    with np.errstate(over="ignore"):
        while lo < n:
            # texts lo..hi with about `step` shingles (at least one text)
            hi = int(np.searchsorted(sh.offsets, sh.offsets[lo] + step, side="right")) - 1
            hi = min(max(hi, lo + 1), n)
            s0, s1 = sh.offsets[lo], sh.offsets[hi]
            if s1 > s0:
                phv = mixed[s0:s1, None] * a[None, :] + b[None, :]
                nonempty = np.flatnonzero(sizes[lo:hi] > 0)
                starts = sh.offsets[lo:hi][nonempty] - s0
                out[lo + nonempty] = np.minimum.reduceat(phv, starts, axis=0)
            lo = hi
    return out


def _mix_band(sig: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of a ``(n, rows)`` uint32 band."""
    key = np.zeros(len(sig), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(sig.shape[1]):
            key = _fmix64((key ^ sig[:, j].astype(np.uint64)) * np.uint64(_WORD_BASE))
    return key


def _bucket_pairs(members: np.ndarray, max_pairs: int) -> Iterator[np.ndarray]:
    """All pairs of one bucket, in chunks of about ``max_pairs``."""
    k = len(members)
    step = max(1, max_pairs // k)
    for lo in range(0, k - 1, step):
        hi = min(lo + step, k - 1)
        ii = np.repeat(np.arange(lo, hi), k - 1 - np.arange(lo, hi))
        jj = np.concatenate([np.arange(i + 1, k) for i in range(lo, hi)])
        yield np.stack([members[ii], members[jj]], axis=1)


def band_pairs(sig: np.ndarray, band: int, rows: int, max_pairs: int = 1 << 21) -> Iterator[np.ndarray]:
    """Candidate pairs of texts equal on band ``band`` (columns ``band*rows .. band*rows+rows-1``): every pair of
    every bucket, as int64 arrays ``(k, 2)`` with ``i < j`` of at most about ``max_pairs`` rows each (a bucket of
    thousands of templated jokes is split into chunks, never truncated)."""
    key = _mix_band(sig[:, band * rows : (band + 1) * rows])
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    multi = sizes > 1
    starts, sizes = starts[multi], sizes[multi]
    buf: list[np.ndarray] = []
    held = 0
    small = sizes <= 64
    for size in np.unique(sizes[small]):
        st = starts[small][sizes[small] == size]
        ii, jj = np.triu_indices(int(size), 1)
        for lo in range(0, len(st), max(1, max_pairs // len(ii))):
            part = st[lo : lo + max(1, max_pairs // len(ii))]
            buf.append(np.stack([order[part[:, None] + ii], order[part[:, None] + jj]], axis=-1).reshape(-1, 2))
            held += len(buf[-1])
            if held >= max_pairs:
                yield _sorted_pairs(buf)
                buf, held = [], 0
    for st, size in zip(starts[~small], sizes[~small], strict=True):
        for chunk in _bucket_pairs(np.sort(order[st : st + size]), max_pairs):
            buf.append(chunk)
            held += len(chunk)
            if held >= max_pairs:
                yield _sorted_pairs(buf)
                buf, held = [], 0
    if buf:
        yield _sorted_pairs(buf)


def _sorted_pairs(buf: list[np.ndarray]) -> np.ndarray:
    pairs = np.concatenate(buf).astype(np.int64)
    pairs.sort(axis=1)
    return pairs


def lsh_candidates(sig: np.ndarray, bands: int, rows: int) -> Iterator[np.ndarray]:
    """Candidate pair chunks of every band (see :func:`band_pairs`); raises ValueError when the signature has
    fewer than ``bands * rows`` permutations."""
    if sig.shape[1] < bands * rows:
        raise ValueError(f"signatures have {sig.shape[1]} permutations, bands x rows needs {bands * rows}")
    for band in range(bands):
        yield from band_pairs(sig, band, rows)


def shingle_matrix(sh: Shingles) -> sp.csr_matrix:
    """The shingle sets as a sparse 0/1 matrix ``(len(sh), 2**32)`` (one row per text, columns = hash values)."""
    ones = np.ones(len(sh.hashes), dtype=np.int8)
    return sp.csr_matrix((ones, sh.hashes.astype(np.int64), sh.offsets), shape=(len(sh), 1 << 32))


def jaccard_pairs(
    sh: Shingles, pairs: np.ndarray, matrix: sp.csr_matrix | None = None, batch: int = 100_000
) -> np.ndarray:
    """Exact Jaccard ``|A & B| / |A | B|`` of the shingle sets of each pair ``(k, 2)``, float64 ``(k,)``; a pair with
    an empty set gives 0 (a text without letters or digits is never anyone's duplicate). Intersections are the
    non-zeros of the row-wise product of :func:`shingle_matrix` rows (``matrix``, built when not given)."""
    x = shingle_matrix(sh) if matrix is None else matrix
    sizes = sh.sizes()
    out = np.zeros(len(pairs), dtype=np.float64)
    for lo in range(0, len(pairs), batch):
        p = pairs[lo : lo + batch]
        inter = x[p[:, 0]].multiply(x[p[:, 1]]).getnnz(axis=1)
        union = sizes[p[:, 0]] + sizes[p[:, 1]] - inter
        out[lo : lo + batch] = np.divide(inter, union, out=np.zeros(len(p)), where=union > 0)
    return out


def containment_pairs(
    part: Shingles, part_matrix: sp.csr_matrix, whole_matrix: sp.csr_matrix, pairs: np.ndarray, batch: int = 100_000
) -> np.ndarray:
    """``|P & W| / |P|`` for each pair ``(p, w)``: how much of set ``p`` of ``part`` lies in set ``w`` of the
    ``whole`` matrix (same shingling); 0 for an empty ``p``. float64 ``(len(pairs),)``."""
    sizes = part.sizes()
    out = np.zeros(len(pairs), dtype=np.float64)
    for lo in range(0, len(pairs), batch):
        p = pairs[lo : lo + batch]
        inter = part_matrix[p[:, 0]].multiply(whole_matrix[p[:, 1]]).getnnz(axis=1)
        size = sizes[p[:, 0]]
        out[lo : lo + batch] = np.divide(inter, size, out=np.zeros(len(p)), where=size > 0)
    return out
