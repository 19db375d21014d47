"""`auditor filter` on real files: rules, the manifest, and the filtered shards it writes.

The store is a scan of real Parquet, JSON lines (plain, gzip, zstd) and WARC files with the
shipped classifier; every check compares with what the files and the store actually hold.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.act.manifest import write_manifest
from auditor.act.rules import RuleError, parse_rule, parse_rules
from auditor.act.shards import write_filtered
from auditor.cli import main
from auditor.scan import ScanOptions, run_scan
from tests.corpus_files import make_rows, write_jsonl, write_parquet

DEMO = os.path.join(os.path.dirname(__file__), "..", "auditor", "demo_data")
RULES = dict(drops=("score:classifier > 0.95", "synthetic-by-construction"),
             keeps=("crawl_date < 2022-11-30",))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    data = root / "data"
    data.mkdir()
    for name in ("wiki.parquet", "stories.jsonl.gz", "science.warc.gz",
                 "cosmopedia-demo.parquet"):
        shutil.copy(os.path.join(DEMO, name), data / name)
    write_jsonl(data / "forum.jsonl.zst", make_rows(300, seed=3), compression="zstd")
    write_jsonl(data / "plain.jsonl", make_rows(200, seed=4))
    write_parquet(data / "rows.parquet", make_rows(250, seed=5), row_group_size=60)
    db = str(root / "audit.duckdb")
    run_scan([str(data)], db, ScanOptions(), detectors="classifier")
    return db, data


def _documents(db: str) -> list[dict]:
    con = duckdb.connect(db, read_only=True)
    try:
        cur = con.execute("SELECT shard, \"offset\", id, score_classifier, "
                          "synthetic_by_construction, crawl_date FROM documents")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def test_rules_grammar_and_errors():
    r = parse_rule("  score:classifier   >=0.5 ", "drop")
    assert (r.column, r.op, r.value, r.text) == ("score_classifier", ">=", 0.5,
                                                 "score:classifier >= 0.5")
    assert parse_rule("crawl_date < 2022-11-30", "keep").value == "2022-11-30"
    assert parse_rule("source = 'web'", "drop").value == "web"
    assert parse_rule("Synthetic-By-Construction", "drop").flag == "synthetic-by-construction"
    for bad in ("score:classifier", "x > 1 > 2", "1abc > 3", "drop table x", "a.b > 1",
                "score:cl; DROP TABLE runs > 1", ""):
        with pytest.raises(RuleError):
            parse_rule(bad, "drop")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
       st.sampled_from(["<", "<=", ">", ">=", "=", "==", "!="]),
       st.floats(-1e6, 1e6, allow_nan=False), st.booleans())
def test_rule_round_trip(name, op, value, score):
    text = f"{'score:' if score else ''}{name} {op} {value!r}"
    r = parse_rule(text, "drop")
    assert r.column == (f"score_{name}" if score else name) and r.op == op
    assert float(r.value) == value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_fails_cleanly(text):
    try:
        r = parse_rule(text, "keep")
    except RuleError:
        return
    assert r.flag is not None or (r.column and r.op)


def test_rules_checked_against_the_store(store, tmp_path):
    db, _ = store
    out = tmp_path / "m.parquet"
    with pytest.raises(RuleError, match="no contamination results"):
        write_manifest(db, parse_rules(["contaminated"]), out)
    with pytest.raises(RuleError, match="no column 'score_nope'"):
        write_manifest(db, parse_rules(["score:nope > 1"]), out)
    with pytest.raises(RuleError, match="is a date"):
        write_manifest(db, parse_rules(["crawl_date < 5"]), out)
    with pytest.raises(RuleError, match="is a number"):
        write_manifest(db, parse_rules(["n_tokens > many"]), out)
    assert not out.exists()
    # a string that looks like SQL is a bound value: it matches nothing and breaks nothing
    s = write_manifest(db, parse_rules(["source = 'x'' OR 1=1 --'"]), out)
    assert s.n_dropped == 0 and s.n_docs > 0


def test_manifest_decisions_match_rules_and_reproduce(store, tmp_path):
    db, _ = store
    rules = parse_rules(RULES["drops"], RULES["keeps"])
    a = write_manifest(db, rules, tmp_path / "a.parquet")
    b = write_manifest(db, rules, tmp_path / "b.parquet")
    ta, tb = pq.read_table(a.path), pq.read_table(b.path)
    assert ta.equals(tb)  # same decisions, same reasons, same order on a re-run
    assert b.rules == ("drop score:classifier > 0.95", "drop synthetic-by-construction",
                       "keep crawl_date < 2022-11-30")
    cutoff = dt.datetime(2022, 11, 30, tzinfo=dt.timezone.utc)
    expected = {}
    for d in _documents(db):
        drop = (d["score_classifier"] is not None and d["score_classifier"] > 0.95) \
            or d["synthetic_by_construction"]
        keep = d["crawl_date"] is not None and d["crawl_date"] < cutoff
        expected[(d["shard"], d["offset"])] = "drop" if drop and not keep else "keep"
    got = {(s, o): dec for s, o, dec in zip(ta["shard"].to_pylist(), ta["offset"].to_pylist(),
                                             ta["decision"].to_pylist(), strict=True)}
    assert got == expected
    assert 0 < a.n_dropped < a.n_docs
    assert a.by_source["cosmopedia-demo"] == {"keep": 0, "drop": 200}
    for dec, reasons in zip(ta["decision"].to_pylist(), ta["reasons"].to_pylist(), strict=True):
        if dec == "drop":
            assert reasons and all(r.startswith("drop: ") for r in reasons)


def _ids_in(path: str) -> list[str]:
    if path.endswith(".parquet"):
        return pq.read_table(path, columns=["id"])["id"].to_pylist()
    if path.endswith(".zst"):
        import zstandard

        with open(path, "rb") as fh:
            data = zstandard.ZstdDecompressor().stream_reader(fh).read()
    elif path.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    else:
        with open(path, "rb") as fh:
            data = fh.read()
    return [json.loads(line)["id"] for line in data.splitlines() if line.strip()]


def test_written_shards_hold_exactly_the_kept_records(store, tmp_path):
    db, data = store
    man = tmp_path / "m.parquet"
    write_manifest(db, parse_rules(RULES["drops"], RULES["keeps"]), man)
    out = tmp_path / "out"
    results = write_filtered(db, man, out)
    assert {r.status for r in results} == {"written"}, [r.reason for r in results]
    t = pq.read_table(man)
    kept: dict[str, list[str]] = {}
    for shard, i, dec in zip(t["shard"].to_pylist(), t["id"].to_pylist(),
                             t["decision"].to_pylist(), strict=True):
        kept.setdefault(shard, [])
        if dec == "keep":
            kept[shard].append(i)
    names = {r.shard: r.output for r in results}
    assert sorted(os.path.basename(p) for p in names.values()) == sorted(
        ["wiki.parquet", "stories.jsonl.gz", "science.jsonl.gz", "cosmopedia-demo.parquet",
         "forum.jsonl.zst", "plain.jsonl", "rows.parquet"])
    for shard, output in names.items():
        assert _ids_in(output) == kept[shard], shard  # same records, file order kept
    # Parquet keeps every column of the input; JSON lines keep the original bytes of each line
    src = pq.read_table(data / "rows.parquet")
    got = pq.read_table(names[str(data / "rows.parquet")])
    assert got.schema.equals(src.schema)
    by_id = {r["id"]: r for r in src.to_pylist()}
    assert all(by_id[r["id"]] == r for r in got.to_pylist())
    with open(data / "plain.jsonl", "rb") as fh:
        original = set(fh.read().splitlines())
    with open(names[str(data / "plain.jsonl")], "rb") as fh:
        assert set(fh.read().splitlines()) <= original
    # WARC in, dolma-style JSON lines out, with the extracted text
    with gzip.open(names[str(data / "science.warc.gz")], "rt", encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    assert first["text"] and first["source"] == "science" and first["metadata"]["url"]
    # the filtered corpus scans again: the same documents, ids and dates as the kept ones
    db2 = str(tmp_path / "again.duckdb")
    run_scan([str(out)], db2, ScanOptions(), detectors="none")
    again = duckdb.connect(db2, read_only=True)
    try:
        got_ids = sorted(r[0] for r in again.execute(
            "SELECT id FROM read_parquet(?, union_by_name=true)",
            [db2 + ".sidecars/*.parquet"]).fetchall())
        n_dated = again.execute("SELECT count(crawl_date) FROM read_parquet(?, "
                                "union_by_name=true)", [db2 + ".sidecars/*.parquet"]).fetchone()
    finally:
        again.close()
    assert got_ids == sorted(i for ids in kept.values() for i in ids)
    assert n_dated[0] > 0


def test_write_is_resumable_and_notices_changes(store, tmp_path):
    db, data = store
    man = tmp_path / "m.parquet"
    write_manifest(db, parse_rules(RULES["drops"], RULES["keeps"]), man)
    out = tmp_path / "out"
    first = write_filtered(db, man, out)
    again = write_filtered(db, man, out)
    assert {r.status for r in again} == {"reused"}
    assert [r.n_written for r in again] == [r.n_written for r in first]
    # other decisions: every shard whose kept set changed is written again
    write_manifest(db, parse_rules(["score:classifier > 0"]), man)
    third = write_filtered(db, man, out)
    assert "written" in {r.status for r in third}
    # a half-written output from a killed run (no marker) is replaced, not trusted
    wiki = next(r.output for r in third if r.shard.endswith("wiki.parquet"))
    os.unlink(os.path.join(os.path.dirname(wiki), "." + os.path.basename(wiki) + ".done.json"))
    with open(wiki, "wb") as fh:
        fh.write(b"PAR1 truncated")
    fourth = {r.shard: r for r in write_filtered(db, man, out)}
    assert fourth[str(data / "wiki.parquet")].status == "written"
    assert _ids_in(wiki)  # readable again


def test_changed_shard_fails_with_reason_and_others_go_on(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    write_jsonl(data / "a.jsonl.gz", make_rows(50, seed=1), compression="gzip")
    write_parquet(data / "b.parquet", make_rows(40, seed=2), row_group_size=10)
    db = str(tmp_path / "s.duckdb")
    run_scan([str(data)], db, ScanOptions(), detectors="none")
    man = tmp_path / "m.parquet"
    write_manifest(db, parse_rules(["n_tokens > 30"]), man)
    write_jsonl(data / "a.jsonl.gz", make_rows(60, seed=1), compression="gzip")  # changed
    res = {os.path.basename(r.shard): r for r in write_filtered(db, man, tmp_path / "o")}
    assert res["a.jsonl.gz"].status == "failed" and "changed since" in res["a.jsonl.gz"].reason
    assert res["b.parquet"].status == "written" and res["b.parquet"].n_written > 0


def test_filter_cli(store, tmp_path):
    db, _ = store
    runner = CliRunner()
    man = tmp_path / "m.parquet"
    r = runner.invoke(main, ["filter", "--db", db, "--drop", "score:classifier > 0.95",
                             "--keep", "crawl_date < 2022-11-30", "-o", str(man),
                             "--write", str(tmp_path / "w"), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["manifest"]["n_docs"] == got["manifest"]["n_kept"] + got["manifest"]["n_dropped"]
    assert sum(s["n_written"] for s in got["shards"]) == got["manifest"]["n_kept"]
    r = runner.invoke(main, ["filter", "--db", db, "--drop", "contaminated", "-o", str(man)])
    assert r.exit_code == 2 and "no contamination results" in r.output


def test_drop_contaminated_once_the_store_has_contamination_scores(tmp_path):
    """The contamination detector writes `score_contamination` (share of an item's n-grams
    found; 0 = clean); here one unit gets that column the way a rescore adds it (an attribute side-car)."""
    import glob

    import pyarrow as pa

    from auditor.store.paths import StorePaths
    from auditor.store.sidecar import read_sidecar, write_attribute

    data = tmp_path / "d"
    data.mkdir()
    write_parquet(data / "c.parquet", make_rows(30, seed=9), row_group_size=10)
    db = str(tmp_path / "s.duckdb")
    run_scan([str(data)], db, ScanOptions(), detectors="none")
    (side,) = glob.glob(db + ".sidecars/*.parquet")
    n = pq.read_metadata(side).num_rows
    shares = [0.8 if i % 7 == 0 else (None if i % 5 == 0 else 0.0) for i in range(n)]
    write_attribute(StorePaths.for_db(db).attribute_path(side, "contamination"),
                    read_sidecar(side), {"score_contamination": pa.array(shares, pa.float64())},
                    "contamination", "1", {})
    s = write_manifest(db, parse_rules(["contaminated"]), tmp_path / "m.parquet")
    assert s.n_dropped == sum(1 for x in shares if x) and s.by_reason == {
        "drop: contaminated": s.n_dropped}
