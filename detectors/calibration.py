"""Map raw detector scores to probabilities, and choose thresholds for a stated false-positive rate.

A raw score (a log-odds, a compression delta, a z-score) means nothing across detectors, and a
threshold fixed by hand does not transfer between domains. So both are *fitted*: the
probability map on the `calib` split of the labeled set (never on training rows, whose scores
are optimistic), the threshold as the quantile of human scores that gives the requested
false-positive rate. Both are stored as plain JSON (`calibration.json`) beside the model.

Convention everywhere: a text is flagged as machine-written when `score > threshold`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION_FILE = "calibration.json"
DEFAULT_FPR = 0.01
METHODS = ("isotonic", "platt")


def threshold_for_fpr(human_scores: np.ndarray, fpr: float = DEFAULT_FPR) -> float:
    """The smallest observed human score `t` with at most `fpr` of human scores above it.

    Flag rule `score > t`. With n human scores at most floor(fpr * n) exceed `t`, so the
    empirical false-positive rate on these scores is <= `fpr` (ties can make it lower).
    """
    h = np.asarray(human_scores, dtype=np.float64)
    h = h[np.isfinite(h)]
    if h.size == 0:
        raise ValueError("threshold_for_fpr: no finite human scores to set a threshold on")
    if not 0.0 <= fpr < 1.0:
        raise ValueError(f"threshold_for_fpr: fpr must be in [0, 1), got {fpr}")
    h = np.sort(h)
    k = int(math.floor(fpr * h.size + 1e-9))  # how many human scores may lie above
    return float(h[h.size - 1 - k])


@dataclass
class Calibration:
    """A fitted score -> probability map plus the threshold chosen for `threshold_fpr`.

    isotonic: piecewise-linear through (`x`, `y`), clipped at the ends (monotone by
    construction). platt: `1 / (1 + exp(-(a * score + b)))`. Probabilities reflect the class
    balance of the data they were fitted on (`n_human`, `n_ai`); estimation of a corpus-level
    fraction should use the raw scores with the references, not these probabilities.
    """

    method: str
    threshold: float
    threshold_fpr: float
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    a: float = 0.0
    b: float = 0.0
    n_human: int = 0
    n_ai: int = 0
    fitted_on: str = ""

    def probability(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probability of machine authorship for each raw score (NaN stays NaN)."""
        s = np.asarray(scores, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(s, np.asarray(self.x), np.asarray(self.y))
        z = np.clip(self.a * s + self.b, -500, 500)
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "calibration") -> Calibration:
        if d.get("method") not in METHODS:
            raise ValueError(f"{where}: method must be one of {METHODS}, got {d.get('method')!r}")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def fit_calibration(scores: np.ndarray, labels: np.ndarray, method: str = "isotonic",
                    fpr: float = DEFAULT_FPR, fitted_on: str = "") -> Calibration:
    """Fit the probability map and the FPR threshold on held-out scores (labels: 1 = ai)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    ok = np.isfinite(s)
    s, y = s[ok], y[ok]
    n_ai, n_human = int(y.sum()), int((1 - y).sum())
    if n_ai == 0 or n_human == 0:
        raise ValueError(
            f"fit_calibration: need both human and ai rows, got {n_human} human and {n_ai} ai "
            "(check the labeled data's `label` column and the calib split)"
        )
    threshold = threshold_for_fpr(s[y == 0], fpr)
    common = dict(threshold=threshold, threshold_fpr=fpr, n_human=n_human, n_ai=n_ai,
                  fitted_on=fitted_on)
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
        return Calibration("isotonic", x=[float(v) for v in iso.X_thresholds_],
                           y=[float(v) for v in iso.y_thresholds_], **common)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(s.reshape(-1, 1), y)
        return Calibration("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]), **common)
    raise ValueError(f"fit_calibration: method must be one of {METHODS}, got {method!r}")


def save_calibration(calibration: Calibration, model_dir: str | Path) -> Path:
    """Write `calibration.json` into the model folder."""
    path = Path(model_dir) / CALIBRATION_FILE
    path.write_text(json.dumps(calibration.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def load_calibration(model_dir: str | Path) -> Calibration | None:
    """Read `calibration.json` from a model folder; None when the model is not calibrated."""
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable calibration ({e}); retrain or delete it") from e
    return Calibration.from_dict(d, where=str(path))
