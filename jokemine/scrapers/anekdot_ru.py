"""``anekdot_ru``: anekdot.ru, crawled politely (see :mod:`jokemine.scrapers.crawl`) and parsed by clean.

URLs: daily release pages ``/release/<category>/day/YYYY-MM-DD/`` (``anekdot``, ``story``, ``aphorism``) for
the crawl window, tag pages ``/tags/<tag>``, pagination links in ``div.pageslist`` (up to ``max_pages``), and
``/id/<id>/`` for stories a listing shows truncated ("читать дальше").

Markup (checked on the real saved page in shared/data/real/html-anekdot-ru): each joke is a
``div.topicbox[data-id]``; its text is ``div.text`` with ``<br>`` line breaks; ``div.rates[data-r]`` holds
``"rating;total;plus;minus"`` with rating = plus - minus and total = plus + minus; ``a.auth`` links the author;
``div.tags a`` are its tags. Advertising boxes (no ``data-id``), deleted placeholders (``div.topicbox.grey``,
"текст удалён") and the heading box are skipped. Tag pages carry no per-joke date; day pages give the date.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from functools import partial
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import lxml.html

from jokemine.cleaning.filters import record_steps
from jokemine.cleaning.parse import author_hash
from jokemine.cleaning.parse import parse_page as page_records
from jokemine.config import AnekdotRuSource
from jokemine.scrapers.crawl import Crawler
from jokemine.scrapers.http import Fetched, decode_html
from jokemine.scrapers.registry import register
from jokemine.state import FrontierEntry, FrontierOp

READ_MORE = "читать дальше"
DELETED_TEXT = "текст удалён"


def element_text(el: Any) -> str:
    """Text of an element with ``<br>`` as newlines (and block children on their own lines)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if node.tag == "br":
            parts.append("\n")
        elif isinstance(node.tag, str) and node.tag in ("script", "style"):
            pass
        else:
            if node.text:
                parts.append(node.text)
            for child in node:
                walk(child)
                if isinstance(child.tag, str) and child.tag in ("p", "div"):
                    parts.append("\n")
        if node is not el and node.tail:
            parts.append(node.tail)

    walk(el)
    return "".join(parts).strip()


def _rates(value: str | None) -> dict[str, int] | None:
    if not value:
        return None
    try:
        rating, total, plus, minus = (int(x) for x in value.split(";")[:4])
    except ValueError:
        return None
    return {"rating": rating, "total": total, "plus": plus, "minus": minus}


