"""Units read back to back in one process: the next unit's reading starts when the current
unit's records run out (`auditor.scan.local_executor._run_in_process`), on real Parquet files.
What must hold: the same rows as reading each unit on its own, each unit's errors in its own
result, `on_start` once per unit in order, and no reader thread left when the driver stops."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq

from auditor.readers import discover, plan_units, read_unit
from auditor.scan import ScanOptions
from auditor.scan.local_executor import run_local
from auditor.store import StorePaths

WORDS = "the river and the city of light in the old garden was quiet for a day".split()


def write_shard(path, prefix: str, n: int, row_group: int) -> None:
    rows = [{"id": f"{prefix}-{i}", "url": f"https://{prefix}.example.org/{i}",
             "text": " ".join(WORDS[(i + k) % len(WORDS)] for k in range(30 + i % 17))}
            for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), str(path), row_group_size=row_group)


def plan(tmp_path, n_shards: int = 3):
    for k in range(n_shards):
        write_shard(tmp_path / f"s{k}.parquet", f"s{k}", 120, 40)
    options = ScanOptions(unit_bytes=1)  # a unit per row group: 9 units back to back
    units = plan_units(discover([str(tmp_path / "s*.parquet")]), options.reader,
                       options.unit_bytes)
    return options, units


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.name == "auditor-read-ahead" and t.is_alive()]


def test_units_read_ahead_store_the_rows_of_each_unit_read_alone(tmp_path):
    options, units = plan(tmp_path)
    assert len(units) == 9
    paths = StorePaths.for_db(tmp_path / "p.duckdb")
    events: list[tuple] = []
    results = []
    for res in run_local([(u, False) for u in units], options, [], paths,
                         on_start=lambda key: events.append(("start", key))):
        events.append(("done", (res.shard, res.part)))
        results.append(res)
    keys = [(u.shard, u.part) for u in units]
    assert [e[1] for e in events if e[0] == "start"] == keys  # once each, in order
    # the next unit started reading before the one before it was handed back
    assert events.index(("start", keys[1])) < events.index(("done", keys[0]))
    assert [r.status for r in results] == ["ok"] * 9
    for unit, res in zip(units, results, strict=True):
        stored = pq.read_table(res.sidecar, columns=["id", "offset", "n_chars"])
        alone = [doc for doc in read_unit(unit, options.reader) if not hasattr(doc, "reason")]
        assert stored.column("id").to_pylist() == [d.id for d in alone]
        assert stored.column("offset").to_pylist() == [d.offset for d in alone]
        assert stored.column("n_chars").to_pylist() == [len(d.text) for d in alone]


def test_a_unit_whose_file_went_fails_in_its_own_result(tmp_path):
    options, units = plan(tmp_path)
    (tmp_path / "s1.parquet").unlink()  # gone between planning and its turn
    paths = StorePaths.for_db(tmp_path / "p.duckdb")
    results = list(run_local([(u, False) for u in units], options, [], paths))
    status = {(r.shard.rsplit("/", 1)[-1], r.part): r.status for r in results}
    assert [status[("s0.parquet", p)] for p in range(3)] == ["ok"] * 3
    assert [status[("s2.parquet", p)] for p in range(3)] == ["ok"] * 3
    failed = [r for r in results if r.shard.endswith("s1.parquet")]
    assert [r.status for r in failed] == ["failed"] * 3
    assert all("s1.parquet" in r.issues[0].reason for r in failed)


def test_a_driver_that_stops_early_leaves_no_reader_running(tmp_path):
    options, units = plan(tmp_path)
    paths = StorePaths.for_db(tmp_path / "p.duckdb")
    before = len(reader_threads())
    results = run_local([(u, False) for u in units], options, [], paths)
    first = next(results)  # the second unit's reader is running now
    assert first.status == "ok"
    results.close()
    deadline = time.monotonic() + 5
    while len(reader_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(reader_threads()) == before


def test_a_provenance_only_scan_does_not_import_the_detector_registry(tmp_path):
    """`--detectors none` stores provenance only: loading the detector registry (and through it
    every detector module) would only add to the scan's start-up."""
    import os
    import subprocess
    import sys

    write_shard(tmp_path / "a.parquet", "a", 50, 25)
    code = ("import sys; from auditor.scan.runner import run_scan; "
            f"s = run_scan([{str(tmp_path / 'a.parquet')!r}], {str(tmp_path / 'p.duckdb')!r}, "
            "detectors='none'); assert s.status == 'ok', s; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'detectors'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
