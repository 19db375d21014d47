"""The report's contamination section: which benchmark items leaked, in what form, where and
since when, with each leak's matched text highlighted. Everything shown comes from
`auditor.contamination.results.summarize` (the same numbers as `auditor contamination`), and
every piece of data is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from auditor.output_files import markdown_text

#: Leaked items listed in the report (the strongest forms first); the rest are counted.
MAX_ITEMS = 60


def collect_contamination(db_path: str, notes: list[str]) -> dict[str, Any]:
    """The section's data; empty when the store has no contamination results."""
    from auditor.contamination.results import NoContaminationData, summarize

    try:
        summary = summarize(db_path)
    except NoContaminationData:
        return {}
    data = summary.to_dict()
    items = sorted(data.pop("items"), key=lambda i: (_FORM_ORDER.get(i["form"], 9),
                                                     -i["max_share"], i["benchmark"]))
    data["n_items_leaked"] = len(items)
    data["items"] = items[:MAX_ITEMS]
    if len(items) > MAX_ITEMS:
        notes.append(f"contamination: {len(items)} items leaked; the report lists "
                     f"{MAX_ITEMS} (all are in `auditor contamination --json`)")
    return data


_FORM_ORDER = {"exact": 0, "partial": 1, "question_only": 2}


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _row(cells: list[Any]) -> str:
    return "<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>"


def _table(headers: list[str], rows: list[str], ident: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return (f'<table id="{ident}" class="sortable"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _excerpt(ex: dict | None) -> str:
    if not ex:
        return ""
    return (f'<span class="snippet">\u2026{_e(ex.get("before"))}<mark>{_e(ex.get("match"))}'
            f'</mark>{_e(ex.get("after"))}\u2026</span>')


def contamination_html(c: dict[str, Any]) -> str:
    """The section (an empty string when the store has no contamination results)."""
    if not c:
        return ""
    bench_rows = [_row([b["benchmark"], b["n_items"], b["n_leaked"],
                        "n/a" if b["share_leaked"] is None else f"{100 * b['share_leaked']:.2f}%",
                        b["n_exact"], b["n_partial"], b["n_question_only"],
                        b["release_date"] or "unknown",
                        f"{b['n_first_seen_before_release']} / "
                        f"{b['n_first_seen_after_release']}"])
                   for b in c.get("benchmarks", [])]
    item_rows = []
    for i in c.get("items", []):
        before = {True: "before", False: "after", None: "unknown"}[i["before_release"]]
        item_rows.append(
            "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (
                i["benchmark"], f"{i['split']}/{i['item_id']}", i["form"],
                f"{i['max_share']:.2f}", i["n_docs"], i["first_seen"] or "unknown", before,
                ", ".join(map(str, i["sources"])), i["example_doc"]))
            + f"<td>{_excerpt(i.get('example_excerpt'))}</td></tr>")
    source_rows = [_row([s["source"], s["n_docs_scanned"], s["n_docs_contaminated"],
                         f"{100 * s['share_contaminated']:.2f}%", s["n_items"],
                         ", ".join(s["benchmarks"])])
                   for s in c.get("by_source", []) if s["n_docs_contaminated"]]
    month_rows = [_row([m["crawl_month"], m["n_items_first_seen"], m["n_before_release"],
                        m["n_after_release"], ", ".join(m["benchmarks"])])
                  for m in c.get("by_crawl_month", [])]
    return (
        '<section id="contamination"><h2>Benchmark contamination</h2>'
        f'<p>{c["n_docs_contaminated"]:,} of {c["n_docs_scanned"]:,} scanned documents hold '
        f'items of the benchmarks added to the store; {c["n_items_leaked"]:,} items leaked.</p>'
        + _table(["benchmark", "items", "leaked", "share leaked", "exact", "partial",
                  "question only", "released", "first seen before / after release"],
                 bench_rows, "contamination-benchmarks")
        + '<p class="caption">An item leaked when a document holds at least 30% of its '
          "13-word n-grams or half of its question's; exact = 90% or more with the answer, "
          "question only = none of the answer's n-grams. First seen = earliest crawl date of a "
          "document holding it.</p>"
        + "<h3>Leaked items</h3>"
        + _table(["benchmark", "item", "form", "share", "docs", "first seen",
                  "vs release", "sources", "example document", "matched text"],
                 item_rows, "contamination-items")
        + ("<h3>Contaminated documents by source</h3>"
           + _table(["source", "docs", "contaminated", "share", "items", "benchmarks"],
                    source_rows, "contamination-sources") if source_rows else "")
        + ("<h3>Items by crawl month first seen</h3>"
           + _table(["crawl month", "items first seen", "before release", "after release",
                     "benchmarks"], month_rows, "contamination-months") if month_rows else "")
        + "</section>")




