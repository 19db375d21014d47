"""The one result type of estimation, read by projection, reports and checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """Synthetic fraction of one group of documents.

    `fraction` is the point estimate in [0, 1]; `ci_low`/`ci_high` a 95% interval (at a point
    estimate of 0, `ci_low` is 0 and `ci_high` a one-sided 95% upper bound). `method` and
    `detector` name what produced it, so no number is printed without its method. `floor` is the
    estimate on held-out pre-cutoff documents of the same group (should be 0), or None.
    """

    group: dict[str, Any]  # {"source": "web"} ; {} for the whole corpus
    n_docs: int
    n_tokens: int
    fraction: float
    ci_low: float
    ci_high: float
    method: str
    detector: str
    n_human_ref: int = 0
    n_machine_ref: int = 0
    human_ref: str = ""  # where the human reference came from, e.g. "own pre-cutoff documents"
    floor: float | None = None
    weight: str = "docs"  # "docs" or "tokens"
    notes: tuple[str, ...] = field(default_factory=tuple)  # fallbacks, warnings: never silent

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notes"] = list(self.notes)
        return d
