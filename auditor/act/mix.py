"""A mixture that stays inside a collapse tolerance, losing as little human data as possible.

The collapse model answers the inverse question (`auditor.collapse.max_tolerable_alpha`): the
largest synthetic share alpha* that keeps a metric within a tolerance for N generations under a
regime. A corpus is a mixture of sources with their own synthetic fractions (estimated per
source), and every source feeds the same training mixture, so the mixture's alpha is the
share-weighted mean of the sources' fractions (`auditor.collapse.schedule.mix_alpha`).

Down-weighting source s to w_s (0..1 of its documents) costs (1 - w_s) n_s (1 - a_s) human
documents and must bring sum w_s n_s (a_s - alpha*) <= 0. That is a linear programme with one
constraint and box bounds, whose optimum is greedy: cut the sources with the most excess
synthetic share per human document lost, (a_s - alpha*) / (1 - a_s), first, and the last one
only as far as needed. The plan is then projected with the same Monte Carlo draws as the search
and, should the projection still break the tolerance (the metric need not be monotone in alpha
at Monte Carlo resolution), alpha* is lowered one step and the weights recomputed, so the
returned weights never break the tolerance in their own projection.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from auditor.estimate.choice import N_BOOT


@dataclass(frozen=True)
class SourceMix:
    source: str
    n_docs: int
    fraction: float  # estimated synthetic fraction (or its upper bound with conservative)
    weight: float  # share of the source's documents to keep in the mixture
    headroom: float  # largest fraction this source may have with the others as they are
    human_lost: float  # human documents given up by the weight
    machine_removed: float


@dataclass(frozen=True)
class MixPlan:
    metric: str
    tolerance: float
    regime: str
    generations: int
    model: str
    max_alpha: float  # the collapse model's answer: largest constant synthetic share
    target_alpha: float  # what the weights aim at (max_alpha, lowered if the check demanded)
    alpha_before: float
    alpha_after: float
    sources: tuple[SourceMix, ...]
    curve_before: tuple[dict, ...]  # per generation: value, low, high, ratio to generation 0
    curve_after: tuple[dict, ...]
    within_before: bool
    within_after: bool
    human_lost: float  # human documents given up by the weights
    notes: tuple[str, ...] = field(default_factory=tuple)
    filter_rule: str = ""  # a score filter applied before weighting ("" = none)
    filter_human_lost: float = 0.0  # human documents that filter drops (estimated)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = [asdict(s) for s in self.sources]
        d["curve_before"], d["curve_after"] = list(self.curve_before), list(self.curve_after)
        d["notes"] = list(self.notes)
        return _clean(d)


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def mix_weights(sources: dict[str, tuple[float, float]], target: float
                ) -> dict[str, float]:
    """Weights in [0, 1] per source {name: (documents, synthetic fraction)} that bring the
    mixture's synthetic share to at most `target` while giving up the fewest human documents
    (the greedy optimum of the linear programme above)."""
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target alpha must be in [0, 1], got {target}")
    weights = {s: 1.0 for s in sources}
    excess = sum(n * (a - target) for n, a in sources.values())
    total = sum(n for n, _ in sources.values())
    eps = 1e-12 * max(total, 1.0)  # excess within rounding: nothing more to give up
    if excess <= eps:
        return weights

    def efficiency(item: tuple[str, tuple[float, float]]) -> float:
        _, (_, a) = item
        return math.inf if a >= 1.0 else (a - target) / (1.0 - a)

    for name, (n, a) in sorted(sources.items(), key=efficiency, reverse=True):
        if a <= target or n <= 0 or excess <= eps:
            break
        gain = n * (a - target)  # excess removed by dropping the whole source
        if gain >= excess:
            weights[name] = 0.0 if gain - excess <= eps else 1.0 - excess / gain
            return weights
        weights[name] = 0.0
        excess -= gain
    return weights  # every source above target dropped; what is left is at most target


def _curve(profile, regime: str, metric: str) -> list[dict]:
    rows = profile.series(regime, metric)
    base = rows[0].value
    return [{"generation": r.generation, "alpha": r.alpha, "value": r.value, "low": r.low,
             "high": r.high, "ratio": (r.value / base) if base else math.inf} for r in rows]


def _within(curve: list[dict], worse: str, tolerance: float) -> bool:
    """The criterion of `auditor.collapse.tolerance`: every generation >= 1 within the
    tolerance of generation 0 in the metric's bad direction."""
    for row in curve[1:]:
        r = row["ratio"]
        if not math.isfinite(r):
            return False
        if worse == "up" and r > 1.0 + tolerance:
            return False
        if worse == "down" and r < 1.0 - tolerance:
            return False
    return True


