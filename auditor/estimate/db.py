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
from dataclasses import dataclass, field, replace

import numpy as np

from auditor.estimate import choice
from auditor.estimate.bootstrap import Hist, pooled, widen
from auditor.estimate.cells import (
    Cell,
    SourceFit,
    combine_cells,
    combine_groups,
    estimate_cells,
    floor_of,
)
from auditor.estimate.histograms import (
    machine_sample,
    reference_edges,
    source_hists,
    target_and_own_hists,
)
from auditor.estimate.human_refs import (
    HumanRef,
    distinct_reference_docs,
    profiles,
    resolve,
    usable_own,
)
from auditor.estimate.identifiers import group_columns, quote, score_columns, view_columns
from auditor.estimate.methods import METHODS, MIN_MACHINE_AUC
from auditor.estimate.references import MIN_HUMAN_REF, plan_references
from auditor.estimate.result import COMBINED_STATUSES, Estimate, RefKind, Status

#: How a fallback (default) human reference widens the interval: half-widths times FACTOR, plus
#: MARGIN on each side. The bootstrap cannot see the domain shift between another corpus's human
#: text and this source's, so a stated allowance is added instead of silence.
FALLBACK_FACTOR = 2.0
FALLBACK_MARGIN = 0.05


MIN_GROUP_DOCS = choice.MIN_GROUP_DOCS
#: `detector=COMBINED` combines every usable fully scored detector (`combine`).
COMBINED = "combined"
#: The group value of the row that pools the too-few groups.
OTHER = "other"


@dataclass
class GroupResult:
    estimate: Estimate
    replicates: np.ndarray = field(default_factory=lambda: np.zeros(0))
    raw_replicates: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weight_total: float = 0.0
    #: the post-cutoff part of `weight_total` (pre-cutoff documents count as human): a
    #: whole-group fraction over this share is the post-cutoff fraction
    post_weight: float = 0.0


