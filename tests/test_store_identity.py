"""A store that moves and shards that are one: path spellings, symlinks, copied stores, store
paths with glob characters, and files the store did not write (issues 11.5, 12.2, 12.7)."""

from __future__ import annotations

import os
import shutil

from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan
from auditor.store.catalogue import open_store
from auditor.store.reconcile import reconcile
from tests.corpus_files import make_rows, write_jsonl

OPTS = ScanOptions()


def corpus(folder, n_files: int = 2, n: int = 30, seed: int = 0) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        write_jsonl(folder / f"part-{i}.jsonl", make_rows(n, seed=seed + i))
    return n_files * n


def counts(db) -> tuple[int, int, int]:
    """(documents, distinct ids, shards) of a store."""
    with open_store(db, read_only=True) as store:
        docs, ids = store.con.execute("SELECT count(*), count(DISTINCT id) FROM documents"
                                      ).fetchone()
        return docs, ids, len(store.shards())


def test_three_spellings_and_a_symlink_are_one_shard(tmp_path, monkeypatch):
    n = corpus(tmp_path / "c8")
    os.symlink(tmp_path / "c8", tmp_path / "link8")
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "a.duckdb")
    first = run_scan(["c8"], db, OPTS, detectors="none")
    assert first.counts["units_scanned"] == 2
    for spelling in ("./c8", str(tmp_path / "c8"), "link8", "c8/../c8/"):
        again = run_scan([spelling], db, OPTS, detectors="none")
        assert again.counts["units_scanned"] == 0, spelling
        assert again.counts["units_reused"] == 2, spelling
    both = run_scan(["c8", "./c8", "link8"], db, OPTS, detectors="none")
    assert both.counts["units"] == 2
    assert counts(db) == (n, n, 2)


def test_same_size_and_mtime_but_new_content_is_rescanned(tmp_path):
    folder = tmp_path / "c"
    corpus(folder, n_files=1)
    path = folder / "part-0.jsonl"
    db = str(tmp_path / "a.duckdb")
    run_scan([str(path)], db, OPTS, detectors="none")
    st = os.stat(path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"doc-0-000000", b"doc-0-999999"))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime, as `cp -p` leaves it
    again = run_scan([str(path)], db, OPTS, detectors="none")
    assert again.counts["units_scanned"] == 1
    with open_store(db, read_only=True) as store:
        ids = {r[0] for r in store.con.execute("SELECT id FROM documents").fetchall()}
    assert "doc-0-999999" in ids and "doc-0-000000" not in ids


def test_copied_store_reads_its_own_sidecars_and_loses_nothing(tmp_path):
    n = corpus(tmp_path / "c")
    original = tmp_path / "orig" / "c.duckdb"
    run_scan([str(tmp_path / "c")], str(original), OPTS, detectors="none")
    copy = tmp_path / "copy" / "c.duckdb"
    copy.parent.mkdir()
    shutil.copy(original, copy)
    shutil.copytree(str(original) + ".sidecars", str(copy) + ".sidecars")
    # the copy, read as it is, reads its own files
    with open_store(copy, read_only=True) as store:
        assert all(f.startswith(str(copy.parent)) for f in store.sidecar_files())
        assert all(u["sidecar"].startswith(str(copy.parent)) for u in store.units())
    # scanning one new file into the copy keeps every copied record
    extra = tmp_path / "new.jsonl"
    write_jsonl(extra, make_rows(7, seed=99))
    summary = run_scan([str(extra)], str(copy), OPTS, detectors="none")
    assert summary.counts["units_scanned"] == 1
    assert counts(copy) == (n + 7, n + 7, 3)
    # the original is untouched, and the copy re-scanning the corpus reuses its own units
    assert counts(original) == (n, n, 2)
    again = run_scan([str(tmp_path / "c")], str(copy), OPTS, detectors="none")
    assert (again.counts["units_scanned"], again.counts["units_reused"]) == (0, 2)
    # moving the original (rename) works the same way
    moved = tmp_path / "moved" / "c.duckdb"
    moved.parent.mkdir()
    os.rename(original, moved)
    os.rename(str(original) + ".sidecars", str(moved) + ".sidecars")
    assert run_scan([str(tmp_path / "c")], str(moved), OPTS,
                    detectors="none").counts["units_reused"] == 2
    assert counts(moved) == (n, n, 2)


def test_reconcile_never_deletes_files_it_did_not_write(tmp_path):
    corpus(tmp_path / "c", n_files=1)
    db = str(tmp_path / "a.duckdb")
    run_scan([str(tmp_path / "c")], db, OPTS, detectors="none")
    sidecars = db + ".sidecars"
    foreign = [os.path.join(sidecars, name) for name in ("notes.txt", "backup.tmp",
                                                         "mine.parquet.tmp")]
    for path in foreign:
        with open(path, "w") as fh:
            fh.write("the user's own file")
    with open_store(db) as store:
        store.con.execute("UPDATE runs SET status = 'running'")  # as after a crash
        report = reconcile(store, by_run="R")
        assert report.removed_tmp == 0 and report.removed_orphan_sidecars == 0
    assert all(os.path.exists(p) for p in foreign)
    assert counts(db)[0] == 30


def test_store_path_with_glob_characters(tmp_path):
    n = corpus(tmp_path / "c")
    db = str(tmp_path / "runs[2026]" / "a*?.duckdb")
    first = run_scan([str(tmp_path / "c")], db, OPTS, detectors="none")
    assert first.counts["units_scanned"] == 2
    assert counts(db) == (n, n, 2)
    again = run_scan([str(tmp_path / "c")], db, OPTS, detectors="none")
    assert (again.counts["units_scanned"], again.counts["units_reused"]) == (0, 2)


def test_a_store_from_before_resolved_paths_is_not_counted_twice(tmp_path, monkeypatch):
    """A store written when shards were keyed by the path as typed (`c8/part-0.jsonl`):
    scanning again replaces those rows by the resolved shard instead of adding a copy."""
    import duckdb

    n = corpus(tmp_path / "c8")
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "a.duckdb")
    run_scan(["c8"], db, OPTS, detectors="none")
    con = duckdb.connect(db)  # rewrite the catalogue as the old version left it
    for table, col in (("shards", "uri"), ("units", "shard"), ("errors", "shard")):
        con.execute(f"UPDATE {table} SET {col} = replace({col}, ?, 'c8/')",
                    [str(tmp_path / "c8") + "/"])
    con.close()
    summary = run_scan(["./c8"], db, OPTS, detectors="none")
    assert any("another spelling" in note for note in summary.notes)
    assert counts(db) == (n, n, 2)
