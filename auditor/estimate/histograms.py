"""Score histograms computed in DuckDB: an estimate over a billion rows holds only histograms.

Every set of scored documents estimation needs (a group's target, a source's own pre-cutoff
documents, documents scanned as references, a detector's shipped reference file) is written as a
small SQL "score source" with the columns `score, tokens, in_ref, source`, and reduced by one
`GROUP BY <keys>, in_ref, bin` query. Bins come from quantiles of the references (see
`reference_edges`); a score goes to bin i when edges[i-1] <= score < edges[i], the rule
`methods.histogram` uses too. Values are bound as `$parameters`; column names are validated by
`identifiers` before they reach this module.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np

from auditor.estimate.bootstrap import Hist
from auditor.estimate.methods import bins_for

#: A document's slice of a human reference: `in_ref` (the reference slice, used to fit) or not
#: (the held-out slice, which gives the false-positive floor). A hash of the id, so it is
#: independent of order; half and half. DuckDB's `hash()` is used rather than `md5_number`: the
#: latter cost 540x a plain pass over the rows (scripts/bench.py) and ran in every histogram
#: query. `hash()` is stable for a given DuckDB version, which is all one estimate needs.
REF_SLICE_SQL = "(hash(CAST(id AS VARCHAR)) % 100) < 50"
#: Splits of a shipped reference file not used to train its detector.
SHIPPED_MACHINE_SPLITS = ("calib", "test", "test_generator")
SHIPPED_HUMAN_SPLITS = ("calib", "test")


@dataclass(frozen=True)
class ScoreSource:
    """A SELECT yielding `score DOUBLE, tokens DOUBLE, in_ref BOOLEAN, source VARCHAR` rows."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    has_tokens: bool = True  # False for shipped files, which carry no token counts


def documents_source(score: str, role: str, description: str,
                     extra_where: str = "", params: dict | None = None) -> ScoreSource:
    """Documents of the view with one role; `score` is an already-quoted score column."""
    sql = (f"SELECT {score} AS score, CAST(n_tokens AS DOUBLE) AS tokens, {REF_SLICE_SQL} AS in_ref,"
           f" source FROM documents WHERE role = $role_{role} AND {score} IS NOT NULL"
           f" {extra_where}")
    return ScoreSource(sql, {f"role_{role}": role, **(params or {})}, description)


def shipped_source(path: str, label: str, name: str, has_id: bool = True) -> ScoreSource:
    """Rows of a shipped reference file (`detectors/models/references/<detector>.parquet`).

    The held-out slice is by the same hash of the id as for documents (every second row in
    file order for files without ids). They carry no token counts, so token weighting falls
    back to documents for them (stated in the notes).
    """
    splits = SHIPPED_MACHINE_SPLITS if label == "ai" else SHIPPED_HUMAN_SPLITS
    in_ref = REF_SLICE_SQL if has_id else "(row_number() OVER () % 2) = 1"
    sql = (f"SELECT CAST(score AS DOUBLE) AS score, 1.0 AS tokens,"
           f" {in_ref} AS in_ref, 'default' AS source"
           f" FROM read_parquet($path_{name}) WHERE label = $label_{name}"
           f" AND split IN (SELECT unnest($splits_{name}::VARCHAR[])) AND score IS NOT NULL"
           f" AND isfinite(CAST(score AS DOUBLE))")
    return ScoreSource(sql, {f"path_{name}": path, f"label_{name}": label,
                             f"splits_{name}": list(splits)},
                       f"shipped reference {path} ({label} rows, splits {', '.join(splits)})",
                       has_tokens=False)


def separation_auc(con: duckdb.DuckDBPyConnection, machine: ScoreSource, human: ScoreSource,
                   sample: int = 20_000) -> float | None:
    """AUC of `machine` scores over `human` scores (ties count half), on a reservoir sample of
    at most `sample` of each (seeded): how well a detector's machine reference separates from
    its human reference at all. None when either side is empty."""
    sql = (f"WITH m AS (SELECT score FROM ({machine.sql}) USING SAMPLE reservoir({int(sample)} "
           f"ROWS) REPEATABLE (0)), h AS (SELECT score FROM ({human.sql}) USING SAMPLE "
           f"reservoir({int(sample)} ROWS) REPEATABLE (0)), "
           "t AS (SELECT score, 1 AS is_m FROM m UNION ALL SELECT score, 0 FROM h), "
           "r AS (SELECT is_m, rank() OVER (ORDER BY score) "
           "+ (count(*) OVER (PARTITION BY score) - 1) / 2.0 AS rk FROM t) "
           "SELECT sum(rk) FILTER (WHERE is_m = 1), count(*) FILTER (WHERE is_m = 1), "
           "count(*) FILTER (WHERE is_m = 0) FROM r")
    rank_sum, n_m, n_h = con.execute(sql, {**machine.params, **human.params}).fetchone()
    if not n_m or not n_h:
        return None
    return float((rank_sum - n_m * (n_m + 1) / 2) / (n_m * n_h))


