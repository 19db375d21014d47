"""The detector contract and the registry of detectors by name.

A detector turns a batch of texts into one score per text, higher meaning more likely
machine-written. The scanner, `auditor detectors eval` and Python users all call the same
methods, all named on `Detector` (the scanner calls `score_documents`; nothing is looked up with
`getattr`). A detector class registers itself with the `@detector(...)` decorator (name, tier,
needs, languages, summary); a second class under the same name raises. Constructors do no file
I/O: models load on first use, so listing or building detectors stays cheap, and torch or
transformers are imported only inside the modules that need them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.provenance.language_codes import primary_language

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
    accepts_metas: bool = False  # True when `score`/`reasons` take `metas=` (Document.meta dicts)
    #: ISO 639-1 codes of the languages the detector is valid for; None: any language.
    languages: tuple[str, ...] | None = None
    threshold: float | None = None
    threshold_fpr: float | None = None

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One float per text, higher = more likely machine-written. Never raises on odd text."""
        raise NotImplementedError

    def reasons(self, texts: Sequence[str]) -> list[str | None]:
        """Why each text scored as it did (None where nothing to say). Optional."""
        return [None] * len(texts)

    def score_and_reasons(self, texts: Sequence[str], metas: Sequence[dict] | None = None
                          ) -> tuple[np.ndarray, list[str | None]]:
        """Scores and reasons in one call (detectors that share work between them override it).
        `metas` reach `score`/`reasons` only when the detector `accepts_metas`."""
        kwargs = {"metas": metas} if self.accepts_metas else {}
        scores = np.asarray(self.score(texts, **kwargs), dtype=np.float64)
        reasons = (list(self.reasons(texts, **kwargs)) if self.gives_reasons
                   else [None] * len(texts))
        return scores, reasons

    def valid_for(self, language: str | None) -> bool:
        """Whether a document in `language` may be scored: every language when `languages` is
        None; otherwise declared ones. The store already holds one ISO 639-1 code per
        language (the readers map every tag, `provenance/language_codes.py`), so a stored
        value is looked up as it is; a tag from elsewhere (a caller's "en-US", "eng") is mapped
        the same way first. Unknown (None: metadata said nothing and the text had too few
        letters to identify) is scored: such texts are short, and leaving them out would hide
        them."""
        if self.languages is None or not language or language in self.languages:
            return True
        return primary_language(language) in self.languages

    def score_documents(self, texts: Sequence[str], metas: Sequence[dict] | None = None,
                        languages: Sequence[str | None] | None = None) -> DocumentScores:
        """What the scanner calls for a batch: scores (NaN, i.e. unscored, for documents whose
        language the detector does not declare), reasons when it gives them, and how many were
        left unscored for their language."""
        n = len(texts)
        keep = np.ones(n, dtype=bool) if languages is None or self.languages is None else \
            np.fromiter((self.valid_for(lang) for lang in languages), dtype=bool, count=n)
        scores = np.full(n, np.nan)
        reasons: list[str | None] = [None] * n
        idx = np.flatnonzero(keep)
        if idx.size:
            sub_t = texts if idx.size == n else [texts[i] for i in idx]
            sub_m = None if metas is None else (metas if idx.size == n
                                                 else [metas[i] for i in idx])
            s, r = self.score_and_reasons(sub_t, sub_m)
            scores[idx] = s
            for i, reason in zip(idx, r, strict=True):
                reasons[i] = reason
        return DocumentScores(scores, reasons if self.gives_reasons else None,
                              int(n - idx.size))

    def probability(self, scores: np.ndarray) -> np.ndarray | None:
        """Calibrated probability of machine authorship, or None where not calibrated."""
        return None

    def close(self) -> None:
        """Release models or other resources. Optional."""


class NotConfigured(RuntimeError):
    """The detector has nothing to do here (the contamination detector in a store without
    benchmarks): the default scan leaves it out without a note; naming it is an error."""


@dataclass(frozen=True)
class DocumentScores:
    """One batch scored by `Detector.score_documents`."""

    scores: np.ndarray  # float64, NaN where unscored
    reasons: list[str | None] | None  # None when the detector gives no reasons
    n_out_of_language: int  # documents left unscored: their language is not declared


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    factory: str  # "module.path:callable" returning a Detector; imported lazily
    tier: str
    needs: str
    summary: str
    languages: tuple[str, ...] | None = None  # None: any language
    reads_store: bool = False  # built per store: the factory gets `store=` (the scan's StorePaths)


_REGISTRY: dict[str, DetectorSpec] = {}


def register(spec: DetectorSpec) -> None:
    """Add a detector to the registry. Names are unique: registering another detector under a
    taken name raises (the same spec again is a no-op, e.g. a module imported twice)."""
    if spec.tier not in TIERS:
        raise ValueError(f"detector {spec.name!r}: tier must be one of {TIERS}, got {spec.tier!r}")
    old = _REGISTRY.get(spec.name)
    if old is not None and old != spec:
        raise ValueError(f"detector name {spec.name!r} is already registered by {old.factory}; "
                         f"{spec.factory} must use another name")
    _REGISTRY[spec.name] = spec


def detector(*, name: str, tier: str, needs: str, summary: str,
             languages: Sequence[str] | None = None,
             reads_store: bool = False) -> Callable[[type], type]:
    """Class decorator: register the class under `name` and set its `name`, `tier`, `needs`
    and `languages` from the same values, so the registry and the class cannot disagree."""
    langs = tuple(languages) if languages is not None else None

    def wrap(cls: type) -> type:
        register(DetectorSpec(name=name, factory=f"{cls.__module__}:{cls.__qualname__}",
                              tier=tier, needs=needs, summary=summary, languages=langs,
                              reads_store=reads_store))
        cls.name, cls.tier, cls.needs, cls.languages = name, tier, needs, langs
        return cls

    return wrap


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
