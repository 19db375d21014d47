"""Where a store keeps its files: the DuckDB catalogue, the side-car folder and the run logs.

Side-car names are a pure function of (shard, part, n_parts), so a unit that is scanned again
(after a crash, a change or `--force`) overwrites its own file instead of adding a second copy:
that is what makes resumed runs free of duplicates.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def shard_key(shard: str) -> str:
    """16 hex digits naming a shard's side-cars; stable across runs and machines."""
    return hashlib.sha1(shard.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class StorePaths:
    """The files of one store, all absolute, derived from the database path.

    Small and picklable on purpose: workers (processes or Ray tasks) get it to know where to
    write side-cars, and never open the database itself.
    """

    db: str
    sidecars: str
    logs: str

    @classmethod
    def for_db(cls, db_path: str | os.PathLike) -> StorePaths:
        db = os.path.abspath(os.fspath(db_path))
        return cls(db=db, sidecars=db + ".sidecars", logs=db + ".logs")

    def sidecar_path(self, shard: str, part: int, n_parts: int) -> str:
        """The one side-car file of unit `part` of `shard`."""
        base = os.path.basename(shard.rstrip("/")) or "shard"
        slug = _SLUG.sub("_", base)[:60]
        name = f"{shard_key(shard)}-{slug}-p{part:05d}-of-{n_parts:05d}.parquet"
        return os.path.join(self.sidecars, name)

    def shard_sidecar_glob(self, shard: str) -> str:
        """Glob matching every side-car of `shard`, whatever its number of parts."""
        return os.path.join(self.sidecars, f"{shard_key(shard)}-*.parquet")

    def all_sidecars_glob(self) -> str:
        return os.path.join(self.sidecars, "*.parquet")

    @property
    def benchmarks(self) -> str:
        """Folder of the store's benchmark files (`auditor benchmarks add`); never a scan input."""
        return self.db + ".benchmarks"

    @property
    def benchmark_index(self) -> str:
        """The benchmark index folder the contamination detector loads."""
        return os.path.join(self.benchmarks, "index")

    def log_path(self, run_id: str) -> str:
        return os.path.join(self.logs, f"{run_id}.log")