def plan_mix_from_fractions(sources: dict[str, tuple[float, float]], metric: str,
                            tolerance: float, regime: str, generations: int,
                            model: str = "gaussian", seed: int = 0, n_runs: int | None = None,
                            **params: Any) -> MixPlan:
    """The plan for sources {name: (documents, synthetic fraction)}; see `plan_mix`."""
    from auditor.collapse import collapse_profile, make_family, max_tolerable_alpha
    from auditor.collapse.schedule import mix_alpha

    if not sources:
        raise ValueError("no sources to mix")
    for name, (n, a) in sources.items():
        if not (n >= 0 and 0.0 <= a <= 1.0):
            raise ValueError(f"source {name!r}: need documents >= 0 and a fraction in [0, 1], "
                             f"got ({n}, {a})")
    fam = make_family(model, **params)
    spec = next((s for s in fam.metrics if s.name == metric), None)
    if spec is None:
        raise ValueError(f"metric {metric!r} is not a {fam.name} metric; choose from "
                         f"{', '.join(s.name for s in fam.metrics)}")
    a_max = max_tolerable_alpha(metric, tolerance, generations, regime, fam, seed=seed,
                                n_runs=n_runs)
    step = max(0.005, 1.0 / fam.samples)
    alpha_before, _ = mix_alpha(sources)

    def project(mix: dict[str, tuple[float, float]]) -> list[dict]:
        prof = collapse_profile(mix, regimes=(regime,), generations=generations, model=fam,
                                seed=seed, n_runs=n_runs)
        return _curve(prof, regime, metric)

    before = project(sources)
    notes: list[str] = []
    target = a_max
    while True:
        weights = mix_weights(sources, target)
        kept = {s: (n * weights[s], a) for s, (n, a) in sources.items() if n * weights[s] > 0}
        if not kept:
            after, alpha_after = [], 0.0
            notes.append("no source can stay: even real data alone breaks the tolerance")
            break
        alpha_after, _ = mix_alpha(kept)
        after = project(kept)
        if _within(after, spec.worse, tolerance) or target <= 0:
            break
        notes.append(f"projection at alpha {alpha_after:.4f} broke the tolerance; target "
                     f"lowered from {target:.4f}")
        target = max(0.0, round(target - step, 6))
    total = sum(n for n, _ in sources.values())
    rows = []
    for s, (n, a) in sorted(sources.items()):
        others = sum(m * b for t, (m, b) in sources.items() if t != s)
        headroom = (a_max * total - others) / n if n else 0.0
        w = weights[s]
        rows.append(SourceMix(s, int(n), a, w, min(1.0, max(0.0, headroom)),
                              (1 - w) * n * (1 - a), (1 - w) * n * a))
    if a_max == 0.0:
        notes.append("the tolerance is tighter than real data alone allows (max alpha 0)")
    return MixPlan(metric, tolerance, regime, generations, fam.name, a_max, target,
                   alpha_before, alpha_after, tuple(rows), tuple(before), tuple(after),
                   _within(before, spec.worse, tolerance),
                   bool(after) and _within(after, spec.worse, tolerance),
                   sum(r.human_lost for r in rows), tuple(notes))


def plan_mix(db_path: str | os.PathLike, metric: str = "risk_ratio", tolerance: float = 0.1,
             regime: str = "accumulate", generations: int = 5, model: str = "gaussian",
             conservative: bool = False, detector: str | None = None, seed: int = 0,
             n_runs: int | None = None, n_boot: int = N_BOOT,
             filter_threshold: float | None = None, protect_pre_cutoff: bool = True,
             per_source_threshold: bool = False, **params: Any) -> MixPlan:
    """Per-source weights for the store at `db_path` (sources and their estimated synthetic
    fractions from `estimate_db` by source; with `conservative`, the upper ends of their 95%
    intervals, so the tolerance holds for any fraction the estimate allows).

    With `filter_threshold` t, the rule `--drop "score:<detector> > t"` (pre-cutoff documents
    protected) is applied first and the weights act on what it keeps, with the synthetic
    fraction left that `auditor.act.tradeoff` estimates: a filter gives up few human documents
    per machine document removed, weights give up whole sources, so the two together usually
    keep more human text than weights alone. With `per_source_threshold` the filter cuts each
    source at its own threshold from the audit (`--drop "score:<detector> > source_threshold"`)
    instead of one `filter_threshold`."""
    from auditor.estimate import estimate_db

    db = os.fspath(db_path)
    if not os.path.exists(db):
        raise FileNotFoundError(f"no store at {db}: run `auditor scan INPUT --db {db}` first")
    filter_rule, filter_lost = "", 0.0
    if filter_threshold is not None and per_source_threshold:
        raise ValueError("give either a filter threshold or per-source thresholds, not both")
    if filter_threshold is None and not per_source_threshold:
        ests = [e for e in estimate_db(db, by=("source",), detector=detector, n_boot=n_boot,
                                       seed=seed, record=False) if e.group]
        usable = {str(e.group["source"]): (float(e.n_docs),
                                           e.ci_high if conservative else e.fraction)
                  for e in ests if e.n_docs and math.isfinite(e.ci_high if conservative
                                                              else e.fraction)}
        every = [str(e.group["source"]) for e in ests]
        extra = [f"fractions: estimate_db by source ({'95% upper bounds' if conservative else 'point estimates'}), "
                 f"detector {ests[0].detector if ests else detector}"]
    else:
        from auditor.act.tradeoff import filter_tradeoff

        if conservative:
            raise ValueError("conservative applies to estimates without a filter; the "
                             "fraction left after a filter has no interval yet")
        if per_source_threshold:
            curve = filter_tradeoff(db, detector, [], True, seed=seed,
                                    per_source_threshold=True)
            points = [p for p in curve.at_source_thresholds if p.source]
            filter_rule = (f"score:{curve.detector} > source_threshold (pre-cutoff kept): "
                           + ", ".join(f"{p.source} {p.threshold:.4g} "
                                       f"({curve.source_thresholds[p.source]['origin']})"
                                       for p in points))
        else:
            curve = filter_tradeoff(db, detector, [float(filter_threshold)],
                                    protect_pre_cutoff, seed=seed)
            points = [p for p in curve.points if p.source]
            filter_rule = (f"score:{curve.detector} > {float(filter_threshold):g}"
                           + (" (pre-cutoff kept)" if protect_pre_cutoff else ""))
        usable = {p.source: (float(p.n_kept), p.fraction_left) for p in points
                  if p.n_kept and math.isfinite(p.fraction_left)}
        every = [p.source for p in points]
        filter_lost = sum(p.human_lost for p in points if p.source in usable)
        extra = [f"filter {filter_rule} first: fractions left and human documents lost from "
                 "auditor.act.tradeoff", *curve.notes]
    if not usable:
        raise ValueError(f"{db}: no source has an estimate to mix")
    plan = plan_mix_from_fractions(usable, metric, tolerance, regime, generations, model,
                                   seed=seed, n_runs=n_runs, **params)
    left_out = sorted(s for s in every if s not in usable)
    if left_out:
        extra.append(f"sources without an estimate, left out: {', '.join(left_out)}")
    return MixPlan(**{**asdict(plan), "sources": plan.sources,
                      "curve_before": plan.curve_before, "curve_after": plan.curve_after,
                      "notes": (*extra, *plan.notes), "filter_rule": filter_rule,
                      "filter_human_lost": filter_lost})


