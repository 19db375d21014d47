"""`auditor filter`, `auditor export-attributes`, `auditor tradeoff`, `auditor mix`: thin
wrappers over `auditor.act`, which the tests call too."""

from __future__ import annotations

import json
import os

import click

from auditor.estimate.choice import N_BOOT


def _need_store(db: str) -> None:
    if not os.path.exists(db):
        raise click.BadParameter(f"no store at {db}: run `auditor scan INPUT --db {db}` first",
                                 param_hint="--db")


@click.command("filter")
@click.option("--db", required=True, type=click.Path(dir_okay=False),
              help="Store made by `auditor scan`.")
@click.option("--drop", "drops", multiple=True, metavar="RULE",
              help="Drop documents matching RULE (repeatable): 'score:DETECTOR > X', "
                   "'score:DETECTOR > source_threshold' (each source's own threshold), "
                   "'COLUMN OP VALUE', synthetic-by-construction, contaminated, "
                   "machine-reference, pre-cutoff.")
@click.option("--keep", "keeps", multiple=True, metavar="RULE",
              help="Keep documents matching RULE whatever the drop rules say (repeatable).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Manifest Parquet to write (shard, offset, id, source, role, decision, "
                   "reasons).")
@click.option("--write", "write_dir", type=click.Path(file_okay=False),
              help="Also write the kept records of every shard here (Parquet and JSON lines "
                   "keep their format; WARC/WET become dolma-style JSON lines .jsonl.gz).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def filter_command(db, drops, keeps, output, write_dir, as_json):
    """Decide, for every stored document, keep or drop, and write the decisions as a manifest.

    A document is dropped when a --drop rule matches and no --keep rule does (keep rules
    protect data). Rules are NAME OP VALUE with OP one of < <= > >= = !=, NAME a column of the
    store (crawl_date, source, domain, license, language, n_tokens...) or score:DETECTOR;
    values are numbers, dates (YYYY-MM-DD) or strings. A missing value never matches.

    'score:DETECTOR > source_threshold' compares each document with its source's threshold
    from the audit: set for 1% false positives on the source's own pre-cutoff documents where
    it has enough, else the detector's shipped one (the summary names each and its origin).
    It never drops a pre-cutoff document.

    \b
    Examples:
      auditor filter --db audit.duckdb --drop "score:classifier > 2.27" -o keep.parquet
        # classifier scores are not probabilities: 2.27 is its shipped 1%-FPR threshold
        # ("> 0.95" drops 15% of the pre-2022 pages of ../shared/data/crawl)
      auditor filter --db audit.duckdb --drop synthetic-by-construction \\
          --drop "score:classifier > 2" --keep "crawl_date < 2022-11-30" -o m.parquet
      auditor filter --db audit.duckdb --drop contaminated -o m.parquet --write filtered/
      auditor filter --db audit.duckdb --drop "score:classifier > source_threshold" -o m.parquet

    --write is resumable: shards whose output is complete for the same decisions are skipped.
    Exit status 3 when some shard could not be written (listed with the reason).
    """
    from auditor.act.manifest import write_manifest
    from auditor.act.rules import RuleError, parse_rules
    from auditor.act.shards import results_to_dicts, write_filtered
    from auditor.output_files import printable

    _need_store(db)
    if not drops and not keeps:
        raise click.UsageError("give at least one --drop rule (and optionally --keep rules)")
    try:
        rules = parse_rules(drops, keeps)
        summary = write_manifest(db, rules, output)
    except RuleError as exc:
        raise click.BadParameter(str(exc), param_hint="--drop/--keep") from None
    result = {"manifest": summary.to_dict()}
    failed = []
    if write_dir:
        say = (lambda r: None) if as_json else (
            lambda r: click.echo(f"... {r.status:8s} {r.shard}: {r.n_written} records"
                                 + (f" ({r.reason})" if r.reason else ""), err=True))
        shards = write_filtered(db, output, write_dir, progress=say)
        result["shards"] = results_to_dicts(shards)
        failed = [r for r in shards if r.status == "failed"]
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        s = summary
        click.echo(f"{s.n_docs} documents: {s.n_kept} kept, {s.n_dropped} dropped "
                   f"-> {s.path}")
        for source, counts in sorted(s.by_source.items()):
            click.echo(f"  {source or '(no source)'}: kept {counts['keep']}, dropped "
                       f"{counts['drop']}")
        for reason, n in sorted(s.by_reason.items()):
            click.echo(f"  {n:8d}  {reason}")
        for t in s.source_thresholds:
            click.echo(f"thresholds of {t['detector']} per source (false-positive rate "
                       f"{100 * t['fpr']:g}%):")
            for source, x in sorted(t["sources"].items()):
                thr = "none" if x["threshold"] is None else f"{x['threshold']:.4g}"
                click.echo(f"  {printable(source)}: {thr} ({x['origin_label']}, "
                           f"{x['n_pre_cutoff']} pre-cutoff documents)")
        if write_dir:
            n = sum(r["n_written"] for r in result["shards"])
            click.echo(f"{n} records written under {write_dir}")
    for r in failed:
        click.echo(f"error: {r.reason}", err=True)
    if failed:
        raise SystemExit(3)


COMMANDS = [filter_command]


@click.command("export-attributes")
@click.option("--db", required=True, type=click.Path(dir_okay=False),
              help="Store made by `auditor scan`.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write attributes/<prefix>/... (dolma) and datatrove/... under; dolma pairs them with documents/... in the same folder.")
@click.option("--prefix", default="auditor", show_default=True,
              help="Attribute name prefix (dolma: <prefix>__<detector>__score).")
@click.option("--manifest", type=click.Path(dir_okay=False, exists=True),
              help="Export only the documents this `auditor filter` manifest keeps, in the "
                   "order `filter --write` writes them (so dolma's mixer can pair the files).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export_attributes_command(db, out_dir, prefix, manifest, as_json):
    """Write our per-document scores where corpus pipelines can act on them without us:
    dolma attribute files (one .jsonl.gz per shard: {"id", "attributes": {NAME: [[start, end,
    score]]}}) and one Parquet per shard (id plus scores and flags) for a datatrove filter.

    \b
    Examples:
      auditor export-attributes --db audit.duckdb -o attrs/
      auditor filter --db audit.duckdb --drop synthetic-by-construction -o m.parquet \\
          --write corpus/documents
      auditor export-attributes --db audit.duckdb --manifest m.parquet -o corpus/
      # dolma mix: attributes [auditor], exclude "$.attributes[?(@.auditor__classifier__score
      #            && @.auditor__classifier__score[0] && @.auditor__classifier__score[0][2] > 2)]"
    """
    from auditor.act.attributes import export_attributes

    _need_store(db)
    try:
        summary = export_attributes(db, out_dir, prefix=prefix, manifest=manifest)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    click.echo(f"{summary.n_docs} documents of {summary.n_shards} shards -> {summary.out_dir}")
    click.echo("attributes: " + ", ".join(summary.attribute_names))


COMMANDS.append(export_attributes_command)


@click.command("tradeoff")
@click.option("--db", required=True, type=click.Path(dir_okay=False),
              help="Store made by `auditor scan`.")
@click.option("--detector", default=None, help="Score to filter on (default: the estimate's).")
@click.option("--threshold", "thresholds", multiple=True, type=float,
              help="Threshold t of `score:DETECTOR > t` (repeatable; default: 15 quantiles "
                   "of the corpus scores).")
@click.option("--protect-pre-cutoff/--no-protect-pre-cutoff", default=True, show_default=True,
              help="Keep pre-cutoff documents whatever their score.")
@click.option("--source", default="", help="Show this source's curve (default: all sources).")
@click.option("--per-source-threshold", is_flag=True,
              help="Also cut each source at its own threshold (the audit's: 1% false "
                   "positives on its pre-cutoff documents, else shipped), as `filter --drop "
                   "\"score:DETECTOR > source_threshold\"` does.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole curve as JSON.")
def tradeoff_command(db, detector, thresholds, protect_pre_cutoff, source, per_source_threshold,
                     as_json):
    """What `--drop "score:DETECTOR > t"` costs and buys, per threshold: documents kept, the
    estimated synthetic fraction left, and the human documents lost, per source and overall.

    \b
    Examples:
      auditor tradeoff --db audit.duckdb
      auditor tradeoff --db audit.duckdb --threshold 0 --threshold 2 --source news --json
      auditor tradeoff --db audit.duckdb --per-source-threshold
    """
    from auditor.act.tradeoff import filter_tradeoff, tradeoff_markdown

    _need_store(db)
    try:
        curve = filter_tradeoff(db, detector, thresholds or None, protect_pre_cutoff,
                                per_source_threshold=per_source_threshold)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(curve.to_dict(), indent=2))
        return
    click.echo(tradeoff_markdown(curve, source))
    for n in curve.notes:
        click.echo(f"note: {n}")


COMMANDS.append(tradeoff_command)


@click.command("mix")
@click.option("--db", required=True, type=click.Path(dir_okay=False),
              help="Store made by `auditor scan`.")
@click.option("--metric", default="risk_ratio", show_default=True,
              help="Collapse metric the tolerance applies to.")
@click.option("--tolerance", type=click.FloatRange(min=0.0, min_open=True), default=0.1,
              show_default=True, help="Largest relative change of the metric (0.1 = 10%).")
@click.option("--regime", type=click.Choice(["replace", "accumulate", "accumulate-subsample",
                                             "fresh"]), default="accumulate", show_default=True)
@click.option("--generations", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--model", default="gaussian", show_default=True,
              type=click.Choice(["gaussian", "linear", "categorical"]), help="Model family.")
@click.option("--conservative", is_flag=True,
              help="Use the upper end of each source's 95% interval instead of its estimate.")
@click.option("--detector", default=None, help="Detector to estimate with (default: best).")
@click.option("--filter-threshold", type=float, default=None, metavar="T",
              help="First drop score:DETECTOR > T (pre-cutoff documents kept), then weight "
                   "what is left.")
@click.option("--per-source-threshold", is_flag=True,
              help="First drop score:DETECTOR > each source's own threshold (the audit's; "
                   "pre-cutoff documents kept), then weight what is left.")
@click.option("--runs", type=click.IntRange(min=2), default=None, help="Monte Carlo runs.")
@click.option("--n-boot", default=N_BOOT, show_default=True, type=click.IntRange(0),
              help="Bootstrap replicates of the per-source estimates (the intervals "
                   "--conservative reads); 0: point estimates only.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def mix_command(db, metric, tolerance, regime, generations, model, conservative, detector,
                filter_threshold, per_source_threshold, runs, n_boot, seed, as_json):
    """Per-source weights that keep the training mixture within a collapse tolerance, giving up
    as few human documents as possible; the projected curve before and after.

    The collapse model gives the largest synthetic share alpha* that keeps METRIC within
    TOLERANCE of the real-data model for GENERATIONS generations; sources whose estimated
    synthetic fraction pushes the mixture above alpha* are down-weighted, the most synthetic
    per human document first. The result is checked in its own projection.

    \b
    Examples:
      auditor mix --db audit.duckdb --metric risk_ratio --tolerance 0.1 --regime accumulate
      auditor mix --db audit.duckdb --regime replace --generations 10 --conservative --json
      auditor mix --db audit.duckdb --regime replace --filter-threshold 2
    """
    from auditor.act.mix import mix_markdown, plan_mix

    _need_store(db)
    if conservative and n_boot == 0:
        raise click.UsageError("--conservative reads each source's 95% interval: give "
                               "--n-boot of at least 1 (the default is "
                               f"{N_BOOT})")
    try:
        plan = plan_mix(db, metric=metric, tolerance=tolerance, regime=regime,
                        generations=generations, model=model, conservative=conservative,
                        detector=detector, seed=seed, n_runs=runs, n_boot=n_boot,
                        filter_threshold=filter_threshold,
                        per_source_threshold=per_source_threshold)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    click.echo(mix_markdown(plan))
    for n in plan.notes:
        click.echo(f"note: {n}")


COMMANDS.append(mix_command)
