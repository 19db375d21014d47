"""`auditor project`: what the measured synthetic share does to the next model generations.

Thin: parses options, reads alpha (from `--fraction` or a store), and calls
`auditor.collapse.collapse_profile` / `max_tolerable_alpha`, which the tests call too.
"""

from __future__ import annotations

import json
from typing import Any

import click

REGIME_CHOICES = ("replace", "accumulate", "accumulate-subsample", "fresh", "all")
MODEL_CHOICES = ("gaussian", "linear", "categorical", "corpus")


def _fmt(x: float) -> str:
    if x != x:  # NaN
        return "n/a"
    return f"{x:.3g}"


def _profile_table(profile: Any) -> Any:
    from rich.table import Table

    g_last = profile.generations
    gens = sorted({1, g_last})
    a = profile.alphas
    alpha_txt = f"alpha={a[0]:.4g}" if len(set(a)) == 1 else f"alpha {a[0]:.3g} -> {a[-1]:.3g}"
    if profile.alpha_low is not None:
        alpha_txt += f" (band {profile.alpha_low[0]:.3g}..{profile.alpha_high[0]:.3g})"
    table = Table(title=f"Collapse profile: {profile.model} model, {alpha_txt}, "
                        f"{profile.n_runs} Monte Carlo runs (value [95% band])")
    table.add_column("regime", overflow="fold", max_width=12)
    table.add_column("metric\n(definition of collapse)", overflow="fold", min_width=16)
    for g in gens:
        table.add_column(f"gen {g}", justify="right", min_width=9)
    table.add_column(f"closed\nform\ngen {g_last}", justify="right", min_width=7)
    for regime in profile.regimes:
        for m in profile.metrics:
            cells = []
            for g in gens:
                r = profile.row(regime, g, m["name"])
                cells.append(f"{_fmt(r.value)}\n[{_fmt(r.low)}, {_fmt(r.high)}]")
            try:
                cf = _fmt(profile.row(regime, g_last, m["name"], "closed form").value)
            except KeyError:
                cf = "-"
            table.add_row(regime, f"{m['name']}\n[dim]{m['definition']}[/dim]", *cells, cf)
    return table


def _profile_rows(profile: Any) -> tuple[list[str], list[list[str]], str]:
    """The profile as plain columns and rows (TSV when stdout is not a terminal)."""
    g_last = profile.generations
    gens = sorted({1, g_last})
    cols = ["regime", "metric", "definition"]
    for g in gens:
        cols += [f"gen {g}", f"gen {g} low", f"gen {g} high"]
    cols.append(f"closed form gen {g_last}")
    rows = []
    for regime in profile.regimes:
        for m in profile.metrics:
            row = [regime, m["name"], m["definition"]]
            for g in gens:
                r = profile.row(regime, g, m["name"])
                row += [_fmt(r.value), _fmt(r.low), _fmt(r.high)]
            try:
                row.append(_fmt(profile.row(regime, g_last, m["name"], "closed form").value))
            except KeyError:
                row.append("-")
            rows.append(row)
    return cols, rows, (f"Collapse profile: {profile.model} model, {profile.n_runs} Monte Carlo "
                        "runs")


def _alpha_of_store(db_path: str, generations: int, schedule: str, months_per_generation: int,
                    seed: int, err: Any) -> tuple[Any, Any, list[str]]:
    """Alpha and its band from a store. A constant alpha is the overall estimate of the store's
    audit (the interval `auditor report` and `auditor check` show); schedules come from
    per-month or per-source estimates. A store without documents or scores, or without an
    estimate, is an error that says what is missing."""
    from auditor.audit import AuditSettings, load_audit, missing_in_store
    from auditor.collapse.inputs import alpha_from_store

    gap = missing_in_store(db_path)
    if gap is not None:
        raise click.ClickException(f"cannot project from {db_path}: {gap.message}")
    if schedule != "constant":
        with err.status(f"estimating the synthetic fraction of {db_path}..."):
            got = alpha_from_store(db_path, generations, schedule, months_per_generation)
        return got.alpha, got.alpha_ci, list(got.notes)
    with err.status(f"reading the audit of {db_path}..."):
        audit = load_audit(db_path, AuditSettings(seed=seed))
    o = audit.overall
    if o is None or o.get("fraction") is None:
        why = "; ".join([*audit.errors, *((o or {}).get("notes") or [])]) or "no estimate"
        raise click.ClickException(f"cannot project from {db_path}: its synthetic fraction "
                                   f"cannot be estimated ({why})")
    note = (f"alpha from {db_path}: {o['fraction']:.4f} [{o['ci_low']:.4f}, {o['ci_high']:.4f}] "
            f"by {o['method']} on detector {o['detector']}, {o['n_docs']} documents (the "
            f"store's audit, as in `auditor report`)")
    return o["fraction"], (o["ci_low"], o["ci_high"]), [note, *o.get("notes", []),
                                                        *audit.notes]


