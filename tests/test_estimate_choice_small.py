"""Why `auto` uses the mixture MLE from the store's minimum reference (50 documents): on
simulated scores with 50 human references, mlm's floor (mean estimate on pure human targets) is
below acc's and its interval still covers. Decided here, not on the validation corpora."""

import numpy as np

from auditor.estimate import methods as M
from auditor.estimate.bootstrap import Hist, estimate_with_interval
from auditor.estimate.choice import AUTO_MIN_REF, auto_method
from auditor.estimate.references import MIN_HUMAN_REF


def _draws(method: str, frac: float, reps: int = 12) -> np.ndarray:
    out = []
    for r in range(reps):
        rng = np.random.default_rng(r)
        human_ref = rng.beta(2, 6, MIN_HUMAN_REF)
        machine_ref = rng.beta(6, 2, 2000)
        k = int(round(frac * 200))
        target = np.concatenate([rng.beta(6, 2, k), rng.beta(2, 6, 200 - k)])
        edges = M.reference_edges(human_ref, machine_ref)
        h, m, t = (Hist.of(M.histogram(x, edges)) for x in (human_ref, machine_ref, target))
        iv = estimate_with_interval(method, h, m, t, n_boot=40, seed=r)
        out.append((k / 200, iv.fraction, iv.ci_low, iv.ci_high))
    return np.array(out)


def test_auto_uses_the_mixture_mle_from_the_store_minimum():
    assert AUTO_MIN_REF == MIN_HUMAN_REF
    assert auto_method(MIN_HUMAN_REF, 1000, False)[0] == "mlms"
    assert auto_method(MIN_HUMAN_REF - 1, 1000, False)[0] == "acc"
    assert auto_method(500, 1000, True)[0] == "acc"  # a stated fallback keeps acc


def test_mlm_floor_below_acc_with_50_references_and_intervals_cover():
    mlm0, acc0 = _draws("mlm", 0.0), _draws("acc", 0.0)
    assert mlm0[:, 1].mean() < acc0[:, 1].mean()
    mlm10 = _draws("mlm", 0.10)
    both = np.vstack([mlm0, mlm10])
    covered = (both[:, 2] <= both[:, 0] + 1e-12) & (both[:, 0] <= both[:, 3] + 1e-12)
    assert covered.mean() >= 0.85
    assert np.abs(mlm10[:, 1] - mlm10[:, 0]).mean() < 0.04
