"""`auditor demo` end to end on the embedded corpus, and the corpus itself: known fractions,
formats, dates on both sides of the cutoff, licences, provenance of every row."""

from __future__ import annotations

import gzip
import json
import os

import duckdb
import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.demo import demo_data_dir, load_labels, load_truth
from auditor.records import DEFAULT_CUTOFF


def test_demo_corpus_is_small_documented_and_matches_truth():
    folder = demo_data_dir()
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total < 5_000_000
    notice = (folder / "NOTICE").read_text()
    with gzip.open(folder / "manifest.jsonl.gz", "rt") as fh:
        manifest = [json.loads(line) for line in fh]
    truth = load_truth()
    assert 2500 <= len(manifest) <= 4000
    for repo, lic in {(m["source_repo"], m["dev_license"]) for m in manifest}:
        assert repo in notice and lic in notice
    for name, t in truth["sources"].items():
        rows = [m for m in manifest if m["source"] == name]
        assert (folder / t["file"]).is_file()
        assert len(rows) == t["n_docs"]
        assert sum(m["label"] == "ai" for m in rows) / len(rows) == pytest.approx(t["fraction"])
        # pre-cutoff documents are all human; machine rows only from held-out generators
        assert all(m["label"] == "human" for m in rows if m["pre_cutoff"])
        assert all(m["split"] == "test_generator" for m in rows if m["label"] == "ai")
        assert all(m["split"] != "train" for m in rows)
        dated = [m["crawl_date"] for m in rows if m["crawl_date"]]
        assert all((d[:10] < DEFAULT_CUTOFF.isoformat()) == m["pre_cutoff"]
                   for m in rows for d in [m["crawl_date"]] if d)
        if name != "cosmopedia-demo":
            assert min(dated) < DEFAULT_CUTOFF.isoformat() < max(dated)
    assert {t["format"] for t in truth["sources"].values()} >= {"parquet", "jsonl", "jsonl.gz",
                                                                 "warc"}
    assert sorted({t["fraction"] for t in truth["sources"].values()})[:2] == [0.0, 0.05]
    assert truth["sources"]["cosmopedia-demo"]["synthetic_by_construction"]


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(main, ["demo", "--out", str(out), "--n-boot", "50", "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    for fmt in ("html", "md", "json"):
        assert (out / f"report.{fmt}").stat().st_size > 1000
    report = json.loads((out / "report.json").read_text())
    truth = load_truth()
    assert report["summary"]["n_docs"] == truth["overall"]["n_docs"]
    assert {s["source"] for s in report["sources"]} == set(truth["sources"])
    # every stored document is matched to its label: the comparison is over real documents
    labels = load_labels()
    con = duckdb.connect(str(out / "audit.duckdb"), read_only=True)
    ids = [r[0] for r in con.execute("SELECT id FROM documents").fetchall()]
    con.close()
    assert len(ids) == truth["overall"]["n_docs"] and all(i in labels for i in ids)
    rows = {row["source"]: row for row in res["comparison"]}
    assert set(rows) == set(truth["sources"]) | {"ALL SOURCES"}
    assert rows["blogs"]["truth"] == 0.0 and rows["cosmopedia-demo"]["truth"] == 1.0
    for name, row in rows.items():  # every estimate covers the truth of its documents
        assert row["estimate"] is not None, name
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
        assert row["ci_low"] - 1e-9 <= row["truth"] <= row["ci_high"] + 1e-9, row
        assert row["in_interval"] is True
    # one audit: the demo table, the report and the check show the very same intervals
    by_source = {s["source"]: s["estimate"] for s in report["sources"]}
    by_source["ALL SOURCES"] = report["summary"]["overall"]
    check_gates = {g["name"]: g for g in json.loads((out / "check.json").read_text())["gates"]}
    for name, row in rows.items():
        est = by_source[name]
        assert (est["fraction"], est["ci_low"], est["ci_high"]) == (
            row["estimate"], row["ci_low"], row["ci_high"]), name
        gate = check_gates.get("fraction.overall" if name == "ALL SOURCES"
                               else f"fraction.source[{name}]")
        if gate is not None:
            assert gate["value"] == row["ci_high"], name
    assert report["audit"]["settings_hash"] == res["audit"]["settings_hash"]
    assert res["audit"]["persisted"]
    # the estimates history: one row per group per run (1 overall, 6 sources, the months)
    con = duckdb.connect(str(out / "audit.duckdb"), read_only=True)
    per_group = con.execute("SELECT run_id, group_by, group_key, count(*) FROM estimates "
                            "GROUP BY ALL").fetchall()
    n_audits = con.execute("SELECT count(*) FROM audits").fetchone()[0]
    con.close()
    assert per_group and all(n == 1 for *_, n in per_group)
    assert len({r[0] for r in per_group}) == 1 and n_audits == 1
    assert sum(gb == '["source"]' for _, gb, _, _ in per_group) == len(truth["sources"])
    # the check ran, and the synthetic-by-construction gate catches the cosmopedia-style source
    check = json.loads((out / "check.json").read_text())
    assert check["exit_code"] == 1
    failed = {g["name"] for g in check["gates"] if not g["passed"]}
    assert "synthetic_by_construction[cosmopedia-demo]" in failed
    assert (out / "check.xml").read_text().startswith("<?xml")


def test_demo_refuses_to_overwrite_a_store_it_did_not_make(tmp_path):
    from auditor.store.catalogue import open_store

    open_store(str(tmp_path / "audit.duckdb")).close()  # somebody's real store
    r = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "was not made by `auditor demo`" in r.output
    assert (tmp_path / "audit.duckdb").exists()


def test_ci_fails_where_a_local_run_skips(monkeypatch):
    """A test whose prerequisite (../shared, chromium) is missing fails in CI, skips locally."""
    from conftest import require

    require(True, "present")  # no effect
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="shared data not found.*CI is set"):
        require(False, "shared data not found at /nowhere")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="local run"):
        require(False, "shared data not found at /nowhere")
    monkeypatch.delenv("CI")
    assert "CI" not in os.environ
    with pytest.raises(pytest.skip.Exception):
        require(False, "x")
