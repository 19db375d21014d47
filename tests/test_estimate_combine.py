"""Several detectors, one estimate: the interval widens when they disagree (random effects),
and agreeing detectors give a tighter interval than either alone."""

from __future__ import annotations

import numpy as np

from auditor.estimate import estimate_db
from auditor.estimate.combine import random_effects
from auditor.store.catalogue import open_store
from tests.test_estimate_store import (
    POST,
    PRE,
    human_scores,
    machine_scores,
    write_sidecar,
)


def test_random_effects_widens_with_disagreement():
    agree = random_effects([0.10, 0.11], [1e-4, 1e-4])
    disagree = random_effects([0.05, 0.25], [1e-4, 1e-4])
    assert agree[2] == 0.0 and disagree[2] > 0
    assert disagree[1] > 5 * agree[1]
    assert abs(disagree[0] - 0.15) < 1e-9


def test_combined_detector_estimate_on_a_store(tmp_path):
    rng = np.random.default_rng(4)
    db = str(tmp_path / "c.duckdb")
    rows = []
    for i in range(600):
        rows.append(dict(id=f"pre-{i}", source="web", date=PRE, scores={
            "classifier": float(human_scores(rng, 1)[0]),
            "compression": float(human_scores(rng, 1)[0])}))
    for i in range(1000):
        machine = i < 200
        draw = machine_scores if machine else human_scores
        # "compression" misses half of the machine text: the detectors disagree
        miss = machine and i % 2 == 0
        rows.append(dict(id=f"post-{i}", source="web", date=POST, scores={
            "classifier": float(draw(rng, 1)[0]),
            "compression": float((human_scores if miss else draw)(rng, 1)[0])}))
    write_sidecar(db, "web", rows)
    write_sidecar(db, "mref", [dict(id=f"m{i}", source="m", role="machine_reference", scores={
        "classifier": float(machine_scores(rng, 1)[0]),
        "compression": float(machine_scores(rng, 1)[0])}) for i in range(800)])
    open_store(db).close()
    kw = dict(by=["source"], n_boot=60, record=False, vocab=False)
    (one,) = estimate_db(db, detector="classifier", **kw)
    (both,) = estimate_db(db, detector="combined", **kw)
    assert set(both.detector.split("+")) == {"classifier", "compression"}
    assert any("tau^2" in n for n in both.notes)
    assert both.ci_high - both.ci_low > 1.5 * (one.ci_high - one.ci_low)
    assert both.ci_low <= 200 / 1600 <= both.ci_high
