"""The one registry of source kinds and the one DropReason enum (issue 17, item 4)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from jokemine.config import SOURCE_KINDS, AnySource
from jokemine.schema import DropReason
from jokemine.scrapers.registry import kinds

PACKAGE = Path(__file__).resolve().parents[1] / "jokemine"
SOURCE_MODELS = {m.model_fields["kind"].annotation.__args__[0]: m for m in typing.get_args(AnySource)}


def test_every_kind_is_registered_once_with_its_config_model() -> None:
    reg = kinds()
    assert tuple(reg) == SOURCE_KINDS or sorted(reg) == sorted(SOURCE_KINDS)
    for kind, entry in reg.items():
        assert entry.config is SOURCE_MODELS[kind], kind
        assert hasattr(entry.reader, "from_config") and entry.reader.__module__ == f"jokemine.scrapers.{kind}"
    assert {k for k, e in reg.items() if e.live} == {"reddit_api", "reddit_threads"}
    assert {k for k, e in reg.items() if e.files} == {"reddit_dump", "reddit_comments", "table"}
    assert {k for k, e in reg.items() if e.card_terms} == {
        "reddit_dump",
        "reddit_comments",
        "reddit_api",
        "reddit_threads",
    }


def test_no_isinstance_chain_on_source_kinds_outside_the_config() -> None:
    models = "|".join(m.__name__ for m in SOURCE_MODELS.values())
    pattern = re.compile(rf"isinstance\([^)]*({models})")
    hits = [
        f"{p.relative_to(PACKAGE)}:{n}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "config.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_drop_reasons_are_one_enum_that_filters_return() -> None:
    from jokemine.cleaning import filters

    assert len(DropReason) == 16 and all(r.meaning for r in DropReason)
    rec = {"text": "", "drop_reason": None}
    assert filters.empty(rec) is DropReason.EMPTY
    source = (PACKAGE / "cleaning" / "filters.py").read_text()
    assert not re.search(r'return "(deleted|removed|empty|too_short|too_long|incomplete|mod_post|link_post)"', source)
