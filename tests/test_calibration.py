"""Calibration: monotone probability maps, thresholds that give the stated FPR, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.calibration import (
    Calibration,
    fit_calibration,
    load_calibration,
    save_calibration,
    threshold_for_fpr,
)


def _scores(seed: int = 0, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    s = rng.normal(loc=y * 1.5, scale=1.0)
    return s, y


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=400),
       st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.2]))
def test_threshold_gives_at_most_stated_fpr(values: list[float], fpr: float) -> None:
    h = np.asarray(values)
    t = threshold_for_fpr(h, fpr)
    assert np.mean(h > t) <= fpr + 1e-12
    assert t in h  # an observed score, never a hand-picked number


def test_threshold_is_tight_without_ties() -> None:
    h = np.random.default_rng(1).normal(size=10_000)
    t = threshold_for_fpr(h, 0.01)
    assert np.mean(h > t) == pytest.approx(0.01, abs=1e-4)


def test_threshold_errors() -> None:
    with pytest.raises(ValueError, match="no finite human scores"):
        threshold_for_fpr(np.array([np.nan]), 0.01)
    with pytest.raises(ValueError, match="fpr must be in"):
        threshold_for_fpr(np.array([1.0]), 1.5)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_is_monotone_and_informative(method: str) -> None:
    s, y = _scores()
    cal = fit_calibration(s, y, method, fpr=0.01)
    grid = np.linspace(-5, 6, 500)
    p = cal.probability(grid)
    assert np.all(np.diff(p) >= -1e-12)
    assert p[0] < 0.2 and p[-1] > 0.8
    assert np.all((p >= 0) & (p <= 1))
    # the threshold gives the stated FPR on the data it was fitted on
    assert np.mean(s[y == 0] > cal.threshold) <= 0.01
    # calibrated: mean predicted probability close to the observed rate
    assert abs(cal.probability(s).mean() - y.mean()) < 0.03


def test_save_and_load_round_trip(tmp_path) -> None:
    s, y = _scores(2)
    cal = fit_calibration(s, y, "isotonic", fpr=0.05, fitted_on="synthetic normal scores")
    path = save_calibration(cal, tmp_path)
    assert json.loads(path.read_text())["method"] == "isotonic"
    back = load_calibration(tmp_path)
    assert back == cal
    np.testing.assert_array_equal(back.probability(s), cal.probability(s))
    assert load_calibration(tmp_path / "missing") is None


def test_bad_input_is_reported(tmp_path) -> None:
    with pytest.raises(ValueError, match="both human and ai"):
        fit_calibration(np.array([0.1, 0.2]), np.array([1, 1]))
    (tmp_path / "calibration.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable calibration"):
        load_calibration(tmp_path)
    with pytest.raises(ValueError, match="method must be one of"):
        Calibration.from_dict({"method": "magic", "threshold": 0, "threshold_fpr": 0.01})
