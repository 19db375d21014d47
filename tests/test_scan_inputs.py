"""A new user's folder (issue 12, items 10, 11, 13): stray files that are not shards are
skipped and listed, `--include`/`--exclude` globs, and flags naming columns no shard has."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

from click.testing import CliRunner

from auditor.cli import main
from tests.corpus_files import make_rows, write_jsonl, write_parquet


def scan(args: list[str]):
    res = CliRunner().invoke(main, ["scan", *args, "--json", "--detectors", "none"])
    assert "Traceback" not in res.output, res.output
    try:
        return res.exit_code, json.loads(res.stdout)
    except ValueError:
        return res.exit_code, res.output


def messy_folder(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", make_rows(10, seed=1))
    write_parquet(folder / "b.parquet", make_rows(7, seed=2))
    (folder / "notes.txt").write_text("remember to dedupe\n")
    (folder / "stats.csv").write_text("source,count\nweb,10\n")
    (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("inner.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    (folder / "backup.tar.gz").write_bytes(gzip.compress(buf.getvalue()))
    return folder


def test_stray_files_are_skipped_and_listed(tmp_path):
    folder = messy_folder(tmp_path)
    code, s = scan([str(folder), "--db", str(tmp_path / "a.duckdb")])
    assert code == 0, s
    assert s["counts"]["stored"] == 17
    assert sorted(f["file"].rsplit("/", 1)[-1] for f in s["skipped_files"]) == [
        "backup.tar.gz", "notes.txt", "plot.png", "stats.csv"]
    assert all("unknown format" in f["reason"] for f in s["skipped_files"])
    assert any("not corpus shards skipped" in n for n in s["notes"])


def test_include_and_exclude_globs(tmp_path):
    folder = messy_folder(tmp_path)
    code, s = scan([str(folder), "--db", str(tmp_path / "a.duckdb"), "--exclude", "*.parquet"])
    assert code == 0 and s["counts"]["stored"] == 10
    assert any(f["reason"] == "matched by --exclude" for f in s["skipped_files"])
    code, s = scan([str(folder), "--db", str(tmp_path / "b.duckdb"), "--include", "*.parquet"])
    assert code == 0 and s["counts"]["stored"] == 7
    code, out = scan([str(folder), "--db", str(tmp_path / "c.duckdb"), "--include", "*.nothing"])
    assert code == 2 and "no input shards found" in out


def test_a_named_file_of_unknown_format_is_still_an_error(tmp_path):
    folder = messy_folder(tmp_path)
    code, out = scan([str(folder / "notes.txt"), "--db", str(tmp_path / "a.duckdb")])
    assert code == 2 and "notes.txt: unknown format" in out


C4 = "crawl/c4-sample-2019.json.gz"
DOLMA = "crawl/dolma-cc-en-head-2020.jsonl.gz"


def test_a_column_no_shard_has_is_an_error(tmp_path, shared_data):
    """The issue's case: C4's crawl date is `date`; `--date-column timestamp` used to store
    nulls silently (and flip the estimate from 11% to 59%)."""
    db = str(tmp_path / "a.duckdb")
    for flag in (["--date-column", "timestamp"], ["--url-column", "link"],
                 ["--license-column", "licence"], ["--source-by", "column:site"]):
        code, out = scan([str(shared_data / C4), "--db", db, *flag])
        assert code == 2, (flag, out)
        assert "no shard has a field" in out and "date, text, url" in out, out
    assert not (tmp_path / "a.duckdb.sidecars").exists() or not any(
        (tmp_path / "a.duckdb.sidecars").iterdir())


def test_a_column_some_shards_lack_is_named_in_the_summary(tmp_path, shared_data):
    code, s = scan([str(shared_data / C4), str(shared_data / DOLMA), "--db",
                    str(tmp_path / "a.duckdb"), "--date-column", "date"])
    assert code == 0, s
    (note,) = [n for n in s["notes"] if "--date-column date" in n]
    assert "missing in 1 of 2 shards (dolma-cc-en-head-2020.jsonl.gz)" in note
    # nested fields count by their dotted name
    code, s = scan([str(shared_data / DOLMA), "--db", str(tmp_path / "b.duckdb"),
                    "--url-column", "metadata.url"])
    assert code == 0 and not any("--url-column" in n for n in s["notes"]), s


def rows_with_problems(prefix: str) -> list[dict]:
    rows = [{"id": f"{prefix}-{i}", "text": f"an ordinary document number {i}",
             "url": f"https://example.com/{i}", "date": "2021-05-01T00:00:00Z"}
            for i in range(6)]
    rows[1]["date"] = "2099-01-01T00:00:00Z"  # after the scan date
    rows[2]["text"] = "\x00\x00\x00\x00"  # NUL padding only
    rows[3]["text"] = " \x00 \n\x00 "
    rows[4]["url"] = "https://example.com/" + "a" * 10_000
    return rows


def test_future_dates_nul_text_and_long_urls(tmp_path):
    import duckdb

    write_jsonl(tmp_path / "c.jsonl", rows_with_problems("j"))
    write_parquet(tmp_path / "c.parquet", rows_with_problems("p"))  # the columnar path
    db = str(tmp_path / "a.duckdb")
    code, s = scan([str(tmp_path / "c.jsonl"), str(tmp_path / "c.parquet"), "--db", db,
                    "--date-column", "date"])
    assert code == 0, s
    c = s["counts"]
    assert (c["stored"], c["skipped"], c["future_dates"], c["long_urls"]) == (8, 4, 2, 2)
    assert any("later than the scan's clock stored empty" in n for n in s["notes"])
    con = duckdb.connect(db, read_only=True)
    future = con.execute("SELECT crawl_date, crawl_month, pre_cutoff FROM documents "
                         "WHERE id IN ('j-1', 'p-1')").fetchall()
    assert future == [(None, None, None)] * 2
    assert con.execute("SELECT count(*) FROM documents WHERE crawl_date IS NOT NULL"
                       ).fetchone()[0] == 6
    lengths = con.execute("SELECT length(url) FROM documents WHERE id IN ('j-4', 'p-4')"
                          ).fetchall()
    assert lengths == [(2048,)] * 2
    reasons = con.execute("SELECT reason FROM errors").fetchall()
    con.close()
    assert sorted(r[0] for r in reasons) == ["text is only NUL bytes (binary padding, not a "
                                             "document)"] * 4


def test_deleted_shards_are_reported_and_pruned(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    write_jsonl(folder / "keep.jsonl", make_rows(10, seed=1))
    write_jsonl(folder / "gone.jsonl", make_rows(6, seed=2))
    db = str(tmp_path / "a.duckdb")
    assert scan([str(folder), "--db", db])[0] == 0
    (folder / "gone.jsonl").unlink()
    code, s = scan([str(folder), "--db", db])
    assert code == 0 and s["missing_shards"] == [str(folder / "gone.jsonl")]
    assert any("no longer exist on disk" in n and "auditor prune" in n for n in s["notes"])
    runner = CliRunner()
    st = json.loads(runner.invoke(main, ["status", "--db", db, "--json"]).stdout)
    assert st["missing_shards"] == [str(folder / "gone.jsonl")]
    assert st["totals"]["documents_in_view"] == 16
    res = runner.invoke(main, ["prune", "--db", db, "--dry-run"])
    assert res.exit_code == 0 and "would remove" in res.output and "6 documents" in res.output
    res = runner.invoke(main, ["prune", "--db", db, "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == [{"shard": str(folder / "gone.jsonl"), "documents": 6,
                                       "sidecars": 1}]
    st = json.loads(runner.invoke(main, ["status", "--db", db, "--json"]).stdout)
    assert st["missing_shards"] == [] and st["totals"]["documents_in_view"] == 10
    assert st["totals"]["shards"] == 1
