"""Validate the estimators on corpora like a user's: unseen repositories, generators and
domains, and real pre-2022 crawl documents; then in-distribution, labelled so.

Writes reports/estimation.md, leading with:

1. Leave one repository out (LORO), over every labeled repository (dev.parquet + extra.parquet)
   with human and machine text in one domain. The shipped classifier was trained on all of
   them, so its own scores are in distribution; this uses OUT-OF-FOLD scores instead
   (scripts/oof_scores.py writes .bench/oof_scores.parquet): per held-out repository, a model
   trained with the shipped recipe without it scored its rows (role target) and the other
   repositories' calib rows (role reference). Per source (a domain of the held-out repository):
   a human reference of the source's own human rows (its "pre-cutoff documents"), a disjoint
   target of human rows plus machine rows of that repository at a known fraction, and as
   machine reference the fold's reference machine rows, so the target's generators, wording and
   domain are unseen by the detector AND by the machine reference. Estimated by the very
   functions `estimate_db` uses (`cells.estimate_cells`, `combine_cells`,
   `choice.auto_method`).
2. Real crawl documents (../shared/data/crawl), scanned with the real readers (`auditor scan`,
   date columns found by default names) and estimated with `estimate_db --by source`: once
   with their real dates (pre-2022 samples are pre-cutoff references), once as a user without
   dates would (every document treated as post-cutoff: `--cutoff 1990-01-01`), where the
   pre-2022 samples are pure human and must read about 0.

In-distribution results (dev.parquet domains the classifier was calibrated on) follow. For those,
per source (a domain of the labeled development set with
enough held-out human text: BBC XSum news, WritingPrompts stories, SQuAD Wikipedia contexts) and
each fraction (0, 1, 2.5, 5, 10, 20, 30, 50%), every replicate draws, with its own seed:

- a human reference from the source's human rows (splits calib/test: never trained on),
- a target of N documents: round(f * N) machine rows of the same domain (split test_generator,
  or for a detector trained on every repository the test rows of half of the generators by a
  hash of the name; the "target half" of them by a hash of the id)
  and the rest human rows of the same domain, disjoint from the reference,
- the machine reference of the shipped default: label ai, splits calib/test/test_generator of all
  domains, minus the target half (scenario "default"); or without any test_generator row
  (scenario "unseen generators": the generators in the target are absent from the reference).

Scores are the shipped detectors' own reference scores (detectors/models/references/<det>.parquet:
the shipped model version scored these very rows), so nothing is re-scored here. Each method
gets the same histograms the store path builds (`methods.reference_edges` / `histogram`, bins
from `bins_for`), and the same bootstrap (`bootstrap.estimate_with_interval`: target and both
references resampled). The floor is the estimate at a true 0 (a pure human target).

Usage: nice -n 10 python scripts/oof_scores.py   # once, if .bench/oof_scores.parquet is missing
       nice -n 10 python scripts/validate_estimation.py [--replicates 20] [--n-boot 100]
       [--loro-replicates 10]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auditor.estimate import methods as M  # noqa: E402
from auditor.estimate.bootstrap import Hist, estimate_with_interval  # noqa: E402
from auditor.estimate.choice import auto_method  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import validate_estimation_ood as OOD  # noqa: E402

FRACTIONS = (0.0, 0.01, 0.025, 0.05, 0.10, 0.20, 0.30, 0.50)
SOURCES = {  # domain -> (human reference size, target size)
    "news (BBC XSum)": (400, 600),
    "creative writing (Reddit WritingPrompts)": (320, 480),
    "wikipedia (SQuAD contexts)": (200, 290),
}
METHOD_ORDER = ("cc", "acc", "pcc", "pacc", "em", "hdy", "mlm", "mlms", "auto")
LORO_METHODS = ("auto", "mlm", "acc")
#: What `auto` required before this branch to leave acc (kept to report before/after).
OLD_AUTO_MIN_REF = 100
#: Methods whose in-distribution figures go through `estimate_one` (the cells path, with the
#: machine reference's raw scores that `mlms` needs), as `estimate_db` runs them.
CELLS_METHODS = ("mlms", "auto")


def target_half(doc_id: str) -> bool:
    return int(hashlib.sha1(doc_id.encode()).hexdigest()[:8], 16) % 2 == 0


def load(detector: str):
    path = REPO / "detectors" / "models" / "references" / f"{detector}.parquet"
    t = pq.read_table(path, columns=["id", "score", "label", "domain", "split",
                                     "generator"]).to_pydict()
    return {k: np.asarray(v) for k, v in t.items()}


def unseen_generators(d: dict) -> np.ndarray:
    """Rows of generators the detector did not train on: split test_generator where the
    reference file has one; otherwise (a detector trained on every labeled repository, which
    keeps no such split) the test rows of half of the generators, by a hash of the name, whose
    rows the machine reference then leaves out (scenario "unseen generators")."""
    if np.any(d["split"] == "test_generator"):
        return d["split"] == "test_generator"
    gen = np.array([target_half(f"gen:{g}") for g in d["generator"]])
    return (d["split"] == "test") & gen


def run(detector: str, scenario: str, replicates: int, n_boot: int) -> list[dict]:
    d = load(detector)
    ok = np.isfinite(d["score"].astype(float))
    is_tg = unseen_generators(d)
    half = np.array([target_half(i) for i in d["id"]])
    machine_ref_mask = ok & (d["label"] == "ai") & np.isin(d["split"], ["calib", "test",
                                                                         "test_generator"])
    machine_ref_mask &= ~(is_tg & half) if scenario == "default" else ~is_tg
    machine_ref = d["score"][machine_ref_mask].astype(float)
    rows = []
    for s_i, (domain, (n_ref, n_target)) in enumerate(SOURCES.items()):
        human = d["score"][ok & (d["label"] == "human") & (d["domain"] == domain)
                           & np.isin(d["split"], ["calib", "test"])].astype(float)
        machine = d["score"][ok & (d["label"] == "ai") & (d["domain"] == domain) & is_tg
                             & half].astype(float)
        for f_i, frac in enumerate(FRACTIONS):
            k = int(round(frac * n_target))
            if k > len(machine):  # this source lacks machine rows for the fraction: skipped
                continue
            for rep in range(replicates):
                seed = 1_000_000 * s_i + 1000 * f_i + rep
                h_ref, target = OOD.draw_corpus(human, machine, n_ref, n_target, k, seed)
                truth = k / len(target)
                edges = M.reference_edges(h_ref, machine_ref)
                H, MM, T = (Hist.of(M.histogram(x, edges)) for x in (h_ref, machine_ref, target))
                auto, _ = auto_method(len(h_ref), len(machine_ref), False)
                for method in METHOD_ORDER:
                    name = auto if method == "auto" else method
                    if method in CELLS_METHODS:
                        iv = OOD.estimate_one(h_ref, machine_ref, target, method, n_boot, seed)
                    else:
                        iv = estimate_with_interval(name, H, MM, T, n_boot=n_boot, seed=seed)
                    rows.append(dict(source=domain, fraction=frac, truth=truth, rep=rep,
                                     method=method, est=iv.fraction, lo=iv.ci_low,
                                     hi=iv.ci_high))
    return rows


def summarise(rows: list[dict]):
    import collections

    cell = collections.defaultdict(list)
    for r in rows:
        cell[(r["method"], r["fraction"])].append(r)
    return cell


def table(rows: list[dict], what: str, order=METHOD_ORDER) -> list[str]:
    cell = summarise(rows)
    head = "| method | " + " | ".join(f"{100 * f:g}%" for f in FRACTIONS) + " | 0-30% |"
    out = [head, "|" + "---|" * (len(FRACTIONS) + 2)]
    for m in order:
        vals, pooled = [], []
        for f in FRACTIONS:
            rs = cell[(m, f)]
            if not rs:
                vals.append("-")
                continue
            if what == "mae":
                v = np.mean([abs(r["est"] - r["truth"]) for r in rs]) * 100
                vals.append(f"{v:.2f}")
            elif what == "coverage":
                v = np.mean([r["lo"] <= r["truth"] <= r["hi"] for r in rs]) * 100
                vals.append(f"{v:.0f}%")
            elif what == "width":
                v = np.mean([r["hi"] - r["lo"] for r in rs]) * 100
                vals.append(f"{v:.1f}")
            if f <= 0.30:
                pooled += rs
        if what == "mae":
            tot = f"**{np.mean([abs(r['est'] - r['truth']) for r in pooled]) * 100:.2f}**"
        elif what == "coverage":
            tot = f"**{np.mean([r['lo'] <= r['truth'] <= r['hi'] for r in pooled]) * 100:.0f}%**"
        else:
            tot = f"{np.mean([r['hi'] - r['lo'] for r in pooled]) * 100:.1f}"
        label = "cc (biased baseline)" if m == "cc" else m
        out.append(f"| {label} | " + " | ".join(vals) + f" | {tot} |")
    return out


def floors(rows: list[dict]) -> list[str]:
    out = ["| method | " + " | ".join(s.split(" (")[1].rstrip(")") for s in SOURCES)
           + " | all (95th pct) |", "|" + "---|" * (len(SOURCES) + 2)]
    for m in METHOD_ORDER:
        vals = []
        for s in SOURCES:
            est = [r["est"] for r in rows if r["method"] == m and r["fraction"] == 0
                   and r["source"] == s]
            vals.append(f"{100 * np.mean(est):.2f}")
        every = [r["est"] for r in rows if r["method"] == m and r["fraction"] == 0]
        label = "cc (biased baseline)" if m == "cc" else m
        out.append(f"| {label} | " + " | ".join(vals)
                   + f" | {100 * np.mean(every):.2f} ({100 * np.quantile(every, 0.95):.2f}) |")
    return out


def per_source(rows: list[dict], method: str) -> list[str]:
    out = ["| source | MAE 0-30% (points) | coverage 0-30% | MAE at 50% |", "|---|---|---|---|"]
    for s in SOURCES:
        rs = [r for r in rows if r["method"] == method and r["source"] == s]
        low = [r for r in rs if r["fraction"] <= 0.30]
        hi = [r for r in rs if r["fraction"] == 0.50]
        out.append(f"| {s} | {100 * np.mean([abs(r['est'] - r['truth']) for r in low]):.2f} | "
                   f"{100 * np.mean([r['lo'] <= r['truth'] <= r['hi'] for r in low]):.0f}% | "
                   f"{100 * np.mean([abs(r['est'] - r['truth']) for r in hi]):.2f} |")
    return out


def auc(human: np.ndarray, machine: np.ndarray) -> float:
    """P(machine score > human score): how well the detector separates the two references."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(machine, human).statistic / (len(machine) * len(human)))


