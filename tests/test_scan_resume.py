"""Resume after a real `kill -9` of a running scan, and the machine-readable run log."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from auditor.cli import main
from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan

REPO = Path(__file__).resolve().parents[1]


def write_corpus(path: Path, n_groups: int, rows_per_group: int) -> list[str]:
    ids = [f"doc-{i}" for i in range(n_groups * rows_per_group)]
    texts = [f"Document {i}. " + "Some ordinary words about gardens and rivers. " * 8
             + ("As an AI language model, I cannot help with that." if i % 9 == 0 else "")
             for i in range(len(ids))]
    pq.write_table(pa.table({"id": ids, "text": texts}), str(path),
                   row_group_size=rows_per_group)
    return ids


def test_killed_scan_resumes_without_losing_or_duplicating(tmp_path):
    n_units = 30  # the kill comes after 3: at ~70 ms a unit, seconds of scan still to go
    corpus = tmp_path / "corpus.parquet"
    ids = write_corpus(corpus, n_groups=n_units, rows_per_group=250)
    db = tmp_path / "store" / "audit.duckdb"
    cmd = [sys.executable, "-m", "auditor", "scan", str(corpus), "--db", str(db),
           "--detectors", "markers", "--unit-size", "1", "--batch-size", "50", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sidecars = str(db) + ".sidecars"
    deadline = time.monotonic() + 60
    while len(glob.glob(os.path.join(sidecars, "*.parquet"))) < 3:
        assert proc.poll() is None, f"scan ended before it could be killed: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no side-car appeared within 60 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    con = duckdb.connect(str(db), read_only=True)
    done_before = con.execute("SELECT count(*) FROM units").fetchone()[0]
    assert con.execute("SELECT status FROM runs").fetchall() == [("running",)]
    con.close()
    assert done_before < n_units

    res = CliRunner().invoke(main, ["scan", str(corpus), "--db", str(db), "--detectors",
                                    "markers", "--unit-size", "1", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["counts"]["units_reused"] + summary["counts"]["units_scanned"] == n_units
    assert summary["counts"]["units_reused"] >= done_before - 1
    assert any("interrupted" in n for n in summary["notes"])

    con = duckdb.connect(str(db), read_only=True)
    stored = [r[0] for r in con.execute("SELECT id FROM documents").fetchall()]
    assert len(stored) == len(ids) and set(stored) == set(ids)  # none lost, none twice
    runs = con.execute("SELECT status, note FROM runs ORDER BY started_at").fetchall()
    assert runs[0][0] == "failed" and "interrupted" in runs[0][1] and runs[1][0] == "ok"
    assert con.execute("SELECT sum(n_stored) FROM units").fetchone()[0] == len(ids)
    con.close()
    assert not glob.glob(os.path.join(sidecars, "*.tmp"))


def test_run_log_has_machine_readable_progress(tmp_path):
    corpus = tmp_path / "c.parquet"
    write_corpus(corpus, n_groups=5, rows_per_group=40)
    summary = run_scan([str(corpus)], tmp_path / "a.duckdb", ScanOptions(unit_bytes=1),
                       detectors="markers", log_every_s=0.0)
    lines = [json.loads(x) for x in open(summary.log, encoding="utf-8")]
    progress = [x for x in lines if x["event"] == "progress"]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "finish"
    assert [p["units_done"] for p in progress][:5] == [1, 2, 3, 4, 5]
    last = progress[-1]
    assert last["docs"] == 200 and last["units_total"] == 5 and last["docs_per_s"] > 0
    for key in ("ts", "run_id", "bytes", "mb_per_s"):
        assert key in last
    assert lines[-1]["status"] == "ok" and lines[-1]["stored"] == 200
