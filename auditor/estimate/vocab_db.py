"""The excess-vocabulary bound (`vocab`) over a scanned store, in DuckDB.

One GROUP BY query over the per-document marker counts stored at scan time
(`score_excess_vocab`, from `detectors.excess_vocab`) per group, source, month and side of the
cutoff gives both the pre-cutoff months of each source (the counterfactual) and the
post-cutoff documents per group, source and month. Only counts
leave DuckDB, so it costs one pass over the rows whatever the store's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import duckdb

from auditor.estimate.identifiers import group_columns, quote, view_columns
from auditor.estimate.result import Estimate, Status
from auditor.estimate.vocab import VocabBound, counterfactual, lower_bound, month_index

#: The score column the excess-vocabulary detector writes.
DETECTOR = "excess_vocab"


def vocab_bounds(con: duckdb.DuckDBPyConnection, cols: dict[str, str], by: Sequence[str]
                 ) -> dict[tuple, VocabBound]:
    """Lower bound per group of `by` ({} when the store has no marker counts or no months)."""
    col = f"score_{DETECTOR}"
    if col not in cols or "crawl_month" not in cols:
        return {}
    score = quote(col, cols, "score column")
    keys = group_columns(list(by), cols)
    key_sql = "".join(f"{k}, " for k in keys)
    # one pass gives both the targets and the counterfactuals (the scored pre-cutoff documents
    # per source and month, summed over the groups): a second pass for the latter cost as much
    rows = con.execute(
        f"SELECT {key_sql}source, crawl_month, COALESCE(pre_cutoff, false) AS pre, COUNT(*),"
        f" COUNT(*) FILTER (WHERE {score} > 0), COUNT({score}) FROM documents"
        f" WHERE role = 'corpus' GROUP BY ALL ORDER BY ALL").fetchall()
    k = len(keys)
    pre: dict[tuple, list[int]] = {}
    for row in rows:
        source, month, is_pre, _, hits, scored = row[k:]
        if is_pre:
            acc = pre.setdefault((source, month), [0, 0])
            acc[0] += int(scored)
            acc[1] += int(hits)
    per_source: dict[str, list[tuple[float, int, int]]] = {}
    # in the order SQL's ORDER BY gave before (nulls last): sums in Python repeat bit for bit
    for (source, month), (n, hits) in sorted(pre.items(), key=_nulls_last):
        t = month_index(month)
        if t is not None and n > 0:
            per_source.setdefault(source, []).append((t, n, hits))
    cfs = {s: cf for s, months in per_source.items()
           if (cf := counterfactual(months)) is not None}
    if not cfs:
        return {}
    cells: dict[tuple, list[tuple[str, float, int, int]]] = {}
    sizes: dict[tuple, int] = {}
    for row in rows:
        key, (source, month, is_pre, n, hits, _) = tuple(row[:k]), row[k:]
        sizes[key] = sizes.get(key, 0) + int(n)
        t = month_index(month)
        if not is_pre and t is not None:
            cells.setdefault(key, []).append((source, t, int(n), int(hits)))
    out = {}
    for key, c in cells.items():
        bound = lower_bound(c, cfs, sizes[key])
        if bound is not None:
            out[key] = bound
    return out


def _nulls_last(item: tuple[tuple, list[int]]) -> tuple:
    (source, month), _ = item
    return (source is None, source or "", month is None, month or "")


def excess_vocab(db_path: str, by: Sequence[str] = ()) -> dict[tuple, VocabBound]:
    """`vocab_bounds` of a store on disk (read-only): the estimator on its own, no detector."""
    from auditor.store.catalogue import open_store

    with open_store(db_path, read_only=True) as store:
        return vocab_bounds(store.con, view_columns(store.con), by)


def attach_vocab(con: duckdb.DuckDBPyConnection, cols: dict[str, str], by: Sequence[str],
                 results: list[Estimate]) -> list[Estimate]:
    """`results` with the excess-vocabulary bound beside each estimated row, and `disagree`
    set (with a note) where the bound's lower limit is above the detector's upper limit."""
    bounds = vocab_bounds(con, cols, by)
    if not bounds:
        return results
    overall = vocab_bounds(con, cols, ()) if by else bounds
    out = []
    for e in results:
        if e.status == Status.OVERALL.value:
            b = overall.get(())
        elif e.status == Status.ESTIMATED.value:
            b = bounds.get(tuple(e.group.get(c) for c in by))
        else:
            b = None
        if b is None:
            out.append(e)
            continue
        disagree = (e.ci_high == e.ci_high and b.ci_low > e.ci_high)  # ci_high not nan
        notes = e.notes
        if disagree:
            notes = (*notes, f"disagree: the excess-vocabulary lower bound {100 * b.fraction:.1f}%"
                     f" [{100 * b.ci_low:.1f}%, {100 * b.ci_high:.1f}%] is above the detector "
                     f"estimate's upper limit {100 * e.ci_high:.1f}%: the detector likely "
                     "misses machine text in this group")
        out.append(replace(e, vocab_fraction=b.fraction, vocab_ci_low=b.ci_low,
                           vocab_ci_high=b.ci_high, disagree=disagree, notes=notes))
    return out


__all__ = ["DETECTOR", "attach_vocab", "excess_vocab", "vocab_bounds"]
