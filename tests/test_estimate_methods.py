"""The quantifiers and the bootstrap on simulated score distributions with known fractions.

Human scores ~ Beta(a, b), machine scores ~ Beta(b, a) with a < b: a detector whose two score
distributions overlap by an amount the test chooses. Every random draw is seeded.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.estimate import methods as M
from auditor.estimate.bootstrap import Hist, estimate_with_interval, interval_from, widen

CORRECTING = ("acc", "pacc", "em", "hdy", "mlm")


def draw(rng, p, a, b, n_h=1500, n_m=1500, n_t=2000):
    k = int(round(p * n_t))
    h, m = rng.beta(a, b, n_h), rng.beta(b, a, n_m)
    t = np.concatenate([rng.beta(b, a, k), rng.beta(a, b, n_t - k)])
    edges = M.reference_edges(h, m)
    return [Hist.of(M.histogram(x, edges)) for x in (h, m, t)], k / n_t


@settings(max_examples=12, deadline=None, derandomize=True)
@given(p=st.floats(0.0, 0.6), a=st.floats(1.5, 3.0), b=st.floats(5.0, 8.0),
       seed=st.integers(0, 10_000))
def test_correcting_methods_recover_the_fraction(p, a, b, seed):
    (h, m, t), truth = draw(np.random.default_rng(seed), p, a, b)
    for name in CORRECTING:
        est = M.make(name).fit(h.weight, m.weight).quantify(t.weight)
        assert 0.0 <= est <= 1.0
        assert abs(est - truth) < 0.05, (name, est, truth)


@pytest.mark.parametrize("name", CORRECTING)
def test_intervals_cover_at_about_the_stated_rate(name):
    """95% intervals over 30 seeded corpora at fractions 0-30%: at least 26 cover the truth."""
    covered = 0
    fractions = [0.0, 0.01, 0.05, 0.1, 0.3]
    for rep in range(30):
        rng = np.random.default_rng(1000 + rep)
        (h, m, t), truth = draw(rng, fractions[rep % 5], 2.0, 5.0, n_h=600, n_m=800, n_t=1000)
        iv = estimate_with_interval(name, h, m, t, n_boot=50, seed=rep)
        assert iv.ci_low <= iv.fraction <= iv.ci_high
        covered += iv.ci_low <= truth <= iv.ci_high
    assert covered >= 26, f"{name}: {covered}/30 intervals covered the truth"


def test_classify_and_count_reads_the_false_positive_rate_at_zero():
    (h, m, t), truth = draw(np.random.default_rng(4), 0.0, 2.0, 4.0)
    cc = M.CC().fit(h.weight, m.weight)
    assert truth == 0.0
    assert cc.quantify(t.weight) == pytest.approx(cc.fpr_, abs=0.02)
    assert cc.fpr_ > 0.05  # overlapping scores: the baseline is visibly biased
    assert M.ACC().fit(h.weight, m.weight).quantify(t.weight) < 0.02


def test_score_array_interface_and_functions():
    rng = np.random.default_rng(9)
    h, m = rng.beta(2, 6, 3000), rng.beta(6, 2, 3000)
    t = np.concatenate([rng.beta(6, 2, 600), rng.beta(2, 6, 2400)])
    q = M.MixtureMLE().fit_scores(h, m)
    assert q.quantify_scores(t) == pytest.approx(0.2, abs=0.03)
    edges = M.reference_edges(h, m, n_bins=20)
    hh, mm, tt = (M.histogram(x, edges) for x in (h, m, t))
    for fn in (M.acc, M.pacc, M.em, M.hdy, M.mixture_mle):
        assert fn(hh, mm, tt) == pytest.approx(0.2, abs=0.03), fn.__name__
    assert M.histogram([0.1, 0.5, 0.9], np.array([0.5])).tolist() == [1.0, 2.0]


def test_edges_targets_and_bad_input():
    q = M.ACC().fit([10, 5, 1], [1, 5, 10])
    assert math.isnan(q.quantify([0, 0, 0]))  # empty target: no estimate
    assert q.quantify([0, 0, 1]) == 1.0  # a single machine-looking document
    assert q.quantify([1, 0, 0]) == 0.0
    with pytest.raises(ValueError, match="bins"):
        q.quantify([1, 2])
    with pytest.raises(ValueError, match="at least one document"):
        M.MixtureMLE().fit([0, 0, 0], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        M.HDy().fit([1, -1, 0], [1, 2, 3])
    with pytest.raises(ValueError, match="unknown method"):
        M.make("magic")
    with pytest.raises(RuntimeError, match="before fit"):
        M.EM().quantify([1, 2])


def test_all_human_and_all_machine_targets_get_one_sided_bounds():
    rng = np.random.default_rng(11)
    (h, m, _), _ = draw(rng, 0.0, 2.0, 6.0, n_t=10)
    human_t = Hist.of(rng.multinomial(800, h.docs / h.docs.sum()))
    machine_t = Hist.of(rng.multinomial(800, m.docs / m.docs.sum()))
    iv = estimate_with_interval("mlm", h, m, human_t, n_boot=80, seed=1)
    assert iv.fraction < 0.02 and iv.ci_low == 0.0 and iv.ci_high < 0.05
    iv = estimate_with_interval("mlm", h, m, machine_t, n_boot=80, seed=1)
    assert iv.fraction > 0.98 and iv.ci_high == 1.0


def test_interval_rules_and_widening():
    reps = np.random.default_rng(0).normal(0.1, 0.02, 500)
    iv = interval_from(0.1, reps)
    assert iv.ci_low < 0.1 < iv.ci_high and not iv.one_sided
    assert iv.ci_high - iv.ci_low == pytest.approx(4 * 0.02, rel=0.25)
    at0 = interval_from(-0.01, np.random.default_rng(1).normal(0.0, 0.02, 500))
    assert at0.fraction == 0.0 and at0.ci_low == 0.0 and at0.one_sided
    assert at0.ci_high == pytest.approx(1.645 * 0.02, rel=0.3)
    wide = widen(iv, 2.0, 0.05)
    assert wide.ci_low == pytest.approx(max(0, 0.1 - 2 * (0.1 - iv.ci_low) - 0.05))
    assert wide.ci_high > iv.ci_high + 0.05


def test_bootstrap_resamples_documents_and_keeps_token_means():
    h = Hist.of([10, 0, 30], [100, 0, 900])
    r = h.resample(np.random.default_rng(0))
    assert r.n == 40 and r.docs[1] == 0
    assert np.allclose(r.weight, r.docs * np.array([10, 0, 30]))
