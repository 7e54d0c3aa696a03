"""``html_spec``: a joke site described by a TOML spec, no code (README "Add a site with a spec").

The spec (the keys of :class:`jokemine.config.HtmlSpecSource`) says which pages to fetch (``start_urls``,
``url_template`` with ``{date}``/``{page}``, ``pagination``) and how to read a joke from a page (``item``,
``text``, ``score``/``score_attr``/``score_regex``, ``id_attr``/``id_selector``/``id_regex``). CSS selectors are
compiled to XPath by cssselect and run on lxml trees. Crawling is the shared polite, resumable loop
(:mod:`jokemine.scrapers.crawl`); parsing happens in clean from the stored pages.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import date
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from cssselect import GenericTranslator

from jokemine.cleaning.filters import record_steps
from jokemine.cleaning.parse import parse_page as page_records
from jokemine.config import HtmlSpecSource
from jokemine.scrapers.anekdot_ru import element_text
from jokemine.scrapers.crawl import Crawler
from jokemine.scrapers.http import Fetched, decode_html
from jokemine.scrapers.registry import register
from jokemine.state import FrontierEntry, FrontierOp


@lru_cache(maxsize=256)
def _xpath(css: str, descendant: bool) -> str:
    return GenericTranslator().css_to_xpath(css, prefix="descendant-or-self::" if descendant else "descendant::")


def select(el: Any, css: str) -> list[Any]:
    """Elements under ``el`` matching the CSS selector ``css``."""
    return el.xpath(_xpath(css, False))


def parse_page(
    spec: HtmlSpecSource, html: str, url: str, meta: dict[str, Any]
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The jokes of one page by ``spec``: ``id``, ``text``, ``score`` (None when absent), ``url``, ``date``."""
    counts: Counter[str] = Counter()
    if not html.strip():
        counts["empty_page"] += 1
        return [], counts
    doc = lxml.html.fromstring(html)
    jokes = []
    for item in select(doc, spec.item):
        text_el = select(item, spec.text)[0] if spec.text and select(item, spec.text) else (None if spec.text else item)
        if text_el is None:
            counts["no_text"] += 1
            continue
        text = element_text(text_el)
        if not text:
            counts["empty"] += 1
            continue
        score = None
        if spec.score:
            found = select(item, spec.score)
            if found:
                raw = found[0].get(spec.score_attr) if spec.score_attr else found[0].text_content()
                m = re.search(spec.score_regex, raw or "")
                if m:
                    score = float(m.group(1).replace(",", "."))
        jid = None
        if spec.id_attr:
            jid = item.get(spec.id_attr)
        elif spec.id_selector:
            found = select(item, spec.id_selector)
            href = (found[0].get("href") or found[0].text_content()) if found else ""
            m = re.search(spec.id_regex, href or "")
            jid = m.group(1) if m else None
        if not jid:
            jid = hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()
        joke_url = urljoin(url, spec.url_template_item.format(id=jid)) if spec.url_template_item else url
        jokes.append({"id": jid, "text": text, "score": score, "url": joke_url, "date": meta.get("date")})
        counts["jokes"] += 1
    return jokes, counts


def _jokes(cfg: HtmlSpecSource, html: str, page: dict[str, Any]) -> tuple[list[dict[str, Any]], Counter[str]]:
    return parse_page(cfg, html, page.get("final_url") or page["url"], page.get("meta") or {})


def _fill(rec: dict[str, Any], joke: dict[str, Any], page: dict[str, Any], ctx: Any) -> None:
    """A spec'd site's score, when its spec maps one."""
    rec["score"] = joke.get("score")
    rec["score_kind"] = ctx.source.score_kind if rec["score"] is not None else None


@register(
    "html_spec", config=HtmlSpecSource, parse=partial(page_records, jokes_of=_jokes, fill=_fill), steps=record_steps
)
class HtmlSpec(Crawler):
    """The crawler of a spec-defined site."""

    parser_version = "html_spec/1"
    cfg: HtmlSpecSource

    def seeds(self, days: list[date], force: bool) -> list[FrontierOp]:
        ops = [
            FrontierOp("add", self.absolute(u), "start", {"page": 1}, refetch_before=self.due(True))
            for u in self.cfg.start_urls
        ]
        template = self.cfg.url_template
        if template:
            pages = range(self.cfg.first_page, self.cfg.last_page + 1) if "{page}" in template else [None]
            dates = days if "{date}" in template else [None]
            for day in dates:
                for page in pages:
                    url = template.format(date=day.isoformat() if day else "", page=page if page is not None else "")
                    meta = {"page": 1, **({"date": day.isoformat()} if day else {})}
                    recent = day is None or self.recent(day)
                    ops.append(
                        FrontierOp(
                            "add", self.absolute(url), "template", meta, refetch_before=self.due(recent or force)
                        )
                    )
        return ops

    def links(self, entry: FrontierEntry, fetched: Fetched) -> list[FrontierOp]:
        if not self.cfg.pagination or int(entry.meta.get("page", 1)) >= self.cfg.max_pages:
            return []
        html, _ = decode_html(fetched.body, fetched.headers.get("content-type"))
        doc = lxml.html.fromstring(html)
        here = urlsplit(fetched.final_url)
        for a in select(doc, self.cfg.pagination):  # the first link to another page of the same host
            href = a.get("href")
            url = urljoin(fetched.final_url, href) if href else ""
            if url and urlsplit(url).netloc == here.netloc and url not in (entry.url, fetched.final_url):
                page = int(entry.meta.get("page", 1)) + 1
                return [
                    FrontierOp(
                        "add",
                        url,
                        entry.kind,
                        {**entry.meta, "page": page},
                        refetch_before=self.due(entry.kind == "start"),
                    )
                ]
        return []
