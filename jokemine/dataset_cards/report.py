"""``report.html`` of a release: one self-contained static page to browse the release without writing code.

It holds the release's counts, the card's figures (PNG embedded as ``data:`` URIs), drop reasons per source,
searchable samples per config and source (rows embedded as JSON, filtered in the page by plain JavaScript), the
largest duplicate clusters with their members (the clean run's ``dedup.json`` sample), sample ``setup_punches`` and
``preference`` rows, and the changelog. No server and no network: a Content-Security-Policy forbids every fetch,
and nothing is loaded from outside the file. Its size does not grow with the release: samples are capped
(:data:`SAMPLES_PER_SOURCE` rows per config and source, :data:`TEXT_CHARS` characters per text), so a release
of a million rows gets a page of the same few megabytes at most.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
from markdown_it import MarkdownIt

from jokemine.cleaning.shuffle import hash_strings
from jokemine.dataset_cards.plots import FIGURES
from jokemine.dataset_cards.stats import jsonable
from jokemine.schema import RELEASE_CONFIGS, SPLITS

REPORT_FILE = "report.html"
SAMPLES_PER_SOURCE = 25
"""Rows per config and source in the page's sample tables (fewer when :data:`SAMPLES_MAX` would be passed)."""
SAMPLES_MAX = 2_500
"""Most sample rows in the page whatever the number of sources: with a text cut at :data:`TEXT_CHARS`, the samples
stay under ~2.5 MB."""
TEXT_CHARS = 600
"""Longest text shown per cell (longer ones are cut, with an ellipsis)."""
GROUPED_SAMPLES = 12
"""``setup_punches`` and ``preference`` rows shown (the half with most punchlines / the first pairs by hash, the
rest by hash)."""
PUNCHLINES_SHOWN = 10
SAMPLE_COLUMNS = ("id", "split", "source", "lang", "score", "score_kind", "score_norm", "nsfw")
TEXT_COLUMNS = ("setup", "punchline", "question", "answer", "text")


