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

import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

_NON_WORD = re.compile(r"[\W_]+")
_MASK64 = (1 << 64) - 1
_BASE = 0x100000001B3  # FNV-1a 64-bit prime, used as the polynomial base
_WORD_BASE = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd
_M32 = np.uint32(0xFFFFFFFF)
T = TypeVar("T")
U = TypeVar("U")


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


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer on a uint64 array (https://github.com/aappleby/smhasher, ``fmix64``)."""
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
    count = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))  # windows per segment
    seg = np.repeat(np.arange(len(lengths), dtype=np.int64), count)
    first = np.zeros(len(count) + 1, dtype=np.int64)
    np.cumsum(count, out=first[1:])
    start = offsets[:-1][seg] + (np.arange(len(seg), dtype=np.int64) - first[:-1][seg])
    width = np.minimum(lengths[seg], n)  # n, or the whole (short) segment
    acc = np.zeros(len(seg), dtype=np.uint64)
    b = np.uint64(1)
    one = np.uint64(1)
    short = bool((width < n).any())
    with np.errstate(over="ignore"):
        for k in range(n):
            if not short:
                acc += (values[start + k] + one) * b
            else:  # windows of short segments stop at their width
                inside = k < width
                acc += np.where(inside, (values[np.where(inside, start + k, 0)] + one) * b, np.uint64(0))
            b = b * np.uint64(base)
    return acc, seg


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