def mix_markdown(plan: MixPlan) -> str:
    """The plan as Markdown: weights per source and the projected curve before and after."""
    lines = [f"Mix within {plan.metric} tolerance {plan.tolerance:g} ({plan.regime}, "
             f"{plan.generations} generations, {plan.model} model): largest synthetic share "
             f"{plan.max_alpha:.3f}; mixture {plan.alpha_before:.3f} -> {plan.alpha_after:.3f}"
             + (f" after the filter {plan.filter_rule} (human documents it drops: "
                f"{plan.filter_human_lost:.0f})" if plan.filter_rule else "")
             + f"; human documents the weights give up: {plan.human_lost:.0f}",
             "", "| source | documents | synthetic | may carry (others as is) | weight | "
             "human lost | machine removed |", "|---|---:|---:|---:|---:|---:|---:|"]
    for s in plan.sources:
        lines.append(f"| {s.source} | {s.n_docs} | {s.fraction:.3f} | {s.headroom:.3f} | "
                     f"{s.weight:.3f} | {s.human_lost:.0f} | {s.machine_removed:.0f} |")
    lines += ["", f"| generation | {plan.metric} before (ratio) | after (ratio) |",
              "|---:|---:|---:|"]
    for b, a in zip(plan.curve_before, plan.curve_after, strict=False):
        lines.append(f"| {b['generation']} | {b['value']:.4g} ({b['ratio']:.3f}) | "
                     f"{a['value']:.4g} ({a['ratio']:.3f}) |")
    return "\n".join(lines) + "\n"


def mix_html(plan: MixPlan) -> str:
    """The plan as an HTML fragment (every value escaped), for the HTML report."""
    import html

    e = html.escape
    head = ("<tr><th>source</th><th>documents</th><th>synthetic</th>"
            "<th>may carry (others as is)</th><th>weight</th><th>human lost</th>"
            "<th>machine removed</th></tr>")
    body = "".join(
        f"<tr><td>{e(s.source)}</td><td>{s.n_docs}</td><td>{s.fraction:.3f}</td>"
        f"<td>{s.headroom:.3f}</td><td>{s.weight:.3f}</td><td>{s.human_lost:.0f}</td>"
        f"<td>{s.machine_removed:.0f}</td></tr>" for s in plan.sources)
    curve = "".join(
        f"<tr><td>{b['generation']}</td><td>{b['ratio']:.3f}</td><td>{a['ratio']:.3f}</td></tr>"
        for b, a in zip(plan.curve_before, plan.curve_after, strict=False))
    return (f'<figure class="mix"><figcaption>Mix within {e(plan.metric)} tolerance '
            f"{plan.tolerance:g} ({e(plan.regime)}, {plan.generations} generations): largest "
            f"synthetic share {plan.max_alpha:.3f}; mixture {plan.alpha_before:.3f} &rarr; "
            f"{plan.alpha_after:.3f}</figcaption><table>{head}{body}</table>"
            f"<table><tr><th>generation</th><th>{e(plan.metric)} / generation 0, before</th>"
            f"<th>after</th></tr>{curve}</table></figure>")
