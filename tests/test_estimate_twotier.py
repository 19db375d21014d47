"""Two tiers on a real store: a cheap detector on every document that misses part of the
machine text, and a costly detector on a hash-stratified sample that does not."""

from __future__ import annotations

import hashlib

import numpy as np
from test_estimate_store import POST, PRE, human_scores, machine_scores, write_sidecar

from auditor.estimate import estimate_db
from auditor.estimate.twotier import correct
from auditor.store.catalogue import open_store


def in_sample(doc_id: str, rate: float = 0.25) -> bool:
    """The hash-stratified sample the costly detector scored."""
    return int(hashlib.sha1(doc_id.encode()).hexdigest()[:8], 16) / 2**32 < rate


def test_two_tier_corrects_the_cheap_detector_and_widens_the_interval(tmp_path):
    rng = np.random.default_rng(21)
    db = str(tmp_path / "two.duckdb")
    rows = []

    def row(doc_id, date, machine, role="corpus", hidden=False):
        # the cheap detector sees "hidden" machine text (a generator it does not know) as human
        cheap = machine_scores(rng, 1)[0] if machine and not hidden else human_scores(rng, 1)[0]
        costly = machine_scores(rng, 1)[0] if machine else human_scores(rng, 1)[0]
        sampled = role != "corpus" or in_sample(doc_id)
        return dict(id=doc_id, source="web", date=date, role=role,
                    scores={"compression": float(cheap),
                            "lm": float(costly) if sampled else None})

    rows += [row(f"pre-{i}", PRE, False) for i in range(1600)]
    n_post, k = 3000, 900  # 30% machine, half of it invisible to the cheap detector
    rows += [row(f"post-{i}", POST, i < k, hidden=i < k // 2) for i in range(n_post)]
    write_sidecar(db, "web", rows)
    write_sidecar(db, "mref", [row(f"m-{i}", None, True, role="machine_reference")
                               for i in range(1000)])
    open_store(db).close()

    (cheap,) = estimate_db(db, by=["source"], detector="compression", n_boot=100, record=False)
    (two,) = estimate_db(db, by=["source"], detector="lm", n_boot=100, record=False)
    truth = k / (n_post + 1600)  # the whole group; pre-cutoff documents human by assumption
    assert cheap.detector == "compression" and cheap.method == "mlms"
    assert cheap.ci_high < truth  # the cheap detector alone is biased low and overconfident
    assert two.detector == "lm+compression" and two.method.startswith("two-tier:")
    assert any("ratio estimator" in n for n in two.notes)
    assert two.ci_low <= truth <= two.ci_high, (two, truth)
    assert abs(two.fraction - truth) < 0.04
    assert two.ci_high - two.ci_low > cheap.ci_high - cheap.ci_low  # sample uncertainty added
    assert two.n_docs == cheap.n_docs
    # the post-cutoff figures are the corrected ones too (they were the cheap detector's)
    share = n_post / (n_post + 1600)
    assert abs(two.fraction_post - min(1.0, two.fraction / share)) < 1e-12
    assert two.ci_low_post <= k / n_post <= two.ci_high_post


def test_correction_forms():
    assert correct(0.2, 0.1, 0.15, ratio=True) == np.float64(0.3)
    assert float(correct(0.01, 0.0, 0.02, ratio=False)) == np.float64(0.03).item()
    assert float(correct(0.9, 0.3, 0.6, ratio=True)) == 1.0  # clipped
