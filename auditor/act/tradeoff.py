"""What a score filter costs and buys, per source, before anyone runs it.

For the rule "drop documents whose `score_<detector>` is above t", over a grid of thresholds t:
how many documents go (counted in the store), how many of them are human (the cost) and what
synthetic fraction is left in what stays (the gain). Counting documents is exact; splitting
them into human and machine is not, and uses what estimation already knows:

- the source's synthetic fraction p from `auditor.estimate.estimate_db` (per source), so the
  source holds about M = p * n_target machine documents and H = N - M human ones (pre-cutoff
  documents are all human);
- the share of human documents a threshold keeps, h(t), from the same human reference the
  estimate used for that source (its own pre-cutoff documents when it has enough, else the
  fallbacks of `auditor.estimate.references`), read with that module's SQL sources.

Human documents lost: H_e * (1 - h(t)) (H_e: human documents the rule may drop), bounded by
what was dropped; the rest of the dropped documents are machine ones, so the counts always add
up to what the store holds.
With `per_source_threshold`, each source is also cut at its own threshold from the audit
(`auditor.audit.audit_calibration`: 1% false positives on its own pre-cutoff documents where it
has enough, else the shipped threshold): the rule `--drop "score:<detector> > source_threshold"`,
reported as `at_source_thresholds`, one point per source and their total.
The machine reference enters only through p: the human reference is the source's own text, the
machine reference is usually other generators, so it is the one to lean on least. A second
estimate from both references' rates (`fraction_left_rates`) is reported beside it.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from auditor.estimate.bootstrap import pooled
from auditor.estimate.result import Estimate, RefKind
from auditor.output_files import markdown_text

#: Default grid: quantiles of the corpus scores, so every step drops a visible share.
DEFAULT_QUANTILES = tuple(np.round(np.linspace(0.5, 0.99, 15), 4))


@dataclass(frozen=True)
class TradeoffPoint:
    """One threshold for one source ("" = all sources together)."""

    source: str
    threshold: float
    n_docs: int  # corpus documents of the source (unscored ones are always kept)
    n_kept: int  # observed: score <= threshold, or protected
    fraction_before: float  # estimated synthetic fraction of the source (estimate_db)
    fraction_left: float  # estimated synthetic fraction of what is kept
    fraction_left_rates: float  # the same from both references' rates (a cross-check)
    human_lost: float  # estimated human documents dropped
    human_lost_share: float  # of the source's human documents
    machine_removed: float  # estimated machine documents dropped
    human_reference: str


@dataclass(frozen=True)
class Tradeoff:
    detector: str
    protect_pre_cutoff: bool
    thresholds: tuple[float, ...]
    points: tuple[TradeoffPoint, ...]
    notes: tuple[str, ...]
    #: each source at its own threshold, then their total (source ""; threshold NaN)
    at_source_thresholds: tuple[TradeoffPoint, ...] = ()
    #: source -> {threshold, origin, origin_label, n_pre_cutoff} behind those points
    source_thresholds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v
        return {"detector": self.detector, "protect_pre_cutoff": self.protect_pre_cutoff,
                "thresholds": list(self.thresholds),
                "points": [{k: clean(v) for k, v in asdict(p).items()} for p in self.points],
                "at_source_thresholds": [{k: clean(v) for k, v in asdict(p).items()}
                                         for p in self.at_source_thresholds],
                "source_thresholds": self.source_thresholds,
                "notes": list(self.notes)}

    def series(self, source: str = "") -> list[TradeoffPoint]:
        return [p for p in self.points if p.source == source]


def _keep_share(hist: np.ndarray) -> np.ndarray:
    """Share at or below each threshold: cumulative histogram over bins 0..k for threshold k."""
    total = hist.sum()
    cum = np.cumsum(hist)[:-1]
    return cum / total if total > 0 else np.full(cum.size, np.nan)


def filter_tradeoff(db_path: str | os.PathLike, detector: str | None = None,
                    thresholds: Sequence[float] | None = None, protect_pre_cutoff: bool = True,
                    n_boot: int = 0, seed: int = 0,
                    per_source_threshold: bool = False) -> Tradeoff:
    """The trade-off curve of `drop score:<detector> > t` for each t, per source and overall.

    `protect_pre_cutoff` adds the usual `--keep "crawl_date < cutoff"`: pre-cutoff documents
    are kept whatever their score. `thresholds` default to quantiles of the corpus scores.
    """
    from auditor.estimate import estimate_db
    from auditor.estimate.histograms import source_hists
    from auditor.estimate.identifiers import quote, view_columns
    from auditor.estimate.references import plan_references
    from auditor.store import open_store

    db = os.fspath(db_path)
    if not os.path.exists(db):
        raise FileNotFoundError(f"no store at {db}: run `auditor scan INPUT --db {db}` first")
    ests = [e for e in estimate_db(db, by=("source",), detector=detector, n_boot=n_boot,
                                   seed=seed, record=False) if e.group]
    if not ests:
        raise ValueError(f"{db}: no per-source estimate (is the store empty?)")
    det = ests[0].detector
    own_thr: dict[str, float] = {}
    named: dict[str, dict] = {}
    if per_source_threshold:
        from auditor.audit import AuditError, audit_calibration, thresholds_by_source

        if not protect_pre_cutoff:
            raise ValueError("a per-source threshold never drops pre-cutoff documents (they "
                             "set it): leave pre-cutoff documents protected")
        try:
            cal = audit_calibration(db, det)
        except AuditError as e:
            raise ValueError(str(e)) from None
        named = thresholds_by_source(cal)
        own_thr = {s: float(x["threshold"]) for s, x in named.items()
                   if x["threshold"] is not None}
    notes = [f"synthetic fraction per source: estimate_db by source, detector {det}, "
             f"method {', '.join(sorted({e.method for e in ests}))}"]
    with open_store(db, read_only=True) as store:
        con = store.con
        cols = view_columns(con)
        score = quote(f"score_{det}", cols, "score column")
        if thresholds is None:
            qs = con.execute(f"SELECT quantile_cont({score}, ?::DOUBLE[]) FROM documents "
                             f"WHERE role = 'corpus' AND {score} IS NOT NULL",
                             [list(map(float, DEFAULT_QUANTILES))]).fetchone()[0]
            thresholds = qs or []
        edges = np.unique(np.asarray([float(t) for t in thresholds] + list(own_thr.values()),
                                     dtype=float))
        if edges.size == 0:
            raise ValueError("no thresholds (the store has no scored corpus documents?)")
        plan = plan_references(con, det, score)
        own = source_hists(con, plan.own, edges, False)
        role = source_hists(con, plan.human_role, edges, False)
        default = source_hists(con, plan.human_default, edges, False) if plan.human_default \
            else {}
        machine = (_pooled(source_hists(con, plan.machine, edges, False))
                   if plan.machine else None)
        from auditor.estimate.histograms import bin_sql

        # a score rule never drops a document without that score (outside the detector's
        # languages, say): it is kept whatever the threshold, like a protected one
        protect = (f"COALESCE(pre_cutoff, false) OR {score} IS NULL" if protect_pre_cutoff
                   else f"{score} IS NULL")
        rows = con.execute(
            f"SELECT source, {protect} AS protected, "
            f"CASE WHEN {score} IS NULL THEN 0 ELSE {bin_sql(score, edges)} END AS bin, "
            f"count(*) FROM documents WHERE role = 'corpus' GROUP BY ALL").fetchall()
        n_unscored = con.execute(f"SELECT count(*) FROM documents WHERE role = 'corpus' "
                                 f"AND {score} IS NULL").fetchone()[0]
    if n_unscored:
        notes.append(f"{n_unscored:,} corpus documents have no {det} score (outside its "
                     "languages or not scored): a score rule keeps them, and they count as "
                     "human in the fraction left")
    n_bins = edges.size + 1
    counts: dict[str, dict[bool, np.ndarray]] = {}
    for source, prot, b, n in rows:
        counts.setdefault(source, {True: np.zeros(n_bins), False: np.zeros(n_bins)})
        counts[source][bool(prot)][b] += n
    m_keep = _keep_share(machine) if machine is not None else np.full(edges.size, np.nan)

    points: list[TradeoffPoint] = []
    at_own: list[TradeoffPoint] = []
    own_totals = np.zeros(6)
    own_rates = 0.0
    totals = np.zeros((edges.size, 6))  # n, kept, machine_kept, human_lost, machine_rm, human
    totals_rates = np.zeros(edges.size)
    n_machine_all = 0.0
    for e in sorted(ests, key=lambda e: str(e.group.get("source"))):
        source = str(e.group.get("source"))
        if source not in counts or not math.isfinite(e.fraction):
            notes.append(f"{source}: no estimate, left out of the curve")
            continue
        ref = _reference_for(e, own, role, default)
        if ref is None:
            notes.append(f"{source}: its human reference ({e.human_ref}) has no scores")
            continue
        h_keep = _keep_share(ref)
        eligible, protected = counts[source][False], counts[source][True]
        n_e, n_p = eligible.sum(), protected.sum()
        n_all = n_e + n_p
        machine_n = min(e.fraction * e.n_docs, n_e)  # machine text is never pre-cutoff
        human_e = n_e - machine_n
        kept_e = np.cumsum(eligible)[:-1]
        dropped_e = n_e - kept_e
        # the dropped documents split into human and machine so that both stay possible
        human_lost = np.clip(human_e * (1.0 - h_keep), dropped_e - machine_n, dropped_e)
        human_lost = np.clip(human_lost, 0.0, human_e)
        machine_rm = dropped_e - human_lost
        machine_kept = machine_n - machine_rm
        human_kept = human_e - human_lost
        kept = kept_e + n_p
        rate_left = machine_n * m_keep / np.maximum(machine_n * m_keep + human_kept + n_p, 1e-12)
        for k, t in enumerate(edges):
            points.append(TradeoffPoint(
                source, float(t), int(n_all), int(kept[k]), float(e.fraction),
                float(machine_kept[k] / kept[k]) if kept[k] else float("nan"),
                float(rate_left[k]), float(human_lost[k]),
                float(human_lost[k] / (human_e + n_p)) if human_e + n_p else 0.0,
                float(machine_rm[k]), e.human_ref))
        if source in own_thr:
            k = int(np.searchsorted(edges, own_thr[source]))  # in the grid, so exact
            at_own.append(points[-edges.size + k])
            own_totals += [n_all, kept[k], machine_kept[k], human_lost[k], machine_rm[k],
                           human_e + n_p]
            own_rates += machine_n * m_keep[k]
        totals += np.stack([np.full(edges.size, n_all), kept, machine_kept, human_lost,
                            machine_rm, np.full(edges.size, human_e + n_p)], axis=1)
        totals_rates += machine_n * m_keep
        n_machine_all += machine_n
    for k, t in enumerate(edges):
        n_all, kept, mk, hl, mr, hum = totals[k]
        if n_all == 0:
            continue
        points.append(TradeoffPoint(
            "", float(t), int(n_all), int(kept), float(n_machine_all / n_all),
            float(mk / kept) if kept else float("nan"),
            float(totals_rates[k] / kept) if kept else float("nan"),
            float(hl), float(hl / hum) if hum else 0.0, float(mr), "per source"))
    if protect_pre_cutoff:
        notes.append("pre-cutoff documents are protected (kept whatever their score)")
    if at_own:
        n_all, kept, mk, hl, mr, hum = own_totals
        at_own.append(TradeoffPoint(
            "", float("nan"), int(n_all), int(kept), float(n_machine_all / n_all) if n_all
            else float("nan"), float(mk / kept) if kept else float("nan"),
            float(own_rates / kept) if kept else float("nan"), float(hl),
            float(hl / hum) if hum else 0.0, float(mr), "per source"))
    missing = sorted(s for s in named if s not in own_thr)
    if per_source_threshold and missing:
        notes.append(f"no threshold (none shipped, too few pre-cutoff documents), kept "
                     f"whole: {', '.join(missing)}")
    return Tradeoff(det, protect_pre_cutoff, tuple(float(t) for t in edges), tuple(points),
                    tuple(notes), tuple(at_own), named)


def _pooled(hists: dict, sources=None) -> np.ndarray | None:
    """Document counts per bin, summed (`bootstrap.pooled`)."""
    h = pooled(hists, sources=sources)
    return None if h is None else h.docs


def _reference_for(e: Estimate, own: dict, role: dict, default: dict) -> np.ndarray | None:
    """The human reference histogram the estimate of one source used (by its `RefKind`, see
    `auditor.estimate.references`), both slices pooled: the rates need no held-out part."""
    source = str(e.group.get("source"))
    kind = e.human_ref_kind
    if kind == RefKind.OWN.value:
        return _pooled(own, {source})
    if kind == RefKind.BORROWED.value:
        donors = set(e.human_ref_sources)
        return _pooled(own, donors)
    if kind == RefKind.ROLE_SAME.value:
        return _pooled(role, {source})
    if kind == RefKind.ROLE_ALL.value:
        return _pooled(role)
    if kind == RefKind.DEFAULT.value:
        return _pooled(default)
    return None


def tradeoff_markdown(curve: Tradeoff, source: str = "") -> str:
    """A Markdown table of one source's curve (all sources by default), for reports."""
    name = source or "all sources"
    lines = [f"Filter `score:{curve.detector} > t` on {name}"
             + (" (pre-cutoff documents protected)" if curve.protect_pre_cutoff else ""), "",
             "| threshold t | kept | synthetic before | synthetic left | human lost | "
             "human lost (share) | machine removed |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for p in curve.series(source):
        lines.append(f"| {p.threshold:.3g} | {p.n_kept} / {p.n_docs} | "
                     f"{_pct(p.fraction_before)} | {_pct(p.fraction_left)} | "
                     f"{p.human_lost:.0f} | {_pct(p.human_lost_share)} | "
                     f"{p.machine_removed:.0f} |")
    if curve.at_source_thresholds:
        lines += ["", f"Filter `score:{curve.detector} > source_threshold`: each source at "
                      "its own threshold (pre-cutoff documents kept)", "",
                  "| source | threshold | origin | kept | synthetic before | synthetic left | "
                  "human lost | human lost (share) | machine removed |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for p in curve.at_source_thresholds:
            origin = (curve.source_thresholds.get(p.source) or {}).get("origin_label", "")
            lines.append(f"| {_md(p.source) or 'all sources'} | "
                         f"{'' if p.source == '' else f'{p.threshold:.3g}'} | {origin} | "
                         f"{p.n_kept} / {p.n_docs} | {_pct(p.fraction_before)} | "
                         f"{_pct(p.fraction_left)} | {p.human_lost:.0f} | "
                         f"{_pct(p.human_lost_share)} | {p.machine_removed:.0f} |")
    return "\n".join(lines) + "\n"


#: A source name as inert Markdown table text (the one escaper).
_md = markdown_text


def tradeoff_html(curve: Tradeoff, source: str = "") -> str:
    """The same table as an HTML fragment (every value escaped), for the HTML report."""
    name = html.escape(source or "all sources")
    head = ("<tr><th>threshold t</th><th>kept</th><th>synthetic before</th>"
            "<th>synthetic left</th><th>human lost</th><th>human lost (share)</th>"
            "<th>machine removed</th></tr>")
    body = "".join(
        f"<tr><td>{p.threshold:.3g}</td><td>{p.n_kept} / {p.n_docs}</td>"
        f"<td>{_pct(p.fraction_before)}</td><td>{_pct(p.fraction_left)}</td>"
        f"<td>{p.human_lost:.0f}</td><td>{_pct(p.human_lost_share)}</td>"
        f"<td>{p.machine_removed:.0f}</td></tr>" for p in curve.series(source))
    det = html.escape(curve.detector)
    return (f'<figure class="tradeoff"><figcaption>Filter <code>score:{det} &gt; t</code> on '
            f"{name}</figcaption><table>{head}{body}</table></figure>")


def _pct(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    text = f"{100 * x:.1f}%"
    # a share left of -1e-13 (floating-point noise of the split) printed "-0.0%"
    return "0.0%" if text == "-0.0%" else text
