"""Synthetic fraction per group, corrected for detector error, with confidence intervals.

`estimate_db` reads a scanned store; `methods` holds the quantifiers (cc, acc, pcc, pacc, em,
hdy, mixture_mle) usable on score arrays or histograms; `Estimate` is the result type.
`estimate_db` is imported on first use so `import auditor.estimate` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.estimate.result import Estimate

if TYPE_CHECKING:
    from auditor.estimate.db import estimate_db

__all__ = ["Estimate", "estimate_db", "methods"]


def __getattr__(name: str):
    if name == "estimate_db":
        from auditor.estimate.db import estimate_db

        return estimate_db
    if name == "methods":
        import importlib

        return importlib.import_module("auditor.estimate.methods")
    raise AttributeError(f"module 'auditor.estimate' has no attribute {name!r}")