def file_source(path: str, score_col: str, label: str | None, name: str) -> ScoreSource:
    """A user-given Parquet file of reference scores (`score_col` already quoted)."""
    where = f" AND label = $label_{name}" if label else ""
    sql = (f"SELECT CAST({score_col} AS DOUBLE) AS score, 1.0 AS tokens,"
           f" (row_number() OVER () % 2) = 1 AS in_ref, 'file' AS source"
           f" FROM read_parquet($path_{name}) WHERE {score_col} IS NOT NULL{where}")
    params = {f"path_{name}": path, **({f"label_{name}": label} if label else {})}
    return ScoreSource(sql, params, f"reference file {path}", has_tokens=False)


def reference_edges(con: duckdb.DuckDBPyConnection, human: list[ScoreSource],
                    machine: ScoreSource, n_bins: int | None = None,
                    min_human: int = 50) -> np.ndarray:
    """Interior bin edges: `n_bins` quantiles of the pooled human and of the machine reference.

    Edges from each class separately give resolution wherever either has mass. `n_bins`
    defaults to `methods.bins_for` the smaller of the machine reference and the smallest
    per-source human reference that will be used (at least `min_human` documents).

    The sizes of the human references and their quantiles come from one pass each: the
    quantiles at the bins the machine reference alone allows (the usual answer: the human
    references are the larger), computed again only when a smaller human reference lowers
    `n_bins`. A separate counting pass over a store's own references cost two thirds of a
    quantile pass (scripts/bench_estimate.py).
    """
    if n_bins is None:
        n_machine = con.execute(f"SELECT COUNT(*) FROM ({machine.sql})",
                                machine.params).fetchone()[0]
        guess = bins_for(n_machine)
    else:
        guess = n_bins
    sizes: list[int] = []
    found: list[list | None] = []
    for src in human:
        quantiles, per_source, n_null = con.execute(
            f"SELECT quantile_cont(score, $levels::DOUBLE[]), histogram(source),"
            f" COUNT(*) FILTER (WHERE source IS NULL) FROM ({src.sql}) WHERE in_ref",
            {**src.params, "levels": _levels(guess)},
        ).fetchone()
        sizes += [*(per_source or {}).values(), *([n_null] if n_null else [])]
        found.append(quantiles)
    if n_bins is None:
        usable = [n for n in sizes if n >= min_human] or sizes or [0]
        n_bins = bins_for(min(min(usable), n_machine))
    if n_bins != guess:
        found = [_quantiles(con, src, n_bins) for src in human]
    edges: list[float] = []
    for quantiles in [*found, _quantiles(con, machine, n_bins)]:
        if quantiles:
            edges.extend(float(x) for x in quantiles if x is not None and np.isfinite(x))
    return np.unique(np.asarray(edges, dtype=float))


def _levels(n_bins: int) -> list[float]:
    return list(np.linspace(0, 1, n_bins + 1)[1:-1])


def _quantiles(con: duckdb.DuckDBPyConnection, src: ScoreSource, n_bins: int) -> list | None:
    """The `n_bins`-quantiles of a score source's reference slice (None when it is empty)."""
    return con.execute(
        f"SELECT quantile_cont(score, $levels::DOUBLE[]) FROM ({src.sql}) WHERE in_ref",
        {**src.params, "levels": _levels(n_bins)},
    ).fetchone()[0]


#: Raw machine-reference scores kept for the shifted mixture (`methods.ShiftedMixtureMLE`).
MACHINE_SAMPLE = 20_000


def machine_sample(con: duckdb.DuckDBPyConnection, src: ScoreSource) -> np.ndarray:
    """Up to MACHINE_SAMPLE raw scores of the machine reference (a fixed reservoir sample)."""
    rows = con.execute(
        f"SELECT score FROM ({src.sql}) WHERE isfinite(score)"
        f" USING SAMPLE reservoir({MACHINE_SAMPLE} ROWS) REPEATABLE (7)", src.params).fetchall()
    return np.asarray([r[0] for r in rows], dtype=float)


def bin_sql(score: str, edges: np.ndarray) -> str:
    """SQL for a score's bin index: the number of `edges` (sorted, unique) <= score.

    A balanced binary search written as nested CASE expressions over the edges as float
    literals: a streaming per-row expression (log2(bins) comparisons, no sort, no join, no
    memory beyond the GROUP BY), about 20x faster than filtering the edge list per row and
    without the memory an ASOF join needs over 100M rows. `score` is a validated column name;
    the edges are floats computed here, never user text. NaN sorts above every edge, as in
    `methods.histogram`.
    """
    literals = [f"({float(x)!r}::DOUBLE)" for x in np.asarray(edges, dtype=float)]

    def search(lo: int, hi: int) -> str:
        if lo == hi:
            return str(lo)
        mid = (lo + hi) // 2
        return (f"CASE WHEN {score} >= {literals[mid]} THEN {search(mid + 1, hi)}"
                f" ELSE {search(lo, mid)} END")

    return search(0, len(literals))