def separation(detector: str) -> dict[str, float]:
    d = load(detector)
    ok = np.isfinite(d["score"].astype(float))
    machine = d["score"][ok & (d["label"] == "ai") & np.isin(
        d["split"], ["calib", "test", "test_generator"])].astype(float)
    out = {}
    for domain in SOURCES:
        human = d["score"][ok & (d["label"] == "human") & (d["domain"] == domain)
                           & np.isin(d["split"], ["calib", "test"])].astype(float)
        out[domain] = auc(human, machine)
    return out


def why_missed(detector: str, method: str, mae: float, cov: float, floor: float,
               aucs: dict[str, float], best: tuple[str, float]) -> str:
    """A plain reason for each missed target, from the figures measured in this run."""
    missed = [name for name, bad in (("MAE", mae > 2), ("coverage", cov < 90),
                                     ("floor", floor >= 1)) if bad]
    worst = min(aucs.values())
    parts = [f"{detector} / {method} misses {', '.join(missed)}:"]
    if method == "cc":
        parts.append("classify-and-count reads the false-positive rate at a true 0 and has "
                     "slope TPR - FPR; it is shown only as the biased baseline.")
    elif worst < 0.95:
        parts.append(f"the detector separates human from machine text weakly here (AUC "
                     f"{worst:.3f} on the hardest source; {best[0]} has {best[1]:.3f}), so the "
                     "mixture is poorly identified and single estimates scatter by several points; "
                     "at a true 0 their mean is positive because estimates are clipped at 0 "
                     "(the floor is that mean). Use a stronger detector (classifier) or larger "
                     "references; the intervals are wide accordingly.")
    elif method == "acc":
        parts.append("acc uses one threshold, so it throws away most of the score distribution; "
                     "with a few hundred human references its false-positive rate is noisy and "
                     "its clipped estimates at 0 average about 1 point. `auto` uses mlm when "
                     "references allow.")
    else:
        parts.append("see the tables above.")
    return " ".join(parts)