def estimate_db(db_path: str, by: Sequence[str] = (), method: str = "auto",
                detector: str | None = None, weight: str = "docs", n_boot: int = choice.N_BOOT,
                seed: int = 0, record: bool = True, machine_reference: str | None = None,
                human_reference: str | None = None,
                progress: Callable[[int, int], None] | None = None,
                min_docs: int = MIN_GROUP_DOCS, similar_by: str | None = None,
                overall: bool = False, vocab: bool = True,
                generated: bool | None = None,
                separation: dict | None = None) -> list[Estimate]:
    """Synthetic fraction per group of `by` columns (one overall estimate when `by` is empty).

    `method` is one of cc, acc, pcc, pacc, em, hdy, mlm, mlms, or auto (chosen per group,
    reason in notes). `detector` defaults to the best fully scored one; naming a detector that
    scored only a sample combines it with the best full one (two tiers); "combined" combines
    every fully scored detector with a machine reference (random effects: the interval widens
    where they disagree). `weight` is docs or tokens.
    `machine_reference`/`human_reference` override the references: a Parquet file with a
    `score_<detector>` or `score` column (and optional `label`), or a source name in the store.
    With `record`, results are appended to the `estimates` table with the latest scan run id.
    The estimate itself only reads (the store is opened read-only, so it works on a store in a
    read-only folder); when the history cannot be written there, a `HistoryNotRecorded`
    warning says so and the results are returned all the same.
    `progress(done, total)` is called after each group's bootstrap (for a progress bar).

    What each row means is on `Estimate` (whole-group share with pre-cutoff documents human by
    assumption, post-cutoff share beside it, `status`). Groups under `min_docs` documents are
    TOO_FEW and pooled into one OTHER row. `similar_by` names a column (a genre) that a source
    must share with the sources it borrows a human reference from. With `overall`, a last row
    (group {}) is the weighted combination of the returned rows. With `by` empty, the one
    estimate is the weighted combination of the per-source estimates, so it equals what the
    rows of `by=("source",)` combine to. With `vocab`, groups with a `crawl_month` get the
    reference-free excess-vocabulary bound beside the detector estimate (when the store has
    `score_excess_vocab`).
    With `generated` (None: `generated.USE_BY_DEFAULT`), a source with machine texts kept
    beside the store (`auditor detectors generate`: written by the offline LM from its own
    pre-cutoff documents, or given for it) gets them, scored by the detector, in its machine
    reference (`auditor.estimate.generated`; the notes name it); not when `machine_reference`
    is given.
    `separation`: a dict kept by a caller that estimates one store several times (the audit's
    three groupings, the CLI's baseline): the separation check of a detector the user named
    (a sampled pass over the references, `_weak_separation`) is then made once, not per call.
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
    if min_docs < 0:
        raise ValueError(f"min_docs must be >= 0, got {min_docs}")
    by = [by] if isinstance(by, str) else list(by)
    if generated is None:
        from auditor.estimate.generated import USE_BY_DEFAULT as generated
    given_machine, given_human = machine_reference, human_reference  # the history's hash
    headline = not by  # the overall figure: combined from per-source rows
    rows_by = ["source"] if headline else by
    with open_store(db_path, read_only=True) as store:
        con = store.con
        cols = view_columns(con)
        default_note = None
        if detector is None and machine_reference is None and human_reference is None:
            detector, default_note = _store_fitted_default(db_path, con, cols)
        if detector is not None and machine_reference is None and human_reference is None:
            # A detector fitted for this store (`auditor detectors adapt`) brings its own
            # references: held-out pre-cutoff documents and machine texts it never trained on
            # (the store's other pre-cutoff documents were its training data, so they would
            # flatter it).
            from detectors.adapted import store_reference

            own = store_reference(db_path, detector)
            if own is not None:
                machine_reference = human_reference = str(own)
        keys = group_columns(rows_by, cols)
        combined = detector == COMBINED
        det, partner, choice_notes = (None, None, []) if combined else _pick_detectors(
            con, cols, detector, machine_reference, human_reference, separation)
        common = dict(con=con, cols=cols, keys=keys, by=rows_by, method=method, weight=weight,
                      generated_from=db_path if generated and machine_reference is None
                      else None,
                      n_boot=n_boot, machine_reference=machine_reference,
                      human_reference=human_reference, progress=progress,
                      min_docs=0 if headline else min_docs, min_scored=min_docs,
                      similar_by=similar_by,
                      overall=overall or headline)
        if combined:
            from auditor.estimate.combine import combine_detectors

            names, left_out = _separating(con, cols, _usable_detectors(con, cols,
                                                                       machine_reference),
                                          machine_reference, human_reference, separation)
            results = combine_detectors({d: _estimate_groups(detector=d, seed=seed, **common)
                                         for d in names})
            if left_out:
                results = [replace(e, notes=(*e.notes, *left_out)) for e in results]
        elif partner is None:
            results = [g.estimate for g in _estimate_groups(detector=det, seed=seed, **common)]
            weak = (_weak_separation(con, cols, det, machine_reference, human_reference,
                                     separation)
                    if detector is not None else None)  # a detector the user named
            if weak is not None:
                results = [replace(e, notes=(f"WARNING: detector {det}: {weak}; these "
                                             "estimates are not identified", *e.notes))
                           for e in results]
        else:
            from auditor.estimate.twotier import combine

            full = _estimate_groups(detector=partner, seed=seed, **common)
            cheap_s = _estimate_groups(detector=partner, seed=seed + 1,
                                       sample_of=quote(f"score_{det}", cols), **common)
            costly_s = _estimate_groups(detector=det, seed=seed + 2, **common)
            results = combine(full, cheap_s, costly_s, costly=det, cheap=partner)
        if choice_notes:
            results = [replace(e, notes=(*choice_notes, *e.notes)) for e in results]
        if headline:
            results = [e for e in results if not e.group]
        if default_note:
            results = [replace(e, notes=(default_note, *e.notes)) for e in results]
        if vocab:
            from auditor.estimate.vocab_db import attach_vocab

            results = attach_vocab(con, cols, by, results)
    if record:
        from auditor.estimate.history import settings_hash

        _record_history(db_path, by, results, settings_hash(
            weight, min_docs, similar_by, given_machine, given_human,
            bool(generated) and given_machine is None))
    return results


class HistoryNotRecorded(UserWarning):
    """The estimates were computed but could not be appended to the store's history."""


def _record_history(db_path: str, by: Sequence[str], results: list[Estimate],
                    settings: str) -> None:
    import warnings

    from auditor.estimate.history import record_estimates
    from auditor.store.catalogue import StoreAccessError, StoreLockedError, open_store

    try:
        with open_store(db_path, holder="auditor estimate") as store:
            record_estimates(store.con, by, results, settings)
    except (StoreAccessError, StoreLockedError) as exc:
        warnings.warn(HistoryNotRecorded(
            f"estimates not added to the store's history ({exc}); pass --no-record to skip "
            "it"), stacklevel=3)


def _store_fitted_default(db_path: str, con, cols: dict[str, str]) -> tuple[str | None, str | None]:
    """("adapted", why) when the store has its own adapted model (`auditor detectors adapt`)
    with saved references and the scan scored (nearly) every corpus document with it: a
    detector fitted on this corpus's own text is preferred to the shipped ones (issue 10,
    item 2). Otherwise (None, None): the usual preference order."""
    from detectors.adapted import store_reference

    name = "adapted"
    if (name not in score_columns(cols) or store_reference(db_path, name) is None
            or not _full(con, cols, name)):
        return None, None
    return name, ("detector adapted chosen by default: this store's own adapted model "
                  "(`auditor detectors adapt`), with its held-out references; pass --detector "
                  "to use another")


