"""The filter trade-off on a corpus with known machine documents (built from the shared labeled
set, repositories the classifier never saw): its counts agree with the manifest, and its
"synthetic left" is close to the truth the labels give."""

from __future__ import annotations

import math

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.act.manifest import write_manifest
from auditor.act.rules import parse_rules
from auditor.act.tradeoff import filter_tradeoff, tradeoff_html, tradeoff_markdown
from auditor.cli import main
from auditor.scan import ScanOptions, run_scan
from tests.labeled_corpus import build_labeled_corpus


@pytest.fixture(scope="module")
def labeled(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("labeled")
    truth = build_labeled_corpus(shared_data / "labeled" / "extra.parquet", root / "data",
                                 {"l2r": 0.3, "detectrl": 0.5}, n_pre=160, n_post=240, seed=3)
    db = str(root / "l.duckdb")
    run_scan([str(root / "data")], db, ScanOptions(), detectors="classifier")
    return db, truth


def test_counts_match_the_manifest_and_add_up(labeled, tmp_path):
    db, truth = labeled
    curve = filter_tradeoff(db, "classifier", thresholds=[-1.0, 0.0, 2.0])
    assert curve.thresholds == (-1.0, 0.0, 2.0)
    for t in curve.thresholds:
        man = write_manifest(db, parse_rules([f"score:classifier > {t}"], ["pre-cutoff"]),
                             tmp_path / "m.parquet")
        for source, counts in man.by_source.items():
            p = next(p for p in curve.series(source) if p.threshold == t)
            assert p.n_kept == counts["keep"] and p.n_docs == counts["keep"] + counts["drop"]
            assert p.human_lost + p.machine_removed == pytest.approx(counts["drop"])
            assert 0 <= p.human_lost_share <= 1 and 0 <= p.fraction_left <= 1
    # stricter thresholds cost more human documents
    lost = [p.human_lost for p in curve.series("")]
    assert lost[0] >= lost[1] >= lost[2]


def test_fraction_left_is_close_to_the_truth(labeled, tmp_path):
    db, truth = labeled
    curve = filter_tradeoff(db, "classifier", thresholds=[0.0, 2.0])
    for t in curve.thresholds:
        man = write_manifest(db, parse_rules([f"score:classifier > {t}"], ["pre-cutoff"]),
                             tmp_path / "m.parquet")
        table = pq.read_table(man.path)
        kept = [i for i, d in zip(table["id"].to_pylist(), table["decision"].to_pylist(),
                                  strict=True) if d == "keep"]
        true_left = sum(truth[i] == "ai" for i in kept) / len(kept)
        est = next(p for p in curve.series("") if p.threshold == t).fraction_left
        # 800 documents: a few points of sampling error in the estimated fraction
        assert abs(est - true_left) < 0.05, (t, est, true_left)


def test_fragments_and_cli(labeled):
    db, _ = labeled
    curve = filter_tradeoff(db, "classifier", thresholds=[0.0])
    md = tradeoff_markdown(curve)
    assert "| 0 |" in md and "synthetic left" in md
    frag = tradeoff_html(curve, "<script>")
    assert "<script>" not in frag and "&lt;script&gt;" in frag
    r = CliRunner().invoke(main, ["tradeoff", "--db", db, "--threshold", "0", "--json"])
    assert r.exit_code == 0, r.output
    import json

    got = json.loads(r.output)
    assert {p["source"] for p in got["points"]} == {"", "l2r", "detectrl"}
    assert all(p["fraction_left"] is None or not math.isnan(p["fraction_left"])
               for p in got["points"])
