"""`auditor report` and `auditor check`: thin wrappers over `auditor.report` and `auditor.check`."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from auditor.estimate.choice import N_BOOT
from auditor.output_files import OutputPathError, check_output_path, printable
from auditor.report import FORMATS, format_for, write_report

#: Exit code of a command that could not start: bad option, unusable output path (as click's own
#: usage errors, and as `auditor check` says "could not run").
EXIT_USAGE = 2

#: Notes printed on the terminal; the report itself holds every one.
MAX_NOTES = 10


def _fail(message: str, code: int) -> None:
    """One line on stderr and the exit code; never a traceback for a user's mistake."""
    click.echo(printable(f"Error: {message}"), err=True)
    sys.exit(code)


@click.command("report")
@click.option("--db", "db", required=True, type=click.Path(dir_okay=False),
              help="Store made by `auditor scan`.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Report file: .html, .md or .json (or say which with --format).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format; default: from the file extension.")
@click.option("--method", default="auto", show_default=True, help="Estimation method.")
@click.option("--detector", default=None, help="Score column to estimate with (default: best).")
@click.option("--weight", type=click.Choice(["docs", "tokens"]), default="docs",
              show_default=True, help="Weight documents equally or by tokens.")
@click.option("--n-boot", default=N_BOOT, show_default=True, help="Bootstrap replicates.")
@click.option("--top", "top_k", default=3, show_default=True,
              help="Flagged documents shown per source.")
@click.option("--generations", default=10, show_default=True,
              help="Generations of the collapse projection.")
@click.option("--collapse-model", default="gaussian", show_default=True,
              help="Model family of the collapse projection.")
@click.option("--seed", default=0, show_default=True, help="Seed of every random draw.")
@click.option("--recompute", is_flag=True,
              help="Compute the audit again even when the store holds one for its latest scan "
                   "run and these settings.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary of what was written.")
def report_command(db, output, fmt, method, detector, weight, n_boot, top_k, generations,
                   collapse_model, seed, recompute, as_json):
    """Write a report of a store: one self-contained HTML page, Markdown or JSON.

    The report shows documents, tokens, sources and dates; the synthetic fraction overall, per
    source (forest plot and sortable table) and per crawl month around 2022-11-30; licence and
    provenance coverage; each source's flag threshold (set on its own pre-cutoff documents, else
    the shipped one, origin named) and what it flags; detector agreement; collapse projections
    (replace vs accumulate); the most confidently flagged documents per source with their
    reasons; and scan errors. Every number names its method and floor.

    The estimates and projections come from the store's audit for its latest scan run and
    these settings (the one `auditor check` and `auditor demo` read): computed on first use and
    stored, reused after, recomputed after a new scan or with --recompute. A read-only store
    works: the audit is then computed in memory, and a note says it was not stored.

    \b
    Examples:
      auditor report --db audit.duckdb -o reports/audit.html
      auditor report --db audit.duckdb -o reports/audit.md
      auditor report --db audit.duckdb -o out.txt --format json --weight tokens
    """
    from auditor.report.collect import collect
    from auditor.report.store_sql import StoreError

    try:
        kind = format_for(output, fmt)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="-o/--output") from None
    try:  # before the work: a bad target is reported at once, not after the estimation
        check_output_path(output)
    except OutputPathError as e:
        _fail(str(e), EXIT_USAGE)
    say = (lambda m: None) if as_json else (lambda m: click.echo(f"... {m}", err=True))
    try:
        data = collect(db, method=method, detector=detector, weight=weight, n_boot=n_boot,
                       seed=seed, top_k=top_k, generations=generations,
                       collapse_model=collapse_model, recompute=recompute, progress=say)
    except StoreError as e:
        raise click.ClickException(str(e)) from None
    try:
        path = write_report(data, output, kind)
    except OutputPathError as e:
        _fail(str(e), EXIT_USAGE)
    except OSError as e:
        _fail(f"cannot write the report {output}: {e.strerror or e}", 1)
    if as_json:
        click.echo(json.dumps({"report": str(path), "format": kind, "notes": data.notes,
                               "audit": data.audit}))
    else:
        for n in data.notes[:MAX_NOTES]:
            click.echo(printable(f"note: {n}"), err=True)
        if len(data.notes) > MAX_NOTES:
            click.echo(f"... and {len(data.notes) - MAX_NOTES:,} more notes, all in the report",
                       err=True)
        click.echo(f"report written to {path}")


@click.command("check")
@click.option("--db", "db", required=True, type=click.Path(dir_okay=False),
              help="Store made by `auditor scan`.")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False),
              help="TOML file with the gates (see examples/auditor.toml).")
@click.option("--json-out", type=click.Path(dir_okay=False), default=None,
              help="Write the result (every gate, value and threshold) as JSON here.")
@click.option("--junit-out", type=click.Path(dir_okay=False), default=None,
              help="Write the gates as JUnit XML here, for CI systems.")
@click.option("--recompute", is_flag=True,
              help="Compute the audit again even when the store holds one for its latest scan "
                   "run and the config's [estimate] settings.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result on stdout.")
def check_command(db, config, json_out, junit_out, recompute, as_json):
    """Gate a pipeline on a store: exit 0 all gates pass, 1 a gate fails, 2 the check could not
    run (bad config, missing store, nothing scored).

    Gates (each optional, in the TOML config): maximum synthetic fraction overall and per
    source, judged on the UPPER end of the 95% interval; maximum rise since the previous scan
    run (from the store's estimates history); minimum date/URL/licence coverage; maximum
    projected degradation after N generations under a regime; sources that must hold no
    synthetic-by-construction data.

    Gates judge the store's audit for its latest scan run and the config's [estimate]
    settings, the same one `auditor report` shows (stored on first use; --recompute to redo
    it). A read-only store works: nothing is written to it.

    \b
    Examples:
      auditor check --db audit.duckdb --config auditor.toml
      auditor check --db audit.duckdb --config auditor.toml \\
          --json-out check.json --junit-out check.xml
    """
    from auditor import check as gates  # here: `auditor --help` stays free of duckdb

    for out in (json_out, junit_out):
        try:  # before the work, and exit 2 (could not run), never 1 (a gate failed)
            if out:
                check_output_path(out)
        except OutputPathError as e:
            _fail(f"check could not run: {e}", gates.EXIT_ERROR)
    try:
        try:
            cfg = gates.load_config(config)
            result = gates.run_check(db, cfg, recompute=recompute)
        except gates.CheckError:
            raise
        except Exception as e:  # noqa: BLE001 - exit 1 must only ever mean "a gate failed"
            raise gates.CheckError(f"internal error while checking: {type(e).__name__}: {e}; "
                                   "please report it") from e
    except gates.CheckError as e:
        if json_out:
            with contextlib.suppress(OSError, OutputPathError):  # the message below still says
                gates.write_error_json(str(e), json_out, db, config)
        if as_json:
            click.echo(json.dumps({"status": "error", "exit_code": gates.EXIT_ERROR,
                                   "error": str(e)}))
        click.echo(printable(f"Error: check could not run: {e}"), err=True)
        sys.exit(gates.EXIT_ERROR)
    try:
        if json_out:
            gates.write_json(result, json_out)
        if junit_out:
            gates.write_junit(result, junit_out)
    except (OutputPathError, OSError) as e:
        _fail(f"check ran but its result could not be written: {e}", gates.EXIT_ERROR)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for line in gates.summary_lines(result):
            click.echo(line)
    sys.exit(result.exit_code)


COMMANDS = [report_command, check_command]
