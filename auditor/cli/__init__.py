"""The `auditor` command. Thin: each area's commands live in their own module and call library
functions that the tests call too."""

from __future__ import annotations

import click

from auditor import __version__
from auditor.cli import act, contamination, demo, detectors, estimate, project, report, scan


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
