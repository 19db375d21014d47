"""What leaked, where and since when: the contamination detector's per-document results summed
up per benchmark, per source and per crawl month.

Reads the store only (the `documents` view's `reason_contamination` column and the
`benchmarks` table), so `auditor contamination`, the HTML report and the gate all show the same
numbers. An item counts as leaked when any document holds it in any form; its form is the
strongest seen (exact > partial > question only), its first appearance the earliest crawl date
of a document holding it, compared with the benchmark's release date when one was given.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field

from auditor.contamination import FORMS

#: Strength of a form, for "the strongest form seen".
_RANK = {form: i for i, form in enumerate(FORMS)}
GROUPINGS = ("benchmark", "source", "crawl_month")
COLUMN = "reason_contamination"


class NoContaminationData(LookupError):
    """The store has no contamination column: no benchmarks were added before the scan."""


@dataclass
class LeakedItem:
    benchmark: str
    split: str
    item_id: str
    form: str
    max_share: float
    n_docs: int
    first_seen: str | None  # ISO date of the earliest crawl date, None when no document has one
    first_month: str | None
    before_release: bool | None  # None when the release date or crawl dates are unknown
    example_doc: str
    example_shard: str
    example_span: tuple[int, int]
    example_excerpt: dict | None = None  # before / match / after, from the detector
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["example_span"] = list(self.example_span)
        return d


@dataclass
class ContaminationSummary:
    n_docs_scanned: int
    n_docs_contaminated: int
    benchmarks: list[dict]
    items: list[LeakedItem]
    by_source: list[dict]
    by_crawl_month: list[dict]

    def leaked_by_benchmark(self) -> dict[str, dict]:
        return {b["benchmark"]: b for b in self.benchmarks}

    def to_dict(self, by: tuple[str, ...] = GROUPINGS) -> dict:
        out = {"n_docs_scanned": self.n_docs_scanned,
               "n_docs_contaminated": self.n_docs_contaminated}
        if "benchmark" in by:
            out["benchmarks"] = self.benchmarks
            out["items"] = [i.to_dict() for i in self.items]
        if "source" in by:
            out["by_source"] = self.by_source
        if "crawl_month" in by:
            out["by_crawl_month"] = self.by_crawl_month
        return out


def summarize(db: str | os.PathLike, min_share: float = 0.0) -> ContaminationSummary:
    """The contamination summary of the store at `db` (read-only).

    `min_share` leaves out matches holding less than that share of an item's n-grams (a
    stricter "partial" than the scan's own threshold); question-only matches are judged on
    their question share instead.
    """
    from auditor.store.catalogue import open_store

    with open_store(db, read_only=True) as store:
        con = store.con
        cols = {r[0] for r in con.execute("DESCRIBE documents").fetchall()}
        if COLUMN not in cols:
            raise NoContaminationData(
                f"{db}: no contamination results; add benchmarks (`auditor benchmarks add "
                f"builtin --db {db}`) and scan again (`auditor scan INPUT --db {db}`)")
        n_scanned = con.execute("SELECT COUNT(score_contamination) FROM documents").fetchone()[0]
        per_source = con.execute(
            "SELECT source, COUNT(score_contamination) FROM documents GROUP BY source").fetchall()
        rows = con.execute(
            f"SELECT id, shard, source, crawl_date, crawl_month, {COLUMN} FROM documents "
            "WHERE score_contamination > 0 ORDER BY crawl_date NULLS LAST, shard, \"offset\""
        ).fetchall()
        benches = _benchmarks(con)
    if min_share > 0:
        rows = _above(rows, min_share)
    items = _items(rows, benches)
    return ContaminationSummary(
        n_docs_scanned=int(n_scanned or 0), n_docs_contaminated=len({r[0:2] for r in rows}),
        benchmarks=_per_benchmark(items, benches), items=items,
        by_source=_per_source(rows, per_source), by_crawl_month=_per_month(items))


def _above(rows, min_share: float) -> list:
    """Rows with only the matches at or above `min_share`; rows left without any dropped."""
    out = []
    for row in rows:
        kept = [m for m in json.loads(row[-1] or "[]")
                if (m["question_share"] if m["form"] == "question_only" else m["share"])
                >= min_share]
        if kept:
            out.append((*row[:-1], json.dumps(kept)))
    return out


def _benchmarks(con) -> dict[str, dict]:
    from auditor.contamination.benchmarks import has_benchmarks

    if not has_benchmarks(con):
        return {}
    return {r[0]: {"n_items": int(r[1]), "release_date": r[2]}
            for r in con.execute("SELECT name, n_items, release_date FROM benchmarks").fetchall()}


def _date(value) -> dt.date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else value


def _items(rows, benches: dict[str, dict]) -> list[LeakedItem]:
    found: dict[tuple[str, str, str], LeakedItem] = {}
    for doc_id, shard, source, crawl_date, month, reason in rows:
        for m in json.loads(reason or "[]"):
            key = (m["benchmark"], m["split"], m["item_id"])
            day = _date(crawl_date)
            item = found.get(key)
            if item is None:
                item = found[key] = LeakedItem(
                    benchmark=key[0], split=key[1], item_id=key[2], form=m["form"],
                    max_share=m["share"], n_docs=0,
                    first_seen=day.isoformat() if day else None, first_month=month,
                    before_release=None, example_doc=doc_id, example_shard=shard,
                    example_span=(m["char_start"], m["char_end"]),
                    example_excerpt=m.get("excerpt"))
            item.n_docs += 1
            if _RANK[m["form"]] < _RANK[item.form] or (
                    m["form"] == item.form and m["share"] > item.max_share):
                item.form = m["form"]
                item.example_doc, item.example_shard = doc_id, shard
                item.example_span = (m["char_start"], m["char_end"])
                item.example_excerpt = m.get("excerpt")
            item.max_share = max(item.max_share, m["share"])
            if source not in item.sources:
                item.sources.append(source)
    for item in found.values():
        release = (benches.get(item.benchmark) or {}).get("release_date")
        if release is not None and item.first_seen is not None:
            item.before_release = dt.date.fromisoformat(item.first_seen) < release
    return sorted(found.values(), key=lambda i: (i.benchmark, _RANK[i.form], i.split,
                                                  i.item_id))


def _per_benchmark(items: list[LeakedItem], benches: dict[str, dict]) -> list[dict]:
    out = []
    for name in sorted(set(benches) | {i.benchmark for i in items}):
        mine = [i for i in items if i.benchmark == name]
        n_items = (benches.get(name) or {}).get("n_items")
        release = (benches.get(name) or {}).get("release_date")
        forms = {form: sum(1 for i in mine if i.form == form) for form in FORMS}
        out.append({
            "benchmark": name, "n_items": n_items, "n_leaked": len(mine),
            "share_leaked": round(len(mine) / n_items, 6) if n_items else None,
            **{f"n_{form}": forms[form] for form in FORMS},
            "n_docs": sum(i.n_docs for i in mine),
            "release_date": release.isoformat() if release else None,
            "n_first_seen_before_release": sum(1 for i in mine if i.before_release is True),
            "n_first_seen_after_release": sum(1 for i in mine if i.before_release is False),
        })
    return out


def _per_source(rows, per_source) -> list[dict]:
    hit: dict[str, dict] = {}
    for _doc, _shard, source, _day, _month, reason in rows:
        entry = hit.setdefault(source, {"docs": 0, "items": set(), "benchmarks": set()})
        entry["docs"] += 1
        for m in json.loads(reason or "[]"):
            entry["items"].add((m["benchmark"], m["split"], m["item_id"]))
            entry["benchmarks"].add(m["benchmark"])
    out = []
    for source, n_scanned in per_source:
        if not n_scanned:
            continue
        e = hit.get(source, {"docs": 0, "items": set(), "benchmarks": set()})
        out.append({"source": source, "n_docs_scanned": int(n_scanned),
                    "n_docs_contaminated": e["docs"],
                    "share_contaminated": round(e["docs"] / n_scanned, 6),
                    "n_items": len(e["items"]), "benchmarks": sorted(e["benchmarks"])})
    return sorted(out, key=lambda r: (-r["n_docs_contaminated"], str(r["source"])))


def _per_month(items: list[LeakedItem]) -> list[dict]:
    months: dict[str, dict] = {}
    for i in items:
        key = i.first_month or "unknown"
        m = months.setdefault(key, {"crawl_month": key, "n_items_first_seen": 0,
                                    "n_before_release": 0, "n_after_release": 0,
                                    "benchmarks": set()})
        m["n_items_first_seen"] += 1
        m["n_before_release"] += i.before_release is True
        m["n_after_release"] += i.before_release is False
        m["benchmarks"].add(i.benchmark)
    return [{**m, "benchmarks": sorted(m["benchmarks"])} for _, m in sorted(months.items())]