def _cut(value: Any, limit: int = TEXT_CHARS) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf as None, long strings cut, datetimes as ISO strings."""
    value = jsonable(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return _cut(value)


def _shown_text(row: dict[str, Any]) -> str | None:
    if row.get("text"):
        return str(row["text"])
    for a, b in (("setup", "punchline"), ("question", "answer")):
        if row.get(a) or row.get(b):
            return "\n".join(str(row[c]) for c in (a, b) if row.get(c))
    return None


def sample_rows(table: pa.Table, config: str, split: str, k: int = SAMPLES_PER_SOURCE) -> list[dict[str, Any]]:
    """Up to ``k`` rows per source of one record config's split, picked by a hash of the id (stable across
    releases, spread over the split): ``config``, ``split``, the :data:`SAMPLE_COLUMNS` the config has, and
    ``text`` (the whole text, or setup and punchline / question and answer on two lines), cut at
    :data:`TEXT_CHARS`."""
    if table.num_rows == 0:
        return []
    keys = table.select(["id", "source"]).to_pandas()
    keys["rank"] = hash_strings(keys["id"].astype(str).to_numpy())
    picked = keys.sort_values(["source", "rank"]).groupby("source", sort=True).head(k).index.to_numpy()
    names = [c for c in (*SAMPLE_COLUMNS, *TEXT_COLUMNS) if c in table.column_names and c != "split"]
    out = []
    for r in table.select(names).take(picked).to_pylist():
        shown = {c: r.get(c) for c in SAMPLE_COLUMNS if c != "split"}
        out.append(_clean({"config": config, "split": split, **shown, "text": _shown_text(r)}))
    return out


def cap_samples(rows: Iterable[dict[str, Any]], k: int = SAMPLES_PER_SOURCE) -> list[dict[str, Any]]:
    """At most ``k`` rows per (config, source), the first ones seen (splits in order), and fewer per pair when
    there are so many sources that the page would hold more than :data:`SAMPLES_MAX` rows."""
    rows = list(rows)
    pairs = len({(r["config"], r.get("source")) for r in rows})
    k = max(1, min(k, SAMPLES_MAX // max(pairs, 1)))
    out: list[dict[str, Any]] = []
    seen: dict[tuple[Any, Any], int] = {}
    for r in rows:
        key = (r["config"], r.get("source"))
        if seen.get(key, 0) < k:
            seen[key] = seen.get(key, 0) + 1
            out.append(r)
    return out


def grouped_samples(config: str, frame: Any, k: int = GROUPED_SAMPLES) -> list[dict[str, Any]]:
    """Sample rows of a grouped config (a pandas frame of its rows, all splits): for ``setup_punches`` half the
    setups with most punchlines and half by hash, with their :data:`PUNCHLINES_SHOWN` best punchlines; for
    ``preference`` ``k`` pairs by hash of ``id_chosen``."""
    if frame is None or len(frame) == 0:
        return []
    key = RELEASE_CONFIGS[config].id_column
    frame = frame.assign(_rank=hash_strings(frame[key].astype(str).to_numpy()))
    if config == "setup_punches":
        top = frame.nlargest(k // 2, "num_punchlines")
        rest = frame.drop(top.index).nsmallest(k - len(top), "_rank")
        chosen = [*top.to_dict("records"), *rest.to_dict("records")]
        for r in chosen:
            r["punchlines"] = list(r["punchlines"])[:PUNCHLINES_SHOWN]
    else:
        chosen = frame.nsmallest(k, "_rank").to_dict("records")
    return [_clean({c: v for c, v in r.items() if c != "_rank"}) for r in chosen]


def _json_script(element_id: str, data: Any) -> str:
    # <, > and & as JSON escapes (as Django's json_script): no "</script>" or "<!--" can end or bend the element
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _cell(v: Any) -> str:
    if v is None:
        return '<span class="null">-</span>'
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return html.escape(str(v)).replace("\n", "<br>")


def _figures(figures: dict[str, Path]) -> str:
    parts = []
    for stem, path in figures.items():
        if path.exists():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            caption = html.escape(FIGURES.get(stem, stem))
            parts.append(
                f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption>'
                "</figure>"
            )
    return "\n".join(parts)


def _drop_reasons(clean_stats: dict[str, Any]) -> str:
    per_source = clean_stats.get("per_source", {})
    reasons = sorted({r for s in per_source.values() for r in (s.get("dropped") or {})})
    rows = [
        [name, s.get("read", 0), s.get("kept", 0), *[(s.get("dropped") or {}).get(r, 0) or None for r in reasons]]
        for name, s in per_source.items()
    ]
    return _table(["source", "read", "kept", *reasons], rows)


def _clusters(dedup: dict[str, Any] | None) -> str:
    if not dedup or not dedup.get("sample"):
        return "<p>No duplicate clusters in this release's clean run.</p>"
    parts = []
    for c in sorted(_clean(dedup["sample"]), key=lambda c: (-int(c.get("size", 0)), str(c.get("survivor")))):
        srcs = ", ".join(f"{k} {v:,}" for k, v in (c.get("sources") or {}).items())
        members = [
            [m.get("id"), m.get("source"), m.get("drop_reason") or "kept", m.get("score_norm"), _cut(m.get("text"))]
            for m in c.get("members", [])
        ]
        parts.append(
            f"<details><summary>{int(c.get('size', 0)):,} records, {int(c.get('distinct_texts', 0)):,} distinct "
            f"texts, kept <code>{html.escape(str(c.get('survivor')))}</code> ({html.escape(srcs)})</summary>"
            + _table(["id", "source", "outcome", "score_norm", "text"], members)
            + "</details>"
        )
    return "\n".join(parts)


def _setup_punches(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No <code>setup_punches</code> config in this release.</p>"
    parts = []
    for r in rows:
        items = [[p.get("punchline"), p.get("source"), p.get("score"), p.get("score_norm")] for p in r["punchlines"]]
        parts.append(
            f"<details><summary>{html.escape(str(r['setup']))} <em>({int(r['num_punchlines']):,} punchlines, "
            f"{html.escape(str(r.get('split')))})</em></summary>"
            + _table(["punchline", "source", "score", "score_norm"], items)
            + "</details>"
        )
    return "\n".join(parts)


def _preference(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No <code>preference</code> config in this release.</p>"
    cols = ["split", "prompt", "chosen", "rejected", "score_chosen", "score_rejected", "score_kind"]
    return _table(cols, [[r.get(c) for c in cols] for r in rows])


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px;color:#222}
h1{margin-top:24px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0;font-size:13px;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0} .null{color:#aaa}
figure{margin:12px 0} figure img{max-width:100%;border:1px solid #eee} figcaption{color:#555;font-size:13px}
nav a{margin-right:12px} details{margin:6px 0} summary{cursor:pointer}
.controls{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin:8px 0}
.controls input{flex:1;min-width:200px;padding:4px} .wide{overflow-x:auto}
#figures-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px}
"""