@click.command("project")
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="Store to take the synthetic fraction (and its interval) from.")
@click.option("--fraction", type=click.FloatRange(0.0, 1.0),
              help="Synthetic fraction alpha in [0, 1], instead of --db.")
@click.option("--fraction-ci", nargs=2, type=click.FloatRange(0.0, 1.0), default=None,
              metavar="LOW HIGH", help="95% interval of --fraction, carried through as a band.")
@click.option("--schedule", type=click.Choice(["constant", "monthly", "by-source"]),
              default="constant", show_default=True,
              help="With --db: one alpha for the corpus; a growing schedule extrapolated from "
                   "the per-crawl-month estimates; or a per-source mix.")
@click.option("--months-per-generation", type=click.IntRange(min=1), default=12,
              show_default=True, help="With --schedule monthly: months between generations.")
@click.option("--regime", type=click.Choice(REGIME_CHOICES), default="all", show_default=True,
              help="How each generation's training data is assembled.")
@click.option("--generations", type=click.IntRange(min=1), default=10, show_default=True,
              help="Generations after the real-data-only model (generation 0).")
@click.option("--model", "model", type=click.Choice(MODEL_CHOICES), default="gaussian",
              show_default=True, help="Model family.")
@click.option("--samples", type=click.IntRange(min=2), default=None,
              help="M: samples per generation (segments for corpus; T rows for linear).")
