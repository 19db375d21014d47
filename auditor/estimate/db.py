"""`estimate_db`: the synthetic fraction of every group of a scanned store, with its interval.

The target of a group is its corpus documents (role `corpus`) that are not used as its human
reference: a source's pre-cutoff documents in the reference slice are left out of its target
when (and only when) they serve as its reference; the held-out pre-cutoff slice stays in the
target and also gives the floor. All counting is DuckDB SQL (see `histograms`); this module only
decides, per group, which reference to use and which method, and bootstraps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from auditor.estimate import choice
from auditor.estimate.bootstrap import Hist, estimate_with_interval, widen
from auditor.estimate.histograms import (
    reference_edges,
    source_hists,
    target_hists,
)
from auditor.estimate.identifiers import group_columns, quote, score_columns, view_columns
from auditor.estimate.methods import METHODS
from auditor.estimate.references import MIN_HUMAN_REF, plan_references
from auditor.estimate.result import Estimate

#: How a fallback (default) human reference widens the interval: half-widths times FACTOR, plus
#: MARGIN on each side. The bootstrap cannot see the domain shift between another corpus's human
#: text and this source's, so a stated allowance is added instead of silence.
FALLBACK_FACTOR = 2.0
FALLBACK_MARGIN = 0.05


@dataclass
class GroupResult:
    estimate: Estimate
    replicates: np.ndarray = field(default_factory=lambda: np.zeros(0))


def estimate_db(db_path: str, by: Sequence[str] = (), method: str = "auto",
                detector: str | None = None, weight: str = "docs", n_boot: int = 200,
                seed: int = 0, record: bool = True, machine_reference: str | None = None,
                human_reference: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> list[Estimate]:
    """Synthetic fraction per group of `by` columns (one overall estimate when `by` is empty).

    `method` is one of cc, acc, pcc, pacc, em, hdy, mlm, or auto (chosen per group, reason in
    notes). `detector` defaults to the best fully scored one; naming a detector that scored only
    a sample combines it with the best full one (two tiers). `weight` is docs or tokens.
    `machine_reference`/`human_reference` override the references: a Parquet file with a
    `score_<detector>` or `score` column (and optional `label`), or a source name in the store.
    With `record`, results are appended to the `estimates` table with the latest scan run id.
    The estimate itself only reads (the store is opened read-only, so it works on a store in a
    read-only folder); when the history cannot be written there, a `HistoryNotRecorded`
    warning says so and the results are returned all the same.
    `progress(done, total)` is called after each group's bootstrap (for a progress bar).
    """
    from auditor.store.catalogue import open_store

    if weight not in ("docs", "tokens"):
        raise ValueError(f"weight must be 'docs' or 'tokens', got {weight!r}")
    if method != "auto" and method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose auto or one of {', '.join(METHODS)}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    if not os.path.exists(db_path):
        raise FileNotFoundError(f"no store at {db_path}: run `auditor scan INPUT --db {db_path}`")
    by = [by] if isinstance(by, str) else list(by)
    if detector is not None and machine_reference is None and human_reference is None:
        # A detector fitted for this store (`auditor detectors adapt`) brings its own
        # references: held-out pre-cutoff documents and machine texts it never trained on (the
        # store's other pre-cutoff documents were its training data, so they would flatter it).
        from detectors.adapted import store_reference

        own = store_reference(db_path, detector)
        if own is not None:
            machine_reference = human_reference = str(own)
    with open_store(db_path, read_only=True) as store:
        con = store.con
        cols = view_columns(con)
        keys = group_columns(by, cols)
        det, partner = _pick_detectors(con, cols, detector, machine_reference)
        common = dict(con=con, cols=cols, keys=keys, by=by, method=method, weight=weight,
                      n_boot=n_boot, machine_reference=machine_reference,
                      human_reference=human_reference, progress=progress)
        if partner is None:
            results = [g.estimate for g in _estimate_groups(detector=det, seed=seed, **common)]
        else:
            from auditor.estimate.twotier import combine

            full = _estimate_groups(detector=partner, seed=seed, **common)
            cheap_s = _estimate_groups(detector=partner, seed=seed + 1,
                                       sample_of=quote(f"score_{det}", cols), **common)
            costly_s = _estimate_groups(detector=det, seed=seed + 2, **common)
            results = combine(full, cheap_s, costly_s, costly=det, cheap=partner)
    if record:
        _record_history(db_path, by, results)
    return results


class HistoryNotRecorded(UserWarning):
    """The estimates were computed but could not be appended to the store's history."""


