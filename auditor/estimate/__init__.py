"""Synthetic fraction per group, corrected for detector error, with confidence intervals.

`estimate_db` reads a scanned store; `methods` holds the quantifiers (cc, acc, pcc, pacc, em,
hdy, mlm, mlms) usable on score arrays or histograms; `Estimate` is the result type, `Status`
says what a row is and `RefKind` where its human reference came from. Modules: `human_refs`
(which reference per source, borrowing), `cells` (group x source cells combined into rows and
headline), `vocab`/`vocab_db` (the reference-free excess-vocabulary bound), `combine` (several
detectors), `choice` (defaults: detector order, n_boot, minimum group size).
`estimate_db` is imported on first use so `import auditor.estimate` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.estimate.result import Estimate, RefKind, Status

if TYPE_CHECKING:
    from auditor.estimate.db import estimate_db

__all__ = ["Estimate", "RefKind", "Status", "estimate_db", "methods"]


def __getattr__(name: str):
    if name == "estimate_db":
        from auditor.estimate.db import estimate_db

        return estimate_db
    if name == "methods":
        import importlib

        return importlib.import_module("auditor.estimate.methods")
    raise AttributeError(f"module 'auditor.estimate' has no attribute {name!r}")
