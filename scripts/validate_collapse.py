"""Validate the collapse-risk model against the published results and the closed forms.

Writes reports/collapse_validation.md (and collapse_validation.png beside it). Every Monte Carlo
figure runs through the same recursion (`auditor.collapse.simulate`) that `auditor project`
uses, vectorised over runs, so this validates the engine, not a separate re-implementation.

    python3 scripts/validate_collapse.py            # full (about a minute on 2 cores)
    python3 scripts/validate_collapse.py --quick    # fewer runs, for a smoke check
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import digamma

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auditor.collapse import collapse_profile, simulate  # noqa: E402
from auditor.collapse.categorical import CategoricalFamily  # noqa: E402
from auditor.collapse.gaussian import GaussianFamily, c_m  # noqa: E402
from auditor.collapse.inputs import texts_from_file  # noqa: E402
from auditor.collapse.linear import LinearFamily  # noqa: E402
from auditor.collapse.metrics import ratio_of_means, summarize  # noqa: E402
from auditor.collapse.ngram import CorpusLM  # noqa: E402

DEV = REPO.parent / "shared" / "data" / "labeled" / "dev.parquet"


def fmt_ci(v: tuple[float, float, float], digits: int = 3) -> str:
    return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]"


def within(v: tuple[float, float, float], target: float, slack: float = 0.0) -> str:
    return "yes" if v[1] - slack <= target <= v[2] + slack else "**no**"


def gaussian(runs: int) -> list[str]:
    m, n = 100, 100
    g = n - 1  # n fits = generation 0 (real data) + 99 retrainings
    out = ["## Gaussian fitting (Shumailov et al., Nature 2024)", "",
           f"M = {m} samples per generation, n = {n} fits (our generation {g}: generation 0 is "
           f"the real-data fit), replace at alpha = 1, {runs} Monte Carlo runs through the "
           "projection engine. Bands: 95% intervals of the Monte Carlo statistic.", "",
           "| quantity | published | closed form | Monte Carlo | MC interval holds closed form |",
           "|---|---|---|---|---|"]
    t = time.time()
    raw = simulate(GaussianFamily(samples=m, variance="unbiased"), "replace", [1.0] * g, runs, 1)
    sig = summarize(raw["sigma"][g], "mean")
    med = summarize(raw["variance"][g], "median")
    mse = summarize(raw["sq_err"][g], "mean")
    cf_sig = c_m(m) ** n
    k = m - 1
    mean_log = digamma(k / 2) + math.log(2 / k)  # E[log(chi2_k / k)]
    cf_med = math.exp(n * mean_log)  # median of a near-normal sum of n logs ~ its mean
    out += [
        f"| E[sigma_n], unbiased | about 0.777 | c_M^n = {cf_sig:.4f} | {fmt_ci(sig, 4)} | "
        f"{within(sig, cf_sig)} |",
        f"| median sigma_n^2, unbiased | about 0.363 | exp(n E[log chi2_(M-1)/(M-1)]) = "
        f"{cf_med:.4f} (CLT approximation) | {fmt_ci(med, 4)} | {within(med, cf_med)} |",
        f"| E[(mu_n - mu)^2], unbiased | n/M = 1.00 | {n / m:.4f} | {fmt_ci(mse, 4)} | "
        f"{within(mse, n / m)} |",
    ]
    raw_ml = simulate(GaussianFamily(samples=m, variance="ml"), "replace", [1.0] * g, runs, 2)
    var_ml = summarize(raw_ml["variance"][g], "mean")
    cf_ml = ((m - 1) / m) ** n
    out += [f"| E[sigma_n^2], maximum likelihood | ((M-1)/M)^n | {cf_ml:.4f} | "
            f"{fmt_ci(var_ml, 4)} | {within(var_ml, cf_ml)} |", ""]
    mean_var = summarize(raw["variance"][g], "mean")
    out += [f"With the unbiased estimator E[sigma_n^2] = 1 exactly, but the Monte Carlo mean is "
            f"{fmt_ci(mean_var, 3)}: carried by rare paths, as the issue warns; the median and "
            "E[sigma_n] are the figures to validate.", "",
            f"({time.time() - t:.1f} s)", ""]
    print(f"gaussian: E[sigma]={sig[0]:.4f} (cf {cf_sig:.4f}) median var={med[0]:.4f} "
          f"mse={mse[0]:.4f} ml var={var_ml[0]:.4f} (cf {cf_ml:.4f})")
    return out


def linear(runs: int) -> list[str]:
    d, T, s2, G = 10, 100, 1.0, 9
    fam = LinearFamily(samples=T, dim=d, noise=s2)
    t = time.time()
    # accumulate-subsample keeps the raw pool (runs x 1000 rows x 11): fewer runs for memory
    raws = {r: simulate(fam, r, [1.0] * G, runs if r != "accumulate-subsample" else runs // 5, 3)
            for r in ("replace", "accumulate", "accumulate-subsample")}
    out = ["## Linear regression (Gerstgrasser et al. 2024)", "",
           f"OLS, d = {d}, T = {T}, sigma^2 = {s2}, fixed design, alpha = 1, {runs} runs "
           f"({runs // 5} for accumulate-subsample). Test "
           "error over the real-data baseline E||w_n - w||^2 / E||w_1 - w||^2 after n fits "
           "(our generation n - 1). Published: n under replace, sum_{k<=n} 1/k^2 (<= pi^2/6 = "
           "1.645) under accumulate. accumulate-subsample has no closed form; theory puts it "
           "between the two.", "",
           "| n | replace: closed form | replace: MC | accumulate: closed form | accumulate: MC "
           "| accumulate-subsample: MC |", "|---|---|---|---|---|---|"]
    ok = True
    for g in (0, 1, 2, 4, 6, 9):
        n = g + 1
        rep = ratio_of_means(raws["replace"]["sq_err"][g], raws["replace"]["sq_err"][0])
        acc = ratio_of_means(raws["accumulate"]["sq_err"][g], raws["accumulate"]["sq_err"][0])
        sub = ratio_of_means(raws["accumulate-subsample"]["sq_err"][g],
                             raws["accumulate-subsample"]["sq_err"][0])
        cf_acc = sum(1 / k**2 for k in range(1, n + 1))
        ok &= rep[1] <= n <= rep[2] and acc[1] <= cf_acc <= acc[2]
        out.append(f"| {n} | {n} | {fmt_ci(rep)} | {cf_acc:.3f} | {fmt_ci(acc)} | {fmt_ci(sub)} |")
    out += ["", f"All closed forms inside the Monte Carlo intervals: {'yes' if ok else '**no**'}. "
            f"({time.time() - t:.1f} s)", ""]
    print(f"linear: closed forms inside MC intervals: {ok}")
    return out


def categorical(runs: int) -> list[str]:
    k, m, G = 100, 100, 49
    fam = CategoricalFamily(samples=m, categories=k, zipf=1.1)
    t = time.time()
    raw = simulate(fam, "replace", [1.0] * G, runs, 4)
    h0 = 1 - float(np.square(fam.truth.p0).sum())
    out = ["## Categorical / Zipf (neutral Wright-Fisher)", "",
           f"Zipf(1.1) over K = {k} categories, M = {m} samples per generation, replace at "
           f"alpha = 1, {runs} runs. E[1 - sum p_n^2] = (1 - 1/M)^n (1 - sum p_0^2), n fits "
           "(our generation n - 1). Support and median tail mass are Monte Carlo only.", "",
           "| n | closed form | Monte Carlo | holds | support retained (MC) | median tail mass / "
           "true (MC) |", "|---|---|---|---|---|---|"]
    ok = True
    for g in (0, 4, 9, 19, 49 - 1):
        n = g + 1
        cf = (1 - 1 / m) ** n * h0
        mc = summarize(raw["het"][g], "mean")
        ok &= mc[1] <= cf <= mc[2]
        sup = ratio_of_means(raw["support"][g], raw["support"][0])
        tail = summarize(raw["tail"][g], "median")
        out.append(f"| {n} | {cf:.4f} | {fmt_ci(mc, 4)} | {within(mc, cf)} | {fmt_ci(sup)} | "
                   f"{fmt_ci(tail)} |")
    out += ["", f"({time.time() - t:.1f} s)", ""]
    print(f"categorical: closed forms inside MC intervals: {ok}")
    return out


def partial_alpha(runs: int) -> list[str]:
    """Beyond the papers' alpha = 1: the regimes at partial synthetic shares, and the inverse
    question, on the linear family (closed forms exist at alpha in {0, 1} only)."""
    from auditor.collapse import max_tolerable_alpha

    t = time.time()
    G = 10
    out = ["## Partial synthetic shares and the inverse question (linear, d = 10, T = 100)", "",
           f"risk_ratio at generation {G} (excess test error over the real-data model), "
           f"{runs} runs. At alpha < 1 every regime adds real data, so fresh and replace "
           "settle at a bounded level instead of growing linearly.", "",
           "| alpha | replace | accumulate | accumulate-subsample | fresh |", "|---|---|---|---|---|"]
    for a in (0.0, 0.15, 0.5, 0.9, 1.0):
        p = collapse_profile(a, generations=G, model="linear", samples=100, dim=10,
                             n_runs=runs, seed=6)
        cells = [fmt_ci((r.value, r.low, r.high), 2)
                 for r in (p.row(reg, G, "risk_ratio") for reg in p.regimes)]
        out.append(f"| {a} | " + " | ".join(cells) + " |")
    out += ["", f"Largest constant alpha keeping risk_ratio within +10% of the real-data model "
            f"for {G} generations ({runs} runs, bisection to 0.01):", "",
            "| regime | max alpha |", "|---|---|"]
    for reg in ("replace", "accumulate", "accumulate-subsample", "fresh"):
        a = max_tolerable_alpha("risk_ratio", 0.10, G, reg, "linear", samples=100, dim=10,
                                n_runs=runs, seed=6)
        out.append(f"| {reg} | {a:.3f} |")
    out += ["", f"({time.time() - t:.1f} s)", ""]
    print("partial alpha: done")
    return out


def corpus(runs: int, docs: int, png: Path) -> list[str]:
    t = time.time()
    texts = texts_from_file(DEV, limit=docs)
    fam = CorpusLM(texts, samples=400, vocab_size=1000, segment_len=32, seed=0)
    gens = 5
    prof = collapse_profile(1.0, generations=gens, model=fam, n_runs=runs, seed=5)
    kept = collapse_profile(0.9, regimes=("replace",), generations=gens, model=fam,
                            n_runs=runs, seed=5)
    prof.plot(png, metrics=["perplexity", "rare_bigrams_retained", "vocab_retained",
                            "entropy_ratio"])
    p = fam.params_dict()
    out = ["## Corpus-grounded bigram LM, for scale against language-model results", "",
           f"Fitted on {p['documents']} human texts of the shared development set "
           f"(label = human), {p['training_segments']} training and {p['heldout_segments']} "
           f"held-out segments of {p['segment_len']} tokens, vocabulary {p['vocab_size']}, "
           f"{p['samples']} segments per generation, {runs} runs, alpha = 1 (all new data "
           "synthetic) unless stated. Cross-entropy = log perplexity (nats/token) on held-out "
           "real segments.", "",
           "| regime | cross-entropy gen 0 -> gen 5 | perplexity gen 0 -> gen 5 [band] | "
           "rare bigram types retained | vocabulary retained | published (5 iterations) |",
           "|---|---|---|---|---|---|"]
    published = {
        "replace": "TinyStories GPT-2 9M: 1.82 -> 2.49 (Gerstgrasser et al.)",
        "accumulate": "TinyStories GPT-2 9M: 1.82 -> 1.74 (Gerstgrasser et al.)",
        "accumulate-subsample": "between replace and accumulate (Kazdan et al. 2024)",
        "fresh": "identical to replace at alpha = 1",
    }
    final = {}
    for regime in prof.regimes:
        p0 = prof.row(regime, 0, "perplexity")
        pg = prof.row(regime, gens, "perplexity")
        rare = prof.row(regime, gens, "rare_bigrams_retained")
        voc = prof.row(regime, gens, "vocab_retained")
        final[regime] = pg.value
        out.append(f"| {regime} | {math.log(p0.value):.2f} -> {math.log(pg.value):.2f} | "
                   f"{p0.value:.1f} -> {pg.value:.1f} [{pg.low:.1f}, {pg.high:.1f}] | "
                   f"{rare.value:.2f} | {voc.value:.2f} | {published[regime]} |")
    k0 = kept.row("replace", 0, "perplexity").value
    kg = kept.row("replace", gens, "perplexity")
    r0 = prof.row("replace", 0, "perplexity").value
    rg = prof.row("replace", gens, "perplexity").value
    order = final["replace"] > final["accumulate-subsample"] > final["accumulate"]
    out += ["",
            f"Ordering replace > accumulate-subsample > accumulate in final perplexity: "
            f"{'yes' if order else '**no**'} (the published ordering).", "",
            "Shumailov et al. (OPT-125m, wikitext2): 20-28 perplexity points lost with no "
            "original data kept, little with 10% kept. Here, replace with no original data "
            f"kept: {r0:.1f} -> {rg:.1f} (+{rg - r0:.1f}); with 10% of the original data kept "
            f"(alpha = 0.9): {k0:.1f} -> {kg.value:.1f} (+{kg.value - k0:.1f}). A bigram model "
            "is not an OPT model: compare orderings and relative sizes, not points.", "",
            "Where this family departs from the language-model results, and why:", "",
            "- Keeping 10% of the original data helps, but far less than for OPT-125m. Our "
            "bigram model has no pretrained prior: every word it forgets can only come back "
            "from the 10% real share, whereas Shumailov et al. fine-tune a pretrained model "
            "that still knows the language.",
            "- Under accumulate, perplexity still rises (Gerstgrasser et al.'s GPT-2 improves "
            "slightly). Samples of a small smoothed bigram are worse than the text it was "
            "fitted on, so diluting real data with them costs something; a transformer's "
            "samples are good enough that more of them helps. The ordering of regimes, which "
            "is what the issue asks this family to reproduce, is the same.",
            "- rare_bigrams_retained exceeds 1 under accumulate: the pool keeps all real data "
            "and grows, and the model's smoothed samples hit some real rare bigrams by chance.",
            "",
            f"Plot: {png.name}. ({time.time() - t:.1f} s)", ""]
    print(f"corpus: final ppl {final}; 10% kept +{kg.value - k0:.1f} vs none +{rg - r0:.1f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs (smoke check)")
    ap.add_argument("--out", default=str(REPO / "reports" / "collapse_validation.md"))
    args = ap.parse_args()
    scale = 0.1 if args.quick else 1.0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    lines = ["<!-- generated by scripts/validate_collapse.py; do not edit by hand -->",
             "# Collapse-risk model: validation against published results", "",
             "Generated by `scripts/validate_collapse.py`"
             f"{' --quick' if args.quick else ''}. Generation 0 is the model trained on real "
             "data only, so the papers' n (number of fits) is our generation + 1. Seeds are "
             "fixed; rerunning gives the same numbers. Intervals are 95%: across the dozens of "
             "cells below about one in twenty may miss its closed form by chance; a systematic "
             "miss (all on one side, growing with n) would be a bug.", ""]
    lines += gaussian(int(20000 * scale))
    lines += linear(int(10000 * scale))
    lines += categorical(int(2000 * scale))
    lines += partial_alpha(int(1000 * scale))
    if DEV.is_file():
        lines += corpus(max(2, int(8 * scale)), 3000, out.with_suffix(".png"))
    else:
        lines += ["## Corpus-grounded LM", "", f"skipped: {DEV} not found", ""]
    lines.append(f"Total time {time.time() - t0:.0f} s.")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
