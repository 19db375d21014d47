"""The Ray executor against the local one, on real files, on a local 2-CPU Ray cluster.

One cluster serves the whole module (starting Ray costs seconds and about 1.5 GB). The inputs
are real: labeled texts from the shared development set written as a multi-row-group Parquet
file, and the shared crawl samples (Dolma JSONL, Common Crawl WARC and WET). A worker is
killed for real: the `ray_kill_once` detector below calls `os._exit` inside the Ray worker
when it meets a document carrying a marker path that exists (and removes the marker first,
so it kills once).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import detectors
from auditor.cli import main
from auditor.records import reason_column, score_column
from auditor.scan.options import ScanOptions
from auditor.scan.runner import ScanError, run_scan

ray = pytest.importorskip("ray", reason="the Ray executor needs the `ray` extra")

from auditor.scan.ray_executor import (  # noqa: E402
    RaySettings,
    gpus_per_actor,
    init_local_cluster,
    ray_executor,
)

TESTS = Path(__file__).resolve().parent
KILL_TAG = "RAY-KILL-MARKER:"
CRAWL = ("dolma-cc-en-head-2020.jsonl.gz", "cc-main-2020-34-sample.warc.gz",
         "cc-main-2024-22-wikipedia.warc.wet.gz")


class KillOnceDetector(detectors.Detector):
    """Scores by text length; kills its own process on a text naming an existing marker."""

    name = "ray_kill_once"
    version = "1"
    tier = "cheap"

    def score(self, texts):
        for t in texts:
            if t.startswith(KILL_TAG):
                marker = t[len(KILL_TAG):].split()[0]
                if os.path.exists(marker):
                    os.unlink(marker)
                    os._exit(17)
        return np.array([(len(t) % 101) / 101 for t in texts], dtype=np.float64)


@pytest.fixture(scope="module", autouse=True)
def kill_detector():
    """Registered for this module only: other tests' default scans must not pick it up."""
    from detectors.base import _REGISTRY

    detectors.register(detectors.DetectorSpec(
        name="ray_kill_once", factory="test_ray_executor:KillOnceDetector", tier="cheap",
        needs="nothing", summary="test detector that kills its worker once"))
    yield
    _REGISTRY.pop("ray_kill_once", None)


@pytest.fixture(scope="module")
def ray_cluster():
    # tests/ on the workers' path, so they can import this module's detector by name
    init_local_cluster(num_cpus=2, runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, shared_data) -> list[str]:
    """Real input shards: 600 labeled texts (6 row groups) and three crawl samples."""
    folder = tmp_path_factory.mktemp("inputs")
    pf = pq.ParquetFile(shared_data / "labeled" / "dev.parquet", pre_buffer=False,
                        buffer_size=1 << 20)
    table = pf.read_row_group(0, columns=["id", "text"]).slice(0, 600)
    table = table.set_column(1, "text", pa.array(
        [t[:3000] for t in table.column("text").to_pylist()], pa.string()))
    pq.write_table(table, folder / "dev-slice.parquet", row_group_size=100)
    paths = [str(folder / "dev-slice.parquet")]
    for name in CRAWL:
        shutil.copy(shared_data / "crawl" / name, folder / name)
        paths.append(str(folder / name))
    return paths


def stored_rows(db: Path) -> pa.Table:
    """Every stored row, in a fixed order, all columns."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql("SELECT * FROM documents ORDER BY shard, \"offset\", id").to_arrow_table()
    finally:
        con.close()


def catalogue(db: Path) -> list[tuple]:
    """Unit rows minus what names the run or the store folder."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT shard, part, n_parts, range_start, range_stop, status, fingerprint, "
            "detectors, n_stored, n_skipped, n_failed, bytes, regexp_extract(sidecar, '[^/]+$') "
            "FROM units ORDER BY shard, part").fetchall()
    finally:
        con.close()


def errors(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT shard, part, record, status, reason FROM errors "
                           "ORDER BY ALL").fetchall()
    finally:
        con.close()


OPTIONS = ScanOptions(unit_bytes=40_000, batch_size=64)


