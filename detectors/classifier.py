"""Supervised cheap detector: hashed word and byte n-grams with a linear model.

A linear model over hashed n-grams is the strongest detector that still runs on every document
of a web-scale corpus on CPUs: scoring is one sparse dot product. The model is stored as plain
arrays (`coef_index.npy` int32, `coef_value.npy` float16: only the largest weights are kept,
which keeps the shipped model at a few MB) plus `model.json` (hashing parameters, version,
training details); no pickle, so a model folder from anywhere is safe to load. Training,
calibration and held-out metrics are done by `detectors.training` (see its contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Detector, detector
from detectors.calibration import Calibration, load_calibration
from detectors.model_files import read_model, write_model
from detectors.ngram_features import HashingParams, LinearScorer, featurize

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "classifier"
MODEL_FORMAT = "ngram-linear/1"


@detector(name='classifier', tier='cheap',
          needs='shipped model (detectors/models/classifier)',
          summary='hashed word and character n-grams with a calibrated linear classifier',
          languages=('en',))
class NgramClassifier(Detector):
    """Score = linear decision value (log-odds scale; higher = more likely machine-written).

    `NgramClassifier()` loads the shipped model; `NgramClassifier(model_dir=DIR)` loads one
    trained with `auditor detectors train ... --detector classifier -o DIR`.
    """

    def __init__(self, model_dir: str | Path | None = None) -> None:
        """No file I/O here: the model is read on first use (scoring, or reading `version`,
        `threshold`, `calibration`, `params`...), so building a detector is free."""
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self._loaded = False

    def _load(self) -> None:
        if self.__dict__.get("_loaded", True):
            return
        meta, arrays = read_model(
            self.model_dir, "classifier", MODEL_FORMAT, ("coef_index", "coef_value"),
            "train one with `auditor detectors train LABELED.parquet --detector classifier -o DIR`")
        try:
            params = HashingParams.from_dict(meta["hashing"])
            intercept = float(meta["intercept"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"classifier: cannot load model from {self.model_dir}: {e}") from e
        self._set_state(params, arrays["coef_index"], arrays["coef_value"], intercept, meta)
        self._set_calibration(load_calibration(self.model_dir))

    def _set_calibration(self, calibration: Calibration | None) -> None:
        self._calibration = calibration
        self._threshold = None if calibration is None else calibration.threshold
        self._threshold_fpr = None if calibration is None else calibration.threshold_fpr
        self._loaded = True

    def __getattr__(self, attr: str) -> Any:
        """Model state (`params`, `meta`, `coef_index_`...) loads the model on first access."""
        if attr.startswith("__") or self.__dict__.get("_loaded", True):
            raise AttributeError(attr)
        self._load()
        return getattr(self, attr)

    @property
    def version(self) -> str:  # type: ignore[override]
        self._load()
        return self._version

    @property
    def calibration(self) -> Calibration | None:  # type: ignore[override]
        self._load()
        return self._calibration

    @property
    def threshold(self) -> float | None:  # type: ignore[override]
        self._load()
        return self._threshold

    @property
    def threshold_fpr(self) -> float | None:  # type: ignore[override]
        self._load()
        return self._threshold_fpr

    def _set_state(self, params: HashingParams, index: np.ndarray, value: np.ndarray,
                   intercept: float, meta: dict[str, Any]) -> None:
        index = np.asarray(index, dtype=np.int64)
        if index.ndim != 1 or index.shape != np.shape(value) or (
                index.size and (index.min() < 0 or index.max() >= params.n_features)):
            raise ValueError("coefficient arrays do not match the hashing parameters")
        self.params = params
        self.coef_index_ = index.astype(np.int32)
        self.coef_value_ = np.asarray(value).astype(np.float16)  # what is saved is what scores
        self.intercept_ = float(intercept)
        self._w = np.zeros(params.n_features, dtype=np.float32)
        self._w[index] = self.coef_value_.astype(np.float32)
        self._scorer = LinearScorer(params, self._w)
        self.meta = dict(meta)
        self._version = str(meta.get("version", "0"))

    @classmethod
    def fit(cls, texts: list[str], labels: np.ndarray, *, bits: int = 20,
            char_ngrams: Sequence[int] = (3, 4, 5), max_chars: int = 2000,
            normalise: bool = False, alpha: float = 2e-6, epochs: int = 15,
            keep_top: int = 300_000, seed: int = 0, version: str = "1",
            sample_weight: np.ndarray | None = None) -> NgramClassifier:
        """Train on texts with labels (1 = ai, 0 = human); unknown options raise TypeError.

        Classes are balanced by total weight (after `sample_weight`, e.g. hard variants or web
        pages weighted up); the largest `keep_top` weights are kept (the rest are near zero and
        only bloat the model)."""
        from detectors.generalization import fit_linear

        y = np.asarray(labels).astype(int)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("classifier.fit: labels must contain both 0 (human) and 1 (ai)")
        params = HashingParams(bits=bits, char_ngrams=tuple(char_ngrams), max_chars=max_chars,
                               normalise=normalise)
        w = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
        if w.shape != y.shape:
            raise ValueError(f"classifier.fit: {w.size} sample weights for {y.size} texts")
        coef, intercept = fit_linear(featurize(list(texts), params), y, w, alpha, epochs, seed)
        trainer = {"model": "SGDClassifier(log_loss), classes balanced by weight",
                   "alpha": alpha, "epochs": epochs, "keep_top": keep_top, "seed": seed,
                   "n_train": int(y.size), "n_ai": int(y.sum()),
                   "weighted": sample_weight is not None}
        return cls.from_weights(params, coef, intercept, version=version, keep_top=keep_top,
                                trainer=trainer)

    @classmethod
    def from_weights(cls, params: HashingParams, coef: np.ndarray, intercept: float, *,
                     version: str, keep_top: int = 300_000, trainer: dict | None = None,
                     **options) -> NgramClassifier:
        """A model from a dense weight vector (the `keep_top` largest kept), uncalibrated.
        `options` go to the constructor of `cls` (a subclass may need them)."""
        coef = np.asarray(coef, dtype=np.float32)
        nz = np.flatnonzero(coef)
        if nz.size > keep_top:
            nz = nz[np.argsort(-np.abs(coef[nz]), kind="stable")[:keep_top]]
        nz.sort()
        self = cls.__new__(cls)
        meta = {"format": MODEL_FORMAT, "version": version, "hashing": params.to_dict(),
                "intercept": float(intercept), "trainer": trainer or {}}
        self._set_state(params, nz, coef[nz], float(intercept), meta)
        self._set_calibration(None)
        self.model_dir = None
        return self

    def save(self, model_dir: str | Path) -> Path:
        """Write model.json + coef_index.npy + coef_value.npy (plain arrays, no pickle)."""
        meta = dict(self.meta, format=MODEL_FORMAT, hashing=self.params.to_dict(),
                    intercept=self.intercept_, n_weights=int(self.coef_index_.size))
        return write_model(model_dir, meta, {"coef_index": self.coef_index_,
                                             "coef_value": self.coef_value_})

    def score(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        return self._scorer.scores(texts) + self.intercept_

    def probability(self, scores: np.ndarray) -> np.ndarray | None:
        return None if self.calibration is None else self.calibration.probability(scores)
