"""Compression and n-gram classifier: separate real human and AI text, survive bad input,
train/save/reload without pickle, and ship references estimation can load."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from detectors.classifier import NgramClassifier
from detectors.compression import CompressionDetector
from detectors.markers import MarkersDetector
from detectors.references import REFERENCE_SPLITS, build_reference, load_reference
from detectors.training import load_labeled, train_detector


@pytest.fixture(scope="module")
def dev(shared_data) -> pa.Table:
    return pq.read_table(shared_data / "labeled" / "dev.parquet")


@pytest.fixture(scope="module")
def labeled_sample(dev, tmp_path_factory):
    """A small real labeled Parquet: 900 seeded rows of the dev set, all columns."""
    idx = np.sort(np.random.default_rng(7).choice(dev.num_rows, 900, replace=False))
    path = tmp_path_factory.mktemp("labeled") / "sample.parquet"
    pq.write_table(dev.take(pa.array(idx)), path)
    return path


@pytest.fixture(scope="module")
def heldout_texts(dev) -> tuple[list[str], np.ndarray]:
    """400 seeded English rows the shipped models never trained on (random test split)."""
    data = dev.filter(pc.equal(dev["language"], "en"))
    from detectors.splits import add_split_column

    data = add_split_column(data)
    data = data.filter(pc.equal(data["split"], "test"))
    idx = np.random.default_rng(11).choice(data.num_rows, 400, replace=False)
    rows = data.take(pa.array(idx))
    y = np.asarray([lab == "ai" for lab in rows["label"].to_pylist()], dtype=int)
    return rows["text"].to_pylist(), y


BAD_INPUTS = ["", "word", "x" * 1_000_000, "lone \udcff surrogate \ud800 text", "   \n\t ",
              "日本語のテキスト", "\x00\x01 control"]


@pytest.mark.parametrize("make", [CompressionDetector, NgramClassifier, MarkersDetector])
def test_bad_input_gets_a_defined_score(make) -> None:
    scores = make().score(BAD_INPUTS)
    assert scores.shape == (len(BAD_INPUTS),)
    assert np.all(np.isfinite(scores))
    assert make().score([]).shape == (0,)


def test_compression_separates_human_and_ai(heldout_texts) -> None:
    texts, y = heldout_texts
    auroc = roc_auc_score(y, CompressionDetector().score(texts))
    assert auroc > 0.6


def test_shipped_classifier_separates_and_is_calibrated(heldout_texts) -> None:
    texts, y = heldout_texts
    det = NgramClassifier()
    scores = det.score(texts)
    assert roc_auc_score(y, scores) > 0.9
    p = det.probability(scores)
    assert p is not None and np.all((p >= 0) & (p <= 1))
    assert det.threshold is not None and det.threshold_fpr == 0.01
    # batching does not change scores
    np.testing.assert_allclose(np.concatenate([det.score(texts[:7]), det.score(texts[7:])]),
                               scores, rtol=0, atol=1e-9)


def test_fit_save_reload_identical_and_no_pickle(labeled_sample, tmp_path) -> None:
    data = load_labeled(labeled_sample)
    train = data.rows("train")
    texts = [data.texts[i] for i in train]
    model = NgramClassifier.fit(texts, data.y[train], bits=16, keep_top=5000, seed=3)
    model.save(tmp_path)
    back = NgramClassifier(model_dir=tmp_path)
    probe = [data.texts[i] for i in data.rows("test", "calib")] + BAD_INPUTS
    np.testing.assert_array_equal(model.score(probe), back.score(probe))
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["coef_index.npy", "coef_value.npy", "model.json"]
    for npy in tmp_path.glob("*.npy"):
        np.load(npy, allow_pickle=False)  # raises if an object array slipped in
    assert json.loads((tmp_path / "model.json").read_text())["hashing"]["bits"] == 16


def test_train_detector_writes_model_calibration_and_metrics(labeled_sample, tmp_path) -> None:
    info = train_detector("classifier", labeled_sample, tmp_path, bits=16, keep_top=5000)
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"coef_index.npy", "coef_value.npy", "model.json", "calibration.json",
                     "training.json"}
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in tmp_path.iterdir())
    assert info["n_train"]["human"] > 50 and info["n_train"]["ai"] > 50
    assert len(info["labeled_data"]["sha256"]) == 64
    assert info["held_out"]["test"]["auroc"] > 0.7
    det = NgramClassifier(model_dir=tmp_path)
    assert det.threshold == info["calibration"]["threshold"]


def test_labeled_file_errors_name_file_and_row(tmp_path) -> None:
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "label": ["human", "robot"]}), bad)
    with pytest.raises(ValueError, match=r"bad\.parquet: row 1: label 'robot'"):
        load_labeled(bad)
    nolabel = tmp_path / "nolabel.parquet"
    pq.write_table(pa.table({"text": ["a"]}), nolabel)
    with pytest.raises(ValueError, match="missing column"):
        load_labeled(nolabel)
    with pytest.raises(ValueError, match="not trainable"):
        train_detector("markers", bad, tmp_path / "out")


def test_load_shipped_references() -> None:
    for name in ("markers", "compression", "classifier"):
        ref = load_reference(name)
        assert {"score", "label", "generator", "domain", "source_repo", "split"} <= \
            set(ref.column_names)
        # The classifier trains on every split but calib and test (scripts/train_classifier.py),
        # so only those two can serve as its reference.
        splits = {"calib", "test"} if name == "classifier" else set(REFERENCE_SPLITS)
        assert set(ref["split"].to_pylist()) == splits
        assert set(ref["label"].to_pylist()) == {"human", "ai"}
    ref = load_reference("classifier").to_pandas()
    calib_human = ref[(ref.split == "calib") & (ref.label == "human")]
    # the reference was scored by the shipped model: its threshold holds 1% FPR on them
    assert (calib_human.score > NgramClassifier().threshold).mean() <= 0.01
    assert {"ranhli/l2r_data", "MarkGHX/BiScope", "junchaoIU/DetectRL"} <= set(ref.source_repo)
    with pytest.raises(FileNotFoundError, match="no reference scores"):
        load_reference("nonexistent")


def test_build_reference_matches_detector(labeled_sample, tmp_path) -> None:
    out = tmp_path / "markers.parquet"
    table = build_reference("markers", labeled_sample, out, splits=("calib", "test"))
    assert pq.read_table(out).num_rows == table.num_rows > 0
    assert set(table["split"].to_pylist()) <= {"calib", "test"}