@click.option("--dim", type=click.IntRange(min=1), default=None, help="d for --model linear.")
@click.option("--noise", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Label noise variance sigma^2 for --model linear.")
@click.option("--variance", type=click.Choice(["unbiased", "ml"]), default=None,
              help="Variance estimator for --model gaussian.")
@click.option("--categories", type=click.IntRange(min=2), default=None,
              help="K categories for --model categorical.")
@click.option("--zipf", type=click.FloatRange(min=0.0), default=None,
              help="Zipf exponent of the true distribution for --model categorical.")
@click.option("--vocab", type=click.IntRange(min=10), default=None,
              help="Vocabulary size for --model corpus.")
@click.option("--texts", "texts_path", type=click.Path(dir_okay=False),
              help="Human texts (Parquet/JSONL with a 'text' column) for --model corpus; "
                   "default with --db: the store's pre-cutoff documents.")
@click.option("--max-docs", type=click.IntRange(min=2), default=3000, show_default=True,
              help="Documents used by --model corpus.")
@click.option("--runs", type=click.IntRange(min=2), default=None,
              help="Monte Carlo runs (default depends on the model).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write a PNG here.")
@click.option("--tolerance", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Inverse question: largest alpha keeping --metric within this relative "
                   "change (0.05 = 5%) for --generations, per regime.")
@click.option("--metric", default=None, help="Metric for --tolerance (e.g. risk_ratio).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def project(db_path: str | None, fraction: float | None, fraction_ci: tuple[float, float] | None,
            schedule: str, months_per_generation: int, regime: str, generations: int,
            model: str, samples: int | None, dim: int | None, noise: float | None,
            variance: str | None, categories: int | None, zipf: float | None,
            vocab: int | None, texts_path: str | None, max_docs: int, runs: int | None,
            seed: int, plot_path: str | None, tolerance: float | None, metric: str | None,
            as_json: bool) -> None:
    """Project model collapse: how much worse the next model generations get when they train on
    data with this synthetic share, per regime, with the definition of collapse of each metric.

    Generation 0 is a model trained on real data only; ratios are relative to it. Monte Carlo
    rows always come with a 95% band; closed forms are shown where the literature has them.

    \b
    Regimes (alpha = synthetic share of each generation's training data):
      replace               alpha from the previous model, the rest the original real data
      accumulate            each generation adds data (alpha synthetic) to a pile; all used
      accumulate-subsample  the same pile, a fixed-size sample of it each generation
      fresh                 alpha from the previous model, the rest new real data

    \b
    Examples:
      auditor project --fraction 0.15
      auditor project --fraction 0.15 --fraction-ci 0.11 0.19 --regime replace --plot p.png
      auditor project --db audit.duckdb --model corpus --generations 5
      auditor project --db audit.duckdb --schedule monthly --json
      auditor project --db audit.duckdb --schedule by-source --regime fresh
      auditor project --model linear --dim 10 --samples 100 --noise 1 --fraction 1
      auditor project --tolerance 0.05 --metric risk_ratio --generations 10 --regime all
    """
    from rich.console import Console

    from auditor.collapse import REGIMES, collapse_profile, make_family, max_tolerable_alpha
    from auditor.collapse.inputs import texts_from_file, texts_from_store

    if db_path is not None and fraction is not None:
        raise click.UsageError("give either --db or --fraction, not both")
    if db_path is None and fraction is None and tolerance is None:
        raise click.UsageError("give --fraction ALPHA or --db STORE (or --tolerance X "
                               "--metric NAME for the inverse question)")
    if fraction_ci is not None and fraction is None:
        raise click.UsageError("--fraction-ci needs --fraction (with --db the interval comes "
                               "from the store)")
    if (tolerance is None) != (metric is None):
        raise click.UsageError("--tolerance and --metric go together")
    if db_path is not None:
        import os

        if not os.path.exists(db_path):
            raise click.BadParameter(f"no store at {db_path}: run `auditor scan INPUT --db "
                                     f"{db_path}` first", param_hint="--db")
    err = Console(stderr=True)
    regimes = REGIMES if regime == "all" else (regime,)

    try:
        alpha: Any = fraction
        alpha_ci: Any = None
        notes: list[str] = []
        if fraction is not None and fraction_ci is not None:
            lo, hi = fraction_ci
            if not lo <= fraction <= hi:
                raise click.BadParameter(f"{lo} .. {hi} does not contain --fraction {fraction}",
                                         param_hint="--fraction-ci")
            alpha_ci = fraction_ci
        if db_path is not None:
            alpha, alpha_ci, notes = _alpha_of_store(db_path, generations, schedule,
                                                     months_per_generation, seed, err)

        params: dict[str, Any] = {"samples": samples}
        if model == "linear":
            params.update(dim=dim, noise=noise)
        elif dim is not None or noise is not None:
            raise click.UsageError("--dim and --noise apply to --model linear only")
        if model == "gaussian":
            params["variance"] = variance
        elif variance is not None:
            raise click.UsageError("--variance applies to --model gaussian only")
        if model == "categorical":
            params.update(categories=categories, zipf=zipf)
        elif categories is not None or zipf is not None:
            raise click.UsageError("--categories and --zipf apply to --model categorical only")
        if model != "corpus" and vocab is not None:
            raise click.UsageError("--vocab applies to --model corpus only")
        if model == "corpus":
            params["vocab_size"] = vocab
            if texts_path is not None:
                texts = texts_from_file(texts_path, max_docs)
            elif db_path is not None:
                with err.status(f"reading human documents back from {db_path}..."):
                    texts = texts_from_store(db_path, max_docs, seed=seed)
            else:
                raise click.UsageError("--model corpus needs human texts: --texts FILE or --db")
            params.update(texts=texts, seed=seed)
        elif texts_path is not None:
            raise click.UsageError("--texts applies to --model corpus only")
        family = make_family(model, **params)
        names = [s.name for s in family.metrics]
        if metric is not None and metric not in names:
            raise click.BadParameter(f"{metric!r} is not a {model} metric; choose from "
                                     f"{', '.join(names)}", param_hint="--metric")

        result: dict[str, Any] = {}
        profile = None
        if alpha is not None:
            with err.status(f"projecting {generations} generations x {len(regimes)} regimes..."):
                profile = collapse_profile(alpha, regimes=regimes, generations=generations,
                                           model=family, alpha_ci=alpha_ci, seed=seed,
                                           n_runs=runs)
            result["profile"] = profile.to_dict()
            if notes:
                result["profile"]["notes"] = [*notes, *profile.notes]
        inverse = []
        if tolerance is not None:
            with err.status("searching the largest tolerable alpha..."):
                for reg in regimes:
                    a_max = max_tolerable_alpha(metric, tolerance, generations, reg, family,
                                                seed=seed, n_runs=runs)
                    inverse.append({"regime": reg, "metric": metric, "tolerance": tolerance,
                                    "generations": generations, "max_alpha": a_max})
            result["inverse"] = inverse
        if plot_path is not None:
            if profile is None:
                raise click.UsageError("--plot needs a profile: give --fraction or --db")
            profile.plot(plot_path)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc

    if as_json:
        if profile is not None:
            result["profile"] = json.loads(profile.to_json())
            if notes:
                result["profile"]["notes"] = [*notes, *profile.notes]
        click.echo(json.dumps(result, indent=2))
        return
    from auditor.cli.tables import is_terminal, print_line, print_table

    for n in notes:
        print_line(n)
    if profile is not None:
        if is_terminal():
            Console().print(_profile_table(profile))
        else:
            cols, rows, title = _profile_rows(profile)
            print_table(cols, rows, title, terminal=False)
        for n in profile.notes:
            print_line(f"note: {n}")
    if inverse:
        print_table(["regime", "max alpha"], [[r["regime"], f"{r['max_alpha']:.3f}"]
                                              for r in inverse],
                    f"Largest synthetic share keeping {metric} within {tolerance:g} of the "
                    f"real-data model for {generations} generations")
    if plot_path is not None:
        print_line(f"plot written to {plot_path}")


COMMANDS = [project]
