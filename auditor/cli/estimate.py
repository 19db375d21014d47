"""`auditor estimate`: synthetic fraction per group with confidence intervals.

Thin on purpose: options go to `auditor.estimate.estimate_db`, which the tests call too; this
module only prints its result (a rich table, or JSON).
"""

from __future__ import annotations

import json
import math

import click

from auditor.estimate.choice import MIN_GROUP_DOCS, N_BOOT

METHOD_CHOICES = ["auto", "cc", "acc", "pcc", "pacc", "em", "hdy", "mlm", "mlms"]


def _num(x):
    return None if isinstance(x, float) and math.isnan(x) else x


def estimates_json(estimates) -> list[dict]:
    """JSON-ready dicts (NaN -> null), one per group."""
    out = []
    for e in estimates:
        d = e.to_dict()
        out.append({k: _num(v) for k, v in d.items()})
    return out


def _pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _ci(e, lo, hi, point) -> str:
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "n/a"
    return f"<= {_pct(hi)}" if point == 0 else f"{_pct(lo)} - {_pct(hi)}"


def _cells(e) -> tuple[str, str, str, str]:
    """(whole share, its interval, post-cutoff share, its interval) as printed."""
    from auditor.estimate.result import Status

    if e.status == Status.TOO_FEW.value:
        return "too few docs", "-", "-", "-"
    if e.status == Status.PRE_CUTOFF.value:
        return "0 (pre-cutoff)", "by assumption", "-", "-"
    if e.status == Status.NO_MATCH.value:
        return ("n/a (no matching human ref)", f"<= {_pct(e.ci_high)}", "n/a",
                f"<= {_pct(e.ci_high_post)}")
    return (_pct(e.fraction), _ci(e, e.ci_low, e.ci_high, e.fraction), _pct(e.fraction_post),
            _ci(e, e.ci_low_post, e.ci_high_post, e.fraction_post))


def _print_table(estimates, by, baseline) -> None:
    """The estimates as a table (rich at a terminal, whole TSV when piped) and their notes;
    group values and notes come from the data, so they are printed as plain text, never read
    as rich markup (a source named `[/bold]` is a name, not a tag)."""
    from auditor.cli.tables import print_line, print_table
    from auditor.estimate.methods import METHODS

    weight = estimates[0].weight if estimates else "docs"
    columns = [*(by or ["group"]), "docs", "pre-cutoff", "fraction (all)", "95% CI",
               "post-cutoff", "95% CI post", "floor", "human ref", "method", "detector",
               "refs h/m", "vocab bound"]
    if baseline:
        columns.append("cc (biased baseline)")
    rows = []
    for e in estimates:
        keys = [str(e.group.get(b)) for b in by] if e.group else ["all"] * max(len(by), 1)
        frac, ci, post, ci_post = _cells(e)
        ref = e.human_ref_kind + (f" ({', '.join(e.human_ref_sources)})"
                                  if e.human_ref_sources else "")
        vocab = ("n/a" if e.vocab_fraction is None else
                 f">= {_pct(e.vocab_ci_low)}" + (" (disagrees)" if e.disagree else ""))
        row = [*keys, f"{e.n_docs:,}", f"{e.n_pre_cutoff:,}", frac, ci, post, ci_post,
               _pct(e.floor), ref or "-", e.method, e.detector,
               f"{e.n_human_ref}/{e.n_machine_ref}", vocab]
        if baseline:
            b = baseline.get(repr(sorted(e.group.items())))
            row.append(_pct(b.fraction) if b else "-")
        rows.append(row)
    print_table(columns, rows,
                title=f"Synthetic fraction ({'token' if weight == 'tokens' else 'document'}"
                      "-weighted, 95% interval). fraction (all): share of the whole group, "
                      "its pre-cutoff documents counted as human by assumption; post-cutoff: "
                      "share among the others")
    methods = sorted({m for e in estimates for m in e.method.split("/") if m in METHODS})
    for m in methods:
        print_line(f"{m}: {METHODS[m].label}")
    for e in estimates:
        for note in e.notes:
            if (note.startswith(("WARNING", "FALLBACK", "auto", "two tiers", "no ", "too few"))
                    or "no matching human reference" in note
                    or "widened" in note or "borrowed" in note or "disagree" in note):
                name = ", ".join(f"{k}={v}" for k, v in e.group.items()) or "all"
                print_line(f"{name}: {note}")


