"""Clean's pass 2 as steps (like pass 1, :mod:`jokemine.pipeline.steps`): the global decisions applied to each
record, then language identification, the language filter, the split, the NSFW flag, and the outcome counts.

The decisions are applied to a whole chunk at once (:func:`apply_decisions`, on Arrow columns); the records they
keep then flow through the steps (every record flows on, ones a step drops with their ``drop_reason``), and
the ones they drop are only counted (:func:`count_dropped`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jokemine.cleaning.langid import backend_version, detect_batch
from jokemine.cleaning.nsfw import is_nsfw
from jokemine.cleaning.shuffle import hash_strings, schema
from jokemine.config import CleanConfig, SplitsConfig
from jokemine.pipeline import storage
from jokemine.pipeline.steps import Record, Stats, Step, map_step
from jokemine.schema import DropReason
from jokemine.splits.assign import split_of

DECIDED = ("drop_reason", "score_norm", "dup_cluster", "dup_cluster_size", "also_in", "split_key", "split")


def apply_decisions(table: pa.Table, dec: pa.Table) -> pa.Table:
    """The records ``table`` (:data:`jokemine.schema.RECORD_SCHEMA`) with the global decisions ``dec`` (rows of
    :data:`jokemine.cleaning.id_merge.DEC_SCHEMA` aligned with them) copied on; a language another copy of the
    text declares, and the earliest ``created_at`` of the id, fill gaps. Columnar (Arrow), so records the
    decisions drop never become dicts."""
    for k in DECIDED:
        i = table.schema.get_field_index(k)
        table = table.set_column(i, table.schema.field(i), dec[k].combine_chunks().cast(table.schema.field(i).type))
    for k, fill in (("lang", "lang_hint"), ("created_at", "created_fill")):
        i = table.schema.get_field_index(k)
        field = table.schema.field(i)
        filled = pc.coalesce(table[k].combine_chunks(), dec[fill].combine_chunks().cast(field.type))
        table = table.set_column(i, field, filled)
    return table


def count_dropped(table: pa.Table, stats: Stats) -> None:
    """``("dropped", source, reason)`` counts of the dropped records of ``table`` (as :func:`count_outcomes`)."""
    if table.num_rows == 0:
        return
    counts = table.group_by(["source", "drop_reason"]).aggregate([([], "count_all")])
    for source, reason, n in zip(*(counts[c].to_pylist() for c in ("source", "drop_reason", "count_all")), strict=True):
        stats.add("dropped", source, reason, n=n)


LANG_CACHE_SCHEMA = schema(h=pa.uint64(), lang=pa.string())


@dataclass
class LangCache:
    """Languages identified before for the texts of one raw part, keyed by a 64-bit hash of the characters
    language ID reads (the first ``[clean] langid_chars``): detection depends on nothing else, so a refresh
    identifies only texts it has not seen. Files ``<folder>/<uuid>.parquet`` (:data:`LANG_CACHE_SCHEMA`), one per
    pass-2 task that identified something; ``folder`` ``None``: no cache."""

    folder: str | None
    known: dict[int, str] = field(default_factory=dict)
    found: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | None) -> LangCache:
        """Every entry under ``folder`` (an unreadable file is skipped: its texts are identified again)."""
        cache = cls(folder)
        for url in storage.listdir(folder, ".parquet") if folder else []:
            try:
                t = storage.read_table(url)
            except (OSError, pa.ArrowException):
                continue
            cache.known.update(zip(t["h"].to_numpy().tolist(), t["lang"].to_pylist(), strict=True))
        return cache

    def save(self) -> None:
        """Write what this task identified (nothing when it found nothing new)."""
        if self.folder and self.found:
            df = pd.DataFrame(
                {"h": np.fromiter(self.found, np.uint64, len(self.found)), "lang": list(self.found.values())}
            )
            storage.write_frame(storage.join(self.folder, f"{uuid.uuid4().hex}.parquet"), df, LANG_CACHE_SCHEMA)


def lang_cache_folder(p1_cache: str, part_key: str, chars: int, backend: str = "fasttext") -> str:
    """The :class:`LangCache` folder of one raw part: ``lang/`` in its pass-1 cache folder (whose digest covers
    jokemine's version and ``[clean]``), named after the part, the language-ID library and version, and
    ``chars``."""
    return storage.join(p1_cache, "lang", f"{part_key}-{backend_version(backend)}-{chars}")


def langid_step(
    chars: int,
    cache: LangCache | None = None,
    backend: str = "fasttext",
    prefer: Sequence[str] = (),
    ratio: float = 1.0,
) -> Step:
    """Language identification (:func:`jokemine.cleaning.langid.detect_batch` with ``backend``, ``prefer`` and
    ``ratio``, batched over every record of the chunk) for records still kept that declare no language; texts in
    ``cache`` are not identified again (the cache folder is per settings: :func:`lang_cache_folder`)."""
    cache = cache or LangCache(None)

    def run(records: Iterable[Record], stats: Stats) -> Iterator[Record]:
        recs = list(records)
        need = [r for r in recs if r["drop_reason"] is None and r["lang"] is None]
        stats.add("step", "langid", "in", n=len(need))
        keys = hash_strings([r["text"][:chars] for r in need]).tolist()
        todo = [i for i, h in enumerate(keys) if h not in cache.known]
        stats.add("step", "langid", "cached", n=len(need) - len(todo))
        found = detect_batch([need[i]["text"] for i in todo], chars, backend, prefer, ratio)
        for i, lang in zip(todo, found, strict=True):
            cache.known[keys[i]] = cache.found[keys[i]] = lang
        for r, h in zip(need, keys, strict=True):
            r["lang"] = cache.known[h]
        yield from recs

    return run


def language_step(cfg: CleanConfig) -> Step:
    """The language filter: a record whose language is not in ``[clean] languages`` is dropped (``language``),
    except a text shorter than ``lang_min_chars``, which is kept with ``lang = "und"``: language ID errs most on
    short texts (README "Language")."""
    keep = set(cfg.languages)

    def run(records: Iterable[Record], stats: Stats) -> Iterator[Record]:
        for r in records:
            lang = r["lang"]
            if r["drop_reason"] is None and keep and lang not in keep:
                if len(r["text"]) < cfg.lang_min_chars:
                    stats.add("lang_undetermined_short", r["source"], lang)
                    r["lang"] = "und"
                else:
                    stats.add("dropped_language", r["source"], lang)
                    r["drop_reason"] = DropReason.LANGUAGE.value
            yield r

    return run


def split_step(cfg: SplitsConfig) -> Step:
    """The split of each kept record: the one its split group was published in (decided globally, see
    :mod:`jokemine.splits.ledger`), else from its ``split_key`` (:func:`jokemine.splits.assign.split_of`)."""

    def assign(r: Record) -> Record:
        if r["split"] is None:
            r["split"] = split_of(r["split_key"], cfg)
        return r

    return map_step("split", assign, kept_only=True)


def either(a: bool | None, b: bool | None) -> bool | None:
    """Three-valued OR of two signals: True when either is True, None when both are None, else False."""
    if a or b:
        return True
    return None if a is None and b is None else False


def _nsfw(r: Record) -> Record:
    r["nsfw_wordlist"] = is_nsfw(r["text"], r["lang"])
    r["nsfw"] = either(r["nsfw_over_18"], r["nsfw_wordlist"])
    return r


FLAG = {True: "nsfw", False: "sfw", None: "unknown"}


def count_outcomes(records: Iterable[Record], stats: Stats) -> Iterator[Record]:
    """Counts per source: drops by reason; kept records by language, kind, structure, split, and each NSFW signal
    (``nsfw``, ``over_18``, ``wordlist``: nsfw / sfw / unknown)."""
    for r in records:
        source = r["source"]
        if r["drop_reason"] is not None:
            stats.add("dropped", source, r["drop_reason"])
        else:
            stats.add("kept", source, "total")
            stats.add("kept_lang", source, r["lang"])
            stats.add("kept_kind", source, r["kind"])
            stats.add("kept_structure", source, r["structure"])
            for signal in ("nsfw", "nsfw_over_18", "nsfw_wordlist"):
                stats.add("kept_nsfw", source, signal.removeprefix("nsfw_"), FLAG[r[signal]])
            stats.add("kept_split", source, r["split"])
        yield r


def pass2_steps(clean: CleanConfig, splits: SplitsConfig, lang_cache: LangCache | None = None) -> list[Step]:
    """The steps of pass 2, in order, for the records that the global decisions (:func:`apply_decisions`) keep;
    ``lang_cache``: languages identified before (:class:`LangCache`)."""
    return [
        langid_step(clean.langid_chars, lang_cache, clean.langid, clean.languages, clean.langid_prefer),
        language_step(clean),
        split_step(splits),
        map_step("nsfw", _nsfw, kept_only=True),
        count_outcomes,
    ]