def verdict(rows: list[dict], method: str) -> tuple[float, float, float]:
    low = [r for r in rows if r["method"] == method and r["fraction"] <= 0.30]
    mae = 100 * np.mean([abs(r["est"] - r["truth"]) for r in low])
    cov = 100 * np.mean([r["lo"] <= r["truth"] <= r["hi"] for r in low])
    floor = 100 * np.mean([r["est"] for r in low if r["fraction"] == 0])
    return mae, cov, floor


def error_cells(rs: list[dict]) -> str:
    """`MAE | coverage | bias | floor` table cells (points) of a set of estimate rows; the
    floor is the mean estimate of its pure-human (0%) rows."""
    zero = [r["est"] for r in rs if r["fraction"] == 0]
    return (f"{100 * np.mean([abs(r['est'] - r['truth']) for r in rs]):.2f} | "
            f"{100 * np.mean([r['lo'] <= r['truth'] <= r['hi'] for r in rs]):.0f}% | "
            f"{100 * np.mean([r['est'] - r['truth'] for r in rs]):+.2f} | "
            f"{100 * np.mean(zero):.2f}")


def with_auto_before(rows: list[dict]) -> list[dict]:
    """Add method `auto (before)`: what `auto` chose before this branch (acc below 100
    human reference documents, mlms from 100), from the acc and auto rows of the same draw."""
    extra = []
    for r in rows:
        if (r["method"] == "acc" and r["n_ref"] < OLD_AUTO_MIN_REF) or (
                r["method"] == "auto" and r["n_ref"] >= OLD_AUTO_MIN_REF):
            extra.append({**r, "method": "auto (before)"})
    return rows + extra


