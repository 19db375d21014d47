"""Detector outputs as attribute side-cars: adding, upgrading or rescoring a detector writes
only that detector's files; the `documents` view joins them; crashes, older stores and moved
stores keep every row once with its scores."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
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
from auditor.scan import unit as unit_module
from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan
from auditor.store.catalogue import open_store
from auditor.store.reconcile import reconcile
from auditor.store.sidecar import read_sidecar, read_sidecar_info, write_attribute, write_sidecar

REPO = Path(__file__).resolve().parents[1]


def write_corpus(path: Path, n_groups: int, rows_per_group: int) -> list[str]:
    ids = [f"doc-{i}" for i in range(n_groups * rows_per_group)]
    texts = [f"Document {i}. " + "Plain words about gardens, rivers and old bridges. " * 6
             + ("As an AI language model, I cannot help with that." if i % 4 == 0 else "")
             for i in range(len(ids))]
    pq.write_table(pa.table({"id": ids, "text": texts}), str(path), row_group_size=rows_per_group)
    return ids


def files_state(folder: str) -> dict[str, tuple[int, str]]:
    """Every Parquet file under `folder` (relative name) -> (mtime_ns, content digest)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True)):
        with open(path, "rb") as fh:
            out[os.path.relpath(path, folder)] = (os.stat(path).st_mtime_ns,
                                                  hashlib.sha1(fh.read()).hexdigest())
    return out


def view(db, sql: str) -> list[tuple]:
    with open_store(db, read_only=True) as store:
        store.refresh_view()
        return store.con.execute(sql).fetchall()


def columns(db) -> list[str]:
    with open_store(db, read_only=True) as store:
        return store.documents_view().columns


def test_two_detectors_added_in_one_run_write_only_their_files(tmp_path, monkeypatch):
    corpus = tmp_path / "c.parquet"
    ids = write_corpus(corpus, n_groups=3, rows_per_group=60)
    db, fresh = str(tmp_path / "a.duckdb"), str(tmp_path / "fresh.duckdb")
    opts = ScanOptions(unit_bytes=1)
    assert run_scan([str(corpus)], db, opts, detectors="none").counts["units_scanned"] == 3
    sidecars = db + ".sidecars"
    provenance = files_state(sidecars)
    assert len(provenance) == 3 and not os.path.exists(os.path.join(sidecars, "attributes"))
    before = view(db, 'SELECT * FROM documents ORDER BY "offset"')

    s = run_scan([str(corpus)], db, opts, detectors="markers,compression")
    assert (s.counts["units_rescored"], s.counts["units_scanned"]) == (3, 0)
    now = files_state(sidecars)
    assert {k: v for k, v in now.items() if "/" not in k} == provenance  # not rewritten
    assert sorted(k.split("/")[1] for k in now if "/" in k) == ["compression"] * 3 + [
        "markers"] * 3
    for name in now:
        if name.startswith("attributes/markers/"):
            t = read_sidecar(os.path.join(sidecars, name))
            assert t.column_names == ["shard", "offset", "score_markers", "reason_markers"]
            assert read_sidecar_info(os.path.join(sidecars, name)).detectors == {"markers": "1"}
    cols = columns(db)
    assert cols[:len(before[0])] == columns(db)[:len(before[0])]
    assert {"score_markers", "reason_markers", "score_compression"} <= set(cols)
    assert view(db, 'SELECT * EXCLUDE (score_markers, reason_markers, score_compression) '
                    'FROM documents ORDER BY "offset"') == before
    run_scan([str(corpus)], fresh, opts, detectors="markers,compression")
    q = "SELECT id, score_markers, reason_markers, score_compression FROM documents ORDER BY id"
    got = view(db, q)
    assert got == view(fresh, q) and len(got) == len(ids)
    assert sum(1 for r in got if r[1] and r[1] > 0) == len(ids) // 4  # markers fired
    # the view joins the files by position: every score is its own row's (checked by key)
    keyed = duckdb.connect().execute(
        "SELECT p.id, a.score_markers FROM read_parquet(?) p JOIN read_parquet(?) a "
        "USING (shard, \"offset\") ORDER BY p.id",
        [os.path.join(sidecars, "*.parquet"),
         os.path.join(sidecars, "attributes", "markers", "*.parquet")]).fetchall()
    assert keyed == [r[:2] for r in got]

    # an upgraded detector rewrites its own files only
    from detectors.markers import MarkersDetector

    monkeypatch.setattr(MarkersDetector, "version", "2-test")
    monkeypatch.setattr(unit_module, "_LOADED", {})
    s = run_scan([str(corpus)], db, opts, detectors="markers,compression")
    assert s.counts["units_rescored"] == 3
    after = files_state(sidecars)
    changed = sorted(k for k in after if after[k][0] != now[k][0])
    assert changed == sorted(k for k in now if k.startswith("attributes/markers/"))
    with open_store(db, read_only=True) as store:
        assert {u["detectors"] for u in store.units()} == {
            json.dumps({"compression": "1", "markers": "2-test"}, sort_keys=True)}
    assert view(db, q) == got

    # a moved store reads its own attribute side-cars, not the original folder's
    moved = tmp_path / "moved"
    moved.mkdir()
    for suffix in ("", ".sidecars"):
        shutil.move(db + suffix, str(moved / "a.duckdb") + suffix)
    assert view(moved / "a.duckdb", q) == got


