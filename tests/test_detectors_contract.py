"""The detector contract: decorator registry, methods the scanner calls, lazy loading, strict
`fit`, per-source thresholds, and the leave-one-repository-out evaluation on real rows."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import detectors
from detectors import base
from detectors.calibration import ThresholdOrigin, source_thresholds, threshold_for_fpr
from detectors.classifier import NgramClassifier

REPO = Path(__file__).resolve().parents[1]


def test_decorator_registers_and_duplicate_names_raise():
    @base.detector(name="contract_probe", tier="cheap", needs="nothing", summary="probe",
                   languages=("en",))
    class Probe(base.Detector):
        def score(self, texts):
            return np.ones(len(texts))

    try:
        spec = {s.name: s for s in detectors.specs()}["contract_probe"]
        assert spec.languages == ("en",) and Probe.name == "contract_probe"
        with pytest.raises(ValueError, match="already registered"):
            @base.detector(name="contract_probe", tier="cheap", needs="x", summary="other")
            class Other(base.Detector):
                pass
        with pytest.raises(ValueError, match="already registered"):
            base.detector(name="classifier", tier="cheap", needs="x", summary="y")(Probe)
    finally:
        base._REGISTRY.pop("contract_probe", None)


def test_every_registered_detector_names_the_scanner_methods():
    for spec in detectors.specs():
        module, _, attr = spec.factory.partition(":")
        cls = getattr(__import__(module, fromlist=[attr]), attr)
        assert issubclass(cls, base.Detector)
        assert cls.name == spec.name and cls.tier == spec.tier
        for method in ("score", "score_and_reasons", "score_documents", "valid_for"):
            assert callable(getattr(cls, method))
        assert isinstance(cls.accepts_metas, bool)


def test_score_documents_leaves_undeclared_languages_unscored():
    det = NgramClassifier()
    texts = ["The committee will meet on Tuesday to discuss the budget. " * 5] * 3
    out = det.score_documents(texts, None, ["en", "de", "en-US"])
    assert np.isfinite(out.scores[[0, 2]]).all() and np.isnan(out.scores[1])
    assert out.n_out_of_language == 1
    assert det.valid_for(None) and det.valid_for("eng") and not det.valid_for("zh")


def test_constructor_does_no_io_and_fit_rejects_unknown_options(tmp_path):
    det = NgramClassifier(model_dir=tmp_path / "missing")  # no error: nothing read yet
    with pytest.raises(FileNotFoundError, match="no model.json"):
        det.score(["some text"])
    with pytest.raises(TypeError):
        NgramClassifier.fit(["a b c", "d e f"], np.array([0, 1]), not_an_option=1)


def test_training_module_does_not_import_auditor():
    tree = ast.parse((REPO / "detectors" / "training.py").read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] == "auditor"]


def test_source_thresholds_use_own_pre_cutoff_documents():
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.normal(0, 1, 1000), rng.normal(3, 1, 100), rng.normal(0, 1, 50)])
    src = np.array(["web"] * 1100 + ["tiny"] * 50, dtype=object)
    pre = np.array([True] * 1000 + [False] * 100 + [True] * 50)
    out = source_thresholds(s, src, pre, shipped_threshold=9.0)
    assert out["web"].origin is ThresholdOrigin.OWN
    assert out["web"].origin.label == "own pre-cutoff documents"
    assert out["tiny"].origin is ThresholdOrigin.SHIPPED
    assert out["web"].threshold == threshold_for_fpr(s[:1000])
    assert np.mean(s[:1000] > out["web"].threshold) <= 0.01
    assert out["tiny"].threshold == 9.0 and out["tiny"].n_pre_cutoff == 50


def test_leave_one_repo_out_on_real_rows(shared_data):
    from detectors.generalization import (
        Recipe,
        featurize_all,
        leave_one_repo_out,
        load_pool,
        pooled,
        sample_per_repo,
    )
    from detectors.ngram_features import HashingParams

    pool = load_pool([shared_data / "labeled" / "extra.parquet"])
    pool = pool.take(sample_per_repo(pool, 300, seed=1))
    recipe = Recipe("small", params=HashingParams(bits=16), epochs=5)
    folds = leave_one_repo_out(pool, featurize_all(pool, [], recipe.params), recipe)
    assert [f.held_out for f in folds] == sorted(set(pool.repo))
    for f in folds:  # each fold scores exactly its repository's rows, none it trained on
        assert set(pool.repo[f.rows]) == {f.held_out}
        assert 0.5 < f.metrics["auroc"] <= 1.0
    m = pooled(folds, pool)
    assert m["n_human"] + m["n_ai"] == len(pool.texts)
