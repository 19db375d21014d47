"""A worker process that dies on a unit (issue 12, item 4): the unit is recorded as failed with
the cause, the scan goes on (exit 3), and later runs hold it back until `--retry-failed` or the
file changes. The crash is real: a detector that SIGKILLs its own process on a poison text,
in spawned worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

from tests.corpus_files import make_rows, write_jsonl

REPO = Path(__file__).resolve().parents[1]

DETECTOR = '''
import os, signal
import numpy as np
import detectors

class CrashDetector(detectors.Detector):
    name = "crash_on_poison"
    version = "1"
    tier = "cheap"

    def score(self, texts):
        if any(t.startswith("POISON") for t in texts):
            os.kill(os.getpid(), signal.SIGKILL)
        return np.array([len(t) % 7 / 7 for t in texts], dtype=np.float64)
'''

# Registered at import, outside the main guard: spawned workers import this file as their
# __mp_main__, so they know the detector too.
DRIVER = '''
import json, sys
import detectors
detectors.register(detectors.DetectorSpec(
    name="crash_on_poison", factory="crashdet:CrashDetector", tier="cheap", needs="nothing",
    summary="test: kills its process on a poison text"))

if __name__ == "__main__":
    from auditor.scan.options import ScanOptions
    from auditor.scan.runner import run_scan
    db, retry, workers, *inputs = sys.argv[1:]
    s = run_scan(inputs, db, ScanOptions(), detectors="crash_on_poison", workers=int(workers),
                 retry_failed=retry == "retry")
    print(json.dumps(s.to_dict()))
'''


def run_driver(tmp_path, db, inputs, retry=False, workers=2, dies=False) -> dict | None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    res = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(db),
                          "retry" if retry else "no", str(workers), *map(str, inputs)],
                         capture_output=True, text=True, env=env, timeout=240)
    if dies:
        assert res.returncode == -9, (res.returncode, res.stderr[-3000:])
        return None
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def poison_corpus(tmp_path) -> Path:
    (tmp_path / "crashdet.py").write_text(textwrap.dedent(DETECTOR))
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_jsonl(data / f"good-{i}.jsonl", make_rows(20, seed=i))
    poison = make_rows(5, seed=9)
    poison[2]["text"] = "POISON " + poison[2]["text"]
    write_jsonl(data / "poison.jsonl", poison)
    return data


def test_a_crashing_unit_fails_alone_and_is_held_back(tmp_path):
    data = poison_corpus(tmp_path)
    db = tmp_path / "a.duckdb"

    first = run_driver(tmp_path, db, [data])
    assert first["status"] == "partial" and first["exit_code"] == 3
    c = first["counts"]
    assert (c["units_scanned"], c["units_failed"], c["stored"]) == (3, 1, 60)
    con = duckdb.connect(str(db), read_only=True)
    (shard, reason), = con.execute("SELECT shard, reason FROM errors").fetchall()
    unit_status = con.execute("SELECT status FROM units WHERE shard = ?", [shard]).fetchone()
    con.close()
    assert shard.endswith("poison.jsonl") and unit_status == ("failed",)
    assert "worker process died" in reason and "SIGKILL" in reason

    again = run_driver(tmp_path, db, [data])  # held back: not read, still reported
    assert again["counts"]["units_held_failed"] == 1
    assert (again["counts"]["units_scanned"], again["counts"]["units_reused"]) == (0, 3)
    assert again["exit_code"] == 3 and any("held back" in n for n in again["notes"])

    retried = run_driver(tmp_path, db, [data], retry=True)  # asked for: read, dies again
    assert (retried["counts"]["units_scanned"], retried["counts"]["units_failed"]) == (0, 1)

    write_jsonl(data / "poison.jsonl", make_rows(5, seed=9))  # the file is fixed
    fixed = run_driver(tmp_path, db, [data])
    assert fixed["status"] == "ok" and fixed["counts"]["units_scanned"] == 1
    assert fixed["counts"]["stored"] == 5


def test_a_unit_that_kills_the_scan_process_twice_is_held_back(tmp_path):
    """With one worker the unit runs in the scan process: its death ends the scan. The next
    run retries that unit once (a kill may have been the user's); when it dies on it again,
    the run after records it as failed and goes on."""
    data = poison_corpus(tmp_path)
    db = tmp_path / "a.duckdb"
    run_driver(tmp_path, db, [data], workers=1, dies=True)
    run_driver(tmp_path, db, [data], workers=1, dies=True)  # retried once: dies again
    third = run_driver(tmp_path, db, [data], workers=1)
    assert third["exit_code"] == 3 and third["counts"]["units_held_failed"] == 1
    assert any("killed the scan process twice" in n for n in third["notes"])
    assert (third["counts"]["units_reused"], third["counts"]["units_scanned"]) == (3, 0)
    con = duckdb.connect(str(db), read_only=True)
    docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    (reason,) = con.execute("SELECT reason FROM errors WHERE shard LIKE '%poison.jsonl'"
                            ).fetchone()
    con.close()
    assert docs == 60 and "two runs in a row" in reason
