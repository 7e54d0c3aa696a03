"""The README stays true: its schema table and drop reasons match the code."""

from __future__ import annotations

import re

from jokemine.schema import RELEASE_CONFIGS, DropReason, drop_reason_table, markdown_table
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_schema_table_is_the_schema() -> None:
    assert markdown_table() in README
    for c in RELEASE_CONFIGS.values():
        if c.grouped:
            assert f"Config `{c.name}`" in README and markdown_table(c.fields) in README, c.name


def test_readme_lists_every_drop_reason() -> None:
    assert drop_reason_table() in README
    assert [r.value for r in DropReason][:3] == ["deleted", "removed", "deleted_upstream"]
    assert len(DropReason) == 16


def test_readme_quick_start_commands() -> None:
    assert "make install && make scrape clean publish CONFIG=configs/real-offline.toml" in README
    assert "\nmake test " in README
    ci = (REPO / ".ci" / "run").read_text()
    assert "make install" in ci and "make test" in ci


def test_readme_documents_every_config_key() -> None:
    """Every key of every config section and source kind is named in the README (not only in config.py)."""
    from pydantic import BaseModel

    from jokemine import config

    models = [
        m
        for m in vars(config).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == config.__name__
    ]
    models.remove(config.Config)
    assert len(models) >= 12
    missing = sorted(
        f"{m.__name__}.{key}" for m in models for key in m.model_fields if not re.search(rf"\b{key}\b", README)
    )
    assert missing == []
    sections = [k for k in config.Config.model_fields if k not in ("config_path", "sources")]
    assert [k for k in sections if f"[{k}]" not in README] == []
