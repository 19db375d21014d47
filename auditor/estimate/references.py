"""Where the human and machine references of an estimate come from, in order of preference.

Machine reference (one for all groups): a Parquet file or source the user names; else documents
scanned with role `machine_reference`; else the detector's shipped reference
(`detectors/models/references/<detector>.parquet`, label ai, splits not used in training).

Human reference (per source): the source's own corpus documents dated before the cutoff
(`pre_cutoff`), reference slice by a hash of the id (the other slice gives the floor); else
documents scanned with role `human_reference` of the same source; else all documents scanned as
`human_reference`; else the shipped reference's human rows. Every step down the list is written
into the estimate's notes, and the last one also widens the interval.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from auditor.estimate.histograms import (
    REF_SLICE_SQL,
    ScoreSource,
    documents_source,
    file_source,
    shipped_source,
)
from auditor.estimate.identifiers import quote

#: Fewest documents for a human reference to be used at all (own, role or borrowed).
MIN_HUMAN_REF = 50
MIN_MACHINE_REF = 50
#: Fewest known-human held-out documents for a floor: on one document a floor reads 0 or 100%
#: (a source of one pre-cutoff page printed "floor 100.0%", and the headline floor, their
#: document-weighted mean, 40.8% on an all-human crawl); below it the floor is n/a.
MIN_FLOOR_DOCS = 20


def shipped_reference_path(detector: str) -> str | None:
    """The shipped reference scores of a detector, or None when it ships none."""
    import detectors

    path = Path(detectors.__file__).parent / "models" / "references" / f"{detector}.parquet"
    return str(path) if path.is_file() else None


def _parquet_columns(con: duckdb.DuckDBPyConnection, path: str) -> list[str]:
    try:
        return [d[0] for d in con.execute("SELECT * FROM read_parquet($p) LIMIT 0",
                                          {"p": path}).description]
    except duckdb.Error as e:
        raise ValueError(f"reference file {path}: cannot read it as Parquet ({e})") from None


def user_source(con: duckdb.DuckDBPyConnection, spec: str, detector: str, score: str,
                label: str, name: str) -> ScoreSource:
    """A reference the user named: a Parquet file of scores, or a source in the store.

    A file needs a `score_<detector>` or `score` column; a `label` column, when present, is
    filtered to `label` ('human' or 'ai'). Anything else is taken as a source name whose scored
    documents (any role) form the reference.
    """
    if os.path.isfile(spec):
        cols = _parquet_columns(con, spec)
        col = f"score_{detector}" if f"score_{detector}" in cols else "score"
        if col not in cols:
            raise ValueError(
                f"reference file {spec}: no column score_{detector} or score; "
                f"it has {', '.join(cols)}"
            )
        return file_source(spec, quote(col, cols, "score column"),
                           label if "label" in cols else None, name)
    n = con.execute(f"SELECT COUNT(*) FROM documents WHERE source = $s AND {score} IS NOT NULL",
                    {"s": spec}).fetchone()[0]
    if n == 0:
        raise ValueError(
            f"reference {spec!r} is neither a Parquet file nor a source with {detector} scores "
            "in the store; give a path to a Parquet file or a source name from `auditor scan`"
        )
    sql = (f"SELECT {score} AS score, CAST(n_tokens AS DOUBLE) AS tokens, "
           f"{REF_SLICE_SQL} AS in_ref, source FROM documents "
           f"WHERE source = $src_{name} AND {score} IS NOT NULL")
    return ScoreSource(sql, {f"src_{name}": spec}, f"documents of source {spec!r}")


@dataclass(frozen=True)
class ReferencePlan:
    """The SQL sources of every candidate reference for one detector."""

    machine: ScoreSource | None
    machine_note: str
    own: ScoreSource  # corpus documents before the cutoff, per source
    human_role: ScoreSource  # documents scanned as human_reference
    human_default: ScoreSource | None  # shipped human rows
    human_user: ScoreSource | None  # what the user named, overriding the rest


def plan_references(con: duckdb.DuckDBPyConnection, detector: str, score: str,
                    machine_reference: str | None = None,
                    human_reference: str | None = None) -> ReferencePlan:
    """Candidate references for `detector` (whose quoted score column is `score`)."""
    shipped = shipped_reference_path(detector)
    has_id = bool(shipped) and "id" in _parquet_columns(con, shipped)
    if machine_reference:
        machine = user_source(con, machine_reference, detector, score, "ai", "um")
        note = f"machine reference: {machine.description} (given)"
    else:
        n_role = con.execute(
            f"SELECT COUNT(*) FROM documents WHERE role = 'machine_reference' AND {score} IS NOT NULL"
        ).fetchone()[0]
        if n_role >= MIN_MACHINE_REF:
            machine = documents_source(score, "machine_reference",
                                       "documents scanned as machine_reference")
            note = f"machine reference: {n_role} documents scanned as machine_reference"
        elif shipped:
            machine = shipped_source(shipped, "ai", "sm", has_id)
            note = f"machine reference: {machine.description}"
            if n_role:
                note += f" ({n_role} scanned machine_reference documents are too few, < {MIN_MACHINE_REF})"
        else:
            machine, note = None, (
                f"no machine reference for detector {detector!r}: scan labeled machine text with "
                "--role machine_reference, or pick a detector that ships a reference")
    return ReferencePlan(
        machine=machine,
        machine_note=note,
        own=documents_source(score, "corpus", "own pre-cutoff documents", "AND pre_cutoff"),
        human_role=documents_source(score, "human_reference",
                                    "documents scanned as human_reference"),
        human_default=shipped_source(shipped, "human", "sh", has_id) if shipped else None,
        human_user=(user_source(con, human_reference, detector, score, "human", "uh")
                    if human_reference else None),
    )