def _shingle_chunk(forms: Sequence[str], n: int, unit: str) -> Shingles:
    if unit == "char":
        cps, offsets = _codepoints(forms)
        win, seg = _windows(cps, offsets, n, _BASE)
    else:
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
        word_h = fmix64(word_h)
        offsets = np.zeros(len(forms) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        win, seg = _windows(word_h, offsets, n, _WORD_BASE)
    h32 = (fmix64(win) >> np.uint64(32)).astype(np.uint32)
    return _csr(h32, seg, len(forms))


def _concat(parts: list[Shingles]) -> Shingles:
    """One :class:`Shingles` from consecutive parts; each part is released as soon as it is copied (``parts`` is
    emptied), so the peak is the result plus one part, not twice the result."""
    sizes = np.concatenate([p.sizes() for p in parts])
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    hashes = np.empty(int(offsets[-1]), dtype=np.uint32)
    at = 0
    parts.reverse()
    while parts:
        h = parts.pop().hashes
        hashes[at : at + len(h)] = h
        at += len(h)
    return Shingles(offsets, hashes)


def _text_chunks(lengths: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive ``(lo, hi)`` text ranges of about ``budget`` units each (at least one text per range)."""
    ends = np.cumsum(lengths)
    out, lo = [], 0
    while lo < len(lengths):
        before = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, before + budget, side="right"))
        hi = min(max(hi, lo + 1), len(lengths))
        out.append((lo, hi))
        lo = hi
    return out


def pool_map(fn: Callable[[U], T], items: Sequence[U], threads: int | None = None) -> list[T]:
    """``[fn(x) for x in items]`` on ``threads`` threads (default :func:`default_threads`), in order. Worth it for
    NumPy work on large arrays: NumPy releases the GIL in its array loops."""
    threads = threads or default_threads()
    if threads <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


def default_threads() -> int:
    """Worker threads for shingling and signatures: the CPUs this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def shingle_hashes(
    forms: Sequence[str], n: int, unit: str = "char", *, threads: int | None = None, chunk_chars: int = 1 << 20
) -> Shingles:
    """Shingle hash sets of :func:`shingle_form` texts (``unit`` ``"char"`` or ``"word"``, ``n >= 1``).

    Works on runs of texts of about ``chunk_chars`` characters (temporaries stay in cache and bounded: ~40 bytes
    per character of a chunk) on ``threads`` threads (default: :func:`default_threads`); the result does not
    depend on either. Raises ValueError for another unit or ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}")
    if unit not in ("char", "word"):
        raise ValueError(f"unit must be 'char' or 'word', not {unit!r}")
    lengths = np.fromiter((len(f) for f in forms), dtype=np.int64, count=len(forms))
    chunks = _text_chunks(lengths, chunk_chars)
    if not chunks:
        return Shingles(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint32))
    parts = pool_map(lambda c: _shingle_chunk(forms[c[0] : c[1]], n, unit), chunks, threads)
    return _concat(parts)


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


def signatures(
    sh: Shingles, num_perm: int, seed: int = 1, chunk_elems: int = 1 << 19, *, threads: int | None = None
) -> np.ndarray:
    """MinHash signatures ``(len(sh), num_perm)`` uint32; a text without shingles gets all ``2**32 - 1``
    (datasketch's empty value). Works on runs of texts with about ``chunk_elems`` shingles (one permutation at a
    time over a run, so the temporaries stay in cache: ``4 * chunk_elems`` bytes each) on ``threads`` threads
    (default: :func:`default_threads`); the result depends on neither."""
    a, b = permutations(num_perm, seed)
    n = len(sh)
    out = np.full((n, num_perm), _M32, dtype=np.uint32)
    sizes = sh.sizes()

    def run(chunk: tuple[int, int]) -> None:
        lo, hi = chunk
        s0, s1 = sh.offsets[lo], sh.offsets[hi]
        if s1 == s0:
            return
        nonempty = np.flatnonzero(sizes[lo:hi] > 0)
        starts = sh.offsets[lo:hi][nonempty] - s0
        part = _fmix32(sh.hashes[s0:s1])
        tmp = np.empty((num_perm, len(nonempty)), dtype=np.uint32)
        with np.errstate(over="ignore"):
            for j in range(num_perm):
                tmp[j] = np.minimum.reduceat(part * a[j] + b[j], starts)
        out[lo + nonempty] = tmp.T

    pool_map(run, _text_chunks(sizes, chunk_elems), threads)
    return out


def band_keys(sig: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of a ``(n, rows)`` uint32 band: rows equal on the band get equal keys."""
    key = np.zeros(len(sig), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(sig.shape[1]):
            key = fmix64((key ^ sig[:, j].astype(np.uint64)) * np.uint64(_WORD_BASE))
    return key


def bucket_pairs(members: np.ndarray, max_pairs: int) -> Iterator[np.ndarray]:
    """All pairs ``(members[i], members[j])``, ``i < j``, of one bucket, as int64 ``(k, 2)`` chunks of about
    ``max_pairs`` rows."""
    k = len(members)
    step = max(1, max_pairs // k)
    for lo in range(0, k - 1, step):
        hi = min(lo + step, k - 1)
        ii = np.repeat(np.arange(lo, hi), k - 1 - np.arange(lo, hi))
        jj = np.concatenate([np.arange(i + 1, k) for i in range(lo, hi)])
        yield np.stack([members[ii], members[jj]], axis=1)


def band_pairs(
    sig: np.ndarray,
    band: int,
    rows: int,
    max_pairs: int = 1 << 21,
    labels: Callable[[], np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    """Candidate pairs of texts equal on band ``band`` (columns ``band*rows .. band*rows+rows-1``): every pair of
    every bucket, as int64 arrays ``(k, 2)`` with ``i < j`` of at most about ``max_pairs`` rows each (a bucket of
    thousands of templated jokes is split into chunks, never truncated).

    With ``labels`` (returns int64 ``(n,)``, the clusters known so far; the caller updates them from the pairs
    it accepts), each bucket first yields a star (its first member with each other member), then, asked again,
    only buckets whose members are not yet all in one cluster give all their pairs. Single linkage needs one
    path per cluster, so a bucket of near-copies costs ``k - 1`` checks instead of ``k (k - 1) / 2``.
    """
    key = band_keys(sig[:, band * rows : (band + 1) * rows])
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    multi = sizes > 1
    starts, sizes = starts[multi], sizes[multi]
    if labels is not None and len(starts):
        first = np.repeat(order[starts], sizes - 1)
        before = np.cumsum(sizes - 1) - (sizes - 1)  # star pairs of earlier buckets
        other = order[np.repeat(starts + 1 - before, sizes - 1) + np.arange(len(first))]
        star = np.stack([first, other], axis=1)
        for lo in range(0, len(star), max_pairs):
            yield _sorted_pairs([star[lo : lo + max_pairs]])
        lab = labels()[order]  # drop buckets now inside one cluster
        mixed = np.minimum.reduceat(lab, starts) != np.maximum.reduceat(lab, starts)
        starts, sizes = starts[mixed], sizes[mixed]
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
        for chunk in bucket_pairs(np.sort(order[st : st + size]), max_pairs):
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


def lsh_candidates(
    sig: np.ndarray, bands: int, rows: int, labels: Callable[[], np.ndarray] | None = None
) -> Iterator[np.ndarray]:
    """Candidate pair chunks of every band (see :func:`band_pairs`, also for ``labels``). Raises ValueError
    when the signature has fewer than ``bands * rows`` permutations."""
    if sig.shape[1] < bands * rows:
        raise ValueError(f"signatures have {sig.shape[1]} permutations, bands x rows needs {bands * rows}")
    for band in range(bands):
        yield from band_pairs(sig, band, rows, labels=labels)


_COLS = (1 << 31) - 1  # columns of shingle_matrix: int32 indices


def shingle_matrix(sh: Shingles, *, reuse: bool = False) -> sp.csr_matrix:
    """The shingle sets as a sparse 0/1 matrix ``(len(sh), 2**31 - 1)``, int8 data and int32 indices (5 bytes per
    shingle): row ``i`` holds text ``i``'s hashes shifted right by one bit (31-bit values, the top one folded into
    the last column), repeats within a row dropped. Two different shingles of a pair share a 31-bit value with
    probability about ``|A| |B| / 2**31`` (~1e-4 for two 300-shingle texts): Jaccard on this matrix is exact up
    to that. ``reuse=True`` builds the indices in the memory of ``sh.hashes`` (which is then overwritten: do not
    use ``sh`` afterwards), saving a copy."""
    cols = sh.hashes if reuse else sh.hashes.copy()
    cols >>= np.uint32(1)
    np.minimum(cols, np.uint32(_COLS - 1), out=cols)
    cols = cols.view(np.int32)
    repeat = np.zeros(len(cols), dtype=bool)
    np.equal(cols[1:], cols[:-1], out=repeat[1:])
    repeat[sh.offsets[:-1][sh.sizes() > 0]] = False  # a row's first value is never a repeat
    drop = np.flatnonzero(repeat)  # rare: two hashes of one text equal in 31 bits
    del repeat
    indptr = sh.offsets - np.searchsorted(drop, sh.offsets)
    if len(drop):
        cols = np.delete(cols, drop)
    idx_type = np.int32 if len(cols) < _COLS else np.int64
    x = sp.csr_matrix(
        (np.ones(len(cols), dtype=np.int8), cols.astype(idx_type, copy=False), indptr.astype(idx_type)),
        shape=(len(sh), _COLS),
        copy=False,
    )
    x.has_sorted_indices = True
    return x


def row_sizes(matrix: sp.csr_matrix) -> np.ndarray:
    """Shingles per row of a :func:`shingle_matrix`, int64 ``(n_rows,)``."""
    return np.diff(matrix.indptr).astype(np.int64)


def jaccard_pairs(
    matrix: sp.csr_matrix, pairs: np.ndarray, batch: int = 50_000, *, threads: int | None = None
) -> np.ndarray:
    """Exact Jaccard ``|A & B| / |A | B|`` of the shingle sets (rows of :func:`shingle_matrix`) of each pair
    ``(k, 2)``, float64 ``(k,)``; a pair with an empty set gives 0 (a text without letters or digits is never
    anyone's duplicate). Intersections are the non-zeros of the row-wise product, in batches of ``batch`` pairs
    on ``threads`` threads (scipy's sparse kernels release the GIL)."""
    sizes = row_sizes(matrix)

    def run(p: np.ndarray) -> np.ndarray:
        inter = matrix[p[:, 0]].multiply(matrix[p[:, 1]]).getnnz(axis=1)
        union = sizes[p[:, 0]] + sizes[p[:, 1]] - inter
        return np.divide(inter, union, out=np.zeros(len(p)), where=union > 0)

    return _batched(run, pairs, batch, threads)


def containment_pairs(
    part_matrix: sp.csr_matrix,
    whole_matrix: sp.csr_matrix,
    pairs: np.ndarray,
    batch: int = 50_000,
    *,
    threads: int | None = None,
) -> np.ndarray:
    """``|P & W| / |P|`` for each pair ``(p, w)``: how much of set ``p`` (row of ``part_matrix``) lies in set ``w``
    (row of ``whole_matrix``, same shingling); 0 for an empty ``p``. float64 ``(len(pairs),)``."""
    sizes = row_sizes(part_matrix)

    def run(p: np.ndarray) -> np.ndarray:
        inter = part_matrix[p[:, 0]].multiply(whole_matrix[p[:, 1]]).getnnz(axis=1)
        size = sizes[p[:, 0]]
        return np.divide(inter, size, out=np.zeros(len(p)), where=size > 0)

    return _batched(run, pairs, batch, threads)


def _batched(fn: Callable[[np.ndarray], np.ndarray], pairs: np.ndarray, batch: int, threads: int | None) -> np.ndarray:
    if not len(pairs):
        return np.zeros(0, dtype=np.float64)
    parts = [pairs[lo : lo + batch] for lo in range(0, len(pairs), batch)]
    return np.concatenate(pool_map(fn, parts, threads)).astype(np.float64)
