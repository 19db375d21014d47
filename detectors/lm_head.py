"""A small trained head over LM token statistics, and the same head for other inputs.

Why a head: each zero-shot LM statistic is one fixed direction in feature space, and which one
separates human from machine text changes from source to source. A standardised logistic
regression over all statistics of one forward pass (`detectors.lm_features`) is cheap to fit,
has a handful of weights (no overfitting to a repository's vocabulary, unlike n-grams) and is
evaluated leaving one repository out (reports/lm_tier.md).

`LinearHead` is the model: feature names, standardisation (mean, scale), coefficients and
intercept, saved as `model.json` + `.npy` arrays (never pickle). The corpus-adapted detector
(`detectors.adapted`) saves the same object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.base import Detector
from detectors.classifier import NgramClassifier
from detectors.lm_features import LM_FEATURES, LMFeatureExtractor
from detectors.model_files import read_model, write_model

HEAD_FORMAT = "linear-head-v1"
DEFAULT_DIR = Path(__file__).parent / "models" / "lm_head"
_ARRAYS = ("mean", "scale", "coef")
#: Feature name of the shipped cheap classifier's score in a stacked head.
CHEAP_FEATURE = "classifier"


@dataclass(frozen=True)
class LinearHead:
    """score = ((x - mean) / scale) . coef + intercept; higher = more machine-like."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    meta: dict | None = None

    def score(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"expected a [n, {len(self.features)}] feature matrix "
                             f"({', '.join(self.features)}), got shape {x.shape}")
        z = np.nan_to_num((x - self.mean) / self.scale, nan=0.0, posinf=0.0, neginf=0.0)
        return z @ self.coef + self.intercept

    def save(self, model_dir: str | Path, extra_meta: dict | None = None) -> Path:
        meta = {"format": HEAD_FORMAT, "features": list(self.features),
                "intercept": float(self.intercept), **(self.meta or {}), **(extra_meta or {})}
        return write_model(model_dir, meta, {"mean": self.mean, "scale": self.scale,
                                             "coef": self.coef})

    @classmethod
    def load(cls, model_dir: str | Path, detector_name: str = "lm_head",
             train_hint: str = "run scripts/eval_lm_tier.py --ship") -> LinearHead:
        meta, arrays = read_model(Path(model_dir), detector_name, HEAD_FORMAT, _ARRAYS,
                                  train_hint)
        feats = tuple(meta["features"])
        for name in _ARRAYS:
            if arrays[name].shape != (len(feats),):
                raise ValueError(f"{detector_name}: {model_dir}/{name}.npy has shape "
                                 f"{arrays[name].shape}, expected ({len(feats)},)")
        rest = {k: v for k, v in meta.items() if k not in ("format", "features", "intercept")}
        return cls(feats, arrays["mean"].astype(np.float64), arrays["scale"].astype(np.float64),
                   arrays["coef"].astype(np.float64), float(meta["intercept"]), rest)


def fit_head(x: np.ndarray, y: np.ndarray, features: Sequence[str],
             weights: np.ndarray | None = None, c: float = 1.0) -> LinearHead:
    """A class-balanced, L2-regularised logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(int)
    if x.shape[0] != y.size or set(np.unique(y)) != {0, 1}:
        raise ValueError("fit_head needs one label per row and both classes (0 human, 1 ai)")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit(z, y, sample_weight=weights)
    return LinearHead(tuple(features), mean, scale, model.coef_.ravel().astype(np.float64),
                      float(model.intercept_[0]))


class LMHeadDetector(Detector):
    """A `LinearHead` over `detectors.lm_features` of the offline SmolLM2 model (and, when the
    head was fitted as a stack, the shipped cheap classifier's score).

    Not registered, and no head is shipped: leaving one repository out, neither the LM-only
    head nor the stack beat what they combine (reports/lm_tier.md, selection rule there).
    `scripts/eval_lm_tier.py --ship` writes a head where the rule is met; from Python,
    `LMHeadDetector(model_dir=DIR)` scores with any saved head. Registering it is one
    `@detector(name="lm_head", tier="lm", ...)` line once a head earns it.

    The texts are cut to the head's training length (`max_tokens` in its model.json), so
    scores match the evaluated setting.
    """

    version = "1"

    def __init__(self, model_dir: str | Path | None = None, model: str | Path | None = None,
                 batch_size: int = 16, device: str | None = None,
                 dtype: str | None = "auto") -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_DIR
        self._lm_path, self.batch_size, self.device = model, batch_size, device
        self.dtype = dtype
        self._head: LinearHead | None = None
        self._extractor = None
        self._classifier: Detector | None = None

    @property
    def head(self) -> LinearHead:
        if self._head is None:
            self._head = LinearHead.load(self.model_dir)
            self.threshold = self._head.meta.get("threshold") if self._head.meta else None
            self.threshold_fpr = self._head.meta.get("threshold_fpr") if self._head.meta else None
        return self._head

    def _features(self, texts: Sequence[str]) -> np.ndarray:
        if self._extractor is None:
            max_tokens = int((self.head.meta or {}).get("max_tokens", 128))
            self._extractor = LMFeatureExtractor(self._lm_path, max_tokens=max_tokens,
                                                 batch_size=self.batch_size, device=self.device,
                                                 dtype=self.dtype)
        feats = self._extractor.features(texts)
        cols = []
        for f in self.head.features:
            if f == CHEAP_FEATURE:
                cols.append(self._cheap().score(texts))
            else:
                cols.append(feats[:, LM_FEATURES.index(f)])
        return np.column_stack(cols)

    def _cheap(self) -> Detector:
        """The shipped n-gram classifier, whose score a stacked head also reads."""
        if self._classifier is None:
            self._classifier = NgramClassifier()
        return self._classifier

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        return self.head.score(self._features(texts))

    def close(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None
