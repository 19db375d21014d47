"""SQL identifiers that estimation must interpolate (group-by columns, score columns), checked.

Values always travel as `?` parameters; column names cannot, so every name is checked against
the columns the `documents` view really has and against a strict pattern, then double-quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import duckdb

from auditor.records import NON_AUTHORSHIP_DETECTORS

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

#: Columns it makes no sense to group by (one value per document, or free text).
NOT_GROUPABLE = frozenset({"id", "offset", "snippet", "meta", "n_chars", "n_tokens", "url"})


def view_columns(con: duckdb.DuckDBPyConnection, view: str = "documents") -> dict[str, str]:
    """Column name -> DuckDB type of a table or view; a clear error when it does not exist."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [view],
    ).fetchall()
    if not rows:
        raise LookupError(
            f"the database has no {view!r} view: run `auditor scan ... --db <db>` first"
        )
    return dict(rows)


def quote(name: str, allowed: Iterable[str], what: str = "column") -> str:
    """`name` double-quoted for SQL, after checking it is one of `allowed` and a plain name."""
    allowed = list(allowed)
    if not isinstance(name, str) or not _NAME.match(name) or name not in allowed:
        raise ValueError(
            f"{what} {name!r} is not a column of the documents view; "
            f"choose from: {', '.join(sorted(allowed))}"
        )
    return f'"{name}"'


def group_columns(by: Sequence[str], columns: dict[str, str]) -> list[str]:
    """Quoted group-by columns, validated; duplicates and per-document columns rejected."""
    if isinstance(by, str):
        by = [by]
    groupable = [c for c in columns if c not in NOT_GROUPABLE and not c.startswith(("score_", "reason_"))]
    if len(set(by)) != len(by):
        raise ValueError(f"group-by columns repeat: {list(by)}")
    return [quote(b, groupable, "group-by column") for b in by]


def score_columns(columns: dict[str, str]) -> list[str]:
    """Detector names that have a `score_<detector>` column in the view."""
    return [c[len("score_"):] for c in columns if c.startswith("score_") and _NAME.match(c)
            and c[len("score_"):] not in NON_AUTHORSHIP_DETECTORS]
