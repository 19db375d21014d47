"""The DuckDB catalogue: what was scanned (runs, shards, units), what went wrong (errors), and the
`documents` view over the side-cars.

Only the driver process opens the database for writing (DuckDB allows one writer); workers
write side-cars only and hand their counts back. Every catalogue row about a unit is written
after its side-car exists, so after a crash the files are the truth and `reconcile` brings the
tables back in line with them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from auditor.records import PROVENANCE_SCHEMA, reason_column, score_column
from auditor.store.paths import StorePaths
from auditor.store.sidecar import ATTRIBUTE_KEY

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,          -- running | ok | partial | failed
    inputs VARCHAR NOT NULL,          -- JSON list of the INPUT arguments
    detectors VARCHAR NOT NULL,       -- JSON {name: version}
    options VARCHAR NOT NULL,         -- JSON of the reader/scan options
    n_units BIGINT DEFAULT 0,         -- units planned
    n_units_scanned BIGINT DEFAULT 0, -- read and stored in this run
    n_units_rescored BIGINT DEFAULT 0,-- only new/upgraded detector columns computed
    n_units_reused BIGINT DEFAULT 0,  -- already done by an earlier run
    n_units_failed BIGINT DEFAULT 0,
    n_stored BIGINT DEFAULT 0,
    n_skipped BIGINT DEFAULT 0,
    n_failed BIGINT DEFAULT 0,
    bytes BIGINT DEFAULT 0,
    note VARCHAR
);
CREATE TABLE IF NOT EXISTS shards (
    uri VARCHAR PRIMARY KEY,
    format VARCHAR,
    size BIGINT,
    mtime DOUBLE,
    etag VARCHAR,
    status VARCHAR,                   -- running | ok | partial | failed
    n_units BIGINT,
    n_stored BIGINT,
    n_skipped BIGINT,
    n_failed BIGINT,
    last_run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS units (
    shard VARCHAR NOT NULL,
    part INTEGER NOT NULL,
    n_parts INTEGER NOT NULL,
    range_start BIGINT,
    range_stop BIGINT,
    status VARCHAR NOT NULL,          -- ok | partial (some records failed) | failed (unit aborted)
    sidecar VARCHAR,
    fingerprint VARCHAR,
    detectors VARCHAR,                -- JSON {name: version} of the side-car's score columns
    n_stored BIGINT,
    n_skipped BIGINT,
    n_failed BIGINT,
    bytes BIGINT,
    run_id VARCHAR,
    PRIMARY KEY (shard, part)
);
CREATE TABLE IF NOT EXISTS errors (
    run_id VARCHAR,
    shard VARCHAR,
    part INTEGER,
    record VARCHAR,
    status VARCHAR,                   -- skipped | failed | kept (stored, repaired)
    reason VARCHAR,
    n_records BIGINT DEFAULT 1        -- records the row stands for (skipped by kind: many)
);
"""

_DUCK_TYPES = {
    "string": "VARCHAR", "int64": "BIGINT", "bool": "BOOLEAN",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ", "double": "DOUBLE",
}


def _empty_documents_sql() -> str:
    """A typed, empty `documents` for a store with no side-cars yet, so queries still work."""
    cols = ", ".join(f"CAST(NULL AS {_DUCK_TYPES[str(f.type)]}) AS \"{f.name}\""
                     for f in PROVENANCE_SCHEMA)
    return f"SELECT {cols} WHERE false"


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join(sql_string_literal(f) for f in files) + "]"


def sql_string_literal(text: str) -> str:
    """Quote a path for the one place SQL cannot take a parameter (a view definition)."""
    return "'" + text.replace("'", "''") + "'"


class StoreLockedError(RuntimeError):
    """The database is open for writing in another process (usually a running scan)."""


class StoreAccessError(RuntimeError):
    """The store cannot be created, opened or written where it is (permissions, a read-only
    file system, a path through a file)."""


#: Beside the catalogue while a process holds it for writing: which command, its pid and run
#: log, so a second writer is told what holds the store.
HOLDER_FILE = "holder.json"


