"""Benchmarks held by a store: the `benchmarks` and `benchmark_items` tables and the index folder.

`add_benchmark` is the one way in: it reads the items (`items.load_items`, or the built-ins
shipped with the package), replaces that benchmark's rows, then rebuilds the one index of all
the store's benchmarks in `<db>.benchmarks/index/`, which the scan's contamination detector
loads. The texts stay in DuckDB (for reports); the index folder holds only hashes and ids.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from importlib import resources

import pyarrow as pa

from auditor.contamination.index import DEFAULT_MIN_TOKENS, DEFAULT_N, build_index, save_index
from auditor.contamination.items import (
    ITEM_SCHEMA,
    BenchmarkInputError,
    Columns,
    builtin_items,
    items_from_table,
    load_items,
)
from auditor.store.paths import StorePaths

BUILTIN = "builtin"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RELEASE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS benchmarks (
    name VARCHAR PRIMARY KEY,
    source VARCHAR NOT NULL,          -- file, folder, hf:NAME or builtin:NAME it was added from
    release_date DATE,                -- when the benchmark was published (NULL: not given)
    n_items BIGINT NOT NULL,
    n_skipped BIGINT NOT NULL,
    added_at TIMESTAMPTZ NOT NULL,
    licenses VARCHAR                  -- JSON list, when known
);
CREATE TABLE IF NOT EXISTS benchmark_items (
    benchmark VARCHAR NOT NULL,
    position BIGINT NOT NULL,         -- order within the benchmark (the index's order)
    split VARCHAR,
    item_id VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    question VARCHAR,
    answer VARCHAR
);
"""


@dataclass(frozen=True)
class AddResult:
    name: str
    source: str
    n_items: int
    skipped: list[str]
    release_date: str | None
    index_items: int
    index_memory_bytes: int

    def to_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "n_items": self.n_items,
                "n_skipped": len(self.skipped), "skipped": self.skipped[:20],
                "release_date": self.release_date, "index_items": self.index_items,
                "index_memory_bytes": self.index_memory_bytes}


def index_folder(db: str | os.PathLike) -> str:
    """Where the store's benchmark index lives (beside the database, like the side-cars)."""
    return StorePaths.for_db(db).benchmark_index


def builtin_manifest() -> dict[str, dict]:
    """The shipped benchmarks by name: release month, licences, source repository."""
    text = resources.files("auditor.contamination.builtin").joinpath("manifest.json").read_text()
    return {b["benchmark"]: b for b in json.loads(text)["benchmarks"]}


def parse_release(value: str | None) -> dt.date | None:
    """`2021-10` or `2021-10-27` -> a date (the first of the month when no day is given)."""
    if value is None or value == "":
        return None
    if not _RELEASE.match(value):
        raise ValueError(f"release date {value!r}: write YYYY-MM or YYYY-MM-DD")
    return dt.date.fromisoformat(value if len(value) == 10 else value + "-01")


def _sources(source: str, name: str | None) -> list[tuple[str, str]]:
    """(benchmark name, source) pairs: `builtin` expands to every shipped benchmark."""
    if source == BUILTIN:
        if name not in (None, BUILTIN):
            raise ValueError("`builtin` adds every shipped benchmark under its own name; use "
                             f"builtin:NAME for one (known: {', '.join(builtin_manifest())})")
        return [(b, f"{BUILTIN}:{b}") for b in builtin_manifest()]
    if source.startswith(f"{BUILTIN}:"):
        which = source.split(":", 1)[1]
        if which not in builtin_manifest():
            raise ValueError(f"{source}: no such built-in benchmark (known: "
                             f"{', '.join(builtin_manifest())})")
        return [(name or which, source)]
    if not name:
        raise ValueError(f"{source}: give the benchmark a name with --name")
    return [(name, source)]