def loro_section(replicates: int, n_boot: int, say=print) -> tuple[list[str], list]:
    t0 = time.time()
    rows = with_auto_before(OOD.run_loro(FRACTIONS, replicates, n_boot, LORO_METHODS, say=say))
    secs = time.time() - t0
    say(f"LORO: {len(rows)} estimates in {secs:.0f}s")
    methods = (*LORO_METHODS, "auto (before)")
    sources = list(dict.fromkeys(r["source"] for r in rows))
    repos = sorted({r["repo"] for r in rows})
    lines = [
        "## 1. Leave one repository out (headline)", "",
        "Scores are OUT OF FOLD (`scripts/oof_scores.py`, .bench/oof_scores.parquet): for each "
        "held-out repository, a classifier trained with the shipped recipe on every other "
        "labeled repository (dev.parquet + extra.parquet) scored that repository's rows, and "
        "the other repositories' calib rows (its fold reference). Per source (a domain of the "
        "held-out repository, at most "
        f"{OOD.MAX_DOMAINS} per repository, those with the most human rows): human reference = "
        "the source's own human rows (as its pre-cutoff documents would be; 40% of them, "
        f"{OOD.MIN_REF}-{OOD.MAX_REF}); target = other human rows of the source plus that "
        "repository's machine rows at the stated fraction (variants "
        f"{', '.join(OOD.MACHINE_VARIANTS)}; attacks, perturbations, back-translation and "
        f"polish left out; at most {OOD.MAX_TARGET} documents); machine reference = the fold's "
        "reference machine rows (other repositories only). So the held-out repository's "
        "generators, wording and domain are unseen by the detector AND by the machine "
        f"reference. {len(sources)} sources from {len(repos)} of the 10 labeled repositories "
        "(DNA-GPT has no machine rows and zippy no domain with both labels: left out). "
        "Fractions whose machine rows a source lacks are skipped for it. "
        f"{replicates} replicates per cell, {n_boot} bootstrap replicates; estimates are the "
        "post-cutoff share, computed by `cells.estimate_cells` + `combine_cells` as in "
        f"`estimate_db`. Run time {secs:.0f}s.", "",
        "Mean absolute error (points):", "", *table(rows, "mae", methods), "",
        "95%-interval coverage:", "", *table(rows, "coverage", methods), "",
        "Mean interval width (points):", "", *table(rows, "width", methods), "",
        "By human-reference size (0-30%; `auto (before)` is acc below "
        f"{OLD_AUTO_MIN_REF} references, as `auto` chose before; the floor is the mean estimate "
        "on pure human targets, its median beside it, and the share of those pure-human "
        "intervals that include 0):", "",
        "| human reference | sources | method | MAE | coverage | floor mean | floor median | "
        "0 in interval at 0% |", "|---|---|---|---|---|---|---|---|"]
    bands = (("50-99", 0, 100), ("100-299", 100, 300), ("300", 300, 10**9))
    for label, lo_n, hi_n in bands:
        band = [r for r in rows if lo_n <= r["n_ref"] < hi_n and r["fraction"] <= 0.30]
        n_src = len({r["source"] for r in band})
        if not band:
            continue
        for m in methods:
            rs = [r for r in band if r["method"] == m]
            zero = [r for r in rs if r["fraction"] == 0]
            lines.append(
                f"| {label} | {n_src} | {m} | "
                f"{100 * np.mean([abs(r['est'] - r['truth']) for r in rs]):.2f} | "
                f"{100 * np.mean([r['lo'] <= r['truth'] <= r['hi'] for r in rs]):.0f}% | "
                f"{100 * np.mean([r['est'] for r in zero]):.2f} | "
                f"{100 * np.median([r['est'] for r in zero]):.2f} | "
                f"{100 * np.mean([r['lo'] <= 1e-12 for r in zero]):.0f}% |")
    lines += ["", "Per repository (auto, 0-30%):", "",
              "| held-out repository | sources | MAE | coverage | bias | floor |",
              "|---|---|---|---|---|---|"]
    for repo in repos:
        rs = [r for r in rows if r["method"] == "auto" and r["repo"] == repo
              and r["fraction"] <= 0.30]
        lines.append(f"| {repo} | {len({r['source'] for r in rs})} | {error_cells(rs)} |")
    lines += ["", "Per source: separation and `auto` (0-30%). AUC = P(machine > human):", "",
              "| source | ref/target | AUC target machine vs human | AUC fold machine ref vs "
              "human | MAE | coverage | bias | floor |", "|---|---|---|---|---|---|---|---|"]
    aucs = OOD.loro_auc()
    for src in sources:
        a1, a2, _m1, _m2, _nh, _nm, (n_ref, n_t) = aucs[src]
        rs = [r for r in rows if r["method"] == "auto" and r["source"] == src
              and r["fraction"] <= 0.30]
        lines.append(f"| {src} | {n_ref}/{n_t} | {a1:.3f} | {a2:.3f} | {error_cells(rs)} |")
    summary = []
    for m in methods:
        mae, cov, floor = verdict(rows, m)
        summary.append(("classifier (out of fold)", "LORO, all repositories", m, mae, cov, floor))
    small = [r for r in rows if r["n_ref"] < OLD_AUTO_MIN_REF and r["fraction"] <= 0.30]

    def band(m: str) -> tuple[float, float, float]:
        rs = [r for r in small if r["method"] == m]
        return (100 * np.mean([abs(r["est"] - r["truth"]) for r in rs]),
                100 * np.mean([r["lo"] <= r["truth"] <= r["hi"] for r in rs]),
                100 * np.mean([r["est"] for r in rs if r["fraction"] == 0]))

    (b_mae, b_cov, b_fl), (a_mae, a_cov, a_fl) = band("auto (before)"), band("auto")
    bias = 100 * np.mean([r["est"] - r["truth"] for r in rows if r["method"] == "auto"
                          and 0 < r["fraction"] <= 0.30])
    lines += stack_paragraph()
    lines += [
        "", "Reading the figures:", "",
        "- Floor. An estimate confined to [0, 1] cannot be unbiased at a true 0 unless it is "
        "exactly 0 every time: when the raw estimate scatters with spread s around 0, its "
        "clipped mean is about 0.4 s while its median stays 0 (floor mean vs median above). So "
        "the floor grows with the spread, i.e. with small references and with methods that "
        "use little of the score distribution (acc: one threshold). The change made here "
        "lowers the spread rather than hiding it: `auto` uses the mixture MLE from 50 human "
        "references (the store's minimum before it borrows) instead of acc below 100, decided "
        "from simulation and the in-distribution dev splits, not from these corpora "
        "(tests/test_estimate_choice_small.py, `choice.AUTO_MIN_REF`). Measured here on the "
        f"sources with 50-99 references, before -> after: floor {b_fl:.2f} -> {a_fl:.2f} "
        f"points, MAE {b_mae:.2f} -> {a_mae:.2f}, coverage {b_cov:.0f}% -> {a_cov:.0f}%. The "
        "narrower mixture-MLE intervals cover less where the estimate is biased (next point); "
        "the lower end of every interval is reported as is, and every pure-human interval "
        "above includes 0.",
        f"- Bias. Over true fractions 1-30% `auto` reads {bias:+.2f} points on average: the "
        "held-out repository's machine text scores less extreme than the fold's machine "
        "reference (AUC target machine vs human well below the reference's in the per-source "
        "table: fast-detect-gpt, Binoculars, OUTFOX continuations and essays), and a machine "
        "component shifted toward human scores is not identified from scores alone (a "
        "two-sided shift, tried on the demo corpus, overshot: science 32% and stories 71% "
        "against 17% and 47% true), so `mlms` shifts only upward. This underestimate, not the "
        "floor, is what misses the MAE and coverage targets; the excess-vocabulary bound "
        "(reference-free) is the cross-check in that direction on dated corpora; a "
        "machine reference generated from the source's own pre-cutoff documents (issue 10, "
        "item 2) is measured in section 1b.", ""]
    return lines + [""], summary


