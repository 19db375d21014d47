"""Two tiers: a costly detector scored a hash-stratified sample, a cheap one scored everything.

Per group, three estimates are made: the cheap detector on the whole target (K), the cheap
detector on the sampled documents (K_s), and the costly detector on the same sample (C_s). The
sample tells how far the cheap estimate is off in this group, and the correction is carried to
the whole group by the ratio estimator

    fraction = K * C_s / K_s      (when K_s is clearly above 0)
    fraction = K + (C_s - K_s)    (difference estimator otherwise, where a ratio is unstable)

The cheap detector's bias in a source is mostly multiplicative (it misses a share of the machine
text it was not trained on), which the ratio corrects; the difference form is the fallback near
0. Uncertainty: each of the three comes with its own bootstrap (target and both references,
the sample resampled too) and the formula is applied replicate by replicate. The three are
drawn independently, ignoring the positive correlation of C_s and K_s (same documents), which
makes the interval wider than necessary rather than narrower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from auditor.estimate.bootstrap import interval_from
from auditor.estimate.result import Estimate

#: Below this cheap-on-sample estimate the ratio is unstable; the difference form is used.
RATIO_MIN = 0.02


def correct(full: float | np.ndarray, cheap_sample: float | np.ndarray,
            costly_sample: float | np.ndarray, ratio: bool) -> float | np.ndarray:
    """The corrected fraction (ratio or difference form), clipped to [0, 1]."""
    if ratio:
        value = np.asarray(full) * np.asarray(costly_sample) / np.maximum(cheap_sample, 1e-12)
    else:
        value = np.asarray(full) + np.asarray(costly_sample) - np.asarray(cheap_sample)
    return np.clip(value, 0.0, 1.0)


def combine(full: Sequence, cheap_sample: Sequence, costly_sample: Sequence, costly: str,
            cheap: str) -> list[Estimate]:
    """Two-tier estimates from the three per-group result lists (`db.GroupResult`s)."""
    by_key = {_key(g.estimate): g for g in cheap_sample}
    costly_by_key = {_key(g.estimate): g for g in costly_sample}
    out = []
    for g in full:
        e = g.estimate
        ks, cs = by_key.get(_key(e)), costly_by_key.get(_key(e))
        usable = (ks is not None and cs is not None and np.isfinite(ks.estimate.fraction)
                  and np.isfinite(cs.estimate.fraction) and np.isfinite(e.fraction))
        if not usable:
            out.append(replace(e, notes=(*e.notes, f"two tiers: no {costly} sample usable in "
                                         f"this group; {cheap} alone")))
            continue
        k, k_s, c_s = e.fraction, ks.estimate.fraction, cs.estimate.fraction
        ratio = k_s >= RATIO_MIN
        point = float(correct(k, k_s, c_s, ratio))
        n = min(len(g.replicates), len(ks.replicates), len(cs.replicates))
        reps = correct(g.replicates[:n], ks.replicates[:n], cs.replicates[:n], ratio)
        iv = interval_from(point, np.asarray(reps, dtype=float))
        post = _post_cutoff(iv, g)
        form = "ratio" if ratio else "difference"
        notes = (
            *e.notes,
            f"two tiers ({form} estimator): {cheap} on all {e.n_docs} documents = {k:.4f}; on "
            f"the {ks.estimate.n_docs}-document sample {cheap} = {k_s:.4f} and {costly} = "
            f"{c_s:.4f} (method {cs.estimate.method})",
            *(f"{costly}: {note}" for note in cs.estimate.notes if note.startswith("FALLBACK")),
        )
        out.append(replace(
            e, fraction=iv.fraction, ci_low=iv.ci_low, ci_high=iv.ci_high,
            fraction_post=post[0], ci_low_post=post[1], ci_high_post=post[2],
            method=f"two-tier:{cs.estimate.method}/{e.method}", detector=f"{costly}+{cheap}",
            floor=cs.estimate.floor if cs.estimate.floor is not None else e.floor,
            notes=notes))
    return out


def _post_cutoff(whole, g) -> tuple[float, float, float]:
    """The post-cutoff share and interval of a corrected whole-group one: pre-cutoff documents
    count as human, so it is the whole-group figure over the post-cutoff share of the group's
    weight (`db.GroupResult.post_weight`). Kept from the cheap tier, it said 100% post-cutoff
    beside a corrected 2.9% for a group with no pre-cutoff document."""
    if g.post_weight <= 0 or g.weight_total <= 0:
        return float("nan"), float("nan"), float("nan")
    share = g.post_weight / g.weight_total
    return tuple(float(min(1.0, x / share)) for x in (whole.fraction, whole.ci_low,
                                                      whole.ci_high))


def _key(e: Estimate) -> str:
    return repr(sorted(e.group.items()))