def check_writable(db_path: str | os.PathLike) -> StorePaths:
    """Make sure a store can be written at `db_path` before any work is done.

    Creates the folders and writes (then removes) a probe file, which also catches a read-only
    file system for root, where permission bits say nothing. Raises `StoreAccessError`.
    """
    paths = StorePaths.for_db(db_path)
    folder = os.path.dirname(paths.db) or "."
    probe = os.path.join(folder, f".{os.path.basename(paths.db)}.write-test-{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "wb"):
            pass
        os.unlink(probe)
        for existing in (paths.db, paths.db + ".wal"):
            if os.path.exists(existing) and not os.access(existing, os.W_OK):
                raise PermissionError(13, "Permission denied", existing)
        os.makedirs(paths.sidecars, exist_ok=True)
        os.makedirs(paths.logs, exist_ok=True)
    except OSError as exc:
        where = exc.filename or folder
        raise StoreAccessError(
            f"cannot write the store {paths.db}: {exc.strerror or exc} ({where}); choose a "
            "--db in a folder you can write, or fix its permissions") from None
    return paths


@dataclass
class Store:
    """An open store: the DuckDB connection plus where its side-cars and logs live."""

    paths: StorePaths
    con: duckdb.DuckDBPyConnection
    read_only: bool = False
    _holder_written: bool = False

    def close(self) -> None:
        if not self.read_only and self._holder_written:
            try:
                os.unlink(os.path.join(self.paths.logs, HOLDER_FILE))
            except OSError:
                pass
        self.con.close()

    def set_holder(self, command: str, log: str | None = None) -> None:
        """Say beside the catalogue what holds it for writing (read by a refused second
        writer's message); removed on close."""
        info = {"command": command, "pid": os.getpid(), "log": log,
                "since": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
        try:
            os.makedirs(self.paths.logs, exist_ok=True)
            with open(os.path.join(self.paths.logs, HOLDER_FILE), "w", encoding="utf-8") as fh:
                json.dump(info, fh)
            self._holder_written = True
        except OSError:
            pass  # only a courtesy for the next writer's message

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- documents -------------------------------------------------------------------------
    def sidecar_files(self) -> list[str]:
        return self.paths.list_sidecars()

    def sidecars_sql(self) -> str | None:
        """The side-car files as a SQL list literal for `read_parquet`, or None when there are
        none. Files are listed, never globbed, so `[`, `]`, `*` or `?` in the store's path are
        plain characters."""
        files = self.sidecar_files()
        if not files:
            return None
        return "[" + ", ".join(sql_string_literal(f) for f in files) + "]"

    def refresh_view(self) -> None:
        """(Re)create the `documents` view over every side-car present now.

        The view names this store's own side-car files by absolute path, so it is recreated on
        every writable open and after each scan (a moved or copied store reads its own files).
        A read-only connection gets a temporary view of the same name.
        """
        kind = "TEMP VIEW" if self.read_only else "VIEW"
        self.con.execute(f"CREATE OR REPLACE {kind} documents AS {self.documents_sql()}")

    def documents_sql(self) -> str:
        """The `documents` query: provenance side-cars, each detector's attribute side-cars
        joined on `ATTRIBUTE_KEY` as its `score_<name>` (and `reason_<name>`) columns.

        An attribute side-car holds its unit's rows in the provenance side-car's order, under
        the same file name; so when every unit has a detector's side-car with its unit's number
        of rows (the usual case) the files are joined by position (`POSITIONAL JOIN`, no
        hashing), else by key, and a unit without one gets nulls. A provenance side-car from an
        older store may hold a detector's columns itself; where the unit also has an attribute
        side-car (rescored since), that one wins.
        """
        provenance_files = self.sidecar_files()
        if not provenance_files:
            return _empty_documents_sql()
        provenance = f"read_parquet({_sql_list(provenance_files)}, union_by_name=true)"
        attributes = {d: fs for d in self.paths.attribute_detectors()
                      if (fs := self.paths.list_attributes(d))}
        if not attributes:
            return f"SELECT * FROM {provenance}"
        rows = self._row_counts(provenance_files)
        in_provenance = set(self._columns(provenance))
        replaced, selects, joins = [], [], []
        for i, (det, det_files) in enumerate(attributes.items()):
            source = f"read_parquet({_sql_list(det_files)}, union_by_name=true)"
            columns = [c for c in (score_column(det), reason_column(det))
                       if c in self._columns(source)]
            cols = ", ".join(f'"{c}"' for c in columns)
            if rows is not None and self._row_counts(det_files) == rows:
                joins.append(f"POSITIONAL JOIN (SELECT {cols} FROM {source}) a{i}")
                replaced += [c for c in columns if c in in_provenance]
                selects += [f'a{i}."{c}"' for c in columns]
                continue
            keys = ", ".join(f'"{k}"' for k in ATTRIBUTE_KEY)
            on = " AND ".join(f'a{i}."{k}" = p."{k}"' for k in ATTRIBUTE_KEY)
            joins.append(f"LEFT JOIN (SELECT {keys}, {cols} FROM {source}) a{i} ON {on}")
            for c in columns:
                if c in in_provenance:  # an older store's column, overridden where rescored
                    replaced.append(c)
                    selects.append(f'CASE WHEN a{i}."offset" IS NULL THEN p."{c}" '
                                   f'ELSE a{i}."{c}" END AS "{c}"')
                else:
                    selects.append(f'a{i}."{c}"')
        exclude = (" EXCLUDE (" + ", ".join(f'"{c}"' for c in replaced) + ")"
                   if replaced else "")
        return (f"SELECT p.*{exclude}, {', '.join(selects)} FROM {provenance} p "
                + " ".join(joins))

    def _row_counts(self, files: list[str]) -> list[tuple[str, int]] | None:
        """(file name, rows) of each file, from the footers (None if one cannot be told):
        attribute side-cars are joined by position only when they match their provenance
        side-cars one to one in both."""
        counts = dict(self.con.execute(
            f"SELECT file_name, num_rows FROM parquet_file_metadata({_sql_list(files)})"
        ).fetchall())
        if any(f not in counts for f in files):
            return None
        return [(os.path.basename(f), counts[f]) for f in files]

    def _columns(self, source: str) -> list[str]:
        return [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]

    def documents_view(self) -> duckdb.DuckDBPyRelation:
        """All stored documents as a lazy DuckDB relation (the `documents` view)."""
        self.refresh_view()
        return self.con.sql("SELECT * FROM documents")

    # -- catalogue reads ---------------------------------------------------------------------
    def rows(self, sql: str, params: list | tuple = ()) -> list[dict]:
        """Run a query and return rows as dicts (small results only: catalogue tables)."""
        cur = self.con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def runs(self) -> list[dict]:
        return self.rows("SELECT * FROM runs ORDER BY started_at, run_id")

    def shards(self) -> list[dict]:
        return self.rows("SELECT * FROM shards ORDER BY uri")

    def units(self, shard: str | None = None) -> list[dict]:
        """Unit rows, with `sidecar` as the absolute path of the file in THIS store's folder
        (the catalogue keeps only its name, so a moved store still finds it)."""
        if shard is None:
            rows = self.rows("SELECT * FROM units ORDER BY shard, part")
        else:
            rows = self.rows("SELECT * FROM units WHERE shard = ? ORDER BY part", [shard])
        for r in rows:
            if r["sidecar"]:
                r["sidecar"] = self.paths.sidecar_abspath(r["sidecar"])
        return rows

    def errors(self, run_id: str | None = None) -> list[dict]:
        if run_id is None:
            return self.rows("SELECT * FROM errors ORDER BY shard, part, record")
        return self.rows("SELECT * FROM errors WHERE run_id = ? ORDER BY shard, part, record",
                         [run_id])

    def unit_index(self) -> dict[tuple[str, int], dict]:
        """Every catalogued unit by (shard, part): what the planner compares the inputs with."""
        return {(u["shard"], u["part"]): u for u in self.units()}

    def shard_index(self) -> dict[str, dict]:
        return {s["uri"]: s for s in self.shards()}

    # -- catalogue writes (driver only) ------------------------------------------------------
    def begin_run(self, run_id: str, started_at, inputs: list[str], detectors: dict[str, str],
                  options: dict, n_units: int) -> None:
        self.con.execute(
            "INSERT INTO runs (run_id, started_at, status, inputs, detectors, options, n_units) "
            "VALUES (?, ?, 'running', ?, ?, ?, ?)",
            [run_id, started_at, dumps(inputs), dumps(detectors), dumps(options), n_units])

    def finish_run(self, run_id: str, finished_at, status: str, counts: dict,
                   note: str | None = None) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, n_units_scanned = ?, "
            "n_units_rescored = ?, n_units_reused = ?, n_units_failed = ?, n_stored = ?, "
            "n_skipped = ?, n_failed = ?, bytes = ?, note = ? WHERE run_id = ?",
            [finished_at, status, counts.get("units_scanned", 0), counts.get("units_rescored", 0),
             counts.get("units_reused", 0), counts.get("units_failed", 0),
             counts.get("stored", 0), counts.get("skipped", 0), counts.get("failed", 0),
             counts.get("bytes", 0), note, run_id])

    def upsert_shard(self, uri: str, format: str, size: int | None, mtime: float | None,
                     etag: str | None, n_units: int, run_id: str) -> None:
        """Record a shard about to be (re)scanned, with the fingerprint it has now."""
        self.con.execute("DELETE FROM shards WHERE uri = ?", [uri])
        self.con.execute(
            "INSERT INTO shards (uri, format, size, mtime, etag, status, n_units, n_stored, "
            "n_skipped, n_failed, last_run_id) VALUES (?, ?, ?, ?, ?, 'running', ?, 0, 0, 0, ?)",
            [uri, format, size, mtime, etag, n_units, run_id])

    def forget_shard(self, uri: str) -> int:
        """Drop every unit, error and side-car of a shard (it changed, or `--force`).

        Returns the number of side-car files removed. Only files named as this store names its
        side-cars are removed.
        """
        self.con.execute("DELETE FROM units WHERE shard = ?", [uri])
        self.con.execute("DELETE FROM errors WHERE shard = ?", [uri])
        removed = 0
        for path in self.paths.shard_sidecars(uri):
            os.unlink(path)
            removed += 1
        return removed

    def record_unit(self, run_id: str, row: dict, issues: list) -> None:
        """Catalogue one scanned unit and its record issues, replacing what was there.

        Called after the unit's side-car is in place, in one transaction, so the tables never
        claim a unit whose file is missing.
        """
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute("DELETE FROM units WHERE shard = ? AND part = ?",
                             [row["shard"], row["part"]])
            self.con.execute("DELETE FROM errors WHERE shard = ? AND part = ?",
                             [row["shard"], row["part"]])
            self.con.execute(
                "INSERT INTO units (shard, part, n_parts, range_start, range_stop, status, "
                "sidecar, fingerprint, detectors, n_stored, n_skipped, n_failed, bytes, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [row["shard"], row["part"], row["n_parts"], row["range_start"], row["range_stop"],
                 row["status"],
                 self.paths.sidecar_name(row["sidecar"]) if row["sidecar"] else None,
                 row["fingerprint"], dumps(row["detectors"]),
                 row["n_stored"], row["n_skipped"], row["n_failed"], row["bytes"], run_id])
            self.add_errors(run_id, row["part"], issues)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def add_errors(self, run_id: str, part: int, issues: list) -> None:
        """Append record issues of one unit (through Arrow: a unit can have many)."""
        if not issues:
            return
        table = pa.table({
            "run_id": pa.array([run_id] * len(issues), pa.string()),
            "shard": pa.array([i.shard for i in issues], pa.string()),
            "part": pa.array([part] * len(issues), pa.int32()),
            "record": pa.array([i.record for i in issues], pa.string()),
            "status": pa.array([i.status for i in issues], pa.string()),
            "reason": pa.array([i.reason for i in issues], pa.string()),
            "n_records": pa.array([i.count for i in issues], pa.int64()),
        })
        self.con.register("_new_errors", table)
        try:
            self.con.execute("INSERT INTO errors (run_id, shard, part, record, status, reason, "
                             "n_records) SELECT run_id, shard, part, record, status, reason, "
                             "n_records FROM _new_errors")
        finally:
            self.con.unregister("_new_errors")

    def set_unit_detectors(self, shard: str, part: int, detectors: dict[str, str]) -> None:
        """After a side-car gained detector columns: record its new detector versions."""
        self.con.execute("UPDATE units SET detectors = ? WHERE shard = ? AND part = ?",
                         [dumps(detectors), shard, part])

    def summarise_shard(self, uri: str, run_id: str) -> None:
        """Recompute a shard's counts and status from its units.

        ok: every planned unit stored with no failed record; failed: no unit usable;
        partial: anything in between (some units or records failed, or units missing).
        """
        row = self.con.execute(
            "SELECT count(*) FILTER (WHERE status <> 'failed'), "
            "count(*) FILTER (WHERE status = 'failed'), "
            "coalesce(sum(n_stored), 0), coalesce(sum(n_skipped), 0), "
            "coalesce(sum(n_failed), 0) FROM units WHERE shard = ?", [uri]).fetchone()
        n_good, n_bad, stored, skipped, failed = row
        planned = self.con.execute("SELECT n_units FROM shards WHERE uri = ?",
                                   [uri]).fetchone()[0]
        if n_good == planned and n_bad == 0 and failed == 0:
            status = "ok"
        elif n_good == 0 or (stored == 0 and skipped == 0 and failed > 0):
            status = "failed"
        else:
            status = "partial"
        self.con.execute(
            "UPDATE shards SET status = ?, n_stored = ?, n_skipped = ?, n_failed = ?, "
            "last_run_id = ? WHERE uri = ?", [status, stored, skipped, failed, run_id, uri])