def _full(con, cols: dict[str, str], detector: str) -> bool:
    """Whether `detector` scored (nearly) every corpus document in its languages."""
    return choice.scored_everything(con, quote(f"score_{detector}", cols),
                                    choice.declared_languages(detector))


def _usable_detectors(con, cols: dict[str, str], machine_reference: str | None,
                      full: list[str] | None = None) -> list[str]:
    """Fully scored detectors that have a machine reference, in preference order. `full`: the
    fully scored ones, when the caller has them (each `_full` is a pass over the store)."""
    from auditor.estimate.references import shipped_reference_path

    if full is None:
        full = [d for d in choice.rank(score_columns(cols)) if _full(con, cols, d)]
    return [d for d in full if shipped_reference_path(d) or machine_reference
            or con.execute(f"SELECT COUNT(*) FROM documents WHERE role = 'machine_reference' "
                           f"AND {quote(f'score_{d}', cols)} IS NOT NULL").fetchone()[0]]


def _separating(con, cols: dict[str, str], names: list[str], machine_reference: str | None,
                human_reference: str | None, cache: dict | None = None
                ) -> tuple[list[str], list[str]]:
    """The detectors of a combination whose machine reference separates from their human
    reference (the store's pre-cutoff documents, else the shipped human rows) by at least
    `MIN_MACHINE_AUC`, and a note for each one left out. Below it the mixture is not
    identified: `markers` (AUC 0.51: almost every text, human or machine, scores 0) read 100%
    machine with a floor of 100% on the demo corpus, and dragged the combination of every
    source to 30-48% (blogs, truth 0%: 30.4%)."""
    keep, notes = [], []
    for d in names:
        weak = _weak_separation(con, cols, d, machine_reference, human_reference, cache)
        if weak is not None:
            notes.append(f"combined: {d} left out: {weak}")
        else:
            keep.append(d)
    return (keep, notes) if keep else (names, [])


def _weak_separation(con, cols: dict[str, str], detector: str, machine_reference: str | None,
                     human_reference: str | None, cache: dict | None = None) -> str | None:
    """Why `detector` cannot estimate a fraction here (its machine reference separates from
    its human reference by less than `MIN_MACHINE_AUC`), or None when it can. With `cache`
    (see `estimate_db`'s `separation`), looked up there first and kept there."""
    key = (detector, machine_reference, human_reference)
    if cache is not None and key in cache:
        return cache[key]
    weak = _separation_check(con, cols, detector, machine_reference, human_reference)
    if cache is not None:
        cache[key] = weak
    return weak


def _separation_check(con, cols: dict[str, str], detector: str, machine_reference: str | None,
                      human_reference: str | None) -> str | None:
    from auditor.estimate.histograms import separation_auc

    plan = plan_references(con, detector, quote(f"score_{detector}", cols), machine_reference,
                           human_reference)
    human = plan.human_user or (plan.own if _has_rows(con, plan.own) else plan.human_default)
    auc = (separation_auc(con, plan.machine, human)
           if plan.machine is not None and human is not None else None)
    if auc is None or auc >= MIN_MACHINE_AUC:
        return None
    return (f"its machine reference separates from the human reference by AUC {auc:.2f} < "
            f"{MIN_MACHINE_AUC:g}, too little to estimate a fraction with")


def _pick_detectors(con, cols: dict[str, str], detector: str | None,
                    machine_reference: str | None, human_reference: str | None = None,
                    cache: dict | None = None) -> tuple[str, str | None, list[str]]:
    """(detector, cheap partner for two tiers or None, notes). Neither the default choice nor
    a partner is a detector whose references do not separate (`_weak_separation`): on the
    real crawl folder the markers (AUC 0.51) were both, and read a 2026 crawl sample as 100%
    machine-written with an interval of [100%, 100%]."""
    available = choice.rank(score_columns(cols))
    if not available:
        raise LookupError("the store has no score columns: scan with at least one detector "
                          "(`auditor scan INPUT --db DB --detectors classifier`)")
    full = [d for d in available if _full(con, cols, d)]
    if detector is None:
        usable = _usable_detectors(con, cols, machine_reference, full)
        if not usable:
            return (full or available)[0], None, []
        chosen, skipped = _first_separating(con, cols, usable, machine_reference,
                                            human_reference, cache, "default choice")
        if chosen is None:  # none separates: the first, with a warning on every row
            weak = _weak_separation(con, cols, usable[0], machine_reference, human_reference,
                                    cache)
            return usable[0], None, [f"WARNING: detector {usable[0]}: {weak}; these "
                                     "estimates are not identified"]
        return chosen, None, skipped
    if detector not in available:
        raise ValueError(f"detector {detector!r} has no score column in the store; "
                         f"scored detectors: {', '.join(available)}")
    if detector in full or not full:
        return detector, None, []
    partner, skipped = _first_separating(con, cols, [d for d in full if d != detector],
                                         machine_reference, human_reference, cache, "two tiers")
    return detector, partner, skipped


