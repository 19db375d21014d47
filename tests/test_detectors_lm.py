"""LM zero-shot detectors on tiny randomly initialised Llama models built and saved here.

The models go through the real loader (`detectors.lm_loading`), so these tests cover loading,
tokenisation, batching, padding and every statistic without any download.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import detectors  # noqa: E402
from detectors.lm_loading import load_causal_lm, model_folder  # noqa: E402
from detectors.lm_tokens import clean_text, encode_texts, length_sorted_batches  # noqa: E402
from detectors.lm_zero_shot import Binoculars, FastDetectGPT, LogLikelihoodDetector  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_lm import build_tiny_lm, sentence  # noqa: E402

ODD = ["", "the", "x" * 1_000_000, "broken \udcff surrogate the model", None,
       "\x00\x01 control chars the", "日本語のテキスト"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny_a"), seed=0)


@pytest.fixture(scope="module")
def tiny_b(tmp_path_factory) -> Path:
    """Same tokenizer as `tiny`, other weights."""
    return build_tiny_lm(tmp_path_factory.mktemp("tiny_b"), seed=1)


@pytest.fixture(scope="module")
def tiny_other_vocab(tmp_path_factory) -> Path:
    """Same words, different token ids: Binoculars must refuse it next to `tiny`."""
    return build_tiny_lm(tmp_path_factory.mktemp("tiny_c"), seed=2, shift=5)


@pytest.fixture(scope="module")
def fdg(tiny):
    d = detectors.load("fast_detectgpt", model=str(tiny), dtype="float32", batch_size=3)
    yield d
    d.close()


def test_importing_detectors_stays_light():
    code = ("import sys, detectors, auditor; "
            "bad = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.parametrize("name", ["lm", "fast_detectgpt", "binoculars"])
def test_every_lm_detector_gives_finite_scores_on_odd_text(tiny, name):
    det = detectors.load(name, model=str(tiny), dtype="float32", max_tokens=64, batch_size=4)
    try:
        texts = ODD + [sentence(30), sentence(5, offset=3)]
        scores = det.score(texts)
        assert scores.shape == (len(texts),) and scores.dtype == np.float64
        assert np.isfinite(scores).all()
        reasons = det.reasons(texts)
        assert reasons[0].startswith("too short") and reasons[1].startswith("too short")
        assert "tokens=" in reasons[-1]
        assert det.score([]).shape == (0,)
        # The empty text and the one-token text both get the documented fallback.
        assert scores[0] == scores[1] == det._score_from(
            {k: np.array([v]) for k, v in det._fallback().items()})[0]
    finally:
        det.close()


def test_long_text_is_truncated_to_the_token_budget(fdg):
    stats = fdg.statistics([sentence(2000), "x" * 1_000_000])
    assert stats["n_tokens"][0] == fdg.max_tokens == 256
    assert 1 <= stats["n_tokens"][1] <= 256


def test_padding_and_batching_do_not_change_scores(tiny):
    texts = [sentence(n, offset=n) for n in (3, 40, 7, 120, 15, 2, 60)]
    one_by_one = FastDetectGPT(model=tiny, dtype="float32", batch_size=1)
    batched = FastDetectGPT(model=tiny, dtype="float32", batch_size=16)
    try:
        a = one_by_one.score(texts)
        b = batched.score(texts)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        # Order of the input is kept even though batches are sorted by length.
        np.testing.assert_allclose(batched.score(texts[::-1]), b[::-1], rtol=1e-4, atol=1e-4)
    finally:
        one_by_one.close()
        batched.close()


def test_fast_detectgpt_matches_the_paper_formula(tiny, fdg):
    """Recompute the analytic discrepancy independently from raw logits (float64 numpy)."""
    text = sentence(25, offset=4)
    lm = load_causal_lm(tiny, dtype="float32")
    ids = lm.tokenizer(text)["input_ids"]
    with torch.inference_mode():
        logits = lm.model(torch.tensor([ids])).logits[0, :-1].double().numpy()
    lp = logits - logits.max(-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    p = np.exp(lp)
    target = np.array(ids[1:])
    ll = lp[np.arange(len(target)), target]
    mu = (p * lp).sum(-1)
    var = (p * lp**2).sum(-1) - mu**2
    expected = (ll.sum() - mu.sum()) / math.sqrt(var.sum())
    stats = fdg.statistics([text])
    assert fdg.score([text])[0] == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert stats["loglik"][0] == pytest.approx(ll.mean(), rel=1e-4)
    assert stats["entropy"][0] == pytest.approx(-mu.mean(), rel=1e-4)


def test_log_rank_and_statistic_choice(tiny):
    texts = [sentence(20, offset=1), sentence(50, offset=2)]
    by_rank = LogLikelihoodDetector(model=tiny, dtype="float32")
    by_ll = LogLikelihoodDetector(model=tiny, dtype="float32", statistic="loglik")
    try:
        stats = by_rank.statistics(texts)
        assert set(stats) >= {"loglik", "logrank", "entropy", "fast_detectgpt", "n_tokens"}
        np.testing.assert_allclose(by_rank.score(texts), -stats["logrank"])
        np.testing.assert_allclose(by_ll.score(texts), stats["loglik"])
        assert (stats["logrank"] >= 0).all()  # ranks start at 1
        with pytest.raises(ValueError, match="statistic must be one of"):
            LogLikelihoodDetector(model=tiny, statistic="perplexity")
    finally:
        by_rank.close()
        by_ll.close()


def test_greedy_text_scores_higher_than_random_tokens(tiny, fdg):
    """The model's own greedy continuation is machine text for that model."""
    lm = load_causal_lm(tiny, dtype="float32")
    prompt = lm.tokenizer("the house", return_tensors="pt")
    with torch.inference_mode():
        out = lm.model.generate(**prompt, max_new_tokens=60, do_sample=False,
                                pad_token_id=lm.tokenizer.pad_token_id)
    greedy = lm.tokenizer.decode(out[0], skip_special_tokens=True)
    rng = np.random.default_rng(0)
    words = greedy.split()
    shuffled = " ".join(rng.permutation(words))
    s = fdg.score([greedy, shuffled, sentence(60)])
    assert s[0] > s[1] and s[0] > s[2]


