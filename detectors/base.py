"""The detector contract and the registry of detectors by name.

A detector turns a batch of texts into one score per text, higher meaning more likely
machine-written. The scanner, `auditor detectors eval` and Python users all call the same
`score`. Heavy detectors import torch/transformers inside their own module, so listing the
registry stays cheap: the registry maps a name to a factory path, imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Cost tiers, cheapest first. `cheap` runs on every document; `model` on CPU at scale with care;
#: `lm` (transformer LMs) on samples.
TIERS = ("cheap", "model", "lm")


class Detector:
    """Base class: subclasses set the class attributes and implement `score`.

    `calibration`, when set, maps raw scores to probabilities (fitted on labeled data, stored
    with the model); `threshold` is a raw-score threshold chosen for `threshold_fpr`.
    """

    name: str = "base"
    version: str = "0"
    tier: str = "cheap"
    needs: str = "nothing"  # what it needs to run, for `auditor detectors list`
    gives_reasons: bool = False  # True when `reasons` says why a text scored high
    threshold: float | None = None
    threshold_fpr: float | None = None

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One float per text, higher = more likely machine-written. Never raises on odd text."""
        raise NotImplementedError

    def reasons(self, texts: Sequence[str]) -> list[str | None]:
        """Why each text scored as it did (None where nothing to say). Optional."""
        return [None] * len(texts)

    def probability(self, scores: np.ndarray) -> np.ndarray | None:
        """Calibrated probability of machine authorship, or None where not calibrated."""
        return None

    def close(self) -> None:
        """Release models or other resources. Optional."""


class NotConfigured(RuntimeError):
    """The detector has nothing to do here (the contamination detector in a store without
    benchmarks): the default scan leaves it out without a note; naming it is an error."""


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    factory: str  # "module.path:callable" returning a Detector; imported lazily
    tier: str
    needs: str
    summary: str
    reads_store: bool = False  # built per store: the factory gets `store=` (the scan's StorePaths)


_REGISTRY: dict[str, DetectorSpec] = {}


def register(spec: DetectorSpec) -> None:
    """Add a detector to the registry (names are unique)."""
    if spec.tier not in TIERS:
        raise ValueError(f"detector {spec.name!r}: tier must be one of {TIERS}, got {spec.tier!r}")
    _REGISTRY[spec.name] = spec


def specs() -> list[DetectorSpec]:
    """Registered detectors, cheapest tier first."""
    return sorted(_REGISTRY.values(), key=lambda s: (TIERS.index(s.tier), s.name))


def load(name: str, **options) -> Detector:
    """Build the detector registered as `name`; options go to its factory."""
    try:
        spec = _REGISTRY[name]
    except KeyError:
        known = ", ".join(s.name for s in specs()) or "none"
        raise KeyError(f"unknown detector {name!r}; known detectors: {known}") from None
    module_name, _, attr = spec.factory.partition(":")
    factory: Callable[..., Detector] = getattr(importlib.import_module(module_name), attr)
    return factory(**options)


def parse_names(csv: str | Sequence[str]) -> list[str]:
    """`"markers,compression"` -> ["markers", "compression"], validated against the registry."""
    names = [n.strip() for n in (csv.split(",") if isinstance(csv, str) else csv) if n.strip()]
    for n in names:
        if n not in _REGISTRY:
            known = ", ".join(s.name for s in specs())
            raise KeyError(f"unknown detector {n!r}; known detectors: {known}")
    return names