def parse_page(html: str, url: str, kind: str, meta: dict[str, Any]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The jokes of one anekdot.ru page, and counts of what was skipped.

    Each joke: ``id``, ``text``, ``rating``/``total``/``plus``/``minus`` (None when unrated), ``author`` (the
    author's profile link or name), ``tags``, ``url`` (``/id/<id>/``), ``date`` (ISO day, day pages only),
    ``truncated`` (a listing's cut story). A ``story`` page (``/id/<id>/``) yields only that joke.
    """
    counts: Counter[str] = Counter()
    if not html.strip():
        counts["empty_page"] += 1
        return [], counts
    doc = lxml.html.fromstring(html)
    jokes = []
    for box in doc.xpath('//div[contains(concat(" ", normalize-space(@class), " "), " topicbox ")]'):
        jid = box.get("data-id")
        if not jid:
            text = box.text_content().strip()
            counts["deleted" if text == DELETED_TEXT else ("heading" if box.xpath(".//h1") else "ads")] += 1
            continue
        if kind == "story" and jid != str(meta.get("id")):
            continue
        text_el = box.xpath('.//div[contains(concat(" ", normalize-space(@class), " "), " text ")]')
        if not text_el:
            counts["no_text"] += 1
            continue
        more = [a for a in box.xpath(".//a") if READ_MORE in (a.text_content() or "").lower()]
        for a in more:
            a.drop_tree()
        rates = _rates((box.xpath('.//div[contains(@class, "rates")]/@data-r') or [None])[0])
        author = box.xpath('.//a[contains(concat(" ", normalize-space(@class), " "), " auth ")]')
        jokes.append(
            {
                "id": jid,
                "text": element_text(text_el[0]),
                **(rates or dict.fromkeys(("rating", "total", "plus", "minus"))),
                "author": (author[0].get("href") or author[0].text_content()) if author else None,
                "tags": [t.text_content().strip() for t in box.xpath('.//div[contains(@class, "tags")]//a')],
                "url": urljoin(url, f"/id/{jid}/"),
                "date": meta.get("date"),
                "truncated": bool(more) and kind != "story",
            }
        )
        counts["jokes"] += 1
    return jokes, counts


def page_links(html: str, url: str) -> tuple[list[str], list[str]]:
    """``(pagination URLs, ids of truncated stories)`` of a listing page."""
    if not html.strip():
        return [], []
    doc = lxml.html.fromstring(html)
    pages = [urljoin(url, h) for h in doc.xpath('//div[contains(@class, "pageslist")]//a/@href')]
    cut = []
    for box in doc.xpath('//div[contains(concat(" ", normalize-space(@class), " "), " topicbox ")][@data-id]'):
        if any(READ_MORE in (a.text_content() or "").lower() for a in box.xpath(".//a")):
            cut.append(box.get("data-id"))
    return list(dict.fromkeys(pages)), cut


def _jokes(cfg: AnekdotRuSource, html: str, page: dict[str, Any]) -> tuple[list[dict[str, Any]], Counter[str]]:
    return parse_page(html, page.get("final_url") or page["url"], page.get("kind", ""), page.get("meta") or {})


def _fill(rec: dict[str, Any], joke: dict[str, Any], page: dict[str, Any], ctx: Any) -> None:
    """anekdot.ru's own fields: rating (net votes), votes, author, tags, category."""
    rec["score"] = None if joke["rating"] is None else float(joke["rating"])
    rec["votes_up"], rec["votes_down"] = joke["plus"], joke["minus"]
    rec["score_kind"] = "net_votes" if rec["score"] is not None else None
    rec["author_hash"] = author_hash(joke.get("author"), ctx.author_salt)
    rec["tags"] = joke.get("tags") or []
    rec["category"] = (page.get("meta") or {}).get("category")


@register(
    "anekdot_ru",
    config=AnekdotRuSource,
    parse=partial(page_records, jokes_of=_jokes, fill=_fill),
    steps=record_steps,
    card_producers="Readers of anekdot.ru who submit anecdotes (mostly retellings of folk jokes); the scores are "
    "the site's reader ratings.",
)
class AnekdotRu(Crawler):
    """The anekdot.ru crawler (see the module docstring)."""

    parser_version = "anekdot_ru/1"
    cfg: AnekdotRuSource

    def seeds(self, days: list[date], force: bool) -> list[FrontierOp]:
        ops = []
        for cat in self.cfg.categories:
            for day in days:
                recent = self.recent(day)
                url = self.absolute(f"/release/{cat}/day/{day.isoformat()}/")
                meta = {"date": day.isoformat(), "category": cat, "page": 1}
                ops.append(FrontierOp("add", url, "day", meta, refetch_before=self.due(recent or force)))
        for tag in self.cfg.tags:
            url = self.absolute(f"/tags/{quote(tag)}")
            meta = {"tag": tag, "page": 1}
            ops.append(FrontierOp("add", url, "tag", meta, refetch_before=self.due(True)))
        return ops

    def links(self, entry: FrontierEntry, fetched: Fetched) -> list[FrontierOp]:
        """The next page of the same listing (up to ``max_pages``) and the full pages of cut stories."""
        if entry.kind == "story":
            return []
        html, _ = decode_html(fetched.body, fetched.headers.get("content-type"))
        pages, cut = page_links(html, fetched.final_url)
        ops = []
        page = int(entry.meta.get("page", 1))
        # the listing's path, as the site spells it (the first page's final URL), unquoted and case-folded
        root = entry.meta.get("root") if page > 1 else _path_key(fetched.final_url)
        nxt = [
            p
            for p in pages
            if _path_key(p).startswith(root or "")
            and _path_key(p) != _path_key(entry.url)
            and _page_number(p) == page + 1
        ]
        if nxt and page < self.cfg.max_pages:
            ops.append(
                FrontierOp(
                    "add",
                    nxt[0],
                    entry.kind,
                    {**entry.meta, "page": page + 1, "root": root},
                    refetch_before=self.due(entry.kind == "tag"),
                )
            )
        if self.cfg.full_stories:
            for jid in cut:
                meta = {"id": jid, "date": entry.meta.get("date"), "category": entry.meta.get("category")}
                ops.append(
                    FrontierOp("add", self.absolute(f"/id/{jid}/"), "story", meta, refetch_before=self.due(True))
                )  # with its listing: ratings move
        return ops


def _path_key(url: str) -> str:
    """A URL's path, percent-decoded, case-folded, without a trailing slash (to compare listing URLs)."""
    return unquote(urlsplit(url).path).casefold().rstrip("/")


def _page_number(url: str) -> int:
    """The page number of a pagination link (``.../2`` or ``...?page=2``); 1 when absent."""
    m = re.search(r"(?:/|[?&]page=)(\d+)/?(?:[?#].*)?$", url)
    return int(m.group(1)) if m else 1