def add_benchmark(db: str | os.PathLike, source: str, name: str | None = None,
                  columns: Columns | None = None, release_date: str | None = None,
                  n: int | None = None, min_tokens: int | None = None,
                  short_questions: bool | None = None) -> list[AddResult]:
    """Add (or replace) benchmark(s) in the store at `db` and rebuild its index.

    Raises `BenchmarkInputError` or `ValueError` with a message naming the file or option.
    """
    from auditor.store.catalogue import open_store

    columns = columns or Columns()
    pairs = _sources(source, name)
    loaded = []
    for bench, src in pairs:
        if not _NAME.match(bench):
            raise ValueError(f"benchmark name {bench!r}: use letters, digits, '.', '_' or '-'")
        if src.startswith(f"{BUILTIN}:"):
            meta = builtin_manifest()[src.split(":", 1)[1]]
            table = builtin_items(meta["benchmark"])
            if bench != meta["benchmark"]:
                table = items_from_table(table, bench, Columns(), src)
            release = release_date or meta["release"]
            loaded.append((bench, src, table, [], release, meta["licenses"]))
        else:
            got = load_items(src, bench, columns)
            if not got.table.num_rows:
                raise BenchmarkInputError(f"{src}: no items read ({len(got.skipped)} skipped"
                                          f"{': ' + got.skipped[0] if got.skipped else ''})")
            loaded.append((bench, src, got.table, got.skipped, release_date, None))
    results = []
    with open_store(db) as store:
        con = store.con
        con.execute(SCHEMA_SQL)
        params = _index_params(db, n, min_tokens, short_questions)
        for bench, src, table, skipped, release, licenses in loaded:
            when = parse_release(release)
            con.execute("DELETE FROM benchmark_items WHERE benchmark = ?", [bench])
            con.execute("DELETE FROM benchmarks WHERE name = ?", [bench])
            rows = table.append_column("position", pa.array(range(table.num_rows), pa.int64()))
            con.register("_new_items", rows)
            con.execute("INSERT INTO benchmark_items SELECT benchmark, position, split, item_id, "
                        "text, question, answer FROM _new_items")
            con.unregister("_new_items")
            con.execute("INSERT INTO benchmarks VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [bench, src, when, table.num_rows, len(skipped),
                         dt.datetime.now(dt.timezone.utc),
                         json.dumps(licenses) if licenses else None])
            results.append((bench, src, table.num_rows, skipped,
                            when.isoformat() if when else None))
        index = rebuild_index(con, db, **params)
    return [AddResult(b, s, k, sk, r, index.n_items, index.memory_bytes())
            for b, s, k, sk, r in results]


def _index_params(db, n, min_tokens, short_questions) -> dict:
    """Index settings: as given, else those of the store's current index, else the defaults."""
    current = {}
    path = os.path.join(index_folder(db), "index.json")
    if os.path.exists(path):
        with open(path) as f:
            current = json.load(f)
    return {"n": n or current.get("n", DEFAULT_N),
            "min_tokens": min_tokens or current.get("min_tokens", DEFAULT_MIN_TOKENS),
            "short_questions": (short_questions if short_questions is not None
                                else bool(current.get("short_questions", True)))}


def rebuild_index(con, db, n: int, min_tokens: int, short_questions: bool):
    """Index every item of the store (benchmarks by name, items in their order)."""
    table = con.sql(
        "SELECT benchmark, split, item_id, text, question, answer FROM benchmark_items "
        "ORDER BY benchmark, position").to_arrow_table()
    index = build_index(table.cast(ITEM_SCHEMA), n=n, min_tokens=min_tokens,
                        short_questions=short_questions)
    save_index(index, index_folder(db), extra={"short_questions": short_questions})
    return index


def list_benchmarks(db: str | os.PathLike) -> list[dict]:
    """The store's benchmarks (empty when none were added)."""
    from auditor.store.catalogue import open_store

    with open_store(db, read_only=True) as store:
        if not has_benchmarks(store.con):
            return []
        rows = store.con.execute(
            "SELECT name, source, release_date, n_items, n_skipped, added_at, licenses "
            "FROM benchmarks ORDER BY name").fetchall()
    return [{"name": r[0], "source": r[1], "release_date": r[2].isoformat() if r[2] else None,
             "n_items": r[3], "n_skipped": r[4], "added_at": r[5].isoformat(),
             "licenses": json.loads(r[6]) if r[6] else None} for r in rows]


def has_benchmarks(con) -> bool:
    """True when the connected store has a `benchmarks` table (any benchmark ever added)."""
    return bool(con.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'benchmarks'"
    ).fetchone()[0])
