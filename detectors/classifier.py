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

from detectors.base import Detector
from detectors.calibration import Calibration, load_calibration
from detectors.model_files import read_model, write_model
from detectors.ngram_features import HashingParams, LinearScorer, featurize

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "classifier"
MODEL_FORMAT = "ngram-linear/1"


class NgramClassifier(Detector):
    """Score = linear decision value (log-odds scale; higher = more likely machine-written).

    `NgramClassifier()` loads the shipped model; `NgramClassifier(model_dir=DIR)` loads one
    trained with `auditor detectors train ... --detector classifier -o DIR`.
    """

    name = "classifier"
    tier = "cheap"
    needs = "shipped model (detectors/models/classifier)"
    calibration: Calibration | None = None

    def __init__(self, model_dir: str | Path | None = None) -> None:
        model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        meta, arrays = read_model(
            model_dir, "classifier", MODEL_FORMAT, ("coef_index", "coef_value"),
            "train one with `auditor detectors train LABELED.parquet --detector classifier -o DIR`")
        try:
            params = HashingParams.from_dict(meta["hashing"])
            intercept = float(meta["intercept"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"classifier: cannot load model from {model_dir}: {e}") from e
        index, value = arrays["coef_index"], arrays["coef_value"]
        self._set_state(params, index, value, intercept, meta)
        self.model_dir = model_dir
        self.calibration = load_calibration(model_dir)
        if self.calibration is not None:
            self.threshold = self.calibration.threshold
            self.threshold_fpr = self.calibration.threshold_fpr

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
        self.version = str(meta.get("version", "0"))

    @classmethod
    def fit(cls, texts: list[str], labels: np.ndarray, *, bits: int = 20,
            char_ngrams: Sequence[int] = (3, 4, 5), max_chars: int = 2000,
            alpha: float = 2e-6, epochs: int = 15, keep_top: int = 300_000, seed: int = 0,
            version: str = "1", **_: Any) -> NgramClassifier:
        """Train on texts with labels (1 = ai, 0 = human). Balanced class weights; the largest
        `keep_top` weights are kept (the rest are near zero and only bloat the model)."""
        from sklearn.linear_model import SGDClassifier

        y = np.asarray(labels).astype(int)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("classifier.fit: labels must contain both 0 (human) and 1 (ai)")
        params = HashingParams(bits=bits, char_ngrams=tuple(char_ngrams), max_chars=max_chars)
        x = featurize(list(texts), params)
        model = SGDClassifier(loss="log_loss", alpha=alpha, max_iter=epochs, tol=None,
                              class_weight="balanced", random_state=seed)
        model.fit(x, y)
        coef = model.coef_.ravel()
        nz = np.flatnonzero(coef)
        if nz.size > keep_top:
            nz = nz[np.argsort(-np.abs(coef[nz]), kind="stable")[:keep_top]]
        nz.sort()
        self = cls.__new__(cls)
        meta = {"format": MODEL_FORMAT, "version": version, "hashing": params.to_dict(),
                "intercept": float(model.intercept_[0]),
                "trainer": {"model": "SGDClassifier(log_loss)", "alpha": alpha, "epochs": epochs,
                            "keep_top": keep_top, "seed": seed, "n_train": int(y.size),
                            "n_ai": int(y.sum())}}
        self._set_state(params, nz, coef[nz], meta["intercept"], meta)
        self.model_dir = None
        return self

    def save(self, model_dir: str | Path) -> Path:
        """Write model.json + coef_index.npy + coef_value.npy (plain arrays, no pickle)."""
        meta = dict(self.meta, format=MODEL_FORMAT, hashing=self.params.to_dict(),
                    intercept=self.intercept_, n_weights=int(self.coef_index_.size))
        return write_model(model_dir, meta, {"coef_index": self.coef_index_,
                                             "coef_value": self.coef_value_})

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        return self._scorer.scores(texts) + self.intercept_

    def probability(self, scores: np.ndarray) -> np.ndarray | None:
        return None if self.calibration is None else self.calibration.probability(scores)