SCRIPT = """
(function () {
  const rows = JSON.parse(document.getElementById('samples-data').textContent);
  const cfg = document.getElementById('config'), src = document.getElementById('source');
  const q = document.getElementById('search'), body = document.getElementById('sample-rows');
  const shown = document.getElementById('shown');
  const cols = ['config', 'split', 'source', 'lang', 'score', 'score_norm', 'nsfw'];
  function options(select, values) {
    for (const v of values) {
      const o = document.createElement('option');
      o.value = o.textContent = v;
      select.appendChild(o);
    }
  }
  options(cfg, [...new Set(rows.map(r => r.config))]);
  options(src, [...new Set(rows.map(r => r.source))].sort());
  function cell(v) {
    const td = document.createElement('td');
    if (v === null || v === undefined) { td.textContent = '-'; td.className = 'null'; }
    else td.textContent = typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v);
    return td;
  }
  function render() {
    const needle = q.value.trim().toLowerCase();
    body.replaceChildren();
    let n = 0;
    for (const r of rows) {
      if (cfg.value && r.config !== cfg.value) continue;
      if (src.value && r.source !== src.value) continue;
      const text = r.text || '';
      if (needle && !text.toLowerCase().includes(needle) && !String(r.id).toLowerCase().includes(needle)) continue;
      const tr = document.createElement('tr');
      tr.className = 'sample';
      for (const c of cols) tr.appendChild(cell(r[c]));
      const td = cell(text); td.style.whiteSpace = 'pre-wrap'; tr.appendChild(td);
      body.appendChild(tr); n++;
    }
    shown.textContent = n + ' of ' + rows.length + ' sample rows';
  }
  for (const el of [cfg, src]) el.addEventListener('change', render);
  q.addEventListener('input', render);
  render();
})();
"""


def render_report(
    *,
    title: str,
    version: str,
    counts: dict[str, dict[str, int]],
    clean_stats: dict[str, Any],
    dedup: dict[str, Any] | None,
    figures: dict[str, Path],
    samples: list[dict[str, Any]],
    setup_punches: list[dict[str, Any]],
    preference: list[dict[str, Any]],
    changelog_md: str,
) -> str:
    """The whole ``report.html`` text. ``counts``: config -> split -> rows; ``dedup``: the clean run's
    ``dedup.json`` (its ``sample`` clusters); ``figures``: stem -> PNG path; ``samples``: rows of
    :func:`sample_rows`; ``setup_punches``/``preference``: rows of :func:`grouped_samples`; ``changelog_md``: the
    changelog entry as Markdown (rendered with markdown-it-py, raw HTML off)."""
    count_rows = [[c, *[counts[c].get(s, 0) for s in SPLITS]] for c in RELEASE_CONFIGS if c in counts]
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    t = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t} {html.escape(version)}: report</title><style>{STYLE}</style></head>
<body>
<h1>{t} <small>release {html.escape(version)}</small></h1>
<nav><a href="#counts">Configs</a><a href="#figures">Figures</a><a href="#drops">Drop reasons</a>
<a href="#samples">Samples</a><a href="#clusters">Duplicate clusters</a><a href="#setup-punches">setup_punches</a>
<a href="#preference">preference</a><a href="#changelog">Changelog</a></nav>
<h2 id="counts">Configs and splits</h2>
{_table(["config", *SPLITS], count_rows)}
<h2 id="figures">Figures</h2>
<div id="figures-grid">{_figures(figures)}</div>
<h2 id="drops">Drop reasons per source</h2>
<p>Records read, kept, and dropped per reason (-: none).</p>
{_drop_reasons(clean_stats)}
<h2 id="samples">Samples</h2>
<p>Up to {SAMPLES_PER_SOURCE} rows per config and source, picked by a hash of the id; texts cut at
{TEXT_CHARS} characters. The search matches the texts and ids.</p>
<div class="controls"><label>config <select id="config"><option value="">all</option></select></label>
<label>source <select id="source"><option value="">all</option></select></label>
<input id="search" type="search" placeholder="search the texts"><span id="shown"></span></div>
<table id="samples-table"><thead><tr><th>config</th><th>split</th><th>source</th><th>lang</th><th>score</th>
<th>score_norm</th><th>nsfw</th><th>text</th></tr></thead><tbody id="sample-rows"></tbody></table>
<h2 id="clusters">Duplicate clusters</h2>
<p>The largest clusters of the clean run and a random sample of the others, with their members (the kept copy
first among equals; the others were dropped as duplicates).</p>
{_clusters(dedup)}
<h2 id="setup-punches">setup_punches</h2>
{_setup_punches(setup_punches)}
<h2 id="preference">preference</h2>
{_preference(preference)}
<h2 id="changelog">Changelog</h2>
{md.render(changelog_md)}
{_json_script("samples-data", samples)}
<script>{SCRIPT}</script>
</body></html>
"""