def test_reconcile_keeps_attribute_side_cars_in_line_with_the_catalogue(tmp_path):
    corpus = tmp_path / "c.parquet"
    ids = write_corpus(corpus, n_groups=4, rows_per_group=30)
    db = str(tmp_path / "a.duckdb")
    run_scan([str(corpus)], db, ScanOptions(unit_bytes=1), detectors="markers")
    with open_store(db) as store:
        units = store.units()
        attr = [store.paths.attribute_path(u["sidecar"], "markers") for u in units]
        # crash states: a run left running; unit 0's row gone (its files are orphans); unit 1
        # rescored with a new detector whose catalogue row was never updated; unit 2 has an
        # attribute side-car from another version of the shard; a foreign file in the folder
        store.con.execute("UPDATE runs SET status = 'running'")
        store.con.execute("DELETE FROM units WHERE part = 0")
        key = read_sidecar(units[1]["sidecar"])
        write_attribute(store.paths.attribute_path(units[1]["sidecar"], "extra"), key,
                        {"score_extra": pa.array([0.25] * key.num_rows)}, "extra", "7",
                        read_sidecar_info(units[1]["sidecar"]).unit)
        key2 = read_sidecar(units[2]["sidecar"])
        stale = store.paths.attribute_path(units[2]["sidecar"], "other")
        write_attribute(stale, key2, {"score_other": pa.array([1.0] * key2.num_rows)}, "other",
                        "1", {"fingerprint": "size:0:mtime:0|opts:x"})
        foreign = os.path.join(os.path.dirname(attr[3]), "notes.parquet")
        shutil.copy(attr[3], foreign)
        report = reconcile(store, by_run="R")
        assert (report.removed_orphan_sidecars, report.removed_orphan_attributes) == (1, 2)
        assert not os.path.exists(attr[0]) and not os.path.exists(stale)
        assert os.path.exists(foreign) and os.path.exists(attr[1])
        assert report.updated_detectors == 1
        assert json.loads(store.units()[0]["detectors"]) == {"extra": "7", "markers": "1"}
    os.unlink(foreign)
    s = run_scan([str(corpus)], db, ScanOptions(unit_bytes=1), detectors="markers")
    assert (s.counts["units_scanned"], s.counts["units_reused"]) == (1, 3)
    rows = view(db, "SELECT id, score_markers FROM documents")
    assert sorted(r[0] for r in rows) == sorted(ids) and all(r[1] is not None for r in rows)
    assert sum(1 for r in view(db, "SELECT score_extra FROM documents") if r[0]) == 30


def test_an_older_store_with_scores_inside_provenance_still_reads_and_rescores(
        tmp_path, monkeypatch):
    corpus = tmp_path / "c.parquet"
    write_corpus(corpus, n_groups=2, rows_per_group=40)
    db = str(tmp_path / "a.duckdb")
    opts = ScanOptions(unit_bytes=1)
    run_scan([str(corpus)], db, opts, detectors="markers")
    q = "SELECT id, score_markers, reason_markers FROM documents ORDER BY id"
    expected = view(db, q)
    # rewrite as an older version stored it: score columns inside the provenance side-car
    with open_store(db) as store:
        for u in store.units():
            info = read_sidecar_info(u["sidecar"])
            table = read_sidecar(u["sidecar"])
            scores = read_sidecar(store.paths.attribute_path(u["sidecar"], "markers"))
            for c in ("score_markers", "reason_markers"):
                table = table.append_column(c, scores.column(c))
            write_sidecar(u["sidecar"], table, info.unit, {"markers": "1"})
        shutil.rmtree(os.path.join(store.paths.sidecars, "attributes"))
    assert view(db, q) == expected
    assert columns(db).count("score_markers") == 1
    # one unit rescored (an attribute side-car), the other not: each row shows its own unit's
    with open_store(db) as store:
        first = store.units()[0]["sidecar"]
        key = read_sidecar(first)
        write_attribute(store.paths.attribute_path(first, "markers"), key,
                        {"score_markers": pa.array([0.25] * key.num_rows),
                         "reason_markers": pa.array(["one unit"] * key.num_rows)},
                        "markers", "1", read_sidecar_info(first).unit)
        first_ids = set(key.column("id").to_pylist())
    mixed = view(db, q)
    assert [r[0] for r in mixed] == [r[0] for r in expected]
    assert all((r[1:] == (0.25, "one unit")) == (r[0] in first_ids) for r in mixed)
    assert [r for r in mixed if r[0] not in first_ids] == [
        r for r in expected if r[0] not in first_ids]

    from detectors.markers import MarkersDetector

    monkeypatch.setattr(MarkersDetector, "version", "2-test")
    monkeypatch.setattr(MarkersDetector, "score_and_reasons", _constant_scores)
    monkeypatch.setattr(unit_module, "_LOADED", {})
    assert run_scan([str(corpus)], db, opts, detectors="markers").counts["units_rescored"] == 2
    got = view(db, q)
    assert columns(db).count("score_markers") == 1
    assert [r[0] for r in got] == [r[0] for r in expected]
    assert {r[1] for r in got} == {0.5} and {r[2] for r in got} == {"constant"}


