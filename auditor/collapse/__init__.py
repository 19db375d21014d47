"""Collapse-risk projection: from a measured synthetic fraction to what it does to the next
generations of models trained on the data, under each way of handling data (regimes) and for
each definition of collapse. See `profile.collapse_profile` and `tolerance.max_tolerable_alpha`.

Import-light: numpy and scipy only; matplotlib is imported when a plot is written.
"""

from auditor.collapse.family import MODELS, make_family
from auditor.collapse.metrics import DEFINITIONS, MetricSpec
from auditor.collapse.profile import CollapseProfile, ProfileRow, collapse_profile
from auditor.collapse.regimes import REGIMES, simulate
from auditor.collapse.schedule import AlphaPath, resolve_alpha, schedule_from_monthly
from auditor.collapse.tolerance import max_tolerable_alpha

__all__ = [
    "DEFINITIONS", "MODELS", "REGIMES", "AlphaPath", "CollapseProfile", "MetricSpec",
    "ProfileRow", "collapse_profile", "make_family", "max_tolerable_alpha", "resolve_alpha",
    "schedule_from_monthly", "simulate",
]