def open_store(db_path: str | os.PathLike, read_only: bool = False,
               holder: str | None = None) -> Store:
    """Open (creating if needed) the store whose catalogue is `db_path`.

    Raises `StoreLockedError` naming what holds the database (command, pid, run log) when
    another process has it open, `StoreAccessError` when it cannot be created or opened here,
    and FileNotFoundError for a read-only open of a missing store. A writable open records
    `holder` (e.g. "auditor scan") beside the catalogue until it is closed.
    """
    paths = StorePaths.for_db(db_path)
    if read_only and not os.path.exists(paths.db):
        raise FileNotFoundError(f"no store at {paths.db}: run `auditor scan INPUT --db "
                                f"{db_path}` first")
    if not read_only:
        check_writable(db_path)
    try:
        con = duckdb.connect(paths.db, read_only=read_only)
    except duckdb.Error as e:
        if "lock" in str(e).lower():
            raise StoreLockedError(_locked_message(paths, str(e))) from None
        raise StoreAccessError(f"cannot open the store {paths.db}"
                               f"{' read-only' if read_only else ''}: {e}") from None
    store = Store(paths=paths, con=con, read_only=read_only)
    try:
        if not read_only:
            con.execute(SCHEMA_SQL)
            # stores written before errors rows could stand for several records
            con.execute("ALTER TABLE errors ADD COLUMN IF NOT EXISTS n_records BIGINT DEFAULT 1")
            store.set_holder(holder or "auditor")
        store.refresh_view()
    except BaseException:
        store.close()
        raise
    return store