def _first_separating(con, cols: dict[str, str], names: list[str],
                      machine_reference: str | None, human_reference: str | None,
                      cache: dict | None, purpose: str) -> tuple[str | None, list[str]]:
    """The first of `names` whose references separate (`_weak_separation`), checked in order
    until one does, and a note for each one passed over; None when none does."""
    notes = []
    for name in names:
        weak = _weak_separation(con, cols, name, machine_reference, human_reference, cache)
        if weak is None:
            return name, notes
        notes.append(f"{purpose}: {name} left out: {weak}")
    return None, notes


def _estimate_groups(con, cols: dict[str, str], keys: list[str], by: list[str], detector: str,
                     method: str, weight: str, n_boot: int, seed: int,
                     machine_reference: str | None, human_reference: str | None,
                     sample_of: str | None = None, min_docs: int = MIN_GROUP_DOCS,
                     min_scored: int = MIN_GROUP_DOCS,
                     similar_by: str | None = None, overall: bool = False,
                     progress: Callable[[int, int], None] | None = None,
                     generated_from: str | None = None) -> list[GroupResult]:
    """One estimate per group for one detector (the single-tier path): cells (group x source)
    estimated against their source's references, then combined (see `cells`).
    `generated_from`: the store whose kept machine texts give sources their own machine
    reference (None: the shared one for all). `min_scored`: see `_group_result`; the same in
    the headline's per-source rows (which take every source, `min_docs` 0) as in a table's,
    so the headline and a table's `all` row leave out the same sources."""
    score = quote(f"score_{detector}", cols, "score column")
    genre = quote(similar_by, cols, "similarity column") if similar_by else None
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
    # the sources' own pre-cutoff references come out of the same pass over the store
    groups, own_from_target = target_and_own_hists(con, score, keys, edges, tokens, sample_of)
    if not keys and not groups:
        groups = {(): None}
    if plan.machine is None:
        return [_empty(key, by, detector, weight, method, [*base_notes, "no estimate"])
                for key in groups]

    machine_h = pooled(source_hists(con, plan.machine, edges, tokens and plan.machine.has_tokens))
    if machine_h is None or machine_h.n == 0:
        return [_empty(key, by, detector, weight, method, [
            *base_notes, f"the machine reference ({plan.machine.description}) has no scored "
            "rows: no estimate"]) for key in groups]
    if tokens and not plan.machine.has_tokens:
        base_notes.append("machine reference has no token counts: weighted by documents")
    own = (own_from_target if own_from_target is not None
           else source_hists(con, plan.own, edges, tokens))
    role = source_hists(con, plan.human_role, edges, tokens)
    default = (source_hists(con, plan.human_default, edges, False)
               if plan.human_default else {})
    user = source_hists(con, plan.human_user, edges, False) if plan.human_user else {}

    # cells: one per (group, source)
    cells: list[Cell] = []
    group_cells: dict[tuple, list[int]] = {}
    for key, rows in sorted(groups.items(), key=lambda kv: str(kv[0])):
        group_cells[key] = []
        if rows is None:
            continue
        srcs = sorted({s for s, _ in rows.by_source} | {s for s, _ in rows.unscored_by_source})
        for s in srcs:
            post = rows.by_source.get((s, False), Hist.empty(len(edges) + 1))
            pre_h = rows.by_source.get((s, True))
            n_pre = (pre_h.n if pre_h else 0) + rows.unscored_by_source.get((s, True), 0)
            pre_w = float(pre_h.weight.sum()) if pre_h else 0.0
            unscored = rows.unscored_by_source.get((s, False), 0)
            n_docs = post.n + n_pre + unscored
            tok = rows.tokens.get((s, False), 0.0) + rows.tokens.get((s, True), 0.0)
            group_cells[key].append(len(cells))
            cells.append(Cell(key, s, post, pre_w, n_docs, n_pre, tok, unscored,
                              rows.unscored_by_source.get((s, True), 0)))

    # references and method per source; profiles (one more pass) only when one must borrow
    sources = sorted({c.source for c in cells})
    needs_borrow = not user and any(
        (own.get((s, True), Hist.empty(1)).n + own.get((s, False), Hist.empty(1)).n)
        < MIN_HUMAN_REF for s in sources)
    prof = profiles(con, score, cols, genre) if needs_borrow else {}
    shared_scores = machine_sample(con, plan.machine)
    own_machine, gen_notes = _generated_machine(generated_from, detector, sources, machine_h,
                                                shared_scores, edges)
    base_notes += gen_notes
    refs: dict[str, HumanRef] = {}
    fits: dict[str, SourceFit] = {}
    chosen: dict[str, tuple[str, str]] = {}
    own_ok = usable_own(own)
    for s in sources:
        ref = resolve(s, own, role, default, user, prof, own_ok)
        if ref is None:
            continue
        refs[s] = ref
        m = method
        reason = ""
        m_hist, m_scores = own_machine.get(s, (None, None))
        if method == "auto":
            m, reason = choice.auto_method(ref.hist.n, (m_hist or machine_h).n, ref.fallback)
        chosen[s] = (m, reason)
        fits[s] = SourceFit(ref.hist, m, m_hist, m_scores)
    est = estimate_cells(cells, fits, machine_h, n_boot, seed,
                         machine_scores=shared_scores, edges=edges)
    floors = {s: _floor(fits[s].method, r, fits[s].machine or machine_h)
              for s, r in refs.items()}

    results: dict[tuple, GroupResult] = {}
    small: list[tuple] = []
    for i, (key, idx) in enumerate(group_cells.items()):
        if progress is not None:
            progress(i, len(group_cells))
        n_docs = sum(cells[j].n_docs for j in idx)
        all_pre = n_docs > 0 and n_docs == sum(cells[j].n_pre for j in idx)
        if keys and n_docs < min_docs and not all_pre:  # a small all-pre group is a reference
            small.append(key)
            results[key] = _too_few(key, by, detector, weight, method, n_docs, min_docs,
                                    base_notes, sum(cells[j].n_pre for j in idx))
            continue
        results[key] = _group_result(key, by, idx, cells, est, refs, chosen, floors, detector,
                                     weight, method, n_boot, machine_h.n, base_notes,
                                     bool(sample_of), min_scored)
    out = [results[k] for k in group_cells]
    if small:
        idx = [j for k in small for j in group_cells[k]]
        other = _group_result(tuple(OTHER for _ in by), by, idx, cells, est, refs, chosen,
                              floors, detector, weight, method, n_boot, machine_h.n,
                              [*base_notes, f"{len(small)} groups with fewer than {min_docs} "
                               "documents pooled into this row"], bool(sample_of),
                              min_scored)
        e = other.estimate
        if e.status in (Status.ESTIMATED.value, Status.PRE_CUTOFF.value):
            other = replace(other, estimate=replace(e, status=Status.OTHER.value,
                                                    in_gates=False))
        else:  # no match, no estimate: still pooled, so kept out of per-group gates too
            other = replace(other, estimate=replace(e, in_gates=False))
        out.append(other)
    if overall:
        out.append(_overall(out, by, detector, weight, method, base_notes,
                            distinct_reference_docs(refs, own, role, default, user)))
    if progress is not None:
        progress(len(group_cells), len(group_cells))
    return out


