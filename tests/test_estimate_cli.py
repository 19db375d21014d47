"""End to end: JSONL files written in tmp_path -> `auditor scan` (shipped classifier) ->
`auditor estimate --json`, on real labeled texts from the shared development set."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main
from detectors.splits import add_split_column


def _labeled(shared_data, domain: str):
    pf = pq.ParquetFile(shared_data / "labeled" / "dev.parquet", pre_buffer=False,
                        buffer_size=1 << 20)
    t = pf.read(columns=["id", "text", "label", "generator", "domain", "source_repo",
                         "pair_key", "variant"])
    t = t.filter(pc.equal(t["domain"], domain))
    t = add_split_column(t)
    human = t.filter(pc.and_(pc.equal(t["label"], "human"),
                             pc.is_in(t["split"], value_set=pc.cast(["calib", "test"], "string"))))
    machine = t.filter(pc.equal(t["split"], "test_generator"))
    return human.to_pylist(), machine.to_pylist()


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


@pytest.mark.slow
def test_scan_then_estimate_json(tmp_path, shared_data):
    human, machine = _labeled(shared_data, "news (BBC XSum)")
    human = human[:420]
    machine = machine[:60]
    assert len(human) == 420 and len(machine) == 60
    pre = [{"id": r["id"], "text": r["text"], "date": "2019-05-01"} for r in human[:300]]
    post = ([{"id": r["id"], "text": r["text"], "date": "2024-03-01"} for r in human[300:420]]
            + [{"id": r["id"], "text": r["text"], "date": "2024-03-01"} for r in machine])
    _write_jsonl(tmp_path / "news.jsonl", pre + post)
    _write_jsonl(tmp_path / "empty_source.jsonl", [{"id": "x1", "text": "   "}])
    db = str(tmp_path / "audit.duckdb")
    runner = CliRunner()
    scan = runner.invoke(main, ["scan", str(tmp_path / "news.jsonl"),
                                str(tmp_path / "empty_source.jsonl"), "--db", db,
                                "--detectors", "classifier", "--date-column", "date",
                                "--no-progress"])
    assert scan.exit_code == 0, scan.output
    res = runner.invoke(main, ["estimate", "--db", db, "--by", "source", "--json",
                               "--n-boot", "100"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    (news,) = [r for r in rows if "news" in r["group"].get("source", "")]
    for key in ("group", "n_docs", "n_tokens", "fraction", "ci_low", "ci_high", "method",
                "detector", "n_human_ref", "n_machine_ref", "floor", "notes", "human_ref"):
        assert key in news
    assert news["detector"] == "classifier" and news["method"] in ("mlms", "acc")
    assert news["human_ref"].startswith("own pre-cutoff")
    assert news["n_human_ref"] == 300 and news["n_pre_cutoff"] == 300
    # the whole source: 300 pre-cutoff (human by assumption) + 180 post-cutoff documents
    assert news["n_docs"] == 480
    assert news["ci_low_post"] <= 60 / 180 + 0.03 and news["ci_high_post"] >= 60 / 180 - 0.03
    truth = 60 / news["n_docs"]
    assert news["ci_low"] <= truth + 0.03 and news["ci_high"] >= truth - 0.03, news
    assert news["floor"] is not None and news["floor"] < 0.05
    # the run was recorded with the scan's run id
    import duckdb

    con = duckdb.connect(db, read_only=True)
    run_ids = {r[0] for r in con.execute("SELECT run_id FROM estimates").fetchall()}
    scan_ids = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
    con.close()
    assert run_ids and run_ids <= scan_ids


def test_cli_errors_are_clear(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["estimate", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code != 0 and "auditor scan" in res.output
    res = runner.invoke(main, ["estimate", "--help"])
    assert res.exit_code == 0 and "Examples" in res.output and "--by" in res.output
    assert "not used as its human reference" in " ".join(res.output.split())
