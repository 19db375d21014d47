"""The default score: a logistic stack over the cheap detectors' scores.

The n-gram classifier alone misses machine text that carries other cheap evidence: assistant
boilerplate (`markers`) and words LLMs overuse (`excess_vocab`). A logistic regression over the
three, fitted on out-of-fold scores (each labeled repository scored by a classifier that never
saw it), raised leave-one-repository-out TPR @ 1% FPR on every labeled row; the figures and the
rule that chose it are in reports/stack_search.md (scripts/stack_search.py).

The stack reads no text itself when its components already ran: the scanner scores the
detectors named in `combines` in the same batch and calls `combine(scores_by_name)`, so the
default scan computes the classifier, markers and excess_vocab once. Used standalone,
`score(texts)` computes the components itself; both paths go through `combine`, so they agree.

The model is `detectors/models/stack/model.json`: input names, coefficients and intercept
(plain JSON, no pickle), plus `calibration.json` (threshold by the classifier's rule: the higher
of the 1%-FPR thresholds on the calib split's human rows and on held-back web pages).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Detector, detector
from detectors.calibration import Calibration, load_calibration

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "stack"
MODEL_FORMAT = "linear-stack/1"
#: The component detectors, in the order `stack_features` takes their scores.
COMPONENTS = ("classifier", "markers", "excess_vocab")
#: The stack's input columns, built from the components by `stack_features` (one home for how).
STACK_INPUTS = ("classifier", "markers fired", "log excess_vocab")


def stack_features(classifier: np.ndarray, markers: np.ndarray,
                   excess_vocab: np.ndarray) -> np.ndarray:
    """The stack's inputs (columns of `STACK_INPUTS`) from its components' scores: the
    classifier's decision value, whether any marker fired (markers' scores are near binary
    weights), and log(1 + count of overused words). NaN in any component stays NaN."""
    c = np.asarray(classifier, np.float64)
    m = np.asarray(markers, np.float64)
    fired = np.where(np.isnan(m), np.nan, (m > 0).astype(np.float64))
    return np.column_stack([c, fired, np.log1p(np.asarray(excess_vocab, np.float64))])


def write_stack_model(inputs: Sequence[str], coef: Sequence[float], intercept: float,
                      info: dict[str, Any], model_dir: str | Path | None = None,
                      version: str = "1") -> Path:
    """Write `model.json` (what `StackDetector` reads)."""
    if tuple(inputs) != STACK_INPUTS:
        raise ValueError(f"stack: inputs {list(inputs)} are not {list(STACK_INPUTS)}; "
                         "`stack_features` builds only those")
    out = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    out.mkdir(parents=True, exist_ok=True)
    meta = {"format": MODEL_FORMAT, "version": version, "components": list(COMPONENTS),
            "inputs": list(inputs), "coef": [float(v) for v in coef],
            "intercept": float(intercept), **info}
    path = out / "model.json"
    path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return path


@detector(name="stack", tier="cheap",
          needs="shipped models (detectors/models/stack, detectors/models/classifier)",
          summary="logistic stack over classifier, markers and excess_vocab (the default score)",
          languages=("en",))
class StackDetector(Detector):
    """Score = the stack's decision value (log-odds scale; higher = more likely machine-written).

    `combines` names the component detectors; the scanner hands their scores of a batch to
    `combine`. Metadata markers (`metas=`) reach the markers component as in a scan.
    """

    combines = COMPONENTS
    accepts_metas = True

    def __init__(self, model_dir: str | Path | None = None) -> None:
        """No file I/O here: the model is read on first use."""
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self._meta: dict[str, Any] | None = None
        self._calibration: Calibration | None = None
        self._components: dict[str, Detector] | None = None

    def _load(self) -> dict[str, Any]:
        if self._meta is not None:
            return self._meta
        path = self.model_dir / "model.json"
        if not path.is_file():
            raise FileNotFoundError(f"stack: no model.json in {self.model_dir}; fit one with "
                                    "`python scripts/train_stack.py`")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            if meta.get("format") != MODEL_FORMAT:
                raise ValueError(f"format is {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
            if tuple(meta["inputs"]) != STACK_INPUTS or len(meta["coef"]) != len(STACK_INPUTS):
                raise ValueError(f"inputs {meta['inputs']} / {len(meta['coef'])} coefficients "
                                 f"do not match {list(STACK_INPUTS)}")
            self._coef = np.asarray(meta["coef"], np.float64)
            self._intercept = float(meta["intercept"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"stack: cannot load model from {self.model_dir}: {e}") from e
        self._calibration = load_calibration(self.model_dir)
        self._meta = meta
        return meta

    @property
    def version(self) -> str:  # type: ignore[override]
        return str(self._load().get("version", "0"))

    @property
    def calibration(self) -> Calibration | None:
        self._load()
        return self._calibration

    @property
    def threshold(self) -> float | None:  # type: ignore[override]
        return None if self.calibration is None else self.calibration.threshold

    @property
    def threshold_fpr(self) -> float | None:  # type: ignore[override]
        return None if self.calibration is None else self.calibration.threshold_fpr

    def combine(self, scores_by_name: Mapping[str, np.ndarray]) -> np.ndarray:
        """The stack's score from its components' scores of the same texts (NaN where any
        component left a text unscored)."""
        self._load()
        missing = [n for n in COMPONENTS if n not in scores_by_name]
        if missing:
            raise KeyError(f"stack: combine needs the scores of {', '.join(missing)}")
        x = stack_features(*(scores_by_name[n] for n in COMPONENTS))
        return x @ self._coef + self._intercept

    def components(self) -> dict[str, Detector]:
        """The component detectors (built on first use), for standalone scoring."""
        if self._components is None:
            import detectors

            self._components = {n: detectors.load(n) for n in COMPONENTS}
        return self._components

    def score(self, texts: Sequence[str], metas: Sequence[dict] | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        self._load()
        scores = {}
        for name, det in self.components().items():
            kwargs = {"metas": metas} if det.accepts_metas else {}
            scores[name] = np.asarray(det.score(texts, **kwargs), np.float64)
        return self.combine(scores)

    def probability(self, scores: np.ndarray) -> np.ndarray | None:
        return None if self.calibration is None else self.calibration.probability(scores)

    def close(self) -> None:
        for det in (self._components or {}).values():
            det.close()
