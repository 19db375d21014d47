"""Evaluation metrics on known scores, and the evaluator's robustness to broken detectors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors import base
from detectors.evaluation import (
    binary_metrics,
    evaluate,
    grouped_metrics,
    length_bucket,
    stratified_sample,
)


def test_binary_metrics_on_known_scores() -> None:
    rng = np.random.default_rng(0)
    human = rng.normal(0, 1, 5000)
    ai = rng.normal(3, 1, 5000)
    s = np.concatenate([human, ai])
    y = np.r_[np.zeros(5000), np.ones(5000)]
    m = binary_metrics(s, y, threshold=2.326)  # the 1% upper quantile of N(0, 1)
    # AUROC of two unit normals 3 apart is Phi(3 / sqrt 2) = 0.983
    assert m["auroc"] == pytest.approx(0.983, abs=0.005)
    assert m["fpr_at_threshold"] == pytest.approx(0.01, abs=0.004)
    # TPR at 1% FPR: P(N(3,1) > 2.326) = 0.75
    assert m["tpr_at_1fpr"] == pytest.approx(0.75, abs=0.03)
    assert binary_metrics(s[:10], y[:10])["auroc"] is None  # one class only


def test_undefined_scores_count_as_not_flagged() -> None:
    m = binary_metrics(np.array([np.nan, 0.2, 0.9, np.nan]), np.array([0, 0, 1, 1]), 0.5)
    assert m["fpr_at_threshold"] == 0.0 and m["tpr_at_threshold"] == 0.5
    assert m["auroc"] is not None


def test_groups_and_sampling() -> None:
    assert length_bucket(0) == "0-200" and length_bucket(10**7) == ">=5000"
    strata = np.array(["a"] * 100 + ["b"] * 10)
    idx = stratified_sample(strata, 20, seed=1)
    assert (strata[idx] == "b").sum() == 10 and (strata[idx] == "a").sum() == 10
    np.testing.assert_array_equal(idx, stratified_sample(strata, 20, seed=1))
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    s = y + np.random.default_rng(2).normal(0, 0.1, 80)
    meta = {"split": np.array(["test"] * 80, dtype=object),
            "domain": np.array(["news"] * 80, dtype=object),
            "language": np.array(["en"] * 80, dtype=object),
            "length": np.array(["0-200"] * 80, dtype=object),
            "generator": np.array([None] * 40 + ["gpt-x"] * 40, dtype=object),
            "variant": np.array(["pure"] * 80, dtype=object)}
    g = grouped_metrics(s, y, meta, threshold=0.5)
    assert g["domain"]["news"]["auroc"] == 1.0
    assert g["generator"]["gpt-x"]["n_human"] == 40 and not g["generator"]["gpt-x"]["held_out"]


def test_evaluate_reports_broken_detector_instead_of_crashing(shared_data, tmp_path) -> None:
    dev = pq.read_table(shared_data / "labeled" / "dev.parquet")
    idx = np.sort(np.random.default_rng(9).choice(dev.num_rows, 300, replace=False))
    path = tmp_path / "small.parquet"
    pq.write_table(dev.take(pa.array(idx)), path)
    base.register(base.DetectorSpec(name="broken_for_test", factory="detectors.nonexistent:X",
                                    tier="cheap", needs="nothing", summary="test"))
    try:
        res = evaluate(str(path), ["markers", "broken_for_test"])["detectors"]
    finally:
        base._REGISTRY.pop("broken_for_test", None)
    assert "cannot load" in res["broken_for_test"]["skipped"]
    assert res["markers"]["n"] > 0 and res["markers"]["docs_per_cpu_s"] > 0
