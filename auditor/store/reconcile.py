"""Bring the catalogue back in line with the side-car files after a crash.

A scan writes a unit's side-car (atomically) first and its catalogue row second, so a process
killed in between leaves a side-car without a row; one killed while adding a detector column
leaves a side-car newer than its row. The files are the truth, and the rules are fixed:

- `*.tmp` files named like our side-cars are half-written side-cars: deleted.
- a side-car without a catalogue row is deleted, and its unit is scanned again by the next
  plan (its record issues were never catalogued, so adopting the rows would lose them);
  only files named as the store names its side-cars are ever deleted, never a file the store
  did not write;
- a catalogue row whose side-car is missing is deleted, so the unit is scanned again;
- an attribute side-car (a detector's output for a unit) whose unit has no catalogue row or no
  provenance side-car is deleted; after an interrupted run, one made from another version of
  the shard (its footer's fingerprint differs from the unit's) is deleted too;
- after an interrupted run, each unit's detector versions are read from its side-car footers
  (its attribute side-cars, and the provenance side-car of an older store that held scores)
  and copied into the catalogue where they differ;
- runs left `running` are marked `failed` with a note naming the run that reconciled them.

The catalogue names side-cars relative to the store's side-car folder, so a copied or moved
store reconciles against its own files (an absolute path from an older version counts by its
name).

Because side-car names are a function of (shard, part, n_parts), rescanning a unit overwrites
its file: no record can be stored twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from auditor.store.catalogue import Store
from auditor.store.paths import is_own_sidecar_name
from auditor.store.sidecar import read_sidecar_info, stored_detectors


@dataclass
class ReconcileReport:
    interrupted_runs: list[str] = field(default_factory=list)
    removed_tmp: int = 0
    removed_orphan_sidecars: int = 0
    removed_orphan_attributes: int = 0
    dropped_unit_rows: int = 0
    updated_detectors: int = 0

    def changed(self) -> bool:
        return bool(self.interrupted_runs or self.removed_tmp or self.removed_orphan_sidecars
                    or self.removed_orphan_attributes or self.dropped_unit_rows
                    or self.updated_detectors)


def remove_temporaries(store: Store) -> int:
    """Delete the half-written side-cars (`*.tmp`) in the store; how many. Safe whenever no
    scan is writing (the store is held): at a scan's start, and at its end, for the files of
    workers that died mid-unit (a side-car is written while its unit is read)."""
    removed = 0
    for tmp in store.paths.own_temporaries():
        os.unlink(tmp)
        removed += 1
    return removed


def reconcile(store: Store, by_run: str) -> ReconcileReport:
    """Repair the catalogue/side-car pair left by a crashed scan (see module docstring)."""
    report = ReconcileReport()
    report.removed_tmp = remove_temporaries(store)

    running = [r[0] for r in store.con.execute(
        "SELECT run_id FROM runs WHERE status = 'running' ORDER BY started_at").fetchall()]
    for run_id in running:
        store.con.execute(
            "UPDATE runs SET status = 'failed', note = ? WHERE run_id = ?",
            [f"interrupted before it finished; catalogue reconciled by run {by_run}", run_id])
    report.interrupted_runs = running

    rows = store.unit_index()
    files = set(store.sidecar_files())
    catalogued = {u["sidecar"] for u in rows.values() if u["sidecar"]}
    for path in sorted(files - catalogued):
        if not is_own_sidecar_name(path):
            continue  # not a file this store wrote: left alone (and read by the view)
        os.unlink(path)
        report.removed_orphan_sidecars += 1
    kept: dict[str, dict] = {}
    for (shard, part), u in rows.items():
        if u["status"] != "failed" and (not u["sidecar"] or u["sidecar"] not in files):
            store.con.execute("DELETE FROM units WHERE shard = ? AND part = ?", [shard, part])
            store.con.execute("DELETE FROM errors WHERE shard = ? AND part = ?", [shard, part])
            report.dropped_unit_rows += 1
        elif u["sidecar"] in files:
            kept[os.path.basename(u["sidecar"])] = u
    paths = store.paths
    for det in paths.attribute_detectors():
        for path in paths.list_attributes(det):
            u = kept.get(os.path.basename(path))
            stale = u is None or (running and read_sidecar_info(path).unit.get("fingerprint")
                                  != u["fingerprint"])
            if stale:
                os.unlink(path)
                report.removed_orphan_attributes += 1
    if running:
        for u in kept.values():
            on_disk = stored_detectors(paths, u["sidecar"])
            if on_disk != json.loads(u["detectors"] or "{}"):
                store.set_unit_detectors(u["shard"], u["part"], on_disk)
                report.updated_detectors += 1
    return report