def _record_history(db_path: str, by: Sequence[str], results: list[Estimate]) -> None:
    import warnings

    from auditor.estimate.history import record_estimates
    from auditor.store.catalogue import StoreAccessError, StoreLockedError, open_store

    try:
        with open_store(db_path, holder="auditor estimate") as store:
            record_estimates(store.con, by, results)
    except (StoreAccessError, StoreLockedError) as exc:
        warnings.warn(HistoryNotRecorded(
            f"estimates not added to the store's history ({exc}); pass --no-record to skip "
            "it"), stacklevel=3)


def _pick_detectors(con, cols: dict[str, str], detector: str | None,
                    machine_reference: str | None) -> tuple[str, str | None]:
    """(detector, cheap partner for two tiers or None)."""
    available = choice.rank(score_columns(cols))
    if not available:
        raise LookupError("the store has no score columns: scan with at least one detector "
                          "(`auditor scan INPUT --db DB --detectors classifier`)")
    full = [d for d in available if choice.scored_everything(con, quote(f"score_{d}", cols))]
    if detector is None:
        from auditor.estimate.references import shipped_reference_path

        usable = [d for d in full if shipped_reference_path(d) or machine_reference
                  or con.execute(f"SELECT COUNT(*) FROM documents WHERE role = "
                                 f"'machine_reference' AND {quote(f'score_{d}', cols)} "
                                 "IS NOT NULL").fetchone()[0]]
        return (usable or full or available)[0], None
    if detector not in available:
        raise ValueError(f"detector {detector!r} has no score column in the store; "
                         f"scored detectors: {', '.join(available)}")
    if detector in full or not full:
        return detector, None
    partner = next((d for d in full if d != detector), None)
    return detector, partner