def _generated_machine(db_path: str | None, detector: str, sources: list[str],
                       shared: Hist, shared_scores: np.ndarray, edges: np.ndarray
                       ) -> tuple[dict[str, tuple[Hist, np.ndarray]], list[str]]:
    """({source: (machine histogram, raw scores)}, notes) for the sources with machine texts
    kept beside the store at `db_path` (`auditor.estimate.generated`); nothing when None."""
    if db_path is None:
        return {}, []
    from auditor.estimate.generated import GENERATED_RULE, MIN_GENERATED, score_stored_texts
    from auditor.estimate.generated import source_machine as make

    refs = score_stored_texts(db_path, detector)
    out: dict[str, tuple[Hist, np.ndarray]] = {}
    notes = list(refs.notes)
    mixed = GENERATED_RULE == "mixed"
    for s in sources:
        scores = refs.scores.get(s)
        if scores is None:
            continue
        what = refs.kinds.get(s, "generated from this source's pre-cutoff documents")
        if scores.size < MIN_GENERATED:
            notes.append(f"{s}: {scores.size} machine texts {what} are too few (< "
                         f"{MIN_GENERATED}): the shared machine reference alone")
            continue
        out[s] = make(shared, shared_scores, scores, edges)
        notes.append(f"{s}: machine reference: {what} ({scores.size})"
                     + (", mixed half and half with the shared machine reference" if mixed
                        else ""))
    return out, notes


