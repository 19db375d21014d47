"""The classifier's scoring engines compute the training features exactly, the markers' anchor
gate changes no result, and the default scan tier is what reports/detectors.md justifies."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from detectors.classifier import NgramClassifier
from detectors.markers import _COMPILED, _text_hits
from detectors.ngram_features import HashingParams, LinearScorer, featurize

numba = pytest.importorskip("numba")

ODD = ["", "word", "x" * 50_000, "lone \udcff surrogate \ud800 text", "   \n\t ",
       "日本語のテキスト、句読点。", "\x00\x01 control", "a b", "ab", "Ünïcödé wörds 123 abc-def",
       "one two one two one two one two"]


@pytest.fixture(scope="module")
def dev_texts(shared_data) -> list[str]:
    """300 seeded rows of the real dev set (all lengths and languages) plus odd inputs."""
    pf = pq.ParquetFile(shared_data / "labeled" / "dev.parquet", pre_buffer=False,
                        buffer_size=1 << 20)
    texts = pf.read_row_group(0, columns=["text"]).column("text").to_pylist()
    idx = np.random.default_rng(5).choice(len(texts), min(300, len(texts)), replace=False)
    return [texts[i] for i in idx] + ODD


@pytest.mark.parametrize("params", [
    HashingParams(),  # the shipped feature space
    HashingParams(bits=12, char_ngrams=(2, 4), word_bigrams=False, max_chars=500),
    HashingParams(bits=14, char_ngrams=(5, 1, 3), max_chars=3000),
])
def test_engines_match_training_features(dev_texts, params) -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=params.n_features).astype(np.float32)
    w[rng.random(params.n_features) < 0.7] = 0.0  # sparse, like a shipped model
    expected = featurize(dev_texts, params) @ w
    fast = LinearScorer(params, w, engine="numba").scores(dev_texts)
    slow = LinearScorer(params, w, engine="numpy").scores(dev_texts)
    np.testing.assert_allclose(fast, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(slow, expected, rtol=1e-5, atol=1e-4)
    assert np.count_nonzero(expected) > len(dev_texts) // 2  # the comparison is not vacuous


def test_shipped_classifier_scores_do_not_depend_on_engine_or_batch(dev_texts) -> None:
    det = NgramClassifier()
    scores = det.score(dev_texts)
    slow = LinearScorer(det.params, det._w, engine="numpy").scores(dev_texts) + det.intercept_
    np.testing.assert_allclose(scores, slow, rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.concatenate([det.score(dev_texts[:1]),
                                               det.score(dev_texts[1:])]), scores,
                               rtol=0, atol=1e-12)


def test_scorer_rejects_bad_arguments() -> None:
    params = HashingParams(bits=10)
    with pytest.raises(ValueError, match="engine must be"):
        LinearScorer(params, np.zeros(params.n_features), engine="gpu")
    with pytest.raises(ValueError, match="do not match the hashing parameters"):
        LinearScorer(params, np.zeros(10))


def _text_hits_reference(text: str) -> dict[str, float]:
    """Every marker's regex on every text: what the anchor gate must not change."""
    return {m.name: m.weight for m, rx in _COMPILED if rx.search(text)}


def test_marker_anchor_gate_changes_nothing(dev_texts) -> None:
    probes = dev_texts + [
        "Certainly! Here is the essay you asked for.", "As an AI language model, I cannot.",
        "<|im_start|>assistant\nhi<|im_end|>", "[INST] do it [/INST]", "I hope this helps!",
        "### Instruction:\nwrite", "ChatGPT said:\nhello", "Regenerate response",
        "I'm sorry, but I can't assist with that.", "as of my last knowledge update in 2023"]
    fired = 0
    for text in probes:
        got = _text_hits(text)
        assert got == _text_hits_reference(text), text[:80]
        fired += bool(got)
    assert fired >= 10


def test_default_scan_tier_leaves_out_compression_but_runs_it_when_named() -> None:
    from auditor.scan.runner import resolve_detectors

    versions, _ = resolve_detectors(None)
    # without a store, no detector whose state lives in one (contamination, adapted)
    assert set(versions) == {"markers", "classifier", "excess_vocab"}
    named, _ = resolve_detectors("markers,compression")
    assert set(named) == {"markers", "compression"}


def test_classifier_falls_back_to_numpy_without_numba(dev_texts, monkeypatch) -> None:
    import detectors.ngram_features as nf

    fast = NgramClassifier().score(dev_texts[:40])
    # what `auditor.jit.compiled` gives where numba is not installed (set on this module only:
    # the compiled kernels other modules hold stay as they are)
    monkeypatch.setattr(nf, "_numba_kernel", lambda: None)
    det = NgramClassifier()
    assert det._scorer.engine == "numpy" and nf.engine_name() == "numpy"
    np.testing.assert_allclose(det.score(dev_texts[:40]), fast, rtol=0, atol=1e-4)
    with pytest.raises(ImportError, match="needs numba"):
        LinearScorer(det.params, det._w, engine="numba")


def _twice(x):  # a kernel for the compile rule's test
    return 2 * x


def test_the_compile_rule_gives_a_kernel_with_numba_and_none_without(monkeypatch) -> None:
    import sys

    from auditor.jit import compiled

    kernel = compiled(_twice)
    assert kernel is compiled(_twice) and kernel(21) == 42  # compiled once per process
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises, as without it
    assert compiled.__wrapped__(_twice) is None  # the rule itself, past the process's memo
