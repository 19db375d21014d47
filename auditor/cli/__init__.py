"""The `auditor` command. Thin: each area's commands live in their own module and call library
functions that the tests call too."""

from __future__ import annotations

import click

from auditor import __version__
from auditor.cli import act, contamination, demo, detectors, estimate, project, report, scan


class _Main(click.Group):
    """The command group; a store that cannot be opened (not a DuckDB file, locked by a running
    scan, unreadable) is a one-line error and exit 2 in every command, not a traceback (estimate,
    report, project, filter, mix, tradeoff, contamination and export-attributes printed one)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RuntimeError as exc:
            import sys

            catalogue = sys.modules.get("auditor.store.catalogue")
            if catalogue is not None and isinstance(
                    exc, (catalogue.StoreAccessError, catalogue.StoreLockedError)):
                raise scan.CannotRun(str(exc)) from None
            raise


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auditor")
def main() -> None:
    """Audit a pre-training corpus for machine-generated text.

    \b
    Typical flow:
      auditor scan data/ --db audit.duckdb        # stream shards, score, record provenance
      auditor estimate --db audit.duckdb --by source
      auditor project --db audit.duckdb --regime all
      auditor report --db audit.duckdb -o audit.html
      auditor check --db audit.duckdb --config auditor.toml   # gate a nightly pipeline
    Or run everything on the embedded demo corpus: auditor demo
    """


for command in (
    *scan.COMMANDS,
    *detectors.COMMANDS,
    *estimate.COMMANDS,
    *project.COMMANDS,
    *report.COMMANDS,
    *demo.COMMANDS,
    *contamination.COMMANDS,
    *act.COMMANDS,
):
    main.add_command(command)