def _group_result(key, by, idx, cells, est, refs, chosen, floors, detector, weight, method,
                  n_boot, n_machine, base_notes, sampled, min_scored: int = 0) -> GroupResult:
    """One group's estimate from its cells. `min_scored`: the fewest post-cutoff documents
    with a score a group needs when others have none (a detector's languages leave them out):
    a group of enough documents, most of them unscored, was estimated from the few scored
    ones (the crawl's pooled small languages: 10 scored of 54, "0.0%, at most 0.0%")."""
    notes = list(base_notes)
    group = dict(zip(by, key, strict=True))
    n_docs = sum(cells[j].n_docs for j in idx)
    n_pre = sum(cells[j].n_pre for j in idx)
    n_tokens = int(round(sum(cells[j].n_tokens for j in idx)))
    unscored = sum(cells[j].unscored for j in idx)
    srcs = sorted({cells[j].source for j in idx})
    used = [s for s in srcs if s in refs]
    kinds = sorted({refs[s].kind for s in used}, key=lambda k: list(RefKind).index(k))
    kind = kinds[0] if len(kinds) == 1 else (RefKind.MIXED if kinds else RefKind.NONE)
    donors = tuple(sorted({d for s in used for d in refs[s].donors}))
    for s in used:
        r = refs[s]
        if r.kind is RefKind.BORROWED:
            notes.append(f"{s}: fewer than {MIN_HUMAN_REF} own pre-cutoff documents; human "
                         f"reference borrowed from the pre-cutoff documents of the most similar "
                         f"sources: {', '.join(r.donors)}")
        elif r.kind is RefKind.DEFAULT:
            notes.append(f"FALLBACK: {s}: no usable human reference (fewer than "
                         f"{MIN_HUMAN_REF} pre-cutoff or human_reference documents here or in "
                         "a similar source); using the detector's shipped human reference rows")
        elif r.kind not in (RefKind.OWN, RefKind.GIVEN):
            notes.append(f"{s}: human reference = {r.kind.value}")
    for reason in sorted({chosen[s][1] for s in used if chosen[s][1]}):
        notes.append(reason)
    methods = sorted({chosen[s][0] for s in used})
    m_label = methods[0] if len(methods) == 1 else ("/".join(methods) if methods else method)
    f_vals = [(floors[s], sum(cells[j].n_docs for j in idx if cells[j].source == s))
              for s in used if floors.get(s) is not None]
    floor = (sum(f * w for f, w in f_vals) / max(sum(w for _, w in f_vals), 1)
             if f_vals else None)
    n_h = sum(refs[s].hist.n for s in used)
    unscored_pre = sum(cells[j].unscored_pre for j in idx)
    covered = n_docs - unscored - unscored_pre  # the documents the fraction is a share of
    common = dict(group=group, n_docs=n_docs, n_tokens=n_tokens, detector=detector,
                  n_human_ref=n_h, n_machine_ref=n_machine, floor=floor, weight=weight,
                  n_pre_cutoff=n_pre, human_ref=kind.value, human_ref_kind=kind.value,
                  human_ref_sources=donors, method=m_label,
                  n_docs_covered=covered)
    if unscored or unscored_pre:
        # the fraction is a share of the scored documents (both sides of the cutoff): a source
        # of English, Chinese and Spanish pages read 68.5% "of its 1,200 documents" where only
        # the 427 English ones were in it, and its pre-cutoff note counted the other 196 in too
        notes.append(f"the estimate covers the {covered:,} of "
                     f"{n_docs:,} documents with a {detector} score; {unscored:,} after the "
                     f"cutoff and {unscored_pre:,} before it have none (a language it does not "
                     "cover, or not scored) and are not in it")
    lacking = [s for s in srcs if s not in refs]
    if lacking:
        notes.append(f"no human reference for {', '.join(lacking)}: their post-cutoff documents "
                     "are not estimated (scan pre-cutoff documents of these sources or labeled "
                     "human text with --role human_reference)")
    n_post_est = sum(cells[j].post.n for j in idx if cells[j].source in refs)
    if n_pre > 0 and n_pre == n_docs:
        notes.append("every document predates the cutoff: human reference, 0 by assumption"
                     + ("" if floor is not None else "; floor n/a (no held-out documents)"))
        return GroupResult(Estimate(
            fraction=0.0, ci_low=0.0, ci_high=0.0, notes=tuple(notes),
            status=Status.PRE_CUTOFF.value, **common), np.zeros(0), np.zeros(0),
            _weight_total(idx, cells))
    if n_post_est == 0:
        why = ("no human reference" if lacking else "no scored documents after the cutoff")
        return GroupResult(Estimate(
            fraction=float("nan"), ci_low=float("nan"), ci_high=float("nan"),
            notes=(*notes, f"{why}: nothing to estimate"), status=Status.NO_ESTIMATE.value,
            in_gates=True, **common))
    if unscored and n_post_est < min_scored:
        return GroupResult(Estimate(
            fraction=float("nan"), ci_low=float("nan"), ci_high=float("nan"),
            notes=(*notes, f"only {n_post_est} post-cutoff document(s) have a {detector} "
                   f"score (fewer than {min_scored}): too few to estimate"),
            status=Status.NO_ESTIMATE.value, in_gates=True, **common))
    comb = combine_cells([j for j in idx if cells[j].source in refs], cells, est)
    whole, post = comb.whole, comb.post
    if comb.widened_for_mismatch:
        notes.append(f"{MISMATCH_NOTE}: it also covers machine text "
                     f"that scores lower than the machine reference (machine component shifted "
                     f"down as far as the target allows, to AUC {MIN_MACHINE_AUC:g} at most)")
    fb = sum(cells[j].post.weight.sum() + cells[j].pre_weight for j in idx
             if cells[j].source in refs and refs[cells[j].source].fallback)
    if fb > 0:
        share = fb / max(comb.post_weight + comb.pre_weight, 1e-12)
        whole = widen(whole, FALLBACK_FACTOR, FALLBACK_MARGIN * share)
        post = widen(post, FALLBACK_FACTOR, FALLBACK_MARGIN)
        notes.append(f"interval widened (x{FALLBACK_FACTOR:g} plus {FALLBACK_MARGIN:g}, lower "
                     "limit 0) for the default human reference: benchmark text cannot tell this "
                     "source's own style from machine text")
        if share >= 0.5:  # mostly judged against benchmark text: no point estimate
            notes.append(
                "no matching human reference: judged against the shipped benchmark human texts "
                "(no pre-cutoff documents of its own or of a similar source), so no point "
                "estimate is given, only the interval [0, upper]; real human web text reads "
                "tens of percent against benchmark text. Scan its pre-cutoff documents (correct "
                "date columns, or --role human_reference) to estimate it")
            return GroupResult(Estimate(
                fraction=float("nan"), ci_low=0.0, ci_high=whole.ci_high,
                fraction_post=float("nan"), ci_low_post=0.0, ci_high_post=post.ci_high,
                notes=tuple(notes), status=Status.NO_MATCH.value, **common),
                whole.replicates, comb.raw_replicates, comb.post_weight + comb.pre_weight,
                comb.post_weight)
    if n_pre - unscored_pre:
        notes.append(f"{n_pre - unscored_pre} pre-cutoff documents counted as human by assumption "
                     "(they are also the human reference)")
    if n_boot == 0:
        notes.append("no bootstrap (n_boot=0): interval not computed")
    return GroupResult(Estimate(
        fraction=whole.fraction, ci_low=whole.ci_low, ci_high=whole.ci_high,
        fraction_post=post.fraction, ci_low_post=post.ci_low, ci_high_post=post.ci_high,
        notes=tuple(notes), status=Status.ESTIMATED.value, **common),
        whole.replicates, comb.raw_replicates, comb.post_weight + comb.pre_weight,
        comb.post_weight)


