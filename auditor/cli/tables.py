"""Tables on stdout: a rich table for a person at a terminal, TSV for a pipe or a file.

Piped, rich wraps and cuts every table at 80 columns (`frac…`), which neither a person reading
a log nor `cut`/`awk` can use. Not at a terminal, a table is printed as tab-separated values:
one header line, one line a row, every value whole (tabs and newlines inside a value become
spaces), and the title and notes as `# ` comment lines.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from auditor.output_files import printable


def is_terminal(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _tsv(value: Any) -> str:
    text = ("" if value is None else str(value)).replace("\t", " ").replace("\r", " ")
    return printable(text.replace("\n", " "))


def tsv_lines(columns: Sequence[str], rows: Sequence[Sequence[Any]],
              title: str | None = None) -> list[str]:
    lines = [f"# {_tsv(title)}"] if title else []
    lines.append("\t".join(_tsv(c) for c in columns))
    lines += ["\t".join(_tsv(v) for v in r) for r in rows]
    return lines


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
                *, terminal: bool | None = None) -> None:
    """Print `rows` under `columns`: rich at a terminal, TSV otherwise. Values are printed as
    plain text (never read as rich markup, so a source named `[red]x` stays as it is)."""
    if not (is_terminal() if terminal is None else terminal):
        for line in tsv_lines(columns, rows, title):
            click.echo(line)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for c in columns:
        table.add_column(str(c), overflow="fold")
    for r in rows:
        table.add_row(*[v if isinstance(v, Text) else cell(v) for v in r])
    Console().print(table)


def cell(value: Any):
    """A value from the data as a rich table cell: plain text (never read as rich markup, so a
    path or source holding `[/]` is shown, not parsed, which raised MarkupError) with control
    characters shown as `\\x1b`."""
    from rich.text import Text

    return Text(printable("" if value is None else value))


def print_line(text: str) -> None:
    """A line of prose, whole (rich would wrap it at 80 columns when piped), with no control
    character from the data acted on by the terminal."""
    click.echo("\n".join(printable(part) for part in str(text).split("\n")))