def _locked_message(paths: StorePaths, error: str = "") -> str:
    """Who holds the store, from the holder file it wrote (command, pid, since, run log), or
    from DuckDB's message (pid) when there is none."""
    kind = "open for writing" if "read-only" not in error.lower() else "open"
    info = _read_holder(paths)
    pid = re.search(r"PID (\d+)", error)
    if info and (pid is None or str(info.get("pid")) == pid.group(1)):
        what = (f"`{info.get('command', 'auditor')}` (pid {info.get('pid')}, since "
                f"{info.get('since', '?')})")
    else:
        command = _command_line(pid.group(1)) if pid else None
        what = (f"`{command}` (pid {pid.group(1)})" if command else
                f"another process{f' (pid {pid.group(1)})' if pid else ''}")
    msg = (f"store {paths.db} is {kind} by {what}; DuckDB allows one writer: wait for it to "
           "finish, or stop it")
    log = info.get("log") if info else None
    if not log:
        logs = sorted((os.path.join(paths.logs, n) for n in _listdir(paths.logs)
                       if n.endswith(".log")), key=os.path.getmtime)
        log = logs[-1] if logs else None
    if log:
        msg += f"; its progress is in {log}"
        last = _last_line(log)
        if last:
            msg += f" (last: {last})"
    return msg


def _command_line(pid: str, limit: int = 120) -> str | None:
    """The command line of a local process (Linux /proc), to name a holder that left no
    holder file (a read-only reader, another tool)."""
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as fh:
            args = [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except (OSError, ValueError):
        return None
    if not args:
        return None
    text = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(args))
    text = " ".join(text.split())  # one line, whatever the arguments hold
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _read_holder(paths: StorePaths) -> dict | None:
    try:
        with open(os.path.join(paths.logs, HOLDER_FILE), encoding="utf-8") as fh:
            info = json.load(fh)
        return info if isinstance(info, dict) else None
    except (OSError, ValueError):
        return None


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            lines = fh.read()[-4096:].splitlines()
        return lines[-1].decode("utf-8", "replace") if lines else ""
    except OSError:
        return ""


def dumps(obj) -> str:
    """JSON for catalogue columns: sorted keys so equal settings compare equal as text."""
    return json.dumps(obj, sort_keys=True, default=str)