def _floor(method: str, ref: HumanRef, machine_h: Hist) -> float | None:
    """Cross-fitted for own and role references (fit on one half, read the other, and the
    other way round, averaged): one direction alone is a noisy one-sided draw."""
    one = floor_of(method, ref.floor_fit, machine_h, ref.floor_held)
    if ref.kind is RefKind.OWN and one is not None:
        other = floor_of(method, ref.floor_held, machine_h, ref.floor_fit)
        if other is not None:
            return (one + other) / 2
    return one


def _weight_total(idx, cells) -> float:
    return float(sum(cells[j].post.weight.sum() + cells[j].pre_weight for j in idx))


def _too_few(key, by, detector, weight, method, n_docs, min_docs, base_notes,
             n_pre: int) -> GroupResult:
    nan = float("nan")
    return GroupResult(Estimate(
        group=dict(zip(by, key, strict=True)), n_docs=n_docs, n_tokens=0, fraction=nan,
        ci_low=nan, ci_high=nan, method=method, detector=detector, weight=weight,
        notes=(*base_notes, f"too few documents ({n_docs} < {min_docs}): not estimated on its "
               f"own, pooled into the '{OTHER}' row and kept out of per-group gates"),
        status=Status.TOO_FEW.value, in_gates=False, n_pre_cutoff=n_pre))


#: How a row's notes say its upper end was widened (`cells.combine_cells` flags it).
MISMATCH_NOTE = "upper end widened for reference mismatch"