def test_binoculars_same_model_loads_once_and_two_models_differ(tiny, tiny_b):
    one = Binoculars(observer=tiny, dtype="float32")
    two = Binoculars(observer=tiny, performer=tiny_b, dtype="float32")
    try:
        assert one.same_model and not two.same_model
        texts = [sentence(30), sentence(12, offset=9)]
        s1, s2 = one.score(texts), two.score(texts)
        assert np.isfinite(s1).all() and np.isfinite(s2).all()
        assert not np.allclose(s1, s2)
        st = one.statistics(texts)
        np.testing.assert_allclose(-s1, st["log_ppl"] / st["x_ppl"], rtol=1e-6)
    finally:
        one.close()
        two.close()


def test_binoculars_rejects_models_with_different_vocabularies(tiny, tiny_other_vocab):
    with pytest.raises(ValueError, match="do not share a tokenizer"):
        Binoculars(observer=tiny, performer=tiny_other_vocab, dtype="float32")
    with pytest.raises(ValueError, match="do not share a tokenizer"):
        FastDetectGPT(model=tiny, reference=tiny_other_vocab, dtype="float32")


def test_fast_detectgpt_with_a_separate_reference_model(tiny, tiny_b, fdg):
    det = FastDetectGPT(model=tiny, reference=tiny_b, dtype="float32")
    try:
        texts = [sentence(30), sentence(10, offset=2)]
        s = det.score(texts)
        assert np.isfinite(s).all() and not np.allclose(s, fdg.score(texts))
    finally:
        det.close()


def test_close_frees_the_model(tiny):
    det = LogLikelihoodDetector(model=tiny, dtype="float32")
    det.score([sentence(5)])
    det.close()
    with pytest.raises(RuntimeError, match="closed"):
        det.score([sentence(6)])


def test_bad_model_paths_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="hub ids are not downloaded"):
        model_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        model_folder(tmp_path / "empty")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match="expected a model folder or a .gguf file"):
        model_folder(tmp_path / "weights.bin")
    with pytest.raises(ValueError, match="max_tokens"):
        FastDetectGPT(model=tmp_path / "nope", max_tokens=1)


def test_token_helpers(tiny):
    assert clean_text(None) == ""
    assert clean_text("a\udcffb") == "a\ufffdb"
    assert length_sorted_batches([3, 9, 1, 9, 4], 2) == [[1, 3], [4, 0], [2]]
    tok = load_causal_lm(tiny, dtype="float32").tokenizer
    ids = encode_texts(tok, ["the model", "", None, "the " * 5000], max_tokens=8)
    assert [len(x) for x in ids] == [2, 0, 0, 8]


def test_missing_lm_extra_names_the_install_command():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from detectors.lm_zero_shot import FastDetectGPT\n"
            "try:\n    FastDetectGPT()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert "install the 'lm' extra" in out and "provenance-auditor[lm]" in out
