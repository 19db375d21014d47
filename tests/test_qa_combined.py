"""`auditor estimate --detector combined` as a user runs it on the demo corpus (real Parquet,
JSONL and WARC files, known truth), scanned with the default cheap tier. Two findings:

- `markers` (almost every text, human or machine, scores 0; its references separate by AUC
  0.51) read every source as 100% machine after the cutoff with a floor of 100%, and the
  combination carried it into every row: blogs (truth 0%) read 30.4%, news 38.6% (truth 15%);
- the headline was the first detector's alone (19.6%) beside combined rows of 30-48%.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from auditor.demo import copy_corpus, load_truth
from auditor.estimate import estimate_db
from auditor.readers.base import ReaderOptions
from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan
from auditor.store.catalogue import open_store
from tests.test_estimate_store import POST, PRE, human_scores, machine_scores, write_sidecar


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("demo")
    copy_corpus(out / "corpus")
    db = str(out / "audit.duckdb")
    s = run_scan([str(out / "corpus")], db, ScanOptions(reader=ReaderOptions(
        license_column="license")), detectors="classifier,markers")
    assert s.status == "ok"
    return db


def test_a_detector_that_cannot_separate_is_left_out_of_the_combination(demo_store):
    kw = dict(by=["source"], n_boot=30, record=False, vocab=False, overall=True)
    rows = estimate_db(demo_store, detector="combined", **kw)
    alone = {json.dumps(e.group): e for e in estimate_db(demo_store, detector="classifier", **kw)}
    truth = load_truth()["sources"]
    for e in rows:
        assert e.detector == "classifier"
        assert any("markers left out" in n and "AUC 0.5" in n for n in e.notes), e.notes
        assert e.fraction == pytest.approx(alone[json.dumps(e.group)].fraction, abs=1e-12)
        assert (e.ci_low, e.ci_high) == pytest.approx(
            (alone[json.dumps(e.group)].ci_low, alone[json.dumps(e.group)].ci_high), abs=1e-12)
        if e.group:
            assert abs(e.fraction - truth[e.group["source"]]["fraction"]) < 0.06, e


def test_the_combined_headline_is_the_weighted_combination_of_the_combined_rows(tmp_path):
    """Two detectors that both separate (side-car Parquet files as a scan writes them): the
    headline combines the combined rows, as every other headline does."""
    rng = np.random.default_rng(7)
    db = str(tmp_path / "c.duckdb")
    for source, frac in (("web", 0.1), ("news", 0.4)):
        rows = [dict(id=f"{source}-pre-{i}", source=source, date=PRE, scores={
            "classifier": float(human_scores(rng, 1)[0]),
            "compression": float(human_scores(rng, 1)[0])}) for i in range(300)]
        for i in range(500):
            draw = machine_scores if i < frac * 500 else human_scores
            rows.append(dict(id=f"{source}-post-{i}", source=source, date=POST, scores={
                "classifier": float(draw(rng, 1)[0]),
                "compression": float(draw(rng, 1)[0])}))
        write_sidecar(db, source, rows)
    write_sidecar(db, "mref", [dict(id=f"m{i}", source="m", role="machine_reference", scores={
        "classifier": float(machine_scores(rng, 1)[0]),
        "compression": float(machine_scores(rng, 1)[0])}) for i in range(800)])
    open_store(db).close()
    rows = estimate_db(db, detector="combined", by=["source"], n_boot=40, record=False,
                       vocab=False, overall=True)
    head, groups = rows[-1], rows[:-1]
    assert head.group == {} and all(set(e.detector.split("+")) == {"classifier", "compression"}
                                    for e in rows)
    weighted = sum(e.fraction * e.n_docs for e in groups) / sum(e.n_docs for e in groups)
    assert head.fraction == pytest.approx(weighted, abs=1e-9)
    assert min(e.ci_low for e in groups) <= head.ci_low <= head.fraction <= head.ci_high
    (only,) = estimate_db(db, detector="combined", n_boot=40, record=False, vocab=False)
    assert only.fraction == pytest.approx(weighted, abs=1e-9)


def test_naming_a_detector_that_cannot_separate_warns_on_every_row(demo_store):
    """`--detector markers` alone read 60-66% for every demo source (truth 0-30%) with a floor
    of 100% and no word of why; now every row carries the warning (printed by `estimate`)."""
    kw = dict(by=["source"], n_boot=20, record=False, vocab=False, overall=True)
    for e in estimate_db(demo_store, detector="markers", **kw):
        assert e.notes[0].startswith("WARNING: detector markers: its machine reference "
                                     "separates from the human reference by AUC 0.5"), e.notes
    assert not any(n.startswith("WARNING") for e in estimate_db(demo_store, detector="classifier",
                                                                 **kw) for n in e.notes)


def test_tradeoff_never_prints_a_negative_zero_share(demo_store):
    """`auditor tradeoff` on the demo corpus printed "synthetic left -0.0%" at one threshold."""
    from click.testing import CliRunner

    from auditor.cli import main

    r = CliRunner().invoke(main, ["tradeoff", "--db", demo_store], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "| 0.0% |" in r.stdout and "-0.0%" not in r.stdout