def _overall(rows: list[GroupResult], by, detector, weight, method, base_notes,
             n_human_ref: int) -> GroupResult:
    """The weighted combination of `rows` (small groups enter through their pooled row).
    `n_human_ref`: the distinct human reference documents behind the rows
    (`human_refs.distinct_reference_docs`), not the sum of the rows' reference sizes, which
    counts a reference once per group that uses it."""
    in_combination = [g for g in rows if g.estimate.status in COMBINED_STATUSES]
    parts = [(g.estimate.fraction, g.weight_total, g.raw_replicates) for g in in_combination]
    iv = combine_groups(parts)
    combined = [g for g in in_combination if g.weight_total > 0]
    if (combined and np.isfinite(iv.fraction) and not np.isfinite(iv.ci_high)
            and all(len(g.raw_replicates) == 0
                    and g.estimate.ci_low == g.estimate.fraction == g.estimate.ci_high
                    for g in combined)):
        # every combined row is a fixed value (pre-cutoff groups: 0 by assumption), so the
        # combination is one too: no replicates to take quantiles of, but no uncertainty either
        iv = replace(iv, ci_low=iv.fraction, ci_high=iv.fraction)
    widened = [g for g in rows if g.estimate.status == Status.ESTIMATED.value
               and any(n.startswith(MISMATCH_NOTE) for n in g.estimate.notes)]
    if widened and np.isfinite(iv.ci_high):
        # the mismatch is shared by the groups (one machine reference, the same generators), so
        # their widened upper ends move together: the headline's upper end is at least their
        # weighted mean, never below what its rows allow
        total = sum(w for _, w, _ in parts)
        rows_high = sum(g.estimate.ci_high * g.weight_total
                        for g in in_combination) / max(total, 1e-12)
        iv = replace(iv, ci_high=float(min(1.0, max(iv.ci_high, rows_high))))
    unmatched = [g for g in rows if g.estimate.status == Status.NO_MATCH.value]
    extra: list[str] = []
    if unmatched:
        w_un = sum(g.weight_total for g in unmatched)
        extra.append(f"{len(unmatched)} row(s) with no matching human reference "
                     f"({sum(g.estimate.n_docs for g in unmatched):,} documents) are left out "
                     "of this combination: they have no point estimate")
        if not parts:  # nothing else: the headline is only an upper bound too
            upper = sum(g.estimate.ci_high * g.weight_total for g in unmatched) / max(w_un, 1e-12)
            iv = replace(iv, fraction=float("nan"), ci_low=0.0, ci_high=float(upper))
    missing = [g.estimate for g in rows if g.estimate.status == Status.NO_ESTIMATE.value]
    if missing:  # the headline counts their documents: say that its fraction leaves them out
        names = ", ".join("/".join(str(v) for v in e.group.values()) for e in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        extra.append(f"{len(missing)} row(s) without an estimate ({names}{more}; "
                     f"{sum(e.n_docs for e in missing):,} documents) are left out of this "
                     "combination: their notes say why")
    counted = [g.estimate for g in rows if g.estimate.status != Status.TOO_FEW.value]
    covered = sum(g.estimate.n_docs if g.estimate.n_docs_covered is None
                  else g.estimate.n_docs_covered for g in in_combination)
    kinds = {e.human_ref_kind for e in counted if e.human_ref_kind}
    kind = kinds.pop() if len(kinds) == 1 else (RefKind.MIXED.value if kinds else "")
    fl = [(e.floor, e.n_docs) for e in counted if e.floor is not None]
    floor = sum(f * n for f, n in fl) / max(sum(n for _, n in fl), 1) if fl else None
    notes: list[str] = list(base_notes)
    for e in counted:
        for note in e.notes:
            if note not in notes and len(notes) < 40:
                notes.append(note)
    methods = sorted({m for e in counted for m in e.method.split("/")})
    # a group under --min-docs is counted once, through the pooled 'other' row
    e = Estimate(group={}, n_docs=sum(e.n_docs for e in counted),
                 n_tokens=sum(e.n_tokens for e in counted), fraction=iv.fraction,
                 ci_low=iv.ci_low, ci_high=iv.ci_high,
                 method="/".join(methods) or method, detector=detector,
                 n_human_ref=n_human_ref,
                 n_machine_ref=max((e.n_machine_ref for e in counted), default=0),
                 human_ref=kind, human_ref_kind=kind, floor=floor,
                 n_pre_cutoff=sum(e.n_pre_cutoff for e in counted), weight=weight,
                 n_docs_covered=covered,
                 notes=(*notes, *extra, f"weighted combination of the {len(parts)} rows by "
                        f"{', '.join(by)}"), status=Status.OVERALL.value)
    return GroupResult(e, iv.replicates, np.zeros(0), sum(w for _, w, _ in parts))


def _has_rows(con, src) -> bool:
    # EXISTS stops at the first row; COUNT(*) > 0 read every row (a whole pass over the store
    # for the own-reference source, scripts/bench_estimate.py)
    return con.execute(f"SELECT EXISTS ({src.sql})", src.params).fetchone()[0]


def _empty(key, by, detector, weight, method, notes, n_human=0, n_machine=0,
           human_ref="") -> GroupResult:
    nan = float("nan")
    return GroupResult(Estimate(
        group=dict(zip(by, key, strict=True)), n_docs=0, n_tokens=0, fraction=nan, ci_low=nan, ci_high=nan,
        method=method, detector=detector, n_human_ref=n_human, n_machine_ref=n_machine,
        human_ref=human_ref, floor=None, weight=weight, notes=tuple(notes),
        status=Status.NO_ESTIMATE.value))


__all__ = ["estimate_db", "GroupResult"]