@pytest.fixture(scope="module")
def local_store(tmp_path_factory, inputs) -> Path:
    db = tmp_path_factory.mktemp("local") / "audit.duckdb"
    s = run_scan(inputs, db, OPTIONS, detectors="markers,compression,ray_kill_once")
    assert s.status in ("ok", "partial") and s.counts["stored"] > 600
    return db


def test_ray_and_local_store_identical_rows(ray_cluster, inputs, local_store, tmp_path):
    db = tmp_path / "ray.duckdb"
    s = run_scan(inputs, db, OPTIONS, detectors="markers,compression,ray_kill_once",
                 workers=2, executor=ray_executor())
    assert s.counts["units_scanned"] == s.counts["units"] > len(inputs)  # several units a shard
    local, remote = stored_rows(local_store), stored_rows(db)
    assert remote.num_rows == local.num_rows > 600
    assert remote.equals(local), "Ray and local executors stored different rows"
    for name in ("markers", "compression", "ray_kill_once"):
        assert score_column(name) in remote.column_names
    assert reason_column("markers") in remote.column_names
    assert len(set(remote.column("id").to_pylist())) == remote.num_rows
    assert catalogue(db) == catalogue(local_store)
    assert errors(db) == errors(local_store)
    # a re-run reuses every unit on Ray as it does locally
    again = run_scan(inputs, db, OPTIONS, detectors="markers,compression,ray_kill_once",
                     workers=2, executor=ray_executor())
    assert again.counts["units_reused"] == again.counts["units"]
    assert again.counts["units_scanned"] == 0


def _with_kill_marker(inputs: list[str], folder: Path) -> tuple[list[str], Path]:
    """The same inputs plus one Parquet shard whose last unit holds a kill trigger."""
    marker = folder / "kill.marker"
    marker.write_text("armed")
    texts = [f"Ordinary text number {i} about rivers and gardens." for i in range(200)]
    texts[150] = f"{KILL_TAG}{marker} and then some words"
    path = folder / "trigger.parquet"
    pq.write_table(pa.table({"id": [f"t-{i}" for i in range(200)], "text": texts}), path,
                   row_group_size=50)
    return list(inputs) + [str(path)], marker


def _local_baseline(all_inputs: list[str], folder: Path) -> Path:
    db = folder / "baseline.duckdb"
    saved = folder / "kill.marker.saved"
    # the baseline must not trigger the kill: scan with the marker moved away
    marker = folder / "kill.marker"
    os.replace(marker, saved)
    try:
        run_scan(all_inputs, db, OPTIONS, detectors="markers,ray_kill_once")
    finally:
        os.replace(saved, marker)
    return db


def test_killed_worker_then_resume_and_retry(ray_cluster, inputs, tmp_path):
    """A worker killed with no retries stops the scan mid-run; the resumed scan meets the
    same kill again, Ray restarts the actor and retries the unit, and the store ends equal to
    a clean local scan: no record lost, none twice."""
    all_inputs, marker = _with_kill_marker(inputs, tmp_path)
    baseline = _local_baseline(all_inputs, tmp_path)
    total = len(catalogue(baseline))
    db = tmp_path / "ray.duckdb"
    with pytest.raises(ScanError, match="Ray scan worker died"):
        run_scan(all_inputs, db, OPTIONS, detectors="markers,ray_kill_once", workers=2,
                 executor=ray_executor(max_retries=0))
    assert not marker.exists(), "the worker was not killed"
    con = duckdb.connect(str(db), read_only=True)
    done = con.execute("SELECT count(*) FROM units").fetchone()[0]
    assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    con.close()
    assert done < total  # stopped mid-run

    marker.write_text("armed again")  # the resumed run is killed once more, and recovers
    resumed = run_scan(all_inputs, db, OPTIONS, detectors="markers,ray_kill_once", workers=2,
                       executor=ray_executor(max_retries=2))
    assert not marker.exists(), "the worker was not killed in the resumed run"
    assert resumed.status in ("ok", "partial")
    assert resumed.counts["units_reused"] == done
    assert resumed.counts["units_reused"] + resumed.counts["units_scanned"] == total
    rows, expected = stored_rows(db), stored_rows(baseline)
    assert rows.equals(expected), "rows after the resumed Ray scan differ from a clean scan"
    assert len(set(zip(rows.column("shard").to_pylist(), rows.column("offset").to_pylist(),
                       strict=True))) == rows.num_rows  # no record twice
    assert catalogue(db) == catalogue(baseline)
    assert errors(db) == errors(baseline)
    assert not list(Path(f"{db}.sidecars").glob("*.tmp"))