def _md(v: Any) -> str:
    """A data value as one Markdown table cell's text (`markdown_text`), its runs of
    whitespace collapsed: excerpts of documents keep their words, not their layout."""
    return " ".join(markdown_text(v).split())


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return out + ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows] + [""]


def _md_excerpt(ex: dict | None) -> str:
    """The matched text in bold between its context (escaped, so the bold is ours)."""
    if not ex:
        return ""
    match = _md(ex.get("match"))
    return (f"\u2026{_md(ex.get('before'))} **{match}** {_md(ex.get('after'))}\u2026"
            if match else "")


def contamination_markdown(c: dict[str, Any]) -> list[str]:
    """The section as Markdown lines, the same tables as `contamination_html` (no lines when
    the store has no contamination results)."""
    if not c:
        return []
    lines = ["## Benchmark contamination", "",
             f"{c['n_docs_contaminated']:,} of {c['n_docs_scanned']:,} scanned documents hold "
             f"items of the benchmarks added to the store; {c['n_items_leaked']:,} items "
             "leaked. An item leaked when a document holds at least 30% of its 13-word n-grams "
             "or half of its question's (a short question: the whole of it); exact = 90% or "
             "more with the answer, question only = none of the answer.", ""]
    lines += _md_table(
        ["benchmark", "items", "leaked", "share leaked", "exact", "partial", "question only",
         "released", "first seen before / after release"],
        [[b["benchmark"], b["n_items"], b["n_leaked"],
          "n/a" if b["share_leaked"] is None else f"{100 * b['share_leaked']:.2f}%",
          b["n_exact"], b["n_partial"], b["n_question_only"], b["release_date"] or "unknown",
          f"{b['n_first_seen_before_release']} / {b['n_first_seen_after_release']}"]
         for b in c.get("benchmarks", [])])
    rows = []
    for i in c.get("items", []):
        before = {True: "before", False: "after", None: "unknown"}[i["before_release"]]
        rows.append([_md(v) for v in (
            i["benchmark"], f"{i['split']}/{i['item_id']}", i["form"], f"{i['max_share']:.2f}",
            i["n_docs"], i["first_seen"] or "unknown", before,
            ", ".join(map(str, i["sources"])), i["example_doc"])]
            + [_md_excerpt(i.get("example_excerpt"))])
    lines += ["### Leaked items", "",
              "| benchmark | item | form | share | docs | first seen | vs release | sources | "
              "example document | matched text |", "|" + "---|" * 10]
    lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    sources = [s for s in c.get("by_source", []) if s["n_docs_contaminated"]]
    if sources:
        lines += ["### Contaminated documents by source", ""]
        lines += _md_table(["source", "docs", "contaminated", "share", "items", "benchmarks"],
                           [[s["source"], s["n_docs_scanned"], s["n_docs_contaminated"],
                             f"{100 * s['share_contaminated']:.2f}%", s["n_items"],
                             ", ".join(s["benchmarks"])] for s in sources])
    months = c.get("by_crawl_month", [])
    if months:
        lines += ["### Items by crawl month first seen", ""]
        lines += _md_table(["crawl month", "items first seen", "before release",
                            "after release", "benchmarks"],
                           [[m["crawl_month"], m["n_items_first_seen"], m["n_before_release"],
                             m["n_after_release"], ", ".join(m["benchmarks"])] for m in months])
    return lines
