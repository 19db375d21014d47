"""Progress moves by records inside a unit, not only when a unit ends (issue 12, item 15):
a long unit (an LM scoring 128 MB) used to sit at 0% for its whole run."""

from __future__ import annotations

import json

from auditor.readers import discover, plan_units
from auditor.scan import unit as unit_module
from auditor.scan.options import ScanOptions
from auditor.scan.progress import ScanProgress
from auditor.scan.unit import process_unit
from auditor.store.paths import StorePaths
from tests.corpus_files import make_rows, write_jsonl, write_parquet


def ticks_of(path, tmp_path, monkeypatch, detectors=("markers",)) -> tuple[list, int]:
    monkeypatch.setattr(unit_module, "PROGRESS_EVERY_S", 0.0)
    options = ScanOptions(batch_size=100)
    (unit,) = plan_units(discover([str(path)]), options.reader, options.unit_bytes)
    got = []
    res = process_unit(unit, options, list(detectors), StorePaths.for_db(tmp_path / "a.duckdb"),
                       on_records=lambda key, n: got.append((key, n)))
    assert res.status == "ok"
    return got, res.n_stored


def test_records_are_reported_while_a_unit_runs(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "c.jsonl", make_rows(1000, seed=1))
    write_parquet(tmp_path / "c.parquet", make_rows(1000, seed=2), row_group_size=1000)
    for name in ("c.jsonl", "c.parquet"):  # the per-record and the columnar path
        got, stored = ticks_of(tmp_path / name, tmp_path, monkeypatch)
        assert len(got) >= 10, name  # one report per batch of 100, not one per unit
        assert sum(n for _, n in got) == stored == 1000
        assert {key for key, _ in got} == {(str(tmp_path / name), 0)}


def test_the_bar_and_log_move_before_the_unit_ends(tmp_path):
    log = tmp_path / "run.log"
    prog = ScanProgress("R", str(log), units_total=1, bytes_total=1_000_000, show_bar=True,
                        log_every_s=0.0)
    key = ("c.jsonl", 0)
    prog.records(key, 300, 1_000_000)
    task = prog._bar.tasks[0]
    assert task.completed > 0 and task.fields["docs"] == 300
    prog.records(key, 5000, 1_000_000)
    assert prog._bar.tasks[0].completed <= 0.95 * 1_000_000  # an estimate never ends a unit
    prog.advance(5300, 1_000_000, key=key)
    assert prog._bar.tasks[0].completed == 1_000_000 and prog.docs_running == 0
    prog.close(status="ok")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    running = [x["docs_in_running_units"] for x in lines if x["event"] == "progress"]
    assert running[0] == 300 and running[-1] == 0