class _progress:
    """A bootstrap progress bar on stderr (only when it is a terminal); yields the callback."""

    def __init__(self, show: bool) -> None:
        self.show, self.bar, self.task = show, None, None

    def __enter__(self):
        if not self.show:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("bootstrapping groups", total=None)
        return self.tick

    def tick(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


@click.command("estimate")
@click.option("--db", default="audit.duckdb", show_default=True, type=click.Path(dir_okay=False),
              help="Store filled by `auditor scan`.")
@click.option("--by", "by", multiple=True, metavar="COLUMN",
              help="Group by this column of the documents view (repeatable: source, "
                   "crawl_month, domain, license, language, ...). None: one overall estimate.")
@click.option("--method", type=click.Choice(METHOD_CHOICES), default="auto", show_default=True,
              help="Quantification method; auto picks per group and says why (in notes).")
@click.option("--detector", default=None, metavar="NAME",
              help="Detector whose scores to use (default: the best fully scored one; `combined`: all "
                   "fully scored ones, interval widened where they disagree). A "
                   "detector that scored only a sample is combined with a cheap one (two tiers).")
@click.option("--weight", type=click.Choice(["docs", "tokens"]), default="docs",
              show_default=True, help="Share of documents, or share of tokens.")
@click.option("--n-boot", default=N_BOOT, show_default=True, type=click.IntRange(0),
              help="Bootstrap replicates for the interval.")
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@click.option("--human-reference", default=None, metavar="PARQUET|SOURCE",
              help="Override the human reference: a Parquet file of scores (score_<detector> "
                   "or score column; rows with label=human if it has labels) or a source name.")
@click.option("--machine-reference", default=None, metavar="PARQUET|SOURCE",
              help="Override the machine reference (label=ai rows of a file, or a source).")
@click.option("--generated-reference/--no-generated-reference", "generated", default=None,
              help="Use each source's machine texts kept by `auditor detectors generate` in its "
                   "machine reference (not with --machine-reference). Default: as measured "
                   "best (reports/estimation.md, section 1b).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also show classify-and-count, the biased baseline, in the table.")
@click.option("--no-record", is_flag=True, help="Do not append the results to the estimates "
                                                "table (opens the store read-only).")
@click.option("--min-docs", default=MIN_GROUP_DOCS, show_default=True, type=click.IntRange(0),
              help="Groups with fewer documents are 'too few documents': not estimated on "
                   "their own, pooled into an 'other' row, kept out of per-group gates.")
@click.option("--similar-by", default=None, metavar="COLUMN",
              help="A genre column: a source without enough pre-cutoff documents borrows a "
                   "human reference only from sources with the same value of it.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: a list, one object a group; with --by, the headline (the "
                   "table's 'all' row) comes last, with group {} and status \"overall\" (as "
                   "the one object printed without --by).")
def estimate_command(db, by, method, detector, weight, n_boot, seed, human_reference,
                     machine_reference, generated, baseline, no_record, min_docs, similar_by, as_json):
    """Estimate the share of machine-generated text per group, corrected for detector error.

    The target of a group is its corpus documents that are not used as its human reference.
    The human reference of a source is its own documents crawled before the cutoff (a hash of
    the id splits them into a reference slice and a held-out slice, whose estimate is the
    `floor`, ideally 0); else documents scanned with --role human_reference; else the
    detector's shipped human rows, with a FALLBACK note and a widened interval. The machine
    reference is documents scanned with --role machine_reference, else the detector's shipped
    reference; a source with machine texts written from its own pre-cutoff documents
    (`auditor detectors generate`) gets them mixed into its machine reference, named in the
    notes. Without --detector, a store's own adapted model (`auditor detectors adapt`, scanned
    with --detectors adapted) is used when present. Intervals are 95% bootstrap intervals over the target and both references; at
    an estimate of 0 the upper bound is one-sided.

    \b
    Examples:
      auditor estimate --db audit.duckdb --by source
      auditor estimate --db audit.duckdb --by source --by crawl_month --json
      auditor estimate --db audit.duckdb --by domain --method acc --weight tokens
      auditor estimate --db audit.duckdb --by source --detector lm   # two tiers
    """
    import sys

    from auditor.audit import missing_in_store
    from auditor.estimate import estimate_db

    gap = missing_in_store(db)  # an empty store says what is missing, never an empty table
    if gap is not None:
        raise click.ClickException(gap.message)
    kwargs = dict(by=list(by), detector=detector, weight=weight, n_boot=n_boot, seed=seed,
                  machine_reference=machine_reference, human_reference=human_reference,
                  min_docs=min_docs, similar_by=similar_by, generated=generated,
                  separation={})  # the baseline reuses the main call's separation check
    import warnings

    from auditor.estimate.db import HistoryNotRecorded

    try:
        with _progress(sys.stderr.isatty()) as tick, warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always", HistoryNotRecorded)
            results = estimate_db(db, method=method, record=not no_record, progress=tick,
                                  overall=bool(by), **kwargs)
        for w in got:
            if issubclass(w.category, HistoryNotRecorded):
                click.echo(f"note: {w.message}", err=True)
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        base = None
        if baseline and not as_json and method != "cc":
            base = {repr(sorted(e.group.items())): e for e in
                    estimate_db(db, method="cc", record=False, vocab=False,
                                **{**kwargs, "n_boot": 0})}
    except (FileNotFoundError, LookupError, ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(estimates_json(results), indent=2, default=str))
    else:
        _print_table(results, list(by), base)
    lost = _failed_in_scan(db)
    if lost:
        click.echo(f"note: {lost}", err=True)


def _failed_in_scan(db: str) -> str | None:
    """A line when the scan left records out (failed records, failed units): they are in no
    estimate, which the table alone does not say (the real crawl folder's Parquet file, whose
    text column has another name, was missing from every row without a word)."""
    from auditor.store.catalogue import open_store
    from auditor.store.status import unit_totals

    with open_store(db, read_only=True) as store:
        totals = unit_totals(store)
    n_failed, n_units = totals["failed"], totals["units_failed"]
    if not n_failed and not n_units:
        return None
    return (f"the scan could not read {n_failed:,} record(s)"
            + (f" and {n_units:,} work unit(s)" if n_units else "")
            + f"; they are in no estimate above (`auditor status --db {db} --errors`)")


COMMANDS = [estimate_command]
