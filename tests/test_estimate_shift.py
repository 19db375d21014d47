"""The shifted mixture (`mlms`): machine text more extreme than the machine reference no longer
inflates the estimate, and a target the reference fits keeps the plain mixture estimate."""

from __future__ import annotations

import numpy as np

from auditor.estimate import methods as M
from auditor.estimate.bootstrap import Hist
from auditor.estimate.cells import Cell, SourceFit, combine_cells, estimate_cells


def _setup(seed, shift, frac, n_target=1500):
    rng = np.random.default_rng(seed)
    human = rng.normal(0, 1, 1000)
    machine_ref = rng.normal(2.5, 1, 3000)
    k = int(frac * n_target)
    target = np.concatenate([rng.normal(2.5 + shift, 1, k), rng.normal(0, 1, n_target - k)])
    edges = M.reference_edges(human, machine_ref)
    return human, machine_ref, target, edges


def _estimate(method, human, machine_ref, target, edges):
    H, MM, T = (Hist.of(M.histogram(x, edges)) for x in (human, machine_ref, target))
    cell = Cell((), "s", T, 0.0, len(target), 0, 0.0)
    est = estimate_cells([cell], {"s": SourceFit(H, method)}, MM, 40, 0,
                         machine_scores=machine_ref, edges=edges)
    return combine_cells([0], [cell], est).post


def test_extreme_machine_text_inflates_mlm_but_not_mlms():
    human, mref, target, edges = _setup(1, shift=3.0, frac=0.1)
    plain = _estimate("mlm", human, mref, target, edges)
    shifted = _estimate("mlms", human, mref, target, edges)
    assert plain.fraction > 0.13  # the bins beyond the reference pull it up
    assert abs(shifted.fraction - 0.1) < 0.02
    assert shifted.ci_low <= 0.1 <= shifted.ci_high


def test_fitting_reference_keeps_the_plain_estimate_and_pure_human_reads_zero():
    for frac in (0.0, 0.2):
        human, mref, target, edges = _setup(2, shift=0.0, frac=frac)
        q = M.ShiftedMixtureMLE(mref, edges).fit(M.histogram(human, edges),
                                                 M.histogram(mref, edges))
        t = M.histogram(target, edges)
        assert q.shift(t) == 0.0
        assert q.quantify(t) == M.mlm(M.histogram(human, edges), M.histogram(mref, edges), t)
    fresh_human = np.random.default_rng(9).normal(0, 1, 800)  # not the reference's documents
    assert q.quantify(M.histogram(fresh_human, edges)) < 0.03


def test_vectorised_rows_match_one_by_one():
    human, mref, target, edges = _setup(5, shift=3.0, frac=0.2)
    q = M.ShiftedMixtureMLE(mref, edges).fit(M.histogram(human, edges), M.histogram(mref, edges))
    rows = np.stack([M.histogram(target, edges), M.histogram(human[:400], edges)])
    many = q.quantify_raw_many(rows)
    one = [q.quantify_raw(r) for r in rows]
    assert np.allclose(many, one, atol=1e-6)
