"""`auditor scan`, `auditor runs`, `auditor status`: fill the store and say what is in it.

Thin on purpose: options become a `ScanOptions` and everything else is `auditor.scan.run_scan`
and `auditor.store.status`, which the tests call too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys

import click

from auditor.records import DEFAULT_CUTOFF, ROLES


class CannotRun(click.ClickException):
    """One line on stderr and exit 2: the command could not run (a store it cannot write or
    open, inputs that do not exist, an unknown detector). 1 is left to `check`'s failed gates
    and 3 to a scan with failed records."""

    exit_code = 2


_SOURCE_BY = re.compile(r"^(file|domain|column:.+|dataset:.+)$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 1024, "m": 1e6, "mb": 1e6, "mib": 1 << 20,
          "g": 1e9, "gb": 1e9, "gib": 1 << 30, "t": 1e12, "tb": 1e12, "tib": 1 << 40}


def _parse_size(ctx, param, value: str) -> int:
    m = _SIZE.match(value or "")
    if not m or m.group(2) is not None and m.group(2).lower() not in _UNITS:
        raise click.BadParameter(f"{value!r} is not a size; write e.g. 64MB, 1GiB or 500000")
    size = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    if size <= 0:
        raise click.BadParameter("must be positive")
    return size


def _parse_source_by(ctx, param, value: str) -> str:
    if not _SOURCE_BY.match(value):
        raise click.BadParameter(f"{value!r}: use file, domain, column:NAME or dataset:NAME")
    return value


def _formats() -> list[str]:
    from auditor.readers.discover import FORMATS

    return list(FORMATS)


@click.command("scan")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--db", default="audit.duckdb", show_default=True,
              help="Store to fill: DuckDB catalogue; side-cars go to <db>.sidecars/, logs to "
                   "<db>.logs/.")
@click.option("--format", "fmt", type=click.Choice(_formats()), default=None,
              help="Input format for every input (default: by extension, else by content).")
@click.option("--text-column", default="text", show_default=True, help="Field with the text.")
@click.option("--id-column", default=None,
              help="Field with a document id (default: `id` if present, else a content hash).")
@click.option("--url-column", default=None, help="Field with the URL (default: common names).")
@click.option("--date-column", default=None,
              help="Field with the crawl date (default: common names such as crawl_date, "
                   "timestamp, created, date).")
@click.option("--license-column", default=None, help="Field with the licence.")
@click.option("--language-column", default=None, help="Field with the language code.")
@click.option("--label-column", default=None,
              help="Field with human/ai labels: rows become human or machine references.")
@click.option("--source-by", default="file", show_default=True, callback=_parse_source_by,
              help="What a document's source is: file, domain, column:NAME or dataset:NAME.")
@click.option("--role", type=click.Choice(list(ROLES)), default="corpus", show_default=True,
              help="Role of these documents in estimation.")
@click.option("--cutoff", type=click.DateTime(["%Y-%m-%d"]), default=DEFAULT_CUTOFF.isoformat(),
              show_default=True, help="Documents crawled before this date are pre-cutoff.")
@click.option("--synthetic-source", "synthetic_sources", multiple=True, metavar="NAME",
              help="Extra dataset/source name that is synthetic by construction (repeatable; "
                   "added to the built-in list: cosmopedia, tinystories, ...).")
@click.option("--detectors", "detector_spec", default=None, metavar="NAMES",
              help="Comma-separated detectors to run on every document (default: the cheap "
                   "tier that is available here, with `contamination` once the store has "
                   "benchmarks; `none` for provenance only).")
@click.option("--batch-size", default=1024, show_default=True, type=click.IntRange(1),
              help="Documents per detector batch.")
@click.option("--unit-size", default="128MB", show_default=True, callback=_parse_size,
              help="Target size of a work unit (large files are split at row groups / lines).")
@click.option("--max-record-size", "max_record_size", default="16MiB", show_default=True,
              callback=_parse_size,
              help="Largest JSON line read; a longer one fails with its reason and the scan "
                   "goes on at the next line (keeps memory bounded on hostile files).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Worker processes (units run in parallel); with --executor ray, Ray actors.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True,
              help="Where units run: local processes, or a Ray cluster (needs the `ray` extra; "
                   "same side-cars and catalogue either way).")
@click.option("--address", default=None, metavar="ADDRESS",
              help="Ray cluster to join with --executor ray: `auto` (this machine's cluster) "
                   "or ray://HOST:10001; default: a private local cluster for this scan.")
@click.option("--include", "include", multiple=True, metavar="GLOB",
              help="Scan only files whose name or path matches this glob (repeatable), e.g. "
                   "--include '*.jsonl.gz'.")
@click.option("--exclude", "exclude", multiple=True, metavar="GLOB",
              help="Leave out files whose name or path matches this glob (repeatable), e.g. "
                   "--exclude '*/tmp/*'.")
@click.option("--force", is_flag=True, help="Rescan everything, ignoring what is stored.")
@click.option("--retry-failed", is_flag=True,
              help="Read again the units that failed in earlier runs (by default they are held "
                   "back until their file changes, so one poison file cannot stop every run).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def scan_command(inputs, db, fmt, text_column, id_column, url_column, date_column,
                 license_column, language_column, label_column, source_by, role, cutoff,
                 synthetic_sources, detector_spec, batch_size, unit_size, max_record_size,
                 workers, executor,
                 address, include, exclude, force, retry_failed, progress, as_json) -> None:
    """Stream INPUT shards into the store: provenance plus detector scores per document.

    INPUT is any mix of files, folders and globs of Parquet, JSONL (.jsonl, .json.gz,
    .jsonl.zst), WARC/WET (.warc.gz, .warc.wet.gz) and Hugging Face datasets (a saved
    folder, or hf:NAME), local or remote (s3://, hf://).

    Re-running is cheap and safe: units already stored (same shard size+mtime or etag, same
    options, same detector versions) are skipped; changed and new shards are scanned; a new
    or upgraded detector only fills its own column; a killed run resumes without losing or
    duplicating a record. Every record ends stored, skipped or failed, with the reason in the
    store's `errors` table (see `auditor status --errors`; a record stored with invalid UTF-8
    replaced is listed there as kept). Files in a folder that are not
    corpus shards (notes, images, archives) are skipped and listed in the summary; a unit
    that failed (even one that killed its worker) is held back until its file changes or
    --retry-failed.

    \b
    Examples:
      auditor scan data/*.parquet --db audit.duckdb
      auditor scan crawl/ --source-by domain --workers 4
      auditor scan c4.json.gz --date-column timestamp --detectors markers,compression
      auditor scan dev.parquet --label-column label --role human_reference --detectors none
      auditor scan data/ --db audit.duckdb --json    # machine-readable summary
      auditor scan data/ --include '*.jsonl.gz' --exclude '*/tmp/*'
      auditor scan s3://bucket/crawl/ --executor ray --address auto --workers 32

    With --executor ray, each worker is a Ray actor that loads the detectors once (with a GPU
    share when the cluster has GPUs and a model/lm detector runs); the driver alone writes
    the catalogue. On a multi-node cluster the store's side-car folder (<db>.sidecars/) must
    be a path every node can write, and inputs must be paths or URIs (s3://, gs://, hf://)
    every node can read.

    \b
    Exit status:
      0  every record stored or skipped by policy
      3  partial: some records or units failed, now or in an earlier run (listed in
         `auditor status --errors`; failed units are retried with --retry-failed)
      2  the scan could not run (bad input paths, unknown detector, a store that is
         locked or cannot be written), or bad command-line usage
    """
    from auditor.readers.base import DEFAULT_SYNTHETIC_SOURCES, ReaderOptions
    from auditor.scan.options import ScanOptions
    from auditor.scan.runner import ScanError, run_scan

    reader = ReaderOptions(
        format=fmt, text_column=text_column, id_column=id_column, url_column=url_column,
        date_column=date_column, license_column=license_column,
        language_column=language_column, label_column=label_column, source_by=source_by,
        role=role, cutoff=cutoff.date() if isinstance(cutoff, dt.datetime) else cutoff,
        synthetic_sources=tuple(DEFAULT_SYNTHETIC_SOURCES) + tuple(synthetic_sources),
        max_record_bytes=max_record_size)
    options = ScanOptions(reader=reader, batch_size=batch_size, unit_bytes=unit_size)
    show_bar = sys.stderr.isatty() if progress is None else progress
    run_units = _executor(executor, address)
    try:
        summary = run_scan(inputs, db, options, detectors=detector_spec, workers=workers,
                           force=force, progress=show_bar and not as_json,
                           executor=run_units, retry_failed=retry_failed,
                           include=include, exclude=exclude)
    except ScanError as exc:
        raise CannotRun(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_summary(summary, db)
    sys.exit(summary.exit_code)


def _executor(name: str, address: str | None):
    """The executor callable for `run_scan`; Ray is checked here so a missing extra is a
    usage error, not a failed run."""
    if name == "local":
        if address is not None:
            raise click.UsageError("--address only applies with --executor ray")
        from auditor.scan.local_executor import run_local

        return run_local
    from auditor.scan.ray_executor import RayMissingError, import_ray, ray_executor

    try:
        import_ray()
    except RayMissingError as exc:
        raise CannotRun(str(exc)) from None
    return ray_executor(address=address)


def _print_summary(summary, db: str) -> None:
    c = summary.counts
    dets = ", ".join(f"{n} v{v}" for n, v in summary.detectors.items()) or "none (provenance only)"
    click.echo(f"run {summary.run_id}: {summary.status}")
    click.echo(f"  detectors: {dets}")
    click.echo(f"  units: {c['units']} planned, {c['units_scanned']} scanned, "
               f"{c['units_rescored']} rescored, {c['units_reused']} already stored, "
               f"{c['units_failed']} failed"
               + (f", {c['units_held_failed']} held back after failing before"
                  if c.get("units_held_failed") else ""))
    click.echo(f"  records: {c['stored']} stored, {c['skipped']} skipped, {c['failed']} failed")
    for note in summary.notes:
        click.echo(f"  note: {note}")
    if summary.status != "ok":
        click.echo(f"  details: auditor status --db {db} --errors", err=True)
    click.echo(f"  log: {summary.log}")


@click.command("runs")
@click.option("--db", default="audit.duckdb", show_default=True, help="Store to read.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(0),
              help="Newest runs to show (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs_command(db, limit, as_json) -> None:
    """List the scan runs of a store, newest first, with their counts and status.

    \b
    Examples:
      auditor runs --db audit.duckdb
      auditor runs --db audit.duckdb --json --limit 1
    """
    from auditor.store.status import list_runs

    rows = _read(list_runs, db, limit=limit or None)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from auditor.cli.tables import print_table

    print_table(["run", "started", "status", "units scanned/rescored/reused/failed", "stored",
                 "skipped", "failed", "detectors"],
                [[r["run_id"], str(r["started_at"])[:19], r["status"],
                  f"{r['n_units_scanned']}/{r['n_units_rescored']}/{r['n_units_reused']}/"
                  f"{r['n_units_failed']}", str(r["n_stored"]), str(r["n_skipped"]),
                  str(r["n_failed"]), ",".join(r["detectors"]) or "none"] for r in rows],
                title=f"runs in {db}")


@click.command("status")
@click.option("--db", default="audit.duckdb", show_default=True, help="Store to read.")
@click.option("--errors", "show_errors", is_flag=True, help="Also list the latest record errors.")
@click.option("--errors-limit", default=20, show_default=True, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(db, show_errors, errors_limit, as_json) -> None:
    """Show what a store holds: per shard status and counts, totals, detector versions.

    \b
    Examples:
      auditor status --db audit.duckdb
      auditor status --db audit.duckdb --errors     # why records were skipped or failed
      auditor status --db audit.duckdb --json
    """
    from auditor.store.status import store_status

    st = _read(store_status, db, errors_limit=errors_limit)
    if as_json:
        click.echo(json.dumps(st, indent=2, default=str))
        return
    from auditor.cli.tables import print_line, print_table

    t = st["totals"]
    last = st["last_run"]
    print_line(f"store {st['db']}: {t['shards']} shards, {t['units']} units; records "
               f"{t['stored']} stored, {t['skipped']} skipped, {t['failed']} failed"
               + (f"; last run {last['run_id']} ({last['status']})" if last else ""))
    dets = "; ".join(f"{n}: " + ", ".join(f"v{v} on {k} units" for v, k in vs.items())
                     for n, vs in st["detectors"].items())
    print_line(f"detectors: {dets or 'none'}")
    print_table(["shard", "format", "status", "units", "stored", "skipped", "failed",
                 "last run"],
                [[s["uri"], s["format"], s["status"], str(s["n_units"]), str(s["n_stored"]),
                  str(s["n_skipped"]), str(s["n_failed"]), s["last_run_id"] or ""]
                 for s in st["shards"]])
    if st["missing_shards"]:
        print_line(f"{len(st['missing_shards'])} shard(s) no longer exist on disk (their "
                   f"documents are still counted; `auditor prune --db {db}` removes them): "
                   + ", ".join(st["missing_shards"]))
    if show_errors:
        print_table(["run", "shard", "record", "status", "reason"],
                    [[e["run_id"], e["shard"], e["record"], e["status"], e["reason"]]
                     for e in st["errors"]],
                    title=f"errors (latest {len(st['errors'])} of {t['errors']})")


def _read(fn, db: str, **kwargs):
    from auditor.store.catalogue import StoreAccessError, StoreLockedError

    try:
        return fn(db, **kwargs)
    except (FileNotFoundError, StoreLockedError, StoreAccessError) as exc:
        raise CannotRun(str(exc)) from None


@click.command("prune")
@click.option("--db", default="audit.duckdb", show_default=True, help="Store to prune.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
def prune_command(db, dry_run, as_json) -> None:
    """Remove from the store the shards whose files no longer exist on disk.

    Their rows, record errors and side-cars go; nothing else is touched. Remote (s3://, hf://)
    shards are not checked. `auditor status` lists the missing shards first.

    \b
    Examples:
      auditor prune --db audit.duckdb --dry-run
      auditor prune --db audit.duckdb
    """
    from auditor.store.prune import prune_missing

    rows = _read(prune_missing, db, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    if not rows:
        click.echo("no missing shards: nothing to prune")
    for r in rows:
        click.echo(f"{verb} {r['shard']}: {r['documents']} documents, {r['sidecars']} side-cars")


COMMANDS = [scan_command, runs_command, status_command, prune_command]
