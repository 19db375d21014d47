"""`auditor detectors adapt` on a store scanned from real files, then scan and estimate with it.

Real data: BBC XSum news of the shared development set. The corpus file is JSONL: 240 human
articles dated 2019 (pre-cutoff), then 2024 articles, 60 human and 60 machine. The user's
machine texts (`--machine`, a JSONL fixture) are other machine-written XSum articles of the
labeled data, none of them in the corpus.
"""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main

pytestmark = pytest.mark.slow


def _news(shared_data):
    t = pq.read_table(shared_data / "labeled" / "dev.parquet",
                      columns=["id", "text", "label", "domain"]).to_pylist()
    rows = [r for r in t if r["domain"] == "news (BBC XSum)" and len(r["text"]) > 400]
    human = [r for r in rows if r["label"] == "human"]
    machine = [r for r in rows if r["label"] == "ai"]
    return human[:300], machine[:260]


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def test_adapt_then_scan_and_estimate_use_the_new_version(tmp_path, shared_data):
    human, machine = _news(shared_data)
    assert len(human) == 300 and len(machine) == 260
    corpus = ([{"id": r["id"], "text": r["text"], "date": "2019-05-01"} for r in human[:240]]
              + [{"id": r["id"], "text": r["text"], "date": "2024-03-01"}
                 for r in human[240:] + machine[:60]])
    _write_jsonl(tmp_path / "news.jsonl", corpus)
    _write_jsonl(tmp_path / "machine.jsonl", [{"text": r["text"]} for r in machine[60:]])
    db = str(tmp_path / "audit.duckdb")
    runner = CliRunner()
    scan_args = ["scan", str(tmp_path / "news.jsonl"), "--db", db, "--date-column", "date",
                 "--no-progress", "--json"]
    first = runner.invoke(main, scan_args + ["--detectors", "classifier"])
    assert first.exit_code == 0, first.output

    # Without an adapted model the detector is not configured: naming it is an error.
    res = runner.invoke(main, ["estimate", "--db", db, "--detector", "adapted", "--json"])
    assert res.exit_code != 0

    res = runner.invoke(main, ["detectors", "adapt", "--db", db, "--machine",
                               str(tmp_path / "machine.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output[res.output.index("{"):])
    folder = tmp_path / "audit.duckdb.models" / "adapted"
    assert info["folder"] == str(folder.resolve())
    for name in ("model.json", "coef_index.npy", "coef_value.npy", "calibration.json",
                 "reference.parquet", "adapt.json"):
        assert (folder / name).is_file(), name
    # every pre-cutoff document was re-read from the shard: 70/30 train/held-out
    assert info["train"]["human"] + info["held_out"]["human"] == 240
    assert info["train"]["machine"] + info["held_out"]["machine"] == 200
    assert 40 < info["held_out"]["human"] < 110 and 30 < info["held_out"]["machine"] < 100
    # held out (in distribution): the adapted model (the shipped weights fine-tuned on this
    # store) separates this corpus's news from machine news it never trained on, no worse than
    # the shipped model it started from
    held, shipped = info["held_out_metrics"], info["shipped_classifier_held_out"]
    assert held["auroc"] > 0.9 and held["auroc"] >= shipped["auroc"] - 0.02, info
    ref = pq.read_table(folder / "reference.parquet").to_pylist()
    assert {r["label"] for r in ref} == {"human", "ai"}
    assert len(ref) == info["held_out"]["human"] + info["held_out"]["machine"]

    # A second scan adds the adapted column; the classifier's scores stay as they were.
    before = _scores(db, "classifier")
    second = runner.invoke(main, scan_args + ["--detectors", "classifier,adapted"])
    assert second.exit_code == 0, second.output
    assert _scores(db, "classifier") == before
    adapted = _scores(db, "adapted")
    assert len(adapted) == len(corpus) and all(v is not None for v in adapted.values())
    version = json.loads((folder / "model.json").read_text())["version"]
    assert version == info["version"]

    res = runner.invoke(main, ["estimate", "--db", db, "--detector", "adapted", "--json",
                               "--n-boot", "50", "--no-record"])
    assert res.exit_code == 0, res.output
    (est,) = json.loads(res.output)
    assert est["detector"] == "adapted"
    # its references are the held-out texts saved beside the model, not the pre-cutoff
    # documents it was fitted on (the estimate may keep part of a given reference for its floor)
    assert any(str(folder / "reference.parquet") in n for n in est["notes"]), est["notes"]
    assert "given" in est["human_ref"]
    assert info["held_out"]["human"] / 2 - 1 <= est["n_human_ref"] <= info["held_out"]["human"]
    truth = 60 / est["n_docs"]
    assert est["ci_low"] <= truth <= est["ci_high"], est


def test_adapt_refuses_too_little_text_and_bad_machine_files(tmp_path, shared_data):
    human, machine = _news(shared_data)
    _write_jsonl(tmp_path / "news.jsonl", [{"id": r["id"], "text": r["text"],
                                            "date": "2019-05-01"} for r in human[:30]])
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n[1, 2]\n', encoding="utf-8")
    _write_jsonl(tmp_path / "few.jsonl", [{"text": r["text"]} for r in machine[:3]])
    db = str(tmp_path / "a.duckdb")
    runner = CliRunner()
    assert runner.invoke(main, ["scan", str(tmp_path / "news.jsonl"), "--db", db,
                                "--date-column", "date", "--no-progress",
                                "--detectors", "none"]).exit_code == 0
    res = runner.invoke(main, ["detectors", "adapt", "--db", db, "--machine",
                               str(tmp_path / "bad.jsonl")])
    assert res.exit_code != 0 and "bad.jsonl line 2" in res.output
    res = runner.invoke(main, ["detectors", "adapt", "--db", db, "--machine",
                               str(tmp_path / "few.jsonl")])
    assert res.exit_code != 0 and "at least 10" in res.output
    res = runner.invoke(main, ["detectors", "adapt", "--db", db])
    assert res.exit_code != 0 and "--machine" in res.output
    assert not os.path.exists(tmp_path / "a.duckdb.models" / "adapted" / "model.json")


def _scores(db: str, detector: str) -> dict:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        rows = con.execute(f'SELECT id, "score_{detector}" FROM documents').fetchall()
    finally:
        con.close()
    return dict(rows)


def test_adapt_generates_machine_text_from_the_stores_own_documents(tmp_path, shared_data):
    """--generate: the offline SmolLM2 writes continue/rewrite texts from pre-cutoff documents
    (kept tiny: 2 texts of 12 new tokens), next to the user's machine texts."""
    pytest.importorskip("torch")
    from detectors.lm_generate import generate_from_documents

    human, machine = _news(shared_data)
    _write_jsonl(tmp_path / "news.jsonl", [{"id": r["id"], "text": r["text"],
                                            "date": "2019-05-01"} for r in human[:40]])
    _write_jsonl(tmp_path / "machine.jsonl", [{"text": r["text"]} for r in machine[:20]])
    db = str(tmp_path / "g.duckdb")
    runner = CliRunner()
    assert runner.invoke(main, ["scan", str(tmp_path / "news.jsonl"), "--db", db,
                                "--date-column", "date", "--no-progress",
                                "--detectors", "none"]).exit_code == 0
    res = runner.invoke(main, ["detectors", "adapt", "--db", db, "--machine",
                               str(tmp_path / "machine.jsonl"), "--generate", "2",
                               "--max-new-tokens", "12"])
    assert res.exit_code == 0, res.output
    assert "generated 2/2 machine texts" in res.output
    info = json.loads((tmp_path / "g.duckdb.models" / "adapted" / "adapt.json").read_text())
    assert info["machine_origin"] == {"given": 20, "generated:continue": 1,
                                      "generated:rewrite": 1}
    # a continuation keeps the document's opening and adds new text
    (text, origin), = generate_from_documents([human[0]["text"]], 1, max_new_tokens=12)
    assert origin == "generated:continue"
    opening = " ".join(human[0]["text"].split()[:5])
    assert text.startswith(opening[:20]) and len(text) > len(opening)
    assert text not in human[0]["text"]