def _estimate_groups(con, cols: dict[str, str], keys: list[str], by: list[str], detector: str,
                     method: str, weight: str, n_boot: int, seed: int,
                     machine_reference: str | None, human_reference: str | None,
                     sample_of: str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> list[GroupResult]:
    """One estimate per group for one detector (the single-tier path)."""
    score = quote(f"score_{detector}", cols, "score column")
    tokens = weight == "tokens"
    plan = plan_references(con, detector, score, machine_reference, human_reference)
    base_notes: list[str] = [plan.machine_note]
    if sample_of:
        base_notes.append(f"target restricted to the documents {sample_of.strip(chr(34))} scored")

    if plan.human_user:
        human_pool = [plan.human_user]
    else:
        human_pool = [s for s in (plan.own, plan.human_role) if _has_rows(con, s)]
        human_pool = human_pool or [s for s in (plan.human_default,) if s]
    if plan.machine is None:
        edges = np.zeros(0)
    else:
        edges = reference_edges(con, human_pool, plan.machine, None, MIN_HUMAN_REF)
    groups = target_hists(con, score, keys, edges, tokens, sample_of)
    if not keys and not groups:
        groups = {(): None}
    if plan.machine is None:
        return [_empty(key, by, detector, weight, method, [*base_notes, "no estimate"])
                for key in groups]

    machine_h = _pool(source_hists(con, plan.machine, edges, tokens and plan.machine.has_tokens))
    if machine_h is None or machine_h.n == 0:
        return [_empty(key, by, detector, weight, method, [
            *base_notes, f"the machine reference ({plan.machine.description}) has no scored "
            "rows: no estimate"]) for key in groups]
    if tokens and not plan.machine.has_tokens:
        base_notes.append("machine reference has no token counts: weighted by documents")
    own = source_hists(con, plan.own, edges, tokens)
    role = source_hists(con, plan.human_role, edges, tokens)
    default = (source_hists(con, plan.human_default, edges, False)
               if plan.human_default else {})
    user = source_hists(con, plan.human_user, edges, False) if plan.human_user else {}
    own_ok = {s for (s, in_ref), h in own.items() if in_ref and h.n >= MIN_HUMAN_REF}

    out = []
    for i, (key, rows) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
        if progress is not None:
            progress(i, len(groups))
        notes = list(base_notes)
        if rows is None or not rows.by_source:
            out.append(_empty(key, by, detector, weight, method, [
                *notes, "no scored corpus documents in this group: nothing to estimate"]))
            continue
        sources = sorted({s for s, _ in rows.by_source})
        if rows.unscored:
            notes.append(f"{rows.unscored} documents have no {detector} score and are not counted")
        ref, held, desc, fallback = _human_reference(sources, own, own_ok, role, default, user,
                                                     notes)
        if ref is None:
            out.append(_empty(key, by, detector, weight, method, [
                *notes, "no human reference: scan pre-cutoff documents of this source or "
                "labeled human text with --role human_reference"]))
            continue
        target, n_tokens = Hist.empty(len(edges) + 1), 0.0
        for (s, own_ref), h in rows.by_source.items():
            if not (own_ref and s in own_ok and desc.startswith("own")):
                target = target + h
                n_tokens += rows.tokens.get((s, own_ref), 0.0)
        if target.n == 0:
            out.append(_empty(key, by, detector, weight, method, [
                *notes, "every document of this group serves as its human reference: "
                "no target left"], n_human=ref.n, n_machine=machine_h.n, human_ref=desc))
            continue
        m = method
        if method == "auto":
            m, reason = choice.auto_method(ref.n, machine_h.n, fallback)
            notes.append(reason)
        group_seed = seed + 7919 * i
        iv = estimate_with_interval(m, ref, machine_h, target, n_boot, group_seed)
        if fallback:
            iv = widen(iv, FALLBACK_FACTOR, FALLBACK_MARGIN)
            notes.append(f"interval widened (x{FALLBACK_FACTOR:g} plus {FALLBACK_MARGIN:g}) "
                         "for the default human reference")
        floor = None
        if held is not None and held.n > 0:
            floor = estimate_with_interval(m, ref, machine_h, held, 0, group_seed).fraction
        if n_boot == 0:
            notes.append("no bootstrap (n_boot=0): interval not computed")
        out.append(GroupResult(Estimate(
            group=dict(zip(by, key, strict=True)), n_docs=target.n, n_tokens=int(round(n_tokens)),
            fraction=iv.fraction, ci_low=iv.ci_low, ci_high=iv.ci_high, method=m,
            detector=detector, n_human_ref=ref.n, n_machine_ref=machine_h.n, human_ref=desc,
            floor=floor, weight=weight, notes=tuple(notes)), iv.replicates))
    if progress is not None:
        progress(len(groups), len(groups))
    return out


def _human_reference(sources: list[str], own: dict, own_ok: set, role: dict, default: dict,
                     user: dict, notes: list[str]):
    """(reference Hist, held-out Hist, description, fallback?) for a group's sources."""
    if user:
        ref, held = _pool(user, True), _pool(user, False)
        notes.append("human reference given by the user")
        return ref, held, "given human reference", False
    mine = [s for s in sources if s in own_ok]
    if mine:
        lacking = [s for s in sources if s not in own_ok]
        if lacking:
            notes.append(f"sources without enough own pre-cutoff documents ({', '.join(lacking)}) "
                         f"are compared against the reference of {', '.join(mine)}")
        ref = _sum([own[(s, True)] for s in mine])
        held = _sum([own[(s, False)] for s in mine if (s, False) in own])
        return ref, held, "own pre-cutoff documents (reference slice)", False
    same = _sum([role[(s, True)] for s in sources if (s, True) in role])
    if same is not None and same.n >= MIN_HUMAN_REF:
        held = _sum([role[(s, False)] for s in sources if (s, False) in role])
        notes.append("no own pre-cutoff documents: human reference = documents of this source "
                     "scanned as human_reference")
        return same, held, "documents scanned as human_reference (same source)", False
    pooled = _pool(role, True)
    if pooled is not None and pooled.n >= MIN_HUMAN_REF:
        notes.append("no own pre-cutoff documents: human reference = all documents scanned as "
                     "human_reference (other sources)")
        return pooled, _pool(role, False), "documents scanned as human_reference (all)", False
    if default:
        notes.append(f"FALLBACK: no usable human reference for {', '.join(sources)} (fewer than "
                     f"{MIN_HUMAN_REF} pre-cutoff or human_reference documents); using the "
                     "detector's shipped human reference rows")
        return (_pool(default, True), _pool(default, False),
                "default: shipped reference human rows", True)
    return None, None, "", False


def _has_rows(con, src) -> bool:
    return con.execute(f"SELECT COUNT(*) > 0 FROM ({src.sql})", src.params).fetchone()[0]


def _sum(hists: list[Hist]) -> Hist | None:
    if not hists:
        return None
    total = hists[0]
    for h in hists[1:]:
        total = total + h
    return total


def _pool(hists: dict, in_ref: bool | None = None) -> Hist | None:
    """Sum of histograms over sources (and over slices when in_ref is None)."""
    return _sum([h for (_, r), h in hists.items() if in_ref is None or r == in_ref])


def _empty(key, by, detector, weight, method, notes, n_human=0, n_machine=0,
           human_ref="") -> GroupResult:
    nan = float("nan")
    return GroupResult(Estimate(
        group=dict(zip(by, key, strict=True)), n_docs=0, n_tokens=0, fraction=nan, ci_low=nan, ci_high=nan,
        method=method, detector=detector, n_human_ref=n_human, n_machine_ref=n_machine,
        human_ref=human_ref, floor=None, weight=weight, notes=tuple(notes)))


__all__ = ["estimate_db", "GroupResult"]