def test_cli_ray_executor_with_file_uris(ray_cluster, inputs, local_store, tmp_path):
    """`auditor scan --executor ray` on `file://` URIs: the rows are those of the local scan
    of the same files, and a `file://` URI is one more spelling of its path: the shard is
    recorded as the resolved path, so both scans name the same shards."""
    uris = ["file://" + p for p in inputs]
    db = tmp_path / "uri.duckdb"
    res = CliRunner().invoke(main, [
        "scan", *uris, "--db", str(db), "--detectors", "markers,compression,ray_kill_once",
        "--unit-size", str(OPTIONS.unit_bytes), "--batch-size", str(OPTIONS.batch_size),
        "--workers", "2", "--executor", "ray", "--json"])
    assert res.exit_code in (0, 3), res.output
    summary = json.loads(res.stdout)
    assert summary["counts"]["units_scanned"] == summary["counts"]["units"]
    rows, local = stored_rows(db), stored_rows(local_store)
    assert rows.num_rows == local.num_rows
    assert set(rows.column("shard").to_pylist()) == {os.path.realpath(p) for p in inputs}
    key = ["id", "offset", "source", "crawl_date", "url", score_column("compression"),
           score_column("markers"), reason_column("markers")]
    order = [("id", "ascending"), ("offset", "ascending")]
    assert rows.select(key).sort_by(order).equals(local.select(key).sort_by(order))


def test_cli_ray_usage_errors(tmp_path, inputs, monkeypatch):
    res = CliRunner().invoke(main, ["scan", inputs[0], "--db", str(tmp_path / "a.duckdb"),
                                    "--address", "auto"])
    assert res.exit_code == 2 and "--address only applies with --executor ray" in res.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the `ray` extra were not installed
    res = CliRunner().invoke(main, ["scan", inputs[0], "--db", str(tmp_path / "b.duckdb"),
                                    "--executor", "ray"])
    assert res.exit_code == 2
    assert "pip install 'provenance-auditor[ray]'" in res.output
    assert not (tmp_path / "b.duckdb").exists()  # refused before touching the store


def test_memory_filesystem_inputs_scan_locally(tmp_path, inputs):
    """An fsspec URI scheme (`memory://`, standing in for s3://) is read through fsspec.

    memory:// exists only inside one process, so it runs on the in-process local executor;
    the Ray module documents that Ray workers need URIs they can open themselves."""
    import fsspec

    fs = fsspec.filesystem("memory")
    src = inputs[0]
    with open(src, "rb") as fh:
        fs.pipe("/bench-ray/dev-slice.parquet", fh.read())
    try:
        db = tmp_path / "mem.duckdb"
        s = run_scan(["memory://bench-ray/"], db, OPTIONS, detectors="markers")
        rows = stored_rows(db)
        assert s.counts["stored"] == rows.num_rows == 600
        assert set(rows.column("shard").to_pylist()) == {"memory://bench-ray/dev-slice.parquet"}
        want = pq.read_table(src, columns=["id"]).column("id").to_pylist()
        assert sorted(rows.column("id").to_pylist()) == sorted(want)
    finally:
        fs.rm("/bench-ray", recursive=True)


def test_gpu_share_only_for_model_tiers():
    assert gpus_per_actor(RaySettings(), ["markers", "compression"], 4, 2.0) == 0.0
    assert gpus_per_actor(RaySettings(), ["markers", "lm"], 4, 2.0) == 0.5
    assert gpus_per_actor(RaySettings(), ["embedding"], 1, 8.0) == 1.0
    assert gpus_per_actor(RaySettings(), ["lm"], 4, 0.0) == 0.0
    assert gpus_per_actor(RaySettings(num_gpus=0.25), ["markers"], 4, 0.0) == 0.25
    with pytest.raises(ValueError, match="max_retries"):
        RaySettings(max_retries=-1)