def _constant_scores(self, texts, metas=None):
    return [0.5] * len(texts), ["constant"] * len(texts)


def test_killed_while_adding_a_detector_resumes_with_every_score_once(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    n_units = 30  # the kill comes after 3: seconds of rescoring still to go
    ids = write_corpus(corpus, n_groups=n_units, rows_per_group=200)
    db = tmp_path / "store" / "audit.duckdb"
    base = [str(corpus), "--db", str(db), "--unit-size", "1", "--no-progress"]
    assert CliRunner().invoke(main, ["scan", *base, "--detectors", "none"]).exit_code == 0
    cmd = [sys.executable, "-m", "auditor", "scan", *base, "--detectors", "markers",
           "--batch-size", "20"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    attributes = os.path.join(str(db) + ".sidecars", "attributes", "markers")
    deadline = time.monotonic() + 60
    while len(glob.glob(os.path.join(attributes, "*.parquet"))) < 3:
        assert proc.poll() is None, f"scan ended before it could be killed: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no attribute side-car appeared within 60 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()[-1] == (
        "running",)
    con.close()

    res = CliRunner().invoke(main, ["scan", *base, "--detectors", "markers", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["counts"]["units_scanned"] == 0
    assert summary["counts"]["units_rescored"] + summary["counts"]["units_reused"] == n_units
    rows = view(db, "SELECT id, score_markers FROM documents")
    assert len(rows) == len(ids) and {r[0] for r in rows} == set(ids)  # none lost, none twice
    assert all(r[1] is not None for r in rows)
    assert len(glob.glob(os.path.join(attributes, "*.parquet"))) == n_units
    assert not glob.glob(os.path.join(attributes, "*.tmp"))


def test_rescoring_a_jsonl_unit_with_bad_records_lines_scores_up(tmp_path):
    """Rescoring reads the unit again through the scan's own loop: records that were skipped
    or failed are skipped again, and each new score lands on its own stored row."""
    lines = []
    for i in range(90):
        if i % 17 == 5:
            lines.append("{not json")
        elif i % 13 == 4:
            lines.append(json.dumps({"id": f"j{i}", "text": "   "}))
        else:
            text = "Ordinary words about rivers. " * 5
            if i % 3 == 0:
                text = "As an AI language model, I cannot browse the web. " + text
            lines.append(json.dumps({"id": f"j{i}", "text": text}))
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    db, fresh = str(tmp_path / "a.duckdb"), str(tmp_path / "fresh.duckdb")
    first = run_scan([str(corpus)], db, ScanOptions(batch_size=7), detectors="none")
    assert first.counts["skipped"] + first.counts["failed"] > 0
    s = run_scan([str(corpus)], db, ScanOptions(batch_size=7), detectors="markers")
    assert s.counts["units_rescored"] == 1 and s.counts["units_scanned"] == 0
    run_scan([str(corpus)], fresh, ScanOptions(batch_size=7), detectors="markers")
    q = "SELECT id, score_markers, reason_markers FROM documents ORDER BY id"
    got = view(db, q)
    assert got == view(fresh, q) and len(got) == first.counts["stored"]
    assert {r[0] for r in got if r[1]} == {f"j{i}" for i in range(0, 90, 3)
                                         if i % 17 != 5 and i % 13 != 4}


def test_an_attribute_side_car_that_does_not_match_its_unit_is_joined_by_key(tmp_path):
    corpus = tmp_path / "c.parquet"
    write_corpus(corpus, n_groups=2, rows_per_group=25)
    db = str(tmp_path / "a.duckdb")
    run_scan([str(corpus)], db, ScanOptions(unit_bytes=1), detectors="markers")
    q = 'SELECT id, score_markers FROM documents ORDER BY shard, "offset"'
    expected = view(db, q)
    with open_store(db) as store:
        first = store.units()[0]["sidecar"]
        table = read_sidecar(store.paths.attribute_path(first, "markers"))
        short = table.slice(1)  # a row fewer than its unit: position would shift every score
        write_attribute(store.paths.attribute_path(first, "markers"), short,
                        {c: short.column(c) for c in ("score_markers", "reason_markers")},
                        "markers", "1", read_sidecar_info(first).unit)
        missing = read_sidecar(first).column("id")[0].as_py()
        assert "POSITIONAL" not in store.documents_sql()
    got = view(db, q)
    assert [r[0] for r in got] == [r[0] for r in expected]
    assert [r for r in got if r[0] != missing] == [r for r in expected if r[0] != missing]
    assert [r[1] for r in got if r[0] == missing] == [None]
