"""Decide what a scan has to do, from the planned units and what the catalogue already holds.

A pure function of its inputs (no I/O), so resume and incremental rules are tested directly:

- a unit stored from the same shard fingerprint (etag, or size+mtime, plus the reader options)
  with every requested detector at its current version is reused;
- the same, but missing a requested detector or holding another version of one, is rescored:
  only those detector columns are computed;
- a unit never stored is scanned; one whose last attempt failed (a bad input, a worker that
  crashed on it) is held back, so one poison file cannot stop every later run, until the
  shard changes or `retry_failed` (`auditor scan --retry-failed`) asks for it again;
- a shard whose fingerprint or number of units changed is forgotten (rows and side-cars) and
  every unit of it scanned; `force` does that for every shard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from auditor.readers.base import WorkUnit


@dataclass
class Plan:
    scan: list[WorkUnit] = field(default_factory=list)
    rescore: list[WorkUnit] = field(default_factory=list)
    reuse: list[WorkUnit] = field(default_factory=list)
    #: units whose last attempt failed, not retried in this run (see `retry_failed`)
    held: list[WorkUnit] = field(default_factory=list)
    #: shards whose old rows and side-cars must be dropped before scanning (changed, forced)
    forget: list[str] = field(default_factory=list)
    #: shards to (re)register in the `shards` table with their current fingerprint
    register: list[str] = field(default_factory=list)
    shards: dict[str, list[WorkUnit]] = field(default_factory=dict)

    def tasks(self) -> list[tuple[WorkUnit, bool]]:
        """(unit, rescore) pairs for an executor; rescoring (cheaper) first."""
        return [(u, True) for u in self.rescore] + [(u, False) for u in self.scan]


def covers(stored: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """True when every wanted detector is stored at the wanted version."""
    return all(stored.get(name) == version for name, version in wanted.items())


def make_plan(units: Iterable[WorkUnit], fingerprints: Mapping[tuple[str, int], str],
              catalogue: Mapping[tuple[str, int], dict], versions: Mapping[str, str],
              force: bool = False, retry_failed: bool = False) -> Plan:
    """Sort `units` into scan / rescore / reuse (see module docstring).

    `fingerprints` gives each planned unit's current fingerprint; `catalogue` the stored unit
    rows by (shard, part), as `Store.unit_index()` returns them.
    """
    plan = Plan()
    for u in units:
        plan.shards.setdefault(u.shard, []).append(u)
    stored_by_shard: dict[str, list[dict]] = {}
    for (shard, _part), row in catalogue.items():
        stored_by_shard.setdefault(shard, []).append(row)
    for shard, shard_units in plan.shards.items():
        rows = stored_by_shard.get(shard, [])
        n_parts = shard_units[0].n_parts
        fp = fingerprints[(shard, shard_units[0].part)]
        changed = any(r["fingerprint"] != fp or r["n_parts"] != n_parts for r in rows)
        if force or changed:
            if rows:
                plan.forget.append(shard)
            plan.register.append(shard)
            plan.scan.extend(shard_units)
            continue
        needs_scan = False
        for u in shard_units:
            row = catalogue.get((shard, u.part))
            if row is None or (row["status"] == "failed" and retry_failed):
                plan.scan.append(u)
                needs_scan = True
            elif row["status"] == "failed":
                plan.held.append(u)
            elif covers(json.loads(row["detectors"] or "{}"), versions):
                plan.reuse.append(u)
            else:
                plan.rescore.append(u)
        if needs_scan:
            plan.register.append(shard)
    return plan