RULE_LABELS = {"shared": "shared reference (as above)", "alone": "generated alone",
               "mixed": "generated + shared (half each)"}


def pick_rule(rows: list[dict]) -> str:
    """The machine-reference rule decided on the development repositories only: the lowest MAE
    over 0-30% among the generated rules whose coverage there is at least 90% and floor at most
    1 point (else the lowest MAE); "shared" when neither beats it."""
    dev = [r for r in rows if r["dev"]]
    stats = {m: verdict(dev, m) for m in OOD.REF_RULES}
    ok = [m for m in ("alone", "mixed") if stats[m][1] >= 90 and stats[m][2] <= 1] or \
        ["alone", "mixed"]
    best = min(ok, key=lambda m: stats[m][0])
    return best if stats[best][0] < stats["shared"][0] else "shared"


def generated_section(replicates: int, n_boot: int, say=print) -> tuple[list[str], list]:
    """Rows for machine references generated from each LORO source's own human text."""
    from auditor.estimate.choice import AUTO_MIN_REF
    from auditor.estimate.generated import GENERATED_RULE, USE_BY_DEFAULT

    t0 = time.time()
    rows = OOD.run_loro_generated(FRACTIONS, replicates, n_boot, say=say)
    secs = time.time() - t0
    say(f"LORO generated: {len(rows)} estimates in {secs:.0f}s")
    from loro_generated import all_texts

    texts = all_texts()
    n_gen = sorted({r["n_generated"] for r in rows})
    rule = pick_rule(rows)
    dev_repos = sorted({r["repo"] for r in rows if r["dev"]})
    rep_repos = sorted({r["repo"] for r in rows if not r["dev"]})
    n_src = {d: len({r["source"] for r in rows if r["dev"] == d}) for d in (True, False)}
    words = [len(t.split()) for t in texts["text"]]
    lines = [
        "## 1b. Machine reference generated from the source's own documents (issue 10, item 2)",
        "",
        f"Same corpora, draws and seeds as section 1, for {n_src[True] + n_src[False]} of its "
        "sources: at most two per repository were planned (those with the most human rows, "
        "development repositories first), and generation on the 2 shared CPU cores (5-16 "
        "minutes a source, 14 for Chinese) limited the run to those generated before this "
        "section started; the others are left out of this section, not estimated otherwise. "
        "Per source, the offline SmolLM2-135M "
        "(`detectors.lm_generate`, as `auditor detectors generate` runs it) wrote "
        f"{'/'.join(map(str, n_gen))} texts from a seeded sample of the source's human rows "
        "(continue and rewrite prompts alternating; median "
        f"{int(np.median(words))} words a text), and the held-out repository's fold model (the "
        "shipped recipe trained without it, as for the out-of-fold scores) scored them "
        "(scripts/loro_generated.py; cached in .bench/). Each source's machine reference is "
        "then: the fold's shared reference (as in section 1); the generated texts alone; or "
        "both, half the weight each (`auditor.estimate.generated.source_machine`). Bins come "
        "from the human and the shared machine reference, as in the store; `auto` picks the "
        f"method for the resulting sizes (acc below {AUTO_MIN_REF} machine texts). "
        f"Run time {secs:.0f}s.", "",
        "The rule is decided on DEVELOPMENT repositories only (a hash of the name, fixed "
        f"before any result: {', '.join(dev_repos)}; {n_src[True]} sources): the lowest MAE over "
        "0-30% among the generated rules with coverage >= 90% and floor <= 1 point, if it beats "
        f"the shared reference. Chosen: **{RULE_LABELS[rule]}**. The product follows it "
        "(`auditor.estimate.generated`): "
        + (f"`USE_BY_DEFAULT = {USE_BY_DEFAULT}`, `GENERATED_RULE = {GENERATED_RULE!r}`"
           + ("" if (rule == "shared") == (not USE_BY_DEFAULT)
              and (rule == "shared" or rule == GENERATED_RULE)
              else " (**does not match: update the constants**)"))
        + ". The figures that judge it are those of the other repositories "
        f"({', '.join(rep_repos)}; {n_src[False]} sources).", ""]
    rep = [r for r in rows if not r["dev"]]
    judged = GENERATED_RULE
    (s_mae, s_cov, s_fl), (g_mae, g_cov, g_fl) = verdict(rep, "shared"), verdict(rep, judged)
    bias = {m: 100 * np.mean([r["est"] - r["truth"] for r in rep if r["method"] == m
                              and 0 < r["fraction"] <= 0.30]) for m in OOD.REF_RULES}
    helps = g_mae < s_mae and g_cov >= min(90.0, s_cov) and g_fl <= max(1.0, s_fl)
    lines += [
        f"Verdict on the reported repositories ({RULE_LABELS[judged]} against the shared "
        f"reference, 0-30%): MAE {s_mae:.2f} -> {g_mae:.2f} points, coverage {s_cov:.0f}% -> "
        f"{g_cov:.0f}%, floor {s_fl:.2f} -> {g_fl:.2f}; mean bias over 1-30% "
        + ", ".join(f"{RULE_LABELS[m]} {bias[m]:+.2f}" for m in OOD.REF_RULES) + ". "
        + ("It helps here" if helps else "It does not help here")
        + (" and is the default where a store keeps machine texts for a source."
           if USE_BY_DEFAULT else
           "; it stays an option (`auditor estimate --generated-reference`), off by default."),
        ""]
    for label, sel in (("Reported repositories (not used for the decision)", False),
                       ("Development repositories (used for the decision)", True)):
        part = [r for r in rows if r["dev"] == sel]
        lines += [f"{label}, mean absolute error (points):", "",
                  *table(part, "mae", OOD.REF_RULES), "",
                  f"{label}, 95%-interval coverage:", "",
                  *table(part, "coverage", OOD.REF_RULES), ""]
    lines += ["Per source (0-30%), MAE shared -> generated rule; AUC = P(machine > human) of "
              "the target's machine rows, of the shared reference and of the generated texts "
              "against the source's human rows:", "",
              "| source | dev | AUC target machine | AUC shared ref | AUC generated | MAE shared "
              "| MAE alone | MAE mixed | bias shared | bias mixed |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    aucs = OOD.loro_auc()
    gen = OOD.generated_scores() or {}
    from scipy.stats import mannwhitneyu

    for src in dict.fromkeys(r["source"] for r in rows):
        rs = [r for r in rows if r["source"] == src and r["fraction"] <= 0.30]
        repo = rs[0]["repo"]
        domain = src[:src.rindex(" [")]
        h = OOD.loro_sources(say=lambda *_: None)[(repo, domain)]["human"]
        g = gen[(repo, domain)]
        a_gen = float(mannwhitneyu(g, h).statistic / (len(g) * len(h)))

        def stat(m, what, rs=rs):
            x = [r for r in rs if r["method"] == m]
            if what == "mae":
                return 100 * np.mean([abs(r["est"] - r["truth"]) for r in x])
            return 100 * np.mean([r["est"] - r["truth"] for r in x if r["fraction"] > 0])

        lines.append(f"| {src} | {'yes' if rs[0]['dev'] else ''} | {aucs[src][0]:.3f} | "
                     f"{aucs[src][1]:.3f} | {a_gen:.3f} | {stat('shared', 'mae'):.2f} | "
                     f"{stat('alone', 'mae'):.2f} | {stat('mixed', 'mae'):.2f} | "
                     f"{stat('shared', 'bias'):+.2f} | {stat('mixed', 'bias'):+.2f} |")
    lines.append("")
    summary = []
    for m in OOD.REF_RULES:
        mae, cov, floor = verdict(rep, m)
        summary.append(("classifier (out of fold)",
                        f"LORO, reported repositories, {RULE_LABELS[m]}"
                        + (" (chosen on dev)" if m == rule else ""), "auto", mae, cov, floor))
    return lines, summary


def stack_paragraph() -> list[str]:
    """The same corpora estimated from the out-of-fold scores of the stack over the cheap
    scores (scripts/stack_search.py --estimate, figures in reports/stack_search.json; not
    re-measured here): whether the estimate moves with it."""
    path = REPO / "reports" / "stack_search.json"
    d = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    est = d.get("estimation")
    if not est:
        return []
    c, s = est["rows"]["classifier"], est["rows"]["stack"]
    shipped = "shipped as the default score" if d.get("ships") else \
        "not shipped: its detector TPR gain was below the bar"
    return ["", "The stack over the cheap scores (classifier + markers + excess_vocab, "
            f"[stack_search.md](stack_search.md), {shipped}) on the same draws, `auto`, "
            "0-30%: MAE "
            f"{s['mae']:.2f} points against {c['mae']:.2f} with the classifier's scores, "
            f"coverage {s['coverage']:.0f}% against {c['coverage']:.0f}%, floor {s['floor']:.2f} "
            f"against {c['floor']:.2f} ({est['replicates']} replicates, {est['n_boot']} "
            "bootstrap replicates; from reports/stack_search.json, not re-measured by this "
            "script). "
            + ("The estimate barely moves (under half a point)." if abs(s["mae"] - c["mae"]) < 0.5
               else f"The estimate's error moves by {s['mae'] - c['mae']:+.2f} points.")]


def loro_summary_rows(summary: list) -> list:
    """The leading verdict rows of section 1 (the generated rows go right after them)."""
    return [r for r in summary if r[0] == "classifier (out of fold)"
            and r[1] == "LORO, all repositories"]


def crawl_section(n_boot: int) -> tuple[list[str], list[str]]:
    views = OOD.crawl_rows(n_boot)
    lines = ["## 2. Real crawl samples (../shared/data/crawl)", "",
             "Scanned with `auditor scan ../shared/data/crawl --detectors "
             "classifier,excess_vocab` (real WARC/WET/JSONL/Parquet readers, dates from the "
             "default date fields), then `estimate_db(by=['source'])`. Every sample dated before "
             "2022-11-30 is pure human text. View A uses the real dates; view B rescans with "
             "`--cutoff 1990-01-01`, so nothing is pre-cutoff and every sample is estimated as "
             "unknown (what a user without dates gets): with no pre-cutoff documents of its own or of a "
             "similar source, a sample would be judged against the shipped benchmark human "
             "texts; it is then reported as \"no matching human reference\" with no point "
             "estimate, only [0, upper].", ""]
    verdicts = []
    for view, ests in views.items():
        lines += [f"### {view}", "",
                  "| source | status | docs | pre-cutoff | fraction | 95% CI | floor | human "
                  "reference | method | excess-vocab bound |", "|---|---|---|---|---|---|---|---|---|---|"]
        for e in ests:
            def pct(x):
                return "n/a" if x is None else f"{100 * x:.1f}%"
            ci = (f"[{pct(e['ci_low'])}, {pct(e['ci_high'])}]"
                  if e["ci_low"] is not None and e["ci_low"] == e["ci_low"] else "n/a")
            frac = pct(e["fraction"]) if e["fraction"] == e["fraction"] else "n/a"
            vocab = "n/a" if e.get("vocab_fraction") is None else (
                f"{pct(e['vocab_fraction'])} [{pct(e['vocab_ci_low'])}, "
                f"{pct(e['vocab_ci_high'])}]")
            src = str(e["group"].get("source"))
            lines.append(f"| {src} | {e['status']} | {e['n_docs']} | {e['n_pre_cutoff']} | "
                         f"{frac} | {ci} | {pct(e['floor'])} | {e['human_ref_kind'] or '-'} | "
                         f"{e['method']} | {vocab} |")
            pre2022 = any(y in src for y in ("2008", "2019", "2020"))
            if pre2022 and e["status"] not in ("too few documents",):
                ok = (e["status"] == "pre-cutoff reference"
                      or (e["fraction"] is not None and e["fraction"] <= 0.02
                          and (e["ci_low"] or 0.0) <= 1e-12))
                refused = e["status"] == "no matching human reference"
                verdicts.append(f"| {view} | {src} | {e['status']} | {frac} {ci} | "
                                + ("no point estimate (refused: only the upper bound)"
                                   if refused else ("yes" if ok else "**no**")) + " |")
        lines.append("")
    lines += ["Target: every pre-2022 sample reads at most 2% with an interval including 0, or "
              "is reported as a pre-cutoff reference.", "",
              "| view | sample | status | estimate | meets target |", "|---|---|---|---|---|",
              *verdicts, ""]
    return lines, verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=10)
    ap.add_argument("--n-boot", type=int, default=60)
    ap.add_argument("--loro-replicates", type=int, default=8)
    ap.add_argument("--out", default=str(REPO / "reports" / "estimation.md"))
    args = ap.parse_args()
    runs = [("classifier", "default"), ("classifier", "unseen generators"),
            ("compression", "default")]
    started = time.time()
    loro_lines, summary = loro_section(args.loro_replicates, args.n_boot)
    crawl_lines, _ = crawl_section(args.n_boot)
    print(f"crawl done at {time.time() - started:.0f}s", flush=True)
    lines = [
        "Generated by `scripts/validate_estimation.py` "
        f"(--replicates {args.replicates} --loro-replicates {args.loro_replicates} "
        f"--n-boot {args.n_boot}); do not edit by hand.",
        "",
        "# Estimation: accuracy and interval coverage where the detector has not been",
        "",
        "Targets (issue 10): leave-one-repository-out MAE <= 2 points over 0-30%, 95% coverage "
        ">= 90%, pure-human floor <= 1 point; every pre-2022 crawl sample reads <= 2% with an "
        "interval including 0, or is reported as a pre-cutoff reference.",
        "",
        *loro_lines,
        *crawl_lines,
        "## 3. In-distribution (labelled so: domains of dev.parquet the shipped models were "
        "calibrated on)",
        "",
        "Known machine fractions are built from the labeled development set: per source "
        "(domain), a human reference and a disjoint human part of the target from the same "
        "domain (splits calib/test), machine text of the same domain from generators no "
        "detector trained on (split test_generator, the half of it kept out of the reference "
        "by a hash of the id; a fraction a source lacks machine rows for is skipped). Sizes (human reference / target): "
        + "; ".join(f"{s}: {r}/{t}" for s, (r, t) in SOURCES.items())
        + ". Scores are the shipped detectors' reference scores of those rows. Each cell "
        f"pools {args.replicates} seeded replicates x {len(SOURCES)} sources. Intervals: 95% "
        f"bootstrap ({args.n_boot} replicates) over the target and both references. `auto` "
        "is what `--method auto` picks for these reference sizes.",
        "",
    ]
    aucs = {det: separation(det) for det in {d for d, _ in runs}}
    lines += ["Separation of each source's human rows from the default machine reference "
              "(AUC):", "", "| detector | " + " | ".join(SOURCES) + " |",
              "|" + "---|" * (len(SOURCES) + 1)]
    lines += [f"| {det} | " + " | ".join(f"{a[s]:.3f}" for s in SOURCES) + " |"
              for det, a in sorted(aucs.items())]
    lines.append("")
    for detector, scenario in runs:
        t0 = time.time()
        rows = run(detector, scenario, args.replicates, args.n_boot)
        secs = time.time() - t0
        print(f"{detector} / {scenario}: {len(rows)} estimates in {secs:.0f}s", flush=True)
        lines += [f"### {detector}, machine reference: {scenario} (in-distribution)", ""]
        lines += ["Mean absolute error (percentage points):", "", *table(rows, "mae"), ""]
        lines += ["95%-interval coverage:", "", *table(rows, "coverage"), ""]
        lines += ["Mean interval width (points):", "", *table(rows, "width"), ""]
        lines += ["Floor: mean estimate on pure human targets (points), per source:", "",
                  *floors(rows), ""]
        lines += ["`auto` per source:", "", *per_source(rows, "auto"), ""]
        for m in ("auto", "mlm", "acc", "cc"):
            mae, cov, floor = verdict(rows, m)
            summary.append((detector, f"{scenario} (in-distribution)", m, mae, cov, floor))
    # 1b last (placed after section 1): the generated texts may still be being written by
    # scripts/loro_generated.py; whatever is generated by now is scored (fold models cached)
    from loro_generated import all_texts
    from loro_generated import score as score_generated

    if all_texts()["text"]:
        score_generated()
    if OOD.generated_scores() is not None:
        gen_lines, gen_summary = generated_section(args.loro_replicates, args.n_boot)
        summary[len(loro_summary_rows(summary)):len(loro_summary_rows(summary))] = gen_summary
    else:
        gen_lines = ["## 1b. Machine reference generated from the source's own documents", "",
                     "Not measured in this run: no generated texts in .bench/ (run "
                     "`nice -n 10 python scripts/loro_generated.py`).", ""]
    at = lines.index("## 2. Real crawl samples (../shared/data/crawl)")
    lines[at:at] = gen_lines
    verdict_lines = ["## Verdict against the targets", "",
                     "| detector | corpora / machine reference | method | MAE 0-30% | coverage "
                     "0-30% | floor | meets targets |", "|---|---|---|---|---|---|---|"]
    for detector, scenario, m, mae, cov, floor in summary:
        ok = mae <= 2 and cov >= 90 and floor <= 1
        label = "cc (biased baseline)" if m == "cc" else m
        verdict_lines.append(f"| {detector} | {scenario} | {label} | {mae:.2f} | {cov:.0f}% | "
                             f"{floor:.2f} | {'yes' if ok else '**no**'} |")
    # the verdict goes right after the targets, so the headline is what a reader sees first
    at = lines.index("## 1. Leave one repository out (headline)")
    lines[at:at] = [*verdict_lines, ""]
    lines += ["Not validated here: token weighting (same code path, weights per bin), "
              "the two-tier combination (tests/test_estimate_twotier.py checks it on simulated "
              "scores).", "",
              f"Total run time {time.time() - started:.0f}s.", ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(verdict_lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