def source_hists(con: duckdb.DuckDBPyConnection, src: ScoreSource, edges: np.ndarray,
                 tokens: bool) -> dict[tuple[str, bool], Hist]:
    """Histograms of a score source per (source, in_ref)."""
    n_bins = len(edges) + 1
    rows = con.execute(
        f"SELECT source, in_ref, {bin_sql('score', edges)} AS bin, COUNT(*), SUM(tokens)"
        f" FROM ({src.sql}) GROUP BY ALL",
        src.params,
    ).fetchall()
    out: dict[tuple[str, bool], list[np.ndarray]] = defaultdict(
        lambda: [np.zeros(n_bins), np.zeros(n_bins)])
    for source, in_ref, b, n, tok in rows:
        acc = out[(source, bool(in_ref))]
        acc[0][b] += n
        acc[1][b] += (tok or 0.0) if tokens else n
    return {k: Hist(d, w) for k, (d, w) in out.items()}


@dataclass
class TargetRows:
    """Corpus documents of one group per (source, pre-cutoff?): documents dated before the
    cutoff are human by assumption (and serve as references); the others are the target."""

    key: tuple
    by_source: dict[tuple[str, bool], Hist] = field(default_factory=dict)
    tokens: dict[tuple[str, bool], float] = field(default_factory=dict)  # all docs' tokens
    unscored_by_source: dict[tuple[str, bool], int] = field(default_factory=dict)
    unscored: int = 0
    unscored_tokens: float = 0.0


def target_hists(con: duckdb.DuckDBPyConnection, score: str, keys: list[str],
                 edges: np.ndarray, tokens: bool, sample_of: str | None = None
                 ) -> dict[tuple, TargetRows]:
    """Corpus documents per group, source, own-reference slice and bin (bin -1: no score).

    `keys` and `score` (and `sample_of`, a second score column whose non-NULL rows form the
    sample of a two-tier estimate) are quoted, validated column names.
    """
    return target_and_own_hists(con, score, keys, edges, tokens, sample_of, own=False)[0]


def target_and_own_hists(con: duckdb.DuckDBPyConnection, score: str, keys: list[str],
                         edges: np.ndarray, tokens: bool, sample_of: str | None = None,
                         own: bool = True
                         ) -> tuple[dict[tuple, TargetRows], dict[tuple[str, bool], Hist] | None]:
    """`target_hists`, and with `own` (not with `sample_of`) in the same pass the histograms
    of the sources' own pre-cutoff references per (source, in_ref), exactly what
    `source_hists` gives for `references.plan_references(...).own` (scored corpus documents
    with `pre_cutoff`). Those are a subset of the target's rows, so one pass over the store
    gives both; a separate pass cost about as much again (scripts/bench_estimate.py).
    """
    n_bins = len(edges) + 1
    own = own and sample_of is None
    key_sql = "".join(f"{k}, " for k in keys)
    where = "role = 'corpus'" + (f" AND {sample_of} IS NOT NULL" if sample_of else "")
    # the slice only where it is used (scored pre-cutoff rows): hashing every id costs
    slice_sql = (f" CASE WHEN pre_cutoff AND {score} IS NOT NULL THEN {REF_SLICE_SQL} END"
                 " AS in_ref," if own else "")
    rows = con.execute(
        f"SELECT {key_sql}source, COALESCE(pre_cutoff, false) AS pre,{slice_sql}"
        f" CASE WHEN {score} IS NULL THEN -1 ELSE {bin_sql(score, edges)} END AS bin,"
        f" COUNT(*), SUM(n_tokens) FROM documents WHERE {where} GROUP BY ALL",
    ).fetchall()
    groups: dict[tuple, TargetRows] = {}
    own_acc: dict[tuple[str, bool], list[np.ndarray]] = defaultdict(
        lambda: [np.zeros(n_bins), np.zeros(n_bins)])
    k = len(keys)
    for row in rows:
        key, rest = tuple(row[:k]), row[k:]
        if own:
            source, pre, in_ref, b, n, tok = rest
        else:
            (source, pre, b, n, tok), in_ref = rest, None
        g = groups.setdefault(key, TargetRows(key))
        tok = float(tok or 0.0)
        if b < 0:
            g.unscored += n
            g.unscored_tokens += tok
            g.unscored_by_source[(source, bool(pre))] = (
                g.unscored_by_source.get((source, bool(pre)), 0) + n)
            g.tokens[(source, bool(pre))] = g.tokens.get((source, bool(pre)), 0.0) + tok
            continue
        h = g.by_source.setdefault((source, bool(pre)), Hist.empty(n_bins))
        g.tokens[(source, bool(pre))] = g.tokens.get((source, bool(pre)), 0.0) + tok
        h.docs[b] += n
        h.weight[b] += tok if tokens else n
        if in_ref is not None:
            acc = own_acc[(source, bool(in_ref))]
            acc[0][b] += n
            acc[1][b] += tok if tokens else n
    own_hists = {k: Hist(d, w) for k, (d, w) in own_acc.items()} if own else None
    return groups, own_hists
