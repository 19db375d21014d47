"""Where a store keeps its files: the DuckDB catalogue, the side-car folder and the run logs.

Side-car names are a pure function of (shard, part, n_parts), so a unit that is scanned again
(after a crash, a change or `--force`) overwrites its own file instead of adding a second copy:
that is what makes resumed runs free of duplicates.

Detector outputs are attribute side-cars (dolma's design): `attributes/<detector>/<unit side-car
name>` inside the side-car folder, one file per detector per unit holding that detector's
columns at one version. Adding or rescoring a detector writes only its own files.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
#: The names `sidecar_path` makes; reconcile deletes only files named so (never a file the
#: store did not write, even one a user left in the folder).
_OWN_SIDECAR = re.compile(r"^[0-9a-f]{16}-[A-Za-z0-9._-]*-p\d{5}-of-\d{5}\.parquet$")
_OWN_TMP = re.compile(r"^[0-9a-f]{16}-[A-Za-z0-9._-]*-p\d{5}-of-\d{5}\.parquet\.\d+\.tmp$")
#: Sub-folder of the side-car folder holding detector outputs, one folder per detector.
ATTRIBUTES_DIR = "attributes"
#: Detector names that may name an attribute folder (and so a column of the `documents` view).
_DETECTOR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def is_own_sidecar_name(path: str) -> bool:
    """True when `path` is named as the store names the side-cars it writes."""
    return bool(_OWN_SIDECAR.match(os.path.basename(path)))


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
        db = os.path.realpath(os.fspath(db_path))
        return cls(db=db, sidecars=db + ".sidecars", logs=db + ".logs")

    def sidecar_path(self, shard: str, part: int, n_parts: int) -> str:
        """The one side-car file of unit `part` of `shard`."""
        base = os.path.basename(shard.rstrip("/")) or "shard"
        slug = _SLUG.sub("_", base)[:60]
        name = f"{shard_key(shard)}-{slug}-p{part:05d}-of-{n_parts:05d}.parquet"
        return os.path.join(self.sidecars, name)

    def sidecar_name(self, path: str) -> str:
        """What the catalogue stores for a side-car: its name inside the side-car folder.

        Relative, so a copied or moved store (`c.duckdb` with `c.duckdb.sidecars/`) finds its
        own files; an absolute path written by an older version is reduced to its name too.
        """
        return os.path.basename(path)

    def sidecar_abspath(self, name: str) -> str:
        """The side-car a catalogue entry names, inside this store's side-car folder."""
        return os.path.join(self.sidecars, os.path.basename(name))

    def attribute_path(self, sidecar: str, detector: str) -> str:
        """The attribute side-car of `detector` for the unit whose provenance side-car is
        `sidecar` (a path or a name): same file name, in the detector's folder."""
        if not _DETECTOR_NAME.match(detector):
            raise ValueError(f"detector name {detector!r} cannot name a store column "
                             "(lower-case letters, digits and _ only)")
        return os.path.join(self.sidecars, ATTRIBUTES_DIR, detector, os.path.basename(sidecar))

    def attribute_detectors(self) -> list[str]:
        """Detectors with an attribute folder (named as a detector can be), sorted."""
        try:
            names = os.listdir(os.path.join(self.sidecars, ATTRIBUTES_DIR))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if _DETECTOR_NAME.match(n)
                      and os.path.isdir(os.path.join(self.sidecars, ATTRIBUTES_DIR, n)))

    def list_attributes(self, detector: str) -> list[str]:
        """Every attribute side-car of `detector` this store wrote (named as its own)."""
        folder = os.path.join(self.sidecars, ATTRIBUTES_DIR, detector)
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(os.path.join(folder, n) for n in names
                      if _OWN_SIDECAR.match(n) and os.path.isfile(os.path.join(folder, n)))

    def unit_attributes(self, sidecar: str) -> dict[str, str]:
        """Detector -> attribute side-car present now for the unit of `sidecar`."""
        out = {}
        for det in self.attribute_detectors():
            path = self.attribute_path(sidecar, det)
            if os.path.isfile(path):
                out[det] = path
        return out

    def list_sidecars(self) -> list[str]:
        """Every `*.parquet` file in the side-car folder, listed (never globbed: a store path
        may hold `[`, `]`, `*` or `?`, which a glob would read as a pattern)."""
        try:
            names = os.listdir(self.sidecars)
        except FileNotFoundError:
            return []
        return sorted(os.path.join(self.sidecars, n) for n in names
                      if n.endswith(".parquet") and os.path.isfile(os.path.join(self.sidecars, n)))

    def shard_sidecars(self, shard: str) -> list[str]:
        """The side-cars this store wrote for `shard` (provenance and attribute side-cars),
        whatever their number of parts."""
        prefix = f"{shard_key(shard)}-"
        files = self.list_sidecars() + [p for d in self.attribute_detectors()
                                        for p in self.list_attributes(d)]
        return [p for p in files
                if os.path.basename(p).startswith(prefix) and is_own_sidecar_name(p)]

    def own_temporaries(self) -> list[str]:
        """Half-written side-cars (`<side-car>.<pid>.tmp`) this store's writers leave on a
        crash, provenance and attribute side-cars alike."""
        folders = [self.sidecars] + [os.path.join(self.sidecars, ATTRIBUTES_DIR, d)
                                     for d in self.attribute_detectors()]
        out = []
        for folder in folders:
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            out += [os.path.join(folder, n) for n in names if _OWN_TMP.match(n)]
        return sorted(out)

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
