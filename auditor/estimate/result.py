"""The one result type of estimation, read by projection, reports and checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """What a row of estimates is. Renderers and gates branch on this, never on note text."""

    ESTIMATED = "estimated"
    PRE_CUTOFF = "pre-cutoff reference"  # every document predates the cutoff: 0 by assumption
    TOO_FEW = "too few documents"  # below the minimum group size: not estimated, not gated
    OTHER = "other (pooled small groups)"  # the too-few groups pooled into one row
    OVERALL = "overall"  # the weighted combination of the rows it came with
    NO_ESTIMATE = "no estimate"  # no reference or no scored documents: notes say why
    #: judged mostly against the shipped benchmark human texts, the last resort: no point
    #: estimate (fraction n/a), only the interval [0, upper], which gates still read
    NO_MATCH = "no matching human reference"


#: The statuses of the rows a headline combines (`db._overall`, `combine._overall_of`): rows
#: with a point estimate, small groups through their pooled row.
COMBINED_STATUSES = (Status.ESTIMATED.value, Status.PRE_CUTOFF.value, Status.OTHER.value)


class RefKind(str, Enum):
    """Where a group's human reference came from, best first (see `references`)."""

    GIVEN = "given human reference"
    OWN = "own pre-cutoff documents"
    ROLE_SAME = "documents scanned as human_reference (same source)"
    BORROWED = "pre-cutoff documents of similar sources"
    ROLE_ALL = "documents scanned as human_reference (all)"
    DEFAULT = "default: shipped reference human rows"
    MIXED = "several (per source)"
    NONE = ""


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
    n_human_ref: int = 0  # on the overall row: distinct reference documents, each once
    n_machine_ref: int = 0
    human_ref: str = ""  # where the human reference came from, e.g. "own pre-cutoff documents"
    floor: float | None = None
    weight: str = "docs"  # "docs" or "tokens"
    notes: tuple[str, ...] = field(default_factory=tuple)  # fallbacks, warnings: never silent
    status: str = Status.ESTIMATED.value
    in_gates: bool = True
    n_pre_cutoff: int = 0
    fraction_post: float | None = None
    ci_low_post: float | None = None
    ci_high_post: float | None = None
    human_ref_kind: str = RefKind.NONE.value
    human_ref_sources: tuple[str, ...] = field(default_factory=tuple)
    vocab_fraction: float | None = None
    vocab_ci_low: float | None = None
    vocab_ci_high: float | None = None
    disagree: bool = False
    #: documents the fraction is a share of: the scored ones of an estimated row, the rows'
    #: own on the headline (rows without an estimate left out); None where not counted
    n_docs_covered: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notes"] = list(self.notes)
        d["human_ref_sources"] = list(self.human_ref_sources)
        return d
