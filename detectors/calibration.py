"""Map raw detector scores to probabilities, and choose thresholds for a stated false-positive rate.

A raw score (a log-odds, a compression delta, a z-score) means nothing across detectors, and a
threshold fixed by hand does not transfer between domains. So both are *fitted*: the
probability map on the `calib` split of the labeled set (never on training rows, whose scores
are optimistic), the threshold as the quantile of human scores that gives the requested
false-positive rate. Both are stored as plain JSON (`calibration.json`) beside the model.

Convention everywhere: a text is flagged as machine-written when `score > threshold`.
"""

from __future__ import annotations

import enum
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
    return float(h[h.size - 1 - fpr_rank(h.size, fpr)])


def fpr_rank(n_human: int, fpr: float = DEFAULT_FPR) -> int:
    """How many of `n_human` human scores may lie above the threshold for `fpr`: the threshold
    is the (rank + 1)-th largest human score. One home for the rule, so a threshold found in SQL
    (`ORDER BY score DESC OFFSET rank`) equals `threshold_for_fpr` on the same scores."""
    return int(math.floor(fpr * n_human + 1e-9))


def shipped_threshold(calib_human_scores: np.ndarray, web_human_scores: np.ndarray | None,
                      fpr: float = DEFAULT_FPR) -> tuple[float, dict[str, float]]:
    """The threshold a shipped model flags at: the higher of the `fpr` thresholds on the `calib`
    split's human rows and on held-back human web text (pieces of pre-2022 crawl pages the model
    never fitted), and each of the two (`{"calib": t1, "web": t2}`).

    Why the higher: labeled data sets are curated prose, web pages are not (menus, lists,
    boilerplate); a threshold set on curated text alone flags more web pages than it promises.
    """
    parts = {"calib": threshold_for_fpr(calib_human_scores, fpr)}
    if web_human_scores is not None and np.size(web_human_scores):
        parts["web"] = threshold_for_fpr(web_human_scores, fpr)
    return max(parts.values()), parts


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


#: Fewest pre-cutoff documents of a source for a threshold of its own: with n human scores the
#: 1%-FPR quantile rests on n/100 documents, so fewer than 200 leaves it on one or two.
MIN_SOURCE_HUMAN = 200


class ThresholdOrigin(str, enum.Enum):
    """Where a source's threshold comes from: decide on the value, print `label`."""

    OWN = "own"  # the 1%-FPR quantile of the source's own pre-cutoff documents
    SHIPPED = "shipped"  # too few pre-cutoff documents: the detector's shipped threshold
    NONE = "none"  # too few pre-cutoff documents and the detector ships no threshold

    @property
    def label(self) -> str:
        return {ThresholdOrigin.OWN: "own pre-cutoff documents",
                ThresholdOrigin.SHIPPED: "shipped (too few pre-cutoff documents)",
                ThresholdOrigin.NONE: "none (too few pre-cutoff documents, none shipped)",
                }[self]


@dataclass(frozen=True)
class SourceThreshold:
    """The threshold one source is flagged with, and where it came from."""

    source: str
    threshold: float
    fpr: float
    n_pre_cutoff: int
    origin: ThresholdOrigin


def source_thresholds(scores: np.ndarray, sources: np.ndarray, pre_cutoff: np.ndarray,
                      shipped_threshold: float, fpr: float = DEFAULT_FPR,
                      min_human: int = MIN_SOURCE_HUMAN) -> dict[str, SourceThreshold]:
    """Per source, the threshold for `fpr` set on the source's own pre-cutoff documents
    (taken as human: written before machine text was common), or the shipped threshold where
    a source has fewer than `min_human` of them.

    Why: a single threshold's false-positive rate ranges from 0 to over 60% across human genres
    (issue 15); the source's own old documents are the human text most like its new ones.
    Inputs are aligned arrays over documents; NaN scores (unscored) are ignored.
    """
    s = np.asarray(scores, dtype=np.float64)
    src = np.asarray(sources, dtype=object)
    pre = np.asarray(pre_cutoff, dtype=bool)
    if not (s.shape == src.shape == pre.shape):
        raise ValueError("source_thresholds: scores, sources and pre_cutoff must align")
    ok = np.isfinite(s)
    out: dict[str, SourceThreshold] = {}
    for name in sorted({str(x) for x in src}):
        human = s[ok & pre & (src == name)]
        if human.size >= min_human:
            out[name] = SourceThreshold(name, threshold_for_fpr(human, fpr), fpr, int(human.size),
                                        ThresholdOrigin.OWN)
        else:
            out[name] = SourceThreshold(name, float(shipped_threshold), fpr, int(human.size),
                                        ThresholdOrigin.SHIPPED)
    return out


def source_probabilities(scores: np.ndarray, human_scores: np.ndarray,
                         machine_scores: np.ndarray) -> np.ndarray:
    """Calibrated P(machine) for each score against one source's own human references (its
    pre-cutoff documents) and machine references, with equal priors: the ratio of the two
    empirical score densities (smoothed CDF slopes over the pooled reference quantiles).
    Scores are monotone in the result where the references overlap; NaN stays NaN."""
    s = np.asarray(scores, dtype=np.float64)
    h = np.sort(np.asarray(human_scores, dtype=np.float64)[np.isfinite(human_scores)])
    m = np.sort(np.asarray(machine_scores, dtype=np.float64)[np.isfinite(machine_scores)])
    if h.size == 0 or m.size == 0:
        raise ValueError("source_probabilities: need human and machine reference scores")
    both = np.concatenate([h, m])
    edges = np.unique(np.quantile(both, np.linspace(0, 1, 21)))
    if edges.size < 2:
        return np.where(np.isfinite(s), 0.5, np.nan)
    dh = np.histogram(h, edges)[0] / h.size + 0.5 / h.size
    dm = np.histogram(m, edges)[0] / m.size + 0.5 / m.size
    ratio = np.maximum.accumulate(dm / (dh + dm))  # monotone: a higher score is never less likely
    bins = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, ratio.size - 1)
    return np.where(np.isfinite(s), ratio[bins], np.nan)
